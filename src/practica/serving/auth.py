"""Optional API-key authentication: ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from practica.serving.errors import ApiError

ACCEPTED = "an API key, as the header 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
# Module-level: the dependency's annotations name them, and annotations resolve in module scope.
BEARER = HTTPBearer(auto_error=False)
KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False)


def api_key_dependencies(api_key: str | None) -> list:
    """Dependencies for the protected routes: none without a key; with one, a check that also
    documents both schemes in the OpenAPI document."""
    if api_key is None:
        return []
    expected = api_key.encode()

    async def require_api_key(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
        key: Annotated[str | None, Security(KEY_HEADER)],
    ) -> None:
        given = credentials.credentials if credentials is not None else key
        if given is None:
            raise ApiError(401, "unauthorized", "this service needs an API key", ACCEPTED,
                           {"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(given.encode(), expected):  # constant time: no timing hints about the key
            raise ApiError(401, "unauthorized", "the API key is wrong", ACCEPTED, {"WWW-Authenticate": "Bearer"})

    return [Depends(require_api_key)]
