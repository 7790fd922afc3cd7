"""Every error the service answers with has one JSON shape:

    {"error": {"code": "invalid_input", "message": "inputs[2]: ...", "accepted": "..."}}

``message`` says what was wrong, ``accepted`` what the service takes instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, accepted: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.accepted = accepted
        self.headers = headers


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "body_too_large", f"the request body is over the limit of {limit:,} bytes",
                         f"request bodies up to {limit:,} bytes; send fewer or smaller inputs per request")


def error_response(status: int, code: str, message: str, accepted: str | None = None,
                   headers: Mapping[str, str] | None = None) -> Response:
    body = {"code": code, "message": message}
    if accepted is not None:
        body["accepted"] = accepted
    return Response(orjson.dumps({"error": body}), status, headers, media_type="application/json")


def install_error_handlers(app: FastAPI) -> None:
    """Our errors, the framework's (404, 405, 400 from the form parser) and parameter validation, all as JSON errors."""

    # The decorator calls app.add_exception_handler; unlike that method's typing (a handler of any Exception),
    # it accepts a handler typed for the one exception class it handles.
    @app.exception_handler(ApiError)
    async def api_error(_: Request, err: ApiError) -> Response:
        return error_response(err.status, err.code, err.message, err.accepted, err.headers)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, err: HTTPException) -> Response:
        code = HTTPStatus(err.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
        return error_response(err.status_code, code, str(err.detail), headers=err.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, err: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        return error_response(422, "invalid_parameter", problems, "see the operation's parameters in /docs")
