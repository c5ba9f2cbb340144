"""The loan classifier and its Anchors explainer as ``kserve.Model``s: each request one call of the core.

The model answers V2 ``infer``: one input of shape [rows, 12] (FP64, FP32, INT64 or INT32); the output
``probabilities`` is [rows, 2] ([rejected, approved]). The explainer answers V1 ``:explain``
(``{"instances": [row]}``; with ``"meta": {"tags": {"explain": "reasons"}}`` up to 100 rows get their
reasons) and calls the model over V2 (``V2ModelClient``).
"""

import asyncio
import json
from pathlib import Path

import kserve
import numpy as np
from loan_service.client import SeldonModelClient
from loan_service.errors import Refused
from loan_service.explainer import ExplainerCore, asks_reasons
from loan_service.model import ModelCore
from loan_service.validation import _has_bool

NAME = "loanclassifier"  # KServe routes both verbs of the InferenceService by this one name
NUMBERS = ("FP64", "FP32", "INT64", "INT32")


def caller(headers):
    """The headers as the core reads them (KServe lowercases names: x-loan-caller) and the request id."""
    return {n.title(): v for n, v in headers.items() if n.startswith("x-loan-")}, headers.get("x-request-id", "")


def v2_rows(request):
    """The applicants of a V2 request as an array of its declared shape, or Refused naming the problem."""
    if len(request.inputs) != 1:
        raise Refused(f"send one input (the applicants, shape [rows, 12]), got {len(request.inputs)}")
    tensor = request.inputs[0]
    if tensor.datatype not in NUMBERS:
        raise Refused(f"input {tensor.name}: datatype {tensor.datatype} is not accepted; send one of {NUMBERS}")
    try:
        values = np.asarray(tensor.data)
    except ValueError:
        raise Refused(f"input {tensor.name}: data must be a list of numbers, rows of equal length") from None
    if values.dtype.kind not in "iuf" or _has_bool(tensor.data):
        raise Refused(f"input {tensor.name}: data must be numbers (category codes and amounts), no booleans")
    if values.size != int(np.prod(tensor.shape)) or not all(n > 0 for n in tensor.shape):
        raise Refused(f"input {tensor.name}: cannot reshape {values.size} values into shape {tensor.shape}")
    return values.reshape(tensor.shape)


class Served(kserve.Model):
    """A core behind KServe. KServe's workers get it pickled: only the settings travel, and each worker
    loads the artefacts in the server's ``create_application``, where its pings are answered."""

    def __init__(self, settings, artefacts):
        super().__init__(NAME)
        self.settings, self.artefacts = settings, Path(artefacts)
        self.core = self.build(settings, self.artefacts)

    def load(self):
        self.core.load()
        self.ready = True
        return self.ready

    def health(self):
        return self.core.health()

    def __getstate__(self):
        return {"settings": self.settings, "artefacts": self.artefacts}

    def __setstate__(self, state):
        self.__init__(**state)


class LoanModel(Served):
    def build(self, settings, artefacts):
        return ModelCore(settings, artefacts)

    async def predict(self, payload, headers=None):  # in a thread: the event loop keeps answering probes
        probabilities = await asyncio.to_thread(self.core.decide, v2_rows(payload), *caller(headers))
        return {"model_name": self.name, "id": caller(headers)[1], "outputs": [{
            "name": "probabilities", "shape": list(probabilities.shape), "datatype": "FP64",
            "data": probabilities.ravel().tolist()}]}  # fmt: skip


class V2ModelClient(SeldonModelClient):
    """The same client (caller proof, timeouts, retries), speaking V2 to the KServe model."""

    def probabilities(self, X):
        X = np.asarray(X, dtype=float)
        inputs = [{"name": "applicants", "shape": list(X.shape), "datatype": "FP64", "data": X.ravel().tolist()}]
        response = self._post(json.dumps({"inputs": inputs}))
        if response.status_code == 400:
            raise Refused(f"the model rejected the applicant: {response.json()['status']['info']}")
        if not response.ok:
            raise Refused(f"the loan model service at {self.url} answered HTTP {response.status_code}: "
                          f"{response.text[:300]}", 503 if response.status_code == 503 else 502, "LOAN_MODEL_ERROR")
        (output,) = response.json()["outputs"]
        return np.reshape(output["data"], output["shape"])


class LoanExplainer(Served):
    def build(self, settings, artefacts):
        client = V2ModelClient(settings.model_url, settings.caller_token, settings.model_timeout)
        return ExplainerCore(settings, artefacts, client)

    async def explain(self, payload, headers=None):
        if not isinstance(payload, dict) or not isinstance(payload.get("instances"), list):
            raise Refused('send {"instances": [[12 numbers]]}: the applicant as one row of model features')
        if _has_bool(payload["instances"]):
            raise Refused("features must be numbers (category codes and amounts), got booleans")
        verb = self.core.reasons if asks_reasons(payload.get("meta")) else self.core.explain
        return await asyncio.to_thread(verb, payload["instances"], *caller(headers))
