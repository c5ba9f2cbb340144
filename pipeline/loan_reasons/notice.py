"""The adverse-action notice, in the style of Regulation B's Appendix C (Form C-1), rendered from an audit
record alone.

1002.12(b) asks a lender to keep the statement of reasons for 25 months, and lets a computerised system
keep what it needs to regenerate it: the record keeps every value the notice prints, so the same record
renders the same bytes. The notice names the decision's request id and the model's artefact digest, so a
reviewer finds the model's own audit line of the decision. A rejection held for review gets no notice.
Teaching material as of 2026-12, not legal advice.
"""

import hashlib
import textwrap

WIDTH = 88
HEAD = (
    "STATEMENT OF CREDIT DENIAL\n\nDate: {date}\nDecision reference (request id): {request_id}\n"
    "Description of action taken: your application for credit was denied.\n"
)
DECIDED = "Decided by the scoring model {model} (P(approved) {probability:.2f}, approved above 0.50)."
REASONS = "Principal reason(s) for credit denial, most important first:"
REASON = "{code} {sentence}"
REFERENCE = "(applicants approved near the threshold: {reference})"

# 12 CFR 1002.9(b)(1): the ECOA notice a statement of denial carries.
ECOA = (
    "NOTICE: The Federal Equal Credit Opportunity Act prohibits creditors from discriminating against "
    "credit applicants on the basis of race, color, religion, national origin, sex, marital status, age "
    "(provided the applicant has the capacity to enter into a binding contract); because all or part of "
    "the applicant's income derives from any public assistance program; or because the applicant has in "
    "good faith exercised any right under the Consumer Credit Protection Act. The Federal agency that "
    "administers compliance with this law concerning this creditor is [name and address of the agency]."
)
# Recorded with each decision: any change of the template's text changes it.
_TEXT = "\n".join((HEAD, DECIDED, REASONS, REASON, REFERENCE, ECOA))
TEMPLATE = "notice-" + hashlib.sha256(_TEXT.encode()).hexdigest()[:12]


def audit_record(request_id, time, service, artefacts, row, explanation):
    """The audit line of one rejection with its reasons. ``artefacts``: the digests of the explainer's
    artefacts ("explainer"), of the model its references were built for ("model") and of the reference
    set ("references"). A held rejection keeps its reasons and flags for the reviewer, and no notice."""
    return {"request_id": request_id, "time": time, "service": service, "artefacts": artefacts["explainer"],
            "model_artefacts": artefacts["model"], "references": artefacts["references"], "caller": "applicant",
            "row": [float(v) for v in row], "decision": explanation["decision"],
            "probability": explanation["probability"], "reasons": explanation["reasons"],
            "flags": explanation["flags"], "held": explanation["held"], "cause": explanation["cause"],
            "notice": None if explanation["held"] else TEMPLATE}  # fmt: skip


def _wrap(text, indent=""):
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ")


def render(record):
    """The notice of a rejection's audit record, as text; ValueError for a record that is not a rejection
    with a notice (an approval, a held rejection, another template)."""
    if record.get("decision") != "rejected" or record.get("held") or record.get("notice") != TEMPLATE:
        raise ValueError("a notice renders the record of a rejection not held for review ({})".format(TEMPLATE))
    lines = [HEAD.format(date=record["time"][:10], request_id=record["request_id"]).rstrip("\n"),
             _wrap(DECIDED.format(model=record["model_artefacts"][:12], probability=record["probability"])), "",
             REASONS]  # fmt: skip
    for reason in record["reasons"]:
        lines.append(_wrap(REASON.format(**reason), "  "))
        lines.append(_wrap(REFERENCE.format(**reason), "      "))
    lines += ["", _wrap(ECOA), ""]
    return "\n".join(lines)
