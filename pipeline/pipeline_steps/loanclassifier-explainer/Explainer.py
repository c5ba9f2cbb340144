"""Seldon Core 1.17 wrapper of the remote Anchors explainer of the loan classifier.

POST one applicant, {"data": {"ndarray": [[12 numbers]]}}, to /api/v1.0/predictions and get alibi's
explanation (Explanation.to_json()) back as jsonData. The explainer was saved by alibi without its
predictor; here its predictor is the model service, called over HTTP at LOAN_MODEL_URL (default: the
SeldonDeployment "loanclassifier" inside the cluster). The model service also validates the applicant,
so a bad one gets the model's own 400 message.
"""

import hashlib
import json
import os
import threading
from pathlib import Path

import numpy as np
import requests
from alibi.saving import load_explainer
from flask import Blueprint, jsonify
from seldon_core.flask_utils import SeldonMicroserviceException

ARTEFACTS = Path(os.environ.get("LOAN_ARTEFACTS", Path(__file__).resolve().parent / "artefacts"))
MODEL_URL = os.environ.get("LOAN_MODEL_URL", "http://loanclassifier-default:8000/api/v1.0/predictions")
# Seconds to connect, and to wait for one batch of predictions: an explanation fails fast, not hangs.
TIMEOUT = (2.0, float(os.environ.get("LOAN_MODEL_TIMEOUT", "5")))


def verified(directory, name):
    """The path of an artefact whose sha256 matches the manifest written with it, else a clear error."""
    directory = Path(directory)
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        raise RuntimeError(f"{manifest} is missing: export the artefacts first (make run, or make serve)")
    expected = json.loads(manifest.read_text())["sha256"].get(name)
    actual = hashlib.sha256((directory / name).read_bytes()).hexdigest()
    if actual != expected:
        raise RuntimeError(
            f"refusing to load {directory / name}: its sha256 is {actual}, the manifest says "
            f"{expected}. The file changed after export; export the artefacts again."
        )
    return directory / name


# Seldon answers 500 when it cannot even decode a request (ragged arrays, a tensor whose shape does not
# match its values, a form field that is not JSON). Those are the client's mistakes: answer 400.
# Seldon registers the Flask blueprint a wrapper names model_error_handler.
bad_requests = Blueprint("loan_bad_requests", __name__)


@bad_requests.app_errorhandler(ValueError)
@bad_requests.app_errorhandler(TypeError)
@bad_requests.app_errorhandler(KeyError)
def undecodable_request(error):
    frames, tb = set(), error.__traceback__
    while tb is not None:
        frames.add(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    if frames & {"get_request", "extract_request_parts_json"}:
        error = SeldonMicroserviceException(
            f"cannot decode the request: {type(error).__name__}: {error}",
            status_code=400,
            reason="LOAN_BAD_INPUT",
        )
    else:
        error = SeldonMicroserviceException(str(error), status_code=500, reason="MICROSERVICE_INTERNAL_ERROR")
    response = jsonify(error.to_dict())
    response.status_code = error.status_code
    return response


class Explainer:
    model_error_handler = bad_requests

    def __init__(self, threshold=0.95, seed=0, model_url=None, artefacts=None):
        self.threshold = float(threshold)
        self.seed = int(seed)
        self.model_url = model_url or MODEL_URL
        self.artefacts = Path(artefacts or ARTEFACTS)
        self.explainer = None
        self.lock = threading.Lock()  # an alibi explainer keeps per-explanation state: one at a time
        self.local = threading.local()

    def load(self):
        for name in ("explainer/meta.dill", "explainer/explainer.dill"):
            verified(self.artefacts, name)
        self.explainer = load_explainer(self.artefacts / "explainer", predictor=self.predict_remote)
        self.digest = hashlib.sha256((self.artefacts / "manifest.json").read_bytes()).hexdigest()

    def health_status(self):
        if self.explainer is None:
            raise SeldonMicroserviceException(
                "explainer not loaded", status_code=503, reason="LOAN_NOT_READY"
            )
        return {"model": "loanclassifier-explainer", "artefacts": self.digest, "model_url": self.model_url}

    def predict_remote(self, X):
        """Class labels for rows X from the model service: the predictor the explainer samples with."""
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()  # keep-alive: an explanation sends many batches
        X = np.asarray(X)
        # Tagged, so the model's bias metrics do not count these perturbed samples as applicants.
        payload = {
            "data": {"tensor": {"shape": list(X.shape), "values": X.ravel().tolist()}},
            "meta": {"tags": {"caller": "loanclassifier-explainer"}},
        }
        try:
            # json.dumps, not requests' json=: a NaN goes to the model, which names the problem.
            response = self.local.session.post(
                self.model_url,
                data=json.dumps(payload),
                timeout=TIMEOUT,
                headers={"Content-Type": "application/json"},
            )
        except (requests.ConnectionError, requests.Timeout) as error:
            raise SeldonMicroserviceException(
                f"the loan model service at {self.model_url} is not answering ({type(error).__name__}); "
                "no explanation without it, try again when it is back",
                status_code=503,
                reason="LOAN_MODEL_UNAVAILABLE",
            ) from None
        if response.status_code == 400:
            info = response.json().get("status", {}).get("info", response.text)
            raise SeldonMicroserviceException(
                f"the model rejected the applicant: {info}", status_code=400, reason="LOAN_BAD_INPUT"
            )
        if not response.ok:
            raise SeldonMicroserviceException(
                f"the loan model service at {self.model_url} answered HTTP {response.status_code}: "
                f"{response.text[:300]}",
                status_code=502,
                reason="LOAN_MODEL_ERROR",
            )
        tensor = response.json()["data"]["tensor"]
        return np.argmax(np.reshape(tensor["values"], tensor["shape"]), axis=1)

    def predict(self, X, feature_names=None, meta=None):
        if not isinstance(X, np.ndarray) or X.size == 0:
            raise SeldonMicroserviceException(
                "send one applicant as data.ndarray: [[12 numbers]]", status_code=400, reason="LOAN_BAD_INPUT"
            )
        self.predict_remote(X)  # validates the applicant (400 with the model's message) before any sampling
        if X.shape[0] != 1:
            raise SeldonMicroserviceException(
                f"explain one applicant per request, got {X.shape[0]} rows",
                status_code=400,
                reason="LOAN_BAD_INPUT",
            )
        with self.lock:
            np.random.seed(self.seed)  # the same applicant always gets the same anchor
            explanation = self.explainer.explain(X[0].astype(float), threshold=self.threshold)
        return json.loads(explanation.to_json())  # a dict: Seldon returns it as jsonData
