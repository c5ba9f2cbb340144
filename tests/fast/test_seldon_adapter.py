"""The Seldon adapter in-process: Seldon 1.17.1's own Flask app (``get_rest_microservice``) around the
wrappers, hardened as the entry point hardens it (``loan_service.seldon``), through Flask's test client."""

import importlib.util
import json

import numpy as np
import pytest
from fast_setup import REPO, ROW
from loan_service import seldon
from loan_service.metrics import REQUESTS
from loan_service.settings import Settings
from seldon_core.flask_utils import SeldonMicroserviceException
from seldon_core.metrics import SeldonMetrics

STEPS = REPO / "pipeline" / "pipeline_steps"
PREDICT = "/api/v1.0/predictions"
TOKEN = "fast-seldon-token"


def wrapper(step, name):
    spec = importlib.util.spec_from_file_location(f"fast_{name}", STEPS / step / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


@pytest.fixture
def audit_log(tmp_path, monkeypatch):
    path = tmp_path / "audit.jsonl"
    for key, value in {"LOAN_AUDIT_LOG": str(path), "LOAN_CALLER_TOKEN": TOKEN, "LOAN_MAX_BODY_BYTES": "5000"}.items():
        monkeypatch.setenv(key, value)
    seldon.patch_seldon(Settings.from_env())
    return path


@pytest.fixture
def model(artefacts, audit_log):
    instance = wrapper("loanclassifier", "Model")(artefacts=artefacts / "loanclassifier")
    instance.load()
    return instance


@pytest.fixture
def client(model):
    return seldon.rest_app(model, SeldonMetrics()).test_client()


def post(client, body, **headers):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(PREDICT, data=data, headers={"Content-Type": "application/json", **headers})


def test_a_prediction_answers_seldons_message_with_a_request_id(client):
    response = post(client, {"data": {"ndarray": [ROW]}}, **{"X-Request-Id": "abc123"})
    assert response.status_code == 200, response.text
    assert response.json["data"]["names"] == ["rejected", "approved"]
    assert np.shape(response.json["data"]["ndarray"]) == (1, 2) and response.headers["X-Request-Id"] == "abc123"
    tensor = post(client, {"data": {"tensor": {"shape": [1, 12], "values": ROW}}}).json["data"]["tensor"]
    assert tensor["shape"] == [1, 2]


BAD = {
    "malformed JSON": ('{"data": {"ndarray": [[39, 5', 400, "is not JSON"),
    "wrong shape": ({"data": {"ndarray": [ROW[:11]]}}, 400, "each row needs 12 features"),
    "NaN": ('{"data": {"ndarray": [[NaN, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]]}}', 400, "NaN and infinity"),
    "unknown category": ({"data": {"ndarray": [ROW[:7] + [2] + ROW[8:]]}}, 400, "unknown category code 2"),
    "duplicate keys": ('{"data": {"ndarray": [[1]]}, "data": {"ndarray": [%s]}}' % json.dumps(ROW), 400,
                       'the key "data" appears twice'),
    "oversized body": ({"data": {"ndarray": [ROW] * 200}}, 413, "over the limit of 5000 bytes"),
    "no data": ({"strData": "39,5"}, 400, "data.ndarray"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_input_is_a_4xx_naming_the_problem_counted_and_not_audited(client, audit_log, case):
    body, status, words = BAD[case]
    counted = REQUESTS.labels("loanclassifier", str(status))._value.get()
    response = post(client, body)
    assert response.status_code == status, response.text
    assert words in response.json["status"]["info"], response.text
    assert REQUESTS.labels("loanclassifier", str(status))._value.get() == counted + 1
    assert not audit_log.exists() or not audit_log.read_text()
    assert post(client, {"data": {"ndarray": [ROW]}}).status_code == 200  # still serving


def test_a_form_field_with_a_key_twice_and_a_json_query_are_refused(client):
    form = client.post(PREDICT, data={"json": '{"meta": {}, "meta": {}, "data": {"ndarray": [[1]]}}'})
    assert form.status_code == 400 and '"meta" appears twice' in form.json["status"]["info"]
    query = client.post(PREDICT + "?json=%7B%7D", json={"data": {"ndarray": [ROW]}})
    assert query.status_code == 400 and "query" in query.json["status"]["info"]


def test_unserved_routes_404_and_wrong_methods_405(client):
    assert client.post("/no-such-route", json={}).status_code == 404
    assert client.post("/api/v1.0/feedback", json={}).status_code == 404
    response = client.get(PREDICT)
    assert response.status_code == 405 and "POST" in response.headers["Allow"]


def test_the_caller_proof_and_the_audit_line(client, audit_log):
    post(client, {"data": {"ndarray": [ROW]}}, **{"X-Request-Id": "proof1", "X-Loan-Caller": "explainer"})
    post(client, {"data": {"ndarray": [ROW, ROW]}},
         **{"X-Request-Id": "proof2", "X-Loan-Caller": "explainer", "X-Loan-Caller-Token": TOKEN})  # fmt: skip
    lines = [json.loads(line) for line in audit_log.read_text().splitlines()]
    callers = [(line["request_id"], line["caller"]) for line in lines]
    assert callers == [("proof1", "applicant"), ("proof2", "explainer")]
    assert lines[1]["rows"] == 2  # the explainer's samples: one line per request


def test_metrics_port_answers_our_counters_and_seldon_custom_metrics_are_refused(client):
    post(client, {"data": {"ndarray": [ROW]}})
    text, _ = SeldonMetrics().generate_metrics()  # what Seldon's metrics server answers, patched
    assert 'loan_requests_total{code="200",service="loanclassifier"}' in text
    assert "loan_decisions_total" in text
    with pytest.raises(SeldonMicroserviceException) as refused:
        SeldonMetrics().update([{"type": "COUNTER", "key": "x", "value": 1}], "predict")
    assert "custom metrics are off" in refused.value.message
    metrics = [{"type": "COUNTER", "key": "x", "value": 1}]
    asked = post(client, {"data": {"ndarray": [ROW]}, "meta": {"metrics": metrics}})
    assert asked.status_code == 200  # a client's meta.metrics is dropped, never passed to Seldon's metrics


def test_a_grpc_message_cannot_reach_the_model(model):
    """seldon-core-microservice run directly would serve gRPC: predict_raw refuses any message outside REST."""
    from seldon_core.utils import json_to_seldon_message

    with pytest.raises(SeldonMicroserviceException) as refused:
        model.predict_raw(json_to_seldon_message({"data": {"ndarray": [ROW]}}))
    assert "gRPC is not served" in refused.value.message and refused.value.status_code == 400


def test_health_and_metadata(client):
    health = client.get("/health/status")
    assert health.status_code == 200 and health.json["jsonData"]["model"] == "loanclassifier"
    assert client.get("/metadata").json["custom"]["max_body_bytes"] == "5000"


def test_the_entry_point_keeps_grpc_off():
    with pytest.raises(SystemExit, match="gRPC"):
        seldon.main(["Model", "--grpc-workers", "2"])
    with pytest.raises(SystemExit, match="gRPC"):
        seldon.main(["Model", "--grpc-workers=1"])
