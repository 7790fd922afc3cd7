"""keep_flatten_layout: the same values and gradients, the gradient laid out as the flattened input was."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from practica.models.zoo import keras_cnn
from practica.training.dropout import use_bit_dropout
from practica.training.flatten import LayoutFlatten, keep_flatten_layout
from practica.training.reorder import pool_before_relu


@pytest.mark.parametrize("bf16", [False, True])
def test_keras_cnn_computes_bitwise_the_same_with_channels_last_gradients(bf16):
    torch.manual_seed(0)
    net = keras_cnn((3, 32, 32), 10)
    pool_before_relu(net)
    use_bit_dropout(net)
    kept = copy.deepcopy(net)
    assert keep_flatten_layout(kept) == 1 and isinstance(kept[12], LayoutFlatten)
    assert kept.state_dict().keys() == net.state_dict().keys()
    x = torch.randn(8, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    results = []
    for model in (net, kept):
        model = model.to(memory_format=torch.channels_last).train()  # type: ignore[call-overload]
        seen: list[torch.Tensor] = []
        model[11].register_full_backward_hook(lambda m, grad_in, grad_out, seen=seen: seen.append(grad_out[0]))
        torch.manual_seed(1)  # the same dropout masks
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = model(x)
        y.float().square().sum().backward()
        results.append((y, [p.grad for p in model.parameters()], seen[0]))
    (y, grads, flat_grad), (y_kept, grads_kept, flat_grad_kept) = results
    assert torch.equal(y, y_kept)
    assert all(torch.equal(a, b) for a, b in zip(grads, grads_kept, strict=True))
    # the gradient the dropout before the flatten receives: NCHW from nn.Flatten, channels-last from this one
    assert torch.equal(flat_grad, flat_grad_kept)
    assert not flat_grad.is_contiguous(memory_format=torch.channels_last)
    assert flat_grad_kept.is_contiguous(memory_format=torch.channels_last)


def test_other_inputs_and_modes_flatten_as_nn_flatten_does():
    layer = LayoutFlatten()
    for x in (torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last),
              torch.randn(2, 7)):
        assert torch.equal(layer(x), nn.Flatten()(x))
        with torch.no_grad():
            assert torch.equal(layer(x.requires_grad_()), nn.Flatten()(x))
    x = torch.randn(2, 3, 4, 5, requires_grad=True)
    g = torch.randn(2, 60)
    (grad,) = torch.autograd.grad(layer(x), x, g)
    assert grad.is_contiguous() and torch.equal(grad, g.view(2, 3, 4, 5))  # an NCHW input's: a view, as before


def test_only_plain_flatten_is_changed():
    class Custom(nn.Flatten):
        pass

    net = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Flatten(0)), Custom(), nn.Unflatten(1, (1, -1)))
    assert keep_flatten_layout(net) == 2
    assert isinstance(net[1][0], LayoutFlatten) and net[1][0].start_dim == 0 and type(net[2]) is Custom


def test_a_fit_trains_to_the_same_history(digits_pair, monkeypatch):
    from practica.config.schema import ModelSpec, TrainSpec
    from practica.models.registry import build_network
    from practica.training import trainer

    train, val = digits_pair
    spec = ModelSpec(layers=[{"conv": 8}, "relu", "maxpool", {"dropout": 0.25}, "flatten", {"dense": 32}, "relu"])

    def run():
        result = trainer.fit(lambda: build_network(spec, (1, 8, 8), 10), train, val,
                             TrainSpec(epochs=2, batch_size=64), device="cpu")
        kept = sum(isinstance(m, LayoutFlatten) for m in result.model.body.modules())
        return kept, [loss for r in result.history.epochs for loss in (r.train_loss, r.val_loss)]

    kept, history = run()
    monkeypatch.setattr(trainer, "keep_flatten_layout", lambda model: 0)
    assert kept == 1 and run() == (0, history)  # bitwise: the same steps
