"""Memory-mapped data (``dataset.memmap``): decoded once into the cache, chunk by chunk; splits copied
into their own mapped files; training reads batches from them; the same data, splits and model as in
memory, and nothing loads a whole set."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from data_images import image_tree, pixels, write_image
from torch import nn

from practica.config.layers import Crop, HFlip
from practica.config.schema import DatasetSpec, TrainSpec
from practica.data import load_source, prepare_data
from practica.data.duplicates import hygiene
from practica.data.sources import decode, folder
from practica.data.splits.split import split_file
from practica.data.storage import mapped
from practica.errors import DataError
from practica.evaluation.predictors import TorchPredictor
from practica.models import classifier
from practica.training import batches, trainer, validation

SIZE = (32, 32)  # large enough for near-duplicate search (>= 16 px), so cleaning reads pixels too


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of 300 RGB images in 3 classes, with an exact and a near duplicate and an unreadable file."""
    root = tmp_path_factory.mktemp("images")
    image_tree(root, {"a": 100, "b": 100, "c": 99}, size=SIZE)
    write_image(root / "c" / "dup.png", np.asarray(_image(root / "a" / "000.png")))  # an exact copy, other label
    (root / "b" / "broken.png").write_bytes(b"not a png")
    return root


def _image(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def _spec(root: Path, memmap: bool | str, **more: object) -> DatasetSpec:
    return DatasetSpec(source="folder", path=root, memmap=memmap, split={"val": 0.2, "test": 0.2}, **more)


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(16, 3))


def test_memmap_splits_match_the_in_memory_ones(images: Path) -> None:
    plain = prepare_data(_spec(images, False))
    mm = prepare_data(_spec(images, True))
    assert mm.fingerprint == plain.fingerprint
    assert mm.decisions == plain.decisions and mm.notes == plain.notes
    np.testing.assert_array_equal(mm.groups, plain.groups)
    for part in ("train", "val", "test"):
        a, b = getattr(plain, part), getattr(mm, part)
        assert isinstance(b.x, np.memmap) and not isinstance(a.x, np.memmap)
        assert Path(b.x.filename) == split_file(mm.fingerprint, part)  # its own file, named by the split
        np.testing.assert_array_equal(b.x, a.x)
        np.testing.assert_array_equal(b.y, a.y)
        assert b.sources == a.sources
        np.testing.assert_array_equal(mm.indices[part], plain.indices[part])


def test_training_on_memmap_splits_is_identical_and_never_resident(
    images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = TrainSpec(epochs=2, batch_size=32, seed=3)
    augment = [Crop(padding=2), HFlip()]
    plain = prepare_data(_spec(images, False))
    a = trainer.fit(_net, plain.train, plain.val, spec, augment)

    mm = prepare_data(_spec(images, True))
    real = batches.to_tensor

    def resident(data, device, tokenizer=None):
        assert not mapped.is_mapped(data.x), "a memory-mapped split was made resident"
        return real(data, device, tokenizer)

    monkeypatch.setattr(batches, "to_tensor", resident)
    b = trainer.fit(_net, mm.train, mm.val, spec, augment)

    strip = [(r.epoch, r.train_loss, r.val_loss, r.lr, r.metrics) for r in a.history.epochs]
    assert strip == [(r.epoch, r.train_loss, r.val_loss, r.lr, r.metrics) for r in b.history.epochs]
    wa, wb = a.model.state_dict(), b.model.state_dict()
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    pa, pb = TorchPredictor(a.model).predict_proba(plain.test.x), TorchPredictor(b.model).predict_proba(mm.test.x)
    np.testing.assert_array_equal(pa, pb)

    # A subset of a mapped split (a scratch file, unlinked: read through the mapping, not pread) too.
    some = np.arange(0, len(mm.train), 2)
    sub_mm, sub_plain = mm.train.subset(some), plain.train.subset(some)
    assert mapped.is_mapped(sub_mm.x) and mapped.RowReader.open(sub_mm.x) is None
    one = TrainSpec(epochs=1, batch_size=16)
    c, d = trainer.fit(_net, sub_plain, plain.val, one), trainer.fit(_net, sub_mm, mm.val, one)
    assert c.history.epochs[0].train_loss == d.history.epochs[0].train_loss
    assert all(torch.equal(v, d.model.state_dict()[k]) for k, v in c.model.state_dict().items())


@pytest.mark.slow
def test_nothing_loads_a_whole_memory_mapped_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With small chunks, what numpy allocates while loading, cleaning (exact and near duplicates),
    splitting and training on a memory-mapped set hardly grows with the set; in memory, it holds it."""
    monkeypatch.setattr(decode, "CHUNK_SIZE", 10)
    monkeypatch.setattr(mapped, "CHUNK_BYTES", 64 * 64 * 3 * 8)
    monkeypatch.setattr(hygiene, "_CHUNK_PIXELS", 64 * 64 * 3 * 8)
    monkeypatch.setattr(classifier, "STATS_VALUES", 64 * 64 * 3 * 8)
    monkeypatch.setattr(validation, "EVAL_BATCH", 8)
    sizes = {"small": 20, "large": 80}  # per class
    for name, n in sizes.items():
        image_tree(tmp_path / name, {"a": n, "b": n}, size=(64, 64))

    def peak(name: str, memmap: bool) -> int:
        tracemalloc.start()
        try:
            splits = prepare_data(_spec(tmp_path / name, memmap))
            trainer.fit(_net, splits.train, splits.val, TrainSpec(epochs=1, batch_size=8))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    grown = 2 * (sizes["large"] - sizes["small"]) * 64 * 64 * 3  # 1.2 MB more samples
    assert peak("large", False) > 2 * sizes["large"] * 64 * 64 * 3  # (and the imports are done)
    assert peak("large", True) - peak("small", True) < grown / 4


def test_second_load_reuses_the_cache_and_the_split_files(images: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = prepare_data(_spec(images, True))
    stamps = {p: split_file(first.fingerprint, p).stat().st_mtime_ns for p in ("train", "val", "test")}

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded or copied again although nothing changed")

    monkeypatch.setattr(folder, "decode_folder_into", never)
    monkeypatch.setattr(folder, "decode_many", never)
    monkeypatch.setattr(mapped, "write_npy", never)
    again = prepare_data(_spec(images, True))
    assert again.fingerprint == first.fingerprint
    for part, stamp in stamps.items():
        assert split_file(again.fingerprint, part).stat().st_mtime_ns == stamp
        np.testing.assert_array_equal(getattr(again, part).x, getattr(first, part).x)


def test_a_killed_decoding_leaves_no_entry_and_a_partial_split_file_is_not_reused(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image_tree(tmp_path, {"a": 30, "b": 30}, size=SIZE)
    real = folder._ImageFile.append
    calls = {"n": 0}

    def dies(self, image, name):
        calls["n"] += 1
        if calls["n"] > 25:
            raise KeyboardInterrupt  # killed half-way through writing x.npy
        real(self, image, name)

    monkeypatch.setattr(folder._ImageFile, "append", dies)
    with pytest.raises(KeyboardInterrupt):
        load_source(_spec(tmp_path, True))
    assert [p for p in cache_dir.iterdir() if not p.name.startswith(".")] == []  # no entry, whole or half
    monkeypatch.setattr(folder._ImageFile, "append", real)

    splits = prepare_data(_spec(tmp_path, True))
    expected = prepare_data(_spec(tmp_path, False))
    np.testing.assert_array_equal(splits.train.x, expected.train.x)
    # A split file cut short (a disk that filled up, a copy interrupted by hand) is rebuilt, not mapped.
    path = split_file(splits.fingerprint, "train")
    del splits
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 100)
    again = prepare_data(_spec(tmp_path, True))
    np.testing.assert_array_equal(again.train.x, expected.train.x)
    assert path.stat().st_size == again.train.x.offset + again.train.x.nbytes
    # A damaged cache entry (its checksum fails) is decoded again.
    (entry,) = [p for p in cache_dir.iterdir() if len(p.name) == 64]
    x = np.load(entry / "x.npy", mmap_mode="r+")
    x[0, 0, 0, 0] ^= 0xFF
    x.flush()
    del x, again
    data = load_source(_spec(tmp_path, True))
    np.testing.assert_array_equal(data.x, load_source(_spec(tmp_path, False)).x)


def test_mixed_gray_and_colour_images_and_a_size_mismatch_decode_as_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decode, "PARALLEL_MIN_FILES", 2)  # a process pool, two files a chunk
    monkeypatch.setattr(decode, "CHUNK_SIZE", 2)
    image_tree(tmp_path / "mixed", {"a": 3, "b": 3}, size=SIZE, mode="L")
    write_image(tmp_path / "mixed" / "b" / "zz.png", pixels(7, SIZE))  # the last one in colour
    mm, plain = load_source(_spec(tmp_path / "mixed", True)), load_source(_spec(tmp_path / "mixed", False))
    assert mm.x.shape == plain.x.shape == (7, *SIZE, 3)
    np.testing.assert_array_equal(mm.x, plain.x)

    image_tree(tmp_path / "sizes", {"a": 2, "b": 2}, size=SIZE)
    write_image(tmp_path / "sizes" / "b" / "zz.png", pixels(9, (20, 20)))
    with pytest.raises(DataError, match="images differ in size"):
        load_source(_spec(tmp_path / "sizes", True))


def test_npy_images_are_mapped_where_they_lie(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.random.default_rng(0).integers(0, 256, (40, *SIZE), dtype=np.uint8)  # N×H×W: gray
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.arange(40) % 2)
    spec = {"source": "npy", "path": tmp_path / "x.npy", "labels": tmp_path / "y.npy"}
    data = load_source(DatasetSpec(**spec, memmap=True))
    assert mapped.is_mapped(data.x) and Path(data.x.filename) == tmp_path / "x.npy"
    np.testing.assert_array_equal(data.x[..., 0], x)
    # auto: mapped only when the samples would take over a quarter of the memory available
    monkeypatch.setattr(mapped, "available_memory", lambda: 4 * x.nbytes - 1)
    assert mapped.is_mapped(load_source(DatasetSpec(**spec)).x)
    monkeypatch.setattr(mapped, "available_memory", lambda: 4 * x.nbytes + 1)
    assert not mapped.is_mapped(load_source(DatasetSpec(**spec)).x)
    # at another size (a fixed test set decoded at the data's), converted a chunk at a time
    small = load_source(DatasetSpec(**spec, memmap=True), image_size=(16, 16), channels=3)
    assert mapped.is_mapped(small.x) and small.x.shape == (40, 16, 16, 3)
    np.testing.assert_array_equal(small.x, load_source(DatasetSpec(**spec, memmap=False), image_size=(16, 16),
                                                       channels=3).x)


def test_a_set_read_in_memory_is_spilled_and_auto_keeps_small_sets_in_memory(images: Path) -> None:
    digits = prepare_data(DatasetSpec(source="digits", memmap=True, max_samples=300))
    assert all(isinstance(getattr(digits, p).x, np.memmap) for p in ("train", "val", "test"))
    auto = prepare_data(_spec(images, "auto"))
    assert not any(mapped.is_mapped(getattr(auto, p).x) for p in ("train", "val", "test"))
    assert DatasetSpec(source="digits").memmap == "auto"
