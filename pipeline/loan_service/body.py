"""WSGI middleware: the body read within a size limit and a time limit, each request counted and timed."""

import io
import os
import socket
import time

from .errors import error_response
from .metrics import DURATION, REQUESTS

MAX_BODY = int(os.environ.get("LOAN_MAX_BODY_BYTES", str(2 * 1024 * 1024)))  # 2 MiB: ~40,000 rows
READ_TIMEOUT = float(os.environ.get("LOAN_READ_TIMEOUT", "10"))  # seconds to receive a whole body


class BodyAndMetrics:
    """Reads the body within MAX_BODY bytes and READ_TIMEOUT seconds (413, 408), then counts the request
    and its latency (health probes are not requests of the service)."""

    def __init__(self, app, service):
        self.app, self.service = app, service

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        status = {}

        def recording(line, headers, exc_info=None):
            status["code"] = line.split(" ", 1)[0]
            return start_response(line, headers, exc_info)

        refusal = read_body(environ)
        result = refusal(environ, recording) if refusal is not None else self.app(environ, recording)
        if not environ.get("PATH_INFO", "").startswith(("/health", "/api/v1.0/health")):
            REQUESTS.labels(self.service, status.get("code", "500")).inc()
            DURATION.labels(self.service).observe(time.perf_counter() - started)
        return result


def read_body(environ):
    """None once the whole body is in ``environ["wsgi.input"]`` as bytes, else the error response."""
    length = environ.get("CONTENT_LENGTH") or None
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if length is None and not chunked:
        return None
    try:
        expected = int(length) if length is not None else None
    except ValueError:
        return error_response(400, "Content-Length is not a number", "LOAN_BAD_INPUT")
    too_large = error_response(413, f"the body is over the limit of {MAX_BODY} bytes", "LOAN_TOO_LARGE")
    if expected is not None and expected > MAX_BODY:
        return too_large
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(READ_TIMEOUT)  # a client that stops sending frees its thread
    try:
        body = environ["wsgi.input"].read(expected if expected is not None else MAX_BODY + 1)
    except (TimeoutError, socket.timeout):  # the same class from Python 3.10 on, not on 3.8
        return error_response(408, f"the body did not arrive within {READ_TIMEOUT:g} s", "LOAN_TIMEOUT")
    except Exception as error:  # gunicorn's errors for bad chunked encoding or a closed connection
        return error_response(400, f"could not read the body: {type(error).__name__}", "LOAN_BAD_INPUT")
    finally:
        if sock is not None:
            sock.settimeout(None)
    if len(body) > MAX_BODY:
        return too_large
    if expected is not None and len(body) < expected:
        return error_response(400, "the body is shorter than its Content-Length", "LOAN_BAD_INPUT")
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return None
