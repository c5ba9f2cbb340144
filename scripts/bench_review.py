"""The review service's bars, measured (numbers printed, nothing asserted):

- the decision path: one-row predictions of a model service without review against one reading the
  stop switch of a review database, with the review service running and reading that model's audit log
  (rounds alternate A and B, so the machine's load falls on both alike);
- queue operations under 8 clients (list the queue, open a case, decide it); the page's server time.

``.venv/bin/python scripts/bench_review.py [--artefacts ROOT] [--requests 300] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.local import serving  # noqa: E402
from pipeline.local.review import start_review, stop_review  # noqa: E402

ROW = [39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]
TOKEN = "bench-" + "x" * 26  # the services' token of this bench's review service (intake by call)


def percentiles(seconds):
    ms = np.asarray(seconds) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)), "n": len(ms)}


def one_row_latencies(url, n):
    session, out = requests.Session(), []
    for _ in range(n):
        start = time.perf_counter()
        response = session.post(url, json={"data": {"ndarray": [ROW]}}, timeout=30)
        out.append(time.perf_counter() - start)
        response.raise_for_status()
    return out


def stop_switch_read(work, n=20_000):
    """The decision path's one addition, alone: StopSwitch.cause() on a WAL database, switch off."""
    import sqlite3
    import timeit

    from pipeline.loan_service.stop_switch import TABLE, StopSwitch

    path = work / "switch.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(TABLE)
        db.execute("INSERT INTO stop_switch VALUES (1, 0, NULL, NULL, NULL)")
    switch = StopSwitch(f"sqlite:///{path}")
    switch.cause()
    seconds = min(timeit.repeat(switch.cause, number=n, repeat=5)) / n
    print(f"stop switch read in process: {seconds * 1e6:.1f} us a request")


def decision_path(root, work, n, rounds):
    url = f"sqlite:///{work / 'review' / 'review.db'}"
    plain = serving.start_service(serving.MODEL, root / serving.MODEL.name, port=serving.free_port(),
                                  metrics_port=serving.free_port(), log=work / "plain.log")  # fmt: skip
    reading = serving.start_service(serving.MODEL, root / serving.MODEL.name, port=serving.free_port(),
                                    metrics_port=serving.free_port(), log=work / "reading.log",
                                    env={"LOAN_REVIEW_DB": url})  # fmt: skip
    review = start_review(work / "review", follow=[reading.audit_log],
                          env={"LOAN_REVIEW_DB": url, "LOAN_CALLER_TOKEN": TOKEN})
    try:
        for service in (plain, reading):
            one_row_latencies(service.predict_url, 50)  # warm: workers loaded, connections open
        times = {"without review": [], "stop switch read, review running": []}
        for _ in range(rounds):
            times["without review"] += one_row_latencies(plain.predict_url, n)
            times["stop switch read, review running"] += one_row_latencies(reading.predict_url, n)
        results = {k: percentiles(v) for k, v in times.items()}
        a, b = results.values()
        print("decision path, one-row requests (ms):")
        for name, r in results.items():
            print(f"  {name:34s} p50 {r['p50']:6.2f}  p95 {r['p95']:6.2f}  (n={r['n']})")
        print(f"  ratio p50 {b['p50'] / a['p50']:.3f}  p95 {b['p95'] / a['p95']:.3f}  (bar: within 1.10)")
        return review
    finally:
        serving.stop_service(plain)
        serving.stop_service(reading)


def bench_queue(review, clients=8, per_client=40):
    """8 clients, each listing the queue, opening a case and deciding it, one after the other."""
    headers = review.headers()
    lines = [{"request_id": f"bench-{i}", "caller": "applicant", "row": ROW, "decision": "approved",
              "probability": 0.55} for i in range(clients * per_client)]  # fmt: skip
    requests.post(review.url + "/api/intake", json={"lines": lines}, headers={"Authorization": "Bearer " + TOKEN},
                  timeout=60).raise_for_status()  # fmt: skip
    open_cases = requests.get(review.url + "/api/cases?limit=1000", headers=headers, timeout=30).json()["cases"]
    ids = [c["id"] for c in open_cases if c["request_id"].startswith("bench-")]
    chunks = [ids[i::clients] for i in range(clients)]

    def client(chunk):
        session, out = requests.Session(), {"list": [], "open": [], "decide": []}
        for case_id in chunk:
            for name, call in (("list", lambda: session.get(review.url + "/api/cases", headers=headers, timeout=30)),
                               ("open", lambda: session.get(f"{review.url}/api/cases/{case_id}", headers=headers,
                                                            timeout=30)),
                               ("decide", lambda: session.post(f"{review.url}/api/cases/{case_id}/decision",
                                                               json={"action": "confirm", "reason": "bench"},
                                                               headers=headers, timeout=30))):  # fmt: skip
                start = time.perf_counter()
                call().raise_for_status()
                out[name].append(time.perf_counter() - start)
        return out

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, chunks))
    print(f"queue operations, {clients} clients, {len(ids)} cases decided (ms):")
    for name in ("list", "open", "decide"):
        r = percentiles([t for out in results for t in out[name]])
        print(f"  {name:7s} p50 {r['p50']:6.2f}  p95 {r['p95']:6.2f}  (n={r['n']}; bar p95 <= 50)")
    session = requests.Session()
    session.post(review.url + "/login", data={"token": next(iter(review.tokens.values()))}, timeout=30)
    page = []
    for _ in range(20):
        start = time.perf_counter()
        session.get(review.url + "/", timeout=30).raise_for_status()
        page.append(time.perf_counter() - start)
    r = percentiles(page)
    print(f"  the queue page, server and transfer: p50 {r['p50']:.1f} ms  p95 {r['p95']:.1f} ms (bar: load <= 1 s)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--artefacts", default=None, help="root with loanclassifier/ (default: the steps')")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    root = Path(args.artefacts) if args.artefacts else serving.STEPS
    if not args.artefacts:
        root = Path(tempfile.mkdtemp(prefix="bench-review-steps-"))
        for step in serving.SERVED:
            (root / step.name).symlink_to(step.artefacts)
    with tempfile.TemporaryDirectory(prefix="bench-review-") as tmp:
        work = Path(tmp)
        stop_switch_read(work)
        review = decision_path(root, work, args.requests, args.rounds)
        try:
            queued = requests.get(review.url + "/api/cases", headers=review.headers(), timeout=30).json()["cases"]
            print(f"cases the borderline band queued from the bench's decisions: {len(queued)}")
            bench_queue(review)
        finally:
            stop_review(review)
    print(f"(machine load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())})")


if __name__ == "__main__":
    main()
