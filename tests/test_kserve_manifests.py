"""The KServe path checked without a cluster: the InferenceService against KServe v0.20.0's CRD, strictly."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.crd_schema import crd_schema, errors

ROOT = Path(__file__).resolve().parent.parent
CRD = ROOT / "tests" / "crds" / "kserve-0.20.0" / "serving.kserve.io_inferenceservices-v0.20.0.yaml"
MANIFEST = ROOT / "pipeline" / "deploy" / "kserve" / "loanclassifier.yaml"


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft7Validator(crd_schema(CRD, "v1beta1"))


@pytest.fixture
def manifest():
    return yaml.safe_load(MANIFEST.read_text())


def components(manifest):
    return [manifest["spec"][name] for name in ("predictor", "explainer")]


def test_the_inference_service_is_valid_against_the_crd(validator, manifest):
    assert (manifest["apiVersion"], manifest["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    assert errors(validator, manifest) == []


@pytest.mark.parametrize("mistake", ["explainer.alibi", "typo in container", "port as text", "unknown top field"])
def test_the_strict_check_rejects_unknown_fields(validator, manifest, mistake):
    broken = copy.deepcopy(manifest)
    spec = broken["spec"]
    if mistake == "explainer.alibi":  # removed from the CRD in 2024; KServe's own sample still sets it
        spec["explainer"]["alibi"] = {"type": "AnchorTabular", "storageUri": "gs://bucket/explainer"}
    elif mistake == "typo in container":
        spec["predictor"]["containers"][0]["imagePulPolicy"] = "Always"
    elif mistake == "port as text":
        spec["predictor"]["containers"][0]["ports"][0]["containerPort"] = "8080"
    else:
        spec["explainers"] = {}
    assert errors(validator, broken) != []


def test_both_containers_run_without_grpc_root_or_a_committed_token(manifest):
    for component in components(manifest):
        assert component["securityContext"]["runAsNonRoot"] is True and component["securityContext"]["runAsUser"] != 0
        (container,) = component["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert [p["containerPort"] for p in container["ports"]] == [8080], "only the REST port"
        assert not any("grpc" in arg.lower() for arg in container["args"])
        env = {e["name"]: e for e in container["env"]}
        assert env["LOAN_CALLER_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "loan-caller-token", "key": "token"}
        assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    explainer_env = {e["name"]: e.get("value") for e in manifest["spec"]["explainer"]["containers"][0]["env"]}
    assert explainer_env["LOAN_MODEL_URL"].endswith("/v2/models/loanclassifier/infer")
