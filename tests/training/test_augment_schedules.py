"""Batch augmentations and learning-rate schedules."""

from __future__ import annotations

import math

import pytest
import torch

from practica.config.layers import Crop, Cutout, HFlip
from practica.config.schema import OptimizerSpec, ScheduleSpec
from practica.errors import ConfigError
from practica.training import augment as aug
from practica.training.schedules import Schedule, make_optimizer


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_hflip_flips_exactly_the_drawn_images():
    x = torch.rand(64, 3, 8, 8)
    assert torch.equal(aug.hflip(x, 1.0, gen()), x.flip(3))
    assert torch.equal(aug.hflip(x, 0.0, gen()), x)
    out = aug.hflip(x, 0.5, gen())
    flipped = [torch.equal(o, xi.flip(2)) for o, xi in zip(out, x, strict=True)]
    kept = [torch.equal(o, xi) for o, xi in zip(out, x, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True)) and 10 < sum(flipped) < 54


def test_alternating_flip_mirrors_each_image_in_exactly_one_of_two_epochs():
    n = 200
    x = torch.rand(n, 3, 4, 4)
    augmenter = aug.Augmenter([HFlip(alternate=True)], n, seed=3)
    rows = torch.randperm(n)  # batches come in any order; the flip follows the row, not the position
    g = gen(1)
    before = g.get_state()
    flipped = {e: torch.tensor([torch.equal(o, xi.flip(2))
                                for o, xi in zip(augmenter(x[rows], rows, e, g), x[rows], strict=True)])
               for e in (1, 2, 3)}
    assert torch.equal(g.get_state(), before)  # no draws: the run's random stream is untouched
    assert 70 < int(flipped[1].sum()) < 130  # a seeded half in odd epochs
    assert torch.equal(flipped[2], ~flipped[1]) and torch.equal(flipped[3], flipped[1])
    again = aug.Augmenter([HFlip(alternate=True)], n, seed=3)(x[rows], rows, 1, gen(9))
    other = aug.Augmenter([HFlip(alternate=True)], n, seed=4)(x[rows], rows, 1, gen(9))
    assert torch.equal(again, augmenter(x[rows], rows, 1, g)) and not torch.equal(other, again)


def test_alternating_flip_has_no_probability():
    with pytest.raises(ValueError, match=r"p \(0.3\) does not apply; remove p"):
        HFlip(alternate=True, p=0.3)


def test_crop_shifts_each_image_within_the_padding():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6) + 1
    out = aug.random_crop(x, 2, gen(3))
    assert out.shape == x.shape
    for o, xi in zip(out, x, strict=True):
        # Every shift of at most 2 pixels, with zero fill, is a valid result; find the one used.
        padded = torch.nn.functional.pad(xi, (2, 2, 2, 2))
        assert any(torch.equal(o, padded[:, dy:dy + 6, dx:dx + 6]) for dy in range(5) for dx in range(5))


def test_cutout_zeroes_at_most_one_square():
    x = torch.ones(32, 3, 16, 16)
    out = aug.cutout(x, 4, gen())
    zeros = (out[:, 0] == 0).sum(dim=(1, 2))
    assert torch.all(zeros <= 16) and torch.all(zeros > 0)
    assert torch.equal(out[:, 0] == 0, out[:, 2] == 0)  # the same square on every channel


def test_same_generator_state_gives_same_augmentation():
    x = torch.rand(16, 3, 8, 8)
    specs = [HFlip(), Crop(padding=2), Cutout(size=3)]
    rows = torch.arange(16)
    assert torch.equal(aug.Augmenter(specs, 16, 0)(x, rows, 1, gen(7)), aug.Augmenter(specs, 16, 0)(x, rows, 1, gen(7)))


def test_augment_refused_on_features_and_when_too_large():
    with pytest.raises(ConfigError, match="needs image data"):
        aug.check_augment([HFlip()], (12,), "experiments[0] (a)")
    with pytest.raises(ConfigError, match="too large for 8×8"):
        aug.check_augment([Crop(padding=8)], (1, 8, 8), "experiments[0] (a)")


def lrs(spec: ScheduleSpec, steps=10, epochs=5, lr=0.1):
    opt = make_optimizer(OptimizerSpec(name="sgd", lr=lr), [torch.nn.Parameter(torch.zeros(1))], spec)
    sched = Schedule(spec, opt, steps, epochs)
    out = []
    for _ in range(steps * epochs):
        out.append(sched.lr)
        sched.after_step()
    return out


def test_schedules_follow_their_shape():
    assert set(lrs(ScheduleSpec(name="constant"))) == {0.1}
    step = lrs(ScheduleSpec(name="step", step_size=2, gamma=0.5))
    assert step[0] == 0.1 and math.isclose(step[20], 0.05) and math.isclose(step[45], 0.025)
    cos = lrs(ScheduleSpec(name="cosine"))
    # consecutive pairs: cos[1:] is one shorter
    assert cos[0] == 0.1 and cos[-1] < 0.001 and all(a >= b for a, b in zip(cos, cos[1:], strict=False))
    warm = lrs(ScheduleSpec(name="cosine", warmup_epochs=1))
    assert warm[0] == pytest.approx(0.01) and warm[9] == pytest.approx(0.1)
    one = lrs(ScheduleSpec(name="onecycle", max_lr=0.4, pct_start=0.3))
    peak = max(one)
    assert peak == pytest.approx(0.4, rel=1e-3) and one.index(peak) == 15
    assert one[0] == pytest.approx(0.4 / 25) and one[-1] < 0.001


def test_plateau_lowers_lr_when_val_loss_stalls():
    spec = ScheduleSpec(name="plateau", factor=0.5, patience=1)
    opt = make_optimizer(OptimizerSpec(name="adam", lr=0.1), [torch.nn.Parameter(torch.zeros(1))], spec)
    sched = Schedule(spec, opt, 10, 10)
    for loss in (1.0, 0.9, 0.9, 0.9):
        sched.after_epoch(loss)
    assert sched.lr == pytest.approx(0.05)


def test_reflect_crop_shifts_the_image_without_inventing_a_border():
    x = torch.rand(32, 3, 8, 8) + 0.5  # no zeros anywhere
    out = aug.random_crop(x, 2, gen(), fill="reflect")
    assert out.shape == x.shape and out.min() >= 0.5
    # each output is the reflect-padded image at some offset
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    for o, p in zip(out, padded, strict=True):
        assert any(torch.equal(o, p[:, i : i + 8, j : j + 8]) for i in range(5) for j in range(5))
    assert aug.random_crop(x, 2, gen(), fill="zeros").min() == 0  # zero padding shows at some border


def test_triangle_schedule_rises_linearly_to_the_peak_then_falls_to_zero():
    model = torch.nn.Linear(2, 2)
    spec = ScheduleSpec(name="triangle", max_lr=1.0, pct_start=0.25, start_factor=0.2)
    opt = make_optimizer(OptimizerSpec(name="sgd", lr=0.5), list(model.parameters()), spec)
    sched = Schedule(spec, opt, steps_per_epoch=10, epochs=4)  # 40 steps, peak at step 10
    lrs = []
    for _ in range(40):
        lrs.append(sched.lr)
        sched.after_step()
    assert lrs[0] == pytest.approx(0.2) and lrs[10] == pytest.approx(1.0)
    assert lrs[5] == pytest.approx(0.6) and lrs[25] == pytest.approx(0.5)
    assert sched.lr == pytest.approx(0.0) and all(a <= b for a, b in zip(lrs[:10], lrs[1:11], strict=True))


def test_triangle_options_are_refused_on_other_schedules():
    with pytest.raises(ValueError, match="schedule.start_factor does not apply to schedule 'cosine'"):
        ScheduleSpec(name="cosine", start_factor=0.1)
