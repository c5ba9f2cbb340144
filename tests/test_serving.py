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
from tests.loopback import listening_addresses
from tutorial import artefacts as export
from tutorial import monitoring
from tutorial.data import FEATURES, load_adult

ROW = [39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]  # a valid applicant: codes and amounts


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("artefacts")
    model, explainer, category_map = export.build_serving_artefacts(n_rows=2_000, n_estimators=10)
    explainer.explain(np.asarray(ROW, dtype=float), threshold=0.95)  # as in the notebook: mab holds this search
    mab, predictor = explainer.mab, explainer.samplers[0].predictor
    dirs = export.export_artefacts(model, explainer, category_map, root=root)
    assert explainer.mab is mab and explainer.samplers[0].predictor is predictor, "export changed the explainer"
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
    metadata = json.loads((dirs[serving.MODEL.name] / "metadata.json").read_text())
    return AsServed(model.set_params(classifier__n_jobs=1), metadata.get("elderly_floor", False))


class AsServed:
    """The exported pipeline as the model service scores it: an applicant aged 62+ at their most favoured age
    when metadata.json says ``elderly_floor`` (pipeline/loan_reasons/scoring.py)."""

    def __init__(self, pipeline, floor):
        self.pipeline, self.floor = pipeline, floor

    def predict_proba(self, X):
        from pipeline.loan_reasons.scoring import elderly_floor

        if self.floor:
            return elderly_floor(self.pipeline.predict_proba, X, FEATURES.index("age"))
        return self.pipeline.predict_proba(X)

    def predict(self, X):
        return np.argmax(self.predict_proba(X), axis=1)


@pytest.fixture(scope="session")
def applicants():
    X = load_adult("test", n_rows=300, seed=1).X
    return X[X[:, 0] >= 18]  # a minor's application is refused (422)


def post(url, payload=None, **kwargs):
    if payload is not None:
        kwargs["json"] = payload
    return requests.post(url, timeout=30, **kwargs)


def ndarray(rows):
    return {"data": {"ndarray": np.asarray(rows).tolist()}}



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
        assert data["names"] == export.CLASS_NAMES
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
    "negative age": ({"json": ndarray([[-5] + ROW[1:]])}, "outside the plausible range 17..90"),
    "age overflowing float32": ({"json": ndarray([[1e308] + ROW[1:]])}, "age 1e+308 is outside"),
    "age 2**63": ({"json": ndarray([[2**63] + ROW[1:]])}, "is outside the plausible range"),
    "capital gain 1e30": ({"json": ndarray([ROW[:8] + [1e30] + ROW[9:]])}, "capital-gain 1e+30 is outside"),
    "hours 0": ({"json": ndarray([ROW[:10] + [0] + ROW[11:]])}, "hours-per-week 0 is outside"),
    "a boolean among numbers": ({"json": {"data": {"ndarray": [[True] + ROW[1:]]}}}, "booleans"),
    "meta not an object": ({"json": {**ndarray([ROW]), "meta": 5}}, "meta must be a JSON object"),
    "meta.tags not an object": ({"json": {**ndarray([ROW]), "meta": {"tags": [1]}}}, "meta.tags"),
    "meta.puid not a string": ({"json": {**ndarray([ROW]), "meta": {"puid": 5}}}, "meta.puid"),
    "tftensor": ({"json": {"data": {"tftensor": {"dtype": "DT_DOUBLE"}}}}, "tftensor is not accepted"),
    "tensor negative dimension": (
        {"json": {"data": {"tensor": {"shape": [-1, 12], "values": ROW}}}},
        "positive integers",
    ),
    "tensor zero dimension": ({"json": {"data": {"tensor": {"shape": [0, 12], "values": []}}}}, "positive"),
    "tensor boolean values": (
        {"json": {"data": {"tensor": {"shape": [1, 12], "values": [True] + ROW[1:]}}}},
        "no booleans",
    ),
    "deeply nested JSON": (
        {"data": "[" * 100_000 + "]" * 100_000, "headers": {"Content-Type": "application/json"}},
        "nested too deeply",
    ),
    "json= query parameter": ({"json": ndarray([ROW]), "params": {"json": json.dumps(ndarray([ROW]))}}, "query"),
    "jsonData": ({"json": {"jsonData": {"age": 39}}}, "data.ndarray"),
    "strData": ({"json": {"strData": "39,5,9"}}, "data.ndarray"),
    "not JSON": ({"data": "age=39", "headers": {"Content-Type": "application/json"}}, "JSON"),
    "not JSON, no content type": ({"data": b"\x00\x01garbage"}, "JSON"),
    "form field not JSON": ({"data": {"json": "{not json"}}, "cannot decode"),
    "JSON list body": ({"json": [ROW]}, "Invalid request"),
    # Python's parser keeps the last of two keys: the first, invalid, would pass unseen.
    "duplicated key": (
        {"data": '{"data": {"ndarray": [[1]]}, "data": ' + json.dumps(ndarray([ROW])["data"]) + "}",
         "headers": {"Content-Type": "application/json"}},
        'the key "data" appears twice',
    ),
    "duplicated nested key": (
        {"data": '{"data": {"ndarray": [[1]], "ndarray": ' + json.dumps([ROW]) + "}}",
         "headers": {"Content-Type": "application/json"}},
        'the key "ndarray" appears twice',
    ),
    "duplicated key in a form field": (
        {"data": {"json": '{"meta": {}, "meta": {}, "data": ' + json.dumps(ndarray([ROW])["data"]) + "}"}},
        'the key "meta" appears twice',
    ),
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
            env={**os.environ, "PYTHONPATH": str(serving.REPO / "pipeline")},  # the loan_service package
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode != 0
        assert f"refusing to load {copy / tampered}" in result.stderr
        assert "the manifest says" in result.stderr


CODE_CONSTRUCTORS = {"_create_code", "_create_function", "CodeType", "FunctionType", "_create_lambda"}
MAX_ARTEFACT_BYTES = 20 * 1024 * 1024  # the full-size export is about 8 MB per pickle (pipeline/README.md)


def test_served_pickles_hold_no_code_no_model_in_the_explainer_and_stay_small(artefacts):
    """Portable to the Python 3.8 image: bytecode of 3.11 would not load there. alibi's saving alone would
    pickle the predictor (the model and its bytecode) and the last explanation's search (140 MB)."""
    import pickletools

    _, dirs = artefacts
    pickles = [p for d in dirs.values() for p in d.rglob("*.dill")]
    assert len(pickles) == 3
    for path in pickles:
        data = path.read_bytes()
        strings = {arg for _, arg, _ in pickletools.genops(data) if isinstance(arg, str)}
        assert not strings & CODE_CONSTRUCTORS, (path, strings & CODE_CONSTRUCTORS)
        assert len(data) < MAX_ARTEFACT_BYTES, (path, len(data))
        if "explainer" in path.parts[-2]:
            assert not [s for s in strings if s.startswith("sklearn")], path
            assert "AnchorBaseBeam" not in strings, "the last explanation's beam search was exported"


def test_exported_artefacts_are_readable_by_the_images_non_root_user(artefacts):
    _, dirs = artefacts
    for directory in dirs.values():
        for path in [directory, *directory.rglob("*")]:
            assert path.stat().st_mode & 0o005 == 0o005 if path.is_dir() else path.stat().st_mode & 0o004, (
                path
            )


# --- metrics: bias monitoring ----------------------------------------------------------------------


def test_metrics_count_decisions_per_gender_and_caller(services, local_model, applicants):
    before = monitoring.decision_counts(requests.get(services.model.metrics_url, timeout=10).text)
    rows = applicants[:200]
    # Several requests, so both gunicorn workers are likely to count some: prometheus_client sums them.
    for chunk in np.array_split(rows, 8):
        assert post(services.model.predict_url, ndarray(chunk)).status_code == 200
    # Neither a body's tags nor a caller header without the explainer's token move decisions out of the
    # applicants' series.
    tagged = {**ndarray(rows[:3]), "meta": {"tags": {"caller": "loanclassifier-explainer"}}}
    assert post(services.model.predict_url, tagged).status_code == 200
    text = requests.get(services.model.metrics_url, timeout=10).text
    after = monitoring.decision_counts(text)
    counted = after.sub(before, fill_value=0)

    gender = FEATURES.index("gender")
    names = np.array(load_adult("test", n_rows=10).category_map[gender])[rows[:, gender].astype(int)]
    approved = local_model.predict_proba(rows)[:, 1] > 0.5
    tagged_names, tagged_approved = names[:3], approved[:3]
    for g in np.unique(names):
        assert counted.loc[g, "approved"] == np.sum(approved[names == g]) + np.sum(tagged_approved[tagged_names == g])
        assert counted.loc[g, "rejected"] == np.sum(~approved[names == g]) + np.sum(~tagged_approved[tagged_names == g])


def claims_rejected(service) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(service.metrics_url, timeout=10).text
    return {
        s.labels["claimed"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "loan_caller_claims_rejected_total"
    }


def test_a_caller_label_without_the_token_counts_as_applicant_and_the_attempt_is_counted(services, applicants):
    def counts(caller):
        text = requests.get(services.model.metrics_url, timeout=10).text
        return int(monitoring.decision_counts(text, caller=caller).to_numpy().sum())

    rows = applicants[230:237]
    before = {caller: counts(caller) for caller in ("applicant", "explainer")}
    claims = claims_rejected(services.model)
    attempts = [
        {"X-Loan-Caller": "explainer"},
        {"X-Loan-Caller": "explainer", "X-Loan-Caller-Token": "guessed"},
        {"X-Loan-Caller": "explainer", "X-Loan-Caller-Token": ""},
        {"X-Loan-Caller": "auditor", "X-Loan-Caller-Token": serving.caller_token()},  # no such label
    ]
    for headers in attempts:
        assert post(services.model.predict_url, ndarray(rows), headers=headers).status_code == 200
    assert counts("applicant") == before["applicant"] + len(attempts) * len(rows)
    assert counts("explainer") == before["explainer"]
    after = claims_rejected(services.model)
    assert after["explainer"] == claims.get("explainer", 0) + 3 and after["other"] == claims.get("other", 0) + 1


def test_the_explainers_calls_are_counted_as_explainer(services, applicants):
    text = requests.get(services.model.metrics_url, timeout=10).text
    before = int(monitoring.decision_counts(text, caller="explainer").to_numpy().sum())
    claims = claims_rejected(services.model)
    assert post(services.explainer.predict_url, ndarray(applicants[5:6])).status_code == 200
    text = requests.get(services.model.metrics_url, timeout=10).text
    assert int(monitoring.decision_counts(text, caller="explainer").to_numpy().sum()) > before
    assert claims_rejected(services.model) == claims  # the explainer's token was accepted every time


def test_metrics_endpoint_is_prometheus_text_with_our_families(services):
    for service in (services.model, services.explainer):
        response = requests.get(service.metrics_url, timeout=10)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
        assert "# TYPE loan_requests_total counter" in response.text
        assert "# TYPE loan_request_duration_seconds histogram" in response.text
        assert f'service="{service.name}"' in response.text
    assert "# TYPE loan_decisions_total counter" in requests.get(services.model.metrics_url, timeout=10).text


def test_failed_requests_are_not_decisions_and_are_counted_by_status(services):
    def totals():
        text = requests.get(services.model.metrics_url, timeout=10).text
        codes = {}
        for line in monitoring.loan_metric_lines(text):
            if line.startswith("loan_requests_total") and 'service="loanclassifier"' in line:
                code = line.split('code="')[1].split('"')[0]
                codes[code] = float(line.rsplit(" ", 1)[1])
        return monitoring.decision_counts(text).to_numpy().sum(), codes

    decisions, codes = totals()
    assert post(services.model.predict_url, ndarray([ROW, [39, 99] + ROW[2:]])).status_code == 400
    assert requests.get(services.model.url + "/no-such-route", timeout=10).status_code == 404
    decisions_after, codes_after = totals()
    assert decisions_after == decisions
    assert codes_after.get("400", 0) == codes.get("400", 0) + 1
    assert codes_after.get("404", 0) == codes.get("404", 0) + 1


def test_the_audit_log_has_a_line_per_decision(services, local_model, applicants):
    import pandas as pd

    rows = applicants[200:230]
    response = post(services.model.predict_url, ndarray(rows), headers={"X-Request-Id": "auditcheck1"})
    assert response.status_code == 200 and response.headers["X-Request-Id"] == "auditcheck1"
    log = pd.read_json(services.model.audit_log, lines=True)
    mine = log[log["request_id"] == "auditcheck1"]
    assert len(mine) == len(rows) and set(mine["caller"]) == {"applicant"}
    np.testing.assert_allclose(np.stack(mine["row"].to_numpy()), rows)
    np.testing.assert_allclose(mine["probability"], local_model.predict_proba(rows)[:, 1])
    assert set(mine["artefacts"]) == {services.model.healthy()["artefacts"]}
    assert pd.to_datetime(mine["time"]).dt.tz is not None  # UTC, with its offset


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
        serving.wait_ready(model)  # gunicorn replaces the workers that missed their heartbeat while stopped
        response = post(explainer.predict_url, ndarray([ROW]))
        assert response.status_code == 200, response.text
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


# --- HTTP semantics: no client mistake is a 5xx -----------------------------------------------------


@pytest.mark.parametrize("service_name", ["model", "explainer"])
def test_unknown_routes_are_404_and_wrong_methods_405(services, service_name):
    service = getattr(services, service_name)
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        response = requests.request(method, service.predict_url, timeout=10)
        assert response.status_code == 405, (method, response.text)
        assert "POST" in response.headers["Allow"]
    for path in ("/no-such-route", "/api/v1.0/predictionz", "/send-feedback", "/route"):
        response = requests.post(service.url + path, json=ndarray([ROW]), timeout=10)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["status"]["info"]
    assert requests.post(service.url + "/health/ping", timeout=10).status_code == 405
    legacy = requests.get(service.url + "/predict", params={"json": json.dumps(ndarray([ROW]))}, timeout=10)
    assert legacy.status_code == 405, legacy.text  # Seldon's GET /predict?json=... skipped the validation


@pytest.mark.parametrize("service_name", ["model", "explainer"])
def test_a_body_over_the_limit_is_a_short_413_and_a_short_log_line(services, service_name):
    service = getattr(services, service_name)
    body = b'{"data": {"ndarray": [' + b"[1, 2, 3]," * (2 * 1024 * 1024) + b"[1]]}}"  # 20 MiB
    response = requests.post(service.predict_url, data=body, headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code == 413 and len(response.content) < 1_000, response.text[:300]
    assert "limit" in response.json()["status"]["info"]
    # Chunked: no Content-Length to refuse on, the limit holds while reading.
    response = requests.post(service.predict_url, data=iter([body[i : i + 65536] for i in range(0, len(body), 65536)]),
                             headers={"Content-Type": "application/json"}, timeout=60)  # fmt: skip
    assert response.status_code == 413 and len(response.content) < 1_000
    assert max(len(line) for line in Path(service.log).read_bytes().splitlines()) < 10_000
    assert post(service.predict_url, ndarray([ROW])).status_code == 200


def raw_http(port: int, request: bytes, timeout: float = 30) -> bytes:
    """Send bytes as they are (requests would fix what these tests break) and read the whole answer."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("service_name", ["model", "explainer"])
def test_bad_chunked_encoding_is_a_400(services, service_name):
    service = getattr(services, service_name)
    request = (
        b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
    )
    status = raw_http(service.port, request).split(b"\r\n", 1)[0]
    assert status.split()[1] == b"400", status


@pytest.mark.parametrize(
    "case",
    ["meta not an object", "tftensor", "deeply nested JSON", "duplicated nested key", "json= query parameter",
     "a boolean among numbers", "capital gain 1e30", "tensor negative dimension", "age overflowing float32"],
)  # fmt: skip
def test_explainer_refuses_bad_requests_before_any_explanation(services, case):
    """Validation first: not one call to the model (its request counter does not move)."""

    def model_requests():
        text = requests.get(services.model.metrics_url, timeout=10).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in monitoring.loan_metric_lines(text)
                   if line.startswith("loan_requests_total"))  # fmt: skip

    kwargs, words = BAD_INPUTS[case]
    before = model_requests()
    response = requests.post(services.explainer.predict_url, timeout=30, **kwargs)
    assert response.status_code == 400 and words in response.json()["status"]["info"], response.text
    assert model_requests() == before


def test_metadata_lists_the_plausible_ranges(services):
    for service in (services.model, services.explainer):
        custom = requests.get(service.url + "/metadata", timeout=10).json()["custom"]
        ranges = json.loads(custom["feature_ranges"])
        assert ranges["age"] == [17, 90] and ranges["hours-per-week"] == [1, 99]
        assert set(ranges) == {"age", "capital-gain", "capital-loss", "hours-per-week"}


# --- slow clients and probes ---------------------------------------------------------------------------


def test_slow_clients_do_not_freeze_the_model(services):
    """Connections that announce a body and send part of it: a good request is still answered, and
    the slow ones get 408 once the read timeout (LOAN_READ_TIMEOUT) passes."""
    import socket

    slow = []
    for _ in range(6):
        sock = socket.create_connection(("127.0.0.1", services.model.port), timeout=60)
        sock.sendall(b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"data\":")  # fmt: skip
        slow.append(sock)
    try:
        response = post(services.model.predict_url, ndarray([ROW]))
        assert response.status_code == 200
        for sock in slow:
            assert sock.recv(4096).split(b"\r\n", 1)[0].split()[1] == b"408"
    finally:
        for sock in slow:
            sock.close()


def probe_timeout(step) -> float:
    import yaml

    manifest = yaml.safe_load((serving.REPO / "pipeline" / "deploy" / f"{step.name}.yaml").read_text())
    container = manifest["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]
    return float(container["readinessProbe"]["timeoutSeconds"])


def test_health_is_answered_within_the_probe_timeout_while_8_explanations_run(services, applicants):
    timeout = probe_timeout(serving.EXPLAINER)
    with ThreadPoolExecutor(8) as pool:
        explanations = [pool.submit(post, services.explainer.predict_url, ndarray(applicants[i : i + 1]))
                        for i in range(8)]  # fmt: skip
        pings = []
        while not all(f.done() for f in explanations):
            started = time.monotonic()
            response = requests.get(services.explainer.url + "/health/ping", timeout=timeout)
            pings.append(time.monotonic() - started)
            assert response.status_code == 200
            time.sleep(0.2)
        statuses = [f.result().status_code for f in explanations]
    assert set(statuses) <= {200, 503} and statuses.count(200) >= 1, statuses
    print(f"/health/ping while 8 explanations ran: {len(pings)} pings, max {max(pings) * 1000:.0f} ms")


# --- exact counts under concurrency and a worker restart ----------------------------------------------


def test_counts_are_exact_with_8_concurrent_clients_and_a_worker_restart(artefacts, local_model, applicants, tmp_path):
    """Its own model service, so nothing else counts: 8 clients, then SIGTERM to a worker (gunicorn starts
    another), then more traffic. The counters equal the decisions served; the audit log has every one."""
    import pandas as pd

    root, _ = artefacts
    model = serving.start_service(serving.MODEL, root / serving.MODEL.name, port=serving.free_port(),
                                  metrics_port=serving.free_port(), log=tmp_path / "model.log")  # fmt: skip
    try:

        def send(rows_per_request=5, requests_per_client=25):
            def client(k):
                with requests.Session() as session:
                    for i in range(requests_per_client):
                        start = (k * requests_per_client + i) * rows_per_request % (len(applicants) - rows_per_request)
                        response = session.post(model.predict_url, timeout=60,
                                                json=ndarray(applicants[start : start + rows_per_request]))  # fmt: skip
                        assert response.status_code == 200, response.text
                return requests_per_client * rows_per_request

            with ThreadPoolExecutor(8) as pool:
                return sum(pool.map(client, range(8)))

        def counted():
            return int(monitoring.decision_counts(requests.get(model.metrics_url, timeout=10).text).to_numpy().sum())

        served = send()
        assert counted() == served == 8 * 25 * 5
        worker = model.healthy()["worker"]
        os.kill(worker, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and serving._alive(worker):
            time.sleep(0.1)
        assert not serving._alive(worker)
        serving.wait_ready(model)
        assert counted() == served, "the exited worker's counts were dropped"
        served += send()
        assert counted() == served
        assert len(pd.read_json(model.audit_log, lines=True)) == served
    finally:
        serving.stop_service(model)


# --- the explainer retries the model -------------------------------------------------------------------


def test_explainer_retries_a_503_from_the_model(services, artefacts, tmp_path):
    """Between the explainer and the real model, a proxy that answers every other call with 503."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    calls = {"n": 0, "503": 0}

    class Flaky(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls["n"] += 1
            if calls["n"] % 2:
                calls["503"] += 1
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            headers = {"Content-Type": "application/json", "X-Loan-Caller": "explainer",  # with its proof
                       "X-Loan-Caller-Token": self.headers.get("X-Loan-Caller-Token", "")}
            answer = requests.post(services.model.predict_url, data=body, timeout=30, headers=headers)
            self.send_response(answer.status_code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        def log_message(self, *args):
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    root, _ = artefacts
    explainer = serving.start_service(
        serving.EXPLAINER, root / serving.EXPLAINER.name, port=serving.free_port(), metrics_port=serving.free_port(),
        model_url=f"http://127.0.0.1:{proxy.server_address[1]}/api/v1.0/predictions", log=tmp_path / "explainer.log",
    )  # fmt: skip
    try:
        response = post(explainer.predict_url, ndarray([ROW]))
        assert response.status_code == 200, response.text
        direct = post(services.explainer.predict_url, ndarray([ROW])).json()["jsonData"]
        assert response.json()["jsonData"]["data"]["anchor"] == direct["data"]["anchor"]
        assert calls["503"] >= 2
    finally:
        serving.stop_service(explainer)
        proxy.shutdown()


# --- ports ---------------------------------------------------------------------------------------------


def test_a_port_in_time_wait_is_free_again():
    """What `make stop && make serve` meets: the documented port has connections in TIME_WAIT."""
    import socket

    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        server_side, _ = listener.accept()
        server_side.close()  # the side that closes first keeps the port in TIME_WAIT
        client.close()
    assert serving.free_port(port) == port


def test_audit_records_read_the_rotated_files_oldest_first(tmp_path):
    log = tmp_path / "model-audit.jsonl"
    for suffix, ids in ((".2", [1, 2]), (".1", [3]), ("", [4, 5])):
        Path(f"{log}{suffix}").write_text("".join(json.dumps({"request_id": i}) + "\n" for i in ids))
    service = serving.Service("loanclassifier", 0, 0, 0, "", "", str(log))
    assert service.audit_records()["request_id"].tolist() == [1, 2, 3, 4, 5]


# --- parsed and validated once ---------------------------------------------------------------------

ONCE = r"""
import json, os, sys, tempfile
step, artefacts = sys.argv[1], sys.argv[2]
sys.path[:0] = [os.path.join(sys.argv[3], "pipeline"), step]
os.environ.update(prometheus_multiproc_dir=tempfile.mkdtemp(), LOAN_ARTEFACTS=artefacts,
                  LOAN_AUDIT_LOG=os.path.join(tempfile.mkdtemp(), "audit.jsonl"))
import loan_service.model as core
import loan_service.validation as validation
from loan_service import seldon
from loan_service.settings import Settings
from Model import Model
from seldon_core.metrics import SeldonMetrics

counts = {"json.loads": 0, "validate_rows": 0}
def counting(name, function):
    def counted(*args, **kwargs):
        counts[name] += 1
        return function(*args, **kwargs)
    return counted
json.loads = counting("json.loads", json.loads)  # every JSON parse in the process, Seldon's included
core.validate_rows = counting("validate_rows", validation.validate_rows)
model = Model()
model.load()
seldon.patch_seldon(Settings.from_env())  # what the entry point applies
client = seldon.rest_app(model, SeldonMetrics()).test_client()
row = [39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]
results = {}
for name, kwargs in (("json body", {"json": {"data": {"ndarray": [row]}}}),
                     ("json= form field", {"data": {"json": json.dumps({"data": {"ndarray": [row]}})}})):
    counts.update({"json.loads": 0, "validate_rows": 0})
    response = client.post("/api/v1.0/predictions", **kwargs)
    results[name] = {"status": response.status_code, **counts}
print(json.dumps(results))
"""


def test_a_request_is_parsed_once_and_validated_once(artefacts):
    """Seldon's real Flask app around the wrapper, called through Flask's test client in the serving env:
    one JSON parse (Seldon reads the adapter's cached one) and one validation per request. A form field
    is the exception Seldon forces: it parses the field again itself."""
    root, _ = artefacts
    result = subprocess.run(
        [str(serving.SERVE_PYTHON), "-c", ONCE, str(serving.MODEL.directory), str(root / serving.MODEL.name),
         str(serving.REPO)],
        capture_output=True, text=True, timeout=300, cwd=serving.MODEL.directory,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts["json body"] == {"status": 200, "json.loads": 1, "validate_rows": 1}
    assert counts["json= form field"] == {"status": 200, "json.loads": 2, "validate_rows": 1}
