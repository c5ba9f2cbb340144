"""Test support for faults: the processes of a running service, steady client load, and the time a
fresh request takes to be answered. Reads /proc (Linux), so it needs no extra dependency."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import requests

from pipeline.local.serving import COMMANDS


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue  # the task exited meanwhile
            found += kids
            todo += kids
    return found


def _listening_inode(port: int) -> str:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                return fields[9]
    raise LookupError(f"nothing listens on port {port}")


def _holds_socket(pid: int, inode: str) -> bool:
    try:
        links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return False  # exited meanwhile
    return f"socket:[{inode}]" in links


def workers(service) -> list[int]:
    """gunicorn's REST workers of a service: the processes below its arbiter that hold its listening socket."""
    inode = _listening_inode(service.port)
    return sorted(p for p in descendants(service.pid) if _holds_socket(p, inode))


def helpers(service) -> list[int]:
    """The service's other processes: neither the REST arbiter nor a REST worker (the metrics server,
    anything else Seldon or a library starts)."""
    rest = set(workers(service))
    return sorted(p for p in descendants(service.pid) if p not in rest)


def wait_for_workers(service, count: int, timeout: float = 120.0) -> list[int]:
    """The REST workers, once ``count`` of them have loaded and answered /health/status (a worker holds
    the socket from its fork on, but accepts only once its wrapper has loaded)."""
    deadline, answered = time.monotonic() + timeout, set()
    while time.monotonic() < deadline:
        current = set(workers(service))
        try:
            health = service.url + COMMANDS[service.stack][2]
            body = requests.get(health, timeout=5, headers={"Connection": "close"}).json()
            answered.add(body.get("jsonData", body)["worker"])
        except (requests.RequestException, ValueError, KeyError, TypeError):
            time.sleep(0.1)
        answered &= current
        if len(answered) >= count:
            return sorted(current)
    raise AssertionError(f"{service.name}: {len(answered)} workers answered within {timeout:g} s, expected {count}")


class Load:
    """``clients`` threads posting payloads to ``url`` until stopped, each on its own keep-alive session,
    like real clients, ``pause`` seconds between a client's requests. A request that fails (a connection
    reset by a killed worker) is recorded and the client goes on with a fresh session."""

    def __init__(self, url: str, payloads, clients: int = 4, timeout: float = 60.0, pause: float = 0.0):
        self.url, self.payloads, self.timeout, self.pause = url, list(payloads), timeout, pause
        self.stopping = threading.Event()
        self.results = []  # (client, started, finished, status code or exception name)
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(k,), daemon=True) for k in range(clients)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(self.timeout + 5)
        assert not any(t.is_alive() for t in self.threads), "a client is stuck past its own timeout"

    def _client(self, k: int) -> None:
        session, i = requests.Session(), k
        while not self.stopping.is_set():
            payload = self.payloads[i % len(self.payloads)]
            i += len(self.threads)
            started = time.monotonic()
            try:
                outcome = session.post(self.url, json=payload, timeout=self.timeout).status_code
            except requests.RequestException as error:
                outcome = type(error).__name__
                session.close()
                session = requests.Session()
            with self.lock:
                self.results.append((k, started, time.monotonic(), outcome))
            self.stopping.wait(self.pause)
        session.close()

    def answered_after(self, moment: float) -> set[int]:
        """The clients that got a 200 for a request sent after ``moment``."""
        with self.lock:
            return {k for k, started, _, outcome in self.results if started > moment and outcome == 200}

    def wait_answered_after(self, moment: float, timeout: float) -> set[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.answered_after(moment)) < len(self.threads):
            time.sleep(0.05)
        return self.answered_after(moment)


def fresh_request_time(url: str, payload, timeout: float) -> float:
    """Seconds until a request on a new connection is answered 200, retrying on a refused or reset
    connection; raises AssertionError if no 200 comes within ``timeout``."""
    started = time.monotonic()
    last = None
    while time.monotonic() - started < timeout:
        left = timeout - (time.monotonic() - started)
        try:
            response = requests.post(url, json=payload, timeout=max(left, 0.1), headers={"Connection": "close"})
            if response.status_code == 200:
                return time.monotonic() - started
            last = f"HTTP {response.status_code}: {response.text[:200]}"
        except requests.RequestException as error:
            last = type(error).__name__
        time.sleep(0.05)
    raise AssertionError(f"no answer within {timeout:g} s to a fresh request to {url} (last: {last})")
