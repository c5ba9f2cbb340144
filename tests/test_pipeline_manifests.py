"""The cluster path, checked without a cluster: SeldonDeployments against Seldon Core 1.17.1's CRD,
the s2i settings, the Dockerfiles, and the steps' pins resolved for Python 3.8 (the s2i image) and 3.11.
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from packaging.markers import Marker

from pipeline.local import serving
from tests.crd_schema import crd_schema

ROOT = Path(__file__).resolve().parent.parent
CRD = ROOT / "tests" / "crds" / "seldon-core-1.17.1" / "seldondeployment-crd-1.17.1.yaml"
MANIFESTS = sorted((ROOT / "pipeline" / "deploy").glob("*.yaml"))
STEPS = [serving.MODEL, serving.EXPLAINER]


@pytest.fixture(scope="module")
def validator():
    schema = crd_schema(CRD)  # 2.5 MB
    # The generated CRD types graph.children as `items: {}`; the operator's chart nests the graph there.
    graph = schema["properties"]["spec"]["properties"]["predictors"]["items"]["properties"]["graph"]
    graph["properties"]["children"]["items"] = {"$ref": "#/definitions/graph"}
    schema["definitions"] = {"graph": graph}
    return jsonschema.Draft7Validator(schema)


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def containers(manifest: dict) -> list[dict]:
    return [
        c
        for p in manifest["spec"]["predictors"]
        for cs in p["componentSpecs"]
        for c in cs["spec"]["containers"]
    ]


def test_there_is_a_manifest_per_step():
    assert sorted(load(m)["metadata"]["name"] for m in MANIFESTS) == sorted(s.name for s in STEPS)


@pytest.mark.parametrize("path", MANIFESTS, ids=[m.name for m in MANIFESTS])
def test_manifest_is_valid_against_the_seldon_crd(validator, path):
    manifest = load(path)
    assert manifest["apiVersion"] == "machinelearning.seldon.io/v1" and manifest["kind"] == "SeldonDeployment"
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(manifest)]
    assert errors == []


@pytest.mark.parametrize(
    "mistake",
    [
        "child without name",
        "child with unknown field",
        "typo in container",
        "replicas as text",
        "parameter without value",
    ],
)
def test_the_validator_catches_mistakes_children_included(validator, mistake):
    manifest = load(MANIFESTS[0])
    broken = copy.deepcopy(manifest)
    predictor = broken["spec"]["predictors"][0]
    if mistake == "child without name":
        predictor["graph"]["children"] = [{"type": "MODEL"}]
    elif mistake == "child with unknown field":
        predictor["graph"]["children"] = [
            {"name": "x", "type": "MODEL", "children": [{"name": "y", "implmentation": "z"}]}
        ]
    elif mistake == "typo in container":
        predictor["componentSpecs"][0]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    elif mistake == "replicas as text":
        predictor["replicas"] = "one"
    else:
        predictor["graph"]["parameters"] = [{"name": "n_jobs", "type": "INT"}]
    assert not list(validator.iter_errors(manifest)) and list(validator.iter_errors(broken))


@pytest.mark.parametrize("path", MANIFESTS, ids=[m.name for m in MANIFESTS])
def test_manifest_is_production_ready(path):
    manifest = load(path)
    predictor = manifest["spec"]["predictors"][0]
    pod = predictor["componentSpecs"][0]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    names = {c["name"] for c in containers(manifest)}
    assert predictor["graph"]["name"] in names  # Seldon matches graph nodes to containers by name
    for container in containers(manifest):
        image, _, tag = container["image"].rpartition(":")
        assert image and tag and tag != "latest"
        assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
        assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ping"
        # liveness runs the prediction path (tests/test_resilience.py)
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/status"
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        # the images' entry point: gRPC off, the REST app hardened (tests/test_images.py starts it)
        assert container["command"][:3] == ["python", "-m", "loan_service.seldon"], container.get("command")


@pytest.mark.parametrize("path", MANIFESTS, ids=[m.name for m in MANIFESTS])
def test_metrics_are_multiprocess_and_the_audit_trail_goes_to_stdout(path):
    """prometheus_client's multiprocess directory on the writable /tmp volume (counts exact across workers,
    kept when one exits); audit lines on stdout for the cluster's log collector."""
    manifest = load(path)
    pod = manifest["spec"]["predictors"][0]["componentSpecs"][0]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    tmp = next(m["mountPath"] for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    assert env["prometheus_multiproc_dir"] == env["PROMETHEUS_MULTIPROC_DIR"]
    assert env["prometheus_multiproc_dir"].startswith(tmp + "/")
    assert env["LOAN_AUDIT_STDOUT"] == "1" and env["LOAN_AUDIT_LOG"].startswith(tmp + "/")
    assert any(v.get("emptyDir") is not None for v in pod["volumes"])


def test_explainer_probes_leave_room_for_measured_latency_under_load():
    """/health/ping of the explainer took at most 77 ms while 8 explanations ran (make bench-serving,
    pipeline/README.md); the probe timeout is far above that, and the explainer has threads to spare
    beyond the explanations it admits."""
    explainer = load(ROOT / "pipeline" / "deploy" / "loanclassifier-explainer.yaml")
    (container,) = containers(explainer)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["readinessProbe"]["timeoutSeconds"] >= 3
    assert int(env["GUNICORN_THREADS"]) >= int(env["LOAN_MAX_EXPLANATIONS"]) + 2


def test_the_caller_token_comes_from_one_secret_in_both_deployments():
    """The explainer's proof to the model: the same Secret key in both, never a value in the manifest."""
    refs = []
    for step in STEPS:
        manifest = load(ROOT / "pipeline" / "deploy" / f"{step.name}.yaml")
        (token,) = [e for e in containers(manifest)[0]["env"] if e["name"] == "LOAN_CALLER_TOKEN"]
        assert "value" not in token
        refs.append(token["valueFrom"]["secretKeyRef"])
    assert refs[0] == refs[1] == {"name": "loan-caller-token", "key": "token"}


def test_explainer_has_long_rest_timeouts_and_calls_the_model_deployment():
    model = load(ROOT / "pipeline" / "deploy" / "loanclassifier.yaml")
    explainer = load(ROOT / "pipeline" / "deploy" / "loanclassifier-explainer.yaml")
    assert int(explainer["spec"]["annotations"]["seldon.io/rest-timeout"]) >= 30_000
    assert int(explainer["spec"]["annotations"]["seldon.io/rest-timeout"]) > int(
        model["spec"]["annotations"]["seldon.io/rest-timeout"]
    )
    env = {e["name"]: e.get("value") for e in containers(explainer)[0]["env"]}
    service = f"{model['metadata']['name']}-{model['spec']['predictors'][0]['name']}"  # Seldon's service name
    assert env["LOAN_MODEL_URL"].startswith(f"http://{service}.{model['metadata']['namespace']}.")
    assert env["LOAN_MODEL_URL"].endswith(":8000/api/v1.0/predictions")
    assert model["metadata"]["namespace"] == explainer["metadata"]["namespace"]


@pytest.mark.parametrize("step", STEPS, ids=[s.name for s in STEPS])
def test_s2i_environment_names_the_wrapper(step):
    settings = dict(
        line.split("=", 1) for line in (step.directory / ".s2i" / "environment").read_text().split()
    )
    assert settings == {"MODEL_NAME": step.interface, "SERVICE_TYPE": "MODEL", "PERSISTENCE": "0", "GRPC_WORKERS": "0"}
    assert (step.directory / f"{step.interface}.py").exists()
    # s2i runs the folder's .s2i/bin/run instead of the builder's seldon-core-microservice: the entry point
    run = (step.directory / ".s2i" / "bin" / "run").read_text()
    assert 'exec python -m loan_service.seldon "$MODEL_NAME" --service-type "$SERVICE_TYPE"' in run


@pytest.mark.parametrize("step", STEPS, ids=[s.name for s in STEPS])
def test_dockerfile_runs_the_wrapper_as_non_root_on_python_311(step):
    lines = [
        line for line in (step.directory / "Dockerfile").read_text().splitlines() if line and line[0] != "#"
    ]
    base = next(line.split()[1] for line in lines if line.startswith("FROM"))
    assert base.startswith("python:3.11.") and base.count(".") >= 2  # a pinned patch release
    assert next(line for line in lines if line.startswith("USER")).split()[1] not in ("0", "root")
    assert lines[-1] == f'CMD ["python", "-m", "loan_service.seldon", "{step.interface}", "--service-type", "MODEL"]'
    assert "5000" not in next(line for line in lines if line.startswith("EXPOSE")), "gRPC stays off"
    # The context is pipeline/ (make images): the wrapper, the two packages and the artefacts.
    folder = f"pipeline_steps/{step.name}"
    assert f"COPY {folder}/{step.interface}.py ./" in lines and "COPY loan_service/ loan_service/" in lines
    assert "COPY loan_reasons/ loan_reasons/" in lines
    assert f"COPY {folder}/artefacts/ artefacts/" in lines


def pins(path: Path, python: str = "3.11") -> dict[str, str]:
    """{name: version} of a requirements file for one Python version; every line must be name==version."""
    found = {}
    for line in path.read_text().splitlines():
        requirement, _, marker = line.split("#")[0].partition(";")
        if not requirement.strip():
            continue
        name, _, version = requirement.strip().partition("==")
        assert version, f"{path}: {line!r} is not pinned exactly"
        if not marker or Marker(marker).evaluate({"python_version": python}):
            found[name.split("[")[0].lower()] = version
    return found


@pytest.mark.parametrize("step", STEPS, ids=[s.name for s in STEPS])
def test_requirements_are_exact_pins_shared_with_the_notebook(step):
    served, notebook = pins(step.directory / "requirements.txt"), pins(ROOT / "requirements.txt")
    assert served["seldon-core"] == "1.17.1"
    assert int(served["setuptools"].split(".")[0]) < 81  # gunicorn 20.1 imports pkg_resources
    # The pickles the notebook writes load in the service; the same numpy draws the same Anchors samples.
    for shared in ("scikit-learn", "dill", "numpy"):
        assert served[shared] == notebook[shared]
    if step is serving.EXPLAINER:
        assert served["alibi"] == notebook["alibi"]


def package_index_reachable(url: str = "https://pypi.org/simple/seldon-core/") -> str | None:
    """None when the package index answers, else why not."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=20):
            return None
    except OSError as error:
        return f"{url}: {error}"


@pytest.mark.package_index
def test_requirements_resolve_on_python_38_and_311():
    """A real resolution with uv against PyPI, for the s2i image's Python 3.8 and the local 3.11."""
    unreachable = package_index_reachable()
    assert unreachable is None, (
        f"this test resolves the steps' pins against PyPI, which is unreachable ({unreachable}); "
        "offline, deselect it with `pytest -m 'not package_index'`"
    )
    uv = ROOT / ".venv" / "bin" / "uv"
    runs = {
        (step.name, version): subprocess.Popen(
            [
                str(uv),
                "pip",
                "compile",
                "--quiet",
                "--python-version",
                version,
                "--python-platform",
                "linux",
                str(step.directory / "requirements.txt"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for step in STEPS
        for version in ("3.8", "3.11")
    }
    for key, run in runs.items():
        out, err = run.communicate(timeout=600)
        assert run.returncode == 0, f"{key}: {err[-2000:]}"
        resolved = {
            line.split("==")[0].lower(): line.split("==")[1].split()[0]
            for line in out.splitlines()
            if "==" in line and not line.startswith("#")
        }
        step, python = serving.STEPS_BY_NAME[key[0]], key[1]
        assert resolved["seldon-core"] == "1.17.1"
        assert pins(step.directory / "requirements.txt", python).items() <= resolved.items(), key
