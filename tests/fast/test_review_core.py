"""The review core and the model core on one review database, in process: the stop switch reaches the
decision path from the next request on, and the held lines enter the queue."""

import json
import sqlite3

import pytest
from fast_setup import ROW
from loan_review.core import ReviewCore
from loan_service.errors import Refused
from loan_service.model import ModelCore
from loan_service.settings import Settings


@pytest.fixture
def cores(artefacts, tmp_path):
    url = f"sqlite:///{tmp_path / 'review.db'}"
    model_settings = Settings(audit_log=str(tmp_path / "model-audit.jsonl"), review_db=url, caller_token="fast-token")
    review = ReviewCore(Settings(audit_log=str(tmp_path / "review-audit.jsonl"), review_band="0.45,0.55"), url)
    model = ModelCore(model_settings, artefacts / "loanclassifier")
    model.load()
    return model, review, tmp_path / "model-audit.jsonl"


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_the_model_decides_alone_before_any_review_database_exists(cores):
    model, _, audit = cores
    model.decide([ROW], {}, "before")  # no database file yet: the switch was never on
    assert "held" not in lines(audit)[-1]


def test_the_stop_switch_holds_the_next_decision_and_releases_the_next_after_it(cores):
    model, review, audit = cores
    review.load()
    model.decide([ROW], {}, "r-off")
    review.set_stop_switch("alice", {"on": True, "reason": "drift alert"})
    model.decide([ROW, ROW[:-1] + [1]], {}, "r-on")  # the very next request
    review.set_stop_switch("alice", {"on": False, "reason": "retrained"})
    model.decide([ROW], {}, "r-off-again")
    by_request = {}
    for x in lines(audit):
        by_request.setdefault(x["request_id"], []).append(x)
    assert [x.get("cause") for x in by_request["r-on"]] == ["stop switch", "stop switch"]
    assert all("held" not in x for x in by_request["r-off"] + by_request["r-off-again"])
    review.intake(lines(audit))
    queued = {c["request_id"]: c for c in review.queue()}
    assert queued["r-on"]["causes"][0] == "held: stop switch" and len([c for c in review.queue()
                                                                     if c["request_id"] == "r-on"]) == 2  # fmt: skip
    assert "r-off" not in queued or queued["r-off"]["causes"] == ["borderline"]


def test_an_unreadable_review_database_holds_every_decision(cores, tmp_path):
    model, _, audit = cores
    (tmp_path / "review.db").write_bytes(b"not a database" * 100)
    model.decide([ROW], {}, "corrupt")
    assert lines(audit)[-1]["cause"] == "stop switch unreadable"


def test_the_explainer_perturbed_samples_are_never_held(cores):
    from loan_service.caller import explainer_headers

    model, review, audit = cores
    review.load()
    review.set_stop_switch("alice", {"on": True, "reason": "drift"})
    model.decide([ROW] * 3, explainer_headers("fast-token"), "samples")
    assert lines(audit)[-1]["caller"] == "explainer" and "held" not in lines(audit)[-1]


def test_decide_refuses_a_missing_reason_before_writing(cores):
    _, review, _ = cores
    review.load()
    review.intake([{"request_id": "b", "caller": "applicant", "row": ROW, "decision": "rejected", "probability": 0.5}])
    case_id = review.queue()[0]["id"]
    with pytest.raises(Refused) as caught:
        review.decide(case_id, "alice", {"action": "confirm", "reason": "  ", "codes": ["R01"]})
    assert caught.value.status == 400
    with sqlite3.connect(review.url[len("sqlite:///"):]) as db:
        assert db.execute("SELECT state FROM cases WHERE id = ?", (case_id,)).fetchone()[0] == "open"
