"""The explainer's client of the model over Seldon's REST protocol (any object with ``probabilities(X)``
will do for ``ExplainerCore``)."""

import json
import threading

import numpy as np
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ProtocolError
from urllib3.util.retry import Retry

from .caller import explainer_headers
from .errors import Refused


class SeldonModelClient:
    """POST rows to the model service, as caller "explainer". A prediction is idempotent, so it is retried:
    twice, with 0.1 s and 0.2 s backoff, on refused connections and 503s (a restarting or busy model), and
    once on a dropped keep-alive connection; not after a read timeout (a model that hangs, not one gone)."""

    def __init__(self, url, token, timeout=5.0):
        self.url, self.timeout = url, (2.0, timeout)  # seconds to connect, to wait for one batch
        self.local = threading.local()  # requests.Session is not documented as thread-safe
        self.headers = {"Content-Type": "application/json", **explainer_headers(token)}

    def session(self):
        if not hasattr(self.local, "session"):
            retry = Retry(total=2, connect=2, read=0, status=2, backoff_factor=0.1, status_forcelist=[503],
                          allowed_methods=["POST"], raise_on_status=False)  # fmt: skip
            self.local.session = requests.Session()
            self.local.session.mount("http://", HTTPAdapter(max_retries=retry))
            self.local.session.mount("https://", HTTPAdapter(max_retries=retry))
        return self.local.session

    def _post(self, body):
        for attempt in (1, 2):
            try:
                return self.session().post(self.url, data=body, timeout=self.timeout, headers=self.headers)
            except (requests.ConnectionError, requests.Timeout) as error:
                # After the retries urllib3 reports its last error as the reason (ReadTimeoutError, ...).
                cause = getattr(error.args[0] if error.args else None, "reason", error)
                if attempt == 1 and isinstance(cause, ProtocolError):
                    continue  # a kept-alive connection the model closed (a worker restarted): once more
                raise Refused(
                    f"the loan model service at {self.url} is not answering ({type(cause).__name__}); "
                    "no explanation without it, try again when it is back",
                    503,
                    "LOAN_MODEL_UNAVAILABLE",
                ) from None

    def probabilities(self, X):
        X = np.asarray(X, dtype=float)
        response = self._post(json.dumps({"data": {"tensor": {"shape": list(X.shape), "values": X.ravel().tolist()}}}))
        if response.status_code == 400:
            info = response.json().get("status", {}).get("info", response.text[:300])
            raise Refused(f"the model rejected the applicant: {info}")
        if not response.ok:
            raise Refused(
                f"the loan model service at {self.url} answered HTTP {response.status_code}: {response.text[:300]}",
                502 if response.status_code != 503 else 503,
                "LOAN_MODEL_ERROR",
            )
        tensor = response.json()["data"]["tensor"]
        return np.reshape(tensor["values"], tensor["shape"])
