"""Out-of-distribution per prediction: how unlike the training data each input is, and why.

Fitted at export on the training split (``fit_ood``), stored in the bundle as ``ood.json``, and
scored at prediction time by ``OodScorer`` with numpy alone (the server imports no torch, nor
scikit-learn).

- **Distance.** Class-conditional Mahalanobis with a shared, shrunk covariance (Lee et al., 2018):
  the distance from the input's features to the nearest class mean of the training split. A
  network's features are its penultimate layer (``embedding``, an output of ``model.onnx``); a
  scikit-learn model has none, so its inputs stand in: scaled pixels, a table's standardised
  numeric columns, or a text baseline's token counts, projected on their first principal
  components. The score is the distance over a threshold set so that ``FLAG_RATE`` of the
  validation inputs score above 1.
- **Checks** (tables, and other features of few columns): a value outside the training range by
  more than ``RANGE_MARGIN`` of its width, and a category the training split never had; each
  flags the input with a reason that names the column. Texts: a share of tokens unknown to the
  vocabulary above what validation texts reach (a text of unknown words is a lone ``[UNK]`` to the
  model, whose embedding may sit anywhere, near a class: the distance alone misses it).

The file holds summaries (means, a whitening matrix, ranges), never a training sample.

    >>> scorer = OodScorer.from_bundle(bundle)      # None for a bundle exported before ood.json
    >>> result = scorer.score(x, bundle.infer(x).embedding)
    >>> result.flags, result.reasons[0]
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationError

from practica.bundle.layout import OOD_FILE
from practica.data.sources.tabular import UNKNOWN_CODE
from practica.data.tokenizer import PAD, UNK
from practica.errors import BundleError
from practica.io import read_json

if TYPE_CHECKING:
    from practica.bundle.inputs import InputSpec
    from practica.bundle.load import Bundle

OOD_SCHEMA_VERSION = 1
FLAG_RATE = 0.01  # the share of validation inputs the distance flags
FIT_SAMPLES = 10_000  # training inputs the statistics are fitted on (a seeded subset of larger splits)
# Inputs standing in for an embedding are fitted on at most this many values (float64: 256 MB): a text baseline's
# token counts are vocab_size wide (30,000 words: about 1,100 texts), an image's pixels a few thousand.
FIT_VALUES = 32 * 2**20
MIN_FIT_ROWS = 500
EMBEDDING_DIMS = 256  # a wider embedding is projected on its first principal components
INPUT_DIMS = 64  # inputs standing in for an embedding are projected to at most this many
RANGE_MARGIN = 0.1  # a value this share of the training range beyond it is out of range
BLAS_LIMIT_ROWS = 8  # from this many inputs a batch's products are held to one BLAS thread (``_one_blas_thread``)
MAX_CHECKED_FEATURES = 64  # features inputs of more columns (pixels as columns) get no range checks
# A text is flagged when over this share of its tokens is unknown to the vocabulary, or over the validation
# texts' 1 - FLAG_RATE quantile when that is higher (up to MAX_UNKNOWN_SHARE: a text of unknown words is flagged).
MIN_UNKNOWN_SHARE = 0.5
MAX_UNKNOWN_SHARE = 0.9


def _array_in(value: Any) -> Any:
    if isinstance(value, dict) and "float32_base64" in value:
        raw = base64.b64decode(value["float32_base64"])
        return np.frombuffer(raw, dtype="<f4").reshape(value["shape"]).astype(np.float64)
    return np.asarray(value, dtype=np.float64)


def _array_out(value: np.ndarray) -> dict:
    a = np.asarray(value, dtype="<f4")
    return {"shape": list(a.shape), "float32_base64": base64.b64encode(a.tobytes()).decode("ascii")}


# Matrices travel as float32 base64 with their shape: a 256×256 whitening matrix is 350 kB, not 1.3 MB of digits.
Matrix = Annotated[np.ndarray, BeforeValidator(_array_in), PlainSerializer(_array_out)]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class Distance(_Record):
    """z = ((x[:, columns] - center) / scale, missing → 0) @ components.T @ whitener; the score is the
    Euclidean distance from z to the nearest row of ``means`` (whitened class means), over ``threshold``."""

    source: Literal["embedding", "input"]
    description: str  # what the features are, for the card and people
    columns: list[int] | None = None  # the input columns used (a table's numeric ones); None: all
    center: Matrix
    scale: Matrix
    components: Matrix | None = None  # principal axes (k × D); None: the features as they are
    whitener: Matrix  # the Cholesky factor of the shrunk shared precision matrix (k × k)
    means: Matrix  # per class with training samples, whitened (C × k)
    shrinkage: float
    threshold: float
    quantile: float  # of the validation distances the threshold is


class RangeCheck(_Record):
    column: int
    name: str
    low: float  # the training minimum and maximum; values beyond them by the margin are flagged
    high: float
    margin: float


class CategoryCheck(_Record):
    column: int
    name: str


class UnknownCheck(_Record):
    """A text's share of unknown tokens (``[UNK]`` among its tokens), read from the model's input: token ids
    (``ids``, the first max_length tokens) or token counts (``counts``)."""

    form: Literal["ids", "counts"]
    threshold: float  # flagged when the share is above it
    val_share_mean: float  # the validation texts' mean share, for people


class OodStats(_Record):
    """``ood.json``."""

    format: Literal["practica-ood"] = "practica-ood"
    schema_version: int = OOD_SCHEMA_VERSION
    method: str
    distance: Distance
    ranges: list[RangeCheck] = []
    categories: list[CategoryCheck] = []
    unknown: UnknownCheck | None = None  # texts only; absent in bundles before text models
    fitted_on: dict[str, int]  # samples of each split used
    val_flag_rate: float  # inputs of the validation split flagged, by any check
    val_distance_flag_rate: float
    val_score_mean: float | None = None  # the validation split's mean score: what drift monitoring compares with

    def card(self) -> dict:
        """What the bundle card says of it: method, features, threshold and the validation flag rate."""
        return {
            "file": OOD_FILE, "method": self.method, "features": self.distance.description,
            "threshold": self.distance.threshold,
            "threshold_rule": f"the {self.distance.quantile:.0%} quantile of the validation split's distances",
            "score": "distance / threshold: above 1 is flagged",
            "range_checks": [c.name for c in self.ranges], "category_checks": [c.name for c in self.categories],
            **({"unknown_token_check": f"a text with over {self.unknown.threshold:.0%} of its tokens unknown to the "
                "vocabulary"} if self.unknown is not None else {}),
            "range_margin": RANGE_MARGIN, "val_flag_rate": self.val_flag_rate, "fitted_on": self.fitted_on,
        }


@dataclass(frozen=True)
class OodResult:
    """Per input: ``scores`` (distance over threshold; above 1 is flagged), ``flags`` (by the distance or a
    check), ``reasons`` (why it is flagged, in words; None when it is not)."""

    scores: np.ndarray  # (N,) float
    flags: np.ndarray  # (N,) bool
    reasons: list[str | None]

    def record(self, i: int) -> dict:
        """Input ``i`` as the service answers it: ``{"score", "flag", "reason"}``."""
        return {"score": float(self.scores[i]), "flag": bool(self.flags[i]), "reason": self.reasons[i]}


class OodScorer:
    """Scores inputs against a bundle's ``OodStats``; numpy only."""

    def __init__(self, stats: OodStats) -> None:
        self.stats = stats

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> OodScorer | None:
        """The bundle's scorer, or None for a bundle without ``ood.json`` (exported before it existed)."""
        if OOD_FILE not in bundle.sha256:  # the manifest lists what the bundle holds, verified on load
            return None
        path = bundle.root / OOD_FILE
        try:
            return cls(OodStats.model_validate(read_json(path)))
        except ValidationError as err:
            first = err.errors()[0]
            problem = f"{'.'.join(map(str, first['loc'])) or 'the file'}: {first['msg']}"
            if err.error_count() > 1:
                problem += f"; and {err.error_count() - 1} more problem(s)"
        except (OSError, ValueError) as err:
            problem = str(err)[:300]
        raise BundleError(f"{path} is not valid out-of-distribution statistics ({problem}). Export the bundle "
                          "again from its run (practica export RUN_DIR)")

    @property
    def needs_embedding(self) -> bool:
        return self.stats.distance.source == "embedding"

    def distances(self, x_raw: np.ndarray, embedding: np.ndarray | None) -> np.ndarray:
        """(N,) distances to the nearest class, in whitened units (not yet over the threshold)."""
        d = self.stats.distance
        if d.source == "embedding":
            if embedding is None:
                raise BundleError("this bundle's out-of-distribution score needs the model's embedding output; "
                                  "pass Bundle.infer(x).embedding")
            feats = np.asarray(embedding, dtype=np.float64)
        else:
            feats = np.asarray(x_raw, dtype=np.float64).reshape(len(x_raw), -1)
            if d.columns is not None:
                feats = feats[:, d.columns]
        return _distances(feats, d)

    def score(self, x_raw: np.ndarray, embedding: np.ndarray | None) -> OodResult:
        """(N, *input shape) raw inputs, and the model's (N, D) embedding (None for a model without one)."""
        x_raw = np.asarray(x_raw)
        d = self.stats.distance
        with _one_blas_thread(len(x_raw)):
            scores = self.distances(x_raw, embedding) / d.threshold
        reasons: list[list[str]] = [[] for _ in range(len(x_raw))]
        if self.stats.ranges or self.stats.categories:
            _check_values(x_raw.reshape(len(x_raw), -1), self.stats, reasons)
        if self.stats.unknown is not None:
            check = self.stats.unknown
            for row, share in enumerate(unknown_shares(x_raw, check.form)):
                if share > check.threshold:
                    reasons[row].append(f"{share:.0%} of its tokens are unknown to the model's vocabulary (flagged "
                                      f"over {check.threshold:.0%}; validation texts average "
                                      f"{check.val_share_mean:.0%})")
        far = scores > 1.0
        for i in np.flatnonzero(far):
            reasons[i].append(f"its {_short(d.description)} are farther from every class of the training data "
                              f"than {d.quantile:.0%} of validation inputs (score {scores[i]:.2f}, over 1 is unusual)")
        flags = far | np.array([bool(r) for r in reasons], dtype=bool)
        return OodResult(scores.astype(np.float64), flags,
                         [("; ".join(r) if r else None) for r in reasons])


@cache
def _blas_controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # a slim serving install may lack it: the products then run as BLAS is set up
        return None
    return ThreadpoolController()


@contextlib.contextmanager
def _one_blas_thread(rows: int) -> Iterator[None]:
    """These products are small (a batch × a few hundred): BLAS's threads cost more than they save, and on
    busy cores far more (measured: 64 × 128 by 128 took 23 ms with two OpenBLAS threads beside ONNX
    Runtime, 0.7 ms with one)."""
    controller = _blas_controller() if rows >= BLAS_LIMIT_ROWS else None  # a few rows: BLAS stays on one thread
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


def unknown_shares(x: np.ndarray, form: str) -> np.ndarray:
    """Each text's share of unknown tokens, from its token ids (N×L, PAD 0 at the end) or its counts (N×V)."""
    x = np.asarray(x)
    if form == "ids":
        tokens = (x != PAD).sum(1)
        unknown = (x == UNK).sum(1)
    else:
        tokens = x.sum(1)
        unknown = x[:, UNK]
    return np.asarray(unknown, dtype=np.float64) / np.maximum(np.asarray(tokens, dtype=np.float64), 1.0)


def _short(description: str) -> str:
    return description.split(" (")[0]


def _features(feats: np.ndarray, d: Distance) -> np.ndarray:
    z = (feats - d.center) / d.scale
    z = np.where(np.isfinite(z), z, 0.0)  # a missing table value sits at the training mean
    if d.components is not None:
        z = z @ d.components.T
    return z @ d.whitener


def _distances(feats: np.ndarray, d: Distance) -> np.ndarray:
    z = _features(feats, d)
    sq = (z * z).sum(1)[:, None] - 2.0 * z @ d.means.T + (d.means * d.means).sum(1)[None, :]
    return np.sqrt(np.maximum(sq.min(1), 0.0))


def _check_values(x: np.ndarray, stats: OodStats, reasons: list[list[str]]) -> None:
    for c in stats.categories:
        for i in np.flatnonzero(x[:, c.column] == UNKNOWN_CODE):
            reasons[i].append(f"'{c.name}' is a category the training data never had")
    for r in stats.ranges:
        col = x[:, r.column].astype(np.float64)
        with np.errstate(invalid="ignore"):  # NaN: missing, never out of range
            out = (col < r.low - r.margin) | (col > r.high + r.margin)
        for i in np.flatnonzero(out):
            side = "below" if col[i] < r.low else "above"
            reasons[i].append(f"'{r.name}' = {col[i]:.4g} is {side} the training range ({r.low:.4g} to {r.high:.4g})")


# --- fitting (at export; needs scikit-learn) -------------------------------------------------------


def fit_rows(width: int) -> int:
    """How many inputs of ``width`` values the statistics are fitted on, at most, when the inputs stand in for
    an embedding (``FIT_VALUES``); a caller that makes the inputs (a text baseline's counts) makes no more."""
    return max(MIN_FIT_ROWS, min(FIT_SAMPLES, FIT_VALUES // max(1, width)))


def fit_ood(*, train_x: np.ndarray, train_y: np.ndarray | None, val_x: np.ndarray, spec: InputSpec,
            embed: Callable[[np.ndarray], np.ndarray] | None, seed: int = 0) -> OodStats:
    """Fit the statistics on (a seeded subset of) the training split and set the threshold on validation.

    ``train_x``, ``val_x``: the model's inputs (a text model's token ids or counts); ``train_y``: class indices
    (None for a regression: one group); ``embed``: inputs → the model's embedding (None: the inputs stand in
    for it, on a subset of ``fit_rows`` of them when they are wide)."""
    rng = np.random.default_rng(seed)
    limit = FIT_SAMPLES if embed is not None else fit_rows(int(np.prod(np.shape(train_x)[1:])))
    pick = np.sort(rng.choice(len(train_x), limit, replace=False)) if len(train_x) > limit else None
    fit_x = train_x if pick is None else train_x[pick]
    labels = np.zeros(len(fit_x), dtype=np.int64) if train_y is None else np.asarray(
        train_y if pick is None else train_y[pick], dtype=np.int64)
    if embed is not None:
        feats, val_feats = embed(fit_x).astype(np.float64), embed(val_x).astype(np.float64)
        base = _embedding_transform(feats)
    else:
        feats = np.asarray(fit_x, dtype=np.float64).reshape(len(fit_x), -1)
        val_feats = np.asarray(val_x, dtype=np.float64).reshape(len(val_x), -1)
        base = _input_transform(feats, spec)
        if base["columns"] is not None:
            feats, val_feats = feats[:, base["columns"]], val_feats[:, base["columns"]]
    distance = _fit_distance(feats, labels, val_feats, base)
    ranges, categories = _value_checks(np.asarray(fit_x).reshape(len(fit_x), -1), spec)
    unknown = _unknown_check(val_x, spec)
    stats = OodStats(method="class-conditional Mahalanobis distance (shared covariance, Ledoit-Wolf shrinkage)"
                     + (" with range and category checks" if ranges or categories else "")
                     + (" and an unknown-token check" if unknown is not None else ""),
                     distance=distance, ranges=ranges, categories=categories, unknown=unknown,
                     fitted_on={"train": len(fit_x), "val": len(val_x)}, val_flag_rate=0.0,
                     val_distance_flag_rate=0.0)
    if not len(val_x):
        return stats
    val = OodScorer(stats).score(val_x, None if embed is None else val_feats)
    far = float((_distances(val_feats, distance) > distance.threshold).mean())
    return stats.model_copy(update={"val_flag_rate": float(val.flags.mean()), "val_distance_flag_rate": far,
                                    "val_score_mean": float(val.scores.mean())})


def _unknown_check(val_x: np.ndarray, spec: InputSpec) -> UnknownCheck | None:
    if spec.kind != "text" or spec.text_input is None:
        return None
    shares = unknown_shares(val_x, spec.text_input) if len(val_x) else np.zeros(1)
    threshold = float(np.clip(np.quantile(shares, 1.0 - FLAG_RATE), MIN_UNKNOWN_SHARE, MAX_UNKNOWN_SHARE))
    return UnknownCheck(form=spec.text_input, threshold=threshold, val_share_mean=float(shares.mean()))


def _embedding_transform(feats: np.ndarray) -> dict:
    width = feats.shape[1]
    base = {"source": "embedding", "columns": None, "center": feats.mean(0), "scale": np.ones(width),
            "components": None, "description": f"penultimate-layer features ({width} values)"}
    if width > EMBEDDING_DIMS:
        base["components"] = _principal_axes(feats - base["center"], EMBEDDING_DIMS)
        base["description"] = (f"penultimate-layer features ({width} values, on their first {EMBEDDING_DIMS} "
                               "principal components)")
    return base


def _input_transform(feats: np.ndarray, spec: InputSpec) -> dict:
    """Scaled pixels (images) or standardised numeric columns (features), on their principal components."""
    columns = None
    if spec.kind == "image":
        center, scale, what = feats.mean(0), np.full(feats.shape[1], 255.0), "scaled pixels"
    elif spec.kind == "text":  # counts of one unit: left unscaled, so a rare token weighs no more than a common one
        center, scale, what = feats.mean(0), np.ones(feats.shape[1]), "token counts"
    else:
        if spec.table is not None:
            columns = [j for j, c in enumerate(spec.table.columns) if c.kind == "numeric"]
            feats = feats[:, columns]
        center, scale = np.nanmean(feats, 0), np.nanstd(feats, 0)
        center, scale = np.where(np.isfinite(center), center, 0.0), np.where(scale > 1e-12, scale, 1.0)
        what = "standardised numeric columns" if spec.table is not None else "standardised features"
    base = {"source": "input", "columns": columns, "center": center, "scale": scale, "components": None,
            "description": f"inputs ({what}, {feats.shape[1]} values)"}
    if feats.shape[1] > INPUT_DIMS:
        z = np.where(np.isfinite(feats), (feats - center) / scale, 0.0)
        base["components"] = _principal_axes(z, INPUT_DIMS)
        base["description"] = f"inputs ({what}, on their first {INPUT_DIMS} principal components)"
    return base


def _principal_axes(centred: np.ndarray, k: int) -> np.ndarray:
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return vt[: min(k, len(vt))]


def _fit_distance(feats: np.ndarray, labels: np.ndarray, val_feats: np.ndarray, base: dict) -> Distance:
    from sklearn.covariance import ledoit_wolf

    z = np.where(np.isfinite(feats), (feats - base["center"]) / base["scale"], 0.0)
    if base["components"] is not None:
        z = z @ base["components"].T
    present = np.unique(labels)
    means = np.stack([z[labels == c].mean(0) for c in present])
    residuals = z - means[np.searchsorted(present, labels)]
    cov, shrinkage = ledoit_wolf(residuals, assume_centered=True)
    cov = cov + 1e-9 * np.trace(cov) / len(cov) * np.eye(len(cov))  # a constant feature: still invertible
    # precision = L Lᵀ, so (z-μ)ᵀ precision (z-μ) = |(z-μ) L|²: a distance in whitened space.
    whitener = np.linalg.cholesky(np.linalg.inv(cov))
    distance = Distance(source=base["source"], description=base["description"], columns=base["columns"],
                        center=base["center"], scale=base["scale"], components=base["components"],
                        whitener=whitener, means=means @ whitener, shrinkage=float(shrinkage),
                        threshold=1.0, quantile=1.0 - FLAG_RATE)
    if not len(val_feats):
        return distance
    threshold = float(np.quantile(_distances(val_feats, distance), 1.0 - FLAG_RATE))
    return distance.model_copy(update={"threshold": max(threshold, 1e-12)})


def _value_checks(x: np.ndarray, spec: InputSpec) -> tuple[list[RangeCheck], list[CategoryCheck]]:
    if spec.kind != "features" or (spec.table is None and spec.shape[0] > MAX_CHECKED_FEATURES):
        return [], []
    names = list(spec.feature_names) or [f"feature {j}" for j in range(spec.shape[0])]
    kinds = [c.kind for c in spec.table.columns] if spec.table is not None else ["numeric"] * spec.shape[0]
    ranges, categories = [], []
    for j, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        if kind == "categorical":
            categories.append(CategoryCheck(column=j, name=name))
            continue
        col = x[:, j].astype(np.float64)
        col = col[np.isfinite(col)]
        if not len(col):
            continue
        low, high = float(col.min()), float(col.max())
        width = high - low if high > low else max(abs(high), 1.0)
        ranges.append(RangeCheck(column=j, name=name, low=low, high=high, margin=RANGE_MARGIN * width))
    return ranges, categories
