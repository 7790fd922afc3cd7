"""Fine-tuning a pretrained network: frozen layers, the unfreeze phase, and the backbone's normalisation.

The frozen layers' parameters sit in the optimizer from the start, in a group of their own at the
optimizer's learning rate × ``unfreeze.lr_factor`` (the schedule scales it like the others); while frozen
they get no gradient, so the optimizer leaves them as they are (weight decay too: PyTorch's optimizers
skip a parameter without a gradient). ``Unfreeze`` gives them gradients again after
``unfreeze.after_epochs``: the group structure never changes, so a checkpoint resumes either phase.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from practica.config.schema import UnfreezeSpec
from practica.models.transfer import Frozen, frozen_layers
from practica.training.callbacks import Callback, Loop


@dataclass(frozen=True)
class TransferPlan:
    """What ``fit`` does differently for a network that starts from pretrained weights (already loaded into
    the body ``make_body`` builds): which layers start frozen (``freeze``: none, all or a layer's name), when
    they learn again, and the input normalisation the backbone learned with (``mean``/``std``, shaped as
    ``Classifier``'s buffers; None: the training split's, as for any network)."""

    freeze: str = "none"
    unfreeze: UnfreezeSpec | None = None
    mean: torch.Tensor | None = None
    std: torch.Tensor | None = None

    def frozen(self, body: nn.Module) -> Frozen:
        return Frozen(body, frozen_layers(body, self.freeze))

    def param_groups(self, groups: list[dict], frozen: Frozen) -> list[dict]:
        """``groups`` (``schedules.param_groups``) without the frozen parameters, which follow in a group of
        their own at ``lr_factor`` of the learning rate (1 when they never unfreeze: they never learn)."""
        ids = {id(p) for p in frozen.params}
        kept = [{**g, "params": [p for p in g["params"] if id(p) not in ids]} for g in groups]
        factor = self.unfreeze.lr_factor if self.unfreeze is not None else 1.0
        return [*(g for g in kept if g["params"]), *([{"params": frozen.params, "lr_scale": factor}]
                                                      if frozen.params else [])]


class Unfreeze(Callback):
    """After ``spec.after_epochs`` epochs the frozen layers learn again, in their own optimizer group at the
    lower rate (a resumed run past that epoch unfreezes them when its next epoch begins)."""

    def __init__(self, frozen: Frozen, spec: UnfreezeSpec) -> None:
        self.frozen, self.spec = frozen, spec

    def on_epoch_begin(self, loop: Loop, epoch: int) -> None:
        if self.frozen.active and epoch > self.spec.after_epochs:
            self.frozen.release()
