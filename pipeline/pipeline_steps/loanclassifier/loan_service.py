"""Production hardening of the loan wrappers (Seldon Core 1.17.1): what Model.py and Explainer.py leave out.

The same file sits in both step folders, because each s2i build context holds only its own folder;
tests/test_serving.py checks that the two copies are identical. It gives a wrapper:

- ``verified``: artefacts loaded only if their sha256 matches the manifest written at export;
- ``Guard``: the Flask blueprint Seldon registers from ``model_error_handler``. It reads the body with a
  size limit (413) and a read timeout (408), validates the JSON before Seldon decodes it (400 naming
  the problem: shapes, booleans, category codes, plausible ranges from the training data), answers
  unknown routes and wrong methods with 404 and 405, counts requests and latencies, and, once a
  response is 200, counts the decisions and writes the audit trail;
- Prometheus metrics in ``prometheus_client``'s multiprocess mode: exact under any number of threads
  and workers, and kept when a worker exits (counter files stay in the directory), served on Seldon's
  metrics port next to Seldon's own metrics;
- ``ModelClient``: the explainer's calls to the model, retried on connection errors and 503s.
"""

import datetime
import hashlib
import io
import json
import logging
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

# prometheus_client 0.8 (seldon-core 1.17.1's pin) reads prometheus_multiproc_dir; later releases read
# PROMETHEUS_MULTIPROC_DIR. The directory must be set before any process of the service counts: the
# manifests and `serving.py` set it; a wrapper started without it gets a fresh one here, in the main
# process, before Seldon forks its REST workers and its metrics server.
_MULTIPROC = os.environ.get("prometheus_multiproc_dir") or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if not _MULTIPROC:
    _MULTIPROC = tempfile.mkdtemp(prefix="loan-metrics-")
os.environ["prometheus_multiproc_dir"] = os.environ["PROMETHEUS_MULTIPROC_DIR"] = _MULTIPROC
os.makedirs(_MULTIPROC, exist_ok=True)

import requests  # noqa: E402
from flask import Blueprint, g, request  # noqa: E402
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, values  # noqa: E402
from requests.adapters import HTTPAdapter  # noqa: E402
from seldon_core.flask_utils import SeldonMicroserviceException  # noqa: E402
from seldon_core.metrics import SeldonMetrics  # noqa: E402
from urllib3.exceptions import ProtocolError  # noqa: E402
from urllib3.util.retry import Retry  # noqa: E402
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound  # noqa: E402
from werkzeug.wrappers import Response  # noqa: E402

values.ValueClass = values.get_value_class()  # the library's choice, made again now the directory is set

REGISTRY = CollectorRegistry()  # ours only: Seldon's metrics server adds the multiprocess totals below
DECISIONS = Counter(
    "loan_decisions",
    "Loan decisions served, one per row, counted once the response is 200",
    ["gender", "decision", "caller"],
    registry=REGISTRY,
)
REQUESTS = Counter(
    "loan_requests", "HTTP requests answered (not health probes)", ["service", "code"], registry=REGISTRY
)
DURATION = Histogram(
    "loan_request_duration_seconds",
    "Time to answer a request (not health probes)",
    ["service"],
    # milliseconds for the model, seconds for the explainer
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)


def _seldon_metrics_with_ours(self):
    """Seldon's metrics server (one process, port 6000) answers /metrics with its own families and ours,
    summed over every worker that ever wrote them."""
    from prometheus_client import exposition

    registry = CollectorRegistry()
    registry.register(self)
    multiprocess.MultiProcessCollector(registry)
    return exposition.generate_latest(registry).decode("utf-8"), exposition.CONTENT_TYPE_LATEST


# seldon-core 1.17.1 builds the /metrics answer in SeldonMetrics.generate_metrics and offers no hook to add
# a collector; tests/test_serving.py reads our families from the metrics port, so an upgrade that
# changes this fails there.
SeldonMetrics.generate_metrics = _seldon_metrics_with_ours

CALLERS = {"explainer"}  # X-Loan-Caller values; anything else is an applicant
PREDICT_ROUTES = {"/api/v1.0/predictions", "/api/v0.1/predictions", "/predict"}
UNSERVED_ROUTES = {"/send-feedback", "/api/v1.0/feedback", "/api/v0.1/feedback", "/transform-input",
                   "/transform-output", "/route", "/aggregate"}  # fmt: skip
MAX_BODY = int(os.environ.get("LOAN_MAX_BODY_BYTES", str(2 * 1024 * 1024)))  # 2 MiB: ~40,000 rows
READ_TIMEOUT = float(os.environ.get("LOAN_READ_TIMEOUT", "10"))  # seconds to receive a whole body


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def verified(directory, name):
    """The path of an artefact whose sha256 matches the manifest written with it, else a clear error."""
    directory = Path(directory)
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        raise RuntimeError(f"{manifest} is missing: export the artefacts first (make run, or make serve)")
    expected = json.loads(manifest.read_text())["sha256"].get(name)
    actual = sha256(directory / name)
    if actual != expected:
        raise RuntimeError(
            f"refusing to load {directory / name}: its sha256 is {actual}, the manifest says "
            f"{expected}. The file changed after export; export the artefacts again."
        )
    return directory / name


def bad_request(message, status=400, reason="LOAN_BAD_INPUT"):
    return SeldonMicroserviceException(message, status_code=status, reason=reason)


def _error(status, message, reason):
    body = json.dumps({"status": {"status": 1, "info": message, "code": -1, "reason": reason}})
    return Response(body, status=status, mimetype="application/json")


# --- validation ------------------------------------------------------------------------------------


def _has_bool(value, depth=0):
    if isinstance(value, bool):
        return True
    return isinstance(value, list) and depth < 4 and any(_has_bool(v, depth + 1) for v in value)


def rows_from_json(message):
    """The applicants' rows of a Seldon JSON message as an array, or HTTP 400 saying what is wrong."""
    if not isinstance(message, dict) or not message:
        raise bad_request("Invalid request: the body must be a JSON object with data.ndarray or data.tensor")
    meta = message.get("meta", {})
    if not isinstance(meta, dict):
        raise bad_request("meta must be a JSON object")
    for key, kind in (("puid", str), ("tags", dict), ("routing", dict), ("requestPath", dict)):
        if key in meta and not isinstance(meta[key], kind):
            raise bad_request(f"meta.{key} must be a {'string' if kind is str else 'JSON object'}")
    if "data" not in message:
        raise bad_request(
            "send the applicants as data.ndarray (or data.tensor): rows of numbers "
            f"(jsonData, strData and binData are not accepted; got {sorted(message)})"
        )
    data = message["data"]
    if not isinstance(data, dict):
        raise bad_request("cannot decode the request: data must be a JSON object")
    if "tftensor" in data:
        raise bad_request("data.tftensor is not accepted: send data.ndarray or data.tensor")
    if "ndarray" in data:
        rows = data["ndarray"]
        if _has_bool(rows):
            raise bad_request("features must be numbers (category codes and amounts), got booleans")
        try:
            return np.array(rows)
        except ValueError as error:
            raise bad_request(f"cannot decode the request: rows of different lengths ({error})") from None
    if "tensor" in data:
        tensor = data["tensor"]
        if not isinstance(tensor, dict) or "values" not in tensor:
            raise bad_request("data.tensor needs shape and values")
        shape, values_ = tensor.get("shape"), tensor["values"]
        if not (isinstance(shape, list) and shape and all(type(n) is int and n > 0 for n in shape)):
            raise bad_request(f"data.tensor.shape must be a list of positive integers, got {str(shape)[:100]}")
        if not isinstance(values_, list) or _has_bool(values_):
            raise bad_request("data.tensor.values must be a flat list of numbers (no booleans)")
        if int(np.prod(shape)) != len(values_):
            raise bad_request(f"cannot reshape {len(values_)} values into shape {shape}")
        try:
            return np.array(values_).reshape(shape)
        except ValueError:
            raise bad_request("data.tensor.values must be a flat list of numbers") from None
    raise bad_request("empty payload: no applicants; send data.ndarray with rows of numbers")


def validate_rows(X, metadata):
    """Rows of model features as a float array, or HTTP 400 naming the problem (see metadata.json)."""
    features, n = metadata["features"], len(metadata["features"])
    if not isinstance(X, np.ndarray):
        raise bad_request(
            f"send the applicants as data.ndarray (or data.tensor): rows of {n} numbers, "
            f"not {type(X).__name__} (jsonData, strData and binData are not accepted)"
        )
    if X.size == 0:
        raise bad_request(f"empty payload: no applicants; send rows of {n} numbers")
    if X.dtype.kind not in "iuf":
        what = {"U": "strings", "S": "strings", "b": "booleans"}.get(X.dtype.kind, "null or mixed values")
        raise bad_request(f"features must be numbers (category codes and amounts), got {what}")
    if X.ndim != 2:
        raise bad_request(
            f"expected a list of rows, each a list of {n} numbers (shape [rows, {n}]); "
            f"got an array of shape {list(X.shape)}"
        )
    if X.shape[1] != n:
        raise bad_request(f"each row needs {n} features ({', '.join(features)}); got {X.shape[1]}")
    X = X.astype(float)
    bad = ~np.isfinite(X)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise bad_request(f"row {row}: {features[col]} is {X[row, col]}; NaN and infinity are not allowed")
    for col, names in metadata["category_map"].items():
        codes = X[:, int(col)]
        bad = (codes != np.round(codes)) | (codes < 0) | (codes >= len(names))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise bad_request(
                f"row {row}: unknown category code {codes[row]:g} for {features[int(col)]}; "
                f"valid codes are 0..{len(names) - 1}"
            )
    for name, (low, high) in metadata["ranges"].items():
        values_ = X[:, features.index(name)]
        bad = (values_ < low) | (values_ > high)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise bad_request(
                f"row {row}: {name} {values_[row]:g} is outside the plausible range {low:g}..{high:g} "
                "(the training data's domain, listed in /metadata)"
            )
    return X


# --- audit trail -----------------------------------------------------------------------------------


def audit_logger(service):
    """One JSON line per decision or explanation: to a size-bounded file shared by the service's workers
    (LOAN_AUDIT_LOG; rotation safe across processes with concurrent-log-handler) and, with
    LOAN_AUDIT_STDOUT=1 (the cluster), to stdout, where the cluster's log collector (Fluentd, Fluent Bit)
    ships it to long-term storage."""
    from concurrent_log_handler import ConcurrentRotatingFileHandler

    logger = logging.getLogger(f"loan.audit.{service}")
    if logger.handlers:
        return logger
    logger.propagate = False
    if os.environ.get("LOAN_AUDIT", "1") == "0":  # only to measure its cost (scripts/bench_serving.py)
        logger.setLevel(logging.CRITICAL + 1)
        logger.addHandler(logging.NullHandler())
        return logger
    logger.setLevel(logging.INFO)
    path = Path(os.environ.get("LOAN_AUDIT_LOG") or Path(tempfile.gettempdir()) / f"{service}-audit.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    max_bytes = int(os.environ.get("LOAN_AUDIT_MAX_BYTES", str(20 * 1024 * 1024)))
    handlers = [ConcurrentRotatingFileHandler(str(path), maxBytes=max_bytes, backupCount=3)]
    if os.environ.get("LOAN_AUDIT_STDOUT", "0") == "1":
        handlers.append(logging.StreamHandler(sys.stdout))
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    return logger


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


# --- the guard: Seldon's model_error_handler blueprint ------------------------------------------------


class Guard:
    """What runs around every request of one service (the wrapper names it as ``model_error_handler``)."""

    def __init__(self, service, one_row=False, decisions=False):
        self.service, self.one_row, self.decisions = service, one_row, decisions
        self.metadata, self.digest = None, None
        self.audit = None
        self.blueprint = Blueprint(f"loan_guard_{service}", __name__)
        self.blueprint.record_once(lambda state: self._install(state.app))
        self.blueprint.before_app_request(self._validate)
        self.blueprint.after_app_request(self._record)
        self.blueprint.app_errorhandler(HTTPException)(self._http_error)

    def load(self, artefacts):
        """Read and check metadata.json (features, category codes, plausible ranges) and the manifest."""
        artefacts = Path(artefacts)
        metadata = json.loads(verified(artefacts, "metadata.json").read_text())
        metadata["ranges"] = {name: tuple(r) for name, r in metadata["ranges"].items()}
        self.metadata, self.digest = metadata, sha256(artefacts / "manifest.json")
        self.audit = audit_logger(self.service)
        # The series exist from the start at 0, so Prometheus sees the first request as an increase.
        DURATION.labels(self.service)
        REQUESTS.labels(self.service, "200")
        if self.decisions:
            genders = metadata["category_map"][str(metadata["features"].index("gender"))]
            for gender in genders:
                for decision in ("approved", "rejected"):
                    for caller in ("applicant", *CALLERS):
                        DECISIONS.labels(gender, decision, caller)
        return metadata

    def seldon_metadata(self, artefacts):
        """Seldon's /metadata: inputs, outputs and, as strings, the ranges requests are checked against."""
        metadata = json.loads((Path(artefacts) / "metadata.json").read_text())
        n = len(metadata["features"])
        return {
            "name": self.service,
            "versions": [sha256(Path(artefacts) / "manifest.json")[:12]],
            "platform": "seldon",
            "inputs": [{"messagetype": "tensor", "schema": {"names": metadata["features"], "shape": [n]}}],
            "outputs": [{"messagetype": "tensor", "schema": {"names": metadata["class_names"]}}],
            "custom": {
                "feature_ranges": json.dumps(metadata["ranges"]),
                "category_codes": json.dumps({metadata["features"][int(i)]: len(c)
                                              for i, c in metadata["category_map"].items()}),  # fmt: skip
                "max_body_bytes": str(MAX_BODY),
            },
        }

    def health(self):
        if self.metadata is None:
            raise bad_request(f"{self.service} not loaded", status=503, reason="LOAN_NOT_READY")
        return {"model": self.service, "artefacts": self.digest, "worker": os.getpid()}

    def validate(self, X):
        rows = validate_rows(X, self.metadata)
        if self.one_row and rows.shape[0] != 1:
            raise bad_request(f"explain one applicant per request, got {rows.shape[0]} rows")
        return rows

    # Flask hooks ------------------------------------------------------------------------------------

    def _install(self, app):
        # Flask's documented way to wrap the WSGI app: the body is read here, before Flask or Seldon.
        app.wsgi_app = _BodyAndMetrics(app.wsgi_app, self.service)

    def _validate(self):
        g.loan_request_id = _request_id()
        if request.path in UNSERVED_ROUTES:
            raise bad_request(f"{request.path} is not served here", status=404, reason="LOAN_NOT_FOUND")
        if isinstance(request.routing_exception, MethodNotAllowed) and request.path not in _routes():
            raise NotFound()  # only the static files' catch-all route matched, for GET: the path does not exist
        if request.path in PREDICT_ROUTES and request.method not in ("POST", "OPTIONS"):
            # Seldon's legacy /predict takes GET with a json= parameter, and its app serves static files
            # from "/", so a GET elsewhere would be "no such file": predictions are POST, all else 405.
            raise MethodNotAllowed(valid_methods=["POST"])
        if request.path not in PREDICT_ROUTES or request.method != "POST":
            return None  # Flask's routing answers 404/405; health and metadata need no body
        if "json" in request.args:
            raise bad_request("send the request as the body, not as a json= query parameter")
        if request.content_type and "multipart/form-data" in request.content_type:
            raise bad_request("send JSON (application/json), not multipart/form-data")
        text = request.form.get("json") if request.mimetype == "application/x-www-form-urlencoded" else None
        try:
            message = json.loads(text if text is not None else request.get_data())
        except RecursionError:
            raise bad_request("the JSON is nested too deeply") from None
        except ValueError as error:
            where = "the json form field" if text is not None else "the body"
            raise bad_request(f"cannot decode the request: {where} is not JSON ({str(error)[:80]})") from None
        if self.metadata is not None:
            self.validate(rows_from_json(message))  # before Seldon decodes it and before any expensive work
        g.loan_caller = request.headers.get("X-Loan-Caller", "applicant")
        g.loan_caller = g.loan_caller if g.loan_caller in CALLERS else "applicant"
        return None

    def _http_error(self, error):
        # Without this, Seldon's catch-all handler turns 404, 405 and 413 into 500.
        response = _error(error.code, error.description, error.name.upper().replace(" ", "_"))
        if getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    def _record(self, response):
        response.headers["X-Request-Id"] = g.get("loan_request_id", "")
        records = g.pop("loan_records", None)
        if response.status_code == 200 and records:
            for record in records:
                record(g.loan_request_id)
        return response

    # what the wrappers call from predict() ----------------------------------------------------------

    def on_success(self, record):
        """Run ``record(request_id)`` once this request's response is a 200 (gRPC has no Flask request:
        at once)."""
        from flask import has_request_context

        if has_request_context():
            g.setdefault("loan_records", []).append(record)
        else:
            record(uuid.uuid4().hex)

    def count_decisions(self, rows, probabilities):
        """Decisions per gender, counted and audited once the response is 200."""
        caller = g.get("loan_caller", "applicant") if _in_request() else "applicant"
        metadata = self.metadata
        gender_col = metadata["features"].index("gender")
        genders = np.asarray(metadata["category_map"][str(gender_col)])[rows[:, gender_col].astype(int)]
        approved = probabilities[:, 1] > 0.5  # the decision is the more probable class

        def record(request_id):
            audit = self.audit.isEnabledFor(logging.INFO)
            for gender in np.unique(genders):
                for decision, mask in (("approved", approved), ("rejected", ~approved)):
                    count = int(np.sum(mask & (genders == gender)))
                    if count:
                        DECISIONS.labels(str(gender), decision, caller).inc(count)
            if not audit:
                return
            stamp = now()
            if caller != "applicant":  # perturbed samples: one line per request, not thousands
                self.audit.info(json.dumps({
                    "request_id": request_id, "time": stamp, "service": self.service,
                    "artefacts": self.digest, "caller": caller, "rows": len(rows),
                    "approved": int(approved.sum())}))  # fmt: skip
                return
            # One write of all the request's lines: one lock of the shared file, not one per row.
            self.audit.info("\n".join(json.dumps({
                "request_id": request_id, "time": stamp, "service": self.service,
                "artefacts": self.digest, "caller": caller, "row": row,
                "decision": "approved" if p > 0.5 else "rejected", "probability": p})
                for row, p in zip(rows.tolist(), probabilities[:, 1].tolist())))  # fmt: skip

        self.on_success(record)

    def audit_explanation(self, row, explanation, probability):
        data = explanation["data"]

        def record(request_id):
            self.audit.info(json.dumps({
                "request_id": request_id, "time": now(), "service": self.service, "artefacts": self.digest,
                "caller": "applicant", "row": row.tolist(),
                "decision": "approved" if probability > 0.5 else "rejected", "probability": probability,
                "anchor": data["anchor"], "precision": data["precision"], "coverage": data["coverage"]}))  # fmt: skip

        self.on_success(record)


def _routes():
    from flask import current_app

    return {rule.rule for rule in current_app.url_map.iter_rules() if rule.endpoint != "static"}


def _in_request():
    from flask import has_request_context

    return has_request_context()


def _request_id():
    given = request.headers.get("X-Request-Id", "")
    return given if given.isalnum() and len(given) <= 64 else uuid.uuid4().hex


class _BodyAndMetrics:
    """WSGI middleware: reads the body within MAX_BODY bytes and READ_TIMEOUT seconds, then counts the
    request and its latency (health probes are not requests of the service)."""

    def __init__(self, app, service):
        self.app, self.service = app, service

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        status = {}

        def recording(line, headers, exc_info=None):
            status["code"] = line.split(" ", 1)[0]
            return start_response(line, headers, exc_info)

        refusal = self._read_body(environ)
        result = refusal(environ, recording) if refusal is not None else self.app(environ, recording)
        if not environ.get("PATH_INFO", "").startswith(("/health", "/api/v1.0/health")):
            REQUESTS.labels(self.service, status.get("code", "500")).inc()
            DURATION.labels(self.service).observe(time.perf_counter() - started)
        return result

    @staticmethod
    def _read_body(environ):
        length = environ.get("CONTENT_LENGTH") or None
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if length is None and not chunked:
            return None
        try:
            expected = int(length) if length is not None else None
        except ValueError:
            return _error(400, "Content-Length is not a number", "LOAN_BAD_INPUT")
        too_large = _error(413, f"the body is over the limit of {MAX_BODY} bytes", "LOAN_TOO_LARGE")
        if expected is not None and expected > MAX_BODY:
            return too_large
        sock = environ.get("gunicorn.socket")
        if sock is not None:
            sock.settimeout(READ_TIMEOUT)  # a client that stops sending frees its thread
        try:
            body = environ["wsgi.input"].read(expected if expected is not None else MAX_BODY + 1)
        except TimeoutError:
            return _error(408, f"the body did not arrive within {READ_TIMEOUT:g} s", "LOAN_TIMEOUT")
        except Exception as error:  # gunicorn's errors for bad chunked encoding or a closed connection
            return _error(400, f"could not read the body: {type(error).__name__}", "LOAN_BAD_INPUT")
        finally:
            if sock is not None:
                sock.settimeout(None)
        if len(body) > MAX_BODY:
            return too_large
        if expected is not None and len(body) < expected:
            return _error(400, "the body is shorter than its Content-Length", "LOAN_BAD_INPUT")
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return None


# --- the explainer's client of the model -------------------------------------------------------------


class ModelClient:
    """POST rows to the model service, as caller "explainer". A prediction is idempotent, so it is retried:
    twice, with 0.1 s and 0.2 s backoff, on refused connections and 503s (a restarting or busy model), and
    once on a dropped keep-alive connection; not after a read timeout (a model that hangs, not one gone)."""

    def __init__(self, url, timeout=5.0):
        self.url, self.timeout = url, (2.0, timeout)  # seconds to connect, to wait for one batch
        self.local = threading.local()  # requests.Session is not documented as thread-safe

    def session(self):
        if not hasattr(self.local, "session"):
            retry = Retry(total=2, connect=2, read=0, status=2, backoff_factor=0.1, status_forcelist=[503],
                          allowed_methods=["POST"], raise_on_status=False)  # fmt: skip
            self.local.session = requests.Session()
            self.local.session.mount("http://", HTTPAdapter(max_retries=retry))
            self.local.session.mount("https://", HTTPAdapter(max_retries=retry))
        return self.local.session

    def probabilities(self, X):
        X = np.asarray(X, dtype=float)
        payload = {"data": {"tensor": {"shape": list(X.shape), "values": X.ravel().tolist()}}}
        for attempt in (1, 2):
            try:
                response = self.session().post(
                    self.url,
                    data=json.dumps(payload),
                    timeout=self.timeout,
                    headers={"Content-Type": "application/json", "X-Loan-Caller": "explainer"},
                )
                break
            except (requests.ConnectionError, requests.Timeout) as error:
                # After the retries urllib3 reports its last error as the reason (ReadTimeoutError, ...).
                cause = getattr(error.args[0] if error.args else None, "reason", error)
                if attempt == 1 and isinstance(cause, ProtocolError):
                    continue  # a kept-alive connection the model closed (a worker restarted): once more
                raise bad_request(
                    f"the loan model service at {self.url} is not answering ({type(cause).__name__}); "
                    "no explanation without it, try again when it is back",
                    status=503,
                    reason="LOAN_MODEL_UNAVAILABLE",
                ) from None
        if response.status_code == 400:
            info = response.json().get("status", {}).get("info", response.text[:300])
            raise bad_request(f"the model rejected the applicant: {info}")
        if not response.ok:
            raise bad_request(
                f"the loan model service at {self.url} answered HTTP {response.status_code}: "
                f"{response.text[:300]}",
                status=502 if response.status_code != 503 else 503,
                reason="LOAN_MODEL_ERROR",
            )
        tensor = response.json()["data"]["tensor"]
        return np.reshape(tensor["values"], tensor["shape"])

    def labels(self, X):
        """Class labels: the predictor Anchors samples with."""
        return np.argmax(self.probabilities(X), axis=1)


def load_remote_explainer(path, predictor):
    """alibi's ``load_explainer`` with a predictor that is a remote service.

    Setting a predictor, alibi calls it on a row of zeros to learn whether it returns labels or
    probabilities; that row is no valid applicant (age 0), and the model may not be up yet when the
    explainer starts. So a local stand-in that returns labels is set first, then the samplers get the
    remote ``predictor``, which returns labels too."""
    from alibi.saving import load_explainer

    explainer = load_explainer(path, predictor=lambda X: np.zeros(len(X), dtype=int))
    explainer._predictor = explainer.samplers[0].predictor = predictor
    return explainer


class Admission:
    """At most ``limit`` explanations inside a worker (one runs, the others wait their turn): beyond that,
    503 at once, so threads stay free for health probes."""

    def __init__(self, limit):
        self.slots, self.lock = threading.BoundedSemaphore(limit), threading.Lock()

    def __enter__(self):
        if not self.slots.acquire(blocking=False):
            raise bad_request("busy explaining: try again shortly", status=503, reason="LOAN_BUSY")
        self.lock.acquire()  # an alibi explainer keeps per-explanation state: one at a time
        return self

    def __exit__(self, *exc):
        self.lock.release()
        self.slots.release()
