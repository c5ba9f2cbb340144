"""Liveness: does the prediction path still answer? A live process that answers /health/ping is not enough.

Seldon's /health/status calls the wrapper's ``health_status``, which calls ``Liveness.check``: a canned
call of the prediction path (the model: a valid applicant built from the artefacts' metadata) runs in a
thread of its own and is waited for at most LOAN_LIVENESS_DEADLINE seconds (2). A path that hangs
makes /health/status answer 503 within that deadline (at once while that call still hangs), and
/health/ping, which runs no model code, keeps answering: the manifests' liveness probe uses
/health/status (the pod is restarted), the readiness probe /health/ping.

The explainer's path calls the model, so a canned explanation would fail whenever the model does and
restart the explainer for the model's fault. Its check is the explanation running now instead: one
that has run longer than LOAN_EXPLANATION_STUCK seconds (60, the deployment's REST timeout: nobody
waits for its answer any more) makes /health/status answer 503 at once.
"""

import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import Refused


def canned_applicant(metadata):
    """One applicant valid by construction: category code 0 and the lowest plausible amount of each feature."""
    features = metadata["features"]
    row = np.zeros((1, len(features)))
    for name, (low, _) in metadata["ranges"].items():
        row[0, features.index(name)] = low
    return row


def freeze_point(path):
    """A fault only a test can arm (tests/test_resilience.py): with LOAN_FAULT_FREEZE_FILE set in the
    service's environment, the prediction path waits while that file exists. The manifests never set it."""
    while path and Path(path).exists():
        time.sleep(0.05)


class _Call:
    def __init__(self):
        self.started, self.done, self.error = time.monotonic(), threading.Event(), None


class Liveness:
    """``check()`` runs ``probe()`` (one call in flight per worker, never more) and waits for it at most
    ``deadline`` seconds: HTTP 503 when it hangs or fails, else how long it took. With ``stuck_after``,
    ``check()`` also fails when a call inside ``watch()`` has run longer than that."""

    def __init__(self, probe=None, deadline=2.0, stuck_after=None, freeze_file=""):
        self.probe, self.deadline, self.stuck_after, self.freeze_file = probe, deadline, stuck_after, freeze_file
        self.lock, self.call, self.running = threading.Lock(), None, {}

    @contextmanager
    def watch(self):
        key = object()
        with self.lock:
            self.running[key] = time.monotonic()
        try:
            freeze_point(self.freeze_file)  # a fault only a test can arm
            yield
        finally:
            with self.lock:
                del self.running[key]

    def check(self):
        with self.lock:
            oldest = min(self.running.values(), default=None)
        if self.stuck_after is not None and oldest is not None and time.monotonic() - oldest > self.stuck_after:
            raise Refused(f"the call running now has not finished for {time.monotonic() - oldest:.1f} s "
                              f"(limit {self.stuck_after:g} s)", 503, "LOAN_HUNG")  # fmt: skip
        if self.probe is None:
            return {}
        with self.lock:
            if self.call is None:  # else join the call in flight: a hung path gets no second thread
                self.call = _Call()
                threading.Thread(target=self._run, args=(self.call,), daemon=True, name="loan-liveness").start()
            call = self.call
        waited = call.done.wait(max(0.0, self.deadline - (time.monotonic() - call.started)))
        took = time.monotonic() - call.started
        if not waited:
            raise Refused(
                f"the prediction path has not answered a canned applicant for {took:.1f} s "
                f"(deadline {self.deadline:g} s)",
                503,
                "LOAN_HUNG",
            )
        if call.error is not None:
            raise Refused(f"the prediction path failed on a canned applicant: {call.error}", 503,
                          "LOAN_BROKEN")  # fmt: skip
        return {"prediction_path_seconds": round(took, 4)}

    def _run(self, call):
        try:
            self.probe()
        except Exception as error:  # reported by check(), as a 503
            call.error = f"{type(error).__name__}: {str(error)[:200]}"
        finally:
            with self.lock:
                if self.call is call:
                    self.call = None
            call.done.set()
