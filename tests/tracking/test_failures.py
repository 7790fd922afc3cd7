"""A tracker that fails costs the run nothing: one warning, and the run goes on."""

from __future__ import annotations

import pytest
from conftest import tracked_suite

from practica.config import suite_from_dict
from practica.config.schema import TrackingSpec
from practica.pipeline.suite import SilentReporter, run_suite
from practica.results import Failed
from practica.tracking import SuiteLog, Tracking


class Broken:
    label = "Broken"

    def __init__(self) -> None:
        self.calls = 0

    def start(self) -> None: ...

    def where(self) -> str:
        return "nowhere"

    def experiment(self, log) -> None:
        self.calls += 1
        raise ConnectionError("connection refused\nsecond line")

    def finish(self, log: SuiteLog) -> None:
        self.calls += 1


def test_a_failing_tracker_warns_once_in_one_line_and_is_dropped() -> None:
    warnings: list[str] = []
    broken = Broken()
    tracking = Tracking([broken], warnings.append, suite="s", run_id="r")
    specs = suite_from_dict({**tracked_suite(), "experiments": [{"name": n, "model": {"arch": "mlp"}}
                                                                for n in ("a", "b")]}).experiments
    tracking.experiments([Failed(spec, "it broke") for spec in specs], "classification", ())
    assert broken.calls == 1
    (line,) = warnings
    assert "\n" not in line
    assert "Broken could not log experiment a (ConnectionError: connection refused)" in line
    assert "the run goes on without Broken" in line


class Recorder(SilentReporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def stage(self, message: str) -> None:
        self.lines.append(message)


@pytest.mark.slow
@pytest.mark.parametrize("uri", ["http://127.0.0.1:9", "nosuchscheme://nowhere"])
def test_an_unreachable_or_bad_mlflow_uri_does_not_lose_the_run(tmp_path, uri) -> None:
    pytest.importorskip("mlflow")
    data = tracked_suite(mlflow={"uri": uri}, tensorboard=True)
    data["experiments"] = [e for e in data["experiments"] if e["name"] == "nb"]  # the quickest to fit
    reporter = Recorder()
    run = run_suite(suite_from_dict(data), runs_root=tmp_path, reporter=reporter)
    assert run.decision.chosen == "nb"
    assert (run.run_dir / "report.html").is_file()
    warned = [line for line in reporter.lines if "could not" in line]
    assert len(warned) == 1 and "MLflow could not start" in warned[0], reporter.lines
    assert "Tracking: TensorBoard events in" in reporter.lines[reporter.lines.index(warned[0]) + 1]
    assert (tmp_path / "tensorboard" / run.run_id / "nb").is_dir()  # the other tracker went on


def test_tracking_off_by_default() -> None:
    assert not TrackingSpec().enabled
