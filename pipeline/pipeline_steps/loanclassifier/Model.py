"""Seldon Core 1.17 wrapper of the loan classifier: the fitted preprocessor + RandomForest pipeline.

POST {"data": {"ndarray": rows of 12 numbers}} to /api/v1.0/predictions; the answer is the
probabilities of [rejected, approved]. The core (pipeline/loan_service/) does the work: validation
(HTTP 400 naming the problem), the caller check, sha256 checks, metrics, the audit trail.
Started by ``python -m loan_service.seldon Model --service-type MODEL``.
"""

from pathlib import Path

from loan_service import seldon
from loan_service.model import ModelCore
from loan_service.settings import Settings

HERE = Path(__file__).resolve().parent


class Model:
    def __init__(self, n_jobs=1, artefacts=None):  # n_jobs 1: scale with gunicorn workers instead
        settings = Settings.from_env()
        self.core = ModelCore(settings, artefacts or settings.artefacts_dir(HERE / "artefacts"), n_jobs)

    def load(self):  # once per worker, before it serves
        self.core.load()

    def predict_raw(self, message):  # the Seldon message as the client sent it
        with seldon.refusals():  # the core's Refused becomes Seldon's 4xx
            rows, meta, headers, request_id = seldon.rows(message)
            probabilities = self.core.decide(rows, headers, request_id)
        return seldon.response(self, message, probabilities)

    def class_names(self):
        return self.core.metadata["class_names"]

    def health_status(self):  # /health/status, the liveness probe: 503 within 2 s if predictions hang
        return seldon.health(self.core)

    def init_metadata(self):
        return self.core.describe()
