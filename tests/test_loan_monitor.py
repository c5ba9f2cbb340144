"""The drift monitor (pipeline/loan_monitor): which inputs moved under the notebook's shift, quiet on
unshifted traffic, defined states on bad input, and a SIGKILL that loses and double-counts nothing.

Audit lines are written in the model service's format (pipeline/loan_service/records.py: one JSON
object a decision, with ``caller``, ``row`` in model codes, ``decision`` and ``probability``), with the
decisions of the forest the notebook serves, fitted the same way.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from pipeline.loan_monitor.drift import Reference, compare
from pipeline.loan_monitor.monitor import Monitor
from pipeline.local.processes import free_port
from tests.loopback import listening_addresses
from tutorial.data import FEATURES, load_adult, to_display
from tutorial.models import build_rf_pipeline

WINDOW = 500


@pytest.fixture(scope="module")
def served():
    train, test = load_adult("train"), load_adult("test")
    rf = build_rf_pipeline(train.category_map, seed=0).fit(train.X, train.y)
    reference = Reference.from_json(Reference.fit(FEATURES, train.category_map, train.X).to_json())
    rows = test.X[np.random.default_rng(0).permutation(len(test.X))]  # adult.test, shuffled, as the notebook
    return reference, rf, rows, test, train.category_map


def shifted_rows(test, normal):
    """The notebook's shift: half of the traffic from a partner sending never-married women and married men."""
    partner = test.display.eval(
        '(gender == "Female" and `marital-status` == "Never-married") or '
        '(gender == "Male" and `marital-status` == "Married-civ-spouse")').to_numpy()  # fmt: skip
    partner_rows = test.X[partner]
    return np.random.default_rng(0).permutation(np.vstack([normal[: len(partner_rows)], partner_rows]))


def audit_lines(rows, approved, caller="applicant") -> str:
    head = {"request_id": "r", "time": "2026-12-07T00:00:00.000+00:00", "service": "loanclassifier",
            "artefacts": "digest", "caller": caller}  # fmt: skip
    return "".join(
        json.dumps(
            {
                **head,
                "row": [float(v) for v in row],
                "decision": "approved" if a else "rejected",
                "probability": 0.7 if a else 0.3,
            }
        )
        + "\n"  # fmt: skip
        for row, a in zip(rows, approved)
    )


def drifted(result) -> list[str]:
    return sorted(f for f, r in result.items() if r["drifted"])


def test_the_shift_is_named_within_one_window(served):
    reference, _, normal, test, _ = served
    first = compare(reference, shifted_rows(test, normal)[:WINDOW])
    assert "marital-status" in drifted(first), first  # the partner selects on it
    assert set(drifted(first)) <= {"marital-status", "relationship", "gender", "age"}, first


def test_unshifted_traffic_drifts_in_at_most_one_of_20_windows(served):
    reference, _, normal, _, _ = served
    windows = [compare(reference, normal[i * WINDOW : (i + 1) * WINDOW]) for i in range(20)]
    assert sum(bool(drifted(w)) for w in windows) <= 1, [drifted(w) for w in windows]


def test_bad_input_gives_defined_states(served):
    reference, _, normal, _, category_map = served
    empty = compare(reference, np.empty((0, len(FEATURES))))
    assert all(math.isnan(r["p"]) and not r["drifted"] and r["n"] == 0 for r in empty.values()), empty
    rows = normal[:WINDOW].astype(float)
    workclass, age = FEATURES.index("workclass"), FEATURES.index("age")
    rows[:3, workclass] = [99, -1, np.nan]  # codes the training data never held
    rows[:2, age] = np.nan
    result = compare(reference, rows)
    assert result["workclass"]["unknown"] == 3 and result["age"]["unknown"] == 2, result
    assert result["workclass"]["n"] == WINDOW - 3 and not drifted(result), result


def metrics(port_or_registry) -> dict:
    if isinstance(port_or_registry, int):
        text = requests.get(f"http://127.0.0.1:{port_or_registry}/metrics", timeout=10).text
    else:
        from prometheus_client import generate_latest

        text = generate_latest(port_or_registry).decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            values[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return values


def group_counts(rows, approved, category_map) -> Counter:
    shown = to_display(rows, category_map)
    return Counter(zip(shown["gender"], shown["ethnicity"], np.where(approved, "approved", "rejected")))


def exported_counts(values) -> Counter:
    return Counter({(dict(k)["gender"], dict(k)["ethnicity"], dict(k)["decision"]): int(v)
                    for (name, k), v in values.items() if name == "loan_monitor_decisions_total" and v})  # fmt: skip


def test_the_monitor_counts_groups_skips_bad_lines_and_follows_a_rotation(served, tmp_path):
    reference, rf, normal, _, category_map = served
    rows = normal[: 2 * WINDOW + 100]
    approved = rf.predict(rows).astype(bool)
    log = tmp_path / "audit.jsonl"
    log.write_text(audit_lines(rows[:600], approved[:600]))
    monitor = Monitor(log, reference, tmp_path / "state.json", WINDOW)
    assert monitor.poll() == 600
    with open(log, "a") as f:  # 50 more lines, written before the rotation but not yet read
        f.write(audit_lines(rows[600:650], approved[600:650]))
    log.rename(tmp_path / "audit.jsonl.1")  # the service's handler rotates: the rest goes to a new file
    bad = "".join(line + "\n" for line in (
        '{"caller": "applicant", "row": [NaN, 1, 2, 3, 4, 5, 4, 1, 0, 0, 40, 38], "decision": "approved"}',
        "not json",
        '{"caller": "applicant", "row": [1, 2], "decision": "approved"}',
        '{"caller": "explainer", "rows": 900, "approved": 300}',
        '{"caller": "applicant", "row": [39, 99, 2, 3, 4, 5, 2, 1, 0, 0, 40, 38], "decision": "rejected"}',
    ))  # fmt: skip
    log.write_text(bad + audit_lines(rows[650:], approved[650:]) + '{"caller": "applicant", "row": [3')
    monitor.poll()  # the rest of audit.jsonl.1, then the new file up to its last complete line
    values = metrics(monitor.registry)
    assert values[("loan_monitor_skipped_lines_total", ())] == 2  # the unreadable line, the wrong length
    assert values[("loan_monitor_windows_total", ())] == 2 and values[("loan_monitor_pending_decisions", ())] == 102
    for feature in ("workclass", "age"):  # the unknown code and the NaN, both in the second window
        assert values[("loan_monitor_unknown_values_total", (("feature", feature),))] == 1
    expected = group_counts(rows, approved, category_map)
    expected.update([("Male", "White", "approved"), ("Male", "Black", "rejected")])  # the NaN and unknown lines
    assert exported_counts(values) == expected
    zero = ("loan_monitor_decisions_total", (("decision", "approved"), ("ethnicity", "Other"), ("gender", "Female")))
    assert zero in values  # every group is exported, from zero


def wait_for(check, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_sigkill_loses_and_double_counts_nothing(served, tmp_path):
    """The monitor is killed (SIGKILL) three times while the audit trail grows; after each restart its
    counters go on from where they were, and at the end they equal the lines written, in full windows."""
    reference, rf, normal, _, category_map = served
    rows = normal[: 6 * WINDOW + 123]
    approved = rf.predict(rows).astype(bool)
    (reference_file := tmp_path / "reference.json").write_text(reference.to_json())
    log, state, port = tmp_path / "audit.jsonl", tmp_path / "state.json", free_port()
    command = [sys.executable, "-m", "pipeline.loan_monitor", "--audit-log", str(log), "--reference",
               str(reference_file), "--state", str(state), "--port", str(port), "--interval", "0.05"]  # fmt: skip
    log.touch()
    chunks = np.array_split(np.arange(len(rows)), 12)
    seen, process = [], None
    try:
        for i, chunk in enumerate(chunks):
            if process is None:
                process = subprocess.Popen(command, stderr=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1])
                wait_for(lambda: _answers(port))
                assert listening_addresses(port) == {"127.0.0.1"}
            with open(log, "a") as f:
                f.write(audit_lines(rows[chunk], approved[chunk]))
            time.sleep(0.05 * (i % 3))
            values = metrics(port)
            seen.append(sum(exported_counts(values).values()))
            if i in (3, 6, 9):
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
                process = None
        wait_for(lambda: sum(exported_counts(metrics(port)).values()) == len(rows))
        values = metrics(port)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
    assert exported_counts(values) == group_counts(rows, approved, category_map)
    assert values[("loan_monitor_windows_total", ())] == len(rows) // WINDOW
    assert values[("loan_monitor_pending_decisions", ())] == len(rows) % WINDOW
    assert seen == sorted(seen), seen  # never backwards across the restarts
    # The same windows as one uninterrupted pass over the same lines.
    single = Monitor(tmp_path / "one.jsonl", reference, tmp_path / "one-state.json", WINDOW)
    (tmp_path / "one.jsonl").write_text(audit_lines(rows, approved))
    single.poll()
    assert json.loads(state.read_text())["last"] == single.state["last"]


def _answers(port) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).ok
    except requests.RequestException:
        return False


def test_holm_adjusts_for_the_number_of_inputs_tested():
    from pipeline.loan_monitor.drift import holm

    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03, "untested": float("nan")})
    assert adjusted["a"] == pytest.approx(0.03) and adjusted["c"] == pytest.approx(0.06)
    assert adjusted["b"] == pytest.approx(0.06) and math.isnan(adjusted["untested"])  # step-down: never below c's


def test_windows_drawn_from_the_training_data_itself_drift_at_most_at_the_family_rate(served):
    """600 windows resampled from the reference's own rows (the null exactly): the share naming any input
    stays near alpha = 1% (Holm over the inputs; rare categories pooled so the chi-square's tail holds)."""
    reference, _, _, _, _ = served
    train = load_adult("train").X
    rng = np.random.default_rng(1)
    flagged = [bool(drifted(compare(reference, train[rng.integers(0, len(train), WINDOW)]))) for _ in range(600)]
    print(f"{np.mean(flagged):.2%} of 600 windows from the training data named an input")
    assert np.mean(flagged) <= 0.02, np.mean(flagged)


def test_the_numeric_test_is_scipys_ks_2samp(served):
    """The monitor keeps the training ECDF instead of the rows; its p-values are ks_2samp's on the rows."""
    from scipy import stats

    from pipeline.loan_monitor.drift import _kolmogorov_smirnov

    reference, _, normal, test, _ = served
    train = load_adult("train").X
    for rows in (normal[:WINDOW], shifted_rows(test, normal)[:WINDOW], normal[:7]):
        for feature in reference.numeric:
            i = FEATURES.index(feature)
            ours = _kolmogorov_smirnov(np.sort(rows[:, i].astype(float)), *reference.numeric[feature])
            assert ours == pytest.approx(stats.ks_2samp(rows[:, i], train[:, i]).pvalue, rel=1e-9, abs=1e-12)
