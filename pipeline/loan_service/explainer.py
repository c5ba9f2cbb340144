"""The explainer's side: alibi's saved explainer with a remote predictor, and admission control."""

import threading

import numpy as np

from .errors import bad_request


def load_remote_explainer(path, predictor):
    """alibi's ``load_explainer`` with a predictor that is a remote service.

    Setting a predictor, alibi calls it on a row of zeros to learn whether it returns labels or
    probabilities; that row is no valid applicant (age 0), and the model may not be up yet when the
    explainer starts. So a local stand-in that returns labels is set first, then the samplers get the
    remote ``predictor``, which returns labels too."""
    from alibi.saving import load_explainer

    explainer = load_explainer(path, predictor=lambda X: np.zeros(len(X), dtype=int))
    explainer._predictor = explainer.samplers[0].predictor = predictor
    return explainer


class Admission:
    """At most ``limit`` explanations inside a worker (one runs, the others wait their turn): beyond that,
    503 at once, so threads stay free for health probes."""

    def __init__(self, limit):
        self.slots, self.lock = threading.BoundedSemaphore(limit), threading.Lock()

    def __enter__(self):
        if not self.slots.acquire(blocking=False):
            raise bad_request("busy explaining: try again shortly", status=503, reason="LOAN_BUSY")
        self.lock.acquire()  # an alibi explainer keeps per-explanation state: one at a time
        return self

    def __exit__(self, *exc):
        self.lock.release()
        self.slots.release()
