"""The bars of principal reasons, measured: fidelity of the reasons as cited, notices that leave out a principal
reason or name a prohibited basis, the elderly applicants' age, holds by gender; with ``--serve`` also the
reasons' p95 under 8 clients (Seldon services on loopback).

    .venv/bin/python scripts/bench_reasons.py [--rejections 1000] [--serve]

Trains the served forest (the inputs marked "scored" in pipeline/loan_reasons/reason_codes.py) and the first
forest (every input) on the whole training file, with references drawn from adult.test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.loan_reasons.fidelity import fidelity  # noqa: E402
from pipeline.loan_reasons.reason_codes import ELDERLY_AGE, PROHIBITED, SCORED  # noqa: E402
from pipeline.loan_reasons.reasons import FLOOR, MAX_REASONS, Reasons, reference_set  # noqa: E402
from tutorial import artefacts  # noqa: E402
from tutorial.data import FEATURES, load_adult  # noqa: E402


def measure(name, p, reasons, rows, genders):
    """One model's bars over ``rows`` (its rejections)."""
    records = reasons.explain(p, rows)
    _, _, gains = reasons.gains(p, rows)
    left_out = naming = 0
    for record, gain in zip(records, gains):
        principal = {FEATURES[j] for j in np.argsort(-gain, kind="stable")[:MAX_REASONS] if gain[j] >= FLOOR}
        if not record["held"]:
            left_out += bool(principal - {r["feature"] for r in record["reasons"]})
            naming += bool({r["feature"] for r in record["reasons"]} & set(PROHIBITED))
    held = np.array([r["held"] for r in records])
    shares = fidelity(p, reasons, rows, records, SCORED)
    print(f"\n{name}: {len(rows)} rejections of adult.test, {int((~held).sum())} notices, {int(held.sum())} held")
    print(f"  notices leaving out a principal reason: {left_out}; notices naming a prohibited basis: {naming}")
    for gender in ("Female", "Male"):
        mine = held[genders == gender]
        boot = [np.random.default_rng(k).choice(mine, len(mine)).mean() for k in range(200)]
        print(f"  held, {gender}: {mine.mean():.1%} [{np.quantile(boot, 0.025):.1%}, {np.quantile(boot, 0.975):.1%}]"
              f" of {len(mine)}")
    causes = {c: sum(r["cause"] == c for r in records) for c in {r["cause"] for r in records} - {None}}
    print(f"  causes: {causes}")
    print(f"  top cited reason raises P(approved): {shares['top cited reason raises P(approved)']:.1%} (bar >= 95%)")
    print(f"  cited reasons beat as many random citable inputs: "
          f"{shares['cited reasons beat as many random citable inputs']:.1%} of "
          f"{shares['compared with random inputs']} (bar >= 90%)")


def elderly(p):
    X = load_adult("test").X
    X = X[X[:, 0] >= ELDERLY_AGE]
    own, worst = p(X), 0.0
    for age in range(18, ELDERLY_AGE):
        moved = X.copy()
        moved[:, 0] = age
        worst = max(worst, float(np.max(p(moved) - own)))
    return len(X), worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rejections", type=int, default=1000)
    parser.add_argument("--serve", action="store_true", help="also the reasons' p95 under 8 clients")
    parser.add_argument("--serve-only", action="store_true", help="only the reasons' p95 under 8 clients")
    args = parser.parse_args()
    test = load_adult("test")
    served_model, explainer, category_map = artefacts.build_serving_artefacts()
    first_model = None if args.serve_only else artefacts.build_serving_artefacts(inputs=FEATURES)[0]
    for name, model, floor in [] if args.serve_only else (("first forest (every input)", first_model, False),
                               ("served forest (scored inputs, 62+ floored)", served_model, True)):  # fmt: skip
        p = artefacts.served_p_approved(model, floor)
        scores = p(test.X)
        print(f"\n{name}: accuracy {np.mean((scores > 0.5) == test.y):.3f}, approval rate {np.mean(scores > 0.5):.3f}")
        n, worst = elderly(p)
        print(f"  {n} applicants aged 62+: the largest rise from any age 18..61 is {worst:.4f} (bar <= 0.005)")
        reasons = Reasons(reference_set(p, test.X), FEATURES, category_map)
        rejected = np.flatnonzero(scores <= 0.5)
        chosen = np.sort(np.random.default_rng(0).choice(rejected, min(args.rejections, len(rejected)), replace=False))
        measure(name, p, reasons, test.X[chosen], test.display["gender"].to_numpy()[chosen])
    if args.serve or args.serve_only:
        from bench_serving import bench_reasons

        from pipeline.local import serving

        root = Path(tempfile.mkdtemp(prefix="bench-reasons-"))
        artefacts.export_artefacts(served_model, explainer, category_map, root=root)
        started = []
        try:
            started.append(serving.start_service(serving.MODEL, root / serving.MODEL.name, port=serving.free_port(),
                                                 metrics_port=serving.free_port(), log=root / "model.log"))
            started.append(serving.start_service(
                serving.EXPLAINER, root / serving.EXPLAINER.name, port=serving.free_port(),
                metrics_port=serving.free_port(), log=root / "explainer.log", model_url=started[0].predict_url))
            adults = test.X[:2000][test.X[:2000, 0] >= 18]  # a minor's application is refused (422)
            bench_reasons(started[1], adults[artefacts.served_p_approved(served_model)(adults) <= 0.5])
        finally:
            for service in reversed(started):
                serving.stop_service(service)

if __name__ == "__main__":
    main()
