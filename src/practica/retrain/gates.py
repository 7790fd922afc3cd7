"""The pipeline's two gates: the new data's hygiene, before anything trains on it, and the promotion rule,
after the challenger has been compared with production. Each gives a ``Verdict``: passed or not, one sentence
that says why, and its evidence for the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from practica.retrain.drift import shifts
from practica.retrain.overlap import Overlap, production_overlap
from practica.tasks import get_task
from practica.text import percent, plural, points

if TYPE_CHECKING:
    from practica.bundle.load import Bundle
    from practica.config.schema import DatasetSpec
    from practica.data.duplicates.checks import HygieneReport
    from practica.data.records import Splits
    from practica.retrain.compare import Comparison
    from practica.retrain.config import HygieneGate, PromotionRule


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str  # one sentence: what was found, and (when refused) what to change
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataVerdict(Verdict):
    """The hygiene gate's verdict, with the new test samples the comparison keeps (``keep``: a mask over the
    test split; production's training samples are left out) and the hygiene report it read."""

    keep: np.ndarray | None = None
    report: HygieneReport | None = None


# ------------------------------------------------------------------------------------------- hygiene


def hygiene_gate(splits: Splits, gate: HygieneGate, data: DatasetSpec, production: Bundle | None) -> DataVerdict:
    """Check the new data (loaded and split as the suite will train on it): unreadable files, test samples that
    copy training ones, its classes and inputs against the production model's, the samples production trained
    on (its lineage), and drift against production's training data (its reference.json)."""
    from practica.data.duplicates.checks import check_data

    # The same call as the suite's own hygiene record (cached for large sets): the suite reads this one back.
    report = check_data({"train": splits.train, "val": splits.val, "test": splits.test}, cached=True,
                        index=splits.duplicates)
    evidence: dict[str, Any] = {"samples": {p: len(getattr(splits, p)) for p in ("train", "val", "test")},
                                "warnings": [f"{c.title}: {c.summary}" for c in report.warnings]}
    problems: list[str] = []

    if not get_task(splits.train.task).has_classes:
        problems.append(f"the new data's task is {splits.train.task}; the retrain pipeline compares classifiers "
                        "(per class), so give it classification data")

    unreadable = report.check("unreadable")
    broken = unreadable.count if unreadable else 0
    total = broken + sum(len(getattr(splits, p)) for p in ("train", "val", "test"))
    share = broken / total if total else 0.0
    evidence["broken"] = {"count": broken, "share": round(share, 6), "max": gate.max_broken,
                          "examples": list(unreadable.findings[:10]) if unreadable else []}
    if share > gate.max_broken:
        problems.append(f"{plural(broken, 'file')} of the new data cannot be read ({percent(share)}, above "
                        f"hygiene.max_broken {percent(gate.max_broken)}); fix or remove them, or raise max_broken")

    leaked = _test_leaks(report, len(splits.test))
    evidence["test_leakage"] = {"samples": len(leaked), "share": round(len(leaked) / max(1, len(splits.test)), 6),
                                "max": gate.max_test_leakage, "examples": sorted(leaked)[:10]}
    if len(splits.test) and len(leaked) / len(splits.test) > gate.max_test_leakage:
        problems.append(f"{plural(len(leaked), 'test sample')} of the new data "
                        f"({percent(len(leaked) / len(splits.test))}) copy its train or validation samples "
                        f"(above hygiene.max_test_leakage {percent(gate.max_test_leakage)}), so its test score would "
                        "be inflated; drop the copies (dataset.clean.leaks: drop) or fix the split")

    keep = np.ones(len(splits.test), dtype=bool)
    if production is not None:
        problems += _fits_production(splits, production)
        if not problems:
            overlap = production_overlap(_lineage(production), data, splits.test)
            evidence["production_overlap"] = overlap.to_dict(splits.test)
            keep = _apply_overlap(overlap, gate, keep, problems)
            problems += _drift(splits, production, gate, evidence)
    fresh = int(keep.sum())
    evidence["comparison_samples"] = fresh
    if not problems and production is not None and fresh < gate.min_test_samples:
        problems.append(f"only {plural(fresh, 'fresh test sample')} remain to compare the models on (below "
                        f"hygiene.min_test_samples {gate.min_test_samples}); give more new data or a larger "
                        "split.test")
    if problems:
        message = "the new data were refused: " + "; ".join(problems) + "."
        return DataVerdict(False, message, evidence, keep, report)
    drift = evidence.get("drift", {}).get("largest")
    message = (f"the new data passed: {plural(sum(evidence['samples'].values()), 'sample')}, {broken} unreadable, "
               f"no test leakage" + (f", largest drift PSI {drift['psi']:.3f} ({drift['name']})" if drift else "")
               + (f"; {plural(fresh, 'test sample')} production never trained on" if production is not None else "")
               + ".")
    return DataVerdict(True, message, evidence, keep, report)


def _test_leaks(report: HygieneReport, n_test: int) -> set[str]:
    """The test samples that are exact or near copies of a train or validation sample."""
    leaked: set[str] = set()
    for name in ("exact_across", "near_across"):
        check = report.check(name)
        for pair in check.pairs if check else ():
            if pair.b_part == "test" and pair.a_part != "test":
                leaked.add(pair.b_source)
            elif pair.a_part == "test" and pair.b_part != "test":
                leaked.add(pair.a_source)
    return leaked


def _fits_production(splits: Splits, production: Bundle) -> list[str]:
    problems = []
    classes = splits.classes
    if set(classes) != set(production.classes):
        new = sorted(set(classes) - set(production.classes))
        gone = sorted(set(production.classes) - set(classes))
        problems.append("the new data's classes differ from the production model's ("
                        + "; ".join(filter(None, [f"new: {', '.join(new)}" if new else "",
                                                  f"missing: {', '.join(gone)}" if gone else ""]))
                        + "), so the two cannot be compared class by class; retrain and promote by hand "
                        "(practica registry promote)")
    shape = tuple(splits.test.x.shape[1:])
    if shape != tuple(production.input.shape):
        problems.append(f"the new samples have shape {list(shape)} but the production model takes "
                        f"{list(production.input.shape)}; give the data the production model's image_size and "
                        "channels (or features)")
    return problems


def _lineage(production: Bundle) -> dict | None:
    from practica.bundle.layout import LINEAGE_FILE
    from practica.io import read_json

    path = production.root / LINEAGE_FILE
    try:
        return read_json(path) if path.is_file() else None
    except (OSError, ValueError):
        return None


def _apply_overlap(overlap: Overlap, gate: HygieneGate, keep: np.ndarray, problems: list[str]) -> np.ndarray:
    if not overlap.count:
        return keep
    if gate.production_overlap == "fail":
        problems.append(f"{plural(overlap.count, 'test sample')} of the new data were in the production model's "
                        f"training data (matched by {overlap.method}), which would favour it; set "
                        "hygiene.production_overlap: exclude to compare on the others, or give new test samples")
        return keep
    return keep & ~overlap.mask


def _drift(splits: Splits, production: Bundle, gate: HygieneGate, evidence: dict[str, Any]) -> list[str]:
    try:
        reference = production.reference()
    except (OSError, ValueError):
        evidence["drift"] = {"note": "the production bundle has no readable reference.json: drift not measured"}
        return []
    x = np.concatenate([splits.train.x, splits.val.x, splits.test.x])
    try:
        found = shifts(x, reference, splits.train.feature_names)
    except (KeyError, ValueError) as err:
        evidence["drift"] = {"note": f"drift not measured: {err}"}
        return []
    largest = found[0] if found else None
    evidence["drift"] = {"max_psi": gate.max_psi, "largest": largest.to_dict() if largest else None,
                         "statistics": [s.to_dict() for s in found]}
    if largest is not None and gate.max_psi is not None and largest.psi > gate.max_psi:
        return [f"they have drifted from the production model's training data ({largest.name}: PSI "
                f"{largest.psi:.3f}, above hygiene.max_psi {gate.max_psi:g}); check how they were collected, or "
                "raise max_psi (null: record drift, never refuse) if the shift is real and wanted"]
    return []


# ----------------------------------------------------------------------------------------- promotion


def promotion_verdict(comparison: Comparison, rule: PromotionRule, metric_label: str, share: bool) -> Verdict:
    """Promote only if the challenger gains at least ``rule.min_gain`` on the metric (and, when required, its
    paired interval lies above 0) and no class's recall falls by more than ``rule.max_class_regression``."""
    def amount(d: float) -> str:
        return points(d) if share else f"{d:.4f}"

    reasons = []
    if comparison.gain < rule.min_gain:
        reasons.append(f"its {metric_label} gain is {amount(comparison.gain)}, under promotion.min_gain "
                       f"{amount(rule.min_gain)}")
    if rule.require_significance and not comparison.gain_interval.low > 0:
        reasons.append(f"the gain's {comparison.gain_interval.level:.0%} interval "
                       f"({amount(comparison.gain_interval.low)} to {amount(comparison.gain_interval.high)}) does not "
                       "lie above 0 (promotion.require_significance)")
    worst = sorted((c for c in comparison.classes if c.samples and -c.change > rule.max_class_regression),
                   key=lambda c: c.change)
    if worst:
        listed = ", ".join(f"'{c.name}' {percent(c.production)} → {percent(c.challenger)}" for c in worst[:3])
        reasons.append(f"{plural(len(worst), 'class', 'classes')} regress past promotion.max_class_regression "
                       f"{points(rule.max_class_regression)} ({listed}{', …' if len(worst) > 3 else ''})")
    evidence = {"min_gain": rule.min_gain, "max_class_regression": rule.max_class_regression,
                "require_significance": rule.require_significance, "gain": comparison.gain,
                "regressed_classes": [c.name for c in worst]}
    summary = (f"{metric_label} {_show(comparison.challenger, share)} against production's "
               f"{_show(comparison.production, share)} on {plural(comparison.samples, 'fresh test sample')} "
               f"(gain {amount(comparison.gain)}, {comparison.gain_interval.level:.0%} interval "
               f"{amount(comparison.gain_interval.low)} to {amount(comparison.gain_interval.high)}; "
               f"McNemar p = {comparison.mcnemar_p:.2g})")
    evidence["summary"] = summary
    if reasons:
        return Verdict(False, f"not promoted: {'; and '.join(reasons)}. The challenger's {summary}.", evidence)
    return Verdict(True, f"promoted: the challenger's {summary}, and no class regresses past "
                         f"{points(rule.max_class_regression)}.", evidence)


def _show(value: float, share: bool) -> str:
    return percent(value) if share else f"{value:.4f}"
