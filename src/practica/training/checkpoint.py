"""Checkpoints as one safetensors file: tensors plus JSON metadata, written atomically.

Everything a run needs to continue lives in the one file (weights, best weights so far,
optimizer tensors, random-generator states, and as metadata the history, scheduler and
early-stopping state), so a kill at any moment leaves the previous complete checkpoint.
No pickle is involved: optimizer state is split into tensors and a JSON skeleton.

``checksum=True`` records the file's sha256 beside it (``NAME.sha256``) and ``verify=True`` refuses a
file that no longer matches it: safetensors checks its header, not the bytes of the tensors, so a
flipped bit in the weights would otherwise load without complaint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from practica.errors import RunError
from practica.io import atomic_write, checksum_problem, write_checksum

_META_KEY = "practica"


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
        raise RunError(f"checkpoint {path} cannot be read ({err}); delete it to start that experiment afresh.") from None
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
