"""practica serve: the bundle is loaded and verified before anything binds, with clear errors;
several workers get the bundle and settings through the environment."""

from __future__ import annotations

import shutil

import httpx
import pytest
from typer.testing import CliRunner

from practica.cli import app
from practica.serving import ServeSettings
from practica.serving import server as server_module

runner = CliRunner()


@pytest.fixture
def launched(monkeypatch):
    """Records what the CLI would run instead of binding a port."""
    calls = []
    monkeypatch.setattr(server_module, "serve", lambda bundle, settings, **kw: calls.append((bundle, settings, kw)))
    return calls


def test_missing_bundle_is_a_clear_error(tmp_path, launched):
    result = runner.invoke(app, ["serve", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "no bundle at" in result.output and "Traceback" not in result.output
    assert not launched


def test_altered_bundle_is_refused(cnn_bundle, tmp_path, launched):
    copy = shutil.copytree(cnn_bundle, tmp_path / "bundle")
    (copy / "model.onnx").write_bytes(b"not a model")
    result = runner.invoke(app, ["serve", str(copy)])
    assert result.exit_code == 2 and "model.onnx" in result.output and "Traceback" not in result.output
    assert not launched


def test_options_become_settings(cnn_bundle, launched, monkeypatch):
    monkeypatch.setenv("PRACTICA_API_KEY", "from-env")
    result = runner.invoke(app, ["serve", str(cnn_bundle), "--port", "9001", "--workers", "2", "--max-batch-size", "16",
                                 "--max-wait-ms", "5", "--max-items", "8", "--max-body-mb", "1", "--top-k", "3",
                                 "--max-request-pixels", "5000000", "--bench-routes", "--no-access-log"])
    assert result.exit_code == 0, result.output
    (bundle, settings, kw) = launched[0]
    assert bundle.root == cnn_bundle and "API key required" in result.output
    assert settings == ServeSettings(max_batch_size=16, max_wait_ms=5.0, max_items=8, max_body_bytes=1024 * 1024,
                                     max_request_pixels=5_000_000, top_k=3, api_key="from-env", bench_routes=True)
    assert kw == {"host": "127.0.0.1", "port": 9001, "workers": 2, "access_log": False}


def test_bad_option_values_are_refused(cnn_bundle, launched):
    for args in (["--workers", "0"], ["--max-batch-size", "0"], ["--max-wait-ms", "-1"]):
        result = runner.invoke(app, ["serve", str(cnn_bundle), *args])
        assert result.exit_code == 2 and not launched


@pytest.mark.anyio
async def test_a_worker_builds_its_app_from_the_environment(cnn_bundle, monkeypatch):
    monkeypatch.setenv(server_module.ENV_BUNDLE, str(cnn_bundle))
    monkeypatch.setenv(server_module.ENV_SETTINGS, ServeSettings(max_items=2, api_key="k").to_json())
    monkeypatch.setenv(server_module.ENV_THREADS, "1")
    worker_app = server_module.app_from_env()
    transport = httpx.ASGITransport(app=worker_app)
    async with (
        worker_app.router.lifespan_context(worker_app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        r = await client.post("/v1/predict", json={"inputs": [{"pixels": [0] * 64}] * 3}, headers={"X-API-Key": "k"})
    assert r.status_code == 422 and "limit of 2" in r.json()["error"]["message"]
