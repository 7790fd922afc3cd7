"""Choose the production model by a declared policy, on validation data only, comparing with the noise.

Failed and diverged runs and those breaking a constraint are out (the rejection chain in ``select``).
Among the rest:

1. **Within tolerance.** The best is the best validation value. Every other model within ``tolerance`` of
   it (the measured gap) is a candidate. Each gap is reported with its paired bootstrap interval (same
   resamples of the validation samples) and, for two classifiers, McNemar's exact test, so a reader sees
   whether the validation set can tell the two apart. (Admitting every model not worse *beyond noise*
   was tried: on digits' 270 validation images it let a model 1.9 points worse win on speed.)
2. **Cheaper beyond noise.** Among the candidates, those not costlier than the cheapest beyond noise are
   tied on cost (``prefer`` latency: the median latencies' intervals overlap, or differ by less than
   ``latency_margin``; size: within 1%). Two experiments that are the **same model** (the same output on
   every validation sample, to 1e-6, and the same parameter count and size: a declared experiment and its
   tuned twin whose best trial was the declared one) are tied on cost whatever their measured latencies,
   which are one model timed twice, at different moments, so they differ by the machine's noise alone.
   The tie-breaks below then keep the earlier in the suite, and it stands for both in every comparison:
   a later copy of a model changes no decision.
3. **Tie-breaks**, in order: fewer parameters (the simpler model), the better validation value, the
   earlier in the suite. The reason says when it was a tie, and which break decided; a copy's reason
   says it is the same model as the one kept, and on what evidence.

Every other experiment gets its reason, with its interval and the paired difference (McNemar's exact
test for two classifiers). The test split is never read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from practica.config.schema import SelectionSpec
from practica.evaluation.intervals import Bootstrap, difference_text
from practica.results import Failed
from practica.selection.audit import slice_floor_violation
from practica.selection.evidence import CostView, Quality, ms, same_model_text, size_text, twins
from practica.selection.records import Decision, Ranked
from practica.tasks import Metric, Task, get_task, owner

if TYPE_CHECKING:
    from practica.results import ExperimentResult, Ok


def _value(result: Ok, metric: Metric) -> float:
    return metric.value(result.evaluation.val)


def _violation(result: Ok, policy: SelectionSpec) -> str | None:
    """The constraint ``result`` breaks, if any. The p95 latency breaks its limit beyond noise only: when even
    its interval's low end is over it (a measured p95 over the limit with an interval reaching under it is
    within noise of the limit, and passes); size and parameters are exact."""
    cost, limits = result.evaluation.cost, policy.constraints
    p95, ci, limit = cost.latency_p95_ms, cost.latency_p95_interval, limits.latency_p95_ms
    if limit is not None and p95 > limit and (ci is None or ci.low > limit):
        spread = f" ({ci.level:.0%} CI {ms(ci.low)}–{ms(ci.high)})" if ci is not None else ""
        return f"p95 latency {p95:.3g} ms{spread} exceeds the {limit:g} ms limit"
    if limits.size_mb is not None and cost.size_mb > limits.size_mb:
        return f"size {cost.size_mb:.3g} MB exceeds the {limits.size_mb:g} MB limit"
    if limits.params is not None and cost.params > limits.params:
        return f"{cost.params:,} parameters exceed the {limits.params:,} limit"
    return None


def select(results: Sequence[ExperimentResult], policy: SelectionSpec, val_y: np.ndarray | None = None, *,
           bootstrap: Bootstrap | None = None) -> Decision:
    """Choose among ``results`` by ``policy``. ``val_y``, the validation labels (targets) the results'
    ``predictions.val`` pair with, gives the metric its intervals and paired tests (``bootstrap``: how many
    resamples, at what level); without it the metric compares by value alone. ``policy.metric`` None: the
    default of the task the results were evaluated on (the runner passes ``policy.for_task(task)``)."""
    task = _task(results, policy)
    metric = task.metric(policy.metric)
    out: list[Ranked] = []
    eligible: list[Ok] = []
    for r in results:  # the rejection chain: the first reason a result cannot be chosen
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

    quality = Quality.measure(eligible, metric, task, val_y, bootstrap or Bootstrap())
    cost = CostView(policy.prefer, policy.latency_margin)
    # A later copy of a model (same validation outputs, parameters and size) ties with the first on cost
    # whatever their timings, and loses the tie-breaks to it (same parameters, same value, later): the
    # first stands for both, so a copy timed faster on a loaded machine cannot flip the choice.
    copy_of = twins(eligible)  # eligible is in suite order here
    order = {r.name: i for i, r in enumerate(eligible)}
    eligible.sort(key=lambda r: (-quality.score(r.name), order[r.name]))  # best first
    distinct = [r for r in eligible if r.name not in copy_of]
    best = distinct[0]
    candidates = [r for r in distinct if not quality.beyond_tolerance(r.name, best.name, policy.tolerance)]
    cheapest = min(candidates, key=lambda r: (cost.value(r), order[r.name]))
    tied = sorted((r for r in candidates if not cost.cheaper(cheapest, r)),
                  key=lambda r: (r.evaluation.cost.params, -quality.gain(r.name, best.name), order[r.name]))
    chosen = tied[0]

    reason = _chosen_reason(chosen, distinct, candidates, tied, quality, cost, policy)
    if copies := [r for r in eligible if copy_of.get(r.name) is chosen]:
        reason += (f"; {_names(copies)} {'is' if len(copies) == 1 else 'are'} the same model "
                   f"({same_model_text(copies[0], chosen)}): tied on cost whatever the measured {cost.kind}, "
                   "and the earlier in the suite is kept")
    ranked = [Ranked(chosen.name, _value(chosen, metric), "chosen", reason, quality.interval(chosen.name))]
    for r in eligible:
        if r is chosen:
            continue
        if (kept := copy_of.get(r.name)) is not None:
            why = (f"same model as {kept.name} ({same_model_text(r, kept)}): tied on cost whatever the measured "
                   f"{cost.kind} ({cost.pair(r, kept)}); the earlier in the suite is kept"
                   + ("" if kept is chosen else f", and {kept.name} is not chosen"))
        elif r not in candidates:
            why = _worse(r, best, quality, policy)
        elif r in tied:
            why = f"{_tie(r, chosen, quality, cost)}; {chosen.name} {_tie_break(chosen, r, quality, 'is')}"
        else:
            why = (f"{metric.label} {_shown(r, quality)} is within the tolerance of the best, but {chosen.name} is "
                   f"cheaper beyond noise ({cost.text(r)} against {cost.text(chosen)})")
        ranked.append(Ranked(r.name, _value(r, metric), "not chosen", why, quality.interval(r.name),
                             quality.difference(r.name, chosen.name), quality.p_value(r.name, chosen.name),
                             tie=r in tied or kept is chosen))
    ranked.extend(out)
    return Decision(chosen.name, metric.name, _summary(chosen, reason, eligible, results, policy, task),
                    tuple(ranked))


def _shown(r: Ok, quality: Quality) -> str:
    return quality.metric.show_with(quality.values[r.name], quality.interval(r.name))


def _difference(a: Ok, b: Ok, quality: Quality) -> str:
    """``a`` against ``b``: "difference −0.4 points (95% CI −1.1 to +0.4; McNemar p = 0.51)"."""
    d = quality.values[a.name] - quality.values[b.name]
    return difference_text(quality.metric, d, quality.difference(a.name, b.name), quality.p_value(a.name, b.name))


def _tie(a: Ok, b: Ok, quality: Quality, cost: CostView) -> str:
    return (f"ties with {b.name} on {quality.metric.label}: {_difference(a, b, quality)} and on {cost.kind} "
            f"({cost.pair(a, b)}, within noise)")


def _tie_break(winner: Ok, loser: Ok, quality: Quality, verb: str) -> str:
    """Why ``winner`` beat ``loser`` in a tie: "is the simpler: 650 vs 12,345 parameters"."""
    pw, pl = winner.evaluation.cost.params, loser.evaluation.cost.params
    if pw < pl:
        return f"{verb} the simpler: {pw:,} vs {pl:,} parameters"
    if quality.gain(winner.name, loser.name) > 0:
        return (f"{verb} the better on {quality.metric.label} ({quality.metric.text(quality.values[winner.name])}) "
                f"at the same {pw:,} parameters")
    return f"{verb} listed first in the suite (same parameters, same {quality.metric.label})"


def _worse(r: Ok, best: Ok, quality: Quality, policy: SelectionSpec) -> str:
    metric = quality.metric
    side = "above" if not metric.higher_is_better else "below"
    return (f"{metric.label} {_shown(r, quality)} is {metric.difference(quality.gain(best.name, r.name))} {side} "
            f"{best.name}'s {metric.text(quality.values[best.name])}, beyond the "
            f"{metric.difference(policy.tolerance)} tolerance: {_difference(r, best, quality)}"
            + ("; the gap is within the noise of this validation set" if _inside_noise(r, best, quality) else ""))


def _inside_noise(a: Ok, b: Ok, quality: Quality) -> bool:
    interval = quality.difference(a.name, b.name)
    return interval is not None and bool(interval.low <= 0 <= interval.high)


def _chosen_reason(chosen: Ok, eligible: list[Ok], candidates: list[Ok], tied: list[Ok], quality: Quality,
                   cost: CostView, policy: SelectionSpec) -> str:
    """Why ``chosen``, among the ``eligible`` (best first): a clear best, or within the tolerance and cheaper,
    or a tie and the break that decided it."""
    metric, best = quality.metric, eligible[0]
    if len(candidates) == 1:  # a clear best
        reason = f"best {metric.label} {_shown(chosen, quality)}"
        if len(eligible) > 1:
            runner = eligible[1]
            reason += f", {metric.difference(quality.gain(chosen.name, runner.name))} ahead of {runner.name}"
            if quality.resampled is not None:
                reason += f": {_difference(chosen, runner, quality)}"
        return reason
    if quality.gain(chosen.name, best.name) >= 0:  # the best, or tied with it exactly
        level = [r for r in candidates if r is not chosen and quality.gain(r.name, chosen.name) == 0]
        near = len(candidates) - 1 - len(level)
        parts = [(f"ties for the best {metric.label} {_shown(chosen, quality)} with {_names(level)}" if level
                  else f"best {metric.label} {_shown(chosen, quality)}")
                 + (f", {near} other{'s' if near > 1 else ''} within the tolerance"
                    if near else "")]
    else:
        parts = [f"{metric.label} {_shown(chosen, quality)} is within the {metric.difference(policy.tolerance)} "
                 f"tolerance of the best ({best.name}, {metric.text(quality.values[best.name])}): "
                 f"{_difference(chosen, best, quality)}"]
    costlier = [r for r in candidates if r not in tied]
    if costlier:
        ref = best if best in costlier else costlier[0]
        parts.append(f"cheaper beyond noise than {_names(costlier)}: {cost.text(chosen)} against {cost.text(ref)} "
                     f"for {ref.name}")
    if len(tied) > 1:
        partner = tied[1]
        others = [r for r in tied if r is not chosen]
        parts.append(f"{_tie(chosen, partner, quality, cost)}"
                     + (f" (and with {_names(others[1:])})" if len(others) > 1 else "")
                     + f"; chosen as {_tie_break(chosen, partner, quality, '').strip()}")
    return "; ".join(parts)


def _names(results: list[Ok]) -> str:
    names = [r.name for r in results]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


def _summary(chosen: Ok, reason: str, eligible: list[Ok], results: Sequence[ExperimentResult],
             policy: SelectionSpec, task: Task) -> str:
    cost = chosen.evaluation.cost
    verdict = chosen.diagnosis.verdict if chosen.diagnosis else "not diagnosed"
    limits = [f"{k} ≤ {v:g}" for k, v in policy.constraints.model_dump().items() if v is not None]
    return (
        f"{chosen.name} goes to production: {reason}, among {len(eligible)} eligible experiment"
        f"{'s' if len(eligible) != 1 else ''} of {len(results)}"
        + (f" (constraints: {', '.join(limits)})" if limits else "")
        + f". Its diagnosis is {verdict}; {CostView('latency', policy.latency_margin).text(chosen)}, p95 "
        + f"{ms(cost.latency_p95_ms)} ms, size {size_text(cost.size_bytes)}. "
        + f"On the held-out test split it scores {task.test_summary(chosen.evaluation.test)} "
        + "(reported only; the test split played no part in the choice)."
    )


def _task(results: Sequence[ExperimentResult], policy: SelectionSpec) -> Task:
    evaluated = [r.evaluation for r in results if not isinstance(r, Failed)]
    if evaluated:
        return get_task(evaluated[0].task)
    task = owner(policy.metric) if policy.metric is not None else None
    if task is None:
        raise ValueError(f"no experiment was evaluated and selection.metric is {policy.metric!r}, so the task is "
                         "unknown: resolve the metric first with policy.for_task(task)")
    return task
