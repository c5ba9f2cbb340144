"""The serving core of the loan services: plain Python, no web framework, one straight line per request.

- ``settings``: every ``LOAN_*`` setting, read once (``Settings.from_env()``);
- ``errors``: ``Refused`` (status, message, reason), which each adapter turns into its HTTP answer;
- ``validation`` and ``limits``: the body's limits, JSON with duplicated keys refused, the rows checked;
- ``model``: ``ModelCore`` (decide, health, describe); ``explainer``: ``ExplainerCore`` (explain,
  reasons); ``client``: the explainer's Seldon REST client of the model;
- ``caller``, ``metrics``, ``audit``, ``artefacts``, ``liveness``: who calls, the Prometheus counters,
  the audit trail, sha256 checks, the liveness check;
- ``seldon``: the Seldon Core 1.17.1 adapter and its entry point (``python -m loan_service.seldon``).

The reasons themselves (numpy only) are the ``loan_reasons`` package. Nothing runs at import.
Python 3.8 compatible (the s2i image).
"""
