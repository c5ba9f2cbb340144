"""Seldon Core 1.17 wrapper of the loan classifier: the fitted preprocessor + RandomForest pipeline.

`seldon-core-microservice Model --service-type MODEL` serves it: POST {"data": {"ndarray": rows}}
(or {"data": {"tensor": {"shape": [n, 12], "values": [...]}}}) to /api/v1.0/predictions and get
the probabilities of [rejected, approved]. Bad input is answered with HTTP 400 naming the problem.
metrics() exports per-gender counters of applications and approvals, for bias monitoring.
"""

import hashlib
import json
import os
import threading
from pathlib import Path

import dill
import numpy as np
from flask import Blueprint, jsonify
from seldon_core.flask_utils import SeldonMicroserviceException

ARTEFACTS = Path(os.environ.get("LOAN_ARTEFACTS", Path(__file__).resolve().parent / "artefacts"))


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


def bad_request(message):
    return SeldonMicroserviceException(message, status_code=400, reason="LOAN_BAD_INPUT")


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


class Model:
    model_error_handler = bad_requests

    def __init__(self, n_jobs=1, artefacts=None):
        # One tree-walking thread per request: small batches are faster without joblib's thread pool
        # (measured in scripts/bench_serving.py); scale with gunicorn workers instead.
        self.n_jobs = int(n_jobs)
        self.artefacts = Path(artefacts or ARTEFACTS)
        self.pipeline = None
        self._last = threading.local()  # predict() and metrics() of one request run in one thread

    def load(self):
        """Called by Seldon in each worker before it serves."""
        self.metadata = json.loads(verified(self.artefacts, "metadata.json").read_text())
        with open(verified(self.artefacts, "model.dill"), "rb") as f:
            self.pipeline = dill.load(f)
        self.pipeline.set_params(classifier__n_jobs=self.n_jobs)
        self.features = self.metadata["features"]
        self.categories = {int(i): names for i, names in self.metadata["category_map"].items()}
        self.gender = self.features.index("gender")
        self.digest = hashlib.sha256((self.artefacts / "manifest.json").read_bytes()).hexdigest()

    def class_names(self):
        return self.metadata["class_names"]

    def health_status(self):
        if self.pipeline is None:
            raise SeldonMicroserviceException("model not loaded", status_code=503, reason="LOAN_NOT_READY")
        return {"model": "loanclassifier", "artefacts": self.digest}

    def predict(self, X, feature_names=None, meta=None):
        rows = self.validate(X)
        probabilities = self.pipeline.predict_proba(rows)
        # Count applications and approvals per gender for metrics(); the explainer's perturbed samples
        # (tagged by the explainer) are not applicants and are not counted.
        tags = meta.get("tags") if isinstance(meta, dict) else None
        explainer = isinstance(tags, dict) and tags.get("caller") == "loanclassifier-explainer"
        self._last.metrics = [] if explainer else self.decisions_by_gender(rows, probabilities)
        return probabilities

    def decisions_by_gender(self, rows, probabilities):
        approved = probabilities[:, 1] > 0.5  # the decision is the more probable class
        genders = np.asarray(self.categories[self.gender])[rows[:, self.gender].astype(int)]
        return [
            {
                "type": "COUNTER",
                "key": key,
                "value": int(np.sum(counted[genders == g])),
                "tags": {"gender": str(g)},
            }
            for g in np.unique(genders)
            for key, counted in (("loan_applications", np.ones_like(approved)), ("loan_approvals", approved))
        ]

    def metrics(self):
        """Seldon calls this right after predict(): the counters of that request, added to the totals."""
        metrics, self._last.metrics = getattr(self._last, "metrics", []), []
        return metrics

    def validate(self, X):
        """Rows of model features as a float array, or HTTP 400 saying what is wrong with them."""
        n = len(self.features)
        if not isinstance(X, np.ndarray):
            raise bad_request(
                f"send the applicants as data.ndarray (or data.tensor): rows of {n} numbers, "
                f"not {type(X).__name__} (jsonData, strData and binData are not accepted)"
            )
        if X.size == 0:
            raise bad_request(f"empty payload: no applicants; send rows of {n} numbers")
        if X.dtype.kind not in "iuf":
            what = {"U": "strings", "S": "strings", "b": "booleans"}.get(X.dtype.kind, "null or mixed values")
            raise bad_request(f"features must be numbers (category codes and amounts), got {what}")
        if X.ndim != 2:
            raise bad_request(
                f"expected a list of rows, each a list of {n} numbers (shape [rows, {n}]); "
                f"got an array of shape {list(X.shape)}"
            )
        if X.shape[1] != n:
            raise bad_request(f"each row needs {n} features ({', '.join(self.features)}); got {X.shape[1]}")
        X = X.astype(float)
        bad = ~np.isfinite(X)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise bad_request(
                f"row {row}: {self.features[col]} is {X[row, col]}; NaN and infinity are not allowed"
            )
        for col, names in self.categories.items():
            codes = X[:, col]
            bad = (codes != np.round(codes)) | (codes < 0) | (codes >= len(names))
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise bad_request(
                    f"row {row}: unknown category code {codes[row]:g} for {self.features[col]}; "
                    f"valid codes are 0..{len(names) - 1}"
                )
        negative = X[:, [i for i in range(n) if i not in self.categories]] < 0
        if negative.any():
            row = int(np.argwhere(negative)[0][0])
            raise bad_request(f"row {row}: age, capital and hours must not be negative")
        return X
