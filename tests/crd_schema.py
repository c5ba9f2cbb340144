"""CustomResourceDefinitions as JSON Schema validators, for the manifests' tests (tests/crds/ holds the CRDs)."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml


def to_json_schema(schema: dict) -> dict:
    """An OpenAPI v3 schema of a CRD as JSON Schema: ``nullable`` becomes a null type, ``x-kubernetes-*``
    keys go, and objects with declared properties accept no others (kubectl's strict field validation)."""
    out = {}
    for key, value in schema.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {name: to_json_schema(s) for name, s in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = to_json_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [to_json_schema(s) for s in value]
        else:
            out[key] = value
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def crd_schema(path: Path | str, version: str = "v1") -> dict:
    """The JSON Schema of one served version of the CRD in ``path``."""
    path = Path(path)
    assert path.exists(), f"{path} is missing: the CRD the manifests are validated against (tests/crds/README.md)"
    crd = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return to_json_schema(served["schema"]["openAPIV3Schema"])


def errors(validator: jsonschema.Validator, manifest: dict) -> list[str]:
    """Every violation as ``path: message``: an empty list is a valid manifest."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(manifest)]
