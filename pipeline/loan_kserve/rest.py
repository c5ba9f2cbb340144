"""KServe 0.15.2's REST server with the loan services' bounds, answers, liveness and metrics routes."""

import asyncio
import contextvars
import socket
import time
import uuid

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from kserve.errors import InvalidInput
from kserve.protocol.rest.multiprocess.server import RESTServerProcess
from kserve.protocol.rest.server import RESTServer
from loan_service.errors import Refused
from loan_service.limits import check_body, expected_length, slow_body, too_large
from loan_service.metrics import exposition, observe
from loan_service.validation import parse_json
from starlette.concurrency import run_in_threadpool
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

PARSED = contextvars.ContextVar("loan_parsed_body")  # the body as Bounds parsed it, for this request
PROBES = ("/v2/health", "/metrics", "/v2/models/loanclassifier/ready")  # not requests of the service


class Bounds:
    """ASGI middleware: a POST body is read whole within ``max_body_bytes`` and ``read_timeout`` (413, 408)
    and must be JSON without a key given twice (400) before KServe parses it as JSON (so KServe's binary
    tensor extension is not served); every request gets an
    ``X-Request-Id`` (the client's, else a new one, returned) and is counted and timed."""

    def __init__(self, app, service, settings):
        self.app, self.service, self.settings = app, service, settings

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), {}
        headers = dict(scope["headers"])
        rid = headers.get(b"x-request-id", b"")  # the client's, if a plain id: it goes into the audit trail
        rid = rid if rid.isalnum() and len(rid) <= 64 else uuid.uuid4().hex.encode()
        scope["headers"] = [*(h for h in scope["headers"] if h[0] != b"x-request-id"), (b"x-request-id", rid)]

        async def sending(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid)]
            await send(message)

        try:
            if scope["method"] == "POST":
                body = await self.read(headers.get(b"content-length"), receive)
                PARSED.set(parse_json(body))  # duplicated keys and malformed JSON refused before KServe's parser
                scope["headers"] = [*(h for h in scope["headers"] if h[0] != b"content-type"),
                                    (b"content-type", b"application/json")]  # JSON it is, whatever was declared
                receive = replay(body, receive)
            await self.app(scope, receive, sending)
        except Refused as refusal:
            await answer(refusal)(scope, receive, sending)
        if not scope["path"].startswith(PROBES):
            observe(self.service, status.get("code", 500), time.perf_counter() - started)

    async def read(self, content_length, receive):
        expected = expected_length(content_length and content_length.decode("latin-1"), self.settings)
        chunks, size, deadline = [], 0, time.monotonic() + self.settings.read_timeout
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                raise slow_body(self.settings) from None
            if message["type"] == "http.disconnect":
                raise Refused("the client closed the connection before the body arrived")
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.settings.max_body_bytes:
                raise too_large(self.settings)
            if not message.get("more_body"):
                return check_body(b"".join(chunks), expected, self.settings)


def replay(body, receive):
    sent = []

    async def receiving():
        if not sent:
            sent.append(True)
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receiving


def parsed_v1(decode):
    """KServe's decode, given for a V1 body the message Bounds parsed: no second parse, and a NaN reaches
    the core's check (which names the feature) instead of orjson's refusal of the whole body."""

    def decoding(body, headers, protocol_version="v1", model_name=None):
        if isinstance(body, bytes) and protocol_version == "v1":
            return PARSED.get(), {}
        return decode(body, headers, protocol_version, model_name)

    return decoding


def not_v2(request, error):
    """FastAPI's 422 for a body that is no V2 request, as a 400 naming the first problems."""
    found = [f"{'.'.join(map(str, e['loc'][2:])) or 'the body'}: {e['msg']}"
             for e in error.errors() if list(e["loc"][1:2]) != ["bytes"]]  # fmt: skip
    return answer(Refused("not a V2 inference request: " + "; ".join(found[:3])))


def answer(refusal):
    return JSONResponse(refusal.body(), status_code=refusal.status)


class LoanRESTServer(RESTServer):
    """KServe's RESTServer with this service's bind address, middleware, handlers and routes. Workers
    (``--workers`` > 1) are spawned processes that unpickle it: ``service`` and ``settings`` go along."""

    service, settings = "", None  # set by the entry point before the server is built

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.service, self.settings = type(self).service, type(self).settings
        self.config.host = "127.0.0.1" if self.settings.loopback else "0.0.0.0"
        self.config.http = NoDelay

    def create_application(self):
        for model in self.dataplane.model_registry.get_models().values():
            if not model.ready:  # a worker's copy: loaded here, where KServe's ping of the worker is answered
                model.load()
        self.dataplane.decode = parsed_v1(self.dataplane.decode)
        super().create_application()
        from kserve.model_server import app

        app.add_middleware(Bounds, service=self.service, settings=self.settings)
        app.add_exception_handler(Refused, lambda request, refusal: answer(refusal))
        app.add_exception_handler(InvalidInput, lambda request, error: answer(Refused(str(error))))
        app.add_exception_handler(RequestValidationError, not_v2)

    def _register_endpoints(self, app):
        async def live():  # the liveness probe: the core's check of the prediction path
            (model,) = self.dataplane.model_registry.get_models().values()
            try:
                return {"live": True, **await run_in_threadpool(model.health)}
            except Refused as refusal:
                return answer(refusal)

        async def metrics():
            text, content_type = exposition()
            return PlainTextResponse(text, media_type=content_type)

        app.add_api_route("/v2/health/live", live, methods=["GET"], response_class=JSONResponse)
        app.add_api_route("/metrics", metrics, methods=["GET"])
        super()._register_endpoints(app)  # KServe's own routes, after ours: the first match wins


class LoanServerProcess(RESTServerProcess):
    """A worker KServe restarts unless it answers a ping within 5 s; a new one answers only after its
    interpreter has imported kserve and the core (spawned), which under load here took longer: KServe
    killed it and started another, in a loop. A minute is allowed."""

    def is_alive(self, timeout=60.0):
        return super().is_alive(timeout)


class NoDelay(HttpToolsProtocol):
    """uvicorn's HTTP protocol, answering without Nagle's delay. asyncio sets TCP_NODELAY only on sockets
    whose ``proto`` says TCP; the listening socket KServe's workers get (pickled) says 0, so with 2 workers
    every answer on a kept-alive connection waited for the client's delayed ACK (~40 ms)."""

    def connection_made(self, transport):
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

