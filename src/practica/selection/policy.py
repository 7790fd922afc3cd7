"""Choose the production model by a declared policy, on validation data only.

Failed and diverged runs and those breaking a constraint are out; among the rest, every model
within ``tolerance`` of the best metric is a candidate and the cheapest candidate wins
(``prefer``: p95 latency or size). Every other experiment gets its reason. The test split
is never read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from practica.config.schema import LOWER_IS_BETTER, REGRESSION_METRICS, SelectionSpec
from practica.results import Failed
from practica.selection.records import Decision, Ranked

if TYPE_CHECKING:
    from practica.results import ExperimentResult, Ok


def _value(result: Ok, metric: str) -> float:
    val = result.evaluation.val
    if metric in REGRESSION_METRICS:
        reg = val.regression
        return float("nan") if reg is None else {"val_r2": reg.r2, "val_rmse": reg.rmse, "val_mae": reg.mae}[metric]
    return {"val_accuracy": val.accuracy, "val_macro_f1": val.macro_f1, "val_loss": val.loss}[metric]


def _fmt(metric: str, v: float) -> str:
    if metric in ("val_rmse", "val_mae"):
        return f"{v:.4g}"
    if metric == "val_r2":
        return f"{v:.3f}"
    return f"{v:.4f}" if metric == "val_loss" else f"{100 * v:.1f}%"


def _gap(metric: str, a: float, b: float) -> str:
    if metric in REGRESSION_METRICS:
        return _fmt(metric, abs(a - b))
    return f"{abs(a - b):.4f}" if metric == "val_loss" else f"{100 * abs(a - b):.1f} points"


def _label(metric: str) -> str:
    return (metric.replace("val_", "validation ").replace("macro_f1", "macro-F1").replace("r2", "R²")
            .replace("rmse", "RMSE").replace("mae", "MAE"))


def _cost(result: Ok, prefer: str) -> float:
    cost = result.evaluation.cost
    return cost.latency_p95_ms if prefer == "latency" else cost.size_bytes


def _size(n_bytes: int) -> str:
    """4_912_000 → '4.91 MB'; under 0.1 MB in kB (493 → '0.493 kB'), never '0.000493 MB'."""
    return f"{n_bytes / 1e3:.3g} kB" if n_bytes < 1e5 else f"{n_bytes / 1e6:.3g} MB"


def _cost_text(result: Ok, prefer: str) -> str:
    cost = result.evaluation.cost
    return f"p95 latency {cost.latency_p95_ms:.2g} ms" if prefer == "latency" else f"size {_size(cost.size_bytes)}"


def _violation(result: Ok, policy: SelectionSpec) -> str | None:
    cost, limits = result.evaluation.cost, policy.constraints
    if limits.latency_p95_ms is not None and cost.latency_p95_ms > limits.latency_p95_ms:
        return f"p95 latency {cost.latency_p95_ms:.3g} ms exceeds the {limits.latency_p95_ms:g} ms limit"
    if limits.size_mb is not None and cost.size_mb > limits.size_mb:
        return f"size {cost.size_mb:.3g} MB exceeds the {limits.size_mb:g} MB limit"
    if limits.params is not None and cost.params > limits.params:
        return f"{cost.params:,} parameters exceed the {limits.params:,} limit"
    return None


def select(results: Sequence[ExperimentResult], policy: SelectionSpec) -> Decision:
    """``policy.metric`` None (a suite whose task only its data tells): the classification default; the
    runner passes ``policy.for_task(task)``."""
    policy = policy.for_task("classification")
    metric = policy.metric
    lower_better = metric in LOWER_IS_BETTER
    out: list[Ranked] = []
    eligible: list[Ok] = []
    for r in results:
        if isinstance(r, Failed):
            out.append(Ranked(r.name, None, "rejected", f"failed: {r.error or 'no evaluation'}"))
        elif r.history is not None and r.history.stop_reason == "diverged":
            out.append(Ranked(r.name, _value(r, metric), "rejected", f"training diverged ({r.history.stop_detail})"))
        elif (why := _violation(r, policy)) is not None:
            out.append(Ranked(r.name, _value(r, metric), "rejected", why))
        else:
            eligible.append(r)

    if not eligible:
        summary = (
            "No experiment satisfies the policy, so none is recommended for production. "
            + " ".join(f"{x.experiment}: {x.reason}." for x in out)
        )
        return Decision(None, metric, summary, tuple(out))

    sign = 1 if lower_better else -1
    eligible.sort(key=lambda r: sign * _value(r, metric))
    best = eligible[0]
    best_v = _value(best, metric)
    candidates = [r for r in eligible if abs(_value(r, metric) - best_v) <= policy.tolerance]
    chosen = min(candidates, key=lambda r: (_cost(r, policy.prefer), sign * _value(r, metric)))
    chosen_v = _value(chosen, metric)
    label = _label(metric)

    ranked: list[Ranked] = []
    if chosen is best:
        runner = next((r for r in eligible if r is not chosen), None)
        reason = f"best {label} ({_fmt(metric, chosen_v)})"
        if runner is not None:
            reason += f", {_gap(metric, chosen_v, _value(runner, metric))} ahead of {runner.name}"
        if len(candidates) > 1:
            reason += f"; also the cheapest of the {len(candidates)} within the tolerance"
    else:
        reason = (
            f"{label} {_fmt(metric, chosen_v)} is within the {_gap(metric, policy.tolerance, 0)} tolerance of the best "
            f"({best.name}, {_fmt(metric, best_v)}) and it is cheaper: {_cost_text(chosen, policy.prefer)} "
            f"against {_cost_text(best, policy.prefer)} for {best.name}"
        )
    ranked.append(Ranked(chosen.name, chosen_v, "chosen", reason))
    for r in eligible:
        if r is chosen:
            continue
        v = _value(r, metric)
        if r in candidates:
            why = (
                f"{label} {_fmt(metric, v)} is within the tolerance of the best, but {chosen.name} is cheaper "
                f"({_cost_text(r, policy.prefer)} against {_cost_text(chosen, policy.prefer)})"
            )
        else:
            why = f"{label} {_fmt(metric, v)} is {_gap(metric, v, chosen_v)} {'above' if lower_better else 'below'} {chosen.name}'s {_fmt(metric, chosen_v)}"
        ranked.append(Ranked(r.name, v, "rejected", why))
    ranked.extend(out)

    test = chosen.evaluation.test
    verdict = chosen.diagnosis.verdict if chosen.diagnosis else "not diagnosed"
    limits = [f"{k} ≤ {v:g}" for k, v in policy.constraints.model_dump().items() if v is not None]
    summary = (
        f"{chosen.name} goes to production: {reason}, among {len(eligible)} eligible experiment"
        f"{'s' if len(eligible) != 1 else ''} of {len(results)}"
        + (f" (constraints: {', '.join(limits)})" if limits else "")
        + f". Its diagnosis is {verdict}; {_cost_text(chosen, 'latency')}, size {_size(chosen.evaluation.cost.size_bytes)}. "
        + (f"On the held-out test split it scores R² {test.regression.r2:.3f}, RMSE {test.regression.rmse:.4g}, "
           f"MAE {test.regression.mae:.4g} " if test.regression else
           f"On the held-out test split it scores {100 * test.accuracy:.1f}% accuracy ")
        + "(reported only; the test split played no part in the choice)."
    )
    return Decision(chosen.name, metric, summary, tuple(ranked))
