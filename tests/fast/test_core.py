"""The framework-free core (pipeline/loan_service), called as any adapter calls it: no Flask, no Seldon."""

import json

import numpy as np
import pytest
from fast_setup import ROW
from loan_service.caller import explainer_headers
from loan_service.errors import Refused
from loan_service.explainer import ExplainerCore
from loan_service.limits import check_body, expected_length
from loan_service.metrics import CLAIMS_REJECTED, DECISIONS
from loan_service.model import ModelCore
from loan_service.settings import Settings
from loan_service.validation import parse_json, rows_from_seldon


def refused(call, *args):
    with pytest.raises(Refused) as caught:
        call(*args)
    return caught.value


@pytest.fixture
def settings(tmp_path):
    return Settings(audit_log=str(tmp_path / "audit.jsonl"), caller_token="fast-token", max_body_bytes=1000)


@pytest.fixture
def model(artefacts, settings):
    core = ModelCore(settings, artefacts / "loanclassifier")
    core.load()
    return core


def test_settings_read_every_loan_variable_with_its_type():
    environ = {"LOAN_MAX_BODY_BYTES": "100", "LOAN_AUDIT": "0", "LOAN_READ_TIMEOUT": "2.5", "LOAN_LOOPBACK": "1",
               "LOAN_MODEL_URL": "http://m", "LOAN_AUDIT_LOG": ""}  # fmt: skip
    settings = Settings.from_env(environ)
    assert (settings.max_body_bytes, settings.audit, settings.read_timeout) == (100, False, 2.5)
    assert settings.loopback is True and settings.model_url == "http://m" and settings.audit_log == ""
    assert Settings.from_env({}) == Settings()


def test_json_with_a_key_twice_at_any_depth_is_refused():
    assert parse_json(b'{"data": {"ndarray": [[1]]}}') == {"data": {"ndarray": [[1]]}}
    error = refused(parse_json, b'{"data": {"ndarray": [[1]], "ndarray": [[2]]}}')
    assert (error.status, error.reason) == (400, "LOAN_BAD_INPUT") and '"ndarray" appears twice' in error.message
    assert "is not JSON" in refused(parse_json, b'{"data": ').message


def test_body_limits():
    settings = Settings(max_body_bytes=10)
    assert expected_length("5", settings) == 5 and expected_length(None, settings) is None
    assert refused(expected_length, "11", settings).status == 413
    assert refused(expected_length, "ten", settings).status == 400
    assert refused(check_body, b"x" * 11, None, settings).status == 413
    assert "shorter than its Content-Length" in refused(check_body, b"abc", 5, settings).message


@pytest.mark.parametrize("rows, words", [
    ([ROW[:5]], "each row needs 12 features"),
    ([[float("nan")] + ROW[1:]], "NaN and infinity are not allowed"),
    ([ROW[:7] + [7] + ROW[8:]], "unknown category code 7 for gender"),
    ([[5] + ROW[1:]], "age 5 is outside the plausible range 17..90"),
    ([["a"] * 12], "got strings"),
    ([ROW, ROW[:3]], "rows of different lengths"),
])  # fmt: skip
def test_decide_refuses_bad_rows_naming_the_problem(model, rows, words):
    error = refused(model.decide, rows, {}, "r1")
    assert error.status == 400 and words in error.message, error.message


def test_decide_counts_per_gender_and_caller_and_audits_each_row(model, settings):
    before = DECISIONS.labels("Male", "rejected", "applicant")._value.get()
    before += DECISIONS.labels("Male", "approved", "applicant")._value.get()
    p = model.decide(np.array([ROW, ROW]), {}, "audit1")
    assert p.shape == (2, 2) and np.allclose(p.sum(axis=1), 1)
    after = DECISIONS.labels("Male", "rejected", "applicant")._value.get()
    after += DECISIONS.labels("Male", "approved", "applicant")._value.get()
    assert after - before == 2
    lines = [json.loads(line) for line in open(settings.audit_log)]
    assert [line["request_id"] for line in lines] == ["audit1", "audit1"] and lines[0]["row"] == ROW
    assert lines[0]["caller"] == "applicant" and lines[0]["service"] == "loanclassifier"


def test_the_caller_label_needs_the_token(model, settings):
    claims = CLAIMS_REJECTED.labels("loanclassifier", "explainer")
    rejected = claims._value.get()
    model.decide([ROW], {"X-Loan-Caller": "explainer", "X-Loan-Caller-Token": "wrong"}, "c1")
    assert claims._value.get() == rejected + 1
    model.decide([ROW], explainer_headers("fast-token"), "c2")
    assert claims._value.get() == rejected + 1
    callers = [json.loads(line)["caller"] for line in open(settings.audit_log)]
    assert callers == ["applicant", "explainer"]


def test_health_and_description(artefacts, settings, model):
    assert refused(ModelCore(settings, artefacts / "loanclassifier").health).status == 503  # not loaded
    health = model.health()
    assert health["artefacts"] == model.digest and health["prediction_path_seconds"] >= 0
    assert model.describe()["custom"]["max_body_bytes"] == "1000"


class InProcessModel:
    """The model core itself as the explainer's model client: what the Seldon or V2 client reaches."""

    def __init__(self, core):
        self.core = core

    def probabilities(self, X):
        return self.core.decide(np.asarray(X, dtype=float), explainer_headers("fast-token"), "explainer-call")


def test_explainer_core_explains_one_applicant_and_gives_reasons_for_a_batch(artefacts, settings, model):
    explainer = ExplainerCore(settings, artefacts / "loanclassifier-explainer", InProcessModel(model))
    explainer.load()
    assert "one applicant per request" in refused(explainer.explain, [ROW, ROW], {}, "e0").message
    explanation = explainer.explain([ROW], {}, "e1")
    assert explanation["meta"]["name"] == "AnchorTabular" and explanation["data"]["anchor"]
    answer = explainer.reasons([ROW, [60] + ROW[1:]], {}, "e2")
    assert len(answer["reasons"]) == 2
    for record in answer["reasons"]:
        assert (record["notice"] is None) == (record["decision"] == "approved")
    lines = [json.loads(line) for line in open(settings.audit_log) if '"loanclassifier-explainer"' in line]
    assert lines[0]["request_id"] == "e1" and lines[0]["anchor"] == explanation["data"]["anchor"]


def test_rows_from_a_seldon_message():
    assert rows_from_seldon({"data": {"tensor": {"shape": [1, 2], "values": [1, 2]}}}).shape == (1, 2)
    assert "data.ndarray" in refused(rows_from_seldon, {"jsonData": {}}).message
