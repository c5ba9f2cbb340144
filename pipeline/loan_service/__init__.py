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
- ``reasons``, ``notice`` (numpy and the standard library only, so the notebook imports them without
  Seldon): principal reasons for a rejection and the adverse-action notice; ``reasons_service`` serves them.

Python 3.8 compatible (the s2i image).
"""

import importlib

_EXPORTS = {"Admission": "explainer", "Guard": "guard", "ModelClient": "client",
            "load_remote_explainer": "explainer", "sha256": "artefacts", "verified": "artefacts"}  # fmt: skip
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    """The wrappers' names, imported on first use (PEP 562): ``pipeline.loan_service.reasons`` needs no Flask."""
    if name not in _EXPORTS:
        raise AttributeError("module {!r} has no attribute {!r}".format(__name__, name))
    importlib.import_module(".metrics", __name__)  # first: the multiprocess directory is set before anything counts
    return getattr(importlib.import_module("." + _EXPORTS[name], __name__), name)
