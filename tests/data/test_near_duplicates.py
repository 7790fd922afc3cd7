"""Near duplicates on small, low-detail grayscale images, and duplicate groups that do not chain."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from practica.data.duplicates.checks import check_data
from practica.data.duplicates.hygiene import duplicate_groups, near_duplicates, pixel_difference
from practica.data.records import Dataset


def garment(seed: int, side: int = 28) -> np.ndarray:
    """A Fashion-MNIST-like image: one fixed silhouette (a T-shirt: body and sleeves) on black, its
    inside a random texture of 2×2-pixel patches around a random grey level. Two seeds give two
    different garments of the same shape."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:side, :side]
    body = (abs(x - side / 2) < side * 0.25) & (y > side * 0.15) & (y < side * 0.92)
    sleeves = (abs(x - side / 2) < side * 0.42) & (y > side * 0.15) & (y < side * 0.4)
    mask = body | sleeves
    patches = rng.integers(-45, 46, (side // 2, side // 2)).repeat(2, 0).repeat(2, 1)
    img = np.where(mask, rng.integers(120, 180) + patches, 0)
    return np.clip(img, 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, quality: int = 90) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())))


def moved(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    h, w = img.shape
    return img[np.clip(np.arange(h) - dy, 0, h - 1)][:, np.clip(np.arange(w) - dx, 0, w - 1)]


def brighter(img: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(np.rint(img * factor), 0, 255).astype(np.uint8)


def test_garments_of_one_shape_are_not_near_duplicates_but_their_copies_are():
    garments = np.stack([garment(s) for s in range(8)])
    assert len(near_duplicates(garments)[0]) == 0  # eight garments, one silhouette: no pair
    copies = np.stack([jpeg(garments[0]), jpeg(garments[1], 75), moved(garments[2], 1, 0), moved(garments[3], -1, 1),
                       brighter(garments[4], 1.15), brighter(garments[5], 0.85),
                       brighter(jpeg(moved(garments[6], 0, -1), 75), 1.1)])
    pairs = near_duplicates(garments, copies)[0]
    assert sorted(map(tuple, pairs.tolist())) == [(k, k) for k in range(7)]


def test_pixel_difference_measures_copies_in_levels_and_look_alikes_far_apart():
    a, b = garment(0), garment(1)
    d = pixel_difference(np.stack([a, a, a, a]), np.stack([jpeg(a), moved(a, 1, 1), brighter(a, 1.2), b]))
    assert d[0] < 4 and d[1] == 0 and d[2] < 1 and d[3] > 10


def test_leakage_check_flags_copies_not_look_alikes():
    garments = np.stack([garment(s) for s in range(12)])
    train = Dataset(name="train", x=garments[:8, ..., None], y=np.zeros(8, dtype=np.int64), classes=("shirt",))
    test_x = np.stack([garments[8], garments[9], jpeg(garments[3]), garments[10], garments[11]])
    test = Dataset(name="test", x=test_x[..., None], y=np.zeros(5, dtype=np.int64), classes=("shirt",))
    report = check_data({"train": train, "test": test})
    across = report.check("near_across")
    assert [(p.a_index, p.b_index) for p in across.pairs] == [(3, 2)]
    assert "1 sample of test (20.00%)" in across.summary
    assert report.check("near_within").count == 0
    off = check_data({"train": train, "test": test}, near_distance=None)
    assert off.check("near_across") is None and off.near_distance is None


def photo(seed: int, side: int = 32) -> np.ndarray:
    """A smooth photo-like grayscale image kept away from 0 and 255."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(20, 236, (5, 5), dtype=np.uint8))
    return np.asarray(coarse.resize((side, side), Image.Resampling.BICUBIC)).clip(20, 235).astype(np.int16)


def test_duplicate_groups_do_not_chain():
    # a ~ b ~ c ~ d: each a few levels from the next (a fine checkerboard, growing), a and d 10 apart
    a = photo(3)
    checker = np.where((np.add.outer(np.arange(32), np.arange(32)) % 2) == 0, 1, -1)
    chain = np.stack([a + k * checker for k in (0, 3, 6, 10)]).astype(np.uint8)
    pairs = sorted(map(tuple, near_duplicates(chain)[0].tolist()))
    assert pairs == [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]  # every neighbour, but not a–d
    # b and c join a's group (near its anchor, a); d is near b and c but not a: a group of its own
    assert duplicate_groups(chain, near_distance=6).tolist() == [0, 0, 0, 1]
    # exact copies still share their group, wherever they are
    x = np.concatenate([chain, chain[3:], chain[:1]])
    assert duplicate_groups(x, near_distance=6).tolist() == [0, 0, 0, 1, 1, 0]
    assert duplicate_groups(x).tolist() == [0, 1, 2, 3, 3, 0]


def test_a_group_is_bounded_by_its_anchor():
    # twenty steps of 3 levels each: transitively one group, by anchors several
    a = photo(4)
    checker = np.where((np.add.outer(np.arange(32), np.arange(32)) % 2) == 0, 1, -1)
    ramp = np.stack([np.clip(a + 3 * k * checker, 0, 255) for k in range(20)]).astype(np.uint8)
    groups = duplicate_groups(ramp, near_distance=6)
    assert groups.max() >= 4  # connected transitively, they were one group of 20
    anchors = np.unique(groups, return_index=True)[1]
    to_anchor = pixel_difference(ramp[anchors[groups]], ramp)
    assert (to_anchor <= 8).all()  # every member is near its group's anchor
