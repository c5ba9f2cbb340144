"""The stop switch end to end: the Seldon model service and the review service on one review database. A
reviewer turns the switch on; the model's very next decision is held and enters the queue from its audit
line; off again, the next one is the model's alone. The review service restarts with the switch on."""

from __future__ import annotations

import json

import pytest
import requests

from pipeline.local import serving
from pipeline.local.processes import wait_until
from pipeline.local.review import start_review, stop_review
from tutorial import artefacts as export

ROW = [39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("artefacts")
    export.export_artefacts(*export.build_serving_artefacts(n_rows=2_000, n_estimators=10), root=root)
    work = tmp_path_factory.mktemp("review-serving")
    url = f"sqlite:///{work / 'review' / 'review.db'}"
    model = serving.start_service(serving.MODEL, root / serving.MODEL.name, port=serving.free_port(),
                                  metrics_port=serving.free_port(), log=work / "model.log",
                                  env={"LOAN_REVIEW_DB": url})  # fmt: skip
    review = start_review(work / "review", follow=[model.audit_log], artefacts=root / serving.MODEL.name,
                          env={"LOAN_REVIEW_DB": url})  # fmt: skip
    yield model, review
    stop_review(review)
    serving.stop_service(model)


def decide(model, request_id):
    response = requests.post(model.predict_url, json={"data": {"ndarray": [ROW]}}, headers={"X-Request-Id": request_id},
                             timeout=30)  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()


def audit_line(model, request_id):
    wait_until(lambda: request_id in open(model.audit_log).read(), 30, what=f"the audit line of {request_id}")
    return next(x for x in map(json.loads, open(model.audit_log)) if x["request_id"] == request_id)


def switch(review, on):
    response = requests.post(review.url + "/api/stop", json={"on": on, "reason": "drift alert" if on else "retrained"},
                             headers=review.headers(), timeout=30)  # fmt: skip
    assert response.status_code == 200 and response.json()["on"] is on, response.text


def queued(review):
    cases = requests.get(review.url + "/api/cases", headers=review.headers(), timeout=30).json()["cases"]
    return {c["request_id"]: c for c in cases}


def test_the_stop_switch_holds_the_next_decision_and_the_queue_gets_it(stack):
    model, review = stack
    decide(model, "beforeswitch")
    assert "held" not in audit_line(model, "beforeswitch")
    switch(review, True)
    answer = decide(model, "firstafterswitch")  # the very next request
    line = audit_line(model, "firstafterswitch")
    assert line["held"] is True and line["cause"] == "stop switch"
    assert answer["data"]["ndarray"][0][1] == pytest.approx(line["probability"])
    wait_until(lambda: "firstafterswitch" in queued(review), 30, what="the held decision in the queue")
    case = queued(review)["firstafterswitch"]
    assert "held: stop switch" in case["causes"] and case["gender"] in ("Female", "Male")
    switch(review, False)
    decide(model, "afterrelease")
    assert "held" not in audit_line(model, "afterrelease")


def test_the_switch_stays_on_across_a_restart_of_both_services(stack):
    model, review = stack
    switch(review, True)
    stop_review(review)
    serving.restart_service(model)
    decide(model, "whilereviewisdown")  # the database keeps the state: held with the review service down
    assert audit_line(model, "whilereviewisdown")["cause"] == "stop switch"
    fresh = start_review(review.directory, port=review.port, follow=[model.audit_log], env=review.env)
    review.pid = fresh.pid
    wait_until(lambda: "whilereviewisdown" in queued(review), 30, what="the decision made while it was down")
    assert requests.get(review.url + "/api/stop", headers=review.headers(), timeout=30).json()["on"] is True
    switch(review, False)
    decide(model, "released")
    assert "held" not in audit_line(model, "released")
