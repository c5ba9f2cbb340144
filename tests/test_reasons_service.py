"""The explainer's reasons option served for real: seldon-core-microservice on loopback, one batched model call."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from pipeline.loan_reasons import notice
from pipeline.loan_reasons.reason_codes import PROHIBITED
from pipeline.local import serving
from tutorial import artefacts as export
from tutorial.data import load_adult


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    root = tmp_path_factory.mktemp("artefacts")
    model, explainer, category_map = export.build_serving_artefacts(n_rows=4_000, n_estimators=20)
    export.export_artefacts(model, explainer, category_map, root=root)
    logs = tmp_path_factory.mktemp("logs")
    started = []
    try:
        started.append(serving.start_service(serving.MODEL, root / serving.MODEL.name, port=serving.free_port(),
                                             metrics_port=serving.free_port(), log=logs / "model.log"))
        started.append(serving.start_service(serving.EXPLAINER, root / serving.EXPLAINER.name,
                                             port=serving.free_port(), metrics_port=serving.free_port(),
                                             log=logs / "explainer.log", model_url=started[0].predict_url))
        yield serving.Services(*started), model
    finally:
        for service in reversed(started):
            serving.stop_service(service)


@pytest.fixture(scope="module")
def rejected(services):
    _, model = services
    X = load_adult("test", n_rows=400, seed=2).X
    return X[model.predict_proba(X)[:, 1] <= 0.5][:8]


def ask(url, rows, tags=None):
    meta = {"tags": {"explain": "reasons"} if tags is None else tags}
    return requests.post(url, json={"meta": meta, "data": {"ndarray": np.asarray(rows).tolist()}}, timeout=120)


def flag_counts(service):
    text = requests.get(f"http://127.0.0.1:{service.metrics_port}/metrics", timeout=30).text
    return {line.split('"')[1]: float(line.split()[-1]) for line in text.splitlines()
            if line.startswith("loan_reason_flags_total{")}


def test_reasons_for_a_batch_audited_with_a_notice_that_regenerates(services, rejected):
    svc, _ = services
    before = flag_counts(svc.explainer)
    response = ask(svc.explainer.predict_url, rejected)
    assert response.status_code == 200, response.text
    answers = response.json()["jsonData"]["reasons"]
    assert len(answers) == len(rejected)
    request_id = response.headers["X-Request-Id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in Path(svc.explainer.audit_log).read_text().splitlines()]
        mine = [line for line in lines if line.get("request_id") == request_id]
        if len(mine) == len(rejected):
            break
        time.sleep(0.2)
    assert len(mine) == len(rejected), mine
    for answer, line in zip(answers, mine):
        assert 1 <= len(answer["reasons"]) <= 4
        assert not {r["feature"] for r in answer["reasons"]} & set(PROHIBITED)
        assert notice.render(line).encode() == answer["notice"].encode()  # from the audit record alone
    flagged = {}
    for answer in answers:
        for flag in answer["flags"]:
            flagged[flag["feature"]] = flagged.get(flag["feature"], 0) + 1
    assert flagged, answers  # these rejections rest on prohibited bases too
    after = flag_counts(svc.explainer)
    assert {f: after[f] - before.get(f, 0) for f in after if after[f] != before.get(f, 0)} == flagged


@pytest.mark.parametrize("rows, tags, status", [
    ([[39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40]], None, 400),  # 11 features
    ([[39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 999]], None, 400),  # no such country code
    ([[39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]] * 101, None, 400),  # too many applicants
    ([[39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]] * 2, {"explain": "anchors"}, 400),  # Anchors: one at a time
])
def test_bad_reasons_requests_get_a_clear_4xx_and_the_service_stays_up(services, rows, tags, status):
    svc, _ = services
    response = ask(svc.explainer.predict_url, rows, tags)
    assert response.status_code == status, response.text
    assert response.json()["status"]["info"]
    assert ask(svc.explainer.predict_url, [[39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]]).status_code == 200
