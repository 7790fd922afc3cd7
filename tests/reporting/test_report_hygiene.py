"""The report's data-hygiene block: each check's one line, and duplicate pairs as thumbnails."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
from PIL import Image

from practica.data.duplicates.checks import check_data
from practica.data.records import Dataset, Splits
from practica.reporting import write_report


def photo(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (5, 5, 3), dtype=np.uint8))
    return np.asarray(coarse.resize((32, 32), Image.Resampling.BICUBIC))


def jpeg(img: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=90)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def photo_splits(classes: tuple[str, ...]) -> Splits:
    def part(name: str, images: list[np.ndarray], labels: list[int]) -> Dataset:
        return Dataset(name, np.stack(images), np.array(labels), classes,
                       sources=tuple(f"data/{name}/{i}.png" for i in range(len(images))))

    n = len(classes)
    train = part("train", [photo(i) for i in range(2 * n)] + [photo(0)], [i % n for i in range(2 * n)] + [0])
    val = part("val", [photo(100 + i) for i in range(n)], list(range(n)))
    test = part("test", [jpeg(photo(3))] + [photo(200 + i) for i in range(n - 1)], [4] + list(range(1, n)))
    return Splits(train, val, test,
                  indices={k: np.arange(len(d)) for k, d in (("train", train), ("val", val), ("test", test))},
                  fingerprint="ab" * 12, seed=0, test_is_fixed=True)


def test_report_shows_the_checks_and_the_pairs(tmp_path, build_run):
    run = build_run(tmp_path)
    splits = photo_splits(run.splits.classes)
    hygiene = check_data({"train": splits.train, "val": splits.val, "test": splits.test})
    run = replace(run, splits=splits, hygiene=hygiene)
    html, md = write_report(run)
    page, text = html.read_text(), md.read_text()
    for doc in (page, text):
        assert "Data hygiene" in doc and "Near duplicates across parts (leakage)" in doc
        assert "test: 1 sample of test (10.00%) near a train sample" in doc
        assert "Duplicates with different labels" in doc
        # the rule as applied, pixel check included (not only the hash and the thumbnails)
        assert "whose pixels differ by at most 8 of 255 on average" in doc
    assert 'class="badge h-warning"' in page and 'class="badge h-ok"' in page
    assert (tmp_path / "report_files" / "duplicates.png").is_file() and "report_files/duplicates.png" in text


def test_report_without_hygiene_has_no_block(tmp_path, build_run):
    html, md = write_report(build_run(tmp_path))
    assert "Data hygiene" not in html.read_text() and "Data hygiene" not in md.read_text()


def test_report_on_texts_lists_text_pairs_and_the_text_rule(tmp_path, build_run):
    run = build_run(tmp_path)
    classes = run.splits.classes
    rng = np.random.default_rng(0)
    words = ["plot", "cast", "score", "pace", "ending", "scene", "story", "music", "light", "dark", "slow", "warm"]
    base = [" ".join(rng.choice(words, 20)) + f" review {k}" for k in range(4 * len(classes))]
    near = base[2].split()
    near[6] = "zebra"

    def part(name: str, items: list[str], labels: list[int]) -> Dataset:
        x = np.empty(len(items), dtype=object)
        x[:] = items
        return Dataset(name, x, np.array(labels), classes, sources=tuple(f"{name}.csv:row {i + 2}"
                                                                        for i in range(len(items))))

    n = len(classes)
    train = part("train", base[: 2 * n], [i % n for i in range(2 * n)])
    val = part("val", base[2 * n : 3 * n], list(range(n)))
    test = part("test", [" ".join(near)] + base[3 * n : 4 * n - 1], [2 % n] + list(range(1, n)))
    splits = Splits(train, val, test, indices={k: np.arange(len(d)) for k, d in (("train", train), ("val", val),
                                                                                  ("test", test))},
                    fingerprint="cd" * 12, seed=0, test_is_fixed=True)
    run = replace(run, splits=splits, hygiene=check_data({"train": train, "val": val, "test": test}))
    html, md = write_report(run)
    for doc in (html.read_text(), md.read_text()):
        assert "word-bigram Jaccard similarity is at least 0.7" in doc and "perceptual" not in doc
        assert "Text length" in doc and "Text characters" in doc
        assert "train.csv:row 4" in doc and "Jaccard 0.8" in doc and base[2][:40] in doc
