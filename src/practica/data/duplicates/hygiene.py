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
  percentile), so ``shifts=True`` also hashes the image moved by one grid pixel (``_GRID``) in
  each of the eight directions, and pairs are compared at their best-aligned variant. The move is
  made before the thumbnail is taken, in whole pixels of the image (one pixel up to 48 pixels a
  side, ``side / 32`` rounded above), so a 28×28 image moved by one of its pixels has a variant
  that matches it (moving the 32×32 thumbnail instead, 8/7 of such a pixel, found only 74% of
  Fashion-MNIST images moved by one pixel). pHash bits are balanced (31 of the 63 AC bits set,
  always), so distances are even: 6 and 7 find the same pairs.
- ``near_duplicate_pairs``: brute-force Hamming distances, tile by tile (xor, popcount, compare):
  every pair within ``max_distance``, exactly, with no index to tune; rows are shared among
  threads (numpy lets go of the interpreter lock while it computes).
- ``pixel_difference``: the confirmation of a candidate pair: the mean absolute difference of the
  two grayscale images, on the pixel scale (0–255), at the best shift of up to one pixel, after
  fitting the second as a linear function of the first (``b ≈ α·a + β`` with the contrast
  ``α`` between 3/4 and 4/3 and ``|β|`` at most 32, values clipped to 0–255 as an edit clips
  them, tried both ways), averaged over the pixels not at 0 (or 255) in both images.
  Small images are compared as they are; larger ones area-averaged to at most 32×32 first.
  Why pixels and not the correlation of thumbnails (``similarity``): correlation ignores scale,
  so on small, low-detail images every pair of same-shaped silhouettes "agrees" (on
  Fashion-MNIST, 93% of the hash candidates correlate above 0.8, and hygiene flagged 45% of
  the training set as copies of test images). A copy differs from its original by coding noise
  (JPEG at quality 75: 3–6 of 255 on average), a brightness or contrast change (absorbed by the
  fit) or a pixel's shift (absorbed by the alignment); two different garments of one shape
  differ by 10–50 of 255. ``DEFAULT_MAX_DIFFERENCE`` (8) is set by measurement (JPEG q75 copies
  of 28×28 garments reach 7.6; see ``bench/near_duplicates.py`` and ``bench/RESULTS.md`` for the
  precision and recall on both sets). Without the bound on ``β`` and the shared background left
  out, a dark and a white sneaker of one shape, or two thin sandals on black, passed.
- ``similarity``: the Pearson correlation of the two 32×32 grayscale thumbnails at the best shift
  of up to 2 thumbnail pixels. Kept as a second, scale-free condition (``min_similarity``) and as
  the bar a pair with two labels must clear to count as a label conflict.
- ``near_duplicates``: the three together: pairs within ``max_distance`` whose pixel difference
  is at most ``max_difference`` and whose similarity is at least ``min_similarity``. Before the
  pixel comparison, a candidate must pass the same comparison on 8×8 block averages at the
  hash's best-aligned shift (a few per cent of the cost): on Fashion-MNIST the hash passes
  millions of pairs, nearly all of which this rejects. This is what the checks and
  ``duplicate_groups`` call near duplicates.
- ``duplicate_groups``: one id per sample, for group-aware splitting: exact duplicates share a
  group, and with near duplicates each sample joins the group of the first earlier group anchor
  it is near (a bounded rule: a group is an anchor and samples near that anchor, never a chain).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np

from practica.data.storage import mapped

__all__ = [
    "DEFAULT_MAX_DIFFERENCE",
    "DEFAULT_MIN_SIMILARITY",
    "DEFAULT_NEAR_DISTANCE",
    "anchors",
    "content_hashes",
    "duplicate_groups",
    "hamming",
    "hash_keys",
    "near_applicable",
    "near_duplicate_pairs",
    "near_duplicates",
    "pair_distances",
    "perceptual_hashes",
    "pixel_difference",
    "similarity",
]

# Hamming distance (of 64 bits) at or below which two images are near-duplicate candidates.
DEFAULT_NEAR_DISTANCE = 6
# Mean absolute pixel difference (of 255), after alignment and a brightness/contrast fit, at or
# below which a candidate pair is a near duplicate.
DEFAULT_MAX_DIFFERENCE = 8.0
# Thumbnail correlation (at the best small shift) a candidate pair needs to count as near duplicates.
DEFAULT_MIN_SIMILARITY = 0.8
_MAX_SHIFT = 2  # thumbnail pixels, for ``similarity``
MIN_NEAR_SIDE = 16  # pixels: smaller images are checked for exact duplicates only

_THUMB = 32  # the pHash thumbnail side
_GRID = 32  # the largest side ``pixel_difference`` compares at; smaller images as they are
_LOW = 8  # the low-frequency block side: 8×8 = 64 bits; also the side of the coarse blocks
_CONTRAST = 4.0 / 3.0  # the contrast change (α or 1/α) the brightness fit allows
_OFFSET = 32.0  # the brightness offset (β, of 255) it allows
_COARSE_SLACK = 1.25  # the 8×8 block pre-filter passes pairs up to this many times max_difference
_CHUNK_PIXELS = 1 << 24  # images per perceptual-hash chunk: about this many input values
_PAIR_CELLS = 1 << 17  # distances computed per tile of near_duplicate_pairs
_PAIR_CHUNK = 1 << 16  # candidate pairs compared at a time


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

    With ``shifts``, N×9: the hashes of the image moved by one grid pixel (one pixel of an image up
    to 48 pixels a side) in each of the eight directions, edges repeated, and unmoved in the middle
    (column 4, the plain hash). ``near_duplicate_pairs`` takes the nearest of them.
    ``rows``: of the images ``x[rows]`` only. Read a chunk at a time (a memory-mapped ``x`` too).
    """
    x = _as_images(x)
    _, h, w, c = x.shape
    n = len(x) if rows is None else len(rows)
    moves = _SHIFTS if shifts else ((0, 0),)
    out = np.empty((n, len(moves)), dtype=np.uint64)
    if n == 0:
        return out if shifts else out[:, 0]
    left, right = _hash_matrices(h, w)  # 3 × 8 × H and 3 × 8 × W: DCT · area average · move
    step = max(1, _CHUNK_PIXELS // (h * w * c))
    for start, part in _parts(x, rows, n, step):
        gray = _gray(part)
        for dy in (-1, 0, 1):
            if not shifts and dy:
                continue
            top = np.matmul(left[dy + 1], gray)  # chunk × 8 × W
            for dx in (-1, 0, 1):
                if not shifts and dx:
                    continue
                k = moves.index((dy, dx))
                out[start : start + len(part), k] = _phash(np.matmul(top, right[dx + 1].T))
    return out if shifts else out[:, 0]


_SHIFTS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
_CENTRE = _SHIFTS.index((0, 0))
_POWERS = (np.uint64(1) << np.arange(64, dtype=np.uint64)).reshape(8, 8)


def _phash(coef: np.ndarray) -> np.ndarray:
    """chunk × 8 × 8 DCT coefficients to hashes: each bit is "above the AC coefficients' median"."""
    median = np.median(coef.reshape(len(coef), 64)[:, 1:], axis=1)
    bits = coef > median[:, None, None]
    bits[:, 0, 0] = False  # the DC term says only how bright the image is
    return np.bitwise_or.reduce(np.where(bits, _POWERS, np.uint64(0)).reshape(len(coef), 64), axis=1)


def _as_images(x: np.ndarray) -> np.ndarray:
    x = x if isinstance(x, np.ndarray) else np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"perceptual hashes need images (N×H×W×C), not an array of shape {x.shape}")
    return x


def _gray(x: np.ndarray) -> np.ndarray:
    """N×H×W float32 grayscale of N×H×W×C images."""
    c = x.shape[3]
    part = x.astype(np.float32)
    if c >= 3:
        return part[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return part[..., 0] if c == 1 else part.mean(axis=3)


def _thumbnails(x: np.ndarray) -> np.ndarray:
    """N×32×32 float32 grayscale area averages of N×H×W×C images."""
    _, h, w, _ = x.shape
    return _area_matrix(h, _THUMB) @ _gray(x) @ _area_matrix(w, _THUMB).T


def _grids(x: np.ndarray) -> np.ndarray:
    """N×G×G' float32 grayscale images as ``pixel_difference`` compares them: as they are up to
    ``_GRID`` pixels a side, area-averaged to ``_GRID`` above."""
    x = _as_images(x)
    _, h, w, _ = x.shape
    gray = _gray(x)
    if h > _GRID:
        gray = np.matmul(_area_matrix(h, _GRID), gray)
    if w > _GRID:
        gray = np.matmul(gray, _area_matrix(w, _GRID).T)
    return gray


def _window(size: int, d: int, step: int) -> np.ndarray:
    """(size - 2·step) × size: picks the pixels inside a ring ``step`` wide, the window moved by
    ``d·step`` pixels (d in -1, 0, 1). An image small enough to have no inside is taken whole."""
    if size <= 2 * step:
        return np.eye(size, dtype=np.float32)
    inner = size - 2 * step
    m = np.zeros((inner, size), dtype=np.float32)
    m[np.arange(inner), step + d * step + np.arange(inner)] = 1.0
    return m


def _grid_step(size: int) -> int:
    """Image pixels per grid pixel, rounded (1 up to 48 pixels)."""
    return max(1, round(size / _GRID))


@lru_cache(maxsize=16)
def _hash_matrices(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """DCT · area average to 32 · window, for the three window positions along each side."""
    dct = _dct_low()

    def side(n: int) -> np.ndarray:
        step = _grid_step(n)
        return np.stack([dct @ _area_matrix(_window(n, 0, step).shape[0], _THUMB) @ _window(n, d, step)
                         for d in (-1, 0, 1)])

    return side(h), side(w)


@lru_cache(maxsize=16)
def _block_matrices(size: int) -> np.ndarray:
    """3 × 8 × size: 8 area averages of a grid's window, at the three positions."""
    return np.stack([_area_matrix(_window(size, 0, 1).shape[0], _LOW) @ _window(size, d, 1) for d in (-1, 0, 1)])


def near_applicable(x: np.ndarray) -> bool:
    """Whether near duplicates are looked for in ``x``: images (N×H×W×C or N×H×W) at least
    ``MIN_NEAR_SIDE`` pixels on their shorter side; never feature tables."""
    return x.ndim in (3, 4) and min(x.shape[1:3]) >= MIN_NEAR_SIDE


def pixel_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pair of images ``a[k]``, ``b[k]`` (K×H×W×C or K×H×W each, the same size): how far apart
    their pixels are, as the mean absolute difference of grayscale values (0–255), at its least over
    shifts of up to one pixel (one grid pixel of a larger image) and brightness/contrast changes,
    over the pixels not at 0 (or 255) in both (a shared black background does not count).

    Each image is compared as it is up to 32 pixels a side, area-averaged to 32 above; the outer
    ring of pixels is left out (a shift uncovers it). ``b`` is fitted as ``clip(α·a + β, 0, 255)``
    (least squares on the pixels that are not at 0 or 255 in ``b``, ``α`` between 3/4 and 4/3,
    ``|β|`` at most 32),
    and ``a`` as a function of ``b`` likewise; the smaller difference counts. So an edit that
    brightens and clips is measured from the original's side, where the clip is modelled.

    >>> a = np.arange(32 * 32, dtype=np.uint8).reshape(1, 32, 32) % 200
    >>> float(pixel_difference(a, np.clip(a * 1.1 + 5, 0, 255).astype(np.uint8))[0]) < 1
    True
    """
    a, b = _as_images(a), _as_images(b)
    if a.shape != b.shape:
        raise ValueError(f"pixel_difference compares images of one size, not {a.shape[1:]} and {b.shape[1:]}")
    return _grid_difference(_grids(a), _grids(b))


def _grid_difference(ga: np.ndarray, gb: np.ndarray) -> np.ndarray:
    """``pixel_difference`` of K×G×G' float32 grids."""
    k, gh, gw = ga.shape
    out = np.full(k, np.inf, dtype=np.float32)
    if k == 0:
        return out
    if gh < 3 or gw < 3:  # nothing inside the ring: compare unshifted
        return _fitted_difference(ga.reshape(k, -1), gb.reshape(k, -1))
    inner_b = gb[:, 1 : gh - 1, 1 : gw - 1].reshape(k, -1)
    for dy, dx in _SHIFTS:
        inner_a = ga[:, 1 + dy : gh - 1 + dy, 1 + dx : gw - 1 + dx].reshape(k, -1)
        np.minimum(out, _fitted_difference(inner_a, inner_b), out=out)
    return out


def _fitted_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute difference of K×P rows after the brightness/contrast fit, both ways."""
    return np.minimum(_fit_one_way(a, b), _fit_one_way(b, a))


def _fit_one_way(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean |b - clip(α·a + β)| over the pixels that are not at 0 (or at 255) in both images, with
    α, β fitted by least squares where ``b`` is not clipped (α within ``_CONTRAST``, |β| at most
    ``_OFFSET``). Leaving out the shared black (or white) background matters on small objects on
    black: a sandal's thin strap is a tenth of the image, and averaging over the rest would call
    two different sandals copies."""
    low, high = b < 0.5, b > 254.5
    free = (~(low | high)).astype(np.float32)
    n = free.sum(axis=1, keepdims=True)
    few = n < max(4.0, 0.05 * a.shape[1])  # nearly all pixels at 0 or 255: compare as they are
    n = np.maximum(n, 1.0)
    ma = (free * a).sum(axis=1, keepdims=True) / n
    mb = (free * b).sum(axis=1, keepdims=True) / n
    ca = a - ma
    var = (free * ca * ca).sum(axis=1, keepdims=True)
    cov = (free * ca * (b - mb)).sum(axis=1, keepdims=True)
    alpha = np.clip(np.where(var > 1e-6, cov / np.maximum(var, 1e-6), 1.0), 1 / _CONTRAST, _CONTRAST)
    beta = np.clip(mb - alpha * ma, -_OFFSET, _OFFSET)
    alpha, beta = np.where(few, 1.0, alpha), np.where(few, 0.0, beta)
    fitted = np.clip(alpha * a + beta, 0.0, 255.0)
    counted = ~((low & (a < 0.5)) | (high & (a > 254.5)))
    m = counted.sum(axis=1)
    return np.where(m > 0, (np.abs(b - fitted) * counted).sum(axis=1) / np.maximum(m, 1), 0.0)


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
    max_difference: float | None = DEFAULT_MAX_DIFFERENCE,
    hashes_a: np.ndarray | None = None,
    hashes_b: np.ndarray | None = None,
    rows_a: np.ndarray | None = None,
    rows_b: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Near-duplicate image pairs: ``(pairs K×2, distances K, similarities K)``.

    Candidates are pairs within ``max_distance`` of each other's shifted hashes (``xb`` None:
    within ``xa``, i < j); each is kept when its ``pixel_difference`` is at most ``max_difference``
    (None: not compared) and its ``similarity`` reaches ``min_similarity`` (None: not computed, the
    similarities then NaN). Pass the hashes (``perceptual_hashes(x, shifts=True)``) when you have
    them, to skip hashing again. ``rows_a`` / ``rows_b``: compare the images ``xa[rows_a]`` /
    ``xb[rows_b]`` (pairs then index into the rows, as if those were the arrays), read a chunk at a
    time rather than copied whole, for memory-mapped sets.

    >>> x = np.random.default_rng(0).integers(0, 256, (3, 32, 32), dtype=np.uint8)
    >>> x[2] = np.clip(x[0] * 1.1, 0, 255)  # a brighter copy of the first
    >>> near_duplicates(x)[0].tolist()
    [[0, 2]]
    """
    xa = _as_images(xa)
    xb = None if xb is None else _as_images(xb)
    ha = perceptual_hashes(xa, shifts=True, rows=rows_a) if hashes_a is None else hashes_a
    hb = None if xb is None else (perceptual_hashes(xb, shifts=True, rows=rows_b) if hashes_b is None else hashes_b)
    pairs = near_duplicate_pairs(ha, hb, max_distance)
    dist = pair_distances(ha, hb, pairs)
    other, rows_other = (xa, rows_a) if xb is None else (xb, rows_b)
    if max_difference is not None and len(pairs):
        keep = _coarse_keep(xa, rows_a, other, rows_other, pairs, _COARSE_SLACK * max_difference)
        pairs, dist = pairs[keep], dist[keep]
        diff = _pairwise(xa, rows_a, other, rows_other, pairs, lambda a, b: _grid_difference(_grids(a), _grids(b)))
        keep = diff <= max_difference
        pairs, dist = pairs[keep], dist[keep]
    if min_similarity is None:
        return pairs, dist, np.full(len(pairs), np.nan)
    sim = _pairwise(xa, rows_a, other, rows_other, pairs, similarity)
    keep = sim >= min_similarity
    return pairs[keep], dist[keep], sim[keep]


def _pairwise(xa, rows_a, xb, rows_b, pairs: np.ndarray, fn, step: int = 4096) -> np.ndarray:
    """``fn(images a, images b)`` over the pairs, a chunk at a time (read where they lie)."""
    out = np.empty(len(pairs), dtype=np.float64)
    for s in range(0, len(pairs), step):
        chunk = pairs[s : s + step]
        left = chunk[:, 0] if rows_a is None else rows_a[chunk[:, 0]]
        right = chunk[:, 1] if rows_b is None else rows_b[chunk[:, 1]]
        out[s : s + step] = fn(mapped.gather(xa, left), mapped.gather(xb, right))
        mapped.release(xa)
        mapped.release(xb)
    return out


def _coarse_keep(xa, rows_a, xb, rows_b, pairs: np.ndarray, bound: float) -> np.ndarray:
    """The pre-filter: candidates whose 8×8 block averages (of the grids' windows, ``b``'s at each
    of the nine positions) leave a least-squares residual ``σ·√(1 - r²)`` of at most ``bound`` at
    the best position (σ the smaller standard deviation of the two, r their correlation). Block
    averages are computed once per image in any candidate pair, not once per pair."""
    ia, ja = np.unique(pairs[:, 0], return_inverse=True)
    ib, jb = np.unique(pairs[:, 1], return_inverse=True)
    za, sa = _blocks(xa, ia if rows_a is None else rows_a[ia], moved=False)  # len(ia) × 1 × 64, len(ia) × 1
    zb, sb = _blocks(xb, ib if rows_b is None else rows_b[ib], moved=True)  # len(ib) × 9 × 64, len(ib) × 9
    keep = np.empty(len(pairs), dtype=bool)
    for s in range(0, len(pairs), _PAIR_CHUNK):
        pa, pb = ja[s : s + _PAIR_CHUNK], jb[s : s + _PAIR_CHUNK]
        r = np.clip(np.einsum("ij,ikj->ik", za[pa, 0].astype(np.float32), zb[pb].astype(np.float32)), 0.0, 1.0)
        best = (np.minimum(sa[pa], sb[pb]) * np.sqrt(1.0 - r * r)).min(axis=1)
        keep[s : s + _PAIR_CHUNK] = best <= bound
    return keep


def _blocks(x: np.ndarray, rows: np.ndarray, moved: bool) -> tuple[np.ndarray, np.ndarray]:
    """For each image, and each window position (the order of ``_SHIFTS``, or unmoved only): the
    8×8 block averages of its grid's window, centred and scaled to unit length (float16, len(rows)
    × positions × 64), and their standard deviation (float32, len(rows) × positions)."""
    x = _as_images(x)
    moves = _SHIFTS if moved else ((0, 0),)
    z = np.empty((len(rows), len(moves), _LOW * _LOW), dtype=np.float16)
    sd = np.empty((len(rows), len(moves)), dtype=np.float32)
    if len(rows) == 0:
        return z, sd
    step = max(1, _CHUNK_PIXELS // int(np.prod(x.shape[1:], dtype=np.int64)))
    for start, part in _parts(x, rows, len(rows), step):
        grids = _grids(part)
        left, right = _block_matrices(grids.shape[1]), _block_matrices(grids.shape[2])
        end = start + len(part)
        for dy in (-1, 0, 1) if moved else (0,):
            top = np.matmul(left[dy + 1], grids)
            for dx in (-1, 0, 1) if moved else (0,):
                k = moves.index((dy, dx))
                blocks = np.matmul(top, right[dx + 1].T).reshape(len(part), -1)
                blocks -= blocks.mean(axis=1, keepdims=True)
                norm = np.sqrt((blocks * blocks).sum(axis=1))
                sd[start:end, k] = norm / np.sqrt(blocks.shape[1])
                z[start:end, k] = blocks / np.maximum(norm, 1e-6)[:, None]
    return z, sd


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise Hamming distance between uint64 hashes."""
    return np.bitwise_count(np.bitwise_xor(np.asarray(a, np.uint64), np.asarray(b, np.uint64))).astype(np.int64)


def near_duplicate_pairs(
    a: np.ndarray, b: np.ndarray | None = None, max_distance: int = DEFAULT_NEAR_DISTANCE
) -> np.ndarray:
    """Every (i, j) with Hamming(a[i], b[j]) ≤ ``max_distance``, as int64 K×2, sorted.

    With ``b`` None, pairs within ``a`` with i < j. Hashes may come with their shifted variants
    (``perceptual_hashes(x, shifts=True)``, N×9): then ``a``'s unshifted hash is compared with every
    variant of ``b`` (of ``a`` itself when ``b`` is None) and the nearest counts, so a copy moved by
    a pixel is found. Brute force, tile by tile (xor, popcount, compare), exact: on one core, 50,000
    × 10,000 plain hashes take about 1 s and 50,000 × 50,000 (i < j) about 2.5 s; with the nine
    shifted variants, nine times that, shared among the available cores.
    """
    a = np.ascontiguousarray(a, dtype=np.uint64)
    within = b is None
    b = a if within else np.ascontiguousarray(b, dtype=np.uint64)
    base = a[:, a.shape[1] // 2] if a.ndim == 2 else a
    variants = [np.ascontiguousarray(b[:, k]) for k in range(b.shape[1])] if b.ndim == 2 else [b]
    if len(a) == 0 or len(b) == 0 or max_distance < 0:
        return np.empty((0, 2), dtype=np.int64)
    # Row bands, interleaved so that each worker gets as many long and short rows (within a set,
    # row i is compared with the columns after i only).
    band = _TILE_ROWS * 8
    bands = [(r, min(r + band, len(base))) for r in range(0, len(base), band)]
    workers = min(len(bands), _workers())

    def run(k: int) -> list[np.ndarray]:
        return [_pairs(base, v, max_distance, within, r0, r1) for r0, r1 in bands[k::workers] for v in variants]

    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            found = [p for part in pool.map(run, range(workers)) for p in part]
    else:
        found = run(0)
    found = [f for f in found if len(f)]
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    keys = np.unique(np.concatenate(found))  # i·len(b) + j: sorted by i, then j, each pair once
    return np.stack([keys // len(b), keys % len(b)], axis=1)


def _workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


_TILE_ROWS, _TILE_COLS = 64, 2048  # 128 K cells: the tile's buffers stay in the processor's cache


def _pairs(a: np.ndarray, b: np.ndarray, max_distance: int, within: bool, r_start: int, r_end: int) -> np.ndarray:
    """Keys i·len(b) + j of the pairs within ``max_distance`` among rows r_start..r_end of ``a``."""
    rows, cols = _TILE_ROWS, max(1, min(_TILE_COLS, _PAIR_CELLS // _TILE_ROWS))
    xor = np.empty((rows, cols), dtype=np.uint64)
    count = np.empty((rows, cols), dtype=np.uint8)
    found: list[np.ndarray] = []
    for r0 in range(r_start, r_end, rows):
        r1 = min(r0 + rows, r_end)
        for c0 in range(r0 + 1 if within else 0, len(b), cols):  # within a: only j > i
            c1 = min(c0 + cols, len(b))
            x, c = xor[: r1 - r0, : c1 - c0], count[: r1 - r0, : c1 - c0]
            np.bitwise_xor(a[r0:r1, None], b[None, c0:c1], out=x)
            np.bitwise_count(x, out=c)
            if c.min() > max_distance:  # most tiles: one read, no mask written
                continue
            i, j = np.nonzero(c <= max_distance)
            i += r0
            j += c0
            if within:
                keep = j > i
                i, j = i[keep], j[keep]
            if len(i):
                found.append(i.astype(np.int64) * len(b) + j)
    return np.concatenate(found) if found else np.empty(0, dtype=np.int64)


def pair_distances(a: np.ndarray, b: np.ndarray | None, pairs: np.ndarray) -> np.ndarray:
    """The distance of each pair as ``near_duplicate_pairs`` measures it (the nearest variant)."""
    return _nearest_variants(a, b, pairs)[0]


def _nearest_variants(a: np.ndarray, b: np.ndarray | None, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pair's distance and the index of ``b``'s nearest variant (the unmoved one on a tie)."""
    a = np.asarray(a, dtype=np.uint64)
    b = a if b is None else np.asarray(b, dtype=np.uint64)
    base = a[:, a.shape[1] // 2] if a.ndim == 2 else a
    left = base[pairs[:, 0]]
    right = b[pairs[:, 1]]
    if right.ndim == 1:
        return hamming(left, right), np.zeros(len(pairs), dtype=np.int64)
    d = np.bitwise_count(left[:, None] ^ right)
    order = (_CENTRE,) + tuple(k for k in range(right.shape[1]) if k != _CENTRE)
    best = np.asarray(order)[np.argmin(d[:, order], axis=1)]
    return d[np.arange(len(d)), best].astype(np.int64), best.astype(np.int64)


def duplicate_groups(
    x: np.ndarray,
    near_distance: int | None = None,
    min_similarity: float | None = DEFAULT_MIN_SIMILARITY,
    *,
    max_difference: float | None = DEFAULT_MAX_DIFFERENCE,
    rows: np.ndarray | None = None,
    hashes: np.ndarray | None = None,
    perceptual: np.ndarray | None = None,
) -> np.ndarray:
    """A group id (int64) per sample, for group-aware splitting.

    Exact duplicates always share a group. With ``near_distance``, near duplicates
    (``near_duplicates`` with these settings) join groups by a bounded rule, in data order: a
    sample near an earlier group's *anchor* (the group's first sample) joins the first such group;
    otherwise it starts a group and is its anchor. So a group holds an anchor and samples each near
    that anchor: a chain a~b~c~d of look-alikes, where a and d are far apart, is not one group
    (connecting near pairs transitively once put 6,909 of 10,000 MNIST-style digits in one group).
    A pair of near duplicates may still be split between groups (b near anchor a, and near c, c
    anchoring its own group): the split keeps each group on one side, not every pair.

    Ids run from 0 in order of each group's first sample; a sample alone is a group of one.
    Feature tables (N×F), and images smaller than ``MIN_NEAR_SIDE``, are grouped by exact
    copies only (``near_applicable``). ``rows``: group the samples ``x[rows]`` (read a chunk at a
    time, never copied whole); ``hashes``: their ``content_hashes`` (or ``hash_keys``), and
    ``perceptual``: their ``perceptual_hashes(shifts=True)``, when known.

    >>> a = np.random.default_rng(0).integers(0, 256, (2, 32, 32), dtype=np.uint8)
    >>> duplicate_groups(np.stack([a[0], a[1], a[0], np.clip(a[1] * 1.1, 0, 255)]), near_distance=6).tolist()
    [0, 1, 0, 1]
    """
    x = x if isinstance(x, np.ndarray) else np.asarray(x)
    n = len(x) if rows is None else len(rows)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if hashes is None:
        hashes = content_hashes(x, rows)
    _, first, inverse = np.unique(hash_keys(hashes), return_index=True, return_inverse=True)
    exact = first[inverse.reshape(-1)]  # each sample's first exact copy
    anchor = exact.copy()
    if near_distance is not None and near_applicable(x):
        reps = np.unique(exact)  # one representative per exact group: fewer pairs to test
        pairs, _, _ = near_duplicates(x, None, near_distance, min_similarity, max_difference=max_difference,
                                      hashes_a=None if perceptual is None else perceptual[reps],
                                      rows_a=reps if rows is None else rows[reps])
        anchor[reps] = anchors(len(reps), pairs, reps)
        anchor = anchor[exact]  # copies follow their first copy
    # renumber by first sample
    _, first_of, relabel = np.unique(anchor, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first_of))
    return order[relabel.reshape(-1)].astype(np.int64)


def anchors(m: int, pairs: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Each of m items' anchor (as an id from ``ids``, which is increasing): greedy in order over
    the near pairs (i < j), each item joining the first earlier anchor it is near."""
    anchor = np.arange(m)
    is_anchor = np.ones(m, dtype=bool)
    if len(pairs):
        pairs = pairs[np.lexsort((pairs[:, 0], pairs[:, 1]))]  # by j, then i
        js, starts = np.unique(pairs[:, 1], return_index=True)
        for j, lo, hi in zip(js.tolist(), starts.tolist(), [*starts[1:].tolist(), len(pairs)], strict=True):
            earlier = pairs[lo:hi, 0]
            hit = earlier[is_anchor[earlier]]
            if len(hit):
                anchor[j] = hit[0]
                is_anchor[j] = False
    return ids[anchor]


def _area_matrix(size: int, out: int = _THUMB) -> np.ndarray:
    """out × size weights: each output cell is the mean of the input it covers (fractions of
    pixels included), so any size maps to ``out`` without aliasing."""
    return _area_matrix_cached(size, out).copy()


@lru_cache(maxsize=32)
def _area_matrix_cached(size: int, out: int) -> np.ndarray:
    edges = np.linspace(0.0, size, out + 1)
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
