"""``arch: fastnet``: a small image network built to reach a good accuracy in few epochs.

The design follows the public speed-run write-ups for CIFAR-10 (Page's "How to train your
ResNet", tysam-code's hlb-CIFAR10, Keller Jordan's airbench), written here from their
descriptions:

- a frozen 2×2 **whitening** first convolution, its filters the eigenvectors of the training
  images' 2×2-patch covariance scaled by 1/√eigenvalue, in ± pairs (``init_from_data``, called
  by the trainer with a sample of normalised training images before the first step); its bias
  trains for the first ``whiten_bias_epochs`` epochs only (``start_epoch``): once it is frozen
  nothing before the first conv group needs a gradient, and backward skips the largest feature
  map's input gradient (about a tenth of a step's time on a CPU);
- three groups of conv → max-pool → batch norm → GELU → conv → batch norm → GELU, widths
  ``widths``; convolutions start as identity maps on their first input channels (Dirac init);
- batch norms with a fixed scale of 1 (only the shift learns) and a fast running-statistics
  momentum; their shifts train with a larger learning rate (``param_groups``);
- global max-pooling, a bias-free linear head and a fixed 1/9 scaling of the logits;
- in evaluation, test-time augmentation inside ``forward`` (``tta``: 0 none, 1 the mirror image
  too, 2 also two one-pixel shifts of each), so the exported model predicts as evaluated. The
  trainer's per-epoch validation sees one view (``single_view``): the curves follow the network
  as trained, like the training accuracy beside them, at a half (a sixth) of the cost; the
  evaluation stage measures the final model with its views.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from practica.errors import ModelError

BN_MOMENTUM = 0.4  # PyTorch's convention: the weight of the new batch in the running statistics
BIAS_LR_SCALE = 64.0  # batch-norm shifts learn 64× faster (and decay 64× less per unit of lr)
LOGIT_SCALE = 1 / 9
WHITEN_EPS = 5e-4  # added to the patch covariance's eigenvalues before the 1/√λ scaling
WHITEN_SAMPLES = 5000  # images whose patches estimate the covariance


class _Norm(nn.BatchNorm2d):
    """Batch norm with its scale fixed at 1: only the shift is a trained parameter."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, eps=1e-12, momentum=BN_MOMENTUM)
        self.weight.requires_grad_(False)


def _conv(c_in: int, c_out: int) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[: min(c_in, c_out)])  # identity on the first input channels
    return conv


class _Group(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1, self.norm1 = _conv(c_in, c_out), _Norm(c_out)
        self.conv2, self.norm2 = _conv(c_out, c_out), _Norm(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.norm1(F.max_pool2d(self.conv1(x), 2)))
        return F.gelu(self.norm2(self.conv2(x)))


class FastNet(nn.Module):
    def __init__(self, channels: int, num_classes: int, widths: tuple[int, int, int], tta: int,
                 whiten_bias_epochs: int = 3) -> None:
        super().__init__()
        self.whiten_bias_epochs = whiten_bias_epochs
        patch = channels * 4  # values in one 2×2 patch
        self.whiten = nn.Conv2d(channels, 2 * patch, 2, bias=True)
        self.whiten.weight.requires_grad_(False)
        self.groups = nn.Sequential(_Group(2 * patch, widths[0]), _Group(widths[0], widths[1]),
                                    _Group(widths[1], widths[2]))
        self.head = nn.Linear(widths[2], num_classes, bias=False)
        self.tta = tta

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor) -> None:
        """Set the whitening filters from ``x``: N×C×H×W images as the network receives them."""
        x = x[:WHITEN_SAMPLES].float()
        c = x.shape[1]
        patches = F.unfold(x, 2).transpose(1, 2).reshape(-1, c * 4).double()  # every 2×2 patch, C-major
        patches = patches - patches.mean(0)
        cov = patches.T @ patches / len(patches)
        eigenvalues, eigenvectors = torch.linalg.eigh(cov)
        filters = (eigenvectors.T / (eigenvalues + WHITEN_EPS).sqrt()[:, None]).reshape(-1, c, 2, 2)
        self.whiten.weight.copy_(torch.cat([filters, -filters]).float())
        cast(torch.Tensor, self.whiten.bias).zero_()  # cast: built with bias=True, never None

    def start_epoch(self, epoch: int) -> None:
        """The whitening bias learns in epochs 1..``whiten_bias_epochs`` and is fixed after."""
        # cast: the whitening conv is built with bias=True, never None
        cast(torch.Tensor, self.whiten.bias).requires_grad_(epoch <= self.whiten_bias_epochs)

    @property
    def views(self) -> int:
        """Views of each input averaged in evaluation: 1, 2 (mirror) or 6 (and shifts)."""
        return (1, 2, 6)[self.tta]

    @contextmanager
    def single_view(self) -> Iterator[None]:
        """Within: evaluation without test-time augmentation (the trainer's per-epoch validation)."""
        tta, self.tta = self.tta, 0
        try:
            yield
        finally:
            self.tta = tta

    def param_groups(self) -> list[dict]:
        """Optimizer groups: batch-norm shifts with ``BIAS_LR_SCALE``, everything else as configured."""
        shifts = [m.bias for m in self.modules() if isinstance(m, _Norm)]
        ids = {id(p) for p in shifts}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in ids]
        return [{"params": rest}, {"params": shifts, "lr_scale": BIAS_LR_SCALE, "wd_scale": 1 / BIAS_LR_SCALE}]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = self.groups(F.gelu(self.whiten(x)))
        return self.head(torch.amax(x, dim=(2, 3))) * LOGIT_SCALE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or self.tta == 0:
            return self.logits(x)
        views = [x, x.flip(3)]
        if self.tta >= 2:  # one-pixel shifts up-left and down-right (edges mirrored), mirror images too
            h, w = x.shape[2:]
            padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
            up, down = padded[:, :, 2:, 2:], padded[:, :, :h, :w]
            views += [up, up.flip(3), down, down.flip(3)]
        # One batch for all views: fewer, larger matrix products.
        out = self.logits(torch.cat(views))
        out = out.reshape(len(views), -1, out.shape[1])  # -1: the batch stays symbolic in export
        weights = [1.0, 1.0] + [0.5] * (len(views) - 2)  # the shifted views count half
        return sum(w * o for w, o in zip(weights, out, strict=True)) / sum(weights)


def fastnet(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    widths: tuple[int, int, int] | list[int] = (64, 256, 256),
    tta: int = 1,
    whiten_bias_epochs: int = 3,
) -> nn.Module:
    """The fast image network: whitening conv, three conv groups of ``widths``, max-pool, linear head."""
    if len(input_shape) != 3:
        raise ModelError(f"fastnet needs image input; this data set has {input_shape[0]} features per sample.")
    c, h, w = input_shape
    if min(h, w) < 16:
        raise ModelError(f"fastnet halves the image three times and needs at least 16×16 images; got {h}×{w}.")
    if len(widths) != 3 or min(widths) < 1:
        raise ModelError(f"fastnet widths must be three positive numbers, e.g. [64, 256, 256]; got {list(widths)}.")
    if tta not in (0, 1, 2):
        raise ModelError(f"fastnet tta must be 0 (none), 1 (mirror) or 2 (mirror and shifts); got {tta}.")
    if whiten_bias_epochs < 0:
        raise ModelError(f"fastnet whiten_bias_epochs must be 0 or more (0: never trained); got {whiten_bias_epochs}.")
    w1, w2, w3 = widths
    return FastNet(c, num_classes, (int(w1), int(w2), int(w3)), tta, whiten_bias_epochs)
