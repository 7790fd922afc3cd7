"""Hashing for data hygiene: exact duplicates, near duplicates, duplicate groups.

- ``content_hashes``: a 128-bit BLAKE2b digest of each sample's decoded bytes, as 32-character
  hex strings (numpy ``<U32``: ``np.unique``, ``==``, sets and JSON all work on them). The sample's
  shape and dtype are hashed too, so hashes of two arrays compare only when their samples do.
  Float features are normalised first (-0.0 → 0.0, every NaN the same), so equal rows hash equal.
- ``perceptual_hashes``: a 64-bit pHash per image (uint64): grayscale, area-averaged to 32×32,
  2-D DCT, the 8×8 lowest frequencies, each bit "coefficient above the median of the 63 AC
  coefficients" (the DC bit is always 0). Low frequencies barely move under JPEG re-encoding
  (CIFAR-10 at quality 90: median distance 0, 99th percentile 2), a brightness or contrast change
  (the DC term and the median absorb them; 0 and 4) or a recolouring (grayscale), while two
  different photographs disagree on about half the bits (6 in a million CIFAR-10 pairs are within
  6). dHash (signs of neighbour differences on a 9×8 thumbnail) did no better on those edits
  (99th percentiles 7 and 12) and no better on unrelated pairs. Neither survives a shift: moving a
  32×32 image by one pixel diagonally changes 12 pHash bits (median; 20 at the 99th
  percentile), so ``shifts=True`` also hashes the thumbnail moved one pixel in each of the eight
  directions, and pairs are compared at their best-aligned variant (median 2, 99th percentile 8).
  pHash bits are balanced (31 of the 63 AC bits set, always), so distances are even: 6 and 7
  find the same pairs.
- ``near_duplicate_pairs``: brute-force Hamming distances, tile by tile (xor, popcount, compare):
  every pair within ``max_distance``, exactly, with no index to tune.
- ``similarity``: the confirmation of a candidate pair: the Pearson correlation of the two
  32×32 grayscale thumbnails at the best shift of up to 2 thumbnail pixels (2 pixels of a
  32×32 image). A hash says two images have the same layout; the correlation says the pixels
  agree. On CIFAR-10 pairs within distance 6, those below 0.8 were mostly different photos of
  the same kind of scene (a plane in a blue sky, a horse side-on), those above nearly all copies.
- ``near_duplicates``: the two together: pairs within ``max_distance`` whose similarity is at
  least ``min_similarity``. This is what the checks and ``duplicate_groups`` call near duplicates.
- ``duplicate_groups``: one id per sample, connecting exact duplicates and (optionally) near
  duplicates transitively, for group-aware splitting.

Near duplicates are looked for only in images at least ``MIN_NEAR_SIDE`` pixels on their shorter
side (``near_applicable``). Below that the whole image is a handful of pixels: in scikit-learn's
8×8 digits, hundreds of pairs of different people's handwriting agree on all but 2–6 hash bits
and correlate above 0.9, like copies do. Exact duplicates are found at any size.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from practica.data.storage import mapped

__all__ = [
    "DEFAULT_MIN_SIMILARITY",
    "DEFAULT_NEAR_DISTANCE",
    "content_hashes",
    "duplicate_groups",
    "hamming",
    "hash_keys",
    "near_applicable",
    "near_duplicate_pairs",
    "near_duplicates",
    "pair_distances",
    "perceptual_hashes",
    "similarity",
]

# Hamming distance (of 64 bits) at or below which two images count as near duplicates.
DEFAULT_NEAR_DISTANCE = 6
# Thumbnail correlation (at the best small shift) a candidate pair needs to count as near duplicates.
DEFAULT_MIN_SIMILARITY = 0.8
_MAX_SHIFT = 2  # thumbnail pixels
MIN_NEAR_SIDE = 16  # pixels: smaller images are checked for exact duplicates only

_THUMB = 32  # the pHash thumbnail side
_LOW = 8  # the low-frequency block side: 8×8 = 64 bits
_CHUNK_PIXELS = 1 << 24  # images per perceptual-hash chunk: about this many input values
_PAIR_CELLS = 1 << 17  # distances computed per tile of near_duplicate_pairs


def content_hashes(x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """A 128-bit hash per sample (``<U32`` hex): equal hashes mean equal samples.

    ``rows``: of the samples ``x[rows]`` only. ``x`` is read a chunk of rows at a time, so a
    memory-mapped set is never loaded whole.
    """
    x = x if isinstance(x, np.ndarray) else np.asarray(x)
    n = len(x) if rows is None else len(rows)
    if n == 0:
        return np.empty(0, dtype="<U32")
    salt = f"{x.dtype.str}{x.shape[1:]}".encode()[:16].ljust(16, b"\0")
    out = np.empty(n, dtype="<U32")
    for start, part in _parts(x, rows, n):
        if part.dtype.kind == "f":
            part = np.where(np.isnan(part), np.nan, part + 0.0)  # one NaN, and -0.0 → 0.0
        flat = np.ascontiguousarray(part).reshape(len(part), -1)
        for i, row in enumerate(flat, start):
            out[i] = hashlib.blake2b(row.data, digest_size=16, person=b"practica", salt=salt).hexdigest()
    return out


def hash_keys(hashes: np.ndarray) -> np.ndarray:
    """``content_hashes`` as 16-byte keys (``V16``), for ``np.unique`` and comparisons: the same order
    and equalities as the 32-character strings, in an eighth of the memory (a million hashes: 16 MB
    rather than 128 MB, and ``np.unique`` over them takes 8× less time and memory)."""
    if hashes.dtype.kind == "V":
        return hashes
    n = len(hashes)
    out = np.empty((n, 16), dtype=np.uint8)
    codes = np.ascontiguousarray(hashes, dtype="<U32").view(np.uint32).reshape(n, 32)
    for s in range(0, n, 1 << 16):
        c = codes[s : s + (1 << 16)].astype(np.uint8)
        v = np.where(c > 57, c - 87, c - 48)  # '0'-'9' → 0-9, 'a'-'f' → 10-15
        out[s : s + (1 << 16)] = (v[:, 0::2] << 4) | v[:, 1::2]
    return out.view("V16").reshape(n)


def _parts(x: np.ndarray, rows: np.ndarray | None, n: int, step: int | None = None):
    """``(start, samples)`` over ``x`` (or ``x[rows]``), about ``_CHUNK_PIXELS`` values at a time: an
    in-memory ``x`` gives views, a memory-mapped one copies of one chunk each."""
    step = step or max(1, _CHUNK_PIXELS // max(1, int(np.prod(x.shape[1:], dtype=np.int64))))
    if rows is None:
        yield from mapped.chunks(x, step)
        return
    on_disk = mapped.is_mapped(x)
    for a, b in mapped.spans(rows, step):
        part = mapped.gather(x, rows[a:b])
        if on_disk:
            mapped.release(x)  # the chunk's file pages leave this process's resident memory
        yield a, part


def perceptual_hashes(x: np.ndarray, shifts: bool = False, rows: np.ndarray | None = None) -> np.ndarray:
    """A 64-bit pHash per image of ``x`` (N×H×W×C or N×H×W, any numeric type), as uint64 N.

    With ``shifts``, N×9: the hashes of the image's thumbnail moved by one thumbnail pixel (one
    pixel of a 32×32 image) in each of the eight directions, edges repeated, and unmoved in the
    middle (column 4, the plain hash). ``near_duplicate_pairs`` takes the nearest of them.
    ``rows``: of the images ``x[rows]`` only. Read a chunk at a time (a memory-mapped ``x`` too).
    """
    x = x if isinstance(x, np.ndarray) else np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"perceptual hashes need images (N×H×W×C), not an array of shape {x.shape}")
    _, h, w, c = x.shape
    n = len(x) if rows is None else len(rows)
    moves = _SHIFTS if shifts else ((0, 0),)
    out = np.empty((n, len(moves)), dtype=np.uint64)
    if n == 0:
        return out if shifts else out[:, 0]
    dct = _dct_low()
    step = max(1, _CHUNK_PIXELS // (h * w * c))
    for start, part in _parts(x, rows, n, step):
        thumbs = _thumbnails(part)
        for k, (dy, dx) in enumerate(moves):
            out[start : start + len(thumbs), k] = _phash(dct @ _moved(thumbs, dy, dx) @ dct.T)
    return out if shifts else out[:, 0]


_SHIFTS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
_POWERS = (np.uint64(1) << np.arange(64, dtype=np.uint64)).reshape(8, 8)


def _phash(coef: np.ndarray) -> np.ndarray:
    """chunk × 8 × 8 DCT coefficients to hashes: each bit is "above the AC coefficients' median"."""
    median = np.median(coef.reshape(len(coef), 64)[:, 1:], axis=1)
    bits = coef > median[:, None, None]
    bits[:, 0, 0] = False  # the DC term says only how bright the image is
    return np.bitwise_or.reduce(np.where(bits, _POWERS, np.uint64(0)).reshape(len(coef), 64), axis=1)


def _moved(t: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Thumbnails moved by (dy, dx) pixels, the uncovered edge repeating its neighbour."""
    if dy == 0 and dx == 0:
        return t
    n = t.shape[1]
    rows = np.clip(np.arange(n) - dy, 0, n - 1)
    cols = np.clip(np.arange(t.shape[2]) - dx, 0, t.shape[2] - 1)
    return t[:, rows][:, :, cols]


def _thumbnails(x: np.ndarray) -> np.ndarray:
    """N×32×32 float32 grayscale area averages of N×H×W×C images."""
    _, h, w, c = x.shape
    part = x.astype(np.float32)
    if c >= 3:
        gray = part[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    else:
        gray = part[..., 0] if c == 1 else part.mean(axis=3)
    return _area_matrix(h) @ gray @ _area_matrix(w).T


def near_applicable(x: np.ndarray) -> bool:
    """Whether near duplicates are looked for in ``x``: images (N×H×W×C or N×H×W) at least
    ``MIN_NEAR_SIDE`` pixels on their shorter side; never feature tables."""
    return x.ndim in (3, 4) and min(x.shape[1:3]) >= MIN_NEAR_SIDE


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pair of images ``a[k]``, ``b[k]`` (K×H×W×C each, any sizes): the Pearson correlation of
    their 32×32 grayscale thumbnails at the best shift of up to 2 thumbnail pixels, in [-1, 1].
    Brightness and contrast do not change it (a flat image correlates with nothing: 0)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim == 3:
        a, b = a[..., None], b[..., None]
    out = np.full(len(a), -1.0)
    if len(a) == 0:
        return out
    ta, tb = _thumbnails(a), _thumbnails(b)
    n = _THUMB
    for dy in range(-_MAX_SHIFT, _MAX_SHIFT + 1):
        for dx in range(-_MAX_SHIFT, _MAX_SHIFT + 1):
            pa = ta[:, max(0, dy) : n + min(0, dy), max(0, dx) : n + min(0, dx)].reshape(len(ta), -1)
            pb = tb[:, max(0, -dy) : n + min(0, -dy), max(0, -dx) : n + min(0, -dx)].reshape(len(tb), -1)
            pa = pa - pa.mean(axis=1, keepdims=True)
            pb = pb - pb.mean(axis=1, keepdims=True)
            norm = np.sqrt((pa * pa).sum(axis=1) * (pb * pb).sum(axis=1))
            r = np.where(norm > 1e-6, (pa * pb).sum(axis=1) / np.maximum(norm, 1e-6), 0.0)
            np.maximum(out, r, out=out)
    return out


def near_duplicates(
    xa: np.ndarray,
    xb: np.ndarray | None = None,
    max_distance: int = DEFAULT_NEAR_DISTANCE,
    min_similarity: float | None = DEFAULT_MIN_SIMILARITY,
    *,
    hashes_a: np.ndarray | None = None,
    hashes_b: np.ndarray | None = None,
    rows_a: np.ndarray | None = None,
    rows_b: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Near-duplicate image pairs: ``(pairs K×2, distances K, similarities K)``.

    Candidates are pairs within ``max_distance`` of each other's shifted hashes (``xb`` None:
    within ``xa``, i < j); each is kept when ``similarity`` reaches ``min_similarity`` (None keeps
    every one, its similarity then NaN). Pass the hashes (``perceptual_hashes(x, shifts=True)``)
    when you have them, to skip hashing again. ``rows_a`` / ``rows_b``: compare the images
    ``xa[rows_a]`` / ``xb[rows_b]`` (pairs then index into the rows, as if those were the arrays),
    read a chunk at a time rather than copied whole, for memory-mapped sets.
    """
    ha = perceptual_hashes(xa, shifts=True, rows=rows_a) if hashes_a is None else hashes_a
    hb = None if xb is None else (perceptual_hashes(xb, shifts=True, rows=rows_b) if hashes_b is None else hashes_b)
    pairs = near_duplicate_pairs(ha, hb, max_distance)
    dist = pair_distances(ha, hb, pairs)
    if min_similarity is None:
        return pairs, dist, np.full(len(pairs), np.nan)
    other, rows_other = (xa, rows_a) if xb is None else (xb, rows_b)
    sim = np.empty(len(pairs))
    step = 4096
    for s in range(0, len(pairs), step):
        chunk = pairs[s : s + step]
        left = chunk[:, 0] if rows_a is None else rows_a[chunk[:, 0]]
        right = chunk[:, 1] if rows_other is None else rows_other[chunk[:, 1]]
        sim[s : s + step] = similarity(mapped.gather(xa, left), mapped.gather(other, right))
        mapped.release(xa)
        mapped.release(other)
    keep = sim >= min_similarity
    return pairs[keep], dist[keep], sim[keep]


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise Hamming distance between uint64 hashes."""
    return np.bitwise_count(np.bitwise_xor(np.asarray(a, np.uint64), np.asarray(b, np.uint64))).astype(np.int64)


def near_duplicate_pairs(
    a: np.ndarray, b: np.ndarray | None = None, max_distance: int = DEFAULT_NEAR_DISTANCE,
) -> np.ndarray:
    """Every (i, j) with Hamming(a[i], b[j]) ≤ ``max_distance``, as int64 K×2, sorted.

    With ``b`` None, pairs within ``a`` with i < j. Hashes may come with their shifted variants
    (``perceptual_hashes(x, shifts=True)``, N×9): then ``a``'s unshifted hash is compared with every
    variant of ``b`` (of ``a`` itself when ``b`` is None) and the nearest counts, so a copy moved by
    a pixel is found. Brute force, tile by tile (xor, popcount, compare), exact: on one core, 50,000
    × 10,000 plain hashes take about 1 s and 50,000 × 50,000 (i < j) about 2.5 s; with the nine
    shifted variants, nine times that.
    """
    a = np.ascontiguousarray(a, dtype=np.uint64)
    within = b is None
    b = a if within else np.ascontiguousarray(b, dtype=np.uint64)
    base = a[:, a.shape[1] // 2] if a.ndim == 2 else a
    variants = [b[:, k] for k in range(b.shape[1])] if b.ndim == 2 else [b]
    if len(a) == 0 or len(b) == 0 or max_distance < 0:
        return np.empty((0, 2), dtype=np.int64)
    found = [_pairs(base, np.ascontiguousarray(v), max_distance, within) for v in variants]
    pairs = np.concatenate(found)
    if len(variants) > 1 and len(pairs):
        pairs = np.unique(pairs, axis=0)
    return pairs


_TILE_ROWS, _TILE_COLS = 64, 2048  # 128 K cells: the tile's buffers stay in the processor's cache


def _pairs(a: np.ndarray, b: np.ndarray, max_distance: int, within: bool) -> np.ndarray:
    rows, cols = _TILE_ROWS, max(1, min(_TILE_COLS, _PAIR_CELLS // _TILE_ROWS))
    xor = np.empty((rows, cols), dtype=np.uint64)
    count = np.empty((rows, cols), dtype=np.uint8)
    hit = np.empty((rows, cols), dtype=bool)
    found: list[np.ndarray] = []
    for r0 in range(0, len(a), rows):
        r1 = min(r0 + rows, len(a))
        for c0 in range(r0 + 1 if within else 0, len(b), cols):  # within a: only j > i
            c1 = min(c0 + cols, len(b))
            x, c, h = xor[: r1 - r0, : c1 - c0], count[: r1 - r0, : c1 - c0], hit[: r1 - r0, : c1 - c0]
            np.bitwise_xor(a[r0:r1, None], b[None, c0:c1], out=x)
            np.bitwise_count(x, out=c)
            np.less_equal(c, max_distance, out=h)
            if not h.any():
                continue
            i, j = np.nonzero(h)
            i += r0
            j += c0
            if within:
                keep = j > i
                i, j = i[keep], j[keep]
            if len(i):
                found.append(np.stack([i, j], axis=1))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.concatenate(found).astype(np.int64)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def pair_distances(a: np.ndarray, b: np.ndarray | None, pairs: np.ndarray) -> np.ndarray:
    """The distance of each pair as ``near_duplicate_pairs`` measures it (the nearest variant)."""
    a = np.asarray(a, dtype=np.uint64)
    b = a if b is None else np.asarray(b, dtype=np.uint64)
    base = a[:, a.shape[1] // 2] if a.ndim == 2 else a
    left = base[pairs[:, 0]]
    right = b[pairs[:, 1]]
    if right.ndim == 1:
        return hamming(left, right)
    return np.bitwise_count(left[:, None] ^ right).min(axis=1).astype(np.int64)


def duplicate_groups(
    x: np.ndarray,
    near_distance: int | None = None,
    min_similarity: float | None = DEFAULT_MIN_SIMILARITY,
    *,
    rows: np.ndarray | None = None,
    hashes: np.ndarray | None = None,
) -> np.ndarray:
    """A group id (int64) per sample: samples share one when they are exact duplicates, or, with
    ``near_distance``, near duplicates (``near_duplicates``: pHash within that distance and thumbnail
    similarity at least ``min_similarity``), connected transitively.

    Ids run from 0 in order of each group's first sample; a sample alone is a group of one.
    Feature tables (N×F), and images smaller than ``MIN_NEAR_SIDE``, are grouped by exact
    copies only (``near_applicable``). ``rows``: group the samples ``x[rows]`` (read a chunk at a
    time, never copied whole); ``hashes``: their ``content_hashes`` (or ``hash_keys``), when known.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    x = x if isinstance(x, np.ndarray) else np.asarray(x)
    n = len(x) if rows is None else len(rows)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if hashes is None:
        hashes = content_hashes(x, rows)
    _, first, inverse = np.unique(hash_keys(hashes), return_index=True, return_inverse=True)
    exact = first[inverse]  # each sample's first exact copy
    if near_distance is None or not near_applicable(x):
        edges = np.empty((0, 2), dtype=np.int64)
    else:
        reps = np.unique(exact)  # one representative per exact group: fewer pairs to test
        pairs, _, _ = near_duplicates(x, None, near_distance, min_similarity,
                                      rows_a=reps if rows is None else rows[reps])
        edges = reps[pairs]
    rows = np.concatenate([np.arange(n), edges[:, 0]])
    cols = np.concatenate([exact, edges[:, 1]])
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    # renumber by first sample, whatever order the components were found in
    _, first_of, relabel = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first_of))
    return order[relabel].astype(np.int64)


def _area_matrix(size: int) -> np.ndarray:
    """_THUMB × size weights: each thumbnail cell is the mean of the input it covers (fractions
    of pixels included), so any size maps to 32 without aliasing."""
    return _area_matrix_cached(size).copy()


@lru_cache(maxsize=16)
def _area_matrix_cached(size: int) -> np.ndarray:
    edges = np.linspace(0.0, size, _THUMB + 1)
    lo, hi = edges[:-1, None], edges[1:, None]
    pix = np.arange(size)[None, :]
    overlap = np.clip(np.minimum(hi, pix + 1) - np.maximum(lo, pix), 0.0, None)
    return (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)


@lru_cache(maxsize=1)
def _dct_low() -> np.ndarray:
    """The first 8 rows of the orthonormal DCT-II matrix of size 32."""
    k = np.arange(_LOW)[:, None]
    i = np.arange(_THUMB)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * _THUMB)) * np.sqrt(2.0 / _THUMB)
    m[0] /= np.sqrt(2.0)
    return m.astype(np.float32)
