"""A request's JSON to the applicants' rows, each check a 400 that names the problem: plain Python, for every
adapter (``parse_json`` first, then the protocol's rows, then ``validate_rows``)."""

import json

import numpy as np

from .errors import Refused


def _unique_keys(pairs):
    """json's object_pairs_hook: a key given twice is ambiguous (Python's parser would keep the last)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise Refused(f"the key {json.dumps(key)[:80]} appears twice in one JSON object: send each key once")
    return obj


def parse_json(text, where="the body"):
    """The JSON message of ``text`` (bytes or str), duplicated keys (at any depth) and deep nesting refused."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise Refused("the JSON is nested too deeply") from None
    except ValueError as error:
        raise Refused(f"cannot decode the request: {where} is not JSON ({str(error)[:80]})") from None


def _has_bool(value, depth=0):
    if isinstance(value, bool):
        return True
    return isinstance(value, list) and depth < 4 and any(_has_bool(v, depth + 1) for v in value)


def _check_meta(message):
    meta = message.get("meta", {})
    if not isinstance(meta, dict):
        raise Refused("meta must be a JSON object")
    for key, kind in (("puid", str), ("tags", dict), ("routing", dict), ("requestPath", dict)):
        if key in meta and not isinstance(meta[key], kind):
            raise Refused(f"meta.{key} must be a {'string' if kind is str else 'JSON object'}")


def may_hold_booleans(text):
    """False when the JSON text has no true or false at all: then no value can be a boolean, and the
    per-value search (the slowest part of validating a batch) is skipped."""
    literals = (b"true", b"false") if isinstance(text, (bytes, bytearray)) else ("true", "false")
    return any(literal in text for literal in literals)


def _tensor(tensor, booleans):
    if not isinstance(tensor, dict) or "values" not in tensor:
        raise Refused("data.tensor needs shape and values")
    shape, values = tensor.get("shape"), tensor["values"]
    if not (isinstance(shape, list) and shape and all(type(n) is int and n > 0 for n in shape)):
        raise Refused(f"data.tensor.shape must be a list of positive integers, got {str(shape)[:100]}")
    if not isinstance(values, list) or (booleans and _has_bool(values)):
        raise Refused("data.tensor.values must be a flat list of numbers (no booleans)")
    if int(np.prod(shape)) != len(values):
        raise Refused(f"cannot reshape {len(values)} values into shape {shape}")
    try:
        return np.array(values).reshape(shape)
    except ValueError:
        raise Refused("data.tensor.values must be a flat list of numbers") from None


def rows_from_seldon(message, booleans=True):
    """The applicants' rows of a Seldon JSON message as an array, or HTTP 400 saying what is wrong.
    ``booleans=False``: the caller knows the message holds none (``may_hold_booleans``)."""
    if not isinstance(message, dict) or not message:
        raise Refused("Invalid request: the body must be a JSON object with data.ndarray or data.tensor")
    _check_meta(message)
    if "data" not in message:
        raise Refused(
            "send the applicants as data.ndarray (or data.tensor): rows of numbers "
            f"(jsonData, strData and binData are not accepted; got {sorted(message)})"
        )
    data = message["data"]
    if not isinstance(data, dict):
        raise Refused("cannot decode the request: data must be a JSON object")
    if "tftensor" in data:
        raise Refused("data.tftensor is not accepted: send data.ndarray or data.tensor")
    if "ndarray" in data:
        if booleans and _has_bool(data["ndarray"]):
            raise Refused("features must be numbers (category codes and amounts), got booleans")
        try:
            return np.array(data["ndarray"])
        except ValueError as error:
            raise Refused(f"cannot decode the request: rows of different lengths ({error})") from None
    if "tensor" in data:
        return _tensor(data["tensor"], booleans)
    raise Refused("empty payload: no applicants; send data.ndarray with rows of numbers")


def _check_shape(X, features):
    n = len(features)
    if not isinstance(X, np.ndarray):
        raise Refused(
            f"send the applicants as data.ndarray (or data.tensor): rows of {n} numbers, "
            f"not {type(X).__name__} (jsonData, strData and binData are not accepted)"
        )
    if X.size == 0:
        raise Refused(f"empty payload: no applicants; send rows of {n} numbers")
    if X.dtype.kind not in "iuf":
        what = {"U": "strings", "S": "strings", "b": "booleans"}.get(X.dtype.kind, "null or mixed values")
        raise Refused(f"features must be numbers (category codes and amounts), got {what}")
    if X.ndim != 2:
        raise Refused(
            f"expected a list of rows, each a list of {n} numbers (shape [rows, {n}]); "
            f"got an array of shape {list(X.shape)}"
        )
    if X.shape[1] != n:
        raise Refused(f"each row needs {n} features ({', '.join(features)}); got {X.shape[1]}")


def validate_rows(X, metadata):
    """Rows of model features as a float array, or HTTP 400 naming the problem (see metadata.json)."""
    features = metadata["features"]
    if isinstance(X, list):
        try:
            X = np.array(X)
        except ValueError as error:
            raise Refused(f"cannot decode the request: rows of different lengths ({error})") from None
    _check_shape(X, features)
    X = X.astype(float)
    bad = ~np.isfinite(X)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise Refused(f"row {row}: {features[col]} is {X[row, col]}; NaN and infinity are not allowed")
    for col, names in metadata["category_map"].items():
        codes = X[:, int(col)]
        bad = (codes != np.round(codes)) | (codes < 0) | (codes >= len(names))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise Refused(
                f"row {row}: unknown category code {codes[row]:g} for {features[int(col)]}; "
                f"valid codes are 0..{len(names) - 1}"
            )
    for name, (low, high) in metadata["ranges"].items():
        values = X[:, features.index(name)]
        bad = (values < low) | (values > high)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise Refused(
                f"row {row}: {name} {values[row]:g} is outside the plausible range {low:g}..{high:g} "
                "(the training data's domain, listed in /metadata)"
            )
    return X
