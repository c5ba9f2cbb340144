"""The KServe adapters in-process: KServe's own FastAPI app and routes, built as the entry point builds them,
driven by FastAPI's TestClient (no process, no port). Runs in .venv-kserve (``make kserve-env``):

    .venv-kserve/bin/python -m pytest tests/fast/kserve/test_kserve_adapter.py

The notebook environment has no kserve: there ``tests/test_kserve_serving.py`` runs this file in .venv-kserve.
"""

from __future__ import annotations

import asyncio
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(REPO), str(REPO / "pipeline")]  # loan_service, loan_kserve; tutorial for the artefacts

import kserve.model_server  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.responses import ORJSONResponse  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from kserve.model_repository import ModelRepository  # noqa: E402
from kserve.protocol.dataplane import DataPlane  # noqa: E402
from kserve.protocol.model_repository_extension import ModelRepositoryExtension  # noqa: E402
from loan_kserve.models import LoanExplainer, LoanModel, V2ModelClient  # noqa: E402
from loan_kserve.rest import LoanRESTServer  # noqa: E402
from loan_service.metrics import use_directory  # noqa: E402
from loan_service.settings import Settings  # noqa: E402

ROW = [39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]
TOKEN = "fast-test-token"


def v2(rows, datatype="FP64"):
    rows = np.asarray(rows)
    return {"inputs": [{"name": "applicants", "shape": list(rows.shape), "datatype": datatype,
                        "data": rows.ravel().tolist()}]}  # fmt: skip


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory):
    from tutorial import artefacts as export

    root = tmp_path_factory.mktemp("artefacts")
    use_directory(str(tmp_path_factory.mktemp("metrics")))
    export.export_artefacts(*export.build_serving_artefacts(n_rows=1_000, n_estimators=5), root=root)
    return root


def app_for(model, service, settings):
    """KServe's app with the entry point's REST server: a fresh FastAPI app per service."""
    kserve.model_server.app = FastAPI(default_response_class=ORJSONResponse)
    repository = ModelRepository()
    repository.update(model)
    LoanRESTServer.service, LoanRESTServer.settings = service, settings
    server = LoanRESTServer("kserve.model_server:app", DataPlane(model_registry=repository),
                            ModelRepositoryExtension(model_registry=repository), http_port=0)  # fmt: skip
    server.create_application()
    return kserve.model_server.app


def settings_for(tmp, **overrides):
    return Settings.from_env({}, caller_token=TOKEN, audit_log=str(tmp / "audit.jsonl"), **overrides)


@pytest.fixture(scope="module")
def model(artefacts, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("model")
    settings = settings_for(tmp, max_body_bytes=200_000, read_timeout=0.3)
    served = LoanModel(settings, artefacts / "loanclassifier")
    served.load()
    app = app_for(served, "loanclassifier", settings)
    return types.SimpleNamespace(client=TestClient(app), app=app, core=served.core, audit=tmp / "audit.jsonl")


class ViaTestClient(V2ModelClient):
    """The explainer's V2 client, posting through the model's TestClient instead of a socket."""

    def __init__(self, client):
        super().__init__("http://testserver/v2/models/loanclassifier/infer", TOKEN)
        self.client = client

    def _post(self, body):
        r = self.client.post(self.url, content=body, headers=self.headers)
        return types.SimpleNamespace(status_code=r.status_code, ok=r.is_success, json=r.json, text=r.text)


@pytest.fixture(scope="module")
def explainer(artefacts, model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explainer")
    settings = settings_for(tmp)
    served = LoanExplainer(settings, artefacts / "loanclassifier-explainer")
    served.core.model = ViaTestClient(model.client)
    served.load()
    return types.SimpleNamespace(client=TestClient(app_for(served, "loanclassifier-explainer", settings)),
                                 core=served.core, audit=tmp / "audit.jsonl")  # fmt: skip


def infer(model, body, **kwargs):
    return model.client.post("/v2/models/loanclassifier/infer", **({"json": body} if body is not None else {}),
                             **kwargs)  # fmt: skip


def test_a_batch_gets_the_forests_probabilities_audited_under_its_request_id(model):
    rows = np.array([ROW] * 3) + np.array([[0] * 11 + [0], [1] + [0] * 11, [2] + [0] * 11])
    response = infer(model, v2(rows, "INT64"), headers={"X-Request-Id": "fast1"})
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    assert output["shape"] == [3, 2] and response.headers["x-request-id"] == "fast1"
    np.testing.assert_array_equal(np.reshape(output["data"], (3, 2)), model.core.pipeline.predict_proba(rows))
    lines = [json.loads(line) for line in model.audit.read_text().splitlines()]
    assert [line["row"] for line in lines if line["request_id"] == "fast1"] == rows.tolist()


BAD = {
    "malformed JSON": (b'{"inputs": [', "not JSON"),
    "duplicate key": (b'{"inputs": [], "inputs": []}', 'the key "inputs" appears twice'),
    "NaN": (json.dumps(v2([ROW[:-1] + [float("nan")]])).encode(), "NaN and infinity are not allowed"),
    "infinity": (json.dumps(v2([ROW[:-1] + [float("inf")]])).encode(), "NaN and infinity are not allowed"),
    "unknown category": (json.dumps(v2([ROW[:-1] + [99]])).encode(), "unknown category code 99"),
    "11 features": (json.dumps(v2([ROW[:-1]])).encode(), "each row needs 12 features"),
    "shape and data disagree": (json.dumps({"inputs": [dict(v2([ROW])["inputs"][0], shape=[2, 12])]}).encode(),
                                "cannot reshape 12 values"),
    "strings": (json.dumps({"inputs": [dict(v2([ROW])["inputs"][0], datatype="BYTES")]}).encode(),
                "datatype BYTES is not accepted"),
    "booleans": (json.dumps({"inputs": [dict(v2([ROW])["inputs"][0], data=[True] * 12)]}).encode(), "no booleans"),
    "no inputs field": (b'{"rows": [[1]]}', "not a V2 inference request: inputs: Field required"),
    "two inputs": (json.dumps({"inputs": v2([ROW])["inputs"] * 2}).encode(), "send one input"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_a_400_naming_the_problem(model, case):
    body, message = BAD[case]
    response = infer(model, None, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert message in response.json()["status"]["info"]
    assert infer(model, v2([ROW])).status_code == 200  # and the model still answers


def test_an_oversized_body_is_a_413_and_unknown_routes_404(model):
    response = infer(model, None, content=b"[" + b"1," * 150_000 + b"1]")
    assert response.status_code == 413 and "over the limit" in response.json()["status"]["info"]
    assert model.client.get("/v2/models/loanclassifier/infer").status_code == 405
    assert model.client.post("/v2/models/other/infer", json=v2([ROW])).status_code == 404


def test_a_body_that_stops_arriving_is_a_408(model):
    """Through the ASGI app itself: the client sends half a body and nothing more (read_timeout 0.3 s)."""
    sent, parts = [], [{"type": "http.request", "body": b'{"inputs": ', "more_body": True}]

    async def receive():
        return parts.pop(0) if parts else await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v2/models/loanclassifier/infer", "headers": [
        (b"content-type", b"application/json"), (b"content-length", b"100")], "query_string": b"",
        "http_version": "1.1", "scheme": "http", "server": ("testserver", 80), "root_path": ""}  # fmt: skip
    asyncio.run(asyncio.wait_for(model.app(scope, receive, send), 10))
    assert sent[0]["status"] == 408 and b"did not arrive within 0.3 s" in sent[1]["body"]


def test_only_the_token_makes_a_request_the_explainers(model):
    def count(caller):
        text = model.client.get("/metrics").text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("loan_decisions_total{") and f'caller="{caller}"' in line)  # fmt: skip

    before = count("explainer"), count("applicant")
    assert infer(model, v2([ROW]), headers={"X-Loan-Caller": "explainer"}).status_code == 200
    assert infer(model, v2([ROW]), headers={"X-Loan-Caller": "explainer", "X-Loan-Caller-Token": TOKEN}).is_success
    assert (count("explainer"), count("applicant")) == (before[0] + 1, before[1] + 1)
    assert 'loan_caller_claims_rejected_total{claimed="explainer",service="loanclassifier"}' in (
        model.client.get("/metrics").text)


def test_liveness_runs_the_prediction_path(model):
    body = model.client.get("/v2/health/live").json()
    assert body["live"] is True and body["prediction_path_seconds"] >= 0
    assert model.client.get("/v2/health/ready").json() == {"ready": True}


def test_the_explainer_gives_the_cores_anchor_and_reasons(explainer):
    response = explainer.client.post("/v1/models/loanclassifier:explain", json={"instances": [ROW]})
    assert response.status_code == 200, response.text
    np.random.seed(0)
    direct = explainer.core.explainer.explain(np.asarray(ROW, dtype=float), threshold=0.95)
    assert response.json()["data"]["anchor"] == direct.anchor
    reasons = explainer.client.post("/v1/models/loanclassifier:explain", json={
        "instances": [ROW, ROW], "meta": {"tags": {"explain": "reasons"}}})  # fmt: skip
    assert reasons.status_code == 200 and len(reasons.json()["reasons"]) == 2


@pytest.mark.parametrize("body, message", [
    ({"instances": [ROW[:-1] + [float("nan")]]}, "NaN and infinity are not allowed"),
    ({"instances": [ROW, ROW]}, "explain one applicant per request"),
    ({"instances": [[True] * 12]}, "got booleans"),
    ({"rows": [ROW]}, 'send {"instances"'),
])  # fmt: skip
def test_the_explainer_refuses_bad_input_before_sampling(explainer, body, message):
    response = explainer.client.post("/v1/models/loanclassifier:explain", content=json.dumps(body))
    assert response.status_code == 400 and message in response.json()["status"]["info"], response.text
