"""With an API key, every route but the page and health needs it; without one, none does."""

from __future__ import annotations

import pytest
from serving_support import serving

pytestmark = pytest.mark.anyio

BODY = {"inputs": [{"pixels": [0] * 64}]}


async def test_routes_need_the_key(cnn):
    async with serving(cnn, api_key="s3cret") as client:
        missing = await client.post("/v1/predict", json=BODY)
        wrong = await client.post("/v1/predict", json=BODY, headers={"Authorization": "Bearer nope"})
        bearer = await client.post("/v1/predict", json=BODY, headers={"Authorization": "Bearer s3cret"})
        header = await client.post("/v1/predict", json=BODY, headers={"X-API-Key": "s3cret"})
        closed = [await client.get(path) for path in ("/v1/model", "/metrics")]
        opened = [await client.get(path, headers={"X-API-Key": "s3cret"}) for path in ("/v1/model", "/metrics")]
        open_routes = [await client.get(path) for path in ("/", "/v1/health", "/openapi.json")]
    assert missing.status_code == 401 and missing.json()["error"]["message"] == "this service needs an API key"
    assert "X-API-Key" in missing.json()["error"]["accepted"] and missing.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 401 and wrong.json()["error"]["message"] == "the API key is wrong"
    assert bearer.status_code == header.status_code == 200
    assert [r.status_code for r in closed] == [401, 401] and [r.status_code for r in opened] == [200, 200]
    assert [r.status_code for r in open_routes] == [200, 200, 200]
    schemes = open_routes[2].json()["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}


async def test_without_a_key_nothing_is_asked(cnn):
    async with serving(cnn) as client:
        r = await client.post("/v1/predict", json=BODY)
        schema = (await client.get("/openapi.json")).json()
    assert r.status_code == 200
    assert "securitySchemes" not in schema.get("components", {})
