"""How far the new data has moved from what the production model trained on: the population stability index
(PSI) of each statistic the bundle's ``reference.json`` keeps (``bundle/reference.py``), never its samples.

    PSI = Σ (new − ref) · ln(new / ref)   over the bins of a statistic, shares floored at ``FLOOR``

Conventionally under 0.1 is no shift, 0.1–0.25 a moderate one, above 0.25 a major one.

- Images: each channel's pixel histogram (the reference's 16 bins), and the per-image brightness over the bins
  the reference's quantiles make (their shares are the quantiles' gaps: 1%, 4%, 20%, 25%, ...).
- Feature tables: each feature's histogram (the reference's bins over its training range), with a bin below the
  minimum and one above the maximum, whose reference share is 0: values outside the range the model saw count.

The PSI itself is the monitoring package's (``practica.monitoring.drift.psi``, drift over served traffic); the
bins are the gate's own (monitoring folds values outside the training range into the outer bins).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from practica.monitoring.drift import psi

FLOOR = 1e-4  # the share an empty bin counts as: ln(0) is undefined, and one empty bin must not dominate
# (the gate's own, below monitoring's PSI_FLOOR: a different floor would move the gate's figures)


@dataclass(frozen=True)
class Shift:
    """One statistic's PSI: ``name`` as a reader reads it ("pixel histogram (channel 0)", "feature petal_length")."""

    name: str
    psi: float

    def to_dict(self) -> dict:
        return {"name": self.name, "psi": round(self.psi, 4)}


def shifts(x: np.ndarray, reference: dict, feature_names: tuple[str, ...] = ()) -> list[Shift]:
    """Every statistic's PSI of the samples ``x`` (uint8 N×H×W×C images, or float N×F features) against a
    bundle's ``reference["inputs"]``, largest first. A ValueError when ``x`` is not the kind of data the
    reference describes."""
    inputs = reference.get("inputs", reference)
    kind = "image" if x.ndim == 4 else "features"
    if inputs.get("kind") != kind:
        described = {"image": "images", "features": "features"}
        raise ValueError(f"the new data are {described[kind]} but the production model's reference describes "
                         f"{described.get(inputs.get('kind'), inputs.get('kind'))}")
    found = _image_shifts(x, inputs) if kind == "image" else _feature_shifts(x, inputs, feature_names)
    return sorted(found, key=lambda s: -s.psi)


def _image_shifts(x: np.ndarray, ref: dict) -> list[Shift]:
    out = []
    hist = ref["pixel_histogram"]
    edges = np.asarray(hist["edges"])
    channels = x.shape[-1]
    if len(hist["frequencies"]) != channels:
        raise ValueError(f"the new images have {channels} channels but the reference has {len(hist['frequencies'])}")
    pixels = x.reshape(-1, channels)
    for c in range(channels):
        counts = np.histogram(pixels[:, c], bins=edges)[0]
        out.append(Shift(f"pixel histogram (channel {c})", psi(np.asarray(hist["frequencies"][c]),
                                                                counts / max(1, len(pixels)), floor=FLOOR)))
    quantiles = ref.get("image_brightness_quantiles")
    if quantiles:
        levels = np.array([float(q) for q in quantiles])
        cuts = np.array([quantiles[q] for q in quantiles], dtype=np.float64)
        ref_shares = np.diff(np.concatenate([[0.0], levels, [1.0]]))  # the quantiles' gaps, tails included
        brightness = x.reshape(len(x), -1).mean(axis=1) / 255.0
        new_shares = np.bincount(np.searchsorted(cuts, brightness, side="right"),
                                 minlength=len(cuts) + 1) / max(1, len(x))
        out.append(Shift("per-image brightness", psi(ref_shares, new_shares, floor=FLOOR)))
    return out


def _feature_shifts(x: np.ndarray, ref: dict, names: tuple[str, ...]) -> list[Shift]:
    features = ref["features"]
    if x.shape[1] != len(features):
        raise ValueError(f"the new data have {x.shape[1]} features but the reference has {len(features)}")
    out = []
    for j, feature in enumerate(features):
        col = x[:, j].astype(np.float64)
        col = col[np.isfinite(col)]
        edges = np.asarray(feature["histogram"]["edges"])
        inside = np.histogram(col, bins=edges)[0]
        below, above = int(np.sum(col < edges[0])), int(np.sum(col > edges[-1]))
        new_shares = np.concatenate([[below], inside, [above]]) / max(1, len(col))
        ref_shares = np.concatenate([[0.0], feature["histogram"]["frequencies"], [0.0]])
        name = names[j] if j < len(names) else str(j)
        out.append(Shift(f"feature {name}", psi(ref_shares, new_shares, floor=FLOOR)))
    return out
