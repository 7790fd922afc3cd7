"""Drift over a window of logged predictions, against the bundle's ``reference.json``.

The reference holds summaries, never samples (``bundle/reference.py``), so every statistic here is
one a summary allows:

- PSI (population stability index) over the reference's own bins: a table feature's histogram,
  the quantile bins of an image statistic (brightness, contrast), the confidence histogram;
- a Kolmogorov–Smirnov distance read where the reference's cumulative distribution is known exactly
  (a histogram's edges, an image statistic's quantiles): a lower bound on the full two-sample KS
  distance, with its asymptotic p-value;
- shifts of means (an image channel, the OOD score, the confidence); an image channel's, like the
  statistics above, alerts only when its shift is also unlikely by chance in a window that small;
- a chi-square test of the predicted classes against their shares on validation, and a binomial
  test of the share flagged out of distribution against its calibrated rate.

Each is a ``DriftCheck`` with its value, its threshold, an ``alert`` and a sentence in words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from practica import text
from practica.monitoring.records import PredictionRow
from practica.monitoring.stats import binomial_greater, chi2_sf, chi2_two_sample, kolmogorov_sf
from practica.monitoring.thresholds import Thresholds

DEFAULT_WINDOW = 1_000
DEFAULT_OOD_FLAG_RATE = 0.01  # what the OOD flag is calibrated to on validation, when the reference does not say
PSI_FLOOR = 1e-3  # an empty bin counts as this share, so PSI stays finite
MAX_UNIT_STD = 0.5  # the largest standard deviation a value on a 0–1 scale can have

Kind = Literal["psi", "ks", "shift", "chi_square", "rate", "ratio"]


class DriftCheck(BaseModel):
    """One statistic over the window: ``id`` is stable (a Prometheus label, an alert's key)."""

    model_config = ConfigDict(frozen=True)

    id: str  # e.g. "psi:petal_length", "ks:brightness", "classes", "ood_flag_rate"
    kind: Kind
    subject: str  # what was compared, in words: "feature 'petal_length'", "image brightness", ...
    feature: str | None = None  # the feature or pixel statistic, for per-feature gauges
    value: float
    threshold: float
    p_value: float | None = None
    alert: bool
    sentence: str


class DriftReport(BaseModel):
    """The window's drift checks, and the figures around them (JSON-able: ``model_dump(mode="json")``)."""

    model_config = ConfigDict(frozen=True)

    window: int  # rows asked for
    rows: int  # rows used: the newest ``window`` answered inputs of the primary model
    first_time: float | None
    last_time: float | None
    checks: list[DriftCheck]
    class_shares: dict[str, float]  # predicted-class shares in the window (classifiers)
    reference_class_shares: dict[str, float]
    confidence_mean: float | None
    reference_confidence_mean: float | None
    ood_rows: int  # rows with an OOD flag (0 until the bundle carries OOD statistics)
    ood_flag_rate: float | None
    notes: list[str]

    @property
    def alerts(self) -> list[DriftCheck]:
        return [c for c in self.checks if c.alert]


def drift_report(rows: Sequence[PredictionRow], reference: dict[str, Any], *, window: int = DEFAULT_WINDOW,
                 thresholds: Thresholds | None = None, feature_names: Sequence[str] | None = None) -> DriftReport:
    """Drift of the newest ``window`` rows (the primary model's answered inputs) against ``reference``
    (the bundle's reference.json; an ``"ood"`` entry, when present, gives ``flag_rate`` and ``score_mean``).

    >>> report = drift_report(read_rows("predictions.db"), bundle.reference(), window=500)  # doctest: +SKIP
    >>> [c.sentence for c in report.alerts]  # doctest: +SKIP
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, not {window}")
    t = thresholds or Thresholds()
    live = [r for r in rows if r.role == "primary" and r.error is None][-window:]
    notes: list[str] = []
    checks: list[DriftCheck] = []
    inputs, outputs = reference.get("inputs") or {}, reference.get("outputs") or {}
    if live:
        if inputs.get("kind") == "features":
            checks += _feature_checks(live, inputs, t, feature_names, notes)
        elif inputs.get("kind") == "image":
            checks += _image_checks(live, inputs, t, notes)
        elif inputs.get("kind") == "text":
            checks += _text_checks(live, inputs, t, notes)
        else:
            notes.append("the reference has no input statistics: input drift is not measured")
        checks += _output_checks(live, outputs, t, notes)
        checks += _ood_checks(live, reference.get("ood") or {}, t)
    quiet = len(live) < t.min_rows
    if quiet:
        notes.append(f"only {text.plural(len(live), 'input')} in the window, fewer than {t.min_rows}: the statistics "
                     "are shown but raise no alert")
        checks = [c.model_copy(update={"alert": False}) for c in checks]
    labels = [r.output for r in live if isinstance(r.output, str)]
    shares = {k: v / len(labels) for k, v in _counts(labels).items()} if labels else {}
    conf = [r.confidence for r in live if r.confidence is not None]
    flags = [r.ood_flag for r in live if r.ood_flag is not None]
    return DriftReport(
        window=window, rows=len(live), first_time=live[0].time if live else None,
        last_time=live[-1].time if live else None, checks=checks, class_shares=shares,
        reference_class_shares=dict(outputs.get("predicted_class_frequencies") or {}),
        confidence_mean=float(np.mean(conf)) if conf else None,
        reference_confidence_mean=outputs.get("confidence_mean"),
        ood_rows=len(flags), ood_flag_rate=float(np.mean(flags)) if flags else None, notes=notes,
    )


# ---------------------------------------------------------------------------------------- inputs


def _feature_checks(live: list[PredictionRow], inputs: dict, t: Thresholds, names: Sequence[str] | None,
                    notes: list[str]) -> list[DriftCheck]:
    features = inputs.get("features") or []
    logged = [r.input_summary.get("features") for r in live]
    values = [v for v in logged if v is not None and len(v) == len(features)]
    if len(values) < len(logged):
        notes.append(f"some logged inputs do not have the reference's {len(features)} features; they are left out")
    if not values:
        return []
    matrix = np.array([[np.nan if x is None else x for x in v] for v in values], dtype=np.float64)
    out = []
    for j, ref in enumerate(features):
        name = names[j] if names is not None and j < len(names) else f"feature_{j}"
        column = matrix[:, j][~np.isnan(matrix[:, j])]
        if not len(column):
            continue
        hist = ref["histogram"]
        subject = f"feature '{name}'"
        out.append(_psi_check(f"psi:{name}", subject, name, column, np.asarray(hist["edges"]),
                              np.asarray(hist["frequencies"]), int(inputs.get("samples", 0)), t))
        out.append(_ks_on_edges(f"ks:{name}", subject, name, column, np.asarray(hist["edges"]),
                                np.asarray(hist["frequencies"]), int(inputs.get("samples", 0)), t))
    return out


def _image_checks(live: list[PredictionRow], inputs: dict, t: Thresholds, notes: list[str]) -> list[DriftCheck]:
    out = []
    n_ref = int(inputs.get("samples", 0))
    for stat, key in (("brightness", "image_brightness_quantiles"), ("contrast", "image_contrast_quantiles")):
        column = np.array([r.input_summary[stat] for r in live if r.input_summary.get(stat) is not None], dtype=float)
        quantiles = inputs.get(key)
        if quantiles is None:
            notes.append(f"the reference has no image {stat} statistics (a bundle exported before they were "
                         "recorded): export it again to monitor them")
            continue
        if not len(column):
            continue
        edges, cdf = _quantile_cdf(quantiles)
        subject = f"image {stat}"
        out.append(_psi_check(f"psi:{stat}", subject, stat, column, edges, np.diff(cdf), n_ref, t,
                              quantile_bins=True))
        out.append(_ks_at(f"ks:{stat}", subject, stat, column, edges[1:-1], cdf[1:-1], n_ref, t))
    means = [r.input_summary.get("channel_means") for r in live]
    ref_means = inputs.get("channel_mean") or []
    means = [m for m in means if m is not None and len(m) == len(ref_means)]
    if means and ref_means:
        live_means = np.asarray(means, dtype=float).mean(axis=0)
        names = {1: ("grey",), 3: ("red", "green", "blue")}.get(
            len(ref_means), tuple(f"channel {c}" for c in range(len(ref_means))))
        spreads = inputs.get("channel_std") or [MAX_UNIT_STD] * len(ref_means)
        for c, (name, now, then) in enumerate(zip(names, live_means, ref_means, strict=True)):
            shift = float(now - then)
            p = _mean_shift_p(shift, float(spreads[c]) if c < len(spreads) else MAX_UNIT_STD, len(means))
            alert = abs(shift) > t.channel_shift and p < t.p_value
            verdict = (f", more than the {t.channel_shift:g} allowed" if alert
                       else f", more than the {t.channel_shift:g} allowed but within chance for so few inputs "
                            f"(p = {p:.2g})" if abs(shift) > t.channel_shift else "")
            out.append(DriftCheck(
                id=f"channel_mean:{c}", kind="shift", subject=f"{name} channel mean", feature=f"channel_mean_{c}",
                value=abs(shift), threshold=t.channel_shift, p_value=p, alert=alert,
                sentence=f"the {name} channel's mean is {now:.3f} against {then:.3f} in training (0–1 scale), "
                         f"{'darker' if shift < 0 else 'brighter'} by {abs(shift):.3f}" + verdict,
            ))
    return out


def _text_checks(live: list[PredictionRow], inputs: dict, t: Thresholds, notes: list[str]) -> list[DriftCheck]:
    """A text model's inputs: their length in characters against the training texts' (quantiles). Unknown
    tokens are not logged per input (the log keeps no tokenizer): the reference's rate is shown, not compared."""
    column = np.array([r.input_summary["chars"] for r in live if r.input_summary.get("chars") is not None],
                      dtype=float)
    quantiles = inputs.get("char_length_quantiles")
    if quantiles is None or not len(column):
        if quantiles is None:
            notes.append("the reference has no text length statistics: export the bundle again to monitor them")
        return []
    if inputs.get("val_unknown_rate") is not None:
        notes.append(f"unknown tokens are {text.percent(inputs['val_unknown_rate'])} of the validation texts' "
                     "tokens; the live rate is not measured by the log")
    edges, cdf = _quantile_cdf(quantiles)
    n_ref, subject = int(inputs.get("samples", 0)), "text length (characters)"
    return [_psi_check("psi:text_length", subject, "text_length", column, edges, np.diff(cdf), n_ref, t,
                       quantile_bins=True),
            _ks_at("ks:text_length", subject, "text_length", column, edges[1:-1], cdf[1:-1], n_ref, t)]


def _mean_shift_p(shift: float, pixel_std: float, n: int) -> float:
    """Two-sided p-value of a window's mean channel value ``shift`` away from training's, by chance alone.

    The spread of one image's channel mean is not in the reference, but the pixels' own standard
    deviation bounds it from above (an image's mean varies less than its pixels), so the p-value is
    conservative: an alert is never a small window's noise. Over 30 CIFAR-10 test images the window's
    mean strays past 0.05 in about one window in ten; with this guard, never.
    """
    if pixel_std <= 0:
        return 0.0 if shift else 1.0
    z = abs(shift) / (pixel_std / math.sqrt(n))
    return math.erfc(z / math.sqrt(2))


# ---------------------------------------------------------------------------------------- outputs


def _output_checks(live: list[PredictionRow], outputs: dict, t: Thresholds, notes: list[str]) -> list[DriftCheck]:
    out = []
    frequencies = outputs.get("predicted_class_frequencies")
    labels = [r.output for r in live if isinstance(r.output, str)]
    if frequencies and labels:
        out.append(_class_check(labels, frequencies, int(outputs.get("samples", 0)), t))
    confidences = np.array([r.confidence for r in live if r.confidence is not None], dtype=float)
    hist = outputs.get("confidence_histogram")
    if hist and len(confidences):
        out.append(_psi_check("psi:confidence", "prediction confidence", None, confidences,
                              np.asarray(hist["edges"]), np.asarray(hist["frequencies"]),
                              int(outputs.get("samples", 0)), t))
        ref_mean = outputs.get("confidence_mean")
        if ref_mean is not None:
            drop = float(ref_mean - confidences.mean())
            alert = drop > t.confidence_drop
            out.append(DriftCheck(
                id="confidence_mean", kind="shift", subject="mean confidence", value=drop,
                threshold=t.confidence_drop, alert=alert,
                sentence=f"the model's mean confidence is {text.percent(float(confidences.mean()))} against "
                         f"{text.percent(ref_mean)} on validation"
                         + (f": down by {text.points(drop)}, more than the {text.points(t.confidence_drop)} allowed"
                            if alert else ""),
            ))
    values = np.array([r.output for r in live if isinstance(r.output, int | float)], dtype=float)
    hist = outputs.get("prediction_histogram")
    if hist and len(values):
        edges, freqs = np.asarray(hist["edges"]), np.asarray(hist["frequencies"])
        out.append(_psi_check("psi:prediction", "predicted value", None, values, edges, freqs,
                              int(outputs.get("samples", 0)), t))
        out.append(_ks_on_edges("ks:prediction", "predicted value", None, values, edges, freqs,
                                int(outputs.get("samples", 0)), t))
    if not frequencies and not hist and outputs:
        notes.append("the reference has no output statistics: output drift is not measured")
    return out


def _class_check(labels: list[str], frequencies: dict[str, float], n_ref: int, t: Thresholds) -> DriftCheck:
    """Two-sample chi-square of the window's predicted classes against validation's: validation's shares
    come from a sample too (often a few hundred inputs), and testing against them as if exact would
    alert on its noise (a class predicted twice live and never on validation)."""
    classes = list(frequencies)
    counts = _counts(labels)
    observed = np.array([counts.get(c, 0) for c in classes], dtype=float)
    reference = np.array([frequencies[c] for c in classes], dtype=float) * max(n_ref, 1)
    seen = (observed + reference) > 0
    table = np.stack([observed[seen], reference[seen]])
    p = chi2_two_sample(table) if seen.sum() > 1 and observed.sum() else 1.0
    shares = observed / max(1.0, observed.sum())
    expected = np.array([frequencies[c] for c in classes], dtype=float)
    worst = int(np.argmax(np.abs(shares - expected)))
    alert = p < t.p_value
    return DriftCheck(
        id="classes", kind="chi_square", subject="predicted classes", value=p, threshold=t.p_value, p_value=p,
        alert=alert,
        sentence=f"the predicted classes {'differ from' if alert else 'match'} their shares on validation "
                 f"(chi-square p = {p:.2g}{', below ' + format(t.p_value, 'g') if alert else ''}); the largest gap is "
                 f"'{classes[worst]}', {text.percent(float(shares[worst]))} of answers against "
                 f"{text.percent(frequencies[classes[worst]])}",
    )


def _ood_checks(live: list[PredictionRow], ood: dict, t: Thresholds) -> list[DriftCheck]:
    out = []
    flags = np.array([r.ood_flag for r in live if r.ood_flag is not None], dtype=bool)
    if len(flags):
        expected = float(ood.get("flag_rate", DEFAULT_OOD_FLAG_RATE))
        rate = float(flags.mean())
        p = binomial_greater(int(flags.sum()), len(flags), expected)
        alert = rate > t.ood_flag_rate and p < t.p_value
        out.append(DriftCheck(
            id="ood_flag_rate", kind="rate", subject="inputs flagged out of distribution", value=rate,
            threshold=t.ood_flag_rate, p_value=p, alert=alert,
            sentence=f"{text.percent(rate)} of inputs ({int(flags.sum())} of {len(flags)}) do not look like the "
                     f"training data, against the {text.percent(expected)} the flag is calibrated to"
                     + (f": above the {text.percent(t.ood_flag_rate)} allowed" if alert else ""),
        ))
    scores = np.array([r.ood_score for r in live if r.ood_score is not None], dtype=float)
    ref_mean = ood.get("score_mean")
    if len(scores) and ref_mean:
        ratio = float(scores.mean() / ref_mean)
        alert = ratio > t.ood_score_ratio
        out.append(DriftCheck(
            id="ood_score", kind="ratio", subject="mean OOD score (embedding drift)", value=ratio,
            threshold=t.ood_score_ratio, alert=alert,
            sentence=f"the inputs' mean OOD score is {scores.mean():.3g}, {ratio:.2f}× its value on validation "
                     f"({ref_mean:.3g})" + (f": the embeddings have moved (alert above {t.ood_score_ratio:g}×)"
                                            if alert else ""),
        ))
    return out


# ---------------------------------------------------------------------------------------- statistics


def psi(expected: np.ndarray, actual: np.ndarray, *, floor: float = PSI_FLOOR) -> float:
    """Population stability index of two share vectors over the same bins: Σ (a − e) · ln(a / e), each share
    floored at ``floor`` (an empty bin counts as that share, so PSI stays finite).

    >>> round(psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])), 6)
    0.0
    >>> round(psi(np.array([0.5, 0.5]), np.array([0.9, 0.1])), 3)
    0.879
    """
    e = np.maximum(np.asarray(expected, dtype=float), floor)
    a = np.maximum(np.asarray(actual, dtype=float), floor)
    return float(np.sum((a - e) * np.log(a / e)))


def _psi_check(check_id: str, subject: str, feature: str | None, values: np.ndarray, edges: np.ndarray,
               frequencies: np.ndarray, n_ref: int, t: Thresholds, *, quantile_bins: bool = False) -> DriftCheck:
    """PSI of ``values`` over the reference's bins; the outer bins are open, so a value outside the
    training range counts in the first or last bin rather than nowhere.

    PSI's rules of thumb assume large samples: over 10 bins, 50 inputs drawn like the training data
    give a PSI near 0.2 by chance alone. So an alert also needs PSI to be unlikely by chance: scaled by
    the effective sample size, PSI (a symmetric KL divergence) is close to chi-square with bins − 1
    degrees of freedom when nothing has moved.
    """
    # a histogram's bins hold their left edge ([a, b)); a quantile bin holds its right one (P(X ≤ q))
    bins = np.searchsorted(edges[1:-1], values, side="left" if quantile_bins else "right")
    actual = np.bincount(bins, minlength=len(frequencies)) / len(values)
    value = psi(frequencies, actual)
    n, m = len(values), max(n_ref, 1)
    p = chi2_sf(value * n * m / (n + m), max(1, len(frequencies) - 1))
    below, above = float(np.mean(values < edges[0])), float(np.mean(values > edges[-1]))
    alert = value > t.psi and p < t.p_value
    where = ""
    if not quantile_bins and (below or above):
        where = f"; {text.percent(below + above)} of them outside the training range"
    verdict = (f"above {t.psi:g}: its distribution has moved{where}" if alert
               else f"under {t.psi:g}: as in training{where}" if value <= t.psi
               else f"above {t.psi:g} but within chance for so few inputs (p = {p:.2g}){where}")
    return DriftCheck(
        id=check_id, kind="psi", subject=subject, feature=feature, value=value, threshold=t.psi, p_value=p,
        alert=alert, sentence=f"{subject}: PSI {value:.3f} over {text.plural(len(values), 'input')} ({verdict})",
    )


def _ks_on_edges(check_id: str, subject: str, feature: str | None, values: np.ndarray, edges: np.ndarray,
                 frequencies: np.ndarray, n_ref: int, t: Thresholds) -> DriftCheck:
    """KS distance at a histogram's inner edges, where the reference's P(X < edge) is known exactly."""
    cdf = np.cumsum(frequencies)[:-1]
    return _ks_at(check_id, subject, feature, values, edges[1:-1], cdf, n_ref, t, strict=True)


def _ks_at(check_id: str, subject: str, feature: str | None, values: np.ndarray, points: np.ndarray,
           ref_cdf: np.ndarray, n_ref: int, t: Thresholds, *, strict: bool = False) -> DriftCheck:
    live_cdf = np.array([np.mean(values < p) if strict else np.mean(values <= p) for p in points])
    distance = float(np.max(np.abs(live_cdf - ref_cdf))) if len(points) else 0.0
    n, m = len(values), max(n_ref, 1)
    p = kolmogorov_sf(distance * math.sqrt(n * m / (n + m)))
    alert = distance > t.ks and p < t.p_value
    return DriftCheck(
        id=check_id, kind="ks", subject=subject, feature=feature, value=distance, threshold=t.ks, p_value=p,
        alert=alert,
        sentence=f"{subject}: Kolmogorov–Smirnov distance {distance:.3f} (p = {p:.2g}) "
                 + (f"(above {t.ks:g}: the values are not distributed as in training)" if alert
                    else f"(alert above {t.ks:g} with p < {t.p_value:g})"),
    )


def _quantile_cdf(quantiles: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Edges and cumulative shares from ``{"0.01": q, ...}``: bins between consecutive distinct quantiles,
    open at both ends, so the expected share of each bin is the difference of its quantile levels."""
    levels = sorted((float(k), float(v)) for k, v in quantiles.items())
    points: dict[float, float] = {}
    for level, value in levels:  # a repeated value keeps its highest level (P(X ≤ value))
        points[value] = level
    values = sorted(points)
    edges = np.array([-np.inf, *values, np.inf])
    cdf = np.array([0.0, *(points[v] for v in values), 1.0])
    return edges, cdf


def _counts(labels: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for label in labels:
        out[label] = out.get(label, 0) + 1
    return out
