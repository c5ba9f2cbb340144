"""The request checks every adapter runs first (pipeline/loan_service/validation.py), called in-process."""

import numpy as np
import pytest
from seldon_core.flask_utils import SeldonMicroserviceException

from pipeline.loan_service.validation import parse_json, rows_from_json, validate_rows

FEATURES = ["age", "workclass", "education", "marital-status", "occupation", "relationship", "ethnicity",
            "gender", "capital-gain", "capital-loss", "hours-per-week", "native-country"]  # fmt: skip
CATEGORIES = {1: 7, 2: 16, 3: 7, 4: 14, 5: 6, 6: 5, 7: 2, 11: 41}  # column -> number of categories
METADATA = {
    "features": FEATURES,
    "category_map": {str(col): [f"c{i}" for i in range(n)] for col, n in CATEGORIES.items()},
    "ranges": {"age": [17, 90], "capital-gain": [0, 99999], "capital-loss": [0, 4356], "hours-per-week": [1, 99]},
}
ROW = [39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]


def refusal(call, *args):
    with pytest.raises(SeldonMicroserviceException) as caught:
        call(*args)
    return caught.value.status_code, caught.value.message


def test_parse_json_reads_a_message_and_refuses_a_key_given_twice_at_any_depth():
    assert parse_json(b'{"data": {"ndarray": [[1, 2]]}}') == {"data": {"ndarray": [[1, 2]]}}
    status, message = refusal(parse_json, b'{"data": {"ndarray": [[1]], "ndarray": [[2]]}}')
    assert status == 400 and '"ndarray" appears twice' in message


@pytest.mark.parametrize("body, words", [
    (b'{"data": ', "is not JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
])  # fmt: skip
def test_parse_json_answers_a_400_that_says_what_is_wrong(body, words):
    status, message = refusal(parse_json, body)
    assert status == 400 and words in message


def test_a_valid_row_comes_back_as_floats():
    X = validate_rows(rows_from_json({"data": {"ndarray": [ROW, ROW]}}), METADATA)
    assert X.dtype == float and X.tolist() == [ROW, ROW]


@pytest.mark.parametrize("column, value, words", [
    (0, float("nan"), "row 1: age is nan; NaN and infinity are not allowed"),
    (7, 2, "row 1: unknown category code 2 for gender; valid codes are 0..1"),
    (1, 1.5, "unknown category code 1.5 for workclass"),
    (8, -1, "row 1: capital-gain -1 is outside the plausible range 0..99999"),
    (10, 100, "row 1: hours-per-week 100 is outside the plausible range 1..99"),
])  # fmt: skip
def test_a_bad_value_is_a_400_naming_its_row_and_feature(column, value, words):
    bad = np.array([ROW, ROW], dtype=float)
    bad[1, column] = value
    status, message = refusal(validate_rows, bad, METADATA)
    assert status == 400 and words in message


@pytest.mark.parametrize("rows, words", [
    ([ROW[:-1]], "each row needs 12 features"),
    ([["39"] * 12], "got strings"),
    (ROW, "expected a list of rows"),
    ([], "empty payload"),
])  # fmt: skip
def test_a_badly_shaped_request_is_a_400_saying_what_to_send(rows, words):
    status, message = refusal(validate_rows, np.array(rows), METADATA)
    assert status == 400 and words in message
