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
    """ASGI middleware: a POST body read whole within ``max_body_bytes`` and ``read_timeout`` (413, 408), JSON
    without a key given twice (400) before KServe parses it (as JSON: the binary extension is not served);
    every request gets an ``X-Request-Id`` (the client's if plain, returned) and is counted and timed."""

    def __init__(self, app, service, settings):
        self.app, self.service, self.settings = app, service, settings

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status, headers = time.perf_counter(), {}, dict(scope["headers"])
        rid = headers.get(b"x-request-id", b"")  # it goes into the audit trail: plain ids only
        rid = rid if rid.isalnum() and len(rid) <= 64 else uuid.uuid4().hex.encode()
        scope["headers"] = [*(h for h in scope["headers"] if h[0] not in (b"x-request-id", b"content-type")),
                            (b"x-request-id", rid), (b"content-type", b"application/json")]  # fmt: skip

        async def sending(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid)]
            await send(message)

        try:
            if scope["method"] == "POST":
                body = await self.read(headers.get(b"content-length", b"").decode("latin-1"), receive)
                PARSED.set(parse_json(body))  # duplicated keys and malformed JSON refused before KServe's parser
                whole, original = [{"type": "http.request", "body": body, "more_body": False}], receive

                async def receive():
                    return whole.pop() if whole else await original()

            await self.app(scope, receive, sending)
        except Refused as refusal:
            await answer(refusal)(scope, receive, sending)
        if not scope["path"].startswith(PROBES):
            observe(self.service, status.get("code", 500), time.perf_counter() - started)

    async def read(self, content_length, receive):
        expected, chunks, size = expected_length(content_length, self.settings), [], 0
        deadline = time.monotonic() + self.settings.read_timeout
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


def parsed_v1(decode):
    """KServe's decode, given the message Bounds parsed for a V1 body: no second parse, and a NaN reaches the
    core's check, which names the feature (orjson refuses the whole body)."""

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
    """KServe's RESTServer with the bind address, middleware, handlers and routes. ``--workers`` > 1 spawns
    processes that unpickle it (``service`` and ``settings`` go along) and build the app there."""

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
    """KServe restarts a worker that does not answer a ping within 5 s; a new one answers only once it has
    imported kserve and the core, which took longer under load here (restarted in a loop): a minute."""

    def is_alive(self, timeout=60.0):
        return super().is_alive(timeout)


class NoDelay(HttpToolsProtocol):
    """uvicorn's HTTP without Nagle's delay: asyncio sets TCP_NODELAY only when the socket's ``proto`` says TCP,
    and the listening socket KServe pickles to its workers says 0 (each kept-alive answer waited ~40 ms)."""

    def connection_made(self, transport):
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
