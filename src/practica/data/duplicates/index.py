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

Texts (``Dataset.kind == "text"``) are hashed by ``text_hashes``: exact copies after normalisation
(NFKC, casefold, whitespace), and near ones by MinHash over word bigrams, confirmed by their Jaccard
similarity (at least ``text_hashes.DEFAULT_JACCARD``); a text pair's ``distance`` is its Jaccard
distance in points (100 × (1 - J)) and its ``similarity`` the Jaccard similarity. ``near_distance``
(a pHash bound) only says whether to look for near texts (None: exact copies only).

The cleaning policy (``clean.py``) decides over it and the hygiene report (``checks.py``)
reports over it: the data and the fixed test set are hashed once per run, when the policy runs,
and the splits' indices (``Splits.duplicates``) are cut from theirs for the report. A near pair of
two labels counts as a label conflict only at ``CONFLICT_MIN_SIMILARITY`` (``is_conflict``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from practica.data.duplicates import hygiene, text_hashes
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
    _shingles: list[np.ndarray] | None = field(default=None, repr=False)  # texts: word-bigram sets
    _minhash: np.ndarray | None = field(default=None, repr=False)  # texts: their MinHash signatures

    @classmethod
    def of(
        cls,
        data: Dataset,
        near_distance: int | None = None,
        min_similarity: float | None = hygiene.DEFAULT_MIN_SIMILARITY,
        max_difference: float | None = hygiene.DEFAULT_MAX_DIFFERENCE,
    ) -> DuplicateIndex:
        """Hash ``data`` (read a chunk at a time: a memory-mapped set stays on disk)."""
        if data.kind == "text":
            return cls(data, text_hashes.content_hashes(data.x), near_distance, min_similarity, max_difference)
        near = near_distance if data.kind == "image" and hygiene.near_applicable(data.x) else None
        return cls(data, hygiene.content_hashes(data.x), near, min_similarity, max_difference)

    def subset(self, rows: np.ndarray, data: Dataset) -> DuplicateIndex:
        """The index of ``data``, the samples ``rows`` of this one, from the hashes already taken."""
        rows = np.asarray(rows, dtype=np.int64)
        phash = None if self._phash is None else self._phash[rows]
        sets = None if self._shingles is None else [self._shingles[i] for i in rows.tolist()]
        sig = None if self._minhash is None else self._minhash[rows]
        return DuplicateIndex(data, self.content[rows], self.near_distance, self.min_similarity,
                              self.max_difference, phash, None, sets, sig)

    def with_bars(self, near_distance: int | None, min_similarity: float | None,
                  max_difference: float | None) -> DuplicateIndex:
        """This index under other near-duplicate settings (the hashes do not depend on them)."""
        near = near_distance if self.is_text or (self.data.kind == "image" and hygiene.near_applicable(self.data.x)) \
            else None
        return DuplicateIndex(self.data, self.content, near, min_similarity, max_difference, self._phash, self._first,
                              self._shingles, self._minhash)

    def __len__(self) -> int:
        return len(self.content)

    @property
    def looks_near(self) -> bool:
        return self.near_distance is not None

    @property
    def is_text(self) -> bool:
        return self.data.kind == "text"

    @property
    def shingles(self) -> list[np.ndarray]:
        """Texts: each one's word-bigram hashes (``text_hashes.shingles``), taken on first use."""
        if self._shingles is None:
            self._shingles = text_hashes.shingles(self.data.x)
        return self._shingles

    @property
    def signatures(self) -> np.ndarray:
        """Texts: the MinHash signatures of their shingles, taken on first use."""
        if self._minhash is None:
            self._minhash = text_hashes.minhash(self.shingles)
        return self._minhash

    def measure(self, distance: int) -> str:
        """How near a pair is, in words: its pHash distance, or a text pair's Jaccard similarity."""
        return f"word-bigram Jaccard {1 - distance / 100:.2f}" if self.is_text else f"pHash distance {distance}"

    @property
    def near_bar(self) -> str:
        """What counts as near, in words (for the notes and the decisions)."""
        if self.is_text:
            return f"word-bigram Jaccard ≥ {text_hashes.DEFAULT_JACCARD:g}"
        return f"pHash distance ≤ {self.near_distance}"

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
        if self.is_text:
            sets = self.shingles
            found, sim = text_hashes.near_pairs([sets[i] for i in rows.tolist()], sig_a=self.signatures[rows])
            return NearPairs(rows[found].reshape(-1, 2), _text_distance(sim), sim)
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
        if self.is_text or other.is_text:
            if not (self.is_text and other.is_text):
                return NearPairs(np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0))
            a, b = self.shingles, other.shingles
            found, sim = text_hashes.near_pairs([a[i] for i in ra.tolist()], [b[j] for j in rb.tolist()],
                                                sig_a=self.signatures[ra], sig_b=other.signatures[rb])
            return NearPairs(np.stack([ra[found[:, 0]], rb[found[:, 1]]], axis=1), _text_distance(sim), sim)
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
        if self.is_text:
            return self._text_groups(rows)
        return hygiene.duplicate_groups(
            self.data.x, self.near_distance, self.min_similarity, max_difference=self.max_difference, rows=rows,
            hashes=hygiene.hash_keys(self.content)[rows], perceptual=self.phash[rows] if self.looks_near else None)

    def _text_groups(self, rows: np.ndarray) -> np.ndarray:
        """``groups`` of texts, by the rule ``hygiene.duplicate_groups`` states for images: exact copies
        share a group; with near duplicates, each joins the first earlier anchor it is near."""
        _, first, inverse = np.unique(hygiene.hash_keys(self.content[rows]), return_index=True, return_inverse=True)
        exact = first[inverse.reshape(-1)]
        anchor = exact.copy()
        if self.looks_near:
            reps = np.unique(exact)
            pairs = self.near(rows[reps]).pairs  # indices into the set
            local = np.searchsorted(rows[reps], pairs)  # back to positions among reps (rows[reps] is sorted)
            anchor[reps] = hygiene.anchors(len(reps), local, reps)
            anchor = anchor[exact]
        _, first_of, relabel = np.unique(anchor, return_index=True, return_inverse=True)
        order = np.argsort(np.argsort(first_of))
        return order[relabel.reshape(-1)].astype(np.int64)


def _text_distance(similarity: np.ndarray) -> np.ndarray:
    """A text pair's distance: its Jaccard distance in points, 0 (the same shingles) to 100."""
    return np.round(100 * (1 - similarity)).astype(np.int64)
