"""Checkpoints as one safetensors file: tensors plus JSON metadata, written atomically.

Everything a run needs to continue lives in the one file (weights, optimizer tensors, random-generator
states, the callbacks' state such as the best weights so far, and as metadata the history and the
scheduler), so a kill at any moment leaves the previous complete checkpoint; ``Checkpoint`` is the
training loop's callback that writes it after every epoch and resumes from it.
No pickle is involved: optimizer state is split into tensors and a JSON skeleton.

``checksum=True`` records the file's sha256 beside it (``NAME.sha256``) and ``verify=True`` refuses a
file that no longer matches it: safetensors checks its header, not the bytes of the tensors, so a
flipped bit in the weights would otherwise load without complaint.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from pydantic import TypeAdapter
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from practica.errors import RunError
from practica.io import atomic_write, checksum_problem, write_checksum
from practica.training.callbacks import Callback, Loop, Stop
from practica.training.history import EpochRecord, stored_records

_META_KEY = "practica"
_RECORDS = TypeAdapter(list[EpochRecord])  # the epochs done, in the meta JSON


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any], *, checksum: bool = False) -> None:
    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    atomic_write(path, lambda p: save_file(flat, str(p), metadata={_META_KEY: json.dumps(meta)}))
    if checksum:
        write_checksum(path)


def load_tensors(path: Path, *, verify: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if verify and (problem := checksum_problem(path)) is not None:
        raise RunError(f"{problem}; it is not loaded. Delete it to start that experiment afresh.")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get(_META_KEY, "{}"))
    except (SafetensorError, OSError, json.JSONDecodeError) as err:
        raise RunError(
            f"checkpoint {path} cannot be read ({err}); delete it to start that experiment afresh."
        ) from None
    return tensors, meta


def prefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in tensors.items()}


def unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def split_optimizer_state(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimizer ``state_dict()`` → (tensors, JSON-able skeleton)."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for idx, entry in state["state"].items():
        plain = {}
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{idx}.{key}"] = value
            else:
                plain[key] = value
        skeleton["state"][str(idx)] = plain
    return tensors, skeleton


def join_optimizer_state(tensors: dict[str, torch.Tensor], skeleton: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(i): dict(v) for i, v in skeleton["state"].items()}
    for name, value in tensors.items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    return {"param_groups": skeleton["param_groups"], "state": state}


# The layout of a training checkpoint; one written by an earlier layout is refused, not misread.
CHECKPOINT_FORMAT = 2


class Checkpoint(Callback):
    """After every epoch that did not diverge (a resume would only diverge again), everything the run needs
    to continue, in one file at ``path`` with its sha256 beside it: weights, optimizer, schedule, both random
    generators, the records so far, why the run stopped if it did, and the state of each of ``callbacks``
    that has a ``name``. With ``resume``, training begins from that file when it exists, verified against its
    sha256 and refused if ``config_hash`` (of the training config and data) differs; it restores the other
    callbacks, so it comes after them.
    """

    def __init__(self, path: Path, *, config_hash: str, callbacks: Sequence[Callback], resume: bool = False) -> None:
        self.path, self.config_hash, self.resume = path, config_hash, resume
        self.kept = [c for c in callbacks if c.name]

    def on_train_begin(self, loop: Loop) -> None:
        if self.resume and self.path.exists():
            self._load(loop)

    def on_epoch_end(self, loop: Loop, record: EpochRecord) -> None:
        if loop.stop is None or loop.stop.reason != "diverged":
            self._save(loop)

    def _save(self, loop: Loop) -> None:
        opt_tensors, opt_skeleton = split_optimizer_state(loop.optimizer.state_dict())
        tensors = {
            **prefixed("model", loop.model.state_dict()),
            **prefixed("opt", opt_tensors),
            "rng.torch": torch.get_rng_state(),
            "rng.gen": loop.generator.get_state(),
        }
        states: dict[str, dict[str, Any]] = {}
        for c in self.kept:
            state = c.state_dict()
            tensors |= prefixed(c.name, {k: v for k, v in state.items() if isinstance(v, torch.Tensor)})
            states[c.name] = {k: v for k, v in state.items() if not isinstance(v, torch.Tensor)}
        meta = {
            "format": CHECKPOINT_FORMAT,
            "config_hash": self.config_hash,
            "optimizer": opt_skeleton,
            "schedule": loop.schedule.state_dict(),
            "records": _RECORDS.dump_python(loop.records),
            "stop": None if loop.stop is None else loop.stop.__dict__,
            "callbacks": states,
        }
        save_tensors(self.path, tensors, meta, checksum=True)

    def _load(self, loop: Loop) -> None:
        tensors, meta = load_tensors(self.path, verify=True)
        if meta.get("config_hash") != self.config_hash:
            raise RunError(
                f"checkpoint {self.path} was made with another training config or data; "
                "start a new run instead of --resume, or restore the suite it was made with."
            )
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise RunError(f"checkpoint {self.path} was written by an earlier version of practica and cannot be "
                           "continued; start a new run instead of --resume.")
        loop.model.load_state_dict(unprefixed("model", tensors))
        loop.optimizer.load_state_dict(join_optimizer_state(unprefixed("opt", tensors), meta["optimizer"]))
        loop.schedule.load_state_dict(meta["schedule"])
        torch.set_rng_state(tensors["rng.torch"])
        loop.generator.set_state(tensors["rng.gen"])
        loop.records = _RECORDS.validate_python(stored_records(meta["records"]))
        loop.stop = None if meta["stop"] is None else Stop(**meta["stop"])
        for c in self.kept:
            c.load_state_dict({**meta["callbacks"][c.name], **unprefixed(c.name, tensors)})
