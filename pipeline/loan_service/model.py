"""The loan classifier's core: one request in one straight line, for any adapter.

``ModelCore.decide(rows, headers, request_id)`` validates the rows (``Refused`` 400 naming the
problem), resolves the caller, predicts, counts the decisions per gender and caller, writes the audit
lines and returns the probabilities of [rejected, approved]. The fitted preprocessor + RandomForest
pipeline loads only if its sha256 matches the manifest written at export.
"""

import json
import logging
import os
from pathlib import Path

import numpy as np

from .artefacts import sha256, verified
from .audit import audit_logger, now
from .caller import CALLERS, caller_of
from .errors import Refused
from .liveness import Liveness, canned_applicant, freeze_point
from .metrics import DECISIONS, start_series
from .validation import validate_rows

SERVICE = "loanclassifier"


def load_metadata(artefacts):
    """metadata.json (features, category codes, plausible ranges) as exported, and the manifest's digest."""
    metadata = json.loads(verified(artefacts, "metadata.json").read_text())
    metadata["ranges"] = {name: tuple(r) for name, r in metadata["ranges"].items()}
    return metadata, sha256(Path(artefacts) / "manifest.json")


def describe(service, metadata, digest, settings):
    """What /metadata answers: inputs, outputs and, as strings, the ranges requests are checked against."""
    n = len(metadata["features"])
    return {
        "name": service,
        "versions": [digest[:12]],
        "platform": "seldon",
        "inputs": [{"messagetype": "tensor", "schema": {"names": metadata["features"], "shape": [n]}}],
        "outputs": [{"messagetype": "tensor", "schema": {"names": metadata["class_names"]}}],
        "custom": {
            "feature_ranges": json.dumps({k: list(v) for k, v in metadata["ranges"].items()}),
            "category_codes": json.dumps(
                {metadata["features"][int(i)]: len(c) for i, c in metadata["category_map"].items()}
            ),  # fmt: skip
            "max_body_bytes": str(settings.max_body_bytes),
        },
    }


class ModelCore:
    service = SERVICE

    def __init__(self, settings, artefacts, n_jobs=1):
        self.settings, self.artefacts, self.n_jobs = settings, Path(artefacts), int(n_jobs)
        self.metadata = self.digest = self.audit = self.pipeline = None
        self.liveness = Liveness(self._canned, settings.liveness_deadline)  # /health/status runs an applicant

    def load(self):  # once per worker, before it serves
        import dill

        self.metadata, self.digest = load_metadata(self.artefacts)
        self.audit = audit_logger(self.service, self.settings)
        with open(verified(self.artefacts, "model.dill"), "rb") as f:
            self.pipeline = dill.load(f).set_params(classifier__n_jobs=self.n_jobs)
        genders = self.metadata["category_map"][str(self.metadata["features"].index("gender"))]
        start_series(self.service, genders, CALLERS)

    def decide(self, rows, headers, request_id):
        """Probabilities of [rejected, approved] per row; counted and audited."""
        rows = validate_rows(rows, self.metadata)
        caller = caller_of(headers, self.service, self.settings.caller_token)
        probabilities = self.probabilities(rows)
        self.record(request_id, caller, rows, probabilities)
        return probabilities

    def probabilities(self, rows):  # the prediction path, which the liveness check runs too
        freeze_point(self.settings.fault_freeze_file)  # a fault only a test can arm
        return self.pipeline.predict_proba(rows)

    def health(self):  # the liveness probe: Refused 503 within the deadline if predictions hang
        if self.metadata is None:
            raise Refused(f"{self.service} not loaded", 503, "LOAN_NOT_READY")
        return {"model": self.service, "artefacts": self.digest, "worker": os.getpid(), **self.liveness.check()}

    def describe(self):  # Seldon asks before load()
        return describe(self.service, *load_metadata(self.artefacts), self.settings)

    def _canned(self):
        return self.probabilities(validate_rows(canned_applicant(self.metadata), self.metadata))

    def record(self, request_id, caller, rows, probabilities):
        """Decisions per gender and caller counted, and the audit lines written."""
        gender_col = self.metadata["features"].index("gender")
        genders = np.asarray(self.metadata["category_map"][str(gender_col)])[rows[:, gender_col].astype(int)]
        approved = probabilities[:, 1] > 0.5  # the decision is the more probable class
        for gender in np.unique(genders):
            for decision, mask in (("approved", approved), ("rejected", ~approved)):
                count = int(np.sum(mask & (genders == gender)))
                if count:
                    DECISIONS.labels(str(gender), decision, caller).inc(count)
        if self.audit.isEnabledFor(logging.INFO):
            self.audit.info(self._decision_lines(request_id, caller, rows, approved, probabilities))

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
