"""The explainer's reasons served for real (seldon-core-microservice on loopback): notices that list every
principal reason and find their decision in the model's audit trail; holds; bad requests."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from pipeline.loan_reasons import notice
from pipeline.loan_reasons.reason_codes import PROHIBITED, SCORED
from pipeline.local import serving
from tutorial import artefacts as export
from tutorial.data import FEATURES, load_adult

ROW = [39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]


def start(root, logs, name):
    model = serving.start_service(serving.MODEL, root / serving.MODEL.name, port=serving.free_port(),
                                  metrics_port=serving.free_port(), log=logs / f"{name}-model.log")
    try:
        explainer = serving.start_service(serving.EXPLAINER, root / serving.EXPLAINER.name, port=serving.free_port(),
                                          metrics_port=serving.free_port(), log=logs / f"{name}-explainer.log",
                                          model_url=model.predict_url)  # fmt: skip
    except Exception:
        serving.stop_service(model)
        raise
    return serving.Services(model, explainer)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The served model: no prohibited basis scored, 62+ at their most favoured age."""
    root = tmp_path_factory.mktemp("served")
    built = export.build_serving_artefacts(n_rows=4_000, n_estimators=20)
    export.export_artefacts(*built, root=root)
    services = start(root, tmp_path_factory.mktemp("logs"), "served")
    services.root = root
    yield services, built[0]
    services.stop()


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    """The first forest (every input scored), served for the demo: it may not decide."""
    root = tmp_path_factory.mktemp("first")
    built = export.build_serving_artefacts(n_rows=4_000, n_estimators=20, inputs=FEATURES)
    export.export_artefacts(*built, root=root)  # served as it is: no age floor
    services = start(root, tmp_path_factory.mktemp("logs"), "first")
    yield services, built[0]
    services.stop()


def rejections(model, n, floor=True):
    X = np.unique(load_adult("test", n_rows=3_000, seed=2).X, axis=0)
    X = X[X[:, 0] >= 18]
    p = export.served_p_approved(model, floor)(X)
    return X[p <= 0.5][:n]


def post(url, rows, tags=None, request_id=None):
    body = {"data": {"ndarray": np.asarray(rows).tolist()}}
    if tags is not None:
        body["meta"] = {"tags": tags}
    headers = {"X-Request-Id": request_id} if request_id else {}
    return requests.post(url, json=body, headers=headers, timeout=300)


def audit(service, request_id, count=None, wait=60):
    deadline = time.monotonic() + wait
    while True:
        lines = [json.loads(line) for line in Path(service.audit_log).read_text().splitlines()]
        mine = [line for line in lines if line.get("request_id") == request_id]
        if count is None or len(mine) >= count or time.monotonic() > deadline:
            return mine
        time.sleep(0.2)


def counters(service, name):
    text = requests.get(service.metrics_url, timeout=30).text
    return {line.split('"')[1]: float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + "{")}


def test_fifty_notices_each_find_exactly_one_model_decision(served):
    """The applicant's decision (the model, request id R), then its reasons (the explainer, R): each notice
    names R and the model's digest, and its record's row and probability are one model audit line's."""
    svc, model = served
    rows = rejections(model, 50)
    assert len(rows) == 50
    decided = post(svc.model.predict_url, rows, request_id="join50")
    assert decided.status_code == 200, decided.text
    response = post(svc.explainer.predict_url, rows, {"explain": "reasons"}, request_id="join50")
    assert response.status_code == 200, response.text
    answers = response.json()["jsonData"]["reasons"]
    records = audit(svc.explainer, "join50", 50)
    model_lines = audit(svc.model, "join50", 50)
    digest = svc.model.healthy()["artefacts"]
    noticed = 0
    for answer, record in zip(answers, records):
        assert answer["decision"] == "rejected" and record["model_artefacts"] == digest
        if record["held"]:
            assert answer["notice"] is None and record["cause"] == "no_material_reason", record
            continue
        noticed += 1
        text = answer["notice"]
        assert notice.render(record).encode() == text.encode()  # from the audit record alone
        assert re.search(r"request id\): (\w+)", text).group(1) == "join50"
        shown = re.search(r"scoring model (\w+)", text).group(1)
        found = [line for line in model_lines if line["caller"] == "applicant" and line["row"] == record["row"]
                 and line["probability"] == record["probability"] and line["artefacts"].startswith(shown)]
        assert len(found) == 1, (record, found)
        assert found[0]["monitoring"]["gender"] in ("Female", "Male")  # recorded apart from the scored inputs
        assert 1 <= len(record["reasons"]) <= 4 and not {r["feature"] for r in record["reasons"]} - set(SCORED)
    assert noticed >= 45
    # the explainer's own calls carried the request id: the model's summary lines of them join too
    assert any(line["caller"] == "explainer" for line in model_lines)


def test_the_first_forest_s_rejections_are_held_for_review_and_counted(first):
    svc, model = first
    rows = rejections(model, 40, floor=False)
    before = counters(svc.explainer, "loan_decisions_held_total")
    response = post(svc.explainer.predict_url, rows, {"explain": "reasons"}, request_id="held40")
    assert response.status_code == 200, response.text
    answers = response.json()["jsonData"]["reasons"]
    records = audit(svc.explainer, "held40", len(rows))
    held = [r for r in records if r["held"]]
    assert len(held) >= 10, records
    for answer, record in zip(answers, records):
        assert (answer["notice"] is None) == record["held"]
        if record["flags"]:
            assert record["held"] and record["cause"] in ("prohibited_basis", "elderly_age"), record
            assert record["notice"] is None and set(f["feature"] for f in record["flags"]) <= {*PROHIBITED, "age"}
        if not record["held"]:
            assert not {r["feature"] for r in record["reasons"]} & set(PROHIBITED)
    after = counters(svc.explainer, "loan_decisions_held_total")
    for cause in ("prohibited_basis", "elderly_age", "no_material_reason"):
        assert after[cause] - before.get(cause, 0) == sum(r["cause"] == cause for r in held), cause


def test_the_anchors_answer_carries_no_other_applicant(served):
    svc, _ = served
    response = post(svc.explainer.predict_url, [ROW])
    assert response.status_code == 200, response.text
    raw = response.json()["jsonData"]["data"]["raw"]
    assert "examples" not in raw and raw["instance"] == ROW


@pytest.mark.parametrize("rows, tags, status, words", [
    ([ROW], {"explain": "reason"}, 400, '"anchors" (the default, one applicant) and "reasons"'),
    ([ROW] * 3, {"explain": "shap"}, 400, '"anchors" (the default, one applicant) and "reasons"'),
    ([ROW[:11]], {"explain": "reasons"}, 400, "needs 12 features"),
    ([ROW[:11] + [999]], {"explain": "reasons"}, 400, "unknown category code"),
    ([ROW] * 101, {"explain": "reasons"}, 400, "at most 100"),
    ([ROW] * 2, {"explain": "anchors"}, 400, "one applicant per request"),
    ([[17] + ROW[1:]], {"explain": "reasons"}, 422, "capacity to contract"),
    ([[17] + ROW[1:]], None, 422, "capacity to contract"),
])
def test_bad_explainer_requests_get_a_clear_4xx_and_the_service_stays_up(served, rows, tags, status, words):
    svc, _ = served
    response = post(svc.explainer.predict_url, rows, tags)
    assert response.status_code == status, response.text
    assert words in response.json()["status"]["info"], response.text
    assert post(svc.explainer.predict_url, [ROW], {"explain": "reasons"}).status_code == 200


def test_a_minor_s_application_is_refused_by_the_model(served):
    svc, _ = served
    response = post(svc.model.predict_url, [ROW, [17] + ROW[1:]])
    assert response.status_code == 422 and "row 1: age 17 is under 18" in response.json()["status"]["info"]
    assert post(svc.model.predict_url, [ROW]).status_code == 200


def test_no_reasons_from_a_model_the_references_were_not_built_for(served, first, tmp_path):
    (svc, model), (other, _) = served, first
    mismatched = serving.start_service(serving.EXPLAINER, svc.root / serving.EXPLAINER.name, port=serving.free_port(),
                                       metrics_port=serving.free_port(), log=tmp_path / "explainer.log",
                                       model_url=other.model.predict_url)  # fmt: skip
    try:
        response = post(mismatched.predict_url, rejections(model, 2), {"explain": "reasons"})
        assert response.status_code == 503, response.text
        assert "references were built for" in response.json()["status"]["info"]
    finally:
        serving.stop_service(mismatched)
