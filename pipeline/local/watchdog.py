"""The local supervisor: restarts a service whose predictions hang.

A live process is not enough: a worker can hang in a prediction (a lock held by a dead worker, a frozen
process) while gunicorn's master stays up. The watchdog asks each service's ``/health/status`` within a
deadline, every ``interval`` seconds; after ``failures`` unanswered or failed checks in a row it stops
the service's process group and starts it again, on the same ports. In a cluster the liveness probe on
the same endpoint does this job (pipeline/deploy/).

``serving.ensure_services`` runs one in a thread for the services it starts; `make serve` runs one as its
own process (``python -m pipeline.local.serving watchdog``, recorded as ``.run/watchdog.json``), which
`make stop` ends before the services.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback

# Generous on a busy 2-core machine: a healthy service answers /health/status in milliseconds, so
# 3 checks of 10 s in a row (about 45 s in all) without an answer is a hang, not load.
INTERVAL, TIMEOUT, FAILURES = 5.0, 10.0, 3


class Watchdog:
    """Checks ``services`` in a thread; ``restart(service)`` brings one back (it updates the object)."""

    def __init__(self, services, restart, interval=INTERVAL, timeout=TIMEOUT, failures=FAILURES, log=None):
        self.services, self.restart = list(services), restart
        self.interval, self.timeout, self.failures = interval, timeout, failures
        self.failed = {s.name: 0 for s in self.services}
        self.restarts: list[tuple[float, str]] = []  # (unix time, service name) of each restart
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, name="loan-watchdog", daemon=True)

    def start(self) -> Watchdog:
        self._thread.start()
        return self

    def check(self, service) -> None:
        """One check of one service; the restart after the last failure in a row."""
        if service.healthy(timeout=self.timeout) is not None:
            self.failed[service.name] = 0
            return
        self.failed[service.name] += 1
        if self.failed[service.name] < self.failures or self._stop.is_set():
            return
        self.log(f"watchdog: {service.name} (pid {service.pid}) failed {self.failed[service.name]} health checks "
                 f"of {self.timeout:g} s in a row: restarting it")  # fmt: skip
        self.failed[service.name] = 0
        try:
            self.restart(service)
        except Exception:  # noqa: BLE001 (the next round tries again; the watchdog must not die)
            self.log(f"watchdog: restarting {service.name} failed:\n{traceback.format_exc()}")
            return
        self.restarts.append((time.time(), service.name))
        self.log(f"watchdog: {service.name} answers again (pid {service.pid})")

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            for service in self.services:
                if self._stop.is_set():
                    return
                self.check(service)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.timeout + 60)  # a restart in progress finishes first
