"""``arch: fastnet``: whitening from data, optimizer groups, test-time augmentation, export, errors."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from practica.bundle.inputs import InputSpec
from practica.bundle.onnx_export import torch_to_onnx
from practica.config.schema import ModelSpec, OptimizerSpec, ScheduleSpec, TrainSpec
from practica.data.records import Dataset
from practica.diagnosis.curves import Curves
from practica.diagnosis.facts import run_facts
from practica.errors import ModelError
from practica.evaluation.predictors import TorchPredictor
from practica.models.classifier import Classifier
from practica.models.fastnet import BIAS_LR_SCALE, fastnet
from practica.models.registry import build_network
from practica.training.history import HISTORY
from practica.training.schedules import make_optimizer, param_groups
from practica.training.trainer import fit


def correlated_images(n: int = 400, side: int = 16, seed: int = 0) -> torch.Tensor:
    """Smooth images with correlated channels: their 2×2 patches are far from white."""
    g = torch.Generator().manual_seed(seed)
    base = torch.nn.functional.avg_pool2d(torch.randn(n, 1, side + 3, side + 3, generator=g), 4, stride=1)
    return torch.cat([base, 0.8 * base + 0.2 * torch.randn(n, 1, side, side, generator=g), -base], 1)


def test_whitening_filters_decorrelate_the_patches_they_were_fitted_on():
    net = fastnet((3, 16, 16), 10)
    x = correlated_images()
    net.init_from_data(x)
    half = net.whiten.weight.shape[0] // 2
    with torch.no_grad():
        out = torch.nn.functional.conv2d(x, net.whiten.weight[:half])  # the + filters, no bias
    flat = out.permute(0, 2, 3, 1).reshape(-1, half).double()
    cov = torch.cov(flat.T)
    off_diagonal = cov - torch.diag(torch.diag(cov))
    assert off_diagonal.abs().max() < 1e-3  # uncorrelated
    # unit variance, a little less along directions of tiny variance (scaled by 1/√(λ + ε), not 1/√λ)
    assert torch.diag(cov).max() <= 1.0 + 1e-3 and (torch.diag(cov) > 0.9).sum() >= 8
    assert torch.equal(net.whiten.weight[half:], -net.whiten.weight[:half])
    assert not net.whiten.weight.requires_grad and net.whiten.bias.requires_grad


def test_batchnorm_shifts_get_their_own_learning_rate_and_scales_stay_fixed():
    model = Classifier(fastnet((3, 16, 16), 4, widths=(8, 16, 16)), torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1))
    groups = param_groups(model)
    opt = make_optimizer(OptimizerSpec(name="sgd", lr=0.1, weight_decay=0.01), groups, ScheduleSpec())
    plain, shifts = opt.param_groups
    assert shifts["lr"] == pytest.approx(0.1 * BIAS_LR_SCALE)
    assert shifts["lr"] * shifts["weight_decay"] == pytest.approx(plain["lr"] * plain["weight_decay"])
    trained = {id(p) for g in opt.param_groups for p in g["params"]}
    assert trained == {id(p) for p in model.parameters() if p.requires_grad}
    scales = [m.weight for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert scales and not any(w.requires_grad for w in scales)


def test_mirror_tta_makes_predictions_flip_invariant_and_is_off_in_training():
    net = fastnet((3, 16, 16), 5, widths=(8, 16, 16), tta=1)
    x = torch.rand(6, 3, 16, 16)
    net.eval()
    with torch.no_grad():
        assert torch.allclose(net(x), net(x.flip(3)), atol=1e-6)
        assert torch.allclose(net(x), (net.logits(x) + net.logits(x.flip(3))) / 2, atol=1e-6)
        net.tta = 0
        assert torch.allclose(net(x), net.logits(x))
    net.train()
    net.tta = 1
    with torch.no_grad():  # training sees one view: batch statistics, same batch, same output
        assert torch.allclose(net(x), net.logits(x), atol=1e-6)


def test_exported_model_matches_torch_with_shift_and_mirror_tta(tmp_path):
    body = fastnet((3, 16, 16), 4, widths=(8, 16, 16), tta=2)
    body.init_from_data(correlated_images(64))
    model = Classifier(body, torch.full((1, 3, 1, 1), 0.5), torch.full((1, 3, 1, 1), 0.25)).eval()
    path = tmp_path / "m.onnx"
    torch_to_onnx(model, InputSpec("image", (16, 16, 3)), path)
    images = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: images})[0]
    with torch.no_grad():
        want = torch.softmax(model(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255), 1).numpy()
    assert np.abs(got - want).max() < 1e-4


@pytest.mark.slow
def test_fastnet_learns_a_small_image_task():
    rng = np.random.default_rng(0)
    n = 600
    y = rng.integers(0, 2, n)
    x = rng.integers(0, 80, (n, 16, 16, 3)).astype(np.uint8)
    x[y == 1, 4:12, 4:12, 0] = 230  # class 1: a bright red square
    data = Dataset("squares", x, y.astype(np.int64), ("plain", "square"))
    train, val = data.subset(np.arange(500)), data.subset(np.arange(500, n))
    spec = TrainSpec(epochs=3, batch_size=64, label_smoothing=0.2, seed=0,
                     optimizer=OptimizerSpec(name="sgd", lr=0.2, momentum=0.85, nesterov=True, weight_decay=5e-4),
                     schedule=ScheduleSpec(name="triangle", pct_start=0.3))
    result = fit(lambda: fastnet((3, 16, 16), 2, widths=(8, 16, 16)), train, val, spec)
    assert result.history.epochs[-1].metrics["val_accuracy"] > 0.95
    # fit gave the network its whitening filters from the training images (not the random init)
    half = result.model.body.whiten.weight.shape[0] // 2
    assert torch.equal(result.model.body.whiten.weight[half:], -result.model.body.whiten.weight[:half])


@pytest.mark.slow
def test_per_epoch_validation_sees_one_view_and_the_model_keeps_its_tta():
    # The class is which side a bright square is on: the mirror view argues for the other class, so
    # mirror TTA averages every prediction toward a coin flip, while one view is right.
    rng = np.random.default_rng(0)
    n = 600
    y = rng.integers(0, 2, n)
    x = rng.integers(0, 60, (n, 16, 16, 3)).astype(np.uint8)
    for i in range(n):
        x[i, 5:11, 1:7, :] = 240 if y[i] == 1 else x[i, 5:11, 1:7, :]
        x[i, 5:11, 9:15, :] = 240 if y[i] == 0 else x[i, 5:11, 9:15, :]
    data = Dataset("sides", x, y.astype(np.int64), ("right", "left"))
    train, val = data.subset(np.arange(500)), data.subset(np.arange(500, n))
    spec = TrainSpec(epochs=3, batch_size=64, seed=0,
                     optimizer=OptimizerSpec(name="sgd", lr=0.2, momentum=0.85, nesterov=True))
    result = fit(lambda: fastnet((3, 16, 16), 2, widths=(8, 16, 16), tta=1), train, val, spec)
    assert result.model.body.tta == 1  # restored after each validation
    with_views = TorchPredictor(result.model).predict_proba(val.x)  # as the evaluation stage sees it
    with result.model.body.single_view():
        one_view = TorchPredictor(result.model).predict_proba(val.x)
    assert result.history.epochs[-1].metrics["val_accuracy"] == pytest.approx((one_view.argmax(1) == val.y).mean())
    assert result.history.epochs[-1].metrics["val_accuracy"] > 0.95
    assert np.abs(with_views - one_view).max() > 0.1
    # The report says so beside the curves' numbers, and the note survives the run's history.json.
    note = result.history.validation_note
    assert "one view per image" in note and "averaging 2 test-time views" in note
    assert HISTORY.validate_python(HISTORY.dump_python(result.history)).validation_note == note
    assert note in run_facts(Curves.of(result.history), result.history)


@pytest.mark.slow
def test_whitening_bias_trains_for_its_epochs_then_stays_fixed():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 255, (256, 16, 16, 3)).astype(np.uint8)
    data = Dataset("noise", x, rng.integers(0, 2, 256).astype(np.int64), ("a", "b"))
    train, val = data.subset(np.arange(192)), data.subset(np.arange(192, 256))
    spec = TrainSpec(batch_size=64, seed=0, optimizer=OptimizerSpec(name="sgd", lr=0.1, momentum=0.9))

    def bias(epochs: int) -> torch.Tensor:
        net = lambda: fastnet((3, 16, 16), 2, widths=(8, 8, 8), whiten_bias_epochs=1)  # noqa: E731
        return fit(net, train, val, spec.model_copy(update={"epochs": epochs})).model.body.whiten.bias

    assert not torch.equal(bias(1), torch.zeros(24))  # learned in epoch 1
    assert torch.equal(bias(3), bias(1))  # then fixed: no gradient, no momentum, no decay


@pytest.mark.parametrize(
    ("shape", "params", "message"),
    [
        ((20,), {}, "needs image input"),
        ((3, 8, 8), {}, "at least 16×16"),
        ((3, 32, 32), {"widths": [64, 256]}, "three positive numbers"),
        ((3, 32, 32), {"tta": 3}, "tta must be 0"),
        ((3, 32, 32), {"whiten_bias_epochs": -1}, "whiten_bias_epochs must be 0 or more"),
    ],
)
def test_fastnet_refuses_what_it_cannot_build(shape, params, message):
    with pytest.raises(ModelError, match=message):
        build_network(ModelSpec(arch="fastnet", params=params), shape, 10)


def test_fastnet_param_typo_is_caught_when_the_suite_loads():
    with pytest.raises(ValueError, match="params.width is not an option of arch 'fastnet'"):
        ModelSpec(arch="fastnet", params={"width": [64, 256, 256]})
