"""Pure ASGI middleware (no per-request Request objects): request ids, metrics, the catch-all
for unexpected errors, and the body-size limit."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Collection

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from practica.serving.errors import BodyTooLarge, error_response
from practica.serving.metrics import ServiceMetrics

log = logging.getLogger("practica.serving")

REQUEST_ID = "practica.request_id"  # the scope key handlers read the request id from
CLIENT_CLOSED = 499  # the status a request is counted under when its client left first (nginx's convention)
_SAFE_ID = re.compile(rb"[\x21-\x7e]{1,128}")  # an incoming X-Request-ID is echoed only if it is this tame


class RequestObserver:
    """Gives every request an id (echoed as X-Request-ID), counts and times it by route, and
    turns an unexpected exception into a JSON 500 that leaks nothing but the request id. A client
    that goes away before its whole body arrived is no error of ours: it is counted as a 499, and
    logged in one line."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, routes: Collection[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = frozenset(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _incoming_id(scope["headers"]) or uuid.uuid4().hex
        scope[REQUEST_ID] = request_id
        id_header = (b"x-request-id", request_id.encode())
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:  # nobody is left to answer
            status = CLIENT_CLOSED
            log.info("client closed the connection before its request was read: %s %s (request id %s)",
                     scope["method"], scope["path"], request_id)
        except Exception:
            log.exception("unexpected error answering %s %s (request id %s)",
                          scope["method"], scope["path"], request_id)
            if response_started:  # too late for an error response; the server drops the connection
                raise
            response = error_response(500, "internal_error",
                                      "an unexpected error occurred; "
                                      f"the server log has it under request id {request_id}")
            await response(scope, receive, send_with_id)
        finally:
            route = scope["path"] if scope["path"] in self.routes else "other"  # unknown paths share one label
            self.metrics.observe_request(route, status, time.perf_counter() - started)


class BodyLimit:
    """Refuses a body over ``max_bytes``: at once when Content-Length says so, and while reading
    otherwise (chunked uploads, or a Content-Length that lies)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    await error_response(400, "invalid_content_length",
                                         "the Content-Length header is not a number")(scope, receive, send)
                    return
                if int(value) > self.max_bytes:
                    err = BodyTooLarge(self.max_bytes)
                    await error_response(err.status, err.code, err.message, err.accepted)(scope, receive, send)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)  # the app's handler for ApiError answers 413
            return message

        await self.app(scope, limited_receive, send)


def _incoming_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"x-request-id":
            return value.decode("ascii") if _SAFE_ID.fullmatch(value) else None
    return None
