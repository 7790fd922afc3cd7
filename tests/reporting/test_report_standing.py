"""How the report words each experiment's place in the decision: "rejected" only for what the policy
rules out (a failure, a diverged run, a broken constraint, a failed slice audit); an eligible model that
lost on the metric or on cost is "not chosen"."""

from __future__ import annotations

from practica.reporting import context
from practica.selection import select


def test_only_the_policy_rejects(build_run, tmp_path) -> None:
    report = context.build(build_run(tmp_path))
    words = {row.name: row.selection for row in report.rows}
    assert words == {"cnn": "chosen", "cnn-wide": "rejected",  # p95 3.1 ms past the 2 ms limit
                     "mlp-hot": "rejected",  # diverged
                     "logreg": "not chosen",  # eligible, 2.1 points below
                     "resnet": "failed"}
    ranking = {name: status for _, name, _, status, _ in report.ranking}
    assert ranking == words
    assert {e.name: e.selection for e in report.experiments} == words


def test_a_failed_slice_audit_is_a_rejection(build_run, tmp_path) -> None:
    run = build_run(tmp_path)
    logreg = next(r for r in run.results if r.name == "logreg")
    policy = run.suite.selection.model_copy(update={"slice_floors": {"*": 0.99}}).for_task("classification")
    decision = select(run.results, policy)
    ranked = next(r for r in decision.ranking if r.experiment == "logreg")
    assert context.standing(logreg, ranked) == "rejected"  # no slice scores to pass the declared floors with
