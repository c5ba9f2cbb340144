"""The production side of the loan services (Seldon Core 1.17.1), one package used by both wrappers.

``Model.py`` and ``Explainer.py`` stay short and show Seldon's contract; this package does the rest,
one job per module:

- ``artefacts``: artefacts loaded only if their sha256 matches the manifest written at export;
- ``validation``: the request's JSON (duplicated keys refused) to rows, the rows checked (400 naming
  the problem);
- ``guard`` and ``body``: the Flask blueprint Seldon registers from ``model_error_handler`` and the WSGI
  middleware that reads the body (413, 408), parses and validates it once, answers 404/405;
- ``caller``: who is calling: the explainer proves it with a shared token, everyone else is an applicant;
- ``metrics`` and ``audit``: ``prometheus_client`` multiprocess counters and the audit trail;
- ``client``: the explainer's HTTP client of the model; ``explainer``: alibi loading and admission.

Python 3.8 compatible (the s2i image).
"""

from . import metrics  # noqa: F401 (first: the multiprocess directory is set before anything counts)
from .artefacts import sha256, verified
from .client import ModelClient
from .explainer import Admission, load_remote_explainer
from .guard import Guard

__all__ = ["Admission", "Guard", "ModelClient", "load_remote_explainer", "sha256", "verified"]
