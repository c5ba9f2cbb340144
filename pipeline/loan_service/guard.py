"""The Flask blueprint Seldon registers from a wrapper's ``model_error_handler``: what runs around every
request of one service. Through Flask's documented hooks it wraps the WSGI app, parses and validates
each prediction request once, before Seldon decodes it, and keeps the rows for the wrapper's ``predict``.
"""

import json
import os
from pathlib import Path

from flask import Blueprint, g, has_request_context, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from .artefacts import sha256, verified
from .audit import audit_logger
from .body import MAX_BODY, BodyAndMetrics
from .caller import CALLERS, caller_of
from .errors import bad_request, error_response
from .liveness import Liveness, canned_applicant
from .metrics import start_series
from .reasons_service import asks_reasons
from .records import Records
from .validation import may_hold_booleans, parse_json, rows_from_json, validate_rows

PREDICT_ROUTES = {"/api/v1.0/predictions", "/api/v0.1/predictions", "/predict"}
UNSERVED_ROUTES = {"/send-feedback", "/api/v1.0/feedback", "/api/v0.1/feedback", "/transform-input",
                   "/transform-output", "/route", "/aggregate"}  # fmt: skip


class _StrictJSON(DefaultJSONProvider):
    """The app's JSON parser (Flask's documented ``app.json``): duplicated keys are a 400."""

    def loads(self, s, **kwargs):
        return parse_json(s)


class Guard(Records):
    """Validation, errors, caller, metrics and audit of one service (the wrapper's ``model_error_handler``)."""

    def __init__(self, service, one_row=False, decisions=False):
        self.service, self.one_row, self.decisions = service, one_row, decisions
        self.metadata, self.digest, self.audit = None, None, None
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
        genders = metadata["category_map"][str(metadata["features"].index("gender"))] if self.decisions else ()
        start_series(self.service, genders, CALLERS)
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

    def check(self, X, many=False):
        """``X`` validated now: rows of model features as floats, or a 400. ``many``: a batch is allowed
        even where one row is the rule (the explainer's reasons)."""
        rows = validate_rows(X, self.metadata)
        if self.one_row and not many and rows.shape[0] != 1:
            raise bad_request(f"explain one applicant per request, got {rows.shape[0]} rows "
                              '(principal reasons take a batch: meta.tags.explain = "reasons")')
        return rows

    def liveness(self, predict):
        """The liveness check of ``predict`` (loan_service.liveness): an applicant valid by construction,
        checked like a request, run under a deadline."""
        return Liveness(lambda: predict(self.check(canned_applicant(self.metadata))))

    def rows(self, X, many=False):
        """The rows the guard validated for this request, before Seldon decoded ``X``; ``X`` checked now
        where no guard ran (gRPC, a direct call)."""
        rows = g.get("loan_rows") if has_request_context() else None
        return rows if rows is not None else self.check(X, many)

    # Flask hooks ------------------------------------------------------------------------------------

    def _install(self, app):
        # Flask's documented ways: wrap the WSGI app (the body is read there, before Flask or Seldon), and
        # the app's JSON parser, which Seldon's request.get_json() uses; its result is cached per request.
        app.wsgi_app = BodyAndMetrics(app.wsgi_app, self.service)
        app.json = _StrictJSON(app)

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
        message, text = _message()
        if self.metadata is not None:  # before Seldon decodes it and before any expensive work
            rows = rows_from_json(message, booleans=may_hold_booleans(text))  # meta checked there
            g.loan_rows = self.check(rows, many=asks_reasons(message.get("meta")))
        g.loan_caller = caller_of(request.headers, self.service)
        return None

    def _http_error(self, error):
        # Without this, Seldon's catch-all handler turns 404, 405 and 413 into 500.
        response = error_response(error.code, error.description, error.name.upper().replace(" ", "_"))
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


def _message():
    """The request's JSON message and its text, parsed once: Seldon's get_request() reads the same cached result
    (``request.get_json``); only a form's ``json`` field does Seldon parse again."""
    if "json" in request.args:
        raise bad_request("send the request as the body, not as a json= query parameter")
    if request.content_type and "multipart/form-data" in request.content_type:
        raise bad_request("send JSON (application/json), not multipart/form-data")
    if request.mimetype == "application/x-www-form-urlencoded" and "json" in request.form:
        text = request.form["json"]
        return parse_json(text, where="the json form field"), text
    if not request.is_json:
        raise bad_request(f"send JSON with Content-Type: application/json, not {request.mimetype or 'none'}")
    return request.get_json(), request.get_data()  # the body read once by BodyAndMetrics, cached


def _routes():
    from flask import current_app

    return {rule.rule for rule in current_app.url_map.iter_rules() if rule.endpoint != "static"}


def _request_id():
    import uuid

    given = request.headers.get("X-Request-Id", "")
    return given if given.isalnum() and len(given) <= 64 else uuid.uuid4().hex
