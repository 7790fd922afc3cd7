"""Choose the production model by a declared policy, on validation data only.

Failed and diverged runs and those breaking a constraint are out; among the rest, every model
within ``tolerance`` of the best metric is a candidate and the cheapest candidate wins
(``prefer``: p95 latency or size). Every other experiment gets its reason. The test split
is never read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from practica.config.schema import SelectionSpec
from practica.results import Failed
from practica.selection.audit import slice_floor_violation
from practica.selection.records import Decision, Ranked
from practica.tasks import Metric, Task, get_task, owner

if TYPE_CHECKING:
    from practica.results import ExperimentResult, Ok


def _value(result: Ok, metric: Metric) -> float:
    return metric.value(result.evaluation.val)


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
    """``policy.metric`` None: the default of the task the results were evaluated on (the runner
    passes ``policy.for_task(task)``, resolved before any result exists)."""
    task = _task(results, policy)
    metric = task.metric(policy.metric)
    lower_better = not metric.higher_is_better
    out: list[Ranked] = []
    eligible: list[Ok] = []
    for r in results:
        if isinstance(r, Failed):
            out.append(Ranked(r.name, None, "rejected", f"failed: {r.error or 'no evaluation'}"))
        elif r.history is not None and r.history.stop_reason == "diverged":
            out.append(Ranked(r.name, _value(r, metric), "rejected", f"training diverged ({r.history.stop_detail})"))
        elif (why := _violation(r, policy)) is not None:
            out.append(Ranked(r.name, _value(r, metric), "rejected", why))
        elif (why := slice_floor_violation(r, policy.slice_floors)) is not None:
            out.append(Ranked(r.name, _value(r, metric), "rejected", f"performance audit: {why}"))
        else:
            eligible.append(r)

    if not eligible:
        summary = (
            "No experiment satisfies the policy, so none is recommended for production. "
            + " ".join(f"{x.experiment}: {x.reason}." for x in out)
        )
        return Decision(None, metric.name, summary, tuple(out))

    sign = 1 if lower_better else -1
    eligible.sort(key=lambda r: sign * _value(r, metric))
    best = eligible[0]
    best_v = _value(best, metric)
    candidates = [r for r in eligible if abs(_value(r, metric) - best_v) <= policy.tolerance]
    chosen = min(candidates, key=lambda r: (_cost(r, policy.prefer), sign * _value(r, metric)))
    chosen_v = _value(chosen, metric)
    label = metric.label

    ranked: list[Ranked] = []
    if chosen is best:
        runner = next((r for r in eligible if r is not chosen), None)
        reason = f"best {label} ({metric.text(chosen_v)})"
        if runner is not None:
            reason += f", {metric.difference(chosen_v - _value(runner, metric))} ahead of {runner.name}"
        if len(candidates) > 1:
            reason += f"; also the cheapest of the {len(candidates)} within the tolerance"
    else:
        reason = (
            f"{label} {metric.text(chosen_v)} is within the {metric.difference(policy.tolerance)} tolerance of the "
            f"best ({best.name}, {metric.text(best_v)}) and it is cheaper: {_cost_text(chosen, policy.prefer)} "
            f"against {_cost_text(best, policy.prefer)} for {best.name}"
        )
    ranked.append(Ranked(chosen.name, chosen_v, "chosen", reason))
    for r in eligible:
        if r is chosen:
            continue
        v = _value(r, metric)
        if r in candidates:
            why = (
                f"{label} {metric.text(v)} is within the tolerance of the best, but {chosen.name} is cheaper "
                f"({_cost_text(r, policy.prefer)} against {_cost_text(chosen, policy.prefer)})"
            )
        else:
            side = "above" if lower_better else "below"
            why = (f"{label} {metric.text(v)} is {metric.difference(v - chosen_v)} {side} "
                   f"{chosen.name}'s {metric.text(chosen_v)}")
        ranked.append(Ranked(r.name, v, "rejected", why))
    ranked.extend(out)

    test = chosen.evaluation.test
    verdict = chosen.diagnosis.verdict if chosen.diagnosis else "not diagnosed"
    limits = [f"{k} ≤ {v:g}" for k, v in policy.constraints.model_dump().items() if v is not None]
    summary = (
        f"{chosen.name} goes to production: {reason}, among {len(eligible)} eligible experiment"
        f"{'s' if len(eligible) != 1 else ''} of {len(results)}"
        + (f" (constraints: {', '.join(limits)})" if limits else "")
        + f". Its diagnosis is {verdict}; {_cost_text(chosen, 'latency')}, "
        + f"size {_size(chosen.evaluation.cost.size_bytes)}. "
        + f"On the held-out test split it scores {task.test_summary(test)} "
        + "(reported only; the test split played no part in the choice)."
    )
    return Decision(chosen.name, metric.name, summary, tuple(ranked))


def _task(results: Sequence[ExperimentResult], policy: SelectionSpec) -> Task:
    evaluated = [r.evaluation for r in results if not isinstance(r, Failed)]
    if evaluated:
        return get_task(evaluated[0].task)
    task = owner(policy.metric) if policy.metric is not None else None
    if task is None:
        raise ValueError(f"no experiment was evaluated and selection.metric is {policy.metric!r}, so the task is "
                         "unknown: resolve the metric first with policy.for_task(task)")
    return task
