"""Where and how a run computes: the device, bf16 autocast (``train.precision``), and the layout that goes with it.

``Device`` is the one object that knows: the model, the loss and the loop stay plain PyTorch, and ask it
to place a split or a model, lay out a batch, and open the autocast context.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, TypeVar

import torch
from torch import nn

from practica.data.records import Dataset
from practica.training.batches import Mapped, Resident, resident_or_mapped

if TYPE_CHECKING:
    from practica.data.tokenizer import TextTokenizer

M = TypeVar("M", bound=nn.Module)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def uses_bf16(precision: str, device: torch.device) -> bool:
    """Whether ``precision`` means bfloat16 autocast on ``device`` (``auto``: where bf16 units exist)."""
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    # Without AMX, bf16 on a CPU is emulated and slower than fp32.
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(amx and amx())


class Device:
    """A training run's device (``auto``: CUDA when present), whether it computes under bf16 autocast,
    and whether images are channels-last (oneDNN's bf16 convolutions are fastest in NHWC).

    Example::

        dev = Device("cpu", precision="bf16", images=True)
        with dev.autocast():
            logits = model(dev.batch(x))
    """

    def __init__(self, name: str = "auto", *, precision: str = "fp32", images: bool = False) -> None:
        self.device = pick_device(name)
        self.bf16 = uses_bf16(precision, self.device)
        self.channels_last = self.bf16 and images

    def split(self, data: Dataset, tokenizer: TextTokenizer | None = None) -> Resident | Mapped:
        """A split's inputs on the device: resident, or memory-mapped and read a batch at a time; a text
        split as its ``tokenizer``'s token ids (int64, which autocast leaves alone: only floats are cast)."""
        return resident_or_mapped(data, self.device, tokenizer)

    def layout(self, model: M) -> M:
        """The model with its weights channels-last where batches are (in place)."""
        if self.channels_last:
            # torch's stubs omit Module.to's memory_format keyword (it is accepted at run time)
            model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return model

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def autocast(self) -> AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)
