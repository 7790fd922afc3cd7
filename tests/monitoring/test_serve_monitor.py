"""Monitoring through the real app: every answered input becomes a row, /v1/monitor reports drift over
the newest window (quiet on held-in inputs, loud on shifted ones), /metrics carries the drift gauges."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from practica.bundle import load_bundle
from practica.monitoring import read_rows
from practica.serving import ServeSettings, create_app


def send_images(client: TestClient, images: np.ndarray) -> None:
    for i in range(0, len(images), 32):
        r = client.post("/v1/predict", json={"inputs": [{"pixels": x.tolist()} for x in images[i:i + 32]]},
                        headers={"x-client-id": "tester"})
        assert r.status_code == 200, r.text


def test_rows_land_with_their_summaries(cnn_bundle, tiny_run, tmp_path):
    bundle = load_bundle(cnn_bundle, threads=1)
    db = tmp_path / "log.db"
    images = tiny_run.splits.test.x[:5]
    with TestClient(create_app(bundle, ServeSettings(monitor_db=str(db)))) as client:
        r = client.post("/v1/predict", json={"inputs": [{"pixels": x.tolist()} for x in images]},
                        headers={"x-request-id": "req-1", "x-client-id": "c9"})
        answers = r.json()["predictions"]
        bad = client.post("/v1/predict", json={"inputs": [{"pixels": [1, 2]}]})
        assert bad.status_code == 422
    rows = read_rows(db)  # the app has closed: every queued row is written
    assert len(rows) == 5
    assert [r.output for r in rows] == [a["label"] for a in answers]
    assert [r.confidence for r in rows] == pytest.approx([a["probability"] for a in answers])
    first = rows[0]
    assert (first.request_id, first.client, first.role, first.model_version) == ("req-1", "c9", "primary",
                                                                                  bundle.version)
    assert first.input_summary["brightness"] == pytest.approx(images[0].mean() / 255, abs=1e-6)
    assert first.input_summary["contrast"] == pytest.approx(images[0].std() / 255, abs=1e-6)
    assert first.input_summary["channel_means"] == pytest.approx([images[0].mean() / 255], abs=1e-6)
    # the response's OOD judgement is what the log keeps
    assert [r.ood_score for r in rows] == pytest.approx([a["ood"]["score"] for a in answers])
    assert [r.ood_flag for r in rows] == [a["ood"]["flag"] for a in answers]
    assert first.latency_ms > 0


def test_drift_is_quiet_on_held_in_images_and_fires_on_inverted_ones(cnn_bundle, tiny_run, tmp_path):
    bundle = load_bundle(cnn_bundle, threads=1)
    held_in = np.concatenate([tiny_run.splits.test.x, tiny_run.splits.val.x])
    settings = ServeSettings(monitor_db=str(tmp_path / "log.db"), monitor_window=len(held_in))
    with TestClient(create_app(bundle, settings)) as client:
        send_images(client, held_in)
        quiet = client.get("/v1/monitor").json()
        assert quiet["alerts"] == [], [c["sentence"] for c in quiet["report"]["checks"] if c["alert"]]
        assert quiet["report"]["rows"] == len(held_in) and quiet["log"]["rows"] == len(held_in)
        assert quiet["window"] == len(held_in) and quiet["model_version"] == bundle.version

        send_images(client, 255 - held_in)  # the window is now all inverted digits
        loud = client.get("/v1/monitor").json()
        assert {"psi:brightness", "ks:brightness", "channel_mean:0", "ood_flag_rate"} <= set(loud["alerts"])
        metrics = client.get("/metrics").text
    assert 'practica_drift_alert{check="psi:brightness"} 1.0' in metrics
    assert 'practica_drift_psi{feature="brightness"}' in metrics
    assert "practica_prediction_class_share{class=" in metrics
    rate = float(next(line for line in metrics.splitlines() if line.startswith("practica_ood_flag_rate ")).split()[1])
    assert rate > 0.5  # the window is all inverted digits: most are flagged


def test_drift_fires_on_a_shifted_table_feature(table_run, tmp_path):
    bundle = load_bundle(table_run.bundle, threads=1)
    held_in = table_run.splits.test.x
    settings = ServeSettings(monitor_db=str(tmp_path / "log.db"), monitor_window=len(held_in))

    def send(x):
        for i in range(0, len(x), 64):
            assert client.post("/v1/predict", json={"inputs": [{"features": r.tolist()} for r in x[i:i + 64]]}
                               ).status_code == 200

    with TestClient(create_app(bundle, settings)) as client:
        send(held_in)
        quiet = client.get("/v1/monitor").json()
        assert not [a for a in quiet["alerts"] if a.startswith(("psi:", "ks:"))], quiet["alerts"]
        shifted = held_in.copy()
        shifted[:, 0] *= 2.0  # mean radius doubled
        send(shifted)
        loud = client.get("/v1/monitor").json()
    name = (bundle.input.feature_names or ("feature_0",))[0]
    inputs = {a for a in loud["alerts"] if a.startswith(("psi:", "ks:")) and a != "psi:confidence"}
    assert inputs == {f"psi:{name}", f"ks:{name}"}, loud["alerts"]


def test_monitoring_is_off_unless_asked(cnn_bundle):
    bundle = load_bundle(cnn_bundle, threads=1)
    with TestClient(create_app(bundle, ServeSettings())) as client:
        r = client.get("/v1/monitor")
        assert r.status_code == 404 and r.json()["error"]["code"] == "monitoring_off"
        assert "--monitor-db PATH" in r.json()["error"]["accepted"]
        assert "practica_drift" not in client.get("/metrics").text


def test_rows_route(cnn_bundle, tiny_run, tmp_path):
    bundle = load_bundle(cnn_bundle, threads=1)
    with TestClient(create_app(bundle, ServeSettings(monitor_db=str(tmp_path / "log.db")))) as client:
        send_images(client, tiny_run.splits.test.x[:40])
        rows = client.get("/v1/monitor/rows", params={"limit": 10}).json()["rows"]
        assert len(rows) == 10 and rows[-1]["role"] == "primary"
        assert client.get("/v1/monitor/rows", params={"limit": 0}).status_code == 422
