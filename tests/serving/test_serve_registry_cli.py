"""practica serve --registry/--shadow/--canary: every model is loaded and checked before a port is bound,
and every bad option is a one-line error (exit 2)."""

from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner

from practica.cli import app
from practica.registry import Registry
from practica.serving import server as server_module
from practica.serving.deployment import Deployment

runner = CliRunner()


@pytest.fixture
def launched(monkeypatch):
    calls = []
    monkeypatch.setattr(server_module, "serve", lambda served, settings, **kw: calls.append((served, settings, kw)))
    monkeypatch.delenv("PRACTICA_REGISTRY", raising=False)
    return calls


@pytest.fixture
def registry(tmp_path, cnn_bundle, baseline_bundle):
    reg = Registry(tmp_path / "reg")
    reg.register(cnn_bundle, alias="production")
    reg.register(baseline_bundle, alias="staging")
    return reg


def test_serving_a_registry_alias_with_shadow_and_canary(registry, launched, cnn, baseline, monkeypatch):
    monkeypatch.setenv("PRACTICA_REGISTRY", str(registry.root))  # no BUNDLE, no --registry: the environment's
    result = runner.invoke(app, ["serve", "--shadow", "v2", "--canary", "staging:10%", "--canary-min-requests", "5"])
    assert result.exit_code == 0, result.output
    (served, _, kw) = launched[0]
    assert isinstance(served, Deployment) and served.version == cnn.version
    assert served.shadow is not None and served.shadow.version == baseline.version
    described = served.describe()
    assert described["registry"] == {"alias": "production", "version": 1}
    assert described["canary"]["fraction"] == pytest.approx(0.1)
    assert "following alias production" in result.output and "canary" in result.output


def test_a_plain_bundle_with_a_shadow_folder(cnn_bundle, baseline_bundle, launched):
    result = runner.invoke(app, ["serve", str(cnn_bundle), "--shadow", str(baseline_bundle)])
    assert result.exit_code == 0, result.output
    assert isinstance(launched[0][0], Deployment)


@pytest.mark.anyio
async def test_several_workers_each_follow_the_registry(registry, launched, cnn, baseline, monkeypatch):
    result = runner.invoke(app, ["serve", "--registry", str(registry.root), "--workers", "2", "--shadow", "staging"])
    assert result.exit_code == 0, result.output
    (served, settings, kw) = launched[0]
    assert kw["workers"] == 2 and served.recipe["registry"] == str(registry.root.resolve())
    # what a worker process does: build its own deployment from the recipe (here after a promotion)
    registry.promote("production", 2)
    monkeypatch.setenv(server_module.ENV_DEPLOYMENT, json.dumps(served.recipe))
    monkeypatch.setenv(server_module.ENV_SETTINGS, settings.to_json())
    monkeypatch.setenv(server_module.ENV_THREADS, "1")
    worker_app = server_module.app_from_env()
    async with (
        worker_app.router.lifespan_context(worker_app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=worker_app), base_url="http://t") as client,
    ):
        health = (await client.get("/v1/health")).json()
    assert health["model_version"] == baseline.version and health["registry"]["version"] == 2
    assert health["shadow"]["model_version"] == baseline.version


@pytest.mark.parametrize(("args", "message"), [
    ([], "nothing to serve"),
    (["--registry", "{reg}", "--alias", "prod"], "alias 'prod' does not exist"),
    (["--registry", "{missing}"], "no model registry at"),
    (["{bundle}", "--registry", "{reg}"], "not both"),
    (["--registry", "{reg}", "--workers", "2", "--canary", "v2:0.1"], "one process"),
    (["--registry", "{reg}", "--canary", "v2"], "names no share of clients"),
    (["--registry", "{reg}", "--canary", "v2:half"], "is not a number"),
    (["--registry", "{reg}", "--canary", "v2:1.5"], "at most 1"),
    (["--registry", "{reg}", "--canary", "v9:0.1"], "version 9 is not in the registry"),
    (["--registry", "{reg}", "--shadow", "nightly"], "neither a version number nor an alias"),
    (["--registry", "{reg}", "--canary", "v2:0.1", "--canary-min-requests", "500"], "min_requests"),
])
def test_bad_options_are_one_line_errors(registry, tmp_path, cnn_bundle, launched, args, message):
    paths = {"reg": str(registry.root), "missing": str(tmp_path / "missing"), "bundle": str(cnn_bundle)}
    result = runner.invoke(app, ["serve", *(a.format(**paths) for a in args)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not launched
