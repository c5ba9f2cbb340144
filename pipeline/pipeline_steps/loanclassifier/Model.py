"""Seldon Core 1.17 wrapper of the loan classifier: the fitted preprocessor + RandomForest pipeline.

POST {"data": {"ndarray": rows of 12 numbers}} to /api/v1.0/predictions; the answer is the
probabilities of [rejected, approved]. The loan_service package (pipeline/loan_service/) does the
production work: input validation (HTTP 400 naming the problem), sha256 checks, metrics, the audit trail.
"""

import os
from pathlib import Path

import dill
from loan_service import Guard, verified
from loan_service.liveness import freeze_point

ARTEFACTS = Path(os.environ.get("LOAN_ARTEFACTS", Path(__file__).resolve().parent / "artefacts"))


class Model:
    guard = Guard("loanclassifier", decisions=True)
    model_error_handler = guard.blueprint  # Seldon registers it: validation, errors, metrics, audit

    def __init__(self, n_jobs=1, artefacts=None):
        self.n_jobs = int(n_jobs)  # one thread per request: scale with gunicorn workers instead
        self.artefacts = Path(artefacts or ARTEFACTS)
        self.liveness = self.guard.liveness(self.probabilities)  # /health/status runs a canned applicant

    def load(self):  # once per worker, before it serves
        self.metadata = self.guard.load(self.artefacts)
        with open(verified(self.artefacts, "model.dill"), "rb") as f:
            self.pipeline = dill.load(f).set_params(classifier__n_jobs=self.n_jobs)

    def predict(self, X, feature_names=None, meta=None):
        rows = self.guard.rows(X)  # parsed and validated once, by the guard, before Seldon decoded X
        probabilities = self.probabilities(rows)
        self.guard.count_decisions(rows, probabilities)  # per gender and caller, once the answer is 200
        return probabilities

    def probabilities(self, rows):  # the prediction path, which the liveness check runs too
        freeze_point()  # a fault only a test can arm (loan_service/liveness.py)
        return self.pipeline.predict_proba(rows)

    def class_names(self):
        return self.metadata["class_names"]

    def health_status(self):  # /health/status, the liveness probe: 503 within 2 s if predictions hang
        return {**self.guard.health(), **self.liveness.check()}

    def init_metadata(self):
        return self.guard.seldon_metadata(self.artefacts)
