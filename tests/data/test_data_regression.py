"""Regression data: the diabetes source, numeric targets from .npy and JSON, splits stratified on the
target's quantiles, cleaning of identical rows with different targets, and the target's hygiene check."""

from __future__ import annotations

import json

import numpy as np
import pytest

from practica.config.schema import CleanSpec, DatasetSpec
from practica.data import prepare_data
from practica.data.duplicates.checks import check_data
from practica.data.duplicates.clean import clean
from practica.data.records import Dataset
from practica.data.sources.load import load_source
from practica.data.sources.targets import resolve_task, target_bins
from practica.errors import DataError


def test_diabetes_is_a_bundled_regression_set():
    data = load_source(DatasetSpec(source="diabetes"))
    assert data.task == "regression" and data.classes == () and data.class_counts() == {}
    assert data.x.shape == (442, 10) and data.x.dtype == np.float32
    assert data.y.dtype == np.float32 and data.y.min() >= 25 and data.y.max() <= 346
    assert data.feature_names[:3] == ("age", "sex", "bmi")


def test_the_split_spans_the_target_range_in_every_part():
    splits = prepare_data(DatasetSpec(source="diabetes", split={"val": 0.2, "test": 0.2}))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (264, 89, 89)
    assert all(s.task == "regression" and s.y.dtype == np.float32 for s in (splits.train, splits.val, splits.test))
    full = np.concatenate([splits.train.y, splits.val.y, splits.test.y])
    deciles = np.quantile(full, np.linspace(0.1, 0.9, 9))
    for part in (splits.val, splits.test):  # stratified on deciles: each part holds about a tenth of each
        share = np.bincount(np.searchsorted(deciles, part.y), minlength=10) / len(part)
        assert share.min() >= 0.05 and share.max() <= 0.15
    again = prepare_data(DatasetSpec(source="diabetes", split={"val": 0.2, "test": 0.2}))
    assert again.fingerprint == splits.fingerprint


def test_the_fingerprint_sees_the_target_values():
    base = prepare_data(DatasetSpec(source="diabetes"))
    data = load_source(DatasetSpec(source="diabetes"))
    shifted = Dataset("diabetes", data.x, data.y + 0.25, (), data.sources, task="regression")
    from practica.data.splits.split import make_splits

    assert make_splits(shifted, DatasetSpec(source="diabetes"), None).fingerprint != base.fingerprint


def test_npy_with_task_regression_reads_float_targets(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 3)).astype(np.float32), rng.normal(size=60) * 10 + 0.5
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    spec = DatasetSpec(source="npy", path=tmp_path / "x.npy", labels=tmp_path / "y.npy", task="regression")
    data = load_source(spec)
    assert data.task == "regression" and np.allclose(data.y, y.astype(np.float32))
    splits = prepare_data(spec)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 60


def test_npy_regression_refuses_text_targets(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 2), np.float32))
    np.save(tmp_path / "y.npy", np.array(["a", "b", "c", "d"]))
    spec = DatasetSpec(source="npy", path=tmp_path / "x.npy", labels=tmp_path / "y.npy", task="regression")
    with pytest.raises(DataError, match="task: regression needs numbers"):
        load_source(spec)


def test_json_records_with_task_regression(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps({"features": [i, i * 2.0], "target": 1.5 * i + 0.25}) for i in range(40)))
    data = load_source(DatasetSpec(source="json", path=path, task="regression"))
    assert data.task == "regression" and data.y[3] == pytest.approx(4.75)


def test_resolve_task_refuses_names_as_numbers():
    data = Dataset("d", np.zeros((2, 1), np.float32), np.array([0, 1]), ("cat", "dog"))
    with pytest.raises(DataError, match="labels are not all numbers"):
        resolve_task(data, "regression")


def test_target_bins_are_quantiles_without_empty_bins():
    y = np.r_[np.zeros(50), np.arange(150.0)]  # a heavy tie at 0
    bins = target_bins(y)
    assert bins.min() == 0 and len(np.unique(bins)) == bins.max() + 1
    assert len(np.unique(bins)) >= 5


def _table(y: list[float]) -> Dataset:
    x = np.array([[1.0, 2.0], [1.0, 2.0], [3.0, 4.0], [3.0, 4.0], [5.0, 6.0]], np.float32)
    return Dataset("t", x, np.array(y, np.float32), (), tuple(f"t[{i}]" for i in range(5)), task="regression")


def test_identical_rows_with_the_same_target_are_duplicates():
    out = clean(_table([1.0, 1.0, 2.0, 3.0, 4.0]), CleanSpec(max_drop=1.0))  # 1 of 5: beyond the 2% guard
    assert 1 not in out.keep.tolist()
    dup = next(d for d in out.decisions if d.rule == "exact_duplicate")
    assert "also labelled 1" in dup.reason


def test_identical_rows_with_different_targets_are_conflicts_under_the_policy():
    dropped = clean(_table([1.0, 1.0, 2.0, 3.0, 4.0]), CleanSpec(conflicting_labels="drop", max_drop=1.0))
    conflict = next(d for d in dropped.decisions if d.rule == "conflicting_labels")
    assert conflict.action == "drop" and "with targets 2 (1), 3 (1)" in conflict.reason
    assert 2 not in dropped.keep.tolist() and 3 not in dropped.keep.tolist()
    kept = clean(_table([1.0, 1.0, 2.0, 3.0, 4.0]), CleanSpec(conflicting_labels="keep", max_drop=1.0))
    assert {2, 3} <= set(kept.keep.tolist())
    assert kept.groups[2] == kept.groups[3]  # kept together on one side of every split


def test_the_target_check_replaces_class_balance_and_warns_on_skew():
    rng = np.random.default_rng(0)
    skewed = Dataset("s", rng.normal(size=(300, 2)).astype(np.float32),
                     rng.lognormal(0, 1.0, 300).astype(np.float32), (), task="regression")
    report = check_data({"train": skewed, "test": skewed.subset(np.arange(50))})
    names = [c.name for c in report.checks]
    assert "target" in names and "class_balance" not in names
    target = next(c for c in report.checks if c.name == "target")
    assert target.status == "warning" and "skewed" in target.summary and "log-transformed" in target.summary
    assert set(target.counts["train"]) >= {"min", "max", "mean", "std", "quantiles", "skew"}
    report.to_dict()  # serialisable

    calm = Dataset("c", skewed.x, rng.normal(size=300).astype(np.float32), (), task="regression")
    assert next(c for c in check_data({"train": calm}).checks if c.name == "target").status == "ok"
