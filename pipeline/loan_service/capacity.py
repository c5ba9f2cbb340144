"""Applicants without the capacity to contract: refused before any decision, with a clear 4xx."""

import numpy as np
from loan_reasons.reason_codes import CAPACITY_AGE

from .errors import Refused


def refuse_minors(rows, metadata):
    """``Refused`` 422 naming the first applicant younger than 18: a minor cannot be bound by a credit
    contract (1002.6(b)(2)(i) lets a creditor consider capacity to contract), so no decision is made."""
    ages = rows[:, metadata["features"].index("age")]
    young = np.flatnonzero(ages < CAPACITY_AGE)
    if len(young):
        row = int(young[0])
        raise Refused(f"row {row}: age {ages[row]:g} is under {CAPACITY_AGE}: an applicant without the capacity "
                      "to contract is not decided (no decision, no notice)", 422, "LOAN_NO_CAPACITY")  # fmt: skip
