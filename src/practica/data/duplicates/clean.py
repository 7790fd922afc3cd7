"""The cleaning policy (``dataset.clean``), applied after loading and before the split.

Every decision is recorded as a ``Decision`` (action, samples by their sources, rule, reason):

- **unreadable files** are always skipped (the loaders could not decode them) and recorded;
- **exact duplicates** (identical samples, by content hash): ``duplicates: drop_exact`` (the
  default) keeps the first copy of each set with one label and drops the others; ``keep`` keeps
  them all; ``drop_near`` also drops, in data order, every image within ``near_distance`` of
  the perceptual hash of an image kept before it, with the same label;
- **conflicting labels** (identical samples labelled differently; with ``drop_near``, near
  duplicates too): ``drop`` (the default) drops every copy, ``keep`` keeps one per label;
- **missing values** (NaN in a feature table): ``missing: impute`` (the default) keeps the rows,
  for the model's preprocessing (fitted on the training split) to impute; ``drop_rows`` drops them;
- **test leaks** (with a fixed test set: a data sample identical to, or within
  ``near_distance`` of, a test sample): ``leaks: drop`` (the default) drops it from the data,
  ``keep`` keeps it and says so.

For a regression set, a "label" is the target value: identical feature rows with the same target
are exact duplicates; identical rows with different targets are its conflicting labels, under the
same policy (``drop``: every copy, since no model maps one input to two values and the pair
usually marks a recording error; ``keep``: every copy, the model learns their mean).

Whatever is kept, duplicate groups (exact, and near at ``near_distance``: ``hygiene.duplicate_groups``)
go to the split, which keeps each group on one side. Every rule reads one ``DuplicateIndex`` per set
(``index.py``): the data and the fixed test set are each hashed once, as the hygiene report sees them.

No silent loss: when the rules together would drop more than ``max_drop`` (5% by default) of the
data, or of any one class, ``clean`` raises a ``DataError`` naming the count per rule, the classes
hit hardest and the settings that allow or avoid it. What is dropped within that share is listed,
one line per rule (``Cleaning.drops``), in the console and at the top of the report's data section.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from practica.config.schema import CleanSpec
from practica.data.duplicates import hygiene, index
from practica.data.duplicates.index import DuplicateIndex, is_conflict
from practica.data.records import DECISIONS, Dataset, Decision, sample_name
from practica.errors import DataError
from practica.tasks import get_task

__all__ = ["Cleaning", "Decision", "cached_clean", "clean", "drop_lines", "sample_names", "summarise"]

_LISTED = 3  # sample names quoted per kind of decision in the notes


@dataclass(frozen=True)
class Cleaning:
    """The policy's outcome: which samples go on to the split, their groups, and why."""

    keep: np.ndarray  # sorted indices into the data of the samples that go on to the split
    groups: np.ndarray  # a duplicate-group id per sample of the data
    decisions: tuple[Decision, ...]
    notes: tuple[str, ...]
    policy: CleanSpec
    drops: tuple[str, ...] = ()  # one line per rule that dropped samples: its setting, counts, classes hit
    # The duplicate indices of the data and of the fixed test set, as the policy read them (None when
    # the outcome came from the cache): the splits' indices are cut from them for the hygiene report.
    index: DuplicateIndex | None = field(default=None, repr=False, compare=False)
    test_index: DuplicateIndex | None = field(default=None, repr=False, compare=False)

    def dropped(self) -> np.ndarray:
        """Sorted indices into the data of the samples the policy dropped."""
        return np.array(sorted({i for d in self.decisions if d.action == "drop" and d.set == "data"
                                for i in d.indices}), dtype=np.int64)


def sample_names(data: Dataset) -> tuple[str, ...]:
    """Each sample's name (``records.sample_name``), in order."""
    return tuple(sample_name(data, i) for i in range(len(data)))


def clean(data: Dataset, spec: CleanSpec, test: Dataset | None = None) -> Cleaning:
    """Apply ``spec`` to ``data`` (and look for leaks into the fixed ``test`` set)."""
    names = sample_names(data)
    decisions: list[Decision] = _skips(data, "data") + (_skips(test, "test") if test is not None else [])
    alive = np.ones(len(data), dtype=bool)
    # Near duplicates as ``practica data inspect`` finds them: images large enough for a
    # perceptual hash to mean something, pHash candidates confirmed by pixels and similarity.
    found = DuplicateIndex.of(data, spec.near_distance)
    decisions += _exact(data, names, found, spec, alive)
    decisions += _missing(data, names, spec, alive)
    if spec.duplicates == "drop_near" and found.looks_near:
        decisions += _near(data, names, found, spec, alive)
    found_test = DuplicateIndex.of(test, spec.near_distance) if test is not None else None
    if found_test is not None:
        decisions += _leaks(data, names, found, found_test, spec, alive)
    _check_drops(data, decisions, spec)  # before grouping, the slow part: a refused policy fails fast
    keep = np.flatnonzero(alive)
    groups = _groups(found, keep)
    return Cleaning(keep=keep, groups=groups, decisions=tuple(decisions),
                    notes=tuple(summarise(decisions, spec, groups[keep], found.near_distance, text=found.is_text)),
                    policy=spec,
                    drops=tuple(drop_lines(data, decisions, spec)), index=found, test_index=found_test)


# Below this many samples (data and test together) cleaning takes well under a second: no cache.
CACHE_FROM = 10_000


def cached_clean(data: Dataset, spec: CleanSpec, test: Dataset | None = None) -> Cleaning:
    """``clean``, its outcome cached under the data cache folder for large sets: near-duplicate
    grouping of 50,000 images takes half a minute, and every run and export of them needs it.
    The key covers the samples, labels, classes and sources of both sets, the policy, and the
    code of this module and of ``hygiene`` (so a changed algorithm never reads a stale entry)."""
    if len(data) + (len(test) if test is not None else 0) < CACHE_FROM:
        return clean(data, spec, test)
    from practica.data.storage import cache

    key = cache.derived_key((__file__, hygiene.__file__, index.__file__), spec.model_dump(mode="json"), (data, test))
    return cache.cached_result("clean", key, lambda: clean(data, spec, test), _cleaning_to_json,
                               lambda v: _cleaning_from_json(v, spec))


def _cleaning_to_json(result: Cleaning) -> dict:
    return {"keep": result.keep, "groups": result.groups, "notes": list(result.notes), "drops": list(result.drops),
            "decisions": DECISIONS.dump_python(result.decisions, mode="json")}


def _cleaning_from_json(v: dict, spec: CleanSpec) -> Cleaning:
    return Cleaning(
        keep=np.array(v["keep"], dtype=np.int64), groups=np.array(v["groups"], dtype=np.int64),
        decisions=DECISIONS.validate_python(v["decisions"]),
        notes=tuple(v["notes"]), policy=spec, drops=tuple(v["drops"]))


# ------------------------------------------------------------------------ rules


def _missing(data: Dataset, names: tuple[str, ...], spec: CleanSpec, alive: np.ndarray) -> list[Decision]:
    """One decision per row of a feature table with a missing value: dropped, or kept for imputation."""
    if data.kind != "features":
        return []
    policy = getattr(spec, "missing", "impute")
    columns = data.feature_names or tuple(str(j) for j in range(data.x.shape[1]))
    out = []
    for i in np.flatnonzero(alive):
        gaps = np.flatnonzero(np.isnan(data.x[i]))
        if not len(gaps):
            continue
        which = ", ".join(columns[j] for j in gaps)
        if policy == "drop_rows":
            alive[i] = False
            out.append(Decision("drop", (names[i],), f"missing {which} (missing: drop_rows)", "missing_values",
                                (int(i),)))
        else:
            out.append(Decision("keep", (names[i],), f"missing {which}; kept for the model's preprocessing to impute, "
                                "fitted on the training split (missing: impute)", "missing_values", (int(i),)))
    return out


def _skips(data: Dataset, which: str) -> list[Decision]:
    by_reason: dict[str, list[str]] = defaultdict(list)
    for entry in data.skipped:
        by_reason[entry.reason or "could not be decoded"].append(entry.source)
    what = "data" if which == "data" else "fixed test set"
    return [Decision("skip", tuple(paths), f"unreadable file(s) of the {what}: {reason}", "unreadable", (), which)
            for reason, paths in by_reason.items()]


def _label_list(data: Dataset, labels: np.ndarray) -> str:
    counts = Counter(labels.tolist())
    return ", ".join(f"{_label(data, c)} ({n})" for c, n in sorted(counts.items()))


def _label(data: Dataset, label: float) -> str:
    """A class name quoted, or a regression target as a number."""
    return f"'{data.classes[int(label)]}'" if get_task(data.task).has_classes else f"{label:.6g}"


def _exact(data: Dataset, names: tuple[str, ...], found: DuplicateIndex, spec: CleanSpec,
           alive: np.ndarray) -> list[Decision]:
    out: list[Decision] = []
    for idx in found.exact_groups():  # in order of each group's first sample
        labels = data.y[idx]
        if len(set(labels.tolist())) > 1:
            if spec.conflicting_labels == "drop":
                alive[idx] = False
                out.append(Decision(
                    "drop", tuple(names[i] for i in idx),
                    f"identical samples {'labelled' if get_task(data.task).has_classes else 'with targets'} "
                    f"{_label_list(data, labels)}: at least one label is wrong and no "
                    "model can get them all right (conflicting_labels: drop)", "conflicting_labels",
                    tuple(idx.tolist())))
                continue
            if not get_task(data.task).has_classes:  # every copy: the model learns their mean
                out.append(Decision(
                    "keep", tuple(names[i] for i in idx),
                    f"identical samples with targets {_label_list(data, labels)}; all kept (conflicting_labels: "
                    "keep), on one side of every split", "conflicting_labels", tuple(idx.tolist())))
                continue
            out.append(Decision(
                "keep", tuple(names[i] for i in idx),
                f"identical samples labelled {_label_list(data, labels)}; kept (conflicting_labels: keep), "
                + ("every copy" if spec.duplicates == "keep" else "one per label") + ", on one side of every split",
                "conflicting_labels", tuple(idx.tolist())))
        for label in dict.fromkeys(labels.tolist()):  # each label's copies, in data order
            same = idx[labels == label]
            if len(same) < 2:
                continue
            first, rest = int(same[0]), same[1:]
            if spec.duplicates == "keep":
                out.append(Decision(
                    "keep", tuple(names[i] for i in same),
                    f"{len(same)} identical samples labelled {_label(data, label)}; all kept (duplicates: keep), "
                    "on one side of every split", "exact_duplicate", tuple(same.tolist())))
                continue
            alive[rest] = False
            out.append(Decision(
                "drop", tuple(names[i] for i in rest),
                f"identical to {names[first]} (kept), also labelled {_label(data, label)} "
                f"(duplicates: {spec.duplicates})", "exact_duplicate", tuple(rest.tolist())))
    return out


def _near(data: Dataset, names: tuple[str, ...], found: DuplicateIndex, spec: CleanSpec,
          alive: np.ndarray) -> list[Decision]:
    """``drop_near``: conflicting near pairs first, then, in data order, each image near one kept before it."""
    near = found.near(np.flatnonzero(alive))
    pairs, hashes = near.pairs, found.content
    distance = {(int(i), int(j)): int(d) for (i, j), d in zip(pairs, near.distance, strict=True)}
    labels_differ = data.y[pairs[:, 0]] != data.y[pairs[:, 1]]
    # The same bar as `practica data inspect`: a near pair with two labels counts as a copy only
    # when its thumbnails correlate well enough (below it, they were different objects alike in shape).
    keep = (hashes[pairs[:, 0]] != hashes[pairs[:, 1]]) & (~labels_differ | is_conflict(near.similarity))
    pairs = pairs[keep]  # identical ones were decided above
    out: list[Decision] = []
    conflict = data.y[pairs[:, 0]] != data.y[pairs[:, 1]]
    for i, j in pairs[conflict].tolist():
        labels = f"'{data.classes[data.y[i]]}' and '{data.classes[data.y[j]]}'"
        how = f"near duplicates ({found.measure(distance[(i, j)])})"
        if spec.conflicting_labels == "drop":
            alive[[i, j]] = False
            out.append(Decision("drop", (names[i], names[j]), f"{how} labelled {labels}: at least one label is "
                                "likely wrong (conflicting_labels: drop)", "conflicting_labels", (i, j)))
        else:
            out.append(Decision("keep", (names[i], names[j]), f"{how} labelled {labels}; kept (conflicting_labels: "
                                "keep), on one side of every split", "conflicting_labels", (i, j)))
    neighbours: dict[int, list[int]] = defaultdict(list)
    for i, j in pairs[~conflict].tolist():
        neighbours[j].append(i)  # i < j: i comes first in the data
    dropped_for: dict[int, list[int]] = defaultdict(list)
    for j in sorted(neighbours):
        if not alive[j]:
            continue
        kept = next((i for i in neighbours[j] if alive[i]), None)
        if kept is not None:
            alive[j] = False
            dropped_for[kept].append(j)
    for kept, gone in sorted(dropped_for.items()):
        worst = max(distance[(kept, j)] for j in gone)
        closest = found.measure(worst).replace("distance ", "distance ≤ ").replace("Jaccard ", "Jaccard ≥ ")
        out.append(Decision(
            "drop", tuple(names[j] for j in gone),
            f"near duplicate{'s' if len(gone) > 1 else ''} of {names[kept]} (kept; {closest}, "
            f"threshold {found.near_bar}), also labelled '{data.classes[data.y[kept]]}' (duplicates: drop_near)",
            "near_duplicate", tuple(gone)))
    return out


def _leaks(data: Dataset, names: tuple[str, ...], found_in: DuplicateIndex, test: DuplicateIndex, spec: CleanSpec,
           alive: np.ndarray) -> list[Decision]:
    """Data samples identical to, or near, a fixed test sample: the model would have seen the test."""
    test_names = sample_names(test.data)
    found: dict[int, tuple[int, int]] = {}  # data index -> (test index, pHash distance; -1: identical)
    for t, i in test.exact_matches(found_in):
        if alive[i]:
            found[i] = (t, -1)
    near = found_in.near_matches(test, np.flatnonzero(alive))
    for (i, t), d in zip(near.pairs.tolist(), near.distance.tolist(), strict=True):
        if i not in found or (found[i][1] >= 0 and d < found[i][1]):
            found[i] = (t, d)
    out = []
    for i, (t, d) in sorted(found.items()):
        how = f"identical to test sample {test_names[t]}" if d < 0 else \
            f"near duplicate of test sample {test_names[t]} ({found_in.measure(d)})"
        if spec.leaks == "drop":
            alive[i] = False
            out.append(Decision("drop", (names[i],), f"{how}: training on it would leak the test set (leaks: drop)",
                                "test_leak", (i,)))
        else:
            out.append(Decision("keep", (names[i],), f"{how}; kept (leaks: keep): the test score may be optimistic",
                                "test_leak", (i,)))
    return out


def _groups(found: DuplicateIndex, keep: np.ndarray) -> np.ndarray:
    """Group ids for every sample: the kept ones by ``duplicate_groups``, each dropped one alone.
    The samples are read where they lie (``rows``), never copied whole: a memory-mapped set stays on disk."""
    groups = np.empty(len(found), dtype=np.int64)
    kept = found.groups(keep)
    groups[keep] = kept
    dropped = np.setdiff1d(np.arange(len(found)), keep)
    groups[dropped] = (kept.max(initial=-1) + 1) + np.arange(len(dropped))
    return groups


# ------------------------------------------------------------------------ drops and notes

_WHAT = {
    "exact_duplicate": "exact duplicate(s)",
    "conflicting_labels": "sample(s) whose identical or near-identical copies carry another label",
    "test_leak": "sample(s) identical or near to a fixed test sample",
    "missing_values": "row(s) with missing values",
}
_SETTING = {"exact_duplicate": "duplicates", "near_duplicate": "duplicates", "conflicting_labels": "conflicting_labels",
            "test_leak": "leaks", "missing_values": "missing"}
# What keeps a rule's samples, for the error that refuses a large drop.
_AVOID = {
    "exact_duplicate": "duplicates: keep",
    "near_duplicate": "duplicates: drop_exact, or a lower near_distance",
    "conflicting_labels": "conflicting_labels: keep",
    "test_leak": "leaks: keep, or near_distance: null (only identical copies count as leaks), or a lower near_distance",
    "missing_values": "missing: impute",
}


def _what(rule: str, spec: CleanSpec, text: bool = False) -> str:
    if rule == "near_duplicate":
        if text:  # the bar is the text index's (``text_hashes``), not the pHash setting
            from practica.data.duplicates.text_hashes import DEFAULT_JACCARD

            return f"near duplicate(s) (word-bigram Jaccard ≥ {DEFAULT_JACCARD:g})"
        return f"near duplicate(s) (pHash distance ≤ {spec.near_distance})"
    return _WHAT.get(rule, rule)


def _setting(rule: str, spec: CleanSpec) -> str:
    setting = _SETTING.get(rule, rule)
    return f"{setting}: {getattr(spec, setting, '')}"


def _dropped_by_rule(decisions: list[Decision] | tuple[Decision, ...]) -> dict[str, np.ndarray]:
    """The data's samples each rule dropped (indices), the rules in the order they ran."""
    found: dict[str, list[int]] = defaultdict(list)
    for d in decisions:
        if d.action == "drop" and d.set == "data":
            found[d.rule].extend(d.indices)
    return {rule: np.array(sorted(idx), dtype=np.int64) for rule, idx in found.items()}


def _class_losses(data: Dataset, dropped: np.ndarray) -> list[tuple[str, int, int]]:
    """(class, dropped, of) per class that lost samples, the largest share first."""
    if not get_task(data.task).has_classes or not len(dropped):
        return []
    counts = np.bincount(data.y, minlength=len(data.classes))
    lost = np.bincount(data.y[dropped], minlength=len(data.classes))
    hit = [int(c) for c in np.flatnonzero(lost)]
    hit.sort(key=lambda c: (-lost[c] / counts[c], -lost[c]))
    return [(data.classes[c], int(lost[c]), int(counts[c])) for c in hit]


def _loss(name: str, lost: int, of: int) -> str:
    return f"'{name}' {lost:,} of {of:,} ({lost / of:.1%})"


def drop_lines(data: Dataset, decisions: list[Decision] | tuple[Decision, ...], spec: CleanSpec) -> list[str]:
    """One line per rule that dropped samples of the data: its setting, how many of how many, the class
    hit hardest and a few names. The console and the report show them; nothing is dropped unsaid."""
    lines = []
    for rule, idx in _dropped_by_rule(decisions).items():
        names = [s for d in decisions if d.action == "drop" and d.set == "data" and d.rule == rule for s in d.samples]
        listed = ", ".join(names[:_LISTED]) + (f" and {len(names) - _LISTED:,} more" if len(names) > _LISTED else "")
        losses = _class_losses(data, idx)
        hardest = f"; hardest hit {_loss(*losses[0])}" if losses else ""
        lines.append(f"cleaning ({_setting(rule, spec)}) dropped {len(idx):,} of {len(data):,} samples "
                     f"({len(idx) / len(data):.1%}), {_what(rule, spec, data.kind == 'text')}{hardest}: {listed}")
    return lines


def _check_drops(data: Dataset, decisions: list[Decision], spec: CleanSpec) -> None:
    """Refuse a policy that would drop more than ``spec.max_drop`` of the data or of any class."""
    by_rule = _dropped_by_rule(decisions)
    if not by_rule:
        return
    dropped = np.unique(np.concatenate(list(by_rule.values())))
    share = len(dropped) / len(data)
    over = [c for c in _class_losses(data, dropped) if c[1] > spec.max_drop * c[2]]
    if share <= spec.max_drop and not over:
        return
    worst = max([share] + [lost / of for _, lost, of in over])
    allow = min(1.0, math.ceil(worst * 100) / 100)
    text = data.kind == "text"
    rules = "; ".join(f"{len(idx):,} by {_setting(rule, spec)} ({_what(rule, spec, text)})"
                      for rule, idx in by_rule.items())
    classes = (" Classes that would lose more than that share: " + ", ".join(_loss(*c) for c in over[:_LISTED])
               + (f" and {len(over) - _LISTED} more" if len(over) > _LISTED else "") + ".") if over else ""
    avoid = "; ".join(f"{_setting(rule, spec)} → {_AVOID[rule]}" for rule in by_rule if rule in _AVOID)
    raise DataError(
        f"cleaning would drop {len(dropped):,} of the {len(data):,} samples ({share:.1%}), more than "
        f"dataset.clean.max_drop ({spec.max_drop:g}) allows of the data or of any class: {rules}.{classes} "
        "A loss this large usually means a check misfires on this data (see `practica data inspect`) or the data "
        f"has a problem worth a look. To keep those samples, change dataset.clean ({avoid}); to accept the loss, set "
        f"dataset.clean.max_drop: {allow:g} (1.0 allows any share)."
    )


def summarise(
    decisions: list[Decision] | tuple[Decision, ...], spec: CleanSpec, kept_groups: np.ndarray, near: int | None,
    *, text: bool = False,
) -> list[str]:
    """One note per kind of decision that kept samples, with counts and a few names; and the duplicate
    groups kept together. What was dropped is in ``drop_lines``."""
    notes = []
    by_rule: dict[str, list[Decision]] = defaultdict(list)
    for d in decisions:
        if d.action == "keep":
            by_rule[d.rule].append(d)
    for rule, ds in by_rule.items():
        samples = [s for d in ds for s in d.samples]
        more = f" and {len(samples) - _LISTED} more" if len(samples) > _LISTED else ""
        listed = ", ".join(samples[:_LISTED]) + more
        notes.append(f"cleaning ({_setting(rule, spec)}): kept {len(samples)} {_what(rule, spec, text)} in "
                     f"{len(ds)} decision(s): {listed}")
    if len(kept_groups):
        sizes = np.bincount(np.unique(kept_groups, return_inverse=True)[1])
        multi = sizes[sizes > 1]
        if len(multi):
            bar = _what("near_duplicate", spec, text).removeprefix("near duplicate(s) (").rstrip(")")
            kind = f"exact or near ({bar}) duplicates" if near is not None else "exact duplicates"
            notes.append(f"{len(multi)} group(s) of {kind} ({int(multi.sum())} samples, the largest "
                         f"{int(multi.max())}) are kept together on one side of every split")
    return notes
