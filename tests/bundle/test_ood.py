"""Out-of-distribution per prediction: the embedding output, ood.json, and what it flags."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from practica.bundle import Inference, load_bundle
from practica.bundle.export import EMBEDDING_TOLERANCE
from practica.bundle.inputs import InputSpec
from practica.bundle.manifest import write_manifest
from practica.bundle.ood import FLAG_RATE, OodScorer, OodStats, fit_ood
from practica.data.sources.tabular import UNKNOWN_CODE, Column, TableSchema
from practica.errors import BundleError


def flag_rate(bundle, x) -> float:
    inference = bundle.infer(x)
    return float(OodScorer.from_bundle(bundle).score(x, inference.embedding).flags.mean())


def shifted(x: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"inverted": 255 - x, "noise": rng.integers(0, 256, x.shape).astype(np.uint8), "zero": np.zeros_like(x)}


def test_the_embedding_output_agrees_with_pytorch(tiny_run, cnn_bundle):
    bundle = load_bundle(cnn_bundle)
    x = tiny_run.splits.test.x
    inference = bundle.infer(x)
    assert isinstance(inference, Inference) and bundle.card["output"]["embedding"] == "embedding"
    np.testing.assert_array_equal(inference.outputs, bundle.predict_proba(x))  # the same graph, one call
    with torch.inference_mode():
        probs, embedding = bundle.torch_model(embedding=True)(torch.from_numpy(x))
    assert inference.embedding.shape == tuple(embedding.shape) and inference.embedding.shape[0] == len(x)
    np.testing.assert_allclose(inference.embedding, embedding.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(inference.outputs, probs.numpy(), atol=1e-4)
    assert bundle.card["onnx_parity"]["embedding_max_rel_diff"] <= EMBEDDING_TOLERANCE


def test_a_baseline_has_no_embedding_and_scores_its_inputs(tiny_run, baseline_bundle):
    bundle = load_bundle(baseline_bundle)
    assert bundle.infer(tiny_run.splits.test.x[:3]).embedding is None
    assert "embedding" not in bundle.card["output"]
    stats = OodScorer.from_bundle(bundle).stats
    assert stats.distance.source == "input" and "scaled pixels" in stats.distance.description


@pytest.mark.parametrize("which", ["cnn", "baseline"])
def test_about_one_percent_of_validation_is_flagged(tiny_run, cnn_bundle, baseline_bundle, which):
    bundle = load_bundle(cnn_bundle if which == "cnn" else baseline_bundle)
    val = tiny_run.splits.val.x
    rate = flag_rate(bundle, val)
    assert rate == pytest.approx(bundle.card["ood"]["val_flag_rate"])
    # 80 validation inputs: the 99% quantile flags one or two of them
    assert 0 < rate <= FLAG_RATE + 2 / len(val)
    assert flag_rate(bundle, tiny_run.splits.test.x) <= 0.1  # held-in test inputs: rarely


@pytest.mark.parametrize("which", ["cnn", "baseline"])
def test_shifted_inputs_are_flagged_far_more_often_than_held_in_ones(tiny_run, cnn_bundle, baseline_bundle, which):
    bundle = load_bundle(cnn_bundle if which == "cnn" else baseline_bundle)
    x = tiny_run.splits.test.x
    held_in = flag_rate(bundle, x)
    for name, changed in shifted(x).items():
        assert flag_rate(bundle, changed) >= max(0.5, 5 * held_in), name


def test_a_flag_says_why(tiny_run, cnn_bundle):
    bundle = load_bundle(cnn_bundle)
    zero = np.zeros((1, *bundle.input.shape), np.uint8)
    result = OodScorer.from_bundle(bundle).score(zero, bundle.infer(zero).embedding)
    assert result.flags.tolist() == [True] and result.scores[0] > 1
    assert "penultimate-layer features are farther from every class" in result.reasons[0]
    assert result.record(0) == {"score": float(result.scores[0]), "flag": True, "reason": result.reasons[0]}


def test_a_network_score_needs_the_embedding(cnn_bundle):
    bundle = load_bundle(cnn_bundle)
    with pytest.raises(BundleError, match="needs the model's embedding"):
        OodScorer.from_bundle(bundle).score(np.zeros((1, *bundle.input.shape), np.uint8), None)


def test_ood_json_is_in_the_manifest_and_the_card_and_holds_no_training_sample(tiny_run, cnn_bundle):
    bundle = load_bundle(cnn_bundle)
    assert "ood.json" in bundle.sha256
    card = bundle.card["ood"]
    assert "Mahalanobis" in card["method"] and card["threshold"] > 0
    assert card["fitted_on"] == {"train": len(tiny_run.splits.train), "val": len(tiny_run.splits.val)}
    stats = OodScorer.from_bundle(bundle).stats
    assert stats.distance.means.shape[0] == len(bundle.classes)  # summaries: a mean per class
    assert (cnn_bundle / "ood.json").stat().st_size < 200_000


def test_an_old_bundle_without_ood_statistics_still_loads_and_infers(cnn_bundle, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(cnn_bundle, old)
    (old / "ood.json").unlink()
    card = json.loads((old / "bundle.json").read_text())
    del card["ood"], card["output"]["embedding"]
    (old / "bundle.json").write_text(json.dumps(card))
    write_manifest(old)
    bundle = load_bundle(old)
    assert OodScorer.from_bundle(bundle) is None
    x = np.zeros((2, *bundle.input.shape), np.uint8)
    assert bundle.infer(x).embedding is None and bundle.infer(x).outputs.shape == (2, len(bundle.classes))


def test_a_card_naming_an_embedding_the_model_lacks_is_refused(cnn_bundle, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(cnn_bundle, bad)
    card = json.loads((bad / "bundle.json").read_text())
    card["output"]["embedding"] = "features"
    (bad / "bundle.json").write_text(json.dumps(card))
    write_manifest(bad)
    with pytest.raises(BundleError, match="output.embedding 'features' is not an output"):
        load_bundle(bad).infer(np.zeros((1, 8, 8, 1), np.uint8))


def test_a_damaged_ood_json_is_refused_with_the_fix(cnn_bundle, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(cnn_bundle, bad)
    (bad / "ood.json").write_text('{"format": "practica-ood"}')
    write_manifest(bad)
    with pytest.raises(BundleError, match="not valid out-of-distribution statistics.*practica export"):
        OodScorer.from_bundle(load_bundle(bad))


# --- tables: range and category checks, on synthetic rows -----------------------------------------------


def table_stats() -> tuple[OodStats, InputSpec, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 600
    mass, length = rng.normal(4200, 500, n), rng.normal(44, 5, n)
    island = rng.integers(0, 3, n).astype(np.float64)
    x = np.stack([mass, length, island], 1).astype(np.float32)
    x[::50, 1] = np.nan  # missing values are part of the data
    table = TableSchema((Column("body_mass_g", "numeric"), Column("bill_length_mm", "numeric"),
                         Column("island", "categorical", ("Biscoe", "Dream", "Torgersen"))), "species")
    spec = InputSpec("features", (3,), table.names, table)
    y = (mass > 4200).astype(np.int64)
    stats = fit_ood(train_x=x[:400], train_y=y[:400], val_x=x[400:], spec=spec, embed=None)
    return stats, spec, x[400:]


def test_a_table_row_out_of_range_or_of_an_unseen_category_is_flagged_naming_the_column():
    stats, _, held_in = table_stats()
    scorer = OodScorer(stats)
    assert [c.name for c in stats.ranges] == ["body_mass_g", "bill_length_mm"]
    assert [c.name for c in stats.categories] == ["island"]
    rows = np.array([[0, 0, 0], [4200, 44, UNKNOWN_CODE], [4200, 440, 1], [4200, np.nan, 1], [4300, 45, 2]],
                    dtype=np.float32)
    result = scorer.score(rows, None)
    assert result.flags.tolist() == [True, True, True, False, False]
    assert "'body_mass_g' = 0 is below the training range" in result.reasons[0]
    assert "'bill_length_mm' = 0 is below" in result.reasons[0]
    assert result.reasons[1] == "'island' is a category the training data never had"
    assert result.reasons[2].startswith("'bill_length_mm' = 440 is above the training range")
    assert result.reasons[3] is None and result.reasons[4] is None  # missing is not unusual
    assert scorer.score(held_in, None).flags.mean() <= 0.05


def test_table_statistics_round_trip_through_json():
    stats, _, held_in = table_stats()
    again = OodStats.model_validate(json.loads(json.dumps(stats.model_dump(mode="json"))))
    np.testing.assert_allclose(OodScorer(again).score(held_in, None).scores,
                               OodScorer(stats).score(held_in, None).scores, rtol=1e-5)
    assert stats.val_flag_rate <= 0.05 and stats.distance.columns == [0, 1]


# --- the penguins example end to end (a real table bundle) -------------------------------------------


@pytest.fixture(scope="module")
def penguin_bundles(tmp_path_factory):
    import yaml

    from practica.config.load import suite_from_dict
    from practica.pipeline.export import export_run
    from practica.pipeline.suite import run_suite

    examples = Path(str(resources.files("practica") / "examples"))
    raw = yaml.safe_load((examples / "penguins.yaml").read_text())
    raw["dataset"]["path"] = str(examples / "penguins.csv")
    raw["defaults"]["train"]["epochs"] = 8
    raw["evaluation"] = {"latency_samples": 5, "throughput_batch": 32}
    raw["experiments"] = [e for e in raw["experiments"] if e["name"] in ("dense", "logistic-regression")]
    root = tmp_path_factory.mktemp("penguins")
    mp = pytest.MonkeyPatch()
    mp.setenv("PRACTICA_CACHE_DIR", str(root / "cache"))
    try:
        run = run_suite(suite_from_dict(raw), runs_root=root / "runs")
        return run, {name: export_run(run.run_dir, name, root / name) for name in ("dense", "logistic-regression")}
    finally:
        mp.undo()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dense", "logistic-regression"])
def test_an_all_zero_penguin_is_flagged_with_the_columns_that_say_so(penguin_bundles, name):
    run, bundles = penguin_bundles
    bundle = load_bundle(bundles[name])
    scorer = OodScorer.from_bundle(bundle)
    zero = np.zeros((1, bundle.input.shape[0]), np.float32)
    result = scorer.score(zero, bundle.infer(zero).embedding)
    assert result.flags.tolist() == [True]
    assert "'body_mass_g' = 0 is below the training range" in result.reasons[0]
    assert "'flipper_length_mm' = 0 is below" in result.reasons[0]
    x = run.splits.test.x
    assert scorer.score(x, bundle.infer(x).embedding).flags.mean() <= 0.1
