"""Seldon Core 1.17 wrapper of the remote Anchors explainer of the loan classifier.

POST one applicant, {"data": {"ndarray": [[12 numbers]]}}, to /api/v1.0/predictions and get alibi's
Explanation.to_json() back as jsonData; with "meta": {"tags": {"explain": "reasons"}}, up to 100 applicants
get their principal reasons and, for a rejection, the adverse-action notice. alibi saved the explainer
without its predictor: here the predictor is the model service, called over HTTP at LOAN_MODEL_URL.
The core (pipeline/loan_service/) validates the applicant first, checks sha256s, counts, audits and
retries calls to the model. Started by ``python -m loan_service.seldon Explainer --service-type MODEL``.
"""

from pathlib import Path

from loan_service import seldon
from loan_service.client import SeldonModelClient
from loan_service.explainer import ExplainerCore, asks_reasons
from loan_service.settings import Settings

HERE = Path(__file__).resolve().parent


class Explainer:
    def __init__(self, threshold=0.95, seed=0, model_url=None, artefacts=None):
        settings = Settings.from_env()
        model = SeldonModelClient(model_url or settings.model_url, settings.caller_token, settings.model_timeout)
        artefacts = artefacts or settings.artefacts_dir(HERE / "artefacts")
        self.core = ExplainerCore(settings, artefacts, model, threshold, seed)

    def load(self):
        self.core.load()

    def predict_raw(self, message):  # one applicant explained, or a batch's principal reasons
        with seldon.refusals():  # the core's Refused becomes Seldon's 4xx
            rows, meta, headers, request_id = seldon.rows(message)
            explain = self.core.reasons if asks_reasons(meta) else self.core.explain
            answer = explain(rows, headers, request_id)
        return seldon.response(self, message, answer)  # a dict: Seldon returns it as jsonData

    def health_status(self):  # /health/status, the liveness probe: 503 if an explanation is stuck
        return seldon.health(self.core)

    def init_metadata(self):
        return self.core.describe()
