"""The review service served for real (gunicorn from .venv-serve on a loopback port), fed with audit lines
the way the services write them: cases in, reviewers' actions, bad input, credentials, the stop switch."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import uuid

import pytest
import requests

from pipeline.local.processes import REPO, wait_until
from pipeline.local.review import SERVE_PYTHON, start_review, stop_review
from tests.postgres import Postgres

ROW = [39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]
CALLER_TOKEN = "t" * 32


def line(p, held=None, request_id=None, row=ROW, caller="applicant", **extra):
    record = {"request_id": request_id or uuid.uuid4().hex, "time": "2026-12-07T22:00:00.000+00:00",
              "service": "loanclassifier", "artefacts": "a" * 64, "caller": caller, "row": row,
              "decision": "approved" if p > 0.5 else "rejected", "probability": p, **extra}  # fmt: skip
    if held:
        record.update(held=True, cause=held)
    return record


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def review(request, tmp_path_factory):
    """The review service on SQLite (its default) and on a PostgreSQL server started here."""
    directory = tmp_path_factory.mktemp("review")
    followed = directory / "model-audit.jsonl"
    followed.touch()
    server = Postgres() if request.param == "postgresql" else None
    env = {"LOAN_CALLER_TOKEN": CALLER_TOKEN, "LOAN_REVIEW_BAND": "0.4,0.6", **({"LOAN_REVIEW_DB": server.url}
                                                                                 if server else {})}  # fmt: skip
    try:
        service = start_review(directory, follow=[followed], reviewers=("alice", "bob"), env=env)
    except Exception:
        if server:
            server.stop()
        raise
    service.followed = followed
    service.sql = server.sql if server else lambda query: sqlite3.connect(service.db_url[10:]).execute(query).fetchall()
    yield service
    stop_review(service)
    if server:
        server.stop()


def feed(review, *lines):
    """Audit lines appended as the model writes them; returns once the service has read them."""
    with open(review.followed, "a") as f:
        f.write("".join(json.dumps(x) + "\n" for x in lines))
    ids = {x["request_id"] for x in lines if x["caller"] == "applicant"}
    wait_until(lambda: ids <= known(review), 30, what="the review service's intake")


def known(review):
    return {r[0] for r in review.sql("SELECT request_id FROM decisions")}


def cases(review, **kwargs):
    response = requests.get(review.url + "/api/cases", headers=review.headers(), timeout=30, **kwargs)
    assert response.status_code == 200, response.text
    return {c["request_id"]: c for c in response.json()["cases"]}


def post(review, path, payload=None, who="alice", data=None, **kwargs):
    headers = {**(review.headers(who) if who else {}), **kwargs.pop("headers", {})}
    body = data if data is not None else json.dumps(payload)
    return requests.post(review.url + path, data=body, headers=headers, timeout=30, **kwargs)


def test_the_queue_lists_the_oldest_first_up_to_a_limit(review):
    feed(review, *[line(0.5) for _ in range(3)])
    response = requests.get(review.url + "/api/cases?limit=2", headers=review.headers(), timeout=30)
    listed = response.json()
    assert len(listed["cases"]) == 2 and listed["open"] >= 3
    assert listed["cases"][0]["opened"] <= listed["cases"][1]["opened"]
    for bad in ("0", "1001", "x"):
        response = requests.get(review.url + "/api/cases?limit=" + bad, headers=review.headers(), timeout=30)
        assert response.status_code == 400 and "limit" in response.json()["error"]


def test_held_borderline_and_stop_switch_lines_enter_the_queue_and_the_rest_do_not(review):
    held = line(0.2, held="prohibited basis: gender", flags=[{"feature": "gender"}], reasons=[])
    stopped, borderline, clear = line(0.9, held="stop switch"), line(0.45), line(0.95)
    perturbed = {"request_id": uuid.uuid4().hex, "caller": "explainer", "rows": 130, "approved": 60}
    feed(review, held, stopped, borderline, clear, perturbed)
    queue = cases(review)
    assert queue[held["request_id"]]["causes"] == ["held: prohibited basis: gender"]
    assert queue[stopped["request_id"]]["causes"] == ["held: stop switch"]
    assert queue[borderline["request_id"]]["causes"] == ["borderline"]
    assert clear["request_id"] not in queue and perturbed["request_id"] not in queue
    assert clear["request_id"] in known(review)  # kept for a contest


def test_intake_by_call_takes_the_services_token_only(review):
    x = line(0.5)
    assert post(review, "/api/intake", {"lines": [x]}, who=None).status_code == 401
    assert x["request_id"] not in cases(review)
    service = {"Authorization": "Bearer " + CALLER_TOKEN}
    response = post(review, "/api/intake", {"lines": [x]}, who=None, headers=service)
    assert response.status_code == 200 and response.json() == {"decisions": 1, "cases": 1}, response.text
    bad = post(review, "/api/intake", {"lines": [dict(x, probability="high")]}, who=None,
               headers={"Authorization": "Bearer " + CALLER_TOKEN})  # fmt: skip
    assert bad.status_code == 400 and "not a decision's audit line" in bad.json()["error"]


def test_an_applicant_contests_and_a_reviewer_overrides_with_codes_and_the_notice_comes_from_the_audit(review):
    decided = line(0.93)
    feed(review, decided)
    response = post(review, "/api/contest", {"reference": decided["request_id"], "view": "My hours went up."}, who=None)
    assert response.status_code == 201, response.text
    case_id = response.json()["case"]
    case = requests.get(f"{review.url}/api/cases/{case_id}", headers=review.headers(), timeout=30).json()
    assert case["causes"] == ["contest"] and case["view"] == "My hours went up." and case["decision"] == "approved"
    assert [a["value"] for a in case["applicant"]] == ROW
    no_codes = post(review, f"/api/cases/{case_id}/decision", {"action": "override", "reason": "capital loss"})
    assert no_codes.status_code == 400 and "reason code" in no_codes.json()["error"]
    no_reason = post(review, f"/api/cases/{case_id}/decision", {"action": "override", "codes": ["R03"]})
    assert no_reason.status_code == 400 and "reason is missing" in no_reason.json()["error"]
    unknown = post(review, f"/api/cases/{case_id}/decision", {"action": "override", "reason": "x", "codes": ["R99"]})
    assert unknown.status_code == 400 and "unknown reason codes" in unknown.json()["error"]
    assert cases(review)[decided["request_id"]]["state"] == "open"  # nothing changed by the refusals
    done = post(review, f"/api/cases/{case_id}/decision", {"action": "override", "reason": "capital loss",
                                                            "codes": ["R03"]})  # fmt: skip
    assert done.status_code == 200 and done.json()["decision"] == "rejected", done.text
    again = post(review, f"/api/cases/{case_id}/decision", {"action": "confirm", "reason": "again"}, who="bob")
    assert again.status_code == 409 and "closed already" in again.json()["error"]
    contest_again = post(review, "/api/contest", {"reference": decided["request_id"], "view": "again"}, who=None)
    assert contest_again.status_code == 409
    notice = requests.get(f"{review.url}/api/cases/{case_id}/notice", headers=review.headers(), timeout=30).text
    assert "STATEMENT OF CREDIT DENIAL" in notice and "R03 Education" in notice
    audit = [json.loads(x) for x in open(review.audit_log)]
    decided_line = next(a for a in audit if a["kind"] == "decided" and a["case"] == case_id)
    assert decided_line["request_id"] == decided["request_id"] and decided_line["reviewer"] == "alice"
    assert render_in_serving_env(decided_line) == notice  # regenerated from the audit record alone


def render_in_serving_env(record):
    """loan_review.notice.render of ``record``, run as the service runs it (its env, its import path)."""
    code = "import json, sys; from loan_review.notice import render; sys.stdout.write(render(json.load(sys.stdin)))"
    env = {**os.environ, "PYTHONPATH": str(REPO / "pipeline")}
    done = subprocess.run([str(SERVE_PYTHON), "-c", code], input=json.dumps(record), capture_output=True, text=True,
                          env=env, timeout=120, check=True)  # fmt: skip
    return done.stdout


def test_a_contest_needs_a_known_reference_and_a_view(review):
    two = uuid.uuid4().hex
    feed(review, line(0.9, request_id=two), line(0.8, request_id=two, row=ROW[:-1] + [1]))
    cases_ = [("nope", "x", 404, "unknown application reference"), (two, "x", 400, f"{two}#1 .. #2"),
              (two + "#3", "x", 404, "unknown"), (two + "#2", "", 400, "view is missing")]  # fmt: skip
    for reference, view, status, message in cases_:
        response = post(review, "/api/contest", {"reference": reference, "view": view}, who=None)
        assert response.status_code == status and message in response.json()["error"], (reference, response.text)
    assert post(review, "/api/contest", {"reference": two + "#2", "view": "x"}, who=None).status_code == 201


def test_two_reviewers_deciding_one_case_at_once_exactly_one_wins(review):
    lines = [line(0.55) for _ in range(12)]
    feed(review, *lines)
    ids = [cases(review)[x["request_id"]]["id"] for x in lines]
    results = {}

    def decide(case_id, who):
        results[case_id, who] = post(review, f"/api/cases/{case_id}/decision",
                                     {"action": "confirm", "reason": f"{who} agrees"}, who=who).status_code  # fmt: skip

    threads = [threading.Thread(target=decide, args=(i, w)) for i in ids for w in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for case_id in ids:
        assert sorted([results[case_id, "alice"], results[case_id, "bob"]]) == [200, 409], case_id
    audit = [json.loads(x) for x in open(review.audit_log)]
    assert sorted(a["case"] for a in audit if a["kind"] == "decided" and a["case"] in ids) == sorted(ids)


def test_without_a_credential_401_and_nothing_changes(review):
    x = line(0.55)
    feed(review, x)
    case_id = cases(review)[x["request_id"]]["id"]
    for headers in ({}, {"Authorization": "Bearer " + "w" * 32}, {"Cookie": "loan_review_session=alice.forged"}):
        for method, path, payload in (("post", f"/api/cases/{case_id}/decision", {"action": "confirm", "reason": "r"}),
                                      ("post", "/api/stop", {"on": True, "reason": "r"}),
                                      ("get", "/api/cases", None), ("get", "/", None)):  # fmt: skip
            response = requests.request(method, review.url + path, json=payload, headers=headers, timeout=30)
            assert response.status_code == 401, (headers, path, response.text)
    assert cases(review)[x["request_id"]]["state"] == "open"
    assert requests.get(review.url + "/api/stop", headers=review.headers(), timeout=30).json()["on"] is False


def test_the_page_session_needs_its_csrf_token_and_the_same_origin(review):
    x = line(0.42)
    feed(review, x)
    case_id = cases(review)[x["request_id"]]["id"]
    session = requests.Session()
    login = session.post(review.url + "/login", data={"token": review.tokens["alice"]}, allow_redirects=False,
                         timeout=30)  # fmt: skip
    assert login.status_code == 303
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    form = {"action": "confirm", "reason": "fine", "codes": "R03"}
    assert session.post(f"{review.url}/cases/{case_id}", data=form, timeout=30).status_code == 403  # no CSRF token
    page = session.get(f"{review.url}/cases/{case_id}", timeout=30).text
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    cross = session.post(f"{review.url}/cases/{case_id}", data={**form, "csrf": csrf},
                         headers={"Origin": "http://attacker.example"}, timeout=30)  # fmt: skip
    assert cross.status_code == 403
    assert cases(review)[x["request_id"]]["state"] == "open"
    done = session.post(f"{review.url}/cases/{case_id}", data={**form, "csrf": csrf}, timeout=30)
    assert done.status_code == 200 and 'id="final">rejected' in done.text


@pytest.mark.parametrize(
    "body, status, message",
    [(b"{not json", 400, "not JSON"), (b'{"action": "confirm", "action": "override"}', 400, "appears twice"),
     (b"[1, 2]", 400, "JSON object"), (b'{"action": "confirm", "reason": "' + b"x" * 70_000 + b'"}', 413, "limit"),
     (b'{"action": "approve", "reason": "r"}', 400, "confirm")],
)  # fmt: skip
def test_bad_input_gets_a_clear_4xx_and_the_service_stays_up(review, body, status, message):
    x = line(0.48)
    feed(review, x)
    case_id = cases(review)[x["request_id"]]["id"]
    response = post(review, f"/api/cases/{case_id}/decision", data=body)
    assert response.status_code == status and message in response.json()["error"], response.text
    assert post(review, "/api/cases/999999/decision", {"action": "confirm", "reason": "r"}).status_code == 404
    assert cases(review)[x["request_id"]]["state"] == "open" and review.healthy()


def test_an_oversized_form_is_413_and_unknown_paths_404(review):
    response = requests.post(review.url + "/login", data={"token": "x" * 70_000}, timeout=30)
    assert response.status_code == 413 and "over the limit" in response.text
    response = requests.get(review.url + "/api/nothing", headers=review.headers(), timeout=30)
    assert response.status_code == 404 and response.json()["error"] == "no such page or endpoint"
    assert review.healthy()


def test_the_reviewers_file_must_be_owner_only(tmp_path):
    from pipeline.local.review import reviewers_file

    reviewers_file(tmp_path / "reviewers")
    os.chmod(tmp_path / "reviewers", 0o644)
    with pytest.raises(RuntimeError, match="readable by others"):
        start_review(tmp_path, wait=20)


def test_the_stop_switch_survives_a_restart(tmp_path):
    service = start_review(tmp_path / "switch")
    try:
        response = requests.post(service.url + "/api/stop", json={"on": True, "reason": "drift"},
                                 headers=service.headers(), timeout=30)  # fmt: skip
        assert response.status_code == 200 and response.json()["on"] is True
        stop_review(service)
        service = start_review(tmp_path / "switch", port=service.port)
        state = requests.get(service.url + "/api/stop", headers=service.headers(), timeout=30).json()
        assert state["on"] is True and state["reason"] == "drift"
        metrics = requests.get(service.url + "/metrics", timeout=30).text
        assert "loan_review_stop_switch 1.0" in metrics
    finally:
        stop_review(service)


def test_the_cluster_manifest_takes_the_database_and_the_reviewers_from_secrets():
    import yaml

    docs = {d["kind"]: d for d in yaml.safe_load_all((REPO / "pipeline/deploy/review/loan-review.yaml").read_text())}
    spec = docs["Deployment"]["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["LOAN_REVIEW_DB"]["valueFrom"]["secretKeyRef"]["name"] == "loan-review-db"
    volumes = {v["name"]: v for v in pod["volumes"]}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "reviewers")
    assert volumes["reviewers"]["secret"]["secretName"] == "loan-reviewers"
    assert env["LOAN_REVIEWERS_FILE"]["value"].startswith(mount["mountPath"] + "/")
    assert volumes["reviewers"]["secret"]["defaultMode"] & 0o007 == 0  # no access for others (the service checks)
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"  # one writer on the SQLite file
    dockerfile = (REPO / "pipeline/loan_review/Dockerfile").read_text()
    assert f"CMD {json.dumps(container['command'])}" in dockerfile
    assert docs["Service"]["spec"]["selector"] == spec["selector"]["matchLabels"]
