"""The images' layouts, run for real without Docker: each Dockerfile (context pipeline/) and each s2i folder.

A Dockerfile that forgets the loan_service package, or copies a file that is not there, builds an image
that cannot start. These tests read each Dockerfile's WORKDIR, COPY, ENV and CMD, lay out a temporary
directory exactly as they say (files its Dockerfile.dockerignore excludes left out; the artefacts, which
the notebook generates, from a small export), and start the CMD there as it is, with .venv-serve's
Python, on 127.0.0.1 (LOAN_LOOPBACK=1) and nothing on PYTHONPATH, so the packages must come from the
layout. Then the model answers a prediction and the explainer an explanation, calling the model of the
other layout, and a gRPC predict finds nothing listening on the gRPC port the image would use.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import requests

from pipeline.local import serving
from tutorial import artefacts as export

CONTEXT = serving.REPO / "pipeline"
ROW = [39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]
STEPS = [serving.MODEL, serving.EXPLAINER]


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, comments and blank lines left out."""
    found = []
    for line in dockerfile.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def ignore_patterns(step: serving.Step) -> list[str]:
    path = step.directory / "Dockerfile.dockerignore"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def ignored(relative: str, patterns: list[str]) -> bool:
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        for candidate in (pattern, pattern[3:] if pattern.startswith("**/") else None):
            if candidate and any(fnmatch.fnmatch(p, candidate) or fnmatch.fnmatch(p.split("/")[-1], candidate)
                                 for p in prefixes):  # fmt: skip
                return True
    return False


def generated(source: str) -> bool:
    """The notebook's artefacts: not in a checkout, written by the export."""
    return "/artefacts" in f"/{source.rstrip('/')}"


def lay_out(step: serving.Step, root: Path, artefacts: Path) -> tuple[Path, list[str], dict]:
    """The image's files under ``root`` as the Dockerfile copies them; its WORKDIR, CMD and ENV."""
    patterns, workdir, env, cmd = ignore_patterns(step), root, {}, None
    for keyword, args in instructions(step.directory / "Dockerfile"):
        if keyword == "WORKDIR":
            workdir = root / args.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif keyword == "ENV":
            key, _, value = args.partition("=")
            env[key] = value
        elif keyword == "CMD":
            cmd = json.loads(args)
        elif keyword == "COPY":
            *sources, destination = shlex.split(args)
            assert not any(s.startswith("--") for s in sources), f"{step.name}: COPY flags are not laid out here"
            for source in sources:
                origin = artefacts if generated(source) else CONTEXT / source
                assert origin.exists(), f"{step.name}/Dockerfile copies {source}, not in the context pipeline/"
                target = workdir / destination
                if origin.is_dir():
                    for file in sorted(p for p in origin.rglob("*") if p.is_file()):
                        relative = f"{source.rstrip('/')}/{file.relative_to(origin).as_posix()}"
                        if not ignored(relative, patterns):
                            (target / file.relative_to(origin)).parent.mkdir(parents=True, exist_ok=True)
                            shutil.copy2(file, target / file.relative_to(origin))
                else:
                    assert not ignored(source, patterns), f"{step.name}: {source} is copied and ignored"
                    into = target if destination.endswith("/") else target.parent
                    into.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, into / (origin.name if destination.endswith("/") else target.name))
    assert cmd, f"{step.name}/Dockerfile has no CMD"
    return workdir, cmd, env


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("image-artefacts")
    export.export_artefacts(*export.build_serving_artefacts(n_rows=2_000, n_estimators=10), root=root)
    return root


def run(workdir: Path, cmd: list[str], env: dict, tmp: Path, name: str, extra: dict | None = None) -> serving.Service:
    """The image's CMD in ``workdir`` as it is (its ``python`` is .venv-serve's), on 127.0.0.1; the gRPC port
    it would use is a free one, recorded as ``service.grpc_port``."""
    port, metrics_port, grpc_port = serving.free_port(), serving.free_port(), serving.free_port()
    metrics_dir = tmp / f"{name}-metrics"
    metrics_dir.mkdir()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("LOAN_", "PYTHONPATH", "prometheus"))
    }  # fmt: skip
    environment.update(env)
    environment.update({
        "PATH": f"{serving.SERVE_PYTHON.parent}{os.pathsep}{os.environ['PATH']}",  # the image's python
        "prometheus_multiproc_dir": str(metrics_dir), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "LOAN_AUDIT_LOG": str(tmp / f"{name}-audit.jsonl"), "LOAN_CALLER_TOKEN": "images-test-token",
        "LOAN_LOOPBACK": "1", "PREDICTIVE_UNIT_GRPC_SERVICE_PORT": str(grpc_port), "GRPC_WORKERS": "1",
        **(extra or {}),
    })  # fmt: skip
    log = tmp / f"{name}.log"
    command = [*cmd, "--http-port", str(port), "--metrics-port", str(metrics_port), "--workers", "1", "--threads", "4"]
    with open(log, "ab") as out:
        process = subprocess.Popen(command, cwd=workdir, env=environment, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    service = serving.Service(name, process.pid, port, metrics_port, "", str(log), metrics_dir=str(metrics_dir))
    try:
        serving.wait_ready(service, 180, process)
    except Exception:
        serving.stop_service(service)
        raise
    service.grpc_port = grpc_port
    return service


GRPC_PREDICT = r"""
import sys, grpc
from seldon_core.proto import prediction_pb2_grpc
from seldon_core.utils import json_to_seldon_message
stub = prediction_pb2_grpc.ModelStub(grpc.insecure_channel("127.0.0.1:" + sys.argv[1]))
try:
    answer = stub.Predict(json_to_seldon_message({"data": {"ndarray": [[39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]]}}),
                          timeout=10)
    print("ANSWERED", answer)
except grpc.RpcError as error:
    print(error.code().name, error.details())
"""


def grpc_predict(port: int) -> str:
    """A gRPC predict of one applicant on 127.0.0.1:``port``: "UNAVAILABLE ..." when nothing listens."""
    result = subprocess.run([str(serving.SERVE_PYTHON), "-c", GRPC_PREDICT, str(port)], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def predict(service: serving.Service, rows: list) -> requests.Response:
    return requests.post(service.predict_url, json={"data": {"ndarray": rows}}, timeout=120)


def test_every_copy_source_exists_in_the_pipeline_context():
    for step in STEPS:
        copies = [args for keyword, args in instructions(step.directory / "Dockerfile") if keyword == "COPY"]
        sources = [s for args in copies for s in shlex.split(args)[:-1]]
        assert "loan_service/" in sources, f"{step.name}/Dockerfile does not copy the loan_service package"
        assert "loan_reasons/" in sources, f"{step.name}/Dockerfile does not copy the loan_reasons package"
        for source in sources:
            assert generated(source) or (CONTEXT / source).exists(), (step.name, source)


def test_each_dockerfile_layout_serves_a_prediction_and_an_explanation(artefacts, tmp_path):
    services = []
    try:
        layouts = {}
        for step in STEPS:
            layouts[step.name] = lay_out(step, tmp_path / step.name, artefacts / step.name)
            workdir = layouts[step.name][0]
            assert (workdir / "loan_service" / "__init__.py").is_file() and (workdir / "artefacts").is_dir()
            assert not list(workdir.rglob("__pycache__")), "the dockerignore keeps bytecode out"
        model = run(*layouts[serving.MODEL.name], tmp_path, "model")
        services.append(model)
        response = predict(model, [ROW])
        assert response.status_code == 200, response.text
        assert np.shape(response.json()["data"]["ndarray"]) == (1, 2)
        assert grpc_predict(model.grpc_port).startswith("UNAVAILABLE"), "gRPC reaches the model unguarded"
        explainer = run(*layouts[serving.EXPLAINER.name], tmp_path, "explainer",
                        extra={"LOAN_MODEL_URL": model.predict_url})  # fmt: skip
        services.append(explainer)
        response = predict(explainer, [ROW])
        assert response.status_code == 200, response.text
        assert response.json()["jsonData"]["meta"]["name"] == "AnchorTabular"
        assert grpc_predict(explainer.grpc_port).startswith("UNAVAILABLE")
        assert "caller=\"explainer\"" in requests.get(model.metrics_url, timeout=10).text
    finally:
        for service in reversed(services):
            serving.stop_service(service)


def test_a_dockerfile_without_the_package_cannot_start(artefacts, tmp_path):
    """The check above can fail: the same layout without loan_service/ does not become ready."""
    workdir, cmd, env = lay_out(serving.MODEL, tmp_path / "image", artefacts / serving.MODEL.name)
    shutil.rmtree(workdir / "loan_service")
    with pytest.raises(RuntimeError, match="No module named 'loan_service'"):
        run(workdir, cmd, env, tmp_path, "broken")


def test_the_s2i_folders_make_stages_serve_a_prediction(artefacts, tmp_path):
    """s2i builds one folder: `make s2i-context` stages each step with the packages; its .s2i/bin/run (which
    s2i runs instead of the builder's own) serves the model there, and gRPC finds nothing listening."""
    stage = tmp_path / "s2i"
    subprocess.run(["make", "-s", "s2i-context", f"S2I_STAGE={stage}"], cwd=serving.REPO, check=True, timeout=120)
    for step in STEPS:
        folder = stage / step.name
        settings = dict(line.split("=", 1) for line in (folder / ".s2i" / "environment").read_text().split())
        assert (folder / f"{settings['MODEL_NAME']}.py").is_file() and (folder / "loan_service").is_dir()
        assert (folder / "loan_reasons").is_dir() and settings["GRPC_WORKERS"] == "0"
        assert os.access(folder / ".s2i" / "bin" / "run", os.X_OK)
        assert not (folder / "Dockerfile").exists() and not list(folder.rglob("__pycache__"))
    folder = stage / serving.MODEL.name
    shutil.rmtree(folder / "artefacts", ignore_errors=True)  # staged when a notebook run exported them: use ours
    shutil.copytree(artefacts / serving.MODEL.name, folder / "artefacts")  # s2i --copy takes them from the tree
    settings = dict(line.split("=", 1) for line in (folder / ".s2i" / "environment").read_text().split())
    service = run(folder, ["bash", str(folder / ".s2i" / "bin" / "run")], settings, tmp_path, "s2i")
    try:
        assert predict(service, [ROW]).status_code == 200
        assert grpc_predict(service.grpc_port).startswith("UNAVAILABLE"), "gRPC reaches the model unguarded"
    finally:
        serving.stop_service(service)
