"""Bad requests get a 4xx and a JSON error that says what was wrong and what is accepted; never a 5xx.
An unexpected failure is a JSON 500 that leaks nothing but the request id."""

from __future__ import annotations

import base64
import io
import logging

import httpx
import numpy as np
import pytest
from PIL import Image
from serving_support import CountingBundle, FakeOutputsBundle, b64, encode, serving

from practica.serving import ServeSettings, create_app

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}


def png_of_size(w, h):
    buf = io.BytesIO()
    Image.new("L", (w, h)).save(buf, format="PNG")
    return buf.getvalue()


def pixels(value=0, n=64):
    return {"pixels": [value] * n}


# (request keyword arguments, status, error code, words the message must contain)
BAD_JSON_REQUESTS = [
    ({"content": b"{not json", "headers": JSON}, 400, "invalid_json", "not valid JSON"),
    ({"content": b"", "headers": JSON}, 400, "invalid_json", "not valid JSON"),
    ({"content": b"inputs=1", "headers": {"content-type": "application/x-www-form-urlencoded"}}, 415,
     "unsupported_media_type", "application/x-www-form-urlencoded"),
    ({"content": b"<x/>", "headers": {"content-type": "text/xml"}}, 415, "unsupported_media_type", "text/xml"),
    ({"json": [pixels()]}, 422, "invalid_request", "must be a JSON object"),
    ({"json": {}}, 422, "invalid_request", "'inputs' must be a list"),
    ({"json": {"inputs": pixels()}}, 422, "invalid_request", "'inputs' must be a list"),
    ({"json": {"input": [pixels()]}}, 422, "invalid_request", "unknown keys ['input']"),
    ({"json": {"inputs": []}}, 422, "no_inputs", "no inputs"),
    ({"json": {"inputs": [pixels()] * 5}}, 422, "too_many_inputs", "5 inputs, over the limit of 4"),
    ({"json": {"inputs": [pixels()], "top_k": 0}}, 422, "invalid_top_k", "at least 1"),
    ({"json": {"inputs": [pixels()], "top_k": "3"}}, 422, "invalid_top_k", "at least 1"),
    ({"json": {"inputs": [pixels()], "top_k": True}}, 422, "invalid_top_k", "at least 1"),
    ({"json": {"inputs": [pixels(), 7]}}, 422, "invalid_input", "inputs[1]: each input must be an object"),
    ({"json": {"inputs": [pixels(), {"image": "%%%"}]}}, 422, "invalid_input",
     "inputs[1]: 'image' is not valid base64"),
    ({"json": {"inputs": [{"image": "aGVsbG8="}]}}, 422, "invalid_input", "inputs[0]: not an image"),
    ({"json": {"inputs": [{"image": ""}]}}, 422, "invalid_input", "inputs[0]: the image is empty"),
    ({"json": {"inputs": [{"image": 12}]}}, 422, "invalid_input", "'image' must be a base64 string"),
    ({"json": {"inputs": [pixels(n=63)]}}, 422, "invalid_input", "'pixels' has shape 63; this model takes 8×8×1"),
    ({"json": {"inputs": [{"pixels": [[1, 2], [3]]}]}}, 422, "invalid_input", "nested list of numbers"),
    ({"json": {"inputs": [pixels(value=300)]}}, 422, "invalid_input", "from 0 to 255"),
    ({"json": {"inputs": [{"pixels": "abc"}]}}, 422, "invalid_input", "'pixels'"),
    ({"json": {"inputs": [{"features": [1.0] * 64}]}}, 422, "invalid_input", "send 'image' or 'pixels'"),
    ({"json": {"inputs": [{"pixels": [0] * 64, "image": "x"}]}}, 422, "invalid_input", "exactly one of"),
]


@pytest.mark.parametrize("request_kwargs, status, code, words", BAD_JSON_REQUESTS,
                         ids=[f"{c}-{i}" for i, (_, _, c, _) in enumerate(BAD_JSON_REQUESTS)])
async def test_bad_json_requests(cnn, request_kwargs, status, code, words):
    async with serving(cnn, max_items=4) as client:
        r = await client.post("/v1/predict", **request_kwargs)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and words in error["message"], error
    assert "8×8 grayscale images" in error["accepted"]


async def test_bad_uploads(cnn, digit_images):
    good = ("file", ("ok.png", encode(digit_images[0]), "image/png"))
    async with serving(cnn, max_items=2, max_image_pixels=100 * 100) as client:
        not_image = await client.post("/v1/predict", files=[good, ("file", ("notes.txt", b"hello", "text/plain"))])
        huge = await client.post("/v1/predict", files=[("file", ("big.png", png_of_size(200, 101), "image/png"))])
        too_many = await client.post("/v1/predict", files=[good] * 3)
        no_files = await client.post("/v1/predict", files={"top_k": (None, "3")})
        no_boundary = await client.post("/v1/predict", content=b"--x--",
                                        headers={"content-type": "multipart/form-data"})
        bad_k = await client.post("/v1/predict", files=[good], data={"top_k": "many"})
    assert not_image.status_code == 422 and "file[1] (notes.txt): not an image" in not_image.json()["error"]["message"]
    assert huge.status_code == 422 and "200×101 pixels, over the limit of 10,000" in huge.json()["error"]["message"]
    assert too_many.status_code == 400 and "Maximum number of files is 2" in too_many.json()["error"]["message"]
    assert no_files.status_code == 422 and no_files.json()["error"]["code"] == "no_inputs"
    assert no_boundary.status_code == 400 and no_boundary.json()["error"]["code"] == "invalid_multipart"
    assert bad_k.status_code == 422 and bad_k.json()["error"]["code"] == "invalid_top_k"


async def test_body_size_limit_by_header_and_by_bytes_read(cnn):
    body = b'{"inputs": [{"pixels": [' + b"0, " * 400 + b"0]}]}"

    async def chunks():  # no Content-Length: the limit must hold while reading
        for i in range(0, len(body), 100):
            yield body[i : i + 100]

    async with serving(cnn, max_body_bytes=1000) as client:
        declared = await client.post("/v1/predict", content=body, headers=JSON)
        streamed = await client.post("/v1/predict", content=chunks(), headers=JSON)
        upload = await client.post("/v1/predict", files=[("file", ("a.png", b"\0" * 2000, "image/png"))])
        bad_length = await client.post("/v1/predict", content=b"{}", headers={**JSON, "content-length": "ten"})
        fine = await client.post("/v1/predict", json={"inputs": [pixels()]})
    for r in (declared, streamed, upload):
        assert r.status_code == 413, r.text
        assert r.json()["error"]["code"] == "body_too_large" and "1,000 bytes" in r.json()["error"]["message"]
    assert bad_length.status_code == 400
    assert fine.status_code == 200


async def test_features_model_rejects_images_with_the_reason(cnn):
    class FeaturesBundle(FakeOutputsBundle):  # a features model's interface over the CNN's inputs
        input = type(cnn.input)("features", (3,), ("a", "b", "c"))

    async with serving(FeaturesBundle(cnn)) as client:
        image = await client.post("/v1/predict", json={"inputs": [{"image": b64(np.zeros((8, 8, 1), np.uint8))}]})
        upload = await client.post("/v1/predict", files=[("file", ("a.png", b"x", "image/png"))])
        named = await client.post("/v1/predict",
                                  json={"inputs": [{"features": {"a": 1, "b": 2, "c": 3}}, {"features": [1, 2, 3]}]})
        missing = await client.post("/v1/predict", json={"inputs": [{"features": {"a": 1}}]})
    assert image.status_code == 422 and "send 'features' instead" in image.json()["error"]["message"]
    assert "3 numeric features" in image.json()["error"]["accepted"]
    assert upload.status_code == 422
    assert named.status_code == 200 and len(named.json()["predictions"]) == 2
    assert missing.status_code == 422 and "missing ['b', 'c']" in missing.json()["error"]["message"]


async def test_unknown_route_and_method(cnn):
    async with serving(cnn) as client:
        missing = await client.get("/v2/predict")
        method = await client.get("/v1/predict")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert method.status_code == 405 and method.json()["error"]["code"] == "method_not_allowed"


async def test_an_unexpected_failure_is_a_json_500_without_internals(cnn, caplog):
    broken = CountingBundle(cnn, error=RuntimeError("ORT exploded at 0xdeadbeef"))
    async with serving(broken) as client:
        r = await client.post("/v1/predict", json={"inputs": [pixels()]}, headers={"X-Request-ID": "req-7"})
        after = await client.get("/v1/health")
        metrics = (await client.get("/metrics")).text
    assert r.status_code == 500 and r.headers["x-request-id"] == "req-7"
    assert r.json()["error"]["code"] == "internal_error" and "req-7" in r.json()["error"]["message"]
    assert "0xdeadbeef" not in r.text and "Traceback" not in r.text
    assert "0xdeadbeef" in caplog.text and "req-7" in caplog.text  # the log has it all
    assert after.status_code == 200  # the batcher goes on
    assert 'practica_http_requests_total{route="/v1/predict",status="500"} 1.0' in metrics


def truncated_png(w, h):
    """A PNG whose header says w×h and whose pixel data is cut off: opening it is fine, decoding it fails."""
    return png_of_size(w, h)[:60]


async def test_the_pixels_of_a_request_are_bounded_before_anything_is_decoded(cnn):
    # Each image is within the per-image limit; together they are over the request's. The pixel data is
    # cut off, so had they been decoded the answer would be a 422 "not a readable image".
    image = base64.b64encode(truncated_png(100, 100)).decode()
    files = [("file", (f"{i}.png", truncated_png(100, 100), "image/png")) for i in range(4)]
    async with serving(cnn, max_image_pixels=10_000, max_request_pixels=30_000) as client:
        as_json = await client.post("/v1/predict", json={"inputs": [{"image": image}] * 4})
        as_files = await client.post("/v1/predict", files=files)
        within = await client.post("/v1/predict", json={"inputs": [{"image": image}] * 3})
    for r in (as_json, as_files):
        assert r.status_code == 413, r.text
        error = r.json()["error"]
        assert error["code"] == "too_many_pixels"
        assert "4 images have 40,000 pixels in all, over the limit of 30,000 per request" in error["message"]
        assert "10,000 pixels each and 30,000 in all" in error["accepted"]
    assert within.status_code == 422 and "inputs[0]: not a readable image" in within.json()["error"]["message"]


async def test_a_request_of_64_large_pngs_is_refused_not_decoded(cnn):
    """The reported case: 64 base64 PNGs of 4096×4096 (49 kB each), 13 s of CPU to decode, under the defaults."""
    big = png_of_size(4096, 4096)
    async with serving(cnn) as client:
        r = await client.post("/v1/predict", json={"inputs": [{"image": base64.b64encode(big).decode()}] * 64})
    assert r.status_code == 413, r.text
    assert "64 images have 1,073,741,824 pixels in all, over the limit of 67,108,864" in r.json()["error"]["message"]


async def test_head_answers_as_get_without_a_body(cnn):
    async with serving(cnn) as client:
        for path in ("/", "/v1/health"):
            got, head = await client.get(path), await client.head(path)
            assert head.status_code == got.status_code == 200
            assert head.content == b"" and head.headers["content-type"] == got.headers["content-type"]
            assert head.headers["content-length"] == str(len(got.content)) and "x-request-id" in head.headers


async def test_a_client_that_leaves_mid_body_is_no_server_error(cnn, caplog):
    """At the ASGI level: the body stops half-way and the server reports the client gone."""
    caplog.set_level(logging.INFO, logger="practica.serving")
    app = create_app(cnn, ServeSettings())
    messages = [{"type": "http.request", "body": b'{"inputs": [{"pixels": [0, 0', "more_body": True}]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/predict", "raw_path": b"/v1/predict", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"content-length", b"5000")],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    async with app.router.lifespan_context(app):
        await app(scope, receive, send)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            metrics = (await client.get("/metrics")).text
    assert sent == []  # nobody to answer
    assert 'practica_http_requests_total{route="/v1/predict",status="499"} 1.0' in metrics
    assert 'status="500"' not in metrics
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert "Traceback" not in caplog.text and "client closed the connection" in caplog.text


def table_bundle(cnn):
    """A features model over a CSV table with columns a (numeric) and zone (categorical); the suite
    ignored the column id, and the target is y."""
    from practica.bundle.inputs import InputSpec
    from practica.data.sources.tabular import Column, TableSchema

    class TableBundle(FakeOutputsBundle):
        input = InputSpec("features", (2,), ("a", "zone"),
                          TableSchema((Column("a", "numeric"), Column("zone", "categorical", ("n", "s"))), "y",
                                      ("id",)))

    return TableBundle(cnn)


async def test_a_table_model_takes_and_ignores_the_ignored_columns_and_the_target(cnn):
    async with serving(table_bundle(cnn)) as client:
        row = {"a": 1.5, "zone": "n"}
        plain = await client.post("/v1/predict", json={"inputs": [{"features": row}]})
        with_ignored = await client.post("/v1/predict", json={"inputs": [{"features": {**row, "id": 17, "y": "3"}}]})
        unknown = await client.post("/v1/predict", json={"inputs": [{"features": {**row, "colour": "red"}}]})
    assert plain.status_code == with_ignored.status_code == 200, with_ignored.text
    assert with_ignored.json()["predictions"] == plain.json()["predictions"]
    assert unknown.status_code == 422 and "unknown column 'colour'" in unknown.json()["error"]["message"]
