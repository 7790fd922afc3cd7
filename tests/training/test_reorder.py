"""pool_before_relu: the same values and gradients, ReLU after the pooling."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from practica.config.schema import ModelSpec, TrainSpec
from practica.models.registry import build_network
from practica.models.zoo import keras_cnn
from practica.training.reorder import pool_before_relu
from practica.training.trainer import fit


def test_keras_cnn_pools_first_and_computes_the_same():
    torch.manual_seed(0)
    net = keras_cnn((3, 32, 32), 10, dropout=False)
    pooled = copy.deepcopy(net)
    assert pool_before_relu(pooled) == 2
    kinds = [type(m).__name__ for m in pooled]
    assert kinds[:6] == ["Conv2d", "ReLU", "Conv2d", "MaxPool2d", "ReLU", "Identity"]
    assert pooled.state_dict().keys() == net.state_dict().keys()  # no weight renamed

    x = torch.randn(8, 3, 32, 32)
    x[0] = -x[0].abs()  # an image whose windows hold only negatives somewhere down the net
    for model in (net, pooled):
        model.zero_grad()
        model(x).square().sum().backward()
    assert torch.equal(pooled(x), net(x))
    for (name, a), b in zip(net.named_parameters(), pooled.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, rtol=1e-5, atol=1e-6), name


def test_padding_ceil_mode_and_all_negative_windows_agree():
    pool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
    x = torch.randn(2, 4, 9, 9, requires_grad=True)
    with torch.no_grad():
        x[:, :, :4, :4] = -1.0 - x[:, :, :4, :4].abs()
    g = torch.randn(2, 4, 5, 5)
    a = nn.Sequential(nn.ReLU(), pool)(x)
    (grad_a,) = torch.autograd.grad(a, x, g)
    reordered = nn.Sequential(nn.ReLU(), pool)
    assert pool_before_relu(reordered) == 1
    b = reordered(x)
    (grad_b,) = torch.autograd.grad(b, x, g)
    assert torch.equal(a, b) and torch.equal(grad_a, grad_b)


@pytest.mark.parametrize("other", [nn.GELU(), nn.LeakyReLU(), nn.MaxPool2d(2, return_indices=True)])
def test_only_relu_then_a_plain_max_pool_is_swapped(other):
    net = nn.Sequential(other, nn.MaxPool2d(2)) if not isinstance(other, nn.MaxPool2d) else nn.Sequential(
        nn.ReLU(), other)
    assert pool_before_relu(net) == 0


def test_a_fit_trains_the_reordered_network_to_the_same_history(digits_pair, monkeypatch):
    from practica.training import trainer

    train, val = digits_pair
    spec = ModelSpec(layers=[{"conv": 8}, "relu", "maxpool", "flatten", {"dense": 32}, "relu"])

    def run():
        result = fit(lambda: build_network(spec, (1, 8, 8), 10), train, val, TrainSpec(epochs=3, batch_size=64),
                     device="cpu")
        kinds = [type(m).__name__ for m in result.model.body.modules()]
        losses = [loss for r in result.history.epochs for loss in (r.train_loss, r.val_loss)]
        return kinds.index("MaxPool2d") < kinds.index("ReLU"), losses

    reordered, history = run()
    monkeypatch.setattr(trainer, "pool_before_relu", lambda model: 0)
    as_built, history_as_built = run()
    assert reordered and not as_built
    assert history == pytest.approx(history_as_built, rel=1e-5)
