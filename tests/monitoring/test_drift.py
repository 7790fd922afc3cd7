"""Drift against a reference made as a bundle makes it (``bundle.reference``): quiet on inputs drawn like
the training data, loud on shifted ones; every check says its value, threshold and verdict."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris

from practica.bundle.reference import input_reference, output_reference
from practica.monitoring import DriftReport, PredictionRow, Thresholds, drift_report
from practica.monitoring.drift import PSI_FLOOR, psi
from practica.monitoring.summaries import input_summaries


def rows_of(x: np.ndarray, labels=None, confidences=None, ood=None) -> list[PredictionRow]:
    summaries = input_summaries(x)
    n = len(summaries)
    labels = labels if labels is not None else ["a"] * n
    confidences = confidences if confidences is not None else [0.9] * n
    flags = ood if ood is not None else [None] * n
    return [PredictionRow(time=float(i), model_version="v", request_id=str(i), input_summary=s, output=label,
                          confidence=c, ood_flag=f, ood_score=None if f is None else float(f), latency_ms=1.0)
            for i, (s, label, c, f) in enumerate(zip(summaries, labels, confidences, flags, strict=True))]


@pytest.fixture(scope="module")
def iris():
    x = load_iris().data.astype(np.float32)
    idx = np.random.default_rng(0).permutation(len(x))
    return x[idx[:100]], x[idx[100:]]


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    x = np.round(d.images * 255 / 16).astype(np.uint8)[..., None]
    idx = np.random.default_rng(0).permutation(len(x))
    return x[idx[:1200]], x[idx[1200:]]


def by_id(report: DriftReport) -> dict:
    return {c.id: c for c in report.checks}


def test_table_quiet_on_held_in_rows_loud_on_a_shifted_feature(iris):
    train, held_in = iris
    reference = {"inputs": input_reference(train)}
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    quiet = drift_report(rows_of(held_in), reference, feature_names=names)
    assert quiet.rows == 50 and not quiet.alerts, [c.sentence for c in quiet.alerts]
    assert {"psi:petal_length", "ks:petal_length"} <= set(by_id(quiet))

    shifted = held_in.copy()
    shifted[:, 2] += 3.0  # petal length 3 cm longer: most values beyond the training range
    loud = drift_report(rows_of(shifted), reference, feature_names=names)
    assert {c.id for c in loud.alerts} == {"psi:petal_length", "ks:petal_length"}
    psi = by_id(loud)["psi:petal_length"]
    assert psi.value > psi.threshold == 0.25 and psi.feature == "petal_length"
    assert "outside the training range" in psi.sentence and "feature 'petal_length'" in psi.sentence
    assert loud.model_dump(mode="json")["checks"]  # JSON-able


def test_images_quiet_on_held_in_loud_when_inverted_or_brightened(digits):
    train, held_in = digits
    reference = {"inputs": input_reference(train)}
    quiet = drift_report(rows_of(held_in), reference)
    assert quiet.rows == 597 and not quiet.alerts, [c.sentence for c in quiet.alerts]
    assert {"psi:brightness", "ks:brightness", "psi:contrast", "ks:contrast", "channel_mean:0"} == set(by_id(quiet))

    inverted = drift_report(rows_of(255 - held_in), reference)
    assert {"psi:brightness", "ks:brightness", "channel_mean:0"} <= {c.id for c in inverted.alerts}
    brighter = np.clip(held_in.astype(int) + 60, 0, 255).astype(np.uint8)
    bright = drift_report(rows_of(brighter), reference)
    assert {"psi:brightness", "channel_mean:0"} <= {c.id for c in bright.alerts}
    assert "brighter by" in by_id(bright)["channel_mean:0"].sentence


def test_a_reference_without_contrast_is_said_not_failed(digits):
    train, held_in = digits
    reference = {"inputs": {k: v for k, v in input_reference(train).items() if k != "image_contrast_quantiles"}}
    report = drift_report(rows_of(held_in), reference)
    assert "psi:contrast" not in by_id(report)
    assert any("no image contrast statistics" in n for n in report.notes)


def test_chi_square_fires_on_a_skewed_class_mix():
    classes = ("a", "b", "c")
    proba = np.eye(3)[np.arange(300) % 3] * 0.8 + 0.2 / 3  # balanced predictions on validation
    reference = {"outputs": output_reference(proba, classes)}
    x = np.zeros((300, 2), dtype=np.float32)
    balanced = drift_report(rows_of(x, labels=[classes[i % 3] for i in range(300)], confidences=[0.87] * 300),
                            reference)
    assert not balanced.alerts
    assert balanced.class_shares == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    skewed_labels = ["a"] * 200 + ["b"] * 60 + ["c"] * 40
    skewed = drift_report(rows_of(x, labels=skewed_labels, confidences=[0.87] * 300), reference)
    check = by_id(skewed)["classes"]
    assert check.alert and check.p_value < 1e-6 and "'a', 66.7% of answers against 33.3%" in check.sentence


def test_confidence_drop_alerts():
    proba = np.full((200, 2), 0.05)
    proba[:, 0] = 0.95
    reference = {"outputs": output_reference(proba, ("yes", "no"))}
    x = np.zeros((200, 1), dtype=np.float32)
    report = drift_report(rows_of(x, labels=["yes"] * 200, confidences=[0.55] * 200), reference)
    assert {"psi:confidence", "confidence_mean"} <= {c.id for c in report.alerts}
    assert report.confidence_mean == pytest.approx(0.55)


def test_ood_flag_rate_against_the_calibrated_share():
    x = np.zeros((500, 1), dtype=np.float32)
    calm = drift_report(rows_of(x, ood=[i % 100 == 0 for i in range(500)]), {})  # 1%
    assert not calm.alerts and calm.ood_flag_rate == pytest.approx(0.01) and calm.ood_rows == 500
    flagged = drift_report(rows_of(x, ood=[i % 5 == 0 for i in range(500)]), {"ood": {"flag_rate": 0.01}})
    assert [c.id for c in flagged.alerts] == ["ood_flag_rate"] and "20.0% of inputs" in flagged.alerts[0].sentence
    # no OOD statistics in the bundle yet (older bundles): no OOD check, nothing fails
    none = drift_report(rows_of(x), {})
    assert none.ood_rows == 0 and none.ood_flag_rate is None and not none.checks


def test_the_window_and_the_rows_it_takes(iris):
    train, held_in = iris
    reference = {"inputs": input_reference(train)}
    rows = rows_of(held_in)
    shadow = [r.model_copy(update={"role": "shadow"}) for r in rows]
    failed = [r.model_copy(update={"error": "bad input"}) for r in rows]
    report = drift_report(rows + shadow + failed, reference, window=20)
    assert report.rows == 20 and report.last_time == rows[-1].time  # the primary model's answered inputs only


def test_too_few_rows_raise_no_alert(iris):
    train, held_in = iris
    shifted = held_in[:10].copy()
    shifted[:, 0] += 10
    report = drift_report(rows_of(shifted), {"inputs": input_reference(train)})
    assert not report.alerts and any("fewer than 30" in n for n in report.notes)
    assert drift_report(rows_of(shifted), {"inputs": input_reference(train)}, thresholds=Thresholds(min_rows=5)).alerts


def test_thresholds_are_checked():
    with pytest.raises(ValueError, match="psi"):
        Thresholds(psi=-1)
    with pytest.raises(ValueError, match="window must be at least 1"):
        drift_report([], {}, window=0)


def test_a_channel_mean_past_its_threshold_in_a_small_window_is_chance_until_the_window_is_large():
    # flat grey images: an image's mean is its pixels' value, so the pixels' spread is the means' spread
    rng = np.random.default_rng(0)
    train = np.broadcast_to(rng.integers(0, 256, 2000).astype(np.uint8)[:, None, None, None], (2000, 4, 4, 1))
    reference = {"inputs": input_reference(np.ascontiguousarray(train))}
    target = (reference["inputs"]["channel_mean"][0] + 0.07) * 255  # 0.07 brighter: past the 0.05 threshold

    def window(n: int) -> list[PredictionRow]:
        levels = rng.integers(0, 256, n).astype(float)
        levels = np.clip(np.rint(levels - levels.mean() + target), 0, 255).astype(np.uint8)
        return rows_of(np.ascontiguousarray(np.broadcast_to(levels[:, None, None, None], (n, 4, 4, 1))))

    small = by_id(drift_report(window(30), reference))["channel_mean:0"]
    assert small.value > small.threshold == 0.05 and small.p_value > 0.001 and not small.alert
    assert "within chance for so few inputs" in small.sentence
    large = by_id(drift_report(window(1000), reference))["channel_mean:0"]
    assert large.value > 0.05 and large.p_value < 0.001 and large.alert
    assert "brighter by" in large.sentence and "more than the 0.05 allowed" in large.sentence


def test_psi_is_zero_for_the_same_shares_and_grows_with_the_shift():
    ref = np.array([0.25, 0.25, 0.25, 0.25])
    assert psi(ref, ref) == pytest.approx(0.0)
    small, large = psi(ref, np.array([0.3, 0.2, 0.25, 0.25])), psi(ref, np.array([0.7, 0.1, 0.1, 0.1]))
    assert 0 < small < 0.1 < 0.25 < large


def test_psi_floors_an_empty_bin_at_the_floor_asked_for():
    ref, new = np.array([0.0, 1.0]), np.array([0.5, 0.5])
    assert np.isfinite(psi(ref, new))
    assert psi(ref, new, floor=1e-4) > psi(ref, new) == pytest.approx(psi(np.array([PSI_FLOOR, 1.0]), new))
