"""Drift of the model's inputs and decisions per gender x ethnicity, read from the audit trail:
``drift`` (the tests), ``monitor`` (the process and its metrics). Run: ``python -m pipeline.loan_monitor``."""
