"""The duplicate index: every copy a data set holds, found once, for the policy and the report.

``DuplicateIndex.of(data, near_distance=6)`` hashes each sample once (``hygiene.content_hashes``)
and, for images where near duplicates are looked for (``hygiene.near_applicable``), takes their
perceptual hashes with the eight one-pixel shifts the first time a near search needs them
(``hygiene.perceptual_hashes``). From these it answers:

- ``first`` / ``exact_groups``: each sample's first identical copy, and the groups of copies;
- ``near``: near-duplicate pairs within the set (pHash distance, thumbnail similarity, confirmed
  by the pixel difference: ``hygiene.near_duplicates`` with the index's settings);
- ``exact_matches`` / ``near_matches``: the same across two sets (data ↔ fixed test set);
- ``groups``: duplicate-group ids for the split (``hygiene.duplicate_groups``);
- ``subset`` / ``with_bars``: the index of some of the samples, or under other near-duplicate
  settings, from the hashes already taken.

The cleaning policy (``clean.py``) decides over it and the hygiene report (``checks.py``)
reports over it: the data and the fixed test set are hashed once per run, when the policy runs,
and the splits' indices (``Splits.duplicates``) are cut from theirs for the report. A near pair of
two labels counts as a label conflict only at ``CONFLICT_MIN_SIMILARITY`` (``is_conflict``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from practica.data.duplicates import hygiene
from practica.data.records import Dataset

__all__ = ["CONFLICT_MIN_SIMILARITY", "DuplicateIndex", "NearPairs", "is_conflict"]

# A near pair with two labels must correlate this well to count as a label conflict: two labels are
# themselves evidence of two different images, so the match must be surer (on CIFAR-10, the pairs
# between 0.8 and 0.9 with two labels were all a small dark shape on a plain sky, bird beside plane).
CONFLICT_MIN_SIMILARITY = 0.9


def is_conflict(similarity: np.ndarray | float) -> np.ndarray | bool:
    """Whether near pairs of two labels, at these similarities, count as copies with conflicting
    labels (a similarity not measured, NaN, counts)."""
    return ~(np.asarray(similarity) < CONFLICT_MIN_SIMILARITY)


@dataclass(frozen=True)
class NearPairs:
    """Near-duplicate pairs: ``pairs`` K×2 (indices into the two sets, or into one set with i < j),
    their pHash ``distance`` and thumbnail ``similarity`` (NaN where not measured)."""

    pairs: np.ndarray
    distance: np.ndarray
    similarity: np.ndarray

    def __len__(self) -> int:
        return len(self.pairs)

    def take(self, keep: np.ndarray) -> NearPairs:
        return NearPairs(self.pairs[keep], self.distance[keep], self.similarity[keep])


@dataclass(eq=False)
class DuplicateIndex:
    """The hashes of one data set and the duplicates they show (module docstring).

    ``near_distance`` None: near duplicates are not looked for (feature tables and small images
    never are). ``min_similarity`` / ``max_difference``: the near test's other bars (None: not made).
    """

    data: Dataset
    content: np.ndarray  # content_hashes, <U32
    near_distance: int | None = None
    min_similarity: float | None = hygiene.DEFAULT_MIN_SIMILARITY
    max_difference: float | None = hygiene.DEFAULT_MAX_DIFFERENCE
    _phash: np.ndarray | None = field(default=None, repr=False)
    _first: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def of(
        cls,
        data: Dataset,
        near_distance: int | None = None,
        min_similarity: float | None = hygiene.DEFAULT_MIN_SIMILARITY,
        max_difference: float | None = hygiene.DEFAULT_MAX_DIFFERENCE,
    ) -> DuplicateIndex:
        """Hash ``data`` (read a chunk at a time: a memory-mapped set stays on disk)."""
        near = near_distance if data.kind == "image" and hygiene.near_applicable(data.x) else None
        return cls(data, hygiene.content_hashes(data.x), near, min_similarity, max_difference)

    def subset(self, rows: np.ndarray, data: Dataset) -> DuplicateIndex:
        """The index of ``data``, the samples ``rows`` of this one, from the hashes already taken."""
        rows = np.asarray(rows, dtype=np.int64)
        phash = None if self._phash is None else self._phash[rows]
        return DuplicateIndex(data, self.content[rows], self.near_distance, self.min_similarity,
                              self.max_difference, phash)

    def with_bars(self, near_distance: int | None, min_similarity: float | None,
                  max_difference: float | None) -> DuplicateIndex:
        """This index under other near-duplicate settings (the hashes do not depend on them)."""
        near = near_distance if self.data.kind == "image" and hygiene.near_applicable(self.data.x) else None
        return DuplicateIndex(self.data, self.content, near, min_similarity, max_difference, self._phash, self._first)

    def __len__(self) -> int:
        return len(self.content)

    @property
    def looks_near(self) -> bool:
        return self.near_distance is not None

    @property
    def phash(self) -> np.ndarray:
        """The perceptual hashes with their shifted variants (N×9), taken on first use."""
        if self._phash is None:
            self._phash = hygiene.perceptual_hashes(self.data.x, shifts=True)
        return self._phash

    @property
    def first(self) -> np.ndarray:
        """Each sample's first identical copy (itself when it has none before it)."""
        if self._first is None:
            _, first_of, inverse = np.unique(hygiene.hash_keys(self.content), return_index=True, return_inverse=True)
            self._first = first_of[inverse.reshape(-1)]
        return self._first

    @property
    def representatives(self) -> np.ndarray:
        """One sample per distinct content: near pairs among copies of one image say nothing new."""
        return np.flatnonzero(self.first == np.arange(len(self)))

    def exact_groups(self) -> list[np.ndarray]:
        """The groups of two or more identical samples (sorted indices), in order of their first sample."""
        copies = np.flatnonzero(self.first != np.arange(len(self)))
        if not len(copies):
            return []
        heads = np.unique(self.first[copies])
        members = np.flatnonzero(np.isin(self.first, heads))
        order = np.argsort(self.first[members], kind="stable")
        members = members[order]
        cuts = np.flatnonzero(np.diff(self.first[members])) + 1
        return np.split(members, cuts)

    def near(self, rows: np.ndarray | None = None) -> NearPairs:
        """Near pairs among the samples ``rows`` (default: the representatives), as indices into the
        set (i < j in the set's order), in the order ``hygiene.near_duplicates`` finds them."""
        rows = self.representatives if rows is None else np.asarray(rows, dtype=np.int64)
        if self.near_distance is None:  # not looks_near
            raise ValueError("near duplicates are not looked for in this index (near_distance None)")
        found, dist, sim = hygiene.near_duplicates(
            self.data.x, None, self.near_distance, self.min_similarity, max_difference=self.max_difference,
            hashes_a=self.phash[rows], rows_a=rows)
        return NearPairs(rows[found].reshape(-1, 2), dist, sim)

    def exact_matches(self, other: DuplicateIndex) -> list[tuple[int, int]]:
        """(first i here, j in ``other``) for every sample j of ``other`` identical to one here, by j."""
        a, b = hygiene.hash_keys(self.content), hygiene.hash_keys(other.content)
        if not len(a) or not len(b):
            return []
        _, first_of = np.unique(a, return_index=True)
        uniq = a[first_of]
        pos = np.clip(np.searchsorted(uniq, b), 0, len(uniq) - 1)
        hit = uniq[pos] == b
        return [(int(first_of[p]), int(j)) for j, p in zip(np.flatnonzero(hit), pos[hit], strict=True)]

    def near_matches(self, other: DuplicateIndex, rows: np.ndarray | None = None,
                     other_rows: np.ndarray | None = None) -> NearPairs:
        """Near pairs (i here, j in ``other``) among the samples ``rows`` and ``other_rows`` (default:
        every sample), as indices into the two sets; none when either does not look for near
        duplicates or their samples differ in shape."""
        if (
            self.near_distance is None  # not self.looks_near
            or not other.looks_near
            or self.data.x.shape[1:] != other.data.x.shape[1:]
        ):
            return NearPairs(np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0))
        ra = np.arange(len(self)) if rows is None else np.asarray(rows, dtype=np.int64)
        rb = np.arange(len(other)) if other_rows is None else np.asarray(other_rows, dtype=np.int64)
        found, dist, sim = hygiene.near_duplicates(
            self.data.x, other.data.x, self.near_distance, self.min_similarity, max_difference=self.max_difference,
            hashes_a=self.phash[ra], hashes_b=other.phash[rb], rows_a=ra, rows_b=rb)
        return NearPairs(np.stack([ra[found[:, 0]], rb[found[:, 1]]], axis=1), dist, sim)

    def groups(self, rows: np.ndarray) -> np.ndarray:
        """Duplicate-group ids of the samples ``rows`` (``hygiene.duplicate_groups``: exact copies,
        and near ones joining an earlier anchor), from the hashes already taken."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return np.empty(0, dtype=np.int64)
        return hygiene.duplicate_groups(
            self.data.x, self.near_distance, self.min_similarity, max_difference=self.max_difference, rows=rows,
            hashes=hygiene.hash_keys(self.content)[rows], perceptual=self.phash[rows] if self.looks_near else None)
