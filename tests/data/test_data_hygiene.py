"""Data hygiene: hashes, near duplicates, duplicate groups, and the checks built on them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from practica.data.duplicates import hygiene
from practica.data.duplicates.checks import check_data
from practica.data.duplicates.hygiene import (
    content_hashes,
    duplicate_groups,
    hamming,
    near_duplicate_pairs,
    near_duplicates,
    perceptual_hashes,
    similarity,
)
from practica.data.records import Dataset
from practica.data.sources.folder import load_folder

CLASSES = ("a", "b")


def photo(seed: int, side: int = 32) -> np.ndarray:
    """A photo-like RGB image: smooth colour fields (a random 5×5 image, upscaled) with fine noise."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (5, 5, 3), dtype=np.uint8))
    smooth = np.asarray(coarse.resize((side, side), Image.Resampling.BICUBIC)).astype(np.int16)
    return np.clip(smooth + rng.integers(-6, 7, smooth.shape), 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, quality: int = 90) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def shifted(img: np.ndarray) -> np.ndarray:
    """One pixel to the right and one down; the uncovered edge repeats its neighbour."""
    out = img.copy()
    out[:, 1:] = img[:, :-1]
    out[1:] = out[:-1].copy()
    return out


def brighter(img: np.ndarray, by: int = 15) -> np.ndarray:
    return np.clip(img.astype(np.int16) + by, 0, 255).astype(np.uint8)


def digits_32(indices: list[int]) -> np.ndarray:
    """scikit-learn digits upscaled to 32×32 RGB, so they are large enough for near-duplicate search."""
    images = load_digits().images[indices]
    out = [np.asarray(Image.fromarray(np.uint8(im * 255 / 16)).resize((32, 32), Image.Resampling.BILINEAR))
           for im in images]
    return np.repeat(np.stack(out)[..., None], 3, axis=3)


def dataset(x: np.ndarray, y, name: str = "train") -> Dataset:
    return Dataset(name=name, x=x, y=np.asarray(y, dtype=np.int64), classes=CLASSES,
                   sources=tuple(f"{name}/{i:03d}.png" for i in range(len(x))))


# ------------------------------------------------------------------------------- hashing API


def test_content_hashes_are_equal_exactly_for_equal_samples():
    x = np.stack([photo(1), photo(2), photo(1)])
    h = content_hashes(x)
    assert h.dtype == np.dtype("<U32") and h[0] == h[2] != h[1]
    assert content_hashes(x[:, :16]).tolist() != h.tolist()[:3]  # another sample shape, another hash
    rows = np.array([[0.0, 1.0, np.nan], [-0.0, 1.0, np.nan], [0.0, 1.0, 2.0]], dtype=np.float32)
    hf = content_hashes(rows)
    assert hf[0] == hf[1] != hf[2]  # -0.0 == 0.0, and NaN equals NaN for a duplicate row
    assert content_hashes(np.empty((0, 3))).shape == (0,)


def test_perceptual_hashes_are_64_bit_and_need_images():
    x = np.stack([photo(i) for i in range(4)])
    h = perceptual_hashes(x)
    assert h.dtype == np.uint64 and h.shape == (4,)
    assert np.array_equal(h, perceptual_hashes(x))
    assert np.array_equal(perceptual_hashes(x[..., 0]), perceptual_hashes(x[..., :1]))  # N×H×W is grayscale
    assert np.array_equal(perceptual_hashes(x[:2]), h[:2])  # a sample's hash does not depend on its batch
    with pytest.raises(ValueError, match="images"):
        perceptual_hashes(np.zeros((3, 5), dtype=np.float32))


@pytest.mark.parametrize("cells", [7, 1 << 23])  # tiny steps exercise the chunking
def test_near_duplicate_pairs_match_brute_force(monkeypatch, cells):
    monkeypatch.setattr(hygiene, "_PAIR_CELLS", cells)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**63, 40, dtype=np.uint64)
    flips = np.uint64(1) << rng.integers(0, 64, (40, 3)).astype(np.uint64)
    a = np.concatenate([base, base ^ flips[:, 0] ^ flips[:, 1]])  # second half: within 2 bits of the first
    b = base[:25] ^ flips[:25, 2]
    full = np.bitwise_count(a[:, None] ^ b[None, :])
    expected = np.argwhere(full <= 3)
    assert np.array_equal(near_duplicate_pairs(a, b, 3), expected)
    within = np.bitwise_count(a[:, None] ^ a[None, :])
    expected = np.argwhere(np.triu(within <= 2, k=1))
    got = near_duplicate_pairs(a, None, 2)
    assert np.array_equal(got, expected) and len(got) >= 40
    assert near_duplicate_pairs(a[:0], b, 3).shape == (0, 2)


def test_edits_of_an_image_are_near_duplicates_and_different_images_are_not():
    originals = [photo(s) for s in range(12)]
    edits = [jpeg(originals[0]), shifted(originals[1]), brighter(originals[2]),
             brighter(jpeg(shifted(originals[3])), 8)]
    a, b = np.stack(originals), np.stack(edits)
    pairs, dist, sim = near_duplicates(a, b)  # the defaults
    assert sorted(map(tuple, pairs.tolist())) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert (dist <= hygiene.DEFAULT_NEAR_DISTANCE).all() and (sim >= hygiene.DEFAULT_MIN_SIMILARITY).all()
    within, _, _ = near_duplicates(np.concatenate([a, b]))
    assert sorted(map(tuple, within.tolist())) == [(0, 12), (1, 13), (2, 14), (3, 15)]
    # different digits, drawn as 32×32 images, are not near duplicates of one another
    digits = digits_32([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert len(near_duplicates(digits)[0]) == 0
    assert len(near_duplicates(digits, np.stack([jpeg(d) for d in digits]))[0]) == 10


def test_similarity_ignores_brightness_and_small_shifts_but_not_content():
    a = photo(5)
    r = similarity(np.stack([a, a, a, a]), np.stack([brighter(a, 30), shifted(a), photo(6), np.zeros_like(a)]))
    assert r[0] > 0.99 and r[1] > 0.95 and r[2] < 0.6 and r[3] == 0.0


def test_duplicate_groups_connect_copies_transitively():
    base = [photo(s) for s in range(5)]
    x = np.stack([base[0], base[1], base[0], jpeg(base[1]), base[2], brighter(jpeg(base[1]), 10), base[3], base[0]])
    exact = duplicate_groups(x)
    assert exact.tolist() == [0, 1, 0, 2, 3, 4, 5, 0]
    near = duplicate_groups(x, near_distance=hygiene.DEFAULT_NEAR_DISTANCE)
    assert near.tolist() == [0, 1, 0, 1, 2, 1, 3, 0]
    features = np.array([[1, 2], [1, 2], [1, 3]], dtype=np.float32)
    assert duplicate_groups(features, near_distance=6).tolist() == [0, 0, 1]
    tiny = np.stack([x[0, :8, :8], x[0, :8, :8], jpeg(np.ascontiguousarray(x[0, :8, :8]))])
    assert duplicate_groups(tiny, near_distance=6).tolist() == [0, 0, 1]  # too small: exact copies only


def test_hashing_60000_cifar_sized_images_takes_seconds():
    x = np.random.default_rng(0).integers(0, 256, (6000, 32, 32, 3), dtype=np.uint8)
    import time

    start = time.perf_counter()
    content_hashes(x)
    h = perceptual_hashes(x)
    near_duplicate_pairs(h, None, 6)
    # 60,000 take about 2 s on one core; a tenth here, with room for a busy machine
    assert time.perf_counter() - start < 5
    assert hamming(h[:1], h[:1])[0] == 0


# ------------------------------------------------------------------------------------ checks


def test_checks_find_duplicates_within_and_across_parts_with_their_files():
    base = [photo(s) for s in range(10)]
    train = dataset(np.stack([base[0], base[1], base[2], base[3], base[0], jpeg(base[4]), base[4], base[5]]),
                    [0, 0, 1, 1, 0, 1, 1, 0])
    test = dataset(np.stack([base[1], shifted(base[2]), base[6], base[7], brighter(base[6])]), [0, 1, 1, 0, 1], "test")
    report = check_data({"train": train, "test": test})

    exact_within = report.check("exact_within")
    assert exact_within.status == "warning" and exact_within.counts["train"] == {"copies": 1, "groups": 1}
    (p,) = exact_within.pairs
    assert (p.a_source, p.b_source, p.exact) == ("train/000.png", "train/004.png", True)

    near_within = report.check("near_within")
    assert {(p.where, p.a_source, p.b_source) for p in near_within.pairs} == {
        ("train", "train/005.png", "train/006.png"), ("test", "test/002.png", "test/004.png")}

    exact_across = report.check("exact_across")
    assert [(p.a_source, p.b_source) for p in exact_across.pairs] == [("train/001.png", "test/000.png")]
    near_across = report.check("near_across")
    assert [(p.a_source, p.b_source) for p in near_across.pairs] == [("train/002.png", "test/001.png")]
    assert near_across.counts["train–test"]["test_samples"] == 1
    assert "1 sample of test (20.00%)" in near_across.summary

    assert report.check("label_conflicts").status == "ok"
    json.dumps(report.to_dict())  # everything serialises


def test_duplicates_with_different_labels_are_label_conflicts():
    base = [photo(s) for s in range(4)]
    train = dataset(np.stack([base[0], base[0], base[1], jpeg(base[1]), base[2]]), [0, 1, 0, 1, 0])
    test = dataset(np.stack([base[2], base[3]]), [1, 0], "test")
    check = check_data({"train": train, "test": test}).check("label_conflicts")
    assert check.status == "warning" and check.count == 3
    found = {(p.a_source, p.a_label, p.b_source, p.b_label, p.exact) for p in check.pairs}
    assert found == {("train/000.png", "a", "train/001.png", "b", True),
                     ("train/002.png", "a", "train/003.png", "b", False),
                     ("train/004.png", "a", "test/000.png", "b", True)}
    assert check.counts == {"train": {"exact": 1, "near": 1}, "train–test": {"exact": 1, "near": 0}}


def test_imbalance_warns_past_the_threshold():
    x = np.stack([photo(s) for s in range(14)])
    data = dataset(x, [0] * 10 + [1] * 4, "data")
    check = check_data({"data": data}, near_distance=None).check("class_balance")
    assert check.status == "ok" and "2.5×" in check.summary
    check = check_data({"data": data}, near_distance=None, imbalance_threshold=2.0).check("class_balance")
    assert check.status == "warning" and "2.5× in data (a: 10, b: 4)" in check.summary
    assert check.counts["data"]["ratio"] == 2.5
    empty = check_data({"data": dataset(x[:3], [0, 0, 0], "data")}).check("class_balance")
    assert empty.status == "warning" and "no samples of b" in empty.summary


def test_unreadable_files_are_reported_not_fatal(tmp_path):
    good = tmp_path / "data" / "cat"
    good.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(photo(i)).save(good / f"{i}.png")
    bad = tmp_path / "data" / "dog"
    bad.mkdir()
    Image.fromarray(photo(9)).save(bad / "fine.jpg", quality=90)
    whole = io.BytesIO()
    Image.fromarray(photo(8)).save(whole, format="JPEG")
    (bad / "truncated.jpg").write_bytes(whole.getvalue()[: len(whole.getvalue()) // 3])
    (bad / "empty.png").write_bytes(b"")
    (bad / "notes.png").write_text("not an image at all\n")
    data = load_folder(tmp_path / "data", None, None)
    check = check_data({"data": data}).check("unreadable")
    assert check.status == "warning" and check.count == 3 and "3 files could not be used" in check.summary
    names = sorted(Path(f.split(":")[0]).name for f in check.findings)
    assert names == ["empty.png", "notes.png", "truncated.jpg"]
    assert any("empty file" in f for f in check.findings)

    # The splits of that set share its skipped files: counted once, as before the split.
    halves = {"train": data.subset(np.arange(2)), "val": data.subset(np.arange(2, len(data)))}
    shared = check_data(halves).check("unreadable")
    assert shared.count == 3 and "(before the split: 3)" in shared.summary


def test_feature_tables_get_missing_constant_and_infinite_checks():
    x = np.array([[1.0, 5.0, -2.0, 0.5],
                  [2.0, 5.0, 3.0, np.nan],
                  [1.0, 5.0, -1.0, np.inf],
                  [1.0, 5.0, 4.0, 0.25]], dtype=np.float32)
    train = Dataset("train", x, np.array([0, 1, 0, 1]), CLASSES, sources=tuple(f"rows.csv:{i + 2}" for i in range(4)))
    test = Dataset("test", np.array([[1.0, 5.0, 0.0, -np.inf]], np.float32), np.array([0]), CLASSES)
    report = check_data({"train": train, "test": test})
    names = [c.name for c in report.checks]
    assert "near_within" not in names and "near_across" not in names and report.near_distance is None

    missing = report.check("missing_values")
    assert missing.status == "warning" and [f.to_dict() for f in missing.findings] == [
        {"part": "train", "column": 3, "count": 1, "detail": "NaN", "sources": ["rows.csv:3"]}]
    constant = report.check("constant_columns")
    assert [(f.column, f.detail) for f in constant.findings] == [(1, "constant 5")]
    infinite = report.check("non_finite")
    assert [(f.part, f.column, f.detail, f.sources) for f in infinite.findings] == [
        ("train", 3, "inf", ("rows.csv:4",)), ("test", 3, "-inf", ("test[0]",))]
    # negative values in a column that is otherwise non-negative are not flagged: column 2 has both signs
    assert all(f.column != 2 for c in report.checks for f in c.findings if hasattr(f, "column"))
    # an exact duplicate row across the parts is a leak
    assert report.check("exact_across").count == 0
    leak = check_data({"train": train, "test": Dataset("test", x[:1], np.array([0]), CLASSES)}).check("exact_across")
    assert leak.count == 1 and leak.pairs[0].a_source == "rows.csv:2"


def test_small_images_are_checked_for_exact_copies_only():
    x = digits_32(list(range(6)))[:, ::4, ::4]  # 8×8
    report = check_data({"data": dataset(np.concatenate([x, x[:1]]), [0, 1, 0, 1, 0, 1, 1], "data")})
    assert report.check("near_within") is None and "too small" in report.notes[0]
    assert report.check("exact_within").count == 1 and report.check("label_conflicts").count == 1


def test_large_sets_read_their_checks_from_the_cache(monkeypatch):
    from practica.data.duplicates import checks as checks_mod

    monkeypatch.setattr(checks_mod, "CACHE_FROM", 0)
    base = [photo(s) for s in range(6)]
    train = dataset(np.stack([base[0], base[1], base[0], jpeg(base[2]), base[2], base[3]]), [0, 0, 1, 1, 1, 0])
    test = dataset(np.stack([base[1], shifted(base[3]), base[4]]), [0, 0, 1], "test")
    table = Dataset("train", np.array([[1.0, 5.0, np.nan], [2.0, 5.0, np.inf]], np.float32), np.array([0, 1]), CLASSES,
                    sources=("rows.csv:2", "rows.csv:3"))
    for parts in ({"train": train, "test": test}, {"train": table}):
        first = checks_mod.check_data(parts, cached=True)
        with monkeypatch.context() as m:
            m.setattr(checks_mod, "_check_data", lambda *a, **k: pytest.fail("checked again"))
            again = checks_mod.check_data(parts, cached=True)
            assert again.to_dict(limit=None) == first.to_dict(limit=None)
            assert ([type(f) for c in again.checks for f in c.findings]
                    == [type(f) for c in first.checks for f in c.findings])
            with pytest.raises(pytest.fail.Exception, match="checked again"):  # other settings: another entry
                checks_mod.check_data(parts, imbalance_threshold=1.5, cached=True)
    assert first.check("missing_values").status == "warning"
