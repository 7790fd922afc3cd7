"""``practica monitor DB|URL``: the HTML report from a log file or a running server, and clear errors
(exit 2, one line) for a missing or corrupt file and for a server that does not answer."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from net_support import free_port, live_server
from typer.testing import CliRunner

from practica.bundle import load_bundle
from practica.bundle.reference import input_reference, output_reference
from practica.cli import app
from practica.monitoring import PredictionLog, PredictionRow
from practica.monitoring.summaries import input_summaries
from practica.serving import ServeSettings, create_app

runner = CliRunner()


@pytest.fixture(scope="module")
def shifted_log(tmp_path_factory):
    """An hour of digits traffic whose last quarter is inverted images, as a server would have logged it."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.round(d.images * 255 / 16).astype(np.uint8)[..., None]
    classes = tuple(str(i) for i in range(10))
    reference = {"inputs": input_reference(x[:1000]),
                 "outputs": output_reference(np.eye(10)[d.target[:1000]] * 0.9 + 0.01, classes)}
    path = tmp_path_factory.mktemp("monitor") / "log.db"
    start = time.time() - 3600
    rows = []
    for k in range(1200):
        image = x[1000 + k % 797]
        shifted = k >= 900
        rows.append(PredictionRow(
            time=start + 3 * k, model_version="digits@1", request_id=str(k),
            input_summary=input_summaries((255 - image if shifted else image)[None])[0],
            output="8" if shifted else classes[d.target[1000 + k % 797]], confidence=0.5 if shifted else 0.9,
            ood_score=None, ood_flag=None, latency_ms=2.0))
    with PredictionLog(path) as plog:
        plog.describe_model("digits@1", reference)
        plog.record(rows)
    return path


def test_report_from_a_log_file(shifted_log, tmp_path):
    out = tmp_path / "monitor.html"
    result = runner.invoke(app, ["monitor", str(shifted_log), "--out", str(out), "--window", "300"])
    assert result.exit_code == 0, result.output
    assert "1,200 inputs" in result.output and "alert" in result.output
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 3  # traffic, classes, drift over windows (no OOD flags logged)
    assert "drift alerts in the newest 300 inputs" in page
    assert "image brightness: PSI" in page and "digits@1" in page
    assert not re.search(r"\{\{|\{%", page)


def test_an_empty_log_still_gives_a_page(tmp_path):
    path = tmp_path / "empty.db"
    PredictionLog(path).close()
    out = tmp_path / "m.html"
    result = runner.invoke(app, ["monitor", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "holds no predictions yet" in out.read_text()


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no prediction log at"),
    (lambda p: p.write_bytes(b"\x00garbage" * 512), "not a readable prediction log"),
])
def test_bad_log_files_exit_2_with_a_clear_message(tmp_path, make, message):
    path = tmp_path / "log.db"
    make(path)
    result = runner.invoke(app, ["monitor", str(path), "--out", str(tmp_path / "m.html")])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "m.html").exists()


def test_a_url_that_does_not_answer(tmp_path):
    result = runner.invoke(app, ["monitor", f"http://127.0.0.1:{free_port()}", "--out", str(tmp_path / "m.html")])
    assert result.exit_code == 2
    assert "no answer from" in result.output and "is the server running" in result.output


def test_report_from_a_running_server(cnn_bundle, tiny_run, tmp_path):
    """A real uvicorn server: the page is drawn from GET /v1/monitor and /v1/monitor/rows; a server
    started without a log says how to start one."""
    bundle = load_bundle(cnn_bundle, threads=1)
    images = tiny_run.splits.test.x
    for settings, monitored in ((ServeSettings(monitor_db=str(tmp_path / "log.db")), True), (ServeSettings(), False)):
        with live_server(create_app(bundle, settings)) as (_, url):
            import httpx

            r = httpx.post(f"{url}/v1/predict", json={"inputs": [{"pixels": x.tolist()} for x in images[:40]]})
            assert r.status_code == 200
            result = runner.invoke(app, ["monitor", url, "--out", str(tmp_path / "m.html"), "--window", "40"])
        if monitored:
            assert result.exit_code == 0, result.output
            assert "40 inputs" in result.output and bundle.version in (tmp_path / "m.html").read_text()
        else:
            assert result.exit_code == 2
            assert "answered 404" in result.output and "--monitor-db PATH" in result.output


@pytest.mark.parametrize("options, message", [
    (["--alert-webhook", "ftp://example.com/hook"], "must be an http:// or https:// URL"),
    (["--monitor-db", "{tmp}/garbage.db"], "not a readable prediction log"),
])
def test_serve_refuses_bad_monitoring_options_before_starting(cnn_bundle, tmp_path, options, message):
    (tmp_path / "garbage.db").write_bytes(b"\x01not sqlite" * 300)
    options = [o.replace("{tmp}", str(tmp_path)) for o in options]
    result = runner.invoke(app, ["serve", str(cnn_bundle), "--port", "0", *options])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
