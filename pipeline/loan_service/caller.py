"""Who is calling the model: the explainer proves it with a shared token, anyone else is an applicant.

The gap alert watches the applicants' series, so a label a client could set would let it move its
decisions out of sight. The explainer sends ``X-Loan-Caller: explainer`` with ``X-Loan-Caller-Token``,
the value of ``LOAN_CALLER_TOKEN`` (``Settings.caller_token``; in a cluster from a Kubernetes Secret,
locally a random one per start); the model compares it in constant time. A claim without the token
counts as an applicant, and the attempt is counted.
"""

import hmac

from .metrics import CLAIMS_REJECTED

CALLER_HEADER = "X-Loan-Caller"
TOKEN_HEADER = "X-Loan-Caller-Token"
CALLERS = ("applicant", "explainer")  # the label values; "applicant" needs no proof


def caller_of(headers, service, token):
    """The caller label of a request with these headers (any mapping with ``get``); a claim without the
    valid ``token`` is counted."""
    claimed = headers.get(CALLER_HEADER, "applicant")
    if claimed == "applicant":
        return "applicant"
    expected, given = token.encode(), headers.get(TOKEN_HEADER, "").encode("utf-8", "replace")
    if claimed in CALLERS and expected and hmac.compare_digest(given, expected):
        return claimed
    CLAIMS_REJECTED.labels(service, claimed if claimed in CALLERS else "other").inc()
    return "applicant"


def explainer_headers(token):
    """What the explainer sends with each call to the model."""
    return {CALLER_HEADER: "explainer", TOKEN_HEADER: token}
