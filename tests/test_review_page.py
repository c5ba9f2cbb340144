"""The reviewer's page in headless Chromium: the 401 page, then a case reviewed end to end with the keyboard,
no request leaving the review service's loopback origin; the screenshot is kept for the notebook."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import requests

from pipeline.local.review import start_review, stop_review
from pipeline.local.review_page import override_by_keyboard, signed_out_status

TOKEN = "p" * 32
ROW = [39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]
SCREENSHOT = Path(__file__).resolve().parents[1] / ".run" / "review-page.png"


@pytest.fixture(scope="module")
def review(tmp_path_factory):
    if not shutil.which("chromium") and not Path("/usr/bin/chromium").exists():
        pytest.fail("/usr/bin/chromium is missing: apt-get install chromium")
    service = start_review(tmp_path_factory.mktemp("review-page"), artefacts=metadata(tmp_path_factory.mktemp("meta")),
                           env={"LOAN_CALLER_TOKEN": TOKEN})  # fmt: skip
    yield service
    stop_review(service)


def metadata(directory):
    """The model's metadata.json (features, category names) with its manifest, as exported: the page shows
    the applicant's values by name and the metrics count overrides by gender."""
    from tutorial.artefacts import write_manifest
    from tutorial.data import FEATURES, load_adult

    category_map = load_adult("test", n_rows=50).category_map
    (directory / "metadata.json").write_text(json.dumps({
        "features": FEATURES, "class_names": ["rejected", "approved"], "ranges": {},
        "category_map": {str(c): names for c, names in category_map.items()}}))  # fmt: skip
    write_manifest(directory)
    return directory


def test_without_a_credential_the_page_answers_401_with_a_sign_in_form(review):
    status, heading = signed_out_status(review.url)
    assert status == 401 and "sign-in required" in heading


def test_a_reviewer_overrides_a_held_approval_with_the_keyboard_only(review, tmp_path):
    line = {"request_id": "page-1", "time": "2026-12-07T22:00:00.000+00:00", "service": "loanclassifier",
            "artefacts": "b" * 64, "caller": "applicant", "row": ROW, "decision": "approved", "probability": 0.52,
            "held": True, "cause": "stop switch"}  # fmt: skip
    response = requests.post(review.url + "/api/intake", json={"lines": [line]},
                             headers={"Authorization": "Bearer " + TOKEN}, timeout=30)  # fmt: skip
    assert response.status_code == 200, response.text
    case_id = requests.get(review.url + "/api/cases", headers=review.headers(), timeout=30).json()["cases"][0]["id"]
    shot = tmp_path / "review-page.png"
    gender = requests.get(f"{review.url}/api/cases/{case_id}", headers=review.headers(), timeout=30).json()["gender"]
    assert gender in ("Female", "Male")
    seen = override_by_keyboard(review.url, review.tokens["reviewer"], case_id, "Income not verified", "R05",
                                screenshot=shot)  # fmt: skip
    assert seen["queue"] == "Cases waiting: 1"
    print(f"the queue page loaded in {seen['queue_load_ms']:.0f} ms (navigation timing; bar 1 s)")
    assert seen["final"] == "rejected" and "R05 Investment income (capital gains)" in seen["notice"]
    assert seen["failed"] == [] and [e for e in seen["errors"] if "status of 401" not in e] == []  # the sign-in page
    assert all(url.startswith(review.url + "/") for url in seen["requests"]), seen["requests"]
    audit = [json.loads(x) for x in open(review.audit_log)]
    decided = [a for a in audit if a["kind"] == "decided"]
    assert [(a["request_id"], a["reviewer"], a["decision"]) for a in decided] == [("page-1", "reviewer", "rejected")]
    assert shot.stat().st_size > 10_000
    metrics = requests.get(review.url + "/metrics", timeout=30).text
    assert f'loan_review_overrides_total{{direction="approved_to_rejected",gender="{gender}"}} 1.0' in metrics
    SCREENSHOT.parent.mkdir(exist_ok=True)
    shutil.copyfile(shot, SCREENSHOT)  # for the notebook's "Who reviews it"
