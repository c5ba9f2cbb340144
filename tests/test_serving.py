"""The two Seldon wrappers served for real: seldon-core-microservice from .venv-serve on loopback ports.

A session fixture trains a small model and its Anchors explainer with the tutorial's builders, exports
them with the notebook's export function and starts both services; the tests talk to them over HTTP.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import dill
import numpy as np
import pytest
import requests
from alibi.saving import load_explainer

from pipeline.local import serving
from tutorial.data import FEATURES, load_adult

ROW = [39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]  # a valid applicant: codes and amounts


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("artefacts")
    model, explainer, category_map = serving.build_serving_artefacts(n_rows=2_000, n_estimators=10)
    dirs = serving.export_artefacts(model, explainer, category_map, root=root)
    return root, dirs


@pytest.fixture(scope="session")
def services(artefacts, tmp_path_factory):
    root, _ = artefacts
    logs = tmp_path_factory.mktemp("logs")
    model = serving.start_service(
        serving.MODEL,
        root / serving.MODEL.name,
        port=serving.free_port(),
        metrics_port=serving.free_port(),
        log=logs / "model.log",
    )
    explainer = serving.start_service(
        serving.EXPLAINER,
        root / serving.EXPLAINER.name,
        port=serving.free_port(),
        metrics_port=serving.free_port(),
        log=logs / "explainer.log",
        model_url=model.predict_url,
    )
    yield serving.Services(model, explainer)
    serving.Services(model, explainer).stop()


@pytest.fixture(scope="session")
def local_model(artefacts):
    _, dirs = artefacts
    with open(dirs[serving.MODEL.name] / "model.dill", "rb") as f:
        model = dill.load(f)
    # As served: with n_jobs=2 the trees' votes add up in another order, and a tie at exactly 0.5
    # can fall the other way.
    return model.set_params(classifier__n_jobs=1)


@pytest.fixture(scope="session")
def applicants():
    return load_adult("test", n_rows=300, seed=1).X


def post(url, payload=None, **kwargs):
    if payload is not None:
        kwargs["json"] = payload
    return requests.post(url, timeout=30, **kwargs)


def ndarray(rows):
    return {"data": {"ndarray": np.asarray(rows).tolist()}}


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on ``port``, from /proc/net/tcp and tcp6."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(
                    ".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0))
                    if len(address) == 8
                    else address
                )
    return found


# --- the model service -----------------------------------------------------------------------------


def test_services_listen_on_loopback_only(services):
    for service in (services.model, services.explainer):
        for port in (service.port, service.metrics_port):
            assert listening_addresses(port) == {"127.0.0.1"}, (service.name, port)


def test_prediction_matches_the_in_process_model(services, local_model, applicants):
    rows = applicants[:50]
    for payload in (
        ndarray(rows),
        {"data": {"tensor": {"shape": list(rows.shape), "values": rows.ravel().tolist()}}},
    ):
        response = post(services.model.predict_url, payload)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert data["names"] == serving.CLASS_NAMES
        served = (
            data["ndarray"]
            if "ndarray" in data
            else np.reshape(data["tensor"]["values"], data["tensor"]["shape"])
        )
        np.testing.assert_allclose(served, local_model.predict_proba(rows), rtol=1e-12)


BAD_INPUTS = {
    "too few features": ({"json": ndarray([ROW[:5]])}, "12 features"),
    "too many features": ({"json": ndarray([ROW + [1]])}, "12 features"),
    "strings": ({"json": ndarray([["39"] + ROW[1:]])}, "strings"),
    "null": ({"json": {"data": {"ndarray": [[None] + ROW[1:]]}}}, "null"),
    "NaN": (
        {
            "data": json.dumps(ndarray([[float("nan")] + ROW[1:]])),
            "headers": {"Content-Type": "application/json"},
        },
        "NaN",
    ),
    "infinity": (
        {
            "data": json.dumps(ndarray([ROW[:8] + [float("inf")] + ROW[9:]])),
            "headers": {"Content-Type": "application/json"},
        },
        "infinity",
    ),
    "booleans": ({"json": ndarray([[True] * 12])}, "booleans"),
    "empty object": ({"json": {}}, "Invalid request"),
    "empty data": ({"json": {"data": {}}}, "empty"),
    "empty rows": ({"json": {"data": {"ndarray": []}}}, "empty"),
    "nested rows": ({"json": ndarray([[ROW]])}, "shape [1, 1, 12]"),
    "flat row": ({"json": ndarray(ROW)}, "list of rows"),
    "ragged rows": ({"json": {"data": {"ndarray": [ROW, ROW[:3]]}}}, "cannot decode"),
    "tensor shape mismatch": ({"json": {"data": {"tensor": {"shape": [2, 12], "values": ROW}}}}, "reshape"),
    "tensor without values": ({"json": {"data": {"tensor": {"shape": [1, 12]}}}}, "values"),
    "data not an object": ({"json": {"data": 5}}, "cannot decode"),
    "unknown category code": (
        {"json": ndarray([[39, 99] + ROW[2:]])},
        "unknown category code 99 for workclass",
    ),
    "fractional category code": ({"json": ndarray([ROW[:7] + [0.5] + ROW[8:]])}, "code 0.5 for gender"),
    "negative category code": ({"json": ndarray([ROW[:6] + [-1] + ROW[7:]])}, "code -1 for ethnicity"),
    "negative age": ({"json": ndarray([[-5] + ROW[1:]])}, "negative"),
    "jsonData": ({"json": {"jsonData": {"age": 39}}}, "data.ndarray"),
    "strData": ({"json": {"strData": "39,5,9"}}, "data.ndarray"),
    "not JSON": ({"data": "age=39", "headers": {"Content-Type": "application/json"}}, "JSON"),
    "not JSON, no content type": ({"data": b"\x00\x01garbage"}, "JSON"),
    "form field not JSON": ({"data": {"json": "{not json"}}, "cannot decode"),
    "JSON list body": ({"json": [ROW]}, "Invalid request"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_a_400_naming_the_problem_and_the_model_keeps_serving(services, case):
    kwargs, words = BAD_INPUTS[case]
    response = requests.post(services.model.predict_url, timeout=30, **kwargs)
    assert response.status_code == 400, response.text
    assert words in response.json()["status"]["info"], response.text
    assert post(services.model.predict_url, ndarray([ROW])).status_code == 200


def test_hash_mismatch_is_refused_with_a_clear_error(artefacts, tmp_path):
    _, dirs = artefacts
    for step, tampered in ((serving.MODEL, "model.dill"), (serving.EXPLAINER, "explainer/explainer.dill")):
        copy = tmp_path / step.name
        shutil.copytree(dirs[step.name], copy)
        with open(copy / tampered, "ab") as f:
            f.write(b"\0")
        load = (
            f"from {step.interface} import {step.interface}; {step.interface}(artefacts={str(copy)!r}).load()"
        )
        result = subprocess.run(
            [str(serving.SERVE_PYTHON), "-c", load],
            cwd=step.directory,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode != 0
        assert f"refusing to load {copy / tampered}" in result.stderr
        assert "the manifest says" in result.stderr


def test_exported_explainer_holds_no_model_and_no_bytecode(artefacts):
    """Portable to the Python 3.8 image: alibi's saving alone would pickle the predictor's bytecode."""
    import pickletools

    _, dirs = artefacts
    data = (dirs[serving.EXPLAINER.name] / "explainer" / "explainer.dill").read_bytes()
    strings = {arg for _, arg, _ in pickletools.genops(data) if isinstance(arg, str)}
    assert "_create_code" not in strings and "_create_function" not in strings
    assert not [s for s in strings if s.startswith("sklearn")]


def test_exported_artefacts_are_readable_by_the_images_non_root_user(artefacts):
    _, dirs = artefacts
    for directory in dirs.values():
        for path in [directory, *directory.rglob("*")]:
            assert path.stat().st_mode & 0o005 == 0o005 if path.is_dir() else path.stat().st_mode & 0o004, (
                path
            )


# --- metrics: bias monitoring ----------------------------------------------------------------------


def test_metrics_count_applications_and_approvals_per_gender(services, local_model, applicants):
    before = serving.approval_rates(requests.get(services.model.metrics_url, timeout=10).text)
    rows = applicants[:200]
    # Several requests, so both gunicorn workers are likely to count some: the totals add them up.
    for chunk in np.array_split(rows, 8):
        assert post(services.model.predict_url, ndarray(chunk)).status_code == 200
    after = serving.approval_rates(requests.get(services.model.metrics_url, timeout=10).text)

    gender = FEATURES.index("gender")
    names = np.array(load_adult("test", n_rows=10).category_map[gender])[rows[:, gender].astype(int)]
    approved = local_model.predict_proba(rows)[:, 1] > 0.5
    for g in np.unique(names):
        counted = (
            after.loc[g, ["applications", "approvals"]]
            - before.reindex(after.index, fill_value=0).loc[g, ["applications", "approvals"]]
        )
        assert counted["applications"] == np.sum(names == g)
        assert counted["approvals"] == np.sum(approved[names == g])


def test_metrics_endpoint_is_prometheus_text(services):
    response = requests.get(services.model.metrics_url, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    assert "# TYPE loan_applications_total counter" in response.text


# --- the explainer service -------------------------------------------------------------------------


def test_remote_explanation_equals_the_in_process_one(services, artefacts, local_model, applicants):
    _, dirs = artefacts
    response = post(services.explainer.predict_url, ndarray(applicants[:1]))
    assert response.status_code == 200, response.text
    remote = response.json()["jsonData"]
    assert remote["meta"]["name"] == "AnchorTabular"

    explainer = load_explainer(dirs[serving.EXPLAINER.name] / "explainer", predictor=local_model.predict)
    np.random.seed(0)  # the explainer service seeds every explanation the same way
    local = json.loads(explainer.explain(applicants[0], threshold=0.95).to_json())
    assert remote["data"]["anchor"] == local["data"]["anchor"]
    assert remote["data"]["precision"] == pytest.approx(local["data"]["precision"])
    assert services.explainer.healthy()["model_url"] == services.model.predict_url


@pytest.mark.parametrize(
    "case",
    [
        "too few features",
        "strings",
        "NaN",
        "nested rows",
        "ragged rows",
        "unknown category code",
        "empty data",
        "jsonData",
        "not JSON",
    ],
)
def test_explainer_rejects_bad_instances_with_a_400(services, case):
    kwargs, words = BAD_INPUTS[case]
    response = requests.post(services.explainer.predict_url, timeout=30, **kwargs)
    assert response.status_code == 400, response.text
    info = response.json()["status"]["info"]
    assert words in info or "send one applicant" in info, info


def test_explainer_explains_one_applicant_per_request(services):
    response = post(services.explainer.predict_url, ndarray([ROW, ROW]))
    assert response.status_code == 400 and "one applicant" in response.json()["status"]["info"]


def test_model_down_gives_a_clear_error_in_time_and_recovers(artefacts, tmp_path):
    """Its own pair of services: the model is stopped, then frozen, under a running explainer."""
    root, _ = artefacts
    port, metrics_port = serving.free_port(), serving.free_port()

    def start_model():
        return serving.start_service(
            serving.MODEL,
            root / serving.MODEL.name,
            port=port,
            metrics_port=metrics_port,
            log=tmp_path / "model.log",
        )

    model = start_model()
    explainer = serving.start_service(
        serving.EXPLAINER,
        root / serving.EXPLAINER.name,
        port=serving.free_port(),
        metrics_port=serving.free_port(),
        model_url=model.predict_url,
        log=tmp_path / "explainer.log",
    )
    try:
        assert post(explainer.predict_url, ndarray([ROW])).status_code == 200

        serving.stop_service(model)
        started = time.monotonic()
        response = post(explainer.predict_url, ndarray([ROW]))
        assert time.monotonic() - started < 10
        assert response.status_code == 503
        assert f"model service at {model.predict_url} is not answering" in response.json()["status"]["info"]

        model = start_model()
        assert post(explainer.predict_url, ndarray([ROW])).status_code == 200

        os.killpg(model.pid, signal.SIGSTOP)  # accepts connections, never answers
        try:
            started = time.monotonic()
            response = post(explainer.predict_url, ndarray([ROW]))
            assert time.monotonic() - started < 10
            assert response.status_code == 503 and "ReadTimeout" in response.json()["status"]["info"]
        finally:
            os.killpg(model.pid, signal.SIGCONT)
        assert post(explainer.predict_url, ndarray([ROW])).status_code == 200
    finally:
        serving.Services(model, explainer).stop()


# --- load ------------------------------------------------------------------------------------------


def test_load_2000_requests_from_8_clients_without_errors(services, local_model, applicants):
    n_requests, n_clients = 2_000, 8
    expected = local_model.predict_proba(applicants)

    def client(k):
        statuses, mismatches = [], 0
        with requests.Session() as session:
            for i in range(k, n_requests, n_clients):
                row = applicants[i % len(applicants)]
                response = session.post(services.model.predict_url, json=ndarray([row]), timeout=10)
                statuses.append(response.status_code)
                if response.ok and not np.allclose(
                    response.json()["data"]["ndarray"][0], expected[i % len(applicants)]
                ):
                    mismatches += 1
        return statuses, mismatches

    started = time.monotonic()
    with ThreadPoolExecutor(n_clients) as pool:
        futures = [pool.submit(client, k) for k in range(n_clients)]
        done, not_done = wait(futures, timeout=180)
    assert not not_done, "load run did not finish within 180 s"
    statuses = [s for f in done for s in f.result()[0]]
    assert len(statuses) == n_requests and set(statuses) == {200}
    assert sum(f.result()[1] for f in done) == 0
    print(f"{n_requests} requests from {n_clients} clients in {time.monotonic() - started:.1f} s")


# --- ensure_services -------------------------------------------------------------------------------


def test_ensure_services_reuses_running_ones_and_stops_only_what_it_started(
    services, artefacts, monkeypatch, tmp_path
):
    root, _ = artefacts
    monkeypatch.setattr(serving, "RUN_DIR", tmp_path)
    # As `make serve` records them: the session's services become "running ones".
    for service in (services.model, services.explainer):
        (tmp_path / f"{service.name}.json").write_text(
            json.dumps({**service.__dict__, "started_here": False})
        )
    reused = serving.ensure_services(root)
    assert (reused.model.pid, reused.explainer.pid) == (services.model.pid, services.explainer.pid)
    assert reused.started == []
    reused.stop()
    assert services.model.healthy() and services.explainer.healthy()

    # Other artefacts: the running services do not serve them, so private ones start and stop.
    other = tmp_path / "other"
    shutil.copytree(root, other)
    manifest = other / serving.MODEL.name / "manifest.json"
    manifest.write_text(manifest.read_text() + "\n")  # same files, another manifest digest
    private = serving.ensure_services(other)
    assert len(private.started) == 2 and private.model.pid != services.model.pid
    assert private.explainer.healthy()["model_url"] == private.model.predict_url
    pids = [s.pid for s in private.started]
    private.stop()
    assert not any(serving._alive(pid) for pid in pids)
    assert services.model.healthy() and services.explainer.healthy()


def test_command_line_starts_records_and_stops_by_pid(artefacts, monkeypatch, tmp_path, capsys):
    """What `make serve`, `make status` and `make stop` run."""
    root, _ = artefacts
    monkeypatch.setattr(serving, "RUN_DIR", tmp_path)
    serving.main(["start", "--artefacts", str(root)])
    pids = [int((tmp_path / f"{step.name}.pid").read_text()) for step in (serving.MODEL, serving.EXPLAINER)]
    model = serving.running_service(serving.MODEL)
    assert model is not None and model.pid == pids[0] and serving.running_service(serving.EXPLAINER)
    assert post(model.predict_url, ndarray([ROW])).status_code == 200
    serving.main(["start", "--artefacts", str(root)])  # idempotent: they are already running
    assert "Already running" in capsys.readouterr().out
    serving.main(["stop"])
    assert not any(serving._alive(pid) for pid in pids)
    assert not list(tmp_path.glob("*.pid")) and serving.running_service(serving.MODEL) is None
