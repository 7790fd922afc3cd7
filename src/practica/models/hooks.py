"""What a network may offer the trainer beyond ``forward``: typed, optional parts, each checked with ``isinstance``.

``fastnet`` offers all three; a plain ``nn.Sequential`` none, and trains the same way without them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class DataInitialised(Protocol):
    """A data-dependent initialisation (e.g. ``fastnet``'s whitening filters): given a sample of training
    inputs, normalised as the network receives them, before the first step."""

    def init_from_data(self, x: torch.Tensor) -> None: ...


@runtime_checkable
class EpochAware(Protocol):
    """A per-epoch plan (e.g. ``fastnet``'s whitening bias, trained for the first epochs only): told which
    epoch begins, on resume too."""

    def start_epoch(self, epoch: int) -> None: ...


@runtime_checkable
class MultiView(Protocol):
    """An ensemble of ``views`` of each input in evaluation (e.g. ``fastnet``'s test-time augmentation), and
    a context within which it sees one view (the trainer's per-epoch validation)."""

    @property
    def views(self) -> int: ...

    def single_view(self) -> AbstractContextManager[None]: ...
