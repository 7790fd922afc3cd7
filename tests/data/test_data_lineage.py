"""``lineage.json``: every input file's sha256, every sample's split, the cleaning decisions, the
seed, the code version and the fingerprint, in the run directory and in the model bundle."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from data_images import image_tree, write_image

from practica.config.schema import DatasetSpec, SourceSpec
from practica.data import prepare_data
from practica.data.splits import lineage as lineage_mod
from practica.data.splits.lineage import build_lineage, folder_hashes, listing_digest


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_partition(samples: dict, expected: set[str], parts=("train", "val", "test", "dropped")) -> None:
    """Every expected sample in exactly one of ``parts``."""
    listed = [name for p in parts for name in samples.get(p, [])]
    assert len(listed) == len(set(listed)), "a sample is in two splits"
    assert set(listed) == expected


@pytest.fixture
def folder_data(tmp_path: Path) -> Path:
    root = tmp_path / "train"
    written = image_tree(root, {"cat": 12, "dog": 12}, size=(16, 16))
    write_image(root / "dog" / "copy.png", written["dog"][4])  # an exact duplicate: dropped
    (root / "cat" / "broken.png").write_text("not an image")  # unreadable: skipped
    return root


def test_a_folders_lineage_hashes_every_file_and_places_every_sample(folder_data: Path) -> None:
    spec = DatasetSpec(source="folder", path=folder_data, split={"val": 0.2, "test": 0.2, "seed": 3},
                       clean={"max_drop": 0.1})  # dog/copy.png is 1 of 13 'dog'
    splits = prepare_data(spec)
    lin = build_lineage(spec, splits, "0.1.0+gabc", "run-1")
    assert (lin["format"], lin["fingerprint"], lin["seed"], lin["code_version"], lin["run_id"]) == \
        ("practica-lineage", splits.fingerprint, 3, "0.1.0+gabc", "run-1")
    (data,) = lin["inputs"]
    on_disk = sorted(p for p in folder_data.rglob("*") if p.is_file())
    assert data["kind"] == "folder" and data["count"] == len(on_disk) == 26
    assert data["files"] == {p.relative_to(folder_data).as_posix(): sha(p) for p in on_disk}
    listing = "".join(f"{sha(p)}  {p.relative_to(folder_data).as_posix()}\n" for p in on_disk)
    assert data["sha256"] == hashlib.sha256(listing.encode()).hexdigest()

    samples = lin["samples"]["data"]
    assert samples["root"] == str(folder_data) and samples["unused"] == 0
    decodable = {n for n in data["files"] if n != "cat/broken.png"}
    assert_partition(samples, decodable)
    assert samples["dropped"] == ["dog/copy.png"]
    assert sorted(samples["train"]) == sorted(Path(s).relative_to(folder_data).as_posix() for s in splits.train.sources)
    rules = {(d["action"], d["rule"]) for d in lin["cleaning"]["decisions"]}
    assert rules == {("skip", "unreadable"), ("drop", "exact_duplicate")}
    assert lin["cleaning"]["policy"]["duplicates"] == "drop_exact"
    assert lin["counts"] == {"train": 14, "val": 5, "test": 5, "dropped": 1}
    json.dumps(lin)  # plain JSON throughout


def test_file_hashes_are_cached_until_a_file_changes(folder_data: Path, monkeypatch) -> None:
    first = folder_hashes(folder_data)

    def no_reading(path):
        raise AssertionError(f"{path} read again")

    monkeypatch.setattr(lineage_mod, "sha256_file", no_reading)
    assert folder_hashes(folder_data) == first
    monkeypatch.undo()
    target = folder_data / "cat" / "000.png"
    target.write_bytes(target.read_bytes() + b"\0")  # another size: another cache key
    again = folder_hashes(folder_data)
    assert again["cat/000.png"] == sha(target) != first["cat/000.png"]
    assert ({k: v for k, v in again.items() if k != "cat/000.png"}
            == {k: v for k, v in first.items() if k != "cat/000.png"})
    assert listing_digest(again) != listing_digest(first)


def test_a_fixed_test_file_and_unused_samples(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "train.npz", x=rng.normal(size=(300, 5)), y=np.arange(300) % 3)
    np.savez(tmp_path / "test.npz", x=rng.normal(size=(30, 5)), y=np.arange(30) % 3)
    spec = DatasetSpec(source="npz", path=tmp_path / "train.npz", max_samples=200,
                       test=SourceSpec(source="npz", path=tmp_path / "test.npz"))
    splits = prepare_data(spec)
    lin = build_lineage(spec, splits, "v")
    data, test = lin["inputs"]
    assert (data["role"], data["kind"], data["sha256"]) == ("data", "file", sha(tmp_path / "train.npz"))
    assert (test["role"], test["sha256"]) == ("test", sha(tmp_path / "test.npz"))
    samples = lin["samples"]
    assert samples["data"]["unused"] == 100 and "test" not in samples["data"]
    assert len(samples["data"]["train"]) + len(samples["data"]["val"]) == 200
    assert samples["test"]["test"] == [f"test.npz[{i}]" for i in range(30)]
    assert_partition(samples["data"], set(samples["data"]["train"]) | set(samples["data"]["val"]), ("train", "val"))


def test_the_lineage_of_many_samples_stays_small(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "big.npz", x=rng.normal(size=(20_000, 4)).astype(np.float32), y=np.arange(20_000) % 10)
    spec = DatasetSpec(source="npz", path=tmp_path / "big.npz")
    size = len(json.dumps(build_lineage(spec, prepare_data(spec), "v"), indent=2))
    assert size < 30 * 20_000  # bytes: one short name per sample, listed once


def test_the_run_directory_and_both_bundles_carry_the_lineage(tiny_run, cnn_bundle) -> None:
    from practica.bundle.manifest import verify_manifest

    run_lin = json.loads((tiny_run.run_dir / "data" / "lineage.json").read_text())
    splits = tiny_run.splits
    assert run_lin["fingerprint"] == splits.fingerprint and run_lin["code_version"] == tiny_run.code_version
    assert run_lin["run_id"] == tiny_run.run_id and run_lin["seed"] == splits.seed
    (data,) = run_lin["inputs"]
    assert data["source"] == "digits" and data["sha256"] == sha(Path(data["path"]))
    samples = run_lin["samples"]["data"]
    every = {f"digits[{i}]" for i in range(1797)}
    listed = [n for p in ("train", "val", "test", "dropped") for n in samples[p]]
    assert len(listed) == len(set(listed)) == 400 and set(listed) <= every and samples["unused"] == 1397
    assert sorted(samples["test"]) == sorted(splits.test.sources)

    for bundle in (tiny_run.bundle, cnn_bundle):
        assert "lineage.json" in verify_manifest(bundle)
        bundle_lin = json.loads((bundle / "lineage.json").read_text())
        assert bundle_lin == run_lin
        card = json.loads((bundle / "bundle.json").read_text())
        assert card["lineage"]["file"] == "lineage.json"
