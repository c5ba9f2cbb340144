"""What the applicant is told after a person's review, rendered from the audit line of that decision alone
(the ``decided`` line keeps every value the notice prints). Teaching material, not legal advice."""

import textwrap

from loan_reasons.notice import ECOA, WIDTH


def _wrap(text, indent=""):
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ")


def render(line):
    """The notice of a ``decided`` audit line: a statement of denial for a rejection, else an approval."""
    head = [
        "Date: {}".format(line["time"][:10]),
        "Application reference: {}".format(line["request_id"]),
        _wrap("Decided by a person on review (case {}, reviewer {}), who {} the scoring model's decision "
              "(model: {}, P(approved) {:.2f}, artefacts {}).".format(
                  line["case"], line["reviewer"], "confirmed" if line["action"] == "confirm" else "overrode",
                  line["model_decision"], line["probability"], (line.get("artefacts") or "")[:12])),
    ]  # fmt: skip
    if line["decision"] == "approved":
        return "\n".join(["NOTICE OF APPROVAL ON REVIEW", ""] + head +
                         ["Action taken: your application for credit was approved.", ""])  # fmt: skip
    lines = ["STATEMENT OF CREDIT DENIAL", ""] + head + [
        "Description of action taken: your application for credit was denied.", "",
        "Principal reason(s) for credit denial:"]  # fmt: skip
    lines += [_wrap("{} {}.".format(r["code"].split(":")[0], r["sentence"]), "  ") for r in line["reasons"]]
    lines += ["", _wrap(ECOA), ""]
    return "\n".join(lines)
