"""Every ``LOAN_*`` setting, read once from the environment into one ``Settings`` object."""

import os
from dataclasses import dataclass, fields
from pathlib import Path

MIB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    artefacts: str = ""  # LOAN_ARTEFACTS: the step's artefacts directory ("" = the wrapper's own)
    model_url: str = "http://loanclassifier-default:8000/api/v1.0/predictions"  # the explainer's model
    model_timeout: float = 5.0  # seconds the explainer waits for one batch from the model
    caller_token: str = ""  # the explainer's proof to the model (a Kubernetes Secret in a cluster)
    audit: bool = True  # LOAN_AUDIT=0 only to measure the audit's cost (scripts/bench_serving.py)
    audit_log: str = ""  # "" = <tmp>/<service>-audit.jsonl
    audit_max_bytes: int = 20 * MIB
    audit_stdout: bool = False  # the cluster: the audit lines on stdout, for the log collector
    max_body_bytes: int = 2 * MIB  # ~40,000 rows
    read_timeout: float = 10.0  # seconds to receive a whole body
    max_explanations: int = 8  # explanations waiting in one worker; beyond, 503 at once
    max_reasons: int = 8  # reasons requests side by side in one worker
    explanation_stuck: float = 60.0  # an explanation running longer fails the liveness check
    liveness_deadline: float = 2.0  # seconds the canned prediction of the liveness check may take
    fault_freeze_file: str = ""  # a fault only tests arm: the prediction path waits while it exists
    loopback: bool = False  # bind the REST and metrics servers to 127.0.0.1 (local runs and tests)
    stack: str = "seldon"  # LOAN_STACK: which serving stack the local runner starts
    watchdog: str = ""  # LOAN_WATCHDOG="interval,timeout,failures" for the local watchdog (tests)
    metrics_url: str = ""  # LOAN_METRICS_URL: the model's metrics in a cluster (the notebook)

    @classmethod
    def from_env(cls, environ=None, **overrides):
        """The settings of ``environ`` (default ``os.environ``): ``LOAN_<FIELD>``, then ``overrides``."""
        environ = os.environ if environ is None else environ
        values = {}
        for field in fields(cls):
            text, kind = environ.get("LOAN_" + field.name.upper()), type(field.default)
            if text is None or (text == "" and kind is not str):
                continue
            values[field.name] = text not in ("0", "false", "no") if kind is bool else kind(text)
        values.update(overrides)
        return cls(**values)

    def artefacts_dir(self, default):
        return Path(self.artefacts or default)
