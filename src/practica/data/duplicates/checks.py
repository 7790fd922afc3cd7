"""Data hygiene checks: what is wrong with a data set before any model sees it.

``check_data({"train": train, "test": test})`` runs every check that applies and returns a
``HygieneReport``: unreadable files, class balance, exact and near duplicates within each part
and across parts (train–test leakage), duplicates whose labels disagree, for feature tables
missing values, constant columns and infinite values, and for texts their lengths and
characters (``text_checks.py``; near texts by MinHash, ``text_hashes.py``). Every finding names its files
(``Dataset.sources``), so a user can open them. The records are plain dataclasses with
``to_dict()``; the duplicates come from one ``DuplicateIndex`` per part (``index.py``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Literal

import numpy as np
from pydantic import TypeAdapter

from practica.data.duplicates.hygiene import (
    DEFAULT_MAX_DIFFERENCE,
    DEFAULT_MIN_SIMILARITY,
    DEFAULT_NEAR_DISTANCE,
    MIN_NEAR_SIDE,
    near_applicable,
)
from practica.data.duplicates.index import DuplicateIndex, is_conflict
from practica.data.records import Dataset, Skipped, sample_name, skipped_noun
from practica.tasks import get_task
from practica.text import plural

__all__ = [
    "DEFAULT_IMBALANCE_THRESHOLD",
    "Check",
    "ColumnIssue",
    "HygieneReport",
    "Pair",
    "PartSummary",
    "check_data",
]

DEFAULT_IMBALANCE_THRESHOLD = 3.0  # max/min class count past which the balance check warns
MAX_LISTED = 10_000  # findings listed per check in to_dict(); the counts are always whole

Status = Literal["ok", "warning"]


@dataclass(frozen=True)
class Pair:
    """Two samples that are (near) copies: ``a`` in ``a_part``, ``b`` in ``b_part`` (the same part
    for a duplicate within one). ``distance`` is the perceptual-hash Hamming distance and
    ``similarity`` the thumbnails' correlation (``hygiene.similarity``); an exact copy, whose
    bytes are equal, has distance 0 and similarity 1. For texts, ``similarity`` is the word-bigram
    Jaccard similarity and ``distance`` the Jaccard distance in points (100 × (1 - J)); an exact
    copy is equal after normalisation (``text_hashes.normalise``)."""

    a_part: str
    a_index: int
    a_source: str
    a_label: str
    b_part: str
    b_index: int
    b_source: str
    b_label: str
    distance: int
    exact: bool
    similarity: float = 1.0

    @property
    def where(self) -> str:
        return self.a_part if self.a_part == self.b_part else f"{self.a_part}–{self.b_part}"

    @property
    def labels_differ(self) -> bool:
        return self.a_label != self.b_label

    def to_dict(self) -> dict[str, Any]:
        return {
            "where": self.where, "exact": self.exact, "distance": self.distance,
            "similarity": None if self.similarity != self.similarity else round(self.similarity, 4),
            "a": {"part": self.a_part, "index": self.a_index, "source": self.a_source, "label": self.a_label},
            "b": {"part": self.b_part, "index": self.b_index, "source": self.b_source, "label": self.b_label},
        }


@dataclass(frozen=True)
class ColumnIssue:
    """A feature-table column with a problem: ``count`` cells (or, for a constant column, its value)."""

    part: str
    column: int
    count: int
    detail: str  # "NaN", "inf", "-inf" or "constant 0.0"
    sources: tuple[str, ...] = ()  # the first few rows concerned
    name: str = ""  # the column's name, where the table has names

    @property
    def label(self) -> str:
        return self.name or str(self.column)

    @property
    def line(self) -> str:
        """The issue as one line for a reader: 'train · column bill: NaN in 5 rows: a.csv:row 3, …'.
        The rows and the examples only when there are rows to name (an identifier-like column's
        count is of values, and its detail says so; a constant column is every row)."""
        text = f"{self.part} · column {self.label}: {self.detail}"
        if not self.sources:
            return text
        more = ", …" if self.count > len(self.sources) else ""
        return f"{text} in {plural(self.count, 'row')}: {', '.join(self.sources)}{more}"

    def to_dict(self) -> dict[str, Any]:
        named = {"name": self.name} if self.name else {}
        return {"part": self.part, "column": self.column, **named, "count": self.count, "detail": self.detail,
                "sources": list(self.sources)}


@dataclass(frozen=True)
class Check:
    """One check: its verdict, a one-line summary, counts by part, and the findings."""

    name: str
    title: str
    status: Status
    summary: str
    count: int  # how many findings (pairs, files, columns, classes)
    counts: dict[str, Any] = field(default_factory=dict)  # by part or pair of parts
    findings: tuple[Pair | ColumnIssue | str, ...] = ()  # str: "path: reason"

    @property
    def pairs(self) -> tuple[Pair, ...]:
        return tuple(f for f in self.findings if isinstance(f, Pair))

    def to_dict(self, limit: int | None = MAX_LISTED) -> dict[str, Any]:
        listed = self.findings if limit is None else self.findings[:limit]
        return {
            "name": self.name, "title": self.title, "status": self.status, "summary": self.summary,
            "count": self.count, "counts": self.counts, "listed": len(listed),
            "findings": [f if isinstance(f, str) else f.to_dict() for f in listed],
        }


@dataclass(frozen=True)
class PartSummary:
    name: str
    samples: int
    kind: Literal["image", "features", "text"]
    shape: tuple[int, ...]  # one sample's, as the models see it
    class_counts: dict[str, int]
    skipped: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "samples": self.samples, "kind": self.kind, "shape": list(self.shape),
                "class_counts": self.class_counts, "skipped": self.skipped}


@dataclass(frozen=True)
class HygieneReport:
    parts: tuple[PartSummary, ...]
    checks: tuple[Check, ...]
    near_distance: int | None  # None: near duplicates were not looked for
    min_similarity: float | None
    imbalance_threshold: float
    seconds: float
    notes: tuple[str, ...] = ()  # what was not checked, and why
    max_difference: float | None = None  # the near duplicates' pixel bound (of 255); None: not compared

    @property
    def is_text(self) -> bool:
        """A report on texts: near duplicates are by word-bigram Jaccard (``text_hashes``), not pHash."""
        return bool(self.parts) and all(p.kind == "text" for p in self.parts)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    @property
    def warnings(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == "warning")

    def pairs(self, limit: int | None = None) -> list[Pair]:
        """Duplicate pairs to show: across parts (leakage) first, then within; exact before near,
        closest first. Exact copies of one group count once."""
        order = ["exact_across", "near_across", "exact_within", "near_within"]
        out = [p for name in order if (c := self.check(name)) for p in c.pairs]
        return out if limit is None else out[:limit]

    def to_dict(self, limit: int | None = MAX_LISTED) -> dict[str, Any]:
        return {
            "near_distance": self.near_distance,
            "min_similarity": self.min_similarity,
            "max_difference": self.max_difference,
            "imbalance_threshold": self.imbalance_threshold,
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
            "status": "warning" if self.warnings else "ok",
            "parts": [p.to_dict() for p in self.parts],
            "checks": [c.to_dict(limit) for c in self.checks],
        }


# The report as the derived-result cache keeps it: every field as it is (a NaN similarity, NumPy numbers and
# tuples are left to ``write_json``), read back whole. ``to_dict`` is the view data/hygiene.json and
# ``practica data inspect --json`` show: findings listed up to a limit, the pairs' two ends, rounded figures.
HYGIENE_REPORT: TypeAdapter[HygieneReport] = TypeAdapter(HygieneReport)


def _report_json(report: HygieneReport) -> Any:
    return HYGIENE_REPORT.dump_python(report, warnings=False)  # NumPy integers pass as they are


# Below this many samples (all parts together) the checks take about a second: no cache.
CACHE_FROM = 10_000


def check_data(
    parts: Mapping[str, Dataset],
    *,
    near_distance: int | None = DEFAULT_NEAR_DISTANCE,
    min_similarity: float | None = DEFAULT_MIN_SIMILARITY,
    max_difference: float | None = DEFAULT_MAX_DIFFERENCE,
    imbalance_threshold: float = DEFAULT_IMBALANCE_THRESHOLD,
    cached: bool = False,
    index: Mapping[str, DuplicateIndex] | None = None,
) -> HygieneReport:
    """Every check that applies to ``parts`` ({"train": ..., "test": ...}; the first is the one
    the model learns from). Near duplicates (images only) are pairs within perceptual distance
    ``near_distance`` whose pixels differ by at most ``max_difference`` (of 255, after the best
    one-pixel shift and a brightness fit: ``hygiene.pixel_difference``) and whose thumbnails
    correlate at least ``min_similarity`` (either None: that test is not made);
    ``near_distance`` None skips them.

    ``cached``: for large sets the report is kept in the data cache folder and read back by a later
    call on the same parts and settings (on CIFAR-10's 60,000 images the near-duplicate search takes
    half a minute, and every run of a suite on the same splits would repeat it). The key covers the
    parts' names and data, the settings and the code of the checks.

    ``index``: the parts' duplicate indices where already taken (``Splits.duplicates``, cut from
    the cleaning policy's): their hashes are read rather than taken again."""
    settings = {"near_distance": near_distance, "min_similarity": min_similarity,
                "max_difference": max_difference, "imbalance_threshold": imbalance_threshold}
    known = dict(index or {})

    def run() -> HygieneReport:
        return _check_data(parts, known, near_distance=near_distance, min_similarity=min_similarity,
                           max_difference=max_difference, imbalance_threshold=imbalance_threshold)

    if not cached or sum(len(d) for d in parts.values()) < CACHE_FROM:
        return run()
    from practica.data.duplicates import hygiene, table_checks, text_checks, text_hashes
    from practica.data.duplicates import index as index_module  # the parameter ``index`` is the indices
    from practica.data.storage import cache

    code = (__file__, hygiene.__file__, index_module.__file__, table_checks.__file__, text_checks.__file__,
            text_hashes.__file__)
    key = cache.derived_key(code, [list(parts), settings], list(parts.values()))
    return cache.cached_result("hygiene", key, run, _report_json, HYGIENE_REPORT.validate_python)


def _check_data(parts: Mapping[str, Dataset], known: dict[str, DuplicateIndex], *, near_distance: int | None,
                min_similarity: float | None, max_difference: float | None,
                imbalance_threshold: float) -> HygieneReport:
    started = time.perf_counter()
    names = list(parts)
    if not names:
        raise ValueError("check_data needs at least one part")
    images = all(d.kind == "image" for d in parts.values())
    texts = all(d.kind == "text" for d in parts.values())
    notes = []
    if images and near_distance is not None and not all(near_applicable(d.x) for d in parts.values()):
        h, w = next(d.x.shape[1:3] for d in parts.values() if not near_applicable(d.x))
        notes.append(f"near duplicates not looked for: {h}×{w} images are too small "
                     f"(under {MIN_NEAR_SIDE} pixels a side) for a perceptual hash to tell a copy from a look-alike; "
                     "exact duplicates are still found")
        near_distance = None
    index = {n: known[n].with_bars(near_distance, min_similarity, max_difference) if _fits(known.get(n), parts[n])
             else DuplicateIndex.of(parts[n], near_distance, min_similarity, max_difference) for n in names}
    regression = any(not get_task(d.task).has_classes for d in parts.values())
    checks = [_unreadable(parts), _target(parts) if regression else _balance(parts, imbalance_threshold)]
    exact_within = _exact_within(index)
    exact_across = _exact_across(index)
    checks += [exact_within]
    near_within = near_across = None
    if (images or texts) and near_distance is not None:
        near_within = _near_within(index)
        checks.append(near_within)
    checks.append(exact_across)
    if (images or texts) and near_distance is not None:
        near_across = _near_across(index)
        checks.append(near_across)
    checks.append(_label_conflicts([c for c in (exact_within, near_within, exact_across, near_across) if c]))
    if texts:
        from practica.data.duplicates.text_checks import text_checks

        checks += text_checks(dict(parts), names[0])
    elif not images:
        features = {n: d for n, d in parts.items() if d.kind == "features"}
        checks += [_missing(features), _constant(features.get(names[0]), names[0]),
                   _non_finite(features)]
        if names[0] in features and features[names[0]].table is not None:
            from practica.data.duplicates.table_checks import table_checks

            checks += table_checks(features, names[0])
    return HygieneReport(
        parts=tuple(_summary(n, d) for n, d in parts.items()),
        checks=tuple(checks),
        near_distance=near_distance if images or texts else None,
        min_similarity=(_jaccard() if texts else min_similarity) if (images or texts) and near_distance is not None
        else None,
        imbalance_threshold=imbalance_threshold,
        seconds=time.perf_counter() - started,
        notes=tuple(notes),
        max_difference=max_difference if images and near_distance is not None else None,
    )


# ---------------------------------------------------------------------- one index per part


def _fits(index: DuplicateIndex | None, data: Dataset) -> bool:
    """Whether ``index`` was taken of ``data`` (and so its hashes can be read)."""
    return index is not None and index.data is data


def _label(data: Dataset, i: int) -> str:
    if not get_task(data.task).has_classes:  # the target value
        return f"{float(data.y[i]):.6g}"
    return data.classes[int(data.y[i])]


def _pair(an: str, a: DuplicateIndex, i: int, bn: str, b: DuplicateIndex, j: int, distance: int, exact: bool,
          sim: float = 1.0) -> Pair:
    return Pair(an, int(i), sample_name(a.data, int(i), an), _label(a.data, int(i)), bn, int(j),
                sample_name(b.data, int(j), bn), _label(b.data, int(j)), int(distance), exact, float(sim))


# ------------------------------------------------------------------------------------ checks


def _unreadable(parts: Mapping[str, Dataset]) -> Check:
    # Splits of one loaded set share its skipped entries: those are counted once, as before the split.
    owners: dict[Skipped, list[str]] = {}
    for name, d in parts.items():
        for entry in d.skipped:
            owners.setdefault(entry, []).append(name)
    found = list(owners)
    counts = {n: sum(1 for o in owners.values() if o == [n]) for n in parts}
    shared = sum(1 for o in owners.values() if len(o) > 1)
    if shared:
        counts["before the split"] = shared
    if not found:
        return Check("unreadable", "Unreadable files", "ok", _all_read(parts), 0, counts)
    where = ", ".join(f"{n}: {c}" for n, c in counts.items() if c)
    noun = skipped_noun(found)
    return Check("unreadable", "Unreadable files", "warning",
                 f"{plural(len(found), noun)} could not be used and {'were' if len(found) != 1 else 'was'} "
                 f"left out ({where})", len(found), counts, tuple(str(s) for s in found))


def _all_read(parts: Mapping[str, Dataset]) -> str:
    """What "nothing was skipped" means for where these samples came from: files, a table's rows, an
    array file, or a built-in set with no files at all (its sources read 'digits[17]')."""
    source = next((d.sources[0] for d in parts.values() if d.sources), "")
    if not source:
        return "no samples, so nothing to read"
    if ":row " in source:
        return "every row could be read"
    if source.endswith("]") and "[" in source:
        stem = source[: source.rindex("[")].rsplit("/", 1)[-1]
        return "every sample of the array file could be read" if "." in stem else \
            "nothing to read: a built-in set, not files"
    return "every file could be read"


def _balance(parts: Mapping[str, Dataset], threshold: float) -> Check:
    counts: dict[str, Any] = {}
    worst: tuple[float, str] | None = None
    for name, d in parts.items():
        cc = d.class_counts()
        present = {k: v for k, v in cc.items() if v > 0}
        hi = max(cc, key=cc.__getitem__)
        lo = min(cc, key=cc.__getitem__)
        ratio = cc[hi] / cc[lo] if cc[lo] else float("inf")
        counts[name] = {"classes": cc, "largest": hi, "smallest": lo,
                        "ratio": None if ratio == float("inf") else round(ratio, 3),
                        "empty": [k for k in cc if k not in present]}
        if worst is None or ratio > worst[0]:
            worst = (ratio, name)
    first = next(iter(parts))
    ratio, name = worst if worst else (1.0, first)
    c = counts[name]
    if ratio == float("inf"):
        line = f"{name}: no samples of {', '.join(c['empty'][:5])}"
        status: Status = "warning"
    else:
        line = (f"largest/smallest class {ratio:.1f}× in {name} ({c['largest']}: {c['classes'][c['largest']]:,}, "
                f"{c['smallest']}: {c['classes'][c['smallest']]:,})")
        status = "warning" if ratio > threshold else "ok"
        if status == "warning":
            line += f", past {threshold:g}×: accuracy will favour the large classes; read per-class recall or macro-F1"
        elif len(c["classes"]) == 1:
            line = f"one class only in {name} ({c['largest']}: {c['classes'][c['largest']]:,})"
        elif ratio == 1.0:
            line = f"every class has as many samples in {name}" if len(parts) == 1 else "classes equally represented"
    flagged = tuple(n for n, cc in counts.items() if cc["ratio"] is None or cc["ratio"] > threshold)
    return Check("class_balance", "Class balance", status, line, len(flagged), counts, flagged)


def _target(parts: Mapping[str, Dataset]) -> Check:
    """A regression target's distribution per part (min, max, mean, std, quantiles): the analogue of class
    balance. A strongly skewed target is worth a warning: squared error is dominated by the long tail."""
    from practica.data.sources.targets import SKEW_WARNING, describe_target

    counts = {name: describe_target(d.y) for name, d in parts.items()}
    first = next(iter(parts))
    c = counts[first]
    if not c.get("n"):
        return Check("target", "Target distribution", "ok", f"no samples in {first}", 0, counts)
    line = (f"{first}: {c['min']:.4g} to {c['max']:.4g}, mean {c['mean']:.4g}, std {c['std']:.4g}, "
            f"median {c['quantiles']['0.5']:.4g}")
    others = [f"{n} mean {v['mean']:.4g}" for n, v in counts.items() if n != first and v.get("n")]
    if others:
        line += f" ({', '.join(others)})"
    skewed = tuple(n for n, v in counts.items() if v.get("n") and abs(v["skew"]) > SKEW_WARNING)
    status: Status = "warning" if first in skewed else "ok"
    if status == "warning":
        line += (f"; skewed (skewness {c['skew']:+.2f}, warned past ±{SKEW_WARNING:g}): squared error is dominated by "
                 "the long tail; consider predicting a log-transformed target, and read MAE beside RMSE")
    return Check("target", "Target distribution", status, line, len(skewed), counts, skewed)


def _exact_within(index: dict[str, DuplicateIndex]) -> Check:
    pairs: list[Pair] = []
    counts: dict[str, Any] = {}
    for name, h in index.items():
        copies = np.flatnonzero(h.first != np.arange(len(h)))  # every sample after its first copy
        groups = len(np.unique(h.first[copies]))
        counts[name] = {"copies": len(copies), "groups": int(groups)}
        pairs += [_pair(name, h, h.first[j], name, h, int(j), 0, True) for j in copies]
    n = len(pairs)
    if not n:
        return Check("exact_within", "Exact duplicates within a part", "ok",
                     "no sample is an exact copy of another", 0, counts)
    line = "; ".join(f"{w}: {plural(c['copies'], 'extra copy', 'extra copies')} of {plural(c['groups'], 'sample')}"
                     for w, c in counts.items() if c["copies"])
    return Check("exact_within", "Exact duplicates within a part", "warning", line, n, counts, tuple(pairs))


def _exact_across(index: dict[str, DuplicateIndex]) -> Check:
    pairs: list[Pair] = []
    counts: dict[str, Any] = {}
    for (an, a), (bn, b) in combinations(index.items(), 2):
        found = a.exact_matches(b)
        pairs += [_pair(an, a, i, bn, b, j, 0, True) for i, j in found]
        counts[f"{an}–{bn}"] = {"pairs": len(found), f"{bn}_samples": len({j for _, j in found})}
    if len(index) < 2:
        return Check("exact_across", "Exact duplicates across parts (leakage)", "ok",
                     "one part only: nothing to compare", 0, counts)
    if not pairs:
        return Check("exact_across", "Exact duplicates across parts (leakage)", "ok",
                     "no sample of one part is an exact copy of one in another", 0, counts)
    line = "; ".join(f"{w}: {plural(c[w.split('–')[1] + '_samples'], 'sample')} of {w.split('–')[1]} "
                     f"also in {w.split('–')[0]}"
                     for w, c in counts.items() if c["pairs"])
    return Check("exact_across", "Exact duplicates across parts (leakage)", "warning", line, len(pairs), counts,
                 tuple(pairs))


def _near_within(index: dict[str, DuplicateIndex]) -> Check:
    pairs: list[Pair] = []
    counts: dict[str, Any] = {}
    for name, h in index.items():
        near = h.near()
        i, j, d = near.pairs[:, 0], near.pairs[:, 1], near.distance
        order = np.lexsort((j, i, d))
        pairs += [_pair(name, h, i[k], name, h, j[k], d[k], False, near.similarity[k]) for k in order]
        counts[name] = {"pairs": len(i), "samples": len(np.unique(np.concatenate([i, j])))}
    return _near_check("near_within", "Near duplicates within a part", pairs, counts, _bar(index),
                       lambda w, c: f"{w}: {plural(c['pairs'], 'pair')} ({plural(c['samples'], 'sample')})")


def _near_across(index: dict[str, DuplicateIndex]) -> Check:
    pairs: list[Pair] = []
    counts: dict[str, Any] = {}
    for (an, a), (bn, b) in combinations(index.items(), 2):
        near = a.near_matches(b, a.representatives, b.representatives)  # rows read where they lie
        i, j = near.pairs[:, 0], near.pairs[:, 1]
        near = near.take(a.content[i] != b.content[j])  # exact copies are the other check's
        i, j, d = near.pairs[:, 0], near.pairs[:, 1], near.distance
        order = np.lexsort((i, j, d))
        pairs += [_pair(an, a, i[k], bn, b, j[k], d[k], False, near.similarity[k]) for k in order]
        counts[f"{an}–{bn}"] = {"pairs": len(i), f"{bn}_samples": len(np.unique(j)), f"{an}_samples": len(np.unique(i))}
    if len(index) < 2:
        return Check("near_across", "Near duplicates across parts (leakage)", "ok",
                     "one part only: nothing to compare", 0, counts)

    def line(w: str, c: dict[str, Any]) -> str:
        an, bn = w.split("–")
        n = c[f"{bn}_samples"]
        return f"{w}: {plural(n, 'sample')} of {bn} ({100 * n / max(1, len(index[bn])):.2f}%) near a {an} sample"

    return _near_check("near_across", "Near duplicates across parts (leakage)", pairs, counts, _bar(index), line)


def _bar(index: dict[str, DuplicateIndex]) -> str:
    """What the near-duplicate search counted as near, in words."""
    h = next(h for h in index.values() if h.near_distance is not None)
    return f"texts at {h.near_bar}" if h.is_text else f"images within perceptual distance {h.near_distance}"


def _jaccard() -> float:
    from practica.data.duplicates.text_hashes import DEFAULT_JACCARD

    return DEFAULT_JACCARD


def _near_check(name: str, title: str, pairs: list[Pair], counts: dict[str, Any], bar: str, line) -> Check:
    if not pairs:
        return Check(name, title, "ok", f"no pair of different {bar}", 0, counts)
    text = "; ".join(line(w, c) for w, c in counts.items() if c["pairs"])
    return Check(name, title, "warning", text, len(pairs), counts, tuple(pairs))


def _label_conflicts(duplicates: list[Check]) -> Check:
    """Duplicate pairs whose labels differ; a near pair only at ``index.CONFLICT_MIN_SIMILARITY``."""
    pairs = [p for c in duplicates for p in c.pairs if p.labels_differ and (p.exact or is_conflict(p.similarity))]
    counts: dict[str, Any] = {}
    for p in pairs:
        c = counts.setdefault(p.where, {"exact": 0, "near": 0})
        c["exact" if p.exact else "near"] += 1
    if not pairs:
        return Check("label_conflicts", "Duplicates with different labels", "ok",
                     "every duplicate pair has one label", 0, counts)
    text = "; ".join(f"{w}: " + ", ".join(f"{c[k]:,} {k}" for k in ("exact", "near") if c[k])
                     for w, c in counts.items())
    return Check("label_conflicts", "Duplicates with different labels", "warning",
                 f"{plural(len(pairs), 'duplicate pair')} with different labels ({text}): "
                 "one of each is likely mislabelled",
                 len(pairs), counts, tuple(pairs))


# ------------------------------------------------------------------------- feature tables

_SHOWN_ROWS = 5


def _rows(d: Dataset, name: str, rows: np.ndarray) -> tuple[str, ...]:
    return tuple(sample_name(d, int(i), name) for i in rows[:_SHOWN_ROWS])


def _missing(features: dict[str, Dataset]) -> Check:
    issues: list[ColumnIssue] = []
    counts: dict[str, Any] = {}
    for name, d in features.items():
        nan = np.isnan(d.x)
        per_col = nan.sum(axis=0)
        for col in np.flatnonzero(per_col):
            issues.append(ColumnIssue(name, int(col), int(per_col[col]), "NaN",
                                      _rows(d, name, np.flatnonzero(nan[:, col])), _name(d, int(col))))
        counts[name] = {"cells": int(per_col.sum()), "rows": int(nan.any(axis=1).sum()),
                        "columns": int((per_col > 0).sum())}
    if not issues:
        return Check("missing_values", "Missing values", "ok", "no missing (NaN) value", 0, counts)
    text = "; ".join(f"{n}: {c['cells']:,} in {plural(c['columns'], 'column')}, {plural(c['rows'], 'row')}"
                     for n, c in counts.items() if c["cells"])
    return Check("missing_values", "Missing values", "warning", f"missing (NaN) values: {text}", len(issues), counts,
                 tuple(issues))


def _constant(d: Dataset | None, name: str) -> Check:
    if d is None or len(d) == 0:
        return Check("constant_columns", "Constant columns", "ok", "no feature table to check", 0, {})
    nan = np.isnan(d.x)
    lo, hi = np.where(nan, np.inf, d.x).min(axis=0), np.where(nan, -np.inf, d.x).max(axis=0)
    constant = np.flatnonzero(lo == hi)
    issues = tuple(ColumnIssue(name, int(c), len(d), f"constant {_value(d, int(c), float(lo[c]))}", (),
                               _name(d, int(c)))
                   for c in constant)
    counts = {name: {"columns": len(issues), "of": int(d.x.shape[1])}}
    if not issues:
        return Check("constant_columns", "Constant columns", "ok", f"every column varies in {name}", 0, counts)
    cols = ", ".join(_name(d, int(c)) or str(c) for c in constant[:10]) + (" …" if len(constant) > 10 else "")
    return Check("constant_columns", "Constant columns", "warning",
                 f"{plural(len(issues), 'column')} of {d.x.shape[1]} never change{'s' if len(issues) == 1 else ''} in "
                 f"{name} (columns {cols}): they carry no information", len(issues), counts, issues)


def _non_finite(features: dict[str, Dataset]) -> Check:
    issues: list[ColumnIssue] = []
    counts: dict[str, Any] = {}
    for name, d in features.items():
        total = 0
        for sign, label in ((1, "inf"), (-1, "-inf")):
            bad = d.x == sign * np.inf
            per_col = bad.sum(axis=0)
            total += int(per_col.sum())
            for col in np.flatnonzero(per_col):
                issues.append(ColumnIssue(name, int(col), int(per_col[col]), label,
                                          _rows(d, name, np.flatnonzero(bad[:, col])), _name(d, int(col))))
        counts[name] = {"cells": total}
    if not issues:
        return Check("non_finite", "Infinite values", "ok", "no infinite value", 0, counts)
    text = "; ".join(f"{n}: {c['cells']:,} cells" for n, c in counts.items() if c["cells"])
    cols = sorted({i.column for i in issues})
    shown = list(dict.fromkeys(i.label for i in sorted(issues, key=lambda i: i.column)))
    return Check("non_finite", "Infinite values", "warning",
                 f"infinite values ({text}) in {plural(len(cols), 'column')}: {', '.join(shown[:10])}",
                 len(issues), counts, tuple(issues))


def _name(d: Dataset, col: int) -> str:
    return d.feature_names[col] if col < len(d.feature_names) else ""


def _value(d: Dataset, col: int, v: float) -> str:
    """A cell's value as the table wrote it: a categorical column's code is shown as its category."""
    if d.table is not None and d.table.columns[col].kind == "categorical" and not np.isnan(v):
        return repr(d.table.columns[col].categories[int(v)])
    return f"{v:g}"


def _summary(name: str, d: Dataset) -> PartSummary:
    return PartSummary(name, len(d), d.kind, d.input_shape, d.class_counts(), len(d.skipped))
