"""POST /v1/predict and the read-only routes, through HTTP: every accepted input form gives
the same probabilities as the bundle's own ONNX Runtime call on the same arrays."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from serving_support import b64, decoded, encode, serving

pytestmark = pytest.mark.anyio


def assert_matches(answer, bundle, x, k=5):
    """Each prediction is the top k of bundle.predict_proba(x), most probable first."""
    probs = bundle.predict_proba(x)
    assert answer["model_version"] == bundle.version
    assert len(answer["predictions"]) == len(x)
    for p, row in zip(answer["predictions"], probs, strict=True):
        order = np.argsort(-row, kind="stable")[:k]
        assert [t["label"] for t in p["top_k"]] == [bundle.classes[i] for i in order]
        np.testing.assert_allclose([t["probability"] for t in p["top_k"]], row[order], rtol=1e-6)
        assert (p["label"], p["probability"]) == (p["top_k"][0]["label"], p["top_k"][0]["probability"])


async def test_one_png(cnn, digit_images):
    async with serving(cnn) as client:
        r = await client.post("/v1/predict", json={"inputs": [{"image": b64(digit_images[0])}]})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert_matches(r.json(), cnn, digit_images[:1])


async def test_many_inputs_in_every_form(cnn, digit_images):
    jpeg = encode(digit_images[1], "JPEG")
    inputs = [
        {"image": b64(digit_images[0])},
        {"image": base64.b64encode(jpeg).decode()},
        {"image": "data:image/png;base64," + b64(digit_images[2])},  # as a browser's FileReader gives it
        {"pixels": digit_images[3].tolist()},  # 8×8×1
        {"pixels": digit_images[4].squeeze(-1).tolist()},  # 8×8
        {"pixels": digit_images[5].ravel().tolist()},  # flat
    ]
    async with serving(cnn) as client:
        r = await client.post("/v1/predict", json={"inputs": inputs})
    assert r.status_code == 200
    x = digit_images[:6].copy()
    x[1] = decoded(jpeg, x[1].shape)
    assert_matches(r.json(), cnn, x)


async def test_multipart_upload_of_several_files(cnn, digit_images):
    files = [("file", (f"d{i}.png", encode(digit_images[i]), "image/png")) for i in range(3)]
    async with serving(cnn) as client:
        r = await client.post("/v1/predict", files=files, data={"top_k": "2"})
    assert r.status_code == 200
    assert_matches(r.json(), cnn, digit_images[:3], k=2)


async def test_top_k_from_body_or_query_capped_at_the_classes(cnn, digit_images):
    body = {"inputs": [{"pixels": digit_images[0].tolist()}]}
    async with serving(cnn, top_k=4) as client:
        default = (await client.post("/v1/predict", json=body)).json()
        query = (await client.post("/v1/predict?top_k=2", json=body)).json()
        both = (await client.post("/v1/predict?top_k=2", json={**body, "top_k": 3})).json()
        capped = (await client.post("/v1/predict", json={**body, "top_k": 50})).json()
    assert [len(a["predictions"][0]["top_k"]) for a in (default, query, both, capped)] == [4, 2, 3, 10]
    assert_matches(capped, cnn, digit_images[:1], k=10)


async def test_query_top_k_is_documented_and_checked_as_the_bodys(cnn, digit_images):
    """?top_k= is read by hand on the hot path: the OpenAPI document still says so, and a bad one is refused
    with the body's error; other query parameters are ignored, as before."""
    body = {"inputs": [{"pixels": digit_images[0].tolist()}]}
    async with serving(cnn) as client:
        spec = (await client.get("/openapi.json")).json()
        bad = [await client.post(f"/v1/predict?top_k={k}", json=body) for k in ("0", "many", "-2", "")]
        other = await client.post("/v1/predict?top_k=3&verbose=1", json=body)
    parameters = spec["paths"]["/v1/predict"]["post"]["parameters"]
    assert [(p["name"], p["in"], p["schema"]) for p in parameters] == [("top_k", "query", {"type": "integer",
                                                                                          "minimum": 1})]
    assert [(r.status_code, r.json()["error"]["code"]) for r in bad] == [(422, "invalid_top_k")] * 4
    assert "at least 1, not 'many'" in bad[1].json()["error"]["message"]
    assert other.status_code == 200 and len(other.json()["predictions"][0]["top_k"]) == 3


async def test_request_id_is_made_or_honoured(cnn, digit_images):
    body = {"inputs": [{"pixels": digit_images[0].tolist()}]}
    async with serving(cnn) as client:
        made = await client.post("/v1/predict", json=body)
        honoured = await client.post("/v1/predict", json=body, headers={"X-Request-ID": "trace-42"})
        unsafe = await client.post("/v1/predict", json=body, headers={"X-Request-ID": "x" * 500})
        error = await client.post("/v1/predict", json={}, headers={"X-Request-ID": "trace-43"})
    assert made.headers["x-request-id"] == made.json()["request_id"] and len(made.json()["request_id"]) == 32
    assert honoured.headers["x-request-id"] == honoured.json()["request_id"] == "trace-42"
    assert unsafe.headers["x-request-id"] != "x" * 500  # not echoed: a fresh id instead
    assert error.status_code == 422 and error.headers["x-request-id"] == "trace-43"


async def test_a_scikit_learn_bundle_is_served_too(baseline, digit_images):
    async with serving(baseline) as client:
        r = await client.post("/v1/predict", json={"inputs": [{"image": b64(im)} for im in digit_images]})
    assert r.status_code == 200
    assert_matches(r.json(), baseline, digit_images)


async def test_model_card_health_and_page(cnn):
    async with serving(cnn) as client:
        card = await client.get("/v1/model")
        health = await client.get("/v1/health")
        page = await client.get("/")
        docs = await client.get("/docs")
    assert card.json() == cnn.card
    assert {"metrics", "lineage", "selection", "input"} <= card.json().keys()
    assert health.status_code == 200 and health.json() == {"status": "ok", "ready": True, "model_version": cnn.version}
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "/v1/predict" in page.text and "http://" not in page.text and "https://" not in page.text  # self-contained
    assert docs.status_code == 200


async def test_noop_route_only_with_bench_routes(cnn):
    async with serving(cnn) as client:
        assert (await client.post("/v1/noop", json={"inputs": []})).status_code == 404
    async with serving(cnn, bench_routes=True, max_body_bytes=100) as client:
        ok = await client.post("/v1/noop", json={"inputs": [{"pixels": [0] * 8}]})
        bad = await client.post("/v1/noop", content=b"{", headers={"content-type": "application/json"})
        big = await client.post("/v1/noop", json={"inputs": [{"pixels": [0] * 64}]})
        metrics = (await client.get("/metrics")).text
    assert (ok.status_code, ok.json()) == (200, {"ok": True})
    assert bad.status_code == 400 and big.status_code == 413
    assert "practica_batch_size_count 0.0" in metrics  # nothing was predicted
    assert "/v1/noop" not in (await _openapi(cnn, bench_routes=True))["paths"]


async def _openapi(bundle, **settings):
    async with serving(bundle, **settings) as client:
        return (await client.get("/openapi.json")).json()


async def test_a_16_bit_png_is_scaled_as_training_scales_it(cnn, digit_images):
    """A 16-bit grayscale PNG (mode I;16) of a digit: its pixels times 257, scaled back to 8 bits, not clipped."""
    import io

    from PIL import Image

    # +100 rounds down
    wide = np.minimum(digit_images[0].squeeze(-1).astype(np.uint32) * 257 + 100, 65535).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(wide).save(buf, format="PNG")
    async with serving(cnn) as client:
        as_json = await client.post("/v1/predict",
                                    json={"inputs": [{"image": base64.b64encode(buf.getvalue()).decode()}]})
        as_file = await client.post("/v1/predict", files=[("file", ("d.png", buf.getvalue(), "image/png"))])
    for r in (as_json, as_file):
        assert r.status_code == 200, r.text
        assert_matches(r.json(), cnn, digit_images[:1])
