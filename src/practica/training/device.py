"""Where and how a run computes: the device, bf16 autocast (``train.precision``), and the layout of images.

``Device`` is the one object that knows: the model, the loss and the loop stay plain PyTorch, and ask it
to place a split or a model, lay out a batch, and open the autocast context.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import torch
from torch import nn

from practica.data.records import Dataset
from practica.training.batches import Mapped, Resident, resident_or_mapped
from practica.training.history import PrecisionChoice
from practica.training.precision import Measure, Probe, channels_last, choose, decide, this_processor

if TYPE_CHECKING:
    from practica.data.tokenizer import TextTokenizer

M = TypeVar("M", bound=nn.Module)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class Device:
    """A training run's device (``auto``: CUDA when present), whether it computes under bf16 autocast,
    and whether images are channels-last (on a CPU always, oneDNN's convolutions being fastest in NHWC;
    on CUDA in bf16).

    ``fp32`` and ``bf16`` are decided at once; ``auto`` once the network exists (``choose_precision``, which
    measures it on a CPU with bf16 arithmetic: ``training/precision.py``). Until then it computes in fp32.

    Example::

        dev = Device("cpu", precision="bf16", images=True)
        with dev.autocast():
            logits = model(dev.batch(x))
    """

    def __init__(self, name: str = "auto", *, precision: str = "fp32", images: bool = False) -> None:
        self.device = pick_device(name)
        self.setting = precision
        self.images = images
        self.processor = this_processor(self.device)
        self.choice: PrecisionChoice | None = None
        self.bf16 = self.channels_last = False
        if precision != "auto":
            self._use(choose(precision, self.processor, _never))

    def choose_precision(self, measure: Measure, key: str, cache: Path | None = None) -> PrecisionChoice:
        """The run's precision: as set, or ``auto``'s decision (``precision.decide``: ``measure`` is called
        only where a measurement decides and none is cached under ``key``, in the process or in ``cache``)."""
        if self.choice is None:
            self._use(decide(self.setting, self.processor, key, measure, cache))
        assert self.choice is not None  # _use set it
        return self.choice

    def _use(self, choice: PrecisionChoice) -> None:
        self.choice = choice
        self.bf16 = choice.used == "bf16"
        self.channels_last = channels_last(self.images, self.bf16, self.device.type)

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


def _never() -> Probe:
    raise AssertionError("fp32 and bf16 are taken as set: nothing is measured")  # choose never calls it for them
