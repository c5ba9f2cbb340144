"""The KServe images' layouts, run for real without Docker, as tests/test_images.py runs the Seldon ones.

Each Dockerfile under pipeline/loan_kserve/images/ is laid out (WORKDIR, COPY, ENV; files its
dockerignore excludes left out; the artefacts from a small export), and its ENTRYPOINT + CMD started
there with .venv-kserve's python, nothing on PYTHONPATH, on 127.0.0.1. The model answers V2, the
explainer explains through it, and a gRPC predict cannot reach either: the entry point starts no gRPC.
"""

from __future__ import annotations

import json
import os
import subprocess
import types
from pathlib import Path

import pytest
import requests

from pipeline.local import serving
from tests import faults
from tests.test_images import instructions, lay_out
from tutorial import artefacts as export

IMAGES = serving.REPO / "pipeline" / "loan_kserve" / "images"
STEPS = [types.SimpleNamespace(name=name, directory=IMAGES / name) for name in (serving.MODEL.name,
                                                                                  serving.EXPLAINER.name)]  # fmt: skip
ROW = [39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]
V2_ROW = {"inputs": [{"name": "applicants", "shape": [1, 12], "datatype": "FP64", "data": ROW}]}

GRPC_PREDICT = r"""
import sys, grpc
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb, grpc_predict_v2_pb2_grpc as rpc
stub = rpc.GRPCInferenceServiceStub(grpc.insecure_channel("127.0.0.1:" + sys.argv[1]))
tensor = pb.ModelInferRequest.InferInputTensor(name="applicants", datatype="FP64", shape=[1, 12],
    contents=pb.InferTensorContents(fp64_contents=[39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]))
try:
    print("ANSWERED", stub.ModelInfer(pb.ModelInferRequest(model_name="loanclassifier", inputs=[tensor]), timeout=10))
except grpc.RpcError as error:
    print(error.code().name, error.details())
"""


def grpc_predict(port: int) -> str:
    result = subprocess.run([str(serving.KSERVE_PYTHON), "-c", GRPC_PREDICT, str(port)], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("kserve-image-artefacts")
    export.export_artefacts(*export.build_serving_artefacts(n_rows=2_000, n_estimators=10), root=root)
    return root


def start(step, artefacts: Path, tmp: Path, extra: dict | None = None) -> serving.Service:
    """The image's ENTRYPOINT and CMD in its laid-out WORKDIR (``python`` is .venv-kserve's), on 127.0.0.1,
    one worker; the gRPC port it would use is a free one, recorded as ``service.grpc_port``."""
    workdir, cmd, env = lay_out(step, tmp / step.name, artefacts / step.name)
    (entrypoint,) = [json.loads(args) for keyword, args in instructions(step.directory / "Dockerfile")
                     if keyword == "ENTRYPOINT"]  # fmt: skip
    assert entrypoint[0] == "python"
    port, grpc_port = serving.free_port(), serving.free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("LOAN_", "PYTHONPATH", "PROMETHEUS"))}
    environment.update({**env, "PATH": f"{serving.KSERVE_PYTHON.parent}{os.pathsep}{os.environ['PATH']}",
                        "PROMETHEUS_MULTIPROC_DIR": str(tmp / f"{step.name}-metrics"), "LOAN_LOOPBACK": "1",
                        "LOAN_AUDIT_LOG": str(tmp / f"{step.name}-audit.jsonl"),
                        "LOAN_CALLER_TOKEN": "images-test-token", **(extra or {})})  # fmt: skip
    log = tmp / f"{step.name}.log"
    command = [*entrypoint, *cmd, "--http_port", str(port), "--grpc_port", str(grpc_port), "--workers", "1"]
    with open(log, "ab") as out:
        process = subprocess.Popen(command, cwd=workdir, env=environment, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    service = serving.Service(step.name, process.pid, port, port, "", str(log), stack="kserve")
    try:
        serving.wait_ready(service, 180, process)
    except Exception:
        serving.stop_service(service)
        raise
    service.grpc_port = grpc_port
    return service


def listening_ports(service) -> set[int]:
    """Every TCP port a process of the service's group listens on."""
    pids = [service.pid, *faults.descendants(service.pid)]
    inodes = {os.readlink(fd)[8:-1] for pid in pids for fd in Path(f"/proc/{pid}/fd").iterdir()
              if os.readlink(fd).startswith("socket:[")}  # fmt: skip
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_each_kserve_image_serves_rest_only_and_grpc_cannot_reach_it(artefacts, tmp_path):
    services = []
    try:
        model = start(STEPS[0], artefacts, tmp_path)
        services.append(model)
        response = requests.post(model.predict_url, json=V2_ROW, timeout=60)
        assert response.status_code == 200, response.text
        assert listening_ports(model) == {model.port}, "the model listens on a port besides REST"
        assert grpc_predict(model.grpc_port).startswith("UNAVAILABLE"), "gRPC reaches the model unguarded"
        explainer = start(STEPS[1], artefacts, tmp_path, extra={"LOAN_MODEL_URL": model.predict_url})
        services.append(explainer)
        response = requests.post(explainer.predict_url, json={"instances": [ROW]}, timeout=120)
        assert response.status_code == 200, response.text
        assert response.json()["meta"]["name"] == "AnchorTabular"
        assert listening_ports(explainer) == {explainer.port}
        assert grpc_predict(explainer.grpc_port).startswith("UNAVAILABLE")
        assert 'caller="explainer"' in requests.get(model.metrics_url, timeout=10).text
    finally:
        for service in reversed(services):
            serving.stop_service(service)


def test_a_layout_without_the_core_cannot_start(artefacts, tmp_path):
    """The check above can fail: the model's layout without loan_service/ does not become ready."""
    workdir, _, _ = lay_out(STEPS[0], tmp_path / "probe", artefacts / STEPS[0].name)
    assert (workdir / "loan_service").is_dir() and (workdir / "loan_reasons").is_dir()
    broken = types.SimpleNamespace(name=STEPS[0].name, directory=tmp_path / "broken-step")
    broken.directory.mkdir()
    dockerfile = (STEPS[0].directory / "Dockerfile").read_text()
    (broken.directory / "Dockerfile").write_text(dockerfile.replace("COPY loan_service/ loan_service/\n", ""))
    with pytest.raises(RuntimeError, match="No module named 'loan_service'"):
        start(broken, artefacts, tmp_path / "b")
