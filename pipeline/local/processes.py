"""The one process runner of the local services (both model servers and Prometheus), and their watchdog.

A server starts as the leader of its own process group (its workers are in the group, a Ctrl-C in the
notebook does not reach them), is ready when a predicate says so (a health URL), and stops as a group:
SIGTERM, then SIGKILL if it lingers. Servers that outlive the command that started them (`make serve`)
are recorded in ``.run/<name>.json`` and ``.run/<name>.pid``, which `make stop` and the notebook read.

A live process is not a working one: a worker can hang in a prediction while gunicorn's master stays
up. ``Watchdog`` asks each service's health within a deadline, every ``interval`` seconds; after
``failures`` unanswered checks in a row it restarts the service on the same ports. ``serving`` runs one
in a thread for the services the notebook starts, and one as a process for `make serve`
(``python -m pipeline.local.serving watchdog``). In a cluster the liveness probe does this job.

Written here rather than taken from mirakuru: mirakuru is LGPL-3.0 (the project's dependencies are
MIT/BSD/Apache), stops only the executors its own process holds, and waits for a TCP port or an HTTP
HEAD, where the wrappers are ready only once their health status names the artefacts.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN_DIR = REPO / ".run"
LOOPBACK = "127.0.0.1"


def free_port(preferred: int | None = None) -> int:
    """``preferred`` if nothing listens there on loopback, else a port the kernel hands out.

    SO_REUSEADDR as gunicorn binds: connections of a stopped service lingering in TIME_WAIT do not make
    the documented port look taken."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def start(command: list[str], log: Path | str, cwd: Path | str | None = None, env: dict | None = None):
    """Start ``command`` as the leader of a new session (and process group), output appended to ``log``."""
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip


def wait_until(ready, timeout: float, process=None, what: str = "process", log: Path | str | None = None) -> None:
    """Poll ``ready()`` until true; fail early if ``process`` exits, and with the log's tail either way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.2)
    tail = Path(log).read_text(errors="replace")[-3000:] if log and Path(log).exists() else ""
    raise RuntimeError(f"{what} did not become ready; log {log}:\n{tail}")


def alive(pid: int) -> bool:
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child that has exited: reaped now
            return False
    except ChildProcessError:
        pass  # not our child (started by `make serve`): init reaps it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def group_members(pgid: int) -> list[int]:
    """The pids of the process group ``pgid`` (from /proc), leader first."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        if int(fields[2]) == pgid:  # fields after the command name: state, ppid, pgrp, ...
            members.append(int(stat.parent.name))
    return sorted(members, key=lambda pid: pid != pgid)


def stop_group(pgid: int, timeout: float = 15.0) -> None:
    """SIGTERM to the group (servers shut down gracefully), SIGKILL if any member lingers."""
    for sig in (signal.SIGCONT, signal.SIGTERM, signal.SIGKILL):  # SIGCONT: frozen members act on SIGTERM
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + (0 if sig == signal.SIGCONT else timeout)
        while time.monotonic() < deadline:
            if not alive(pgid) and not group_alive(pgid):
                return
            time.sleep(0.1)


# --- state files of what `make serve` started ------------------------------------------------------


def record(run_dir: Path, name: str, pid: int, state: dict) -> None:
    """``<run_dir>/<name>.pid`` and ``<name>.json``: what `make stop`, the watchdog and the notebook read."""
    run_dir.mkdir(parents=True, exist_ok=True)
    state_file = run_dir / f"{name}.json"
    partial = run_dir / f".{name}.json.tmp"
    partial.write_text(json.dumps(state, indent=2) + "\n")
    partial.replace(state_file)  # a reader never sees half a file
    (run_dir / f"{name}.pid").write_text(f"{pid}\n")


def recorded(run_dir: Path, name: str) -> dict | None:
    try:
        return json.loads((run_dir / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None


def recorded_pid(run_dir: Path, name: str) -> int | None:
    try:
        return int((run_dir / f"{name}.pid").read_text())
    except (OSError, ValueError):
        return None


def forget(run_dir: Path, name: str) -> None:
    for suffix in (".pid", ".json"):
        (run_dir / f"{name}{suffix}").unlink(missing_ok=True)


# --- the watchdog ------------------------------------------------------------------------------------

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
