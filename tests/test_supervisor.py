"""The local process runner and its watchdog (pipeline/local/processes.py): a real
seldon-core-microservice whose prediction path is frozen (SIGSTOP of every process of its group but
the leader: from outside, that is what a hung worker looks like) is restarted and answers again, in a
thread (``ensure_services``) and as the process `make serve` starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from pipeline.local import processes, serving
from pipeline.local.processes import Watchdog
from tutorial import artefacts as export

ROW = [39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("artefacts")
    export.export_artefacts(*export.build_serving_artefacts(n_rows=2_000, n_estimators=10), root=root)
    return root


def predict(service, timeout=30.0) -> int:
    return requests.post(service.predict_url, json={"data": {"ndarray": [ROW]}}, timeout=timeout).status_code


def freeze_prediction_path(service) -> list[int]:
    """SIGSTOP every process of the service's group except its leader; returns the frozen pids."""
    frozen = processes.group_members(service.pid)[1:]
    assert frozen, "the service has no worker processes"
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    return frozen


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.5)


def test_group_members_and_stop_group_end_the_whole_group(tmp_path):
    # A shell leading its own group, with two children: stop_group leaves none of them.
    process = processes.start(["sh", "-c", "sleep 300 & sleep 300 & wait"], tmp_path / "log")
    wait_for(lambda: len(processes.group_members(process.pid)) == 3, 30, "the children started")
    members = processes.group_members(process.pid)
    assert members[0] == process.pid
    for pid in members[1:]:
        os.kill(pid, signal.SIGSTOP)  # frozen members as well
    processes.stop_group(process.pid, timeout=10)
    assert not processes.group_alive(process.pid) and not any(processes.alive(p) for p in members)


def test_wait_until_fails_with_the_log_when_the_process_exits(tmp_path):
    log = tmp_path / "log"
    process = processes.start(["sh", "-c", "echo cannot bind; exit 3"], log)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="cannot bind"):
        processes.wait_until(lambda: False, 120, process, "the server", log)
    assert time.monotonic() - started < 60  # it failed when the process exited, not at the deadline


def test_state_files_round_trip(tmp_path):
    processes.record(tmp_path, "x", 123, {"pid": 123, "port": 9})
    assert processes.recorded(tmp_path, "x") == {"pid": 123, "port": 9} and processes.recorded_pid(tmp_path, "x") == 123
    processes.forget(tmp_path, "x")
    assert processes.recorded(tmp_path, "x") is None and not list(tmp_path.iterdir())


def test_watchdog_restarts_a_service_whose_predictions_hang(artefacts, tmp_path):
    model = serving.start_service(serving.MODEL, artefacts / serving.MODEL.name, port=serving.free_port(),
                                  metrics_port=serving.free_port(), log=tmp_path / "model.log")  # fmt: skip
    first_pid, port = model.pid, model.port
    watchdog = Watchdog([model], serving.restart_service, interval=1.0, timeout=5.0, failures=2, log=print).start()
    try:
        assert predict(model) == 200
        time.sleep(8)  # a healthy service is left alone (several rounds of checks)
        assert watchdog.restarts == [] and model.pid == first_pid

        frozen = freeze_prediction_path(model)
        with pytest.raises(requests.Timeout):
            predict(model, timeout=3)  # hung: the process lives, predictions never come
        wait_for(lambda: watchdog.restarts, 240, "the watchdog restarted the frozen service")
        assert model.pid != first_pid and model.port == port  # a new group, the same address
        assert not any(processes.alive(pid) for pid in frozen)
        assert predict(model) == 200
    finally:
        watchdog.stop()
        serving.stop_service(model)
    assert not processes.group_alive(model.pid) and not processes.group_alive(first_pid)


def test_make_serve_watchdog_process_restarts_and_records_the_new_pid(artefacts, monkeypatch, tmp_path, capsys):
    """What `make serve` runs: the watchdog process finds the services in the run directory, restarts the
    frozen one, records its new pid, and `make stop` ends it first, then the services."""
    monkeypatch.setattr(serving, "RUN_DIR", tmp_path)
    monkeypatch.setenv("LOAN_WATCHDOG", "1,5,2")
    serving.main(["start", "--artefacts", str(artefacts)])
    watchdog_pid = processes.recorded_pid(tmp_path, serving.WATCHDOG)
    model = serving.running_service(serving.MODEL)
    try:
        assert watchdog_pid and processes.alive(watchdog_pid) and model is not None
        first_pid = model.pid
        freeze_prediction_path(model)
        wait_for(lambda: processes.recorded_pid(tmp_path, serving.MODEL.name) != first_pid, 240,
                 "the watchdog process recorded a restarted model")  # fmt: skip
        restarted = serving.recorded_service(serving.MODEL)
        wait_for(lambda: restarted.healthy() is not None, 120, "the restarted model answers")
        assert predict(restarted) == 200 and restarted.port == model.port
        assert "restarting it" in (tmp_path / "watchdog.log").read_text()
    finally:
        serving.main(["stop"])
    assert not processes.alive(watchdog_pid) and not list(tmp_path.glob("*.pid"))
    assert serving.running_service(serving.MODEL) is None and serving.running_service(serving.EXPLAINER) is None


def test_the_watchdog_process_needs_recorded_services(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pipeline.local.serving", "watchdog", str(tmp_path)],
                            capture_output=True, text=True, timeout=120, cwd=serving.REPO)  # fmt: skip
    assert result.returncode != 0 and "no services recorded" in result.stderr
