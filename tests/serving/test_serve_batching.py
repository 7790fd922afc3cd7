"""Micro-batching: concurrent requests share ONNX Runtime calls, every request gets its own
answer, and the metrics show it."""

from __future__ import annotations

import asyncio
import re

import numpy as np
import pytest
from serving_support import CountingBundle, serving

pytestmark = pytest.mark.anyio


def metric(text: str, name: str) -> float:
    return float(re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE).group(1))


async def test_concurrent_requests_share_model_calls(cnn, digit_images):
    counting = CountingBundle(cnn)
    images = np.concatenate([digit_images] * 8)  # 64 requests, one image each
    async with serving(counting, max_wait_ms=50, max_batch_size=64) as client:
        answers = await asyncio.gather(*[
            client.post("/v1/predict", json={"inputs": [{"pixels": im.tolist()}], "top_k": 10}) for im in images
        ])
        metrics = (await client.get("/metrics")).text
    assert all(a.status_code == 200 for a in answers)
    assert sum(counting.calls) == 64 and len(counting.calls) < 64  # fewer model calls than requests
    assert metric(metrics, "practica_batch_size_count") == len(counting.calls)
    assert metric(metrics, "practica_batch_size_sum") == metric(metrics, "practica_items_predicted_total") == 64
    assert metric(metrics, 'practica_http_requests_total{route="/v1/predict",status="200"}') == 64
    assert metric(metrics, 'practica_http_request_duration_seconds_count{route="/v1/predict"}') == 64
    # each request got the answer for its own image, not a neighbour's
    probs = cnn.predict_proba(images)
    for answer, row in zip(answers, probs, strict=True):
        got = {t["label"]: t["probability"] for t in answer.json()["predictions"][0]["top_k"]}
        np.testing.assert_allclose([got[c] for c in cnn.classes], row, rtol=1e-6)


async def test_batches_never_exceed_the_limit(cnn, digit_images):
    counting = CountingBundle(cnn)
    async with serving(counting, max_batch_size=3, max_wait_ms=20) as client:
        big = client.post("/v1/predict", json={"inputs": [{"pixels": im.tolist()} for im in digit_images]})  # 8 inputs
        small = [client.post("/v1/predict", json={"inputs": [{"pixels": digit_images[0].tolist()}] * 2})
                 for _ in range(4)]
        answers = await asyncio.gather(big, *small)
    assert all(a.status_code == 200 for a in answers)
    assert max(counting.calls) <= 3 and sum(counting.calls) == 16
    assert [p["label"] for p in answers[0].json()["predictions"]] == [
        cnn.classes[i] for i in cnn.predict_proba(digit_images).argmax(1)]


async def test_not_ready_before_start_up(cnn):
    import httpx

    from practica.serving import ServeSettings, create_app

    app = create_app(cnn, ServeSettings())  # lifespan not run: no batcher
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        health = await client.get("/v1/health")
        predict = await client.post("/v1/predict", json={"inputs": [{"pixels": [0] * 64}]})
    assert health.status_code == 503 and health.json()["ready"] is False
    assert predict.status_code == 503 and predict.json()["error"]["code"] == "unavailable"
    assert predict.headers["retry-after"] == "1"


async def test_unknown_paths_share_one_metrics_label(cnn):
    async with serving(cnn) as client:
        for i in range(3):
            await client.get(f"/scan/{i}")
        metrics = (await client.get("/metrics")).text
    assert metric(metrics, 'practica_http_requests_total{route="other",status="404"}') == 3
    assert "/scan/" not in metrics
    assert f'practica_model_info{{version="{cnn.version}"}} 1.0' in metrics


async def test_stop_predicts_what_is_queued_then_refuses():
    from practica.serving.batcher import BatcherClosed, MicroBatcher

    batches = []
    batcher = MicroBatcher(lambda x: batches.append(len(x)) or x * 2, max_batch_size=2, max_wait_ms=10_000,
                           on_batch=lambda n, s: None)
    await batcher.start()
    pending = [asyncio.create_task(batcher.predict(np.full((1, 3), i))) for i in range(5)]
    await asyncio.sleep(0)  # every request is queued
    await asyncio.wait_for(batcher.stop(), 5)  # does not sit out the 10 s wait: the queue is drained at once
    assert [int(t.result()[0, 0]) for t in pending] == [0, 2, 4, 6, 8]
    assert batches == [2, 2, 1] and not batcher.running
    with pytest.raises(BatcherClosed):
        await batcher.predict(np.zeros((1, 3)))
