"""BitDropout: nn.Dropout's rate, scale, gradient and eval behaviour, its mask cut from random words."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from practica.config.schema import TrainSpec
from practica.training.dropout import BitDropout, use_bit_dropout
from practica.training.trainer import fit


@pytest.mark.parametrize(("p", "bits"), [(0.25, 8), (0.5, 8), (0.1, 16), (0.3, 16)])
def test_it_drops_at_the_rate_and_scales_the_rest(p, bits):
    layer = BitDropout(p).train()
    assert layer.bits == bits and layer.p == pytest.approx(p, abs=1 / 65536)
    n = 400_000
    y = layer(torch.ones(n))
    dropped = (y == 0).float().mean().item()
    assert dropped == pytest.approx(layer.p, abs=4 * (p * (1 - p) / n) ** 0.5)
    kept = y[y != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - layer.p)))  # kept values carry 1/(1-p)
    assert y.mean().item() == pytest.approx(1.0, abs=0.01)  # the expectation is kept


def test_rates_in_steps_of_1_256_are_exact():
    assert BitDropout(0.25).p == 0.25 and BitDropout(0.5).scale == 2.0


def test_eval_is_the_identity():
    x = torch.randn(8, 16)
    assert BitDropout(0.5).eval()(x) is x


def test_the_gradient_passes_where_kept_scaled():
    layer = BitDropout(0.25).train()
    x = torch.randn(64, 32, requires_grad=True)
    g = torch.randn(64, 32)
    y = layer(x)
    y.backward(g)
    kept = y != 0
    assert 0 < kept.float().mean().item() < 1
    assert torch.allclose(x.grad, g * kept / (1 - 0.25))


def test_bf16_and_channels_last_keep_their_dtype_and_layout():
    x = torch.randn(4, 8, 5, 5).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    y = BitDropout(0.5).train()(x)
    assert y.dtype == torch.bfloat16 and y.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(y != 0, (x != 0) & (y != 0))  # nothing but drops and scaling


def test_the_global_seed_repeats_the_mask():
    layer, x = BitDropout(0.3).train(), torch.randn(1000)
    torch.manual_seed(7)
    first = layer(x)
    torch.manual_seed(7)
    assert torch.equal(layer(x), first)


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1])
def test_rates_without_randomness_are_refused(p):
    with pytest.raises(ValueError, match="0 < p < 1"):
        BitDropout(p)


def test_use_bit_dropout_swaps_plain_dropout_only():
    class Custom(nn.Dropout):
        pass

    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.1), nn.Dropout2d(0.5)),
                        nn.Dropout(0.0), Custom(0.5)).eval()
    assert use_bit_dropout(net) == 2
    assert isinstance(net[1], BitDropout) and net[1].p == 0.5 and not net[1].training
    assert isinstance(net[2][0], BitDropout) and net[2][0].p == pytest.approx(0.1, abs=1 / 65536)
    assert type(net[2][1]) is nn.Dropout2d and type(net[3]) is nn.Dropout and type(net[4]) is Custom


def test_a_cpu_fit_trains_with_bit_dropout(digits_pair):
    train, val = digits_pair
    net = lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.25), nn.Linear(32, 10))  # noqa: E731
    result = fit(net, train, val, TrainSpec(epochs=5, batch_size=64), device="cpu")
    assert isinstance(result.model.body[3], BitDropout)
    assert result.history.epochs[-1].metrics["val_accuracy"] > 0.6  # 0.76 here, as with nn.Dropout


@pytest.mark.parametrize("p", [0.25, 0.3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_mask_is_the_random_words_bytes_against_the_threshold(p, dtype):
    # The documented draw, written out: a 64-bit word per 8 (or 4) elements, each byte (int16) compared with
    # the threshold; the layer's output must be x times that mask times 1/(1-p), bitwise.
    layer = BitDropout(p).train()
    x = torch.randn(6, 8, 5, 5).to(dtype).contiguous(memory_format=torch.channels_last)
    torch.manual_seed(3)
    y = layer(x)
    torch.manual_seed(3)
    n, per_word = x.numel(), 64 // layer.bits
    words = torch.empty((n + per_word - 1) // per_word, dtype=torch.int64).random_(-(1 << 63), None)
    if layer.bits == 8:
        keep = words.view(torch.uint8)[:n] >= layer.drop_levels
    else:
        keep = words.view(torch.int16)[:n] >= layer.drop_levels - 32768
    keep = keep.view(6, 5, 5, 8).permute(0, 3, 1, 2)  # channels-last, as x
    expected = x * keep.to(dtype).mul_(layer.scale)
    assert y.dtype == dtype and torch.equal(y, expected)
