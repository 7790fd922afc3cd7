"""--shadow: a copy of every request after the response, compared in /metrics and never returned.
--canary: a sticky share of clients, rolled back automatically when it fails or is slow."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from deploy_support import eventually, metric
from serving_support import CountingBundle, serving

from practica.registry import Registry
from practica.serving.canary import CanaryPolicy, in_canary
from practica.serving.deployment import Challenger, Deployment
from practica.serving.rollout import build_deployment

pytestmark = pytest.mark.anyio


def one(image) -> dict:
    return {"inputs": [{"pixels": image.tolist()}]}


async def test_the_shadow_sees_every_request_and_answers_none(cnn, baseline, digit_images):
    deployment = Deployment(cnn, shadow=Challenger(baseline))
    rows = []
    deployment.on_prediction = rows.extend
    async with serving(deployment) as client:
        answers = [await client.post("/v1/predict", json=one(im)) for im in digit_images]

        async def compared() -> bool:
            text = (await client.get("/metrics")).text
            return metric(text, "practica_shadow_predictions_total", model=baseline.version) == len(digit_images)

        await eventually(compared)
        metrics = (await client.get("/metrics")).text
    assert {a.json()["model_version"] for a in answers} == {cnn.version}
    assert {a.headers["x-model-role"] for a in answers} == {"primary"}
    primary = cnn.decide(cnn.predict_proba(digit_images))
    challenger = baseline.decide(baseline.predict_proba(digit_images))
    agreement = float(np.mean(primary == challenger))
    assert metric(metrics, "practica_shadow_agreement", model=baseline.version) == pytest.approx(agreement)
    assert metric(metrics, "practica_model_latency_seconds_count", model=baseline.version, role="shadow") == 8
    assert metric(metrics, "practica_model_latency_seconds_count", model=cnn.version, role="primary") == 8
    roles = [r.role for r in rows]
    assert roles.count("primary") == roles.count("shadow") == 8
    shadow_rows = [r for r in rows if r.role == "shadow"]
    assert {r.model_version for r in shadow_rows} == {baseline.version}
    assert sorted(r.output for r in shadow_rows) == sorted(baseline.classes[i] for i in challenger)
    assert 0 <= shadow_rows[0].input_summary["brightness"] <= 1


async def test_a_failing_shadow_fails_no_request(cnn, baseline, digit_images, caplog):
    broken = CountingBundle(baseline, error=RuntimeError("shadow is broken"))
    async with serving(Deployment(cnn, shadow=Challenger(broken))) as client:
        answers = [await client.post("/v1/predict", json=one(im)) for im in digit_images]

        async def counted() -> bool:
            return metric((await client.get("/metrics")).text, "practica_shadow_errors_total",
                          model=baseline.version) == len(digit_images)

        await eventually(counted)
    assert all(a.status_code == 200 for a in answers)
    assert "shadow is broken" in caplog.text


def test_canary_membership_is_sticky_and_about_the_fraction():
    clients = [f"client-{i}" for i in range(2000)]
    share = np.mean([in_canary(c, 0.2) for c in clients])
    assert 0.17 < share < 0.23
    assert all(in_canary(c, 0.2) == in_canary(c, 0.2) for c in clients[:50])
    assert all(in_canary(c, 0.5) for c in clients if in_canary(c, 0.2))  # a larger share keeps its clients


async def test_canary_clients_get_the_challenger_and_are_told(cnn, baseline, digit_images):
    deployment = Deployment(cnn, canary=Challenger(baseline), canary_fraction=0.3)
    async with serving(deployment) as client:
        roles = {}
        for i in range(40):
            headers = {"X-Client-ID": f"user-{i}"}
            first = await client.post("/v1/predict", json=one(digit_images[0]), headers=headers)
            again = await client.post("/v1/predict", json=one(digit_images[1]), headers=headers)
            assert first.headers["x-model-role"] == again.headers["x-model-role"]  # sticky
            roles[i] = (first.headers["x-model-role"], first.json()["model_version"])
            card = await client.get("/v1/model", headers=headers)
            assert (card.headers["x-model-role"], card.json()["version"]) == roles[i]
        health = (await client.get("/v1/health")).json()
    assert {v for role, v in roles.values() if role == "canary"} == {baseline.version}
    assert {v for role, v in roles.values() if role == "primary"} == {cnn.version}
    assert 4 <= sum(role == "canary" for role, _ in roles.values()) <= 20
    assert health["canary"] == {"model_version": baseline.version, "fraction": 0.3, "active": True,
                                "rolled_back": None}


async def _traffic(client, image, clients: int, rounds: int) -> list:
    """``rounds`` waves of one request from each of ``clients`` clients, concurrently; the responses in order."""
    out = []
    for _ in range(rounds):
        wave = await asyncio.gather(*[client.post("/v1/predict", json=one(image), headers={"X-Client-ID": f"c{i}"})
                                      for i in range(clients)])
        out.extend(wave)
    return out


async def test_a_broken_canary_is_rolled_back_and_fails_no_request_after(cnn, baseline, digit_images, caplog):
    broken = CountingBundle(baseline, error=RuntimeError("canary crashed"))
    policy = CanaryPolicy(max_error_rate=0.05, min_requests=10, window=50)
    deployment = Deployment(cnn, canary=Challenger(broken), canary_fraction=0.25, canary_policy=policy)
    async with serving(deployment) as client:
        answers = await _traffic(client, digit_images[0], clients=40, rounds=6)
        late = await _traffic(client, digit_images[0], clients=40, rounds=2)
        health = (await client.get("/v1/health")).json()
        metrics = (await client.get("/metrics")).text
    failed = [a for a in answers if a.status_code != 200]
    assert 10 <= len(failed) <= 10 + 40  # judged after 10 canary requests; a wave in flight may add its share
    assert all(a.status_code == 200 and a.headers["x-model-role"] == "primary" for a in late)
    assert health["canary"]["active"] is False and "error rate" in health["canary"]["rolled_back"]
    assert metric(metrics, "practica_canary_rollbacks_total", model=baseline.version, reason="error_rate") == 1
    assert metric(metrics, "practica_canary_active", model=baseline.version) == 0
    assert "canary" in caplog.text and "rolled back" in caplog.text


async def test_a_slow_canary_is_rolled_back_without_a_failed_request(cnn, baseline, digit_images):
    slow = CountingBundle(baseline, delay=0.06)
    policy = CanaryPolicy(max_p95_ms=30, min_requests=5, window=20)
    deployment = Deployment(cnn, canary=Challenger(slow), canary_fraction=0.25, canary_policy=policy)
    async with serving(deployment) as client:
        answers = await _traffic(client, digit_images[0], clients=40, rounds=4)
        late = await _traffic(client, digit_images[0], clients=40, rounds=1)
        health = (await client.get("/v1/health")).json()
    assert all(a.status_code == 200 for a in answers + late)
    assert {a.headers["x-model-role"] for a in late} == {"primary"}
    assert "p95 latency" in health["canary"]["rolled_back"]


async def test_a_rolled_back_canary_is_recorded_in_the_registry(tmp_path, cnn_bundle, baseline_bundle,
                                                                digit_images):
    reg = Registry(tmp_path / "reg")
    reg.register(cnn_bundle, alias="production")
    reg.register(baseline_bundle)
    reg.promote("canary", 1)
    reg.promote("canary", 2)
    deployment = build_deployment(bundle=None, registry=reg.root, canary="canary:0.5", threads=1,
                                  policy=CanaryPolicy(min_requests=5, window=20))
    assert deployment.canary is not None
    deployment.canary.bundle = CountingBundle(deployment.canary.bundle, error=RuntimeError("broken"))
    async with serving(deployment) as client:
        await _traffic(client, digit_images[0], clients=20, rounds=3)

        async def recorded() -> bool:
            return any(e["event"] == "canary_rollback" for e in reg.history())

        await eventually(recorded)
    event = [e for e in reg.history() if e["event"] == "canary_rollback"][-1]
    assert (event["alias"], event["before"], event["after"]) == ("canary", 2, 1) and "error rate" in event["reason"]
    assert reg.aliases() == {"production": 1, "canary": 1}
