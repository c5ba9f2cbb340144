"""The explainer's core: alibi's saved Anchors explainer whose predictor is the model service, and the
principal reasons of a batch (``loan_reasons``), each request in one straight line, for any adapter.

The model is reached through ``model_client``, any object with ``probabilities(X) -> (n, 2)``: Seldon's
REST (``client.SeldonModelClient``) or KServe's V2. One explanation runs at a time in a worker (alibi
keeps per-explanation state), up to ``max_explanations`` wait their turn, beyond that 503 at once, so
threads stay free for health probes. Reasons keep no per-request state: they run side by side, bounded
by their own semaphore.
"""

import json
import os
import threading
from pathlib import Path

import numpy as np
from loan_reasons.notice import audit_record, render
from loan_reasons.reason_codes import PROHIBITED
from loan_reasons.reasons import Reasons

from .artefacts import verified
from .audit import audit_logger, now
from .errors import Refused
from .liveness import Liveness
from .metrics import REASON_FLAGS, start_series
from .model import describe, load_metadata
from .validation import validate_rows

SERVICE = "loanclassifier-explainer"
MAX_REASON_ROWS = 100  # applicants per reasons request: x ~130 model rows each, one call under the body limit


def asks_reasons(meta):
    """True for a request whose ``meta.tags.explain`` is "reasons"."""
    tags = meta.get("tags") if isinstance(meta, dict) else None
    return isinstance(tags, dict) and tags.get("explain") == "reasons"


def load_remote_explainer(path, predictor):
    """alibi's ``load_explainer`` with a predictor that is a remote service.

    Setting a predictor, alibi calls it on a row of zeros to learn whether it returns labels or
    probabilities; that row is no valid applicant (age 0), and the model may not be up yet when the
    explainer starts. So a local stand-in that returns labels is set first, then the samplers get the
    remote ``predictor``, which returns labels too."""
    from alibi.saving import load_explainer

    explainer = load_explainer(str(path), predictor=lambda X: np.zeros(len(X), dtype=int))
    explainer._predictor = explainer.samplers[0].predictor = predictor
    return explainer


class Slots:
    """At most ``limit`` calls inside; beyond that ``Refused`` 503 at once. ``serial``: one runs at a time."""

    def __init__(self, limit, what, serial=False):
        self.slots, self.what = threading.BoundedSemaphore(limit), what
        self.lock = threading.Lock() if serial else None

    def __enter__(self):
        if not self.slots.acquire(blocking=False):
            raise Refused(f"busy {self.what}: try again shortly", 503, "LOAN_BUSY")
        if self.lock is not None:
            self.lock.acquire()
        return self

    def __exit__(self, *exc):
        if self.lock is not None:
            self.lock.release()
        self.slots.release()


class ExplainerCore:
    service = SERVICE

    def __init__(self, settings, artefacts, model_client, threshold=0.95, seed=0):
        self.settings, self.artefacts, self.model = settings, Path(artefacts), model_client
        self.threshold, self.seed = float(threshold), int(seed)
        self.admission = Slots(settings.max_explanations, "explaining", serial=True)
        self.reasons_slots = Slots(settings.max_reasons, "giving reasons")
        self.liveness = Liveness(stuck_after=settings.explanation_stuck, freeze_file=settings.fault_freeze_file)
        self.metadata = self.digest = self.audit = self.explainer = self.reference = None

    def load(self):
        self.metadata, self.digest = load_metadata(self.artefacts)
        self.audit = audit_logger(self.service, self.settings)
        for name in ("explainer/meta.dill", "explainer/explainer.dill"):
            verified(self.artefacts, name)  # sha256 as exported, else a clear error
        self.explainer = load_remote_explainer(self.artefacts / "explainer", self.labels)
        self.reference = Reasons.from_json(verified(self.artefacts, "reference.json").read_text())
        start_series(self.service, flags=list(PROHIBITED) + ["age"])

    def labels(self, X):  # the predictor Anchors samples with
        return np.argmax(self.model.probabilities(X), axis=1)

    def explain(self, row, headers, request_id):
        """alibi's Explanation.to_json() of one applicant, as a dict; audited."""
        rows = validate_rows(row, self.metadata)  # before any sampling
        if rows.shape[0] != 1:
            raise Refused(f"explain one applicant per request, got {rows.shape[0]} rows "
                          '(principal reasons take a batch: meta.tags.explain = "reasons")')  # fmt: skip
        with self.admission, self.liveness.watch():
            probability = float(self.model.probabilities(rows)[0, 1])  # the decision explained
            np.random.seed(self.seed)  # the same applicant always gets the same anchor
            explanation = json.loads(self.explainer.explain(rows[0], threshold=self.threshold).to_json())
        data = explanation["data"]
        self.audit.info(json.dumps({
            "request_id": request_id, "time": now(), "service": self.service, "artefacts": self.digest,
            "caller": "applicant", "row": rows[0].tolist(),
            "decision": "approved" if probability > 0.5 else "rejected", "probability": probability,
            "anchor": data["anchor"], "precision": data["precision"], "coverage": data["coverage"]}))  # fmt: skip
        return explanation

    def reasons(self, rows, headers, request_id):
        """{"reasons": one record per row, a rejection's with its notice}: one model call, audited."""
        rows = validate_rows(rows, self.metadata)
        if len(rows) > MAX_REASON_ROWS:
            raise Refused(f"at most {MAX_REASON_ROWS} applicants per reasons request, got {len(rows)}")
        with self.reasons_slots:
            explained = self.reference.explain(lambda X: self.model.probabilities(X)[:, 1], rows)
        stamp = now()
        records = [audit_record(request_id, stamp, self.service, self.digest, row, e)
                   for row, e in zip(rows, explained) if e["decision"] == "rejected"]  # fmt: skip
        notices = iter([render(record) for record in records])
        for line in records:
            for flag in line["flags"]:
                REASON_FLAGS.labels(flag["feature"]).inc()
        if records:
            self.audit.info("\n".join(json.dumps(line) for line in records))
        return {"reasons": [dict(e, notice=next(notices) if e["decision"] == "rejected" else None)
                            for e in explained]}  # fmt: skip

    def health(self):  # the liveness probe: 503 at once if an explanation is stuck
        if self.metadata is None:
            raise Refused(f"{self.service} not loaded", 503, "LOAN_NOT_READY")
        return {"model": self.service, "artefacts": self.digest, "worker": os.getpid(),
                **self.liveness.check(), "model_url": getattr(self.model, "url", "")}  # fmt: skip

    def describe(self):  # Seldon asks before load()
        return describe(self.service, *load_metadata(self.artefacts), self.settings)
