"""The adverse-action notice, in the style of Regulation B's Appendix C (Form C-1), rendered from an audit
record alone.

1002.12(b) asks a lender to keep the statement of reasons for 25 months, and lets a computerised system
keep what it needs to regenerate it: the record keeps every value the notice prints (the reasons'
sentences included), so the same record renders the same bytes. Teaching material, not legal advice.
"""

import textwrap

TEMPLATE = "notice-1"  # recorded with each decision: a changed template gets a new name
WIDTH = 88

# 12 CFR 1002.9(b)(1): the ECOA notice a statement of denial carries.
ECOA = (
    "NOTICE: The Federal Equal Credit Opportunity Act prohibits creditors from discriminating against "
    "credit applicants on the basis of race, color, religion, national origin, sex, marital status, age "
    "(provided the applicant has the capacity to enter into a binding contract); because all or part of "
    "the applicant's income derives from any public assistance program; or because the applicant has in "
    "good faith exercised any right under the Consumer Credit Protection Act. The Federal agency that "
    "administers compliance with this law concerning this creditor is [name and address of the agency]."
)


def audit_record(request_id, time, service, artefacts, row, explanation):
    """The audit line of one decision with its reasons: what the notice needs, and the flags it never shows."""
    return {"request_id": request_id, "time": time, "service": service, "artefacts": artefacts,
            "caller": "applicant", "row": [float(v) for v in row], "decision": explanation["decision"],
            "probability": explanation["probability"], "reasons": explanation["reasons"],
            "flags": explanation["flags"], "notice": TEMPLATE}


def _wrap(text, indent=""):
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ")


def render(record):
    """The notice of a rejection's audit record, as text; ValueError for a record that is not a rejection."""
    if record.get("decision") != "rejected" or record.get("notice") != TEMPLATE:
        raise ValueError("a notice is rendered from the record of a rejection ({})".format(TEMPLATE))
    lines = [
        "STATEMENT OF CREDIT DENIAL",
        "",
        "Date: {}".format(record["time"][:10]),
        "Application reference: {}".format(record["request_id"]),
        "Description of action taken: your application for credit was denied.",
        _wrap("Decided by the scoring model with artefacts {} (P(approved) {:.2f}, approved above 0.50)."
              .format(record["artefacts"][:12], record["probability"])),
        "",
        "Principal reason(s) for credit denial:",
    ]
    for reason in record["reasons"]:
        lines.append(_wrap("{} {}.".format(reason["code"], reason["sentence"]), "  "))
        lines.append(_wrap("(yours: {}; applicants approved near the threshold: {})"
                           .format(reason["applicant"], reason["reference"]), "      "))
    lines += ["", _wrap(ECOA), ""]
    return "\n".join(lines)
