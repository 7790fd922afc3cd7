"""The report's tuning section, over studies written with optuna in the test as the tune stage writes them
(RUN_DIR/tuning/<experiment>.db, the user_attrs of the team's storage contract), and the policy's pick
from a Pareto front that the tune stage added to the run as experiments."""

from __future__ import annotations

import html
import math
import re
from dataclasses import replace
from pathlib import Path

import optuna
import pytest

from practica.reporting import figcheck, plots, write_report
from practica.reporting.tuning import tuning_sections
from practica.selection import select

optuna.logging.set_verbosity(optuna.logging.WARNING)


def storage(folder: Path, name: str) -> str:
    (folder / "tuning").mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'tuning' / f'{name}.db'}"


def saved(study: optuna.Study, memory: optuna.storages.InMemoryStorage, folder: Path) -> optuna.Study:
    """``study``, run in memory (SQLite commits every step: ten times slower here), copied whole into
    RUN_DIR/tuning/<name>.db, and loaded back from there."""
    url = storage(folder, study.study_name)
    optuna.copy_study(from_study_name=study.study_name, from_storage=memory, to_storage=url)
    return optuna.load_study(study_name=study.study_name, storage=url)


def single_study(folder: Path, name: str = "cnn", *, trials: int = 10, untuned: float | None = 0.9) -> optuna.Study:
    """TPE with the median pruner over lr and width, five epochs a trial: some trials are pruned."""
    memory = optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name=name, storage=memory, direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
    study.set_user_attr("objectives", ["val_accuracy"])
    study.set_user_attr("budget", {"trials": trials, "seconds": 3600})
    study.set_user_attr("pruner", "median")
    study.set_user_attr("sampler", "tpe")
    study.set_user_attr("untuned_value", untuned)

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        width = trial.suggest_int("width", 8, 64)
        trial.set_user_attr("config", {"name": name, "train": {"optimizer": {"lr": lr}}, "width": width})
        value = 0.0
        for epoch in range(1, 6):
            value = 0.97 - 0.08 * abs(math.log10(lr) + 2.5) + width / 4000 - 0.25 / epoch
            trial.report(value, epoch)
            trial.set_user_attr("epochs_trained", epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    study.optimize(objective, n_trials=trials)
    return saved(study, memory, folder)


def multi_study(folder: Path, name: str = "cnn", *, trials: int = 18) -> optuna.Study:
    """NSGA-II over width and depth: accuracy against latency, as the tune stage's multi-objective study."""
    memory = optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name=name, storage=memory, directions=["maximize", "minimize"],
                                sampler=optuna.samplers.NSGAIISampler(seed=0))
    study.set_user_attr("objectives", ["val_accuracy", "latency_p50_ms"])
    study.set_user_attr("budget", {"trials": trials})
    study.set_user_attr("pruner", "median")
    study.set_user_attr("sampler", "nsga2")
    study.set_user_attr("untuned_value", 0.962)  # the fixture run's cnn

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        width = trial.suggest_int("width", 8, 128, log=True)
        depth = trial.suggest_int("depth", 1, 4)
        lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        accuracy = 0.995 - 0.3 / (width * depth) ** 0.7 - 0.01 * abs(math.log10(lr) + 2)
        latency = 0.05 * depth + 0.004 * width * depth
        trial.set_user_attr("epochs_trained", 8)
        trial.set_user_attr("latency_p50_ms", latency)
        trial.set_user_attr("config", {"name": name, "width": width, "depth": depth})
        return accuracy, latency

    study.optimize(objective, n_trials=trials)
    return saved(study, memory, folder)


def with_front(run, study: optuna.Study):
    """``run`` with every front trial of ``study`` added as "<name>-pareto-<trial>" (scored as the trial
    measured it, p95 at 1.4× the median), and a fresh decision by the suite's own policy."""
    base = run.result("cnn")
    added = []
    for t in study.best_trials:
        accuracy, latency = t.values
        figures = base.trained.val.figures.model_copy(update={"accuracy": accuracy})
        val = base.trained.val.model_copy(update={"figures": figures})
        added.append(replace(base, spec=base.spec.model_copy(update={"name": f"cnn-pareto-{t.number}"}),
                             trained=replace(base.trained, val=val),
                             cost=replace(base.cost, latency_p50_ms=latency, latency_p95_ms=1.4 * latency)))
    results = (*run.results, *added)
    return replace(run, results=results, decision=select(results, run.suite.selection))


def pages(run, out: Path) -> tuple[str, str]:
    html_path, md_path = write_report(run, out)
    return html_path.read_text(encoding="utf-8"), md_path.read_text(encoding="utf-8")


def section(page: str) -> str:
    return page[page.index('<section id="tuning">'):page.index("</section>", page.index('<section id="tuning">'))]


# -------------------------------------------------------------------------------- single objective


@pytest.fixture(scope="module")
def single(tmp_path_factory, build_run):
    folder = tmp_path_factory.mktemp("single")
    study = single_study(folder)
    run = build_run(folder)
    return study, run, *pages(run, folder)


def test_single_objective_section_counts_and_marks_every_trial(single) -> None:
    study, _, page, md = single
    states = [t.state for t in study.trials]
    pruned = states.count(optuna.trial.TrialState.PRUNED)
    complete = states.count(optuna.trial.TrialState.COMPLETE)
    assert pruned > 0 and complete > 0  # the fixture exercises both
    part = section(page)
    assert f"{len(states)} run: {complete} complete, {pruned} pruned" in part
    assert part.count('<tr class="t-pruned">') == pruned and part.count('<tr class="t-complete">') == complete
    assert len(re.findall(r"pruned after epoch \d+ \(\d+\.\d%\)", part)) == pruned
    best = study.best_trial
    assert f"Best validation accuracy {best.value * 100:.1f}%, trial {best.number}" in part
    assert "better than the untuned cnn (90.0%)" in part
    assert "TPE sampler, median pruner on the per-epoch validation accuracy" in part
    assert "10 trials or 1 h 00 min, whichever came first" in html.unescape(part)
    assert '<span class="badge t-mark">best</span>' in part
    # Markdown says the same, table rows included.
    assert "## 8. Tuning" in md or "## 7. Tuning" in md or "## 6. Tuning" in md
    assert f"{len(states)} run: {complete} complete, {pruned} pruned" in md
    assert len(re.findall(r"^\| \d+ \| pruned after epoch", md, re.M)) == pruned


def test_single_objective_epochs_and_figures(single, tmp_path: Path) -> None:
    study, run, page, _ = single
    epochs = sum(t.user_attrs["epochs_trained"] for t in study.trials)
    in_pruned = sum(t.user_attrs["epochs_trained"] for t in study.trials if t.state.name == "PRUNED")
    assert f"{epochs:,} in all, {in_pruned:,} of them in pruned trials" in section(page)
    files = {p.name for p in (Path(run.run_dir) / "report_files").iterdir()}
    assert {"tuning-history-cnn.png", "tuning-importances-cnn.png"} <= files
    assert "tuning-front-cnn.png" not in files  # one objective: no front
    assert 'href="#tuning"' in page  # in the contents


def test_the_tuned_experiment_is_tied_to_the_best_trial(tmp_path: Path, build_run) -> None:
    study = single_study(tmp_path, trials=4)
    run = build_run(tmp_path)
    base = run.result("cnn")
    tuned = replace(base, spec=base.spec.model_copy(update={"name": "cnn-tuned"}))
    results = (*run.results, tuned)
    run = replace(run, results=results, decision=select(results, run.suite.selection))
    (part,) = tuning_sections(run)
    assert [(row[0], row[1]) for row in part.in_run] == [("cnn-tuned", str(study.best_trial.number))]
    assert part.pick.startswith("The selection policy ")


def test_figures_keep_their_text_clear(single, multi) -> None:
    problems: list[str] = []
    texts: list[str] = []

    def inspect(fig) -> None:
        problems.extend(figcheck.text_problems(fig))
        texts.extend(text.get_text() for text, _ in figcheck.visible_texts(fig))

    with plots.inspecting(inspect):
        for _, run, *_ in (single, multi):
            tuning_sections(run)
    assert problems == []
    _, run, *_ = multi
    chosen = run.decision.chosen
    rejected = [r.experiment for r in run.decision.ranking if r.status == "rejected"]
    assert any(name.startswith("cnn-pareto-") for name in rejected)  # the fixture's slow end breaks the p95 limit
    assert f"trial {chosen.rsplit('-', 1)[1]}: {chosen}" in texts and "front, ruled out by a constraint" in texts
    assert "Validation accuracy against median latency" in texts and "Optimisation history" in texts


def test_few_complete_trials_get_a_note_instead_of_importances(tmp_path: Path, build_run) -> None:
    single_study(tmp_path, trials=2, untuned=None)
    (part,) = tuning_sections(build_run(tmp_path))
    assert part.importances is None
    assert "need at least 3 complete trials; this study has 2" in part.importance_note
    assert "no untuned value" in part.headline


# -------------------------------------------------------------------------------- multi-objective


@pytest.fixture(scope="module")
def multi(tmp_path_factory, build_run):
    folder = tmp_path_factory.mktemp("multi")
    study = multi_study(folder, trials=12)
    run = with_front(build_run(folder), study)
    return study, run, *pages(run, folder)


def test_the_front_is_drawn_and_listed(multi) -> None:
    study, run, page, md = multi
    front = {t.number for t in study.best_trials}
    part = section(page)
    assert part.count('<span class="badge t-mark">front') == len(front)
    assert f"The Pareto front has {len(front)} trials of {len(study.trials)} complete" in part
    assert "NSGA-II sampler, no pruning (optuna prunes single-objective studies only)" in part
    assert (Path(run.run_dir) / "report_files" / "tuning-front-cnn.png").is_file()
    for n in front:
        assert f'href="#exp-cnn-pareto-{n}"' in part
    assert "Pareto front of the cnn study" in md


def test_the_policy_picks_from_the_front_and_the_report_says_why(multi) -> None:
    study, run, page, md = multi
    chosen = run.decision.chosen
    assert chosen is not None and chosen.startswith("cnn-pareto-")
    trial = int(chosen.rsplit("-", 1)[1])
    reason = next(r.reason for r in run.decision.ranking if r.experiment == chosen)
    part = html.unescape(section(page))
    assert f"The selection policy picked {chosen} (trial {trial}) for production: {reason}." in part
    assert part.count("the policy's pick") >= 1
    assert f"picked {chosen} (trial {trial})" in md


def test_a_study_whose_front_lost_says_what_won(tmp_path: Path, build_run) -> None:
    study = multi_study(tmp_path, trials=6)
    run = with_front(build_run(tmp_path), study)
    ranking = tuple(replace(r, status="not chosen") if r.experiment.startswith("cnn-pareto-") else r
                    for r in run.decision.ranking)
    run = replace(run, decision=replace(run.decision, chosen="cnn", ranking=ranking))
    (part,) = tuning_sections(run)
    assert part.pick.startswith("The selection policy chose cnn, which is not from this study")


def handmade_study(folder: Path, *, experiments: dict[str, int] | None) -> None:
    """Four complete trials on two objectives (trial 0 the untuned one), one failed by an interruption and its
    re-run from the checkpoint: what a resumed multi-objective study holds."""
    memory = optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name="cnn", storage=memory, directions=["maximize", "minimize"])
    study.set_user_attr("objectives", ["val_accuracy", "latency_p50_ms"])
    if experiments is not None:
        study.set_user_attr("experiments", experiments)
    width = optuna.distributions.IntDistribution(8, 128)
    rows = [(0.95, 0.2, {"untuned": True}), (0.97, 0.5, {}), (0.98, 0.9, {}), (0.96, 0.8, {}),
            (None, None, {"interrupted": True}), (0.975, 0.7, {"resume_of": 4, "rerun_of": 4})]
    for n, (accuracy, latency, attrs) in enumerate(rows):
        state = optuna.trial.TrialState.FAIL if accuracy is None else optuna.trial.TrialState.COMPLETE
        study.add_trial(optuna.trial.create_trial(
            params={"width": 8 * (n + 1)}, distributions={"width": width}, state=state,
            values=None if accuracy is None else [accuracy, latency],
            user_attrs={"epochs_trained": 4, "latency_p50_ms": latency, **attrs}))
    saved(study, memory, folder)


@pytest.mark.parametrize("recorded", [True, False])
def test_experiments_are_tied_to_trials_by_the_study_record_or_by_name(tmp_path: Path, build_run,
                                                                      recorded: bool) -> None:
    handmade_study(tmp_path, experiments={"cnn-tuned": 2, "cnn-pareto-1": 1, "cnn-pareto-5": 5} if recorded else None)
    run = build_run(tmp_path)
    base = run.result("cnn")
    added = tuple(replace(base, spec=base.spec.model_copy(update={"name": name}))
                  for name in ("cnn-tuned", "cnn-pareto-1", "cnn-pareto-5", "cnn-pareto-99"))
    (part,) = tuning_sections(replace(run, results=(*run.results, *added)))
    # By name alone, -tuned is the front's best on the first objective: trial 2 as well.
    assert sorted((row[0], row[1]) for row in part.in_run) == [("cnn-pareto-1", "1"), ("cnn-pareto-5", "5"),
                                                                ("cnn-tuned", "2")]
    rows = {row.number: row for row in part.trials}
    assert {n: row.mark for n, row in rows.items()} == {0: "untuned (as declared) · front", 1: "front", 2: "front",
                                                         3: "", 4: "", 5: "front"}
    assert rows[4].cells[1] == "interrupted"
    assert rows[5].cells[1] == "complete, resumed from trial 4's checkpoint"


# -------------------------------------------------------------------------------- damage


def test_a_damaged_study_is_one_line_and_the_report_still_writes(tmp_path: Path, build_run) -> None:
    single_study(tmp_path, trials=3)
    (tmp_path / "tuning" / "broken.db").write_bytes(b"not a database at all" * 64)
    (tmp_path / "tuning" / "empty.db").write_bytes(b"")
    page, md = pages(build_run(tmp_path), tmp_path)
    part = section(page)
    assert "The study in tuning/broken.db could not be read (DatabaseError" in part
    assert "The study in tuning/empty.db could not be read" in part
    assert part.count('class="study"') == 3 and "Best validation accuracy" in part
    assert "tuning/broken.db could not be read" in md
    assert (tmp_path / "tuning" / "empty.db").stat().st_size == 0  # read-only: the report wrote nothing there


def test_a_study_under_another_name_is_named_in_the_line(tmp_path: Path, build_run) -> None:
    single_study(tmp_path, "other", trials=1)
    (tmp_path / "tuning" / "other.db").rename(tmp_path / "tuning" / "cnn.db")
    (part,) = tuning_sections(build_run(tmp_path))
    assert part.problem.startswith("The study in tuning/cnn.db could not be read (ValueError: it holds no study "
                                   "named 'cnn', only 'other'; the tune stage names each study after")


def test_a_run_without_studies_has_no_tuning_section(tmp_path: Path, build_run) -> None:
    assert tuning_sections(build_run(tmp_path)) == ()
    (tmp_path / "tuning").mkdir()  # the tune stage made the folder, and was killed before its first study
    assert tuning_sections(build_run(tmp_path)) == ()
