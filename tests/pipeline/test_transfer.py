"""Transfer learning on digits (8×8 grey images): a small network pretrained for one epoch in a run, kept
as a run, a bundle, a safetensors file and a PyTorch state dict; each source loads bit-exact, freezing
freezes, unfreezing trains the backbone at the lower rate, and a fine-tuned bundle stands alone."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from practica.config import suite_from_dict
from practica.config.schema import ModelSpec, TrainSpec, UnfreezeSpec
from practica.data import prepare_data
from practica.errors import BundleError, ConfigError, ModelError
from practica.models.registry import build_network
from practica.models.transfer import body_state, head_name
from practica.pipeline.backbone import pretrained_network, read_backbone
from practica.pipeline.export import export_run
from practica.pipeline.suite import run_suite
from practica.training.schedules import make_optimizer, param_groups
from practica.training.trainer import fit
from practica.training.transfer import TransferPlan

NET = {"layers": [{"conv": 8}, "batchnorm", "relu", {"conv": 8}, "batchnorm", "relu", "global_avgpool"]}
DATA = {"source": "digits", "max_samples": 300, "split": {"val": 0.2, "test": 0.2, "seed": 0}}
QUICK = {"latency_samples": 5, "throughput_batch": 8, "latency_budget_s": 0.1, "bootstrap_resamples": 100}
SHAPE, CLASSES = (1, 8, 8), 10


def spec(**pretrained) -> ModelSpec:
    return ModelSpec.model_validate({**NET, "pretrained": pretrained})


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """The pretrained network as a run's experiment, a bundle, a .safetensors body and a .pt state dict."""
    root = tmp_path_factory.mktemp("transfer")
    suite = {"name": "pre", "dataset": DATA, "evaluation": QUICK,
             "experiments": [{"name": "cnn", "model": NET, "train": {"epochs": 1}}]}
    run = run_suite(suite_from_dict(suite), runs_root=root / "runs")
    bundle = export_run(run.run_dir, "cnn", root / "bundle")
    tensors = read_backbone(f"{run.run_dir}#cnn").tensors
    save_file(body_state(tensors), str(root / "body.safetensors"))
    torch.save(dict(tensors), root / "whole.pt")
    return {"run": f"{run.run_dir}#cnn", "suite_folder": f"{run.run_dir.parent}#cnn", "bundle": str(bundle),
            "safetensors": str(root / "body.safetensors"), "pt": str(root / "whole.pt"), "tensors": tensors,
            "root": root, "run_dir": run.run_dir}


@pytest.fixture(scope="module")
def splits():
    return prepare_data(suite_from_dict({"name": "d", "dataset": DATA,
                                         "experiments": [{"name": "a", "model": NET}]}).dataset)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["run", "suite_folder", "bundle", "safetensors", "pt"])
def test_every_source_loads_the_backbone_bit_exact_with_a_new_head(sources, kind):
    make_body, plan, note = pretrained_network(spec(**{"from": sources[kind]}), SHAPE, CLASSES)
    torch.manual_seed(123)
    body = make_body()
    pretrained = body_state(sources["tensors"])
    head = head_name(body) + "."
    for key, value in body.state_dict().items():
        if key.startswith(head):
            assert not torch.equal(value, pretrained[key]), key  # a fresh head
        else:
            assert torch.equal(value, pretrained[key]), key
    assert "new head" in note
    if kind in ("run", "bundle"):  # the backbone's own normalisation comes with it
        assert torch.equal(plan.mean, sources["tensors"]["mean"])


@pytest.mark.slow
def test_freeze_all_keeps_the_backbone_and_its_statistics(sources, splits):
    make_body, plan, _ = pretrained_network(spec(**{"from": sources["run"], "freeze": "all"}), SHAPE, CLASSES)
    result = fit(make_body, splits.train, splits.val, TrainSpec(epochs=2, batch_size=32), transfer=plan)
    after = result.model.body.state_dict()
    before = body_state(sources["tensors"])
    head = head_name(result.model.body) + "."
    for key, value in after.items():
        if not key.startswith(head):
            assert torch.equal(value, before[key]), key  # weights and batch-norm running statistics
    assert not any(p.requires_grad for n, p in result.model.body.named_parameters() if not n.startswith(head))
    assert np.isfinite(result.history.epochs[-1].train_loss)


@pytest.mark.slow
def test_unfreeze_trains_the_backbone_at_the_lower_rate(sources, splits):
    model = spec(**{"from": sources["run"], "freeze": "all", "unfreeze": {"after_epochs": 1, "lr_factor": 0.1}})
    make_body, plan, note = pretrained_network(model, SHAPE, CLASSES)
    result = fit(make_body, splits.train, splits.val, TrainSpec(epochs=2, batch_size=32), transfer=plan)
    before = body_state(sources["tensors"])
    assert not torch.equal(result.model.body.state_dict()["0.weight"], before["0.weight"])
    assert all(p.requires_grad for p in result.model.body.parameters())
    assert "frozen: all for 1 epoch, then at 0.1× the learning rate" in note


def test_the_frozen_layers_group_runs_at_the_lower_rate():
    body = build_network(ModelSpec.model_validate(NET), SHAPE, CLASSES)
    plan = TransferPlan(freeze="all", unfreeze=UnfreezeSpec(after_epochs=1, lr_factor=0.1))
    frozen = plan.frozen(body)
    groups = plan.param_groups([{"params": list(param_groups(body))}], frozen)
    optimizer = make_optimizer(TrainSpec().optimizer, groups, TrainSpec().schedule)
    lrs = [g["lr"] for g in optimizer.param_groups]
    assert lrs == pytest.approx([1e-3, 1e-4])
    assert {id(p) for p in optimizer.param_groups[0]["params"]} == {id(p) for p in body[-1].parameters()}
    frozen.release()
    assert all(p.requires_grad for p in body.parameters())


def test_freeze_up_to_a_named_layer():
    body = build_network(ModelSpec.model_validate(NET), SHAPE, CLASSES)
    TransferPlan(freeze="1").frozen(body)
    assert [n for n, p in body.named_parameters() if not p.requires_grad] == ["0.weight", "0.bias", "1.weight",
                                                                               "1.bias"]


@pytest.mark.slow
def test_a_fine_tuned_bundle_stands_alone_and_predicts_as_trained(sources, tmp_path):
    from practica.bundle import load_bundle

    backbone_run = tmp_path / "backbone"
    shutil.copytree(sources["run_dir"], backbone_run)
    suite = {"name": "ft", "dataset": DATA, "evaluation": QUICK, "experiments": [
        {"name": "scratch", "model": NET, "train": {"epochs": 2}},
        {"name": "tuned", "model": {**NET, "pretrained": {"from": f"{backbone_run}#cnn", "freeze": "all",
                                                          "unfreeze": {"after_epochs": 1}}},
         "train": {"epochs": 2}},
        {"name": "probe", "model": {"sklearn": "logistic_regression", "features": {"from": f"{backbone_run}#cnn"}}}]}
    run = run_suite(suite_from_dict(suite), runs_root=tmp_path / "runs")
    assert [type(r).__name__ for r in run.results] == ["Ok", "Ok", "Ok"]
    assert "frozen" in run.results[2].trained.model_summary  # the features baseline says what it is fitted on
    report = (run.run_dir / "report.md").read_text()
    assert "### What transfer bought" in report and "What transfer bought" in (run.run_dir / "report.html").read_text()
    assert re.search(r"tuned \(from pretrained weights\) reaches [\d.]+% validation accuracy \([\d.]+% on test, "
                     r"2 epochs in .*\): ([\d.]+ points (above|below)|level with) scratch \([\d.]+%", report)
    assert "probe (on a network's frozen features) reaches" in report
    assert "no twin to measure what transfer bought: add the same baseline on raw inputs" in report
    with pytest.raises(BundleError, match="baseline on a network's features, which has no ONNX form yet"):
        export_run(run.run_dir, "probe", tmp_path / "probe-bundle")
    bundle_dir = export_run(run.run_dir, "tuned", tmp_path / "bundle")
    shutil.rmtree(backbone_run)  # the backbone is gone: the bundle needs none of it
    card = (bundle_dir / "bundle.json").read_text()
    assert str(backbone_run) not in card and "pretrained" not in json.loads(card)["model"]["spec"]
    bundle = load_bundle(bundle_dir)
    splits = prepare_data(suite_from_dict(suite).dataset)
    expected = run.results[1].predictions.test
    got = bundle.predict_proba(splits.test.x)
    np.testing.assert_allclose(got, expected, atol=1e-5)  # the run kept its probabilities
    assert bundle.torch_model() is not None


# ------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("source", "message"), [
    ("missing.safetensors", "does not exist"),
    ("weights.bin", "a .bin file is not a form practica reads"),
    ("list.pt", "hold list, not a state dict"),
    ("object.pt", "not a PyTorch state dict readable with weights_only=True"),
    ("broken.safetensors", "cannot be read as safetensors"),
])
def test_a_bad_weights_file_is_named_with_the_fix(tmp_path, source, message):
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    torch.save({"x": np.dtype("float32")}, tmp_path / "object.pt")  # needs full unpickling
    (tmp_path / "weights.bin").write_bytes(b"x")
    (tmp_path / "broken.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ConfigError, match=message):
        read_backbone(str(tmp_path / source))


@pytest.mark.slow
def test_a_wrong_run_or_experiment_is_named(sources, tmp_path):
    run_dir = sources["run"].split("#")[0]
    with pytest.raises(ConfigError, match="has no experiment 'resnet'; its experiments: cnn"):
        read_backbone(f"{run_dir}#resnet")
    with pytest.raises(ConfigError, match="names a run but not which experiment's weights; add #NAME, one of: cnn"):
        read_backbone(run_dir)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="is not a practica run"):
        read_backbone(f"{tmp_path / 'empty'}#cnn")


def test_a_backbone_of_another_shape_names_the_first_mismatched_tensor(tmp_path):
    wide = build_network(ModelSpec.model_validate({"layers": [{"conv": 16}, "batchnorm", "relu", {"conv": 8},
                                                              "batchnorm", "relu", "global_avgpool"]}), SHAPE, 10)
    save_file(wide.state_dict(), str(tmp_path / "wide.safetensors"))
    with pytest.raises(ModelError, match="tensor '0.weight' is 16×1×3×3 there and 8×1×3×3 in this network"):
        pretrained_network(spec(**{"from": str(tmp_path / "wide.safetensors")}), SHAPE, CLASSES)


def test_a_backbone_of_other_channels_says_how_to_adapt_the_data(tmp_path):
    colour = build_network(ModelSpec.model_validate(NET), (3, 8, 8), 10)
    save_file(colour.state_dict(), str(tmp_path / "rgb.safetensors"))
    with pytest.raises(ModelError, match="takes 3-channel images and the data has 1; .* dataset.channels: 3"):
        pretrained_network(spec(**{"from": str(tmp_path / "rgb.safetensors")}), SHAPE, CLASSES)
    declared = spec(**{"from": str(tmp_path / "rgb.safetensors"), "input_shape": [3, 32, 32]})
    with pytest.raises(ModelError, match=r"learned on images of 32×32 with 3 channels, and this data's are 8×8 with "
                                         r"1 channel; adapt the data with dataset.channels: 3 .* and "
                                         r"dataset.image_size: \[32, 32\]"):
        pretrained_network(declared, SHAPE, CLASSES)


def test_a_kept_head_for_other_classes_says_to_use_a_new_one(tmp_path):
    five = build_network(ModelSpec.model_validate(NET), SHAPE, 5)
    save_file(five.state_dict(), str(tmp_path / "five.safetensors"))
    with pytest.raises(ModelError, match="use head: new for a data set with other classes"):
        pretrained_network(spec(**{"from": str(tmp_path / "five.safetensors"), "head": "keep"}), SHAPE, CLASSES)
    pretrained_network(spec(**{"from": str(tmp_path / "five.safetensors")}), SHAPE, CLASSES)  # head: new fits


@pytest.mark.parametrize(("model", "train", "message"), [
    ({**NET, "pretrained": {"from": "w.pt", "unfreeze": {"after_epochs": 1}}}, {}, "unfreeze needs pretrained.freeze"),
    ({**NET, "pretrained": {"from": "w.pt", "freeze": "all", "unfreeze": {"after_epochs": 3}}}, {"epochs": 3},
     r"after_epochs \(3\) >= train.epochs \(3\)"),
    ({**NET, "pretrained": {"from": "w.pt", "freeze": "9"}}, {}, "'9' is not a layer of this network; .* 6 "
     r"\(Sequential\), 7 \(Linear, the head\)"),
    ({**NET, "pretrained": {"from": "w.pt", "freeze": 7}}, {}, "would freeze the head"),
    ({**NET, "pretrained": {"from": "w.pt", "head": "keep", "freeze": "all"}}, {}, "leaves nothing to train"),
    ({"sklearn": "knn", "pretrained": {"from": "w.pt"}}, {}, "'pretrained' applies to networks"),
    ({**NET, "features": {"from": "r#a"}}, {}, "'features' applies to scikit-learn baselines"),
    ({**NET, "pretrained": {"from": "w.pt", "lr": 0.1}}, {}, "unknown key 'lr'"),
])
def test_inconsistent_transfer_settings_are_refused(model, train, message):
    with pytest.raises(ConfigError, match=message):
        suite_from_dict({"name": "t", "dataset": {"source": "digits"},
                         "experiments": [{"name": "a", "model": model, "train": train}]})


def test_a_suite_without_transfer_resolves_as_before():
    suite = suite_from_dict({"name": "t", "dataset": {"source": "digits"},
                             "experiments": [{"name": "a", "model": NET}]})
    assert set(suite.experiments[0].model.model_dump(mode="json")) == {"layers", "arch", "sklearn", "params"}


def test_pretrained_paths_resolve_against_the_suite_folder(tmp_path):
    suite = suite_from_dict({"name": "t", "dataset": {"source": "digits"}, "experiments": [
        {"name": "a", "model": {**NET, "pretrained": {"from": "runs/pre#cnn"}}}]}, base_dir=tmp_path)
    assert suite.experiments[0].model.pretrained.source == f"{tmp_path.resolve()}/runs/pre#cnn"
    assert suite.model_dump(mode="json")["experiments"][0]["model"]["pretrained"]["from"].endswith("runs/pre#cnn")
