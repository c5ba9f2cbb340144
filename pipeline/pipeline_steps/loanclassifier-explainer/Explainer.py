"""Seldon Core 1.17 wrapper of the remote Anchors explainer of the loan classifier.

POST one applicant, {"data": {"ndarray": [[12 numbers]]}}, to /api/v1.0/predictions and get alibi's
Explanation.to_json() back as jsonData; with "meta": {"tags": {"explain": "reasons"}}, up to 100 applicants
get their principal reasons and, for a rejection, the adverse-action notice. alibi saved the explainer
without its predictor: here the predictor is the model service, called over HTTP at LOAN_MODEL_URL.
The loan_service package (pipeline/loan_service/) validates the applicant first, checks sha256s,
counts, audits and retries calls to the model.
"""

import json
import os
from pathlib import Path

import numpy as np
from loan_service import Admission, Guard, ModelClient, load_remote_explainer, verified
from loan_service.liveness import Liveness
from loan_service.reasons_service import ReasonsOption, asks_reasons

ARTEFACTS = Path(os.environ.get("LOAN_ARTEFACTS", Path(__file__).resolve().parent / "artefacts"))
MODEL_URL = os.environ.get("LOAN_MODEL_URL", "http://loanclassifier-default:8000/api/v1.0/predictions")


class Explainer:
    guard = Guard("loanclassifier-explainer", one_row=True)
    model_error_handler = guard.blueprint  # Seldon registers it: validation, errors, metrics, audit

    def __init__(self, threshold=0.95, seed=0, model_url=None, artefacts=None):
        self.threshold, self.seed = float(threshold), int(seed)
        self.artefacts = Path(artefacts or ARTEFACTS)
        self.model = ModelClient(model_url or MODEL_URL, timeout=float(os.environ.get("LOAN_MODEL_TIMEOUT", "5")))
        self.admission = Admission(int(os.environ.get("LOAN_MAX_EXPLANATIONS", "8")))
        self.reasons = ReasonsOption(int(os.environ.get("LOAN_MAX_REASONS", "8")))  # its own bound, no lock
        self.liveness = Liveness(stuck_after=float(os.environ.get("LOAN_EXPLANATION_STUCK", "60")))

    def load(self):
        self.guard.load(self.artefacts)
        for name in ("explainer/meta.dill", "explainer/explainer.dill"):
            verified(self.artefacts, name)  # sha256 as exported, else a clear error
        self.explainer = load_remote_explainer(self.artefacts / "explainer", predictor=self.model.labels)
        self.reasons.load(verified(self.artefacts, "reference.json"))  # reasons' references

    def predict(self, X, feature_names=None, meta=None):
        if asks_reasons(meta):  # principal reasons for a batch: one model call, audited, with the notices
            return self.reasons.answer(self.guard, self.guard.rows(X, many=True), self.model.probabilities)
        row = self.guard.rows(X)  # validated by the guard, before any sampling
        with self.admission, self.liveness.watch():  # one at a time, 503 when too many wait; liveness watches
            probability = float(self.model.probabilities(row)[0, 1])  # the decision explained
            np.random.seed(self.seed)  # the same applicant always gets the same anchor
            explanation = json.loads(self.explainer.explain(row[0], threshold=self.threshold).to_json())
        self.guard.audit_explanation(row[0], explanation, probability)
        return explanation  # a dict: Seldon returns it as jsonData

    def health_status(self):  # /health/status, the liveness probe: 503 if an explanation is stuck
        return {**self.guard.health(), **self.liveness.check(), "model_url": self.model.url}

    def init_metadata(self):
        return self.guard.seldon_metadata(self.artefacts)
