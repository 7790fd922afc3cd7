"""practica serve --registry: the alias's version answers, and a promotion under load switches the served model
with no failed request; a version that cannot load is never swapped in."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from deploy_support import eventually, metric
from serving_support import serving

from practica.registry import Registry
from practica.serving.rollout import build_deployment

pytestmark = pytest.mark.anyio


@pytest.fixture
def registry(tmp_path, cnn_bundle, baseline_bundle):
    reg = Registry(tmp_path / "reg")
    reg.register(cnn_bundle, alias="production")
    reg.register(baseline_bundle)
    return reg


async def test_a_promotion_under_load_switches_models_without_a_failed_request(registry, cnn, baseline,
                                                                                digit_images):
    deployment = build_deployment(bundle=None, registry=registry.root, threads=1, poll_s=0.05)
    body = {"inputs": [{"pixels": im.tolist()} for im in digit_images[:2]]}
    seen: list[tuple[int, str]] = []
    stop = asyncio.Event()
    async with serving(deployment, max_wait_ms=2) as client:
        assert (await client.get("/v1/health")).json()["registry"] == {"alias": "production", "version": 1}

        async def load() -> None:
            while not stop.is_set():
                r = await client.post("/v1/predict", json=body)
                seen.append((r.status_code, r.json().get("model_version", "")))

        async def switched() -> bool:
            return (await client.get("/v1/health")).json()["model_version"] == baseline.version

        clients = [asyncio.create_task(load()) for _ in range(16)]
        await eventually(lambda: _true_after(seen, 50))
        await asyncio.to_thread(registry.promote, "production", 2, reason="test")
        await eventually(switched)
        done = len(seen)
        await eventually(lambda: _true_after(seen, done + 50))
        stop.set()
        await asyncio.gather(*clients)
        health = (await client.get("/v1/health")).json()
        card = (await client.get("/v1/model")).json()
        metrics = (await client.get("/metrics")).text
    assert [s for s, _ in seen if s != 200] == []  # not one request failed across the swap
    versions = [v for _, v in seen]
    assert versions[0] == cnn.version and versions[-1] == baseline.version
    first_new = versions.index(baseline.version)
    assert set(versions[first_new + 16:]) == {baseline.version}  # once swapped, only in-flight ones end on the old
    assert health["registry"] == {"alias": "production", "version": 2} and card["version"] == baseline.version
    assert metric(metrics, "practica_model_reloads_total", model=baseline.version) == 1
    assert metric(metrics, "practica_model_info", version=baseline.version) == 1
    assert f'version="{cnn.version}"' not in metrics.split("practica_model_info")[-1]


async def test_a_version_that_cannot_load_is_not_swapped_in(registry, cnn, digit_images, caplog):
    deployment = build_deployment(bundle=None, registry=registry.root, threads=1, poll_s=0.05)
    (registry.path(2) / "model.onnx").write_bytes(b"damaged on disk")
    async with serving(deployment) as client:
        registry.promote("production", 2)
        await eventually(lambda: _metrics_show(client, "practica_model_reload_failures_total", model="v2"))
        answer = await client.post("/v1/predict", json={"inputs": [{"pixels": digit_images[0].tolist()}]})
        health = (await client.get("/v1/health")).json()
    assert answer.status_code == 200 and answer.json()["model_version"] == cnn.version
    assert health["model_version"] == cnn.version and health["registry"]["version"] == 1
    assert "was not swapped in" in caplog.text and "model.onnx" in caplog.text


async def test_rolling_the_alias_back_switches_back(registry, cnn, baseline, digit_images):
    registry.promote("production", 2)
    deployment = build_deployment(bundle=None, registry=registry.root, threads=1, poll_s=0.05)
    async with serving(deployment) as client:
        assert (await client.get("/v1/health")).json()["model_version"] == baseline.version
        registry.rollback("production", reason="worse in production")

        async def back() -> bool:
            return (await client.get("/v1/health")).json()["model_version"] == cnn.version

        await eventually(back)
        r = await client.post("/v1/predict", json={"inputs": [{"pixels": digit_images[0].tolist()}]})
    assert r.json()["model_version"] == cnn.version and r.headers["x-model-role"] == "primary"


async def test_a_model_of_other_inputs_is_refused(registry, tmp_path, cnn_bundle):
    other = tmp_path / "other"
    shutil.copytree(cnn_bundle, other)
    from practica.bundle import load_bundle
    from practica.errors import BundleError
    from practica.serving.deployment import Deployment

    served = load_bundle(cnn_bundle)
    changed = load_bundle(other)
    changed.input = type(changed.input)(**{**changed.input.__dict__, "shape": (16, 16, 1)})
    deployment = Deployment(served)
    async with serving(deployment):
        with pytest.raises(BundleError, match="cannot answer the same requests"):
            await deployment.swap_primary(changed)
    assert deployment.primary.bundle is served


async def _true_after(seen: list, n: int) -> bool:
    return len(seen) >= n


async def _metrics_show(client, name: str, **labels: str) -> bool:
    return metric((await client.get("/metrics")).text, name, **labels) >= 1


async def test_a_request_in_flight_finishes_on_the_old_model_and_the_old_batcher_stops(cnn, baseline, digit_images):
    from serving_support import CountingBundle

    from practica.serving.deployment import Deployment

    slow_old = CountingBundle(cnn, delay=0.5)
    deployment = Deployment(slow_old)
    async with serving(deployment) as client:
        body = {"inputs": [{"pixels": digit_images[0].tolist()}]}
        in_flight = asyncio.create_task(client.post("/v1/predict", json=body))
        await eventually(lambda: _is_set(slow_old.running))
        old = deployment.primary
        await deployment.swap_primary(baseline)  # returns once the new model is warm and in place
        after = await client.post("/v1/predict", json=body)
        assert old.running  # still draining: its request is in the model
        answer = await in_flight
        await eventually(lambda: _stopped(old))
    assert answer.status_code == 200 and answer.json()["model_version"] == cnn.version
    assert after.status_code == 200 and after.json()["model_version"] == baseline.version


async def _is_set(event) -> bool:
    return event.is_set()


async def _stopped(model) -> bool:
    return not model.running
