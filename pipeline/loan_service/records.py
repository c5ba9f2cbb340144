"""What a 200 leaves behind: the decisions counted per gender and caller, and the audit lines."""

import json
import logging
import uuid

import numpy as np
from flask import g, has_request_context

from .audit import now
from .metrics import DECISIONS


class Records:
    """Mixed into ``Guard``: needs ``service``, ``metadata``, ``digest`` and ``audit``."""

    def on_success(self, record):
        """Run ``record(request_id)`` once this request's response is a 200 (gRPC has no Flask request:
        at once)."""
        if has_request_context():
            g.setdefault("loan_records", []).append(record)
        else:
            record(uuid.uuid4().hex)

    def count_decisions(self, rows, probabilities):
        """Decisions per gender, counted and audited once the response is 200."""
        caller = g.get("loan_caller", "applicant") if has_request_context() else "applicant"
        gender_col = self.metadata["features"].index("gender")
        genders = np.asarray(self.metadata["category_map"][str(gender_col)])[rows[:, gender_col].astype(int)]
        approved = probabilities[:, 1] > 0.5  # the decision is the more probable class

        def record(request_id):
            for gender in np.unique(genders):
                for decision, mask in (("approved", approved), ("rejected", ~approved)):
                    count = int(np.sum(mask & (genders == gender)))
                    if count:
                        DECISIONS.labels(str(gender), decision, caller).inc(count)
            if self.audit.isEnabledFor(logging.INFO):
                self.audit.info(self._decision_lines(request_id, caller, rows, approved, probabilities))

        self.on_success(record)

    def _decision_lines(self, request_id, caller, rows, approved, probabilities):
        head = {"request_id": request_id, "time": now(), "service": self.service, "artefacts": self.digest,
                "caller": caller}  # fmt: skip
        if caller != "applicant":  # perturbed samples: one line per request, not thousands
            return json.dumps({**head, "rows": len(rows), "approved": int(approved.sum())})
        # One write of all the request's lines: one lock of the shared file, not one per row. The JSON is
        # encoded once for all rows and once for all probabilities, then cut into lines: 1,000 json.dumps
        # calls took most of a batch's audit time.
        prefix = json.dumps(head)[:-1]
        whole = rows.astype(np.int64)  # validated: finite and within the plausible ranges
        values = whole if (whole == rows).all() else rows  # whole numbers (the usual rows) encode faster as ints
        row_texts = json.dumps(values.tolist())[2:-2].split("], [")
        p_texts = json.dumps(probabilities[:, 1].tolist())[1:-1].split(", ")
        decisions = np.where(approved, '"approved"', '"rejected"').tolist()
        return "\n".join(
            f'{prefix}, "row": [{row}], "decision": {decision}, "probability": {p}}}'
            for row, decision, p in zip(row_texts, decisions, p_texts)
        )

    def audit_explanation(self, row, explanation, probability):
        data = explanation["data"]

        def record(request_id):
            self.audit.info(json.dumps({
                "request_id": request_id, "time": now(), "service": self.service, "artefacts": self.digest,
                "caller": "applicant", "row": row.tolist(),
                "decision": "approved" if probability > 0.5 else "rejected", "probability": probability,
                "anchor": data["anchor"], "precision": data["precision"], "coverage": data["coverage"]}))  # fmt: skip

        self.on_success(record)
