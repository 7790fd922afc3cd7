"""The slim serving install: the ``serve`` extra agrees with the base dependencies, and every serving command
(serve over real HTTP, predict, version, the registry) runs where the training stack cannot be imported."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
from fnmatch import fnmatch

import httpx
import numpy as np
import pytest
from net_support import free_port
from packaging.requirements import Requirement
from serving_support import encode
from slim_support import PYPROJECT, attempted, pyproject, refused_modules, slim_env, training_modules

import practica
from practica.registry import ENV_REGISTRY

TRAINING_STACK = {"torch", "sklearn", "matplotlib", "onnx", "onnxscript", "skl2onnx", "safetensors", "scipy"}


def practica_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "practica", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def env(tmp_path):
    return slim_env(tmp_path)


# --- the packaging ---

def test_every_serve_requirement_is_a_base_dependency_spelled_the_same():
    project = pyproject()
    assert set(project["optional-dependencies"]["serve"]) <= set(project["dependencies"])


def test_the_serve_extra_holds_nothing_for_training():
    names = {Requirement(r).name for r in pyproject()["optional-dependencies"]["serve"]}
    assert "onnxruntime" in names and "fastapi" in names
    assert not names & {"torch", "scikit-learn", "matplotlib", "onnx", "onnxscript", "skl2onnx", "safetensors"}


def test_the_deploy_script_prints_the_serve_extra():
    script = PYPROJECT.parent / "deploy" / "serve_requirements.py"
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == pyproject()["optional-dependencies"]["serve"]


def test_the_imitation_refuses_the_training_stack():
    refused = refused_modules()
    assert refused >= TRAINING_STACK and training_modules() >= TRAINING_STACK
    assert not {"onnxruntime", "fastapi", "uvicorn", "numpy", "PIL", "practica"} & refused


def test_the_imitation_works(env):
    done = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "not in the slim serving install" in done.stderr
    assert attempted(env) == {"torch"}


# --- the commands, with the training stack refused ---

def test_version_and_help_without_the_training_stack(env):
    version = practica_cli("version", env=env)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith(practica.__version__)
    helped = practica_cli("--help", env=env)
    assert helped.returncode == 0 and "serve" in helped.stdout, helped.stderr
    assert not attempted(env) & training_modules()


@pytest.mark.parametrize("which", ["cnn_bundle", "baseline_bundle"])
def test_predict_without_the_training_stack(env, which, request, digit_images, tmp_path):
    """A network and a scikit-learn baseline alike: both are ONNX in the bundle."""
    image = tmp_path / "digit.png"
    image.write_bytes(encode(digit_images[0]))
    out = tmp_path / "rows.json"
    done = practica_cli("predict", str(request.getfixturevalue(which)), str(image), "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())
    assert len(rows) == 1 and rows[0]["prediction"] is not None and rows[0]["error"] is None
    assert not attempted(env) & training_modules()


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_serve_answers_over_http_without_the_training_stack(env, cnn_bundle, digit_images, workers):
    answer = serve_and_predict([str(cnn_bundle), "--workers", str(workers)], env, digit_images[0])
    assert answer["predictions"][0]["label"] in [str(i) for i in range(10)]
    assert not attempted(env) & training_modules()


def test_monitoring_without_the_training_stack(env, cnn_bundle, digit_images, tmp_path):
    """The prediction log and /v1/monitor's drift statistics are part of serving: they run in the slim install."""
    if "--monitor-db" not in practica_cli("serve", "--help", env=env).stdout:
        pytest.skip("no `practica serve --monitor-db` in this checkout")
    args = [str(cnn_bundle), "--monitor-db", str(tmp_path / "predictions.db")]
    serve_and_predict(args, env, digit_images[0], pages=("/", "/v1/monitor", "/metrics"))
    assert not attempted(env) & training_modules()


def test_registry_commands_without_the_training_stack(env, cnn_bundle, baseline_bundle, digit_images, tmp_path):
    if practica_cli("registry", "--help", env=env).returncode != 0:
        pytest.skip("no `practica registry` command in this checkout")
    env = {**env, ENV_REGISTRY: str(tmp_path / "registry")}
    for args in (["register", str(baseline_bundle), "--alias", "production"], ["register", str(cnn_bundle)],
                 ["promote", "production", "2"], ["rollback", "production"], ["promote", "production", "2"],
                 ["list"], ["show", "production"]):
        done = practica_cli("registry", *args, env=env)
        assert done.returncode == 0, (args, done.stderr)
    if "--registry" in practica_cli("serve", "--help", env=env).stdout:
        answer = serve_and_predict([], env, digit_images[0])  # the production alias of $PRACTICA_REGISTRY
        assert answer["model_version"].startswith("tiny/cnn@")
    assert not attempted(env) & training_modules()


def serve_and_predict(args: list[str], env: dict[str, str], image: np.ndarray, pages: tuple[str, ...] = ("/",)) -> dict:
    """Start ``practica serve ARGS``, wait until healthy, ask for one prediction and these pages, stop it (SIGTERM)."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "practica", "serve", *args, "--port", str(port),
                               "--no-access-log"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        health = wait_for_health(url, server)
        encoded = base64.b64encode(encode(image)).decode()
        answer = httpx.post(f"{url}/v1/predict", json={"inputs": [{"image": encoded}], "top_k": 2}, timeout=10)
        got = {path: httpx.get(f"{url}{path}", timeout=10) for path in pages}
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert health.json()["ready"] is True
    assert answer.status_code == 200, answer.text
    assert {path: r.status_code for path, r in got.items()} == dict.fromkeys(pages, 200), stderr[-3000:]
    assert "Traceback" not in stderr, stderr
    return answer.json()


def wait_for_health(url: str, server: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"practica serve exited with {server.returncode}: {server.communicate()[1]}")
        try:
            response = httpx.get(f"{url}/v1/health", timeout=1)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail("practica serve did not answer /v1/health within 60 s")


# --- the image ---

def test_the_dockerfile_copies_only_what_exists_and_docker_sends():
    """Every COPY source is in the repository and not dropped by .dockerignore (docker is not run here)."""
    root = PYPROJECT.parent
    lines = (root / "Dockerfile").read_text().splitlines()
    ignored = [p for p in (root / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")]
    sources = [word for line in lines if line.startswith("COPY ") and "--from=" not in line
               for word in line.split()[1:-1]]
    assert sources, "no COPY in the Dockerfile"
    for source in sources:
        assert (root / source).exists(), source
        assert not [p for p in ignored if fnmatch(source, p) or source.split("/")[0] == p], source
    assert lines.count("FROM python:3.11-slim") == 1 and "FROM python:3.11-slim AS build" in lines
    text = "\n".join(lines)
    assert "deploy/serve_requirements.py" in text and "install --no-deps ." in text and "USER practica" in text
    assert "/v1/health" in text and 'ENTRYPOINT ["practica", "serve", "/bundle", "--host", "0.0.0.0"]' in text
