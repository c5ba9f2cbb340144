"""Section 4's review demo: an application decided, contested and reviewed over the services' REST APIs."""

from __future__ import annotations

import json
import time

import pandas as pd
import requests


def decide(services, row, request_id: str) -> float:
    """P(approved) of one applicant, decided by the model service under ``request_id`` (its audit line's id)."""
    answer = requests.post(services.model.predict_url, json={"data": {"ndarray": [list(map(float, row))]}},
                           headers={"X-Request-Id": request_id}, timeout=30)  # fmt: skip
    answer.raise_for_status()
    return float(answer.json()["data"]["ndarray"][0][1])


def contest(review, reference: str, view: str, timeout: float = 30.0) -> dict:
    """The applicant's request for review, once the review service has read the decision's audit line."""
    deadline = time.monotonic() + timeout
    while True:
        answer = requests.post(review.url + "/api/contest", json={"reference": reference, "view": view}, timeout=30)
        if answer.status_code != 404 or time.monotonic() > deadline:
            answer.raise_for_status()
            return answer.json()
        time.sleep(0.3)


def act(review, case: int, body: dict) -> requests.Response:
    """A reviewer's decision on a case: {"action": "confirm" | "override", "reason": ..., "codes": [...]}."""
    return requests.post(f"{review.url}/api/cases/{case}/decision", json=body, headers=review.headers(), timeout=30)


def queue(review) -> pd.DataFrame:
    cases = requests.get(review.url + "/api/cases", headers=review.headers(), timeout=30).json()["cases"]
    return pd.DataFrame(cases, columns=["id", "request_id", "causes", "decision", "probability", "gender"])


def stop_switch(review, on: bool, reason: str) -> None:
    requests.post(review.url + "/api/stop", json={"on": on, "reason": reason}, headers=review.headers(),
                  timeout=30).raise_for_status()  # fmt: skip


def audit_line(path, request_id: str) -> dict:
    """The model's audit line of one decision."""
    with open(path) as f:
        return next(line for line in map(json.loads, f) if line.get("request_id") == request_id)
