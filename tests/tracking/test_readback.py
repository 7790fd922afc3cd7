"""A tracked run read back with each library's own client: MLflow's search_runs and registry, TensorBoard's
event reader."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
mlflow = pytest.importorskip("mlflow")


def _client(root):
    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{root.resolve() / 'mlflow.db'}")


def test_the_suite_run_is_an_mlflow_experiment_and_each_experiment_a_run(tracked_run) -> None:
    run, root = tracked_run
    mlflow.set_tracking_uri(f"sqlite:///{root.resolve() / 'mlflow.db'}")
    try:
        runs = mlflow.search_runs(experiment_names=[f"tiny/{run.run_id}"], output_format="list")
    finally:
        mlflow.set_tracking_uri(None)
    by_name = {r.info.run_name: r for r in runs}
    assert set(by_name) == {"mlp", "nb", "decision"}
    mlp = by_name["mlp"].data
    assert mlp.params["model.arch"] == "mlp"
    assert mlp.params["model.params.hidden"] == "[32]"
    assert mlp.params["train.epochs"] == "2"
    assert mlp.tags["practica.status"] == "ok"
    assert mlp.tags["practica.verdict"] == run.result("mlp").diagnosis.verdict
    assert mlp.tags["practica.selection"] in ("chosen", "not chosen", "rejected")
    assert mlp.metrics["val_accuracy"] == pytest.approx(run.result("mlp").evaluation.val.classification.accuracy)
    for name in ("test_accuracy", "val_accuracy_low", "val_accuracy_high", "latency_p95_ms", "size_bytes"):
        assert name in mlp.metrics
    assert by_name["nb"].data.tags["practica.model_kind"] == "sklearn"
    assert by_name["decision"].data.tags["practica.chosen"] == run.decision.chosen


def test_per_epoch_figures_are_metric_histories_stepped_by_epoch(tracked_run) -> None:
    run, root = tracked_run
    client = _client(root)
    exp = client.get_experiment_by_name(f"tiny/{run.run_id}")
    (mlp,) = client.search_runs([exp.experiment_id], "attributes.run_name = 'mlp'")
    history = client.get_metric_history(mlp.info.run_id, "epoch/loss/val")
    recorded = run.result("mlp").history
    assert [m.step for m in history] == [1, 2]
    assert [m.value for m in history] == pytest.approx(recorded.column("val_loss"))
    assert [m.step for m in client.get_metric_history(mlp.info.run_id, "epoch/accuracy/train")] == [1, 2]
    assert [m.step for m in client.get_metric_history(mlp.info.run_id, "epoch/lr")] == [1, 2]


def test_artifacts_decision_and_report(tracked_run) -> None:
    run, root = tracked_run
    client = _client(root)
    exp = client.get_experiment_by_name(f"tiny/{run.run_id}")
    runs = {r.info.run_name: r.info.run_id for r in client.search_runs([exp.experiment_id])}
    assert "confusion_validation.png" in {a.path for a in client.list_artifacts(runs["mlp"])}
    decision = {a.path for a in client.list_artifacts(runs["decision"])}
    assert {"decision.txt", "decision.json", "report"} <= decision
    assert {"report/report.html", "report/report.md"} <= {a.path for a in client.list_artifacts(runs["decision"],
                                                                                              "report")}
    (root / "read").mkdir()
    text = client.download_artifacts(runs["decision"], "decision.txt", str(root / "read"))
    assert run.decision.summary in Path(text).read_text(encoding="utf-8")
    assert exp.tags["practica.chosen"] == run.decision.chosen


def test_the_chosen_bundle_is_a_registered_model_with_its_signature(tracked_run) -> None:
    run, root = tracked_run
    client = _client(root)
    (version,) = client.search_model_versions("name = 'tiny'")
    assert client.get_run(version.run_id).info.run_name == run.decision.chosen
    assert "bundle" in {a.path for a in client.list_artifacts(version.run_id)}
    mlflow.set_tracking_uri(client.tracking_uri)
    try:
        info = mlflow.models.get_model_info(f"models:/tiny/{version.version}")
    finally:
        mlflow.set_tracking_uri(None)
    assert "onnx" in info.flavors
    (spec,) = info.signature.inputs.inputs
    assert (spec.name, str(spec.type), spec.shape) == ("images", "uint8", (-1, 8, 8, 1))
    (out,) = info.signature.outputs.inputs
    assert out.shape == (-1, 10)


def test_tensorboard_events_read_back(tracked_run) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    run, root = tracked_run
    folder = root / "tensorboard" / run.run_id
    mlp = EventAccumulator(str(folder / "mlp"), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    mlp.Reload()
    tags = mlp.Tags()
    assert {"loss/train", "loss/val", "accuracy/train", "accuracy/val", "lr"} <= set(tags["scalars"])
    assert [e.step for e in mlp.Scalars("loss/val")] == [1, 2]
    assert [e.value for e in mlp.Scalars("loss/val")] == pytest.approx(run.result("mlp").history.column("val_loss"))
    assert "confusion/val" in tags["images"]
    content = mlp.PluginTagToContent("hparams")
    session = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = session.session_start_info.hparams
    assert hparams["model.arch"].string_value == "mlp"
    assert hparams["train.epochs"].number_value == 2
    nb = EventAccumulator(str(folder / "nb"), size_guidance={"images": 0})
    nb.Reload()
    assert "final/val_accuracy" in nb.Tags()["scalars"]
    assert "confusion/val" in nb.Tags()["images"]
