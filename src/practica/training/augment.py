"""Augmentations on whole batches of tensors (B, C, H, W) in [0, 1], on the batch's device.

No per-sample Python: every random choice is drawn as one tensor from the trainer's
generator, so a resumed run draws exactly what the uninterrupted one would. Alternating flips
(``hflip: {alternate: true}``) need no draws after the first: which images a flip starts with is
fixed by the seed, and the epoch's parity does the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from practica.config.layers import Crop, Cutout, HFlip, Shorthand
from practica.errors import ConfigError

ALTERNATE_FLIP_SEED = 0x5EED_F11B  # offsets the run's seed for the alternating flip's coins


def hflip(x: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    flip = torch.rand(x.shape[0], generator=gen, device=gen.device) < p
    return flip_where(x, flip)


def flip_where(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirror the images of the batch where the boolean ``flip`` is set."""
    return torch.where(flip.to(x.device)[:, None, None, None], x.flip(3), x)


def random_crop(x: torch.Tensor, padding: int, gen: torch.Generator, fill: str = "zeros") -> torch.Tensor:
    """Pad by ``padding`` (zeros, or the edge mirrored: ``reflect``) and crop back to H×W at a random
    offset per image (two gathers)."""
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding), mode="constant" if fill == "zeros" else "reflect")
    off = torch.randint(0, 2 * padding + 1, (2, b), generator=gen, device=gen.device).to(x.device)
    rows = (off[0][:, None] + torch.arange(h, device=x.device))[:, None, :, None].expand(b, c, h, w + 2 * padding)
    cols = (off[1][:, None] + torch.arange(w, device=x.device))[:, None, None, :].expand(b, c, h, w)
    return padded.gather(2, rows).gather(3, cols)


def cutout(x: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """Zero one size×size square per image, centred anywhere (it may be clipped at the border)."""
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), generator=gen, device=gen.device).to(x.device)
    cx = torch.randint(0, w, (b,), generator=gen, device=gen.device).to(x.device)
    ys = torch.arange(h, device=x.device)[None, :] - cy[:, None] + size // 2  # (B, H)
    xs = torch.arange(w, device=x.device)[None, :] - cx[:, None] + size // 2  # (B, W)
    inside = ((ys >= 0) & (ys < size))[:, :, None] & ((xs >= 0) & (xs < size))[:, None, :]
    return x * (~inside)[:, None].to(x.dtype)


def check_augment(specs: Sequence[Shorthand], input_shape: tuple[int, ...], where: str) -> None:
    """Augmentations transform images; refuse them on feature tables with a clear message."""
    if specs and len(input_shape) != 3:
        raise ConfigError(
            f"{where}: augmentation ({', '.join(s.type for s in specs)}) needs image data, but this data set "
            f"has {'texts' if input_shape == () else 'feature vectors'}; remove 'augment' or set it to []."
        )
    for spec in specs:
        if isinstance(spec, (Crop, Cutout)):
            size = spec.padding if isinstance(spec, Crop) else spec.size
            if size >= min(input_shape[1:]):
                raise ConfigError(
                    f"{where}: {spec.type} of {size} pixels is too large for {input_shape[1]}×{input_shape[2]} images; "
                    f"use less than {min(input_shape[1:])}."
                )


class Augmenter:
    """A training run's augmentations over a split of ``n`` samples: ``augmenter(x, rows, epoch, gen)``
    augments the batch of the split's ``rows`` in ``epoch`` (counted from 1)."""

    def __init__(self, specs: Sequence[Shorthand], n: int, seed: int, device: torch.device | str = "cpu") -> None:
        self.specs = list(specs)
        self.first_flip: torch.Tensor | None = None
        if any(isinstance(s, HFlip) and s.alternate for s in self.specs):
            # Which images are mirrored in odd epochs: a coin per image from the run's seed (its own
            # generator, so the trainer's random stream is the same with or without it).
            coins = torch.Generator().manual_seed(ALTERNATE_FLIP_SEED + seed)
            self.first_flip = (torch.rand(n, generator=coins) < 0.5).to(device)

    def __call__(self, x: torch.Tensor, rows: torch.Tensor, epoch: int, gen: torch.Generator) -> torch.Tensor:
        for spec in self.specs:
            if isinstance(spec, HFlip) and spec.alternate:
                assert self.first_flip is not None  # drawn in __init__ when an alternate flip is given
                x = flip_where(x, self.first_flip[rows] ^ (epoch % 2 == 0))
            elif isinstance(spec, HFlip):
                x = hflip(x, spec.p, gen)
            elif isinstance(spec, Crop):
                x = random_crop(x, spec.padding, gen, spec.fill)
            elif isinstance(spec, Cutout):
                x = cutout(x, spec.size, gen)
        return x
