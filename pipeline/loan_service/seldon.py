"""The Seldon Core 1.17.1 adapter: the wrappers' helpers, the hardened Flask app and the entry point.

``python -m loan_service.seldon Model --service-type MODEL [seldon-core-microservice's options]`` is how
every image, the s2i folder, the manifests and the local runner start a wrapper. It applies what Seldon
needs, then runs ``seldon_core.microservice.main``:

- the REST app (``rest_app``): the body read within the limits first (413, 408), every request counted
  and timed, the strict JSON parser (duplicated keys are a 400), ``Refused`` and HTTP errors answered
  as 4xx JSON in Seldon's shape, unserved routes 404, wrong methods 405, an ``X-Request-Id`` on each answer;
- the metrics port answers our ``prometheus_client`` multiprocess counters; Seldon's own custom metrics,
  which share one ``multiprocessing.Manager`` lock across workers, are off (a worker killed while holding
  it hung every other worker), and a request asking for them is refused;
- gRPC off (``--grpc-workers 0``): it would bind 0.0.0.0 and skip all of the above; with LOAN_LOOPBACK=1
  the REST and metrics servers bind 127.0.0.1 (Seldon hard-codes 0.0.0.0).

A wrapper's ``predict_raw`` reads the rows with ``rows``, calls its core inside ``refusals()`` and answers
with ``response``. A gRPC message reaching ``predict_raw`` anyway (``seldon-core-microservice`` run
directly) is refused: the model is never reached unguarded.
"""

import io
import socket
import sys
import time
import uuid
from contextlib import contextmanager

from .errors import Refused
from .limits import check_body, expected_length, slow_body
from .metrics import exposition, observe, use_directory
from .settings import Settings
from .validation import may_hold_booleans, parse_json, rows_from_seldon

PREDICT_ROUTES = {"/api/v1.0/predictions", "/api/v0.1/predictions", "/predict"}
UNSERVED_ROUTES = {"/send-feedback", "/api/v1.0/feedback", "/api/v0.1/feedback", "/transform-input",
                   "/transform-output", "/route", "/aggregate"}  # fmt: skip
HEALTH = ("/health", "/api/v1.0/health")


# --- what the wrappers call -------------------------------------------------------------------------


@contextmanager
def refusals():
    """``Refused`` raised inside becomes Seldon's exception with the same status, reason and message."""
    from seldon_core.flask_utils import SeldonMicroserviceException

    try:
        yield
    except Refused as refused:
        raise SeldonMicroserviceException(refused.message, status_code=refused.status, reason=refused.reason) from None


def rows(message):
    """(rows, meta, headers, request id) of a REST request's Seldon message; a gRPC message is refused."""
    from flask import g, has_request_context, request

    if not has_request_context():  # gRPC: no HTTP request, none of the checks above ran
        raise Refused("gRPC is not served: use the REST API", 400, "LOAN_NO_GRPC")
    meta = message.get("meta") if isinstance(message, dict) and isinstance(message.get("meta"), dict) else {}
    found = rows_from_seldon(message, booleans=may_hold_booleans(request.get_data()))
    return found, meta, request.headers, g.get("loan_request_id") or uuid.uuid4().hex


def response(user_model, message, answer):
    """Seldon's own JSON response of ``answer`` (an array: data in the request's kind; a dict: jsonData)."""
    from seldon_core.utils import construct_response_json

    meta = {k: v for k, v in (message.get("meta") or {}).items() if k != "metrics"}  # no Seldon custom metrics
    return construct_response_json(user_model, False, message, answer, meta)


def health(core):
    with refusals():
        return core.health()


# --- the REST app -----------------------------------------------------------------------------------


class BodyLimits:
    """WSGI: the body read whole within the limits before Flask or Seldon see it, then each request (not
    health probes) counted and timed with its status code."""

    def __init__(self, app, service, settings):
        self.app, self.service, self.settings = app, service, settings

    def __call__(self, environ, start_response):
        started, status = time.perf_counter(), {}

        def recording(line, headers, exc_info=None):
            status["code"] = line.split(" ", 1)[0]
            return start_response(line, headers, exc_info)

        try:
            self.read_body(environ)
            result = self.app(environ, recording)
        except Refused as refused:
            result = _error(refused)(environ, recording)
        if not environ.get("PATH_INFO", "").startswith(HEALTH):
            observe(self.service, status.get("code", "500"), time.perf_counter() - started)
        return result

    def read_body(self, environ):
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        expected = expected_length(environ.get("CONTENT_LENGTH"), self.settings)
        if expected is None and not chunked:
            return
        sock = environ.get("gunicorn.socket")
        if sock is not None:
            sock.settimeout(self.settings.read_timeout)  # a client that stops sending frees its thread
        try:
            body = environ["wsgi.input"].read(expected if expected is not None else self.settings.max_body_bytes + 1)
        except (TimeoutError, socket.timeout):  # the same class from Python 3.10 on, not on 3.8
            raise slow_body(self.settings) from None
        except Exception as error:  # gunicorn's errors for bad chunked encoding or a closed connection
            raise Refused(f"could not read the body: {type(error).__name__}") from None
        finally:
            if sock is not None:
                sock.settimeout(None)
        environ["wsgi.input"] = io.BytesIO(check_body(body, expected, self.settings))
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)


def _error(refused, allow=None):
    import json

    from werkzeug.wrappers import Response

    answer = Response(json.dumps(refused.body()), status=refused.status, mimetype="application/json")
    if allow:
        answer.headers["Allow"] = ", ".join(allow)
    return answer


def rest_app(user_model, seldon_metrics, settings=None):
    """Seldon's own Flask app (``get_rest_microservice``) around ``user_model``, hardened as above."""
    from flask import g, request
    from flask.json.provider import DefaultJSONProvider
    from seldon_core import wrapper
    from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

    settings = settings or Settings.from_env()
    app = _seldon_rest_app(wrapper)(user_model, seldon_metrics)

    class StrictJSON(DefaultJSONProvider):  # Flask's documented app.json, which request.get_json uses
        def loads(self, s, **kwargs):
            return parse_json(s)

    app.json = StrictJSON(app)
    app.wsgi_app = BodyLimits(app.wsgi_app, user_model.core.service, settings)
    routes = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"}

    @app.before_request
    def check():
        given = request.headers.get("X-Request-Id", "")
        g.loan_request_id = given if given.isalnum() and len(given) <= 64 else uuid.uuid4().hex
        if request.path in UNSERVED_ROUTES:
            raise Refused(f"{request.path} is not served here", 404, "LOAN_NOT_FOUND")
        if isinstance(request.routing_exception, MethodNotAllowed) and request.path not in routes:
            raise NotFound()  # only the static files' catch-all route matched: the path does not exist
        if request.path in PREDICT_ROUTES and request.method not in ("POST", "OPTIONS"):
            raise MethodNotAllowed(valid_methods=["POST"])  # Seldon's GET /predict?json= skips the body
        if request.path in PREDICT_ROUTES and request.method == "POST":
            _check_request(request)

    @app.after_request
    def identify(answer):
        answer.headers["X-Request-Id"] = g.get("loan_request_id", "")
        return answer

    app.register_error_handler(Refused, _error)

    @app.errorhandler(HTTPException)
    def http_error(error):  # without it Seldon's catch-all handler turns 404, 405 and 413 into 500
        refused = Refused(error.description, error.code, error.name.upper().replace(" ", "_"))
        return _error(refused, getattr(error, "valid_methods", None))

    return app


def _check_request(request):
    """What Seldon's ``get_request`` would take past the strict parser, refused first."""
    if "json" in request.args:
        raise Refused("send the request as the body, not as a json= query parameter")
    if request.content_type and "multipart/form-data" in request.content_type:
        raise Refused("send JSON (application/json), not multipart/form-data")
    if request.mimetype == "application/x-www-form-urlencoded" and "json" in request.form:
        parse_json(request.form["json"], where="the json form field")  # Seldon parses it again, leniently
    elif not request.is_json:
        raise Refused(f"send JSON with Content-Type: application/json, not {request.mimetype or 'none'}")
    else:
        request.get_json()  # parsed once, strictly; Seldon reads the cached result


def _seldon_rest_app(wrapper):
    return getattr(wrapper.get_rest_microservice, "seldon_original", wrapper.get_rest_microservice)


# --- the patches and the entry point -----------------------------------------------------------------


def patch_seldon(settings):
    """Every change Seldon 1.17.1 needs, applied once by ``main`` (tests call it to build the same app)."""
    from seldon_core import wrapper
    from seldon_core.flask_utils import SeldonMicroserviceException
    from seldon_core.gunicorn_utils import StandaloneApplication
    from seldon_core.metrics import SeldonMetrics

    def hardened(user_model, seldon_metrics):
        return rest_app(user_model, seldon_metrics, settings)

    hardened.seldon_original = _seldon_rest_app(wrapper)
    wrapper.get_rest_microservice = hardened

    def no_custom_metrics(self, custom_metrics, method):
        if custom_metrics:  # nothing passes any: anything else would be lost silently
            raise SeldonMicroserviceException(
                "Seldon custom metrics are off in this service: count with prometheus_client (loan_service.metrics)",
                status_code=500, reason="LOAN_NO_SELDON_METRICS")  # fmt: skip

    def no_shared_state(self, worker_id_func=None, extra_default_labels=None):
        self.worker_id_func, self._extra_default_labels = worker_id_func, dict(extra_default_labels or {})

    # seldon-core 1.17.1 builds the /metrics answer in SeldonMetrics.generate_metrics, with no hook to add a
    # collector; its custom metrics live in a Manager dict behind one lock shared by all workers.
    SeldonMetrics.__init__ = no_shared_state
    SeldonMetrics.update = no_custom_metrics
    SeldonMetrics.generate_metrics = lambda self: exposition()
    SeldonMetrics.collect = lambda self: iter(())
    SeldonMetrics.clear = lambda self: None  # gunicorn's worker_exit hook: nothing shared to clear
    SeldonMetrics.__del__ = lambda self: None  # no Manager to shut down
    if settings.loopback:
        seldon_load_config = StandaloneApplication.load_config

        def load_config(self):  # both gunicorn servers (REST, metrics) use this class
            seldon_load_config(self)
            self.cfg.set("bind", [f"127.0.0.1:{address.rsplit(':', 1)[1]}" for address in self.cfg.bind])

        StandaloneApplication.load_config = load_config


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in args:
        sys.exit("--debug runs Flask's own server without the limits: not available here")
    for option in [a for a in args if a.startswith("--grpc-workers")]:
        value = option.split("=", 1)[1] if "=" in option else args[args.index(option) + 1]
        if value != "0":
            sys.exit("gRPC skips the body limits, the caller check, the counts and the audit: it stays off")
    settings = Settings.from_env()
    use_directory()  # before Seldon forks its workers and its metrics server
    patch_seldon(settings)
    from seldon_core.microservice import main as seldon_core_microservice

    sys.argv = ["seldon-core-microservice", *args, "--grpc-workers", "0"]
    sys.exit(seldon_core_microservice())


if __name__ == "__main__":
    main()
