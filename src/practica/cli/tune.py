"""``practica tune SUITE``: search the space of each experiment's ``tune:`` block, then run the suite with the
best trial added as ``<experiment>-tuned``."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from practica.cli.suite import QuietReporter, RichReporter
from practica.cli.terminal import EXIT_INTERRUPTED, console, err_console, fail
from practica.errors import PracticaError
from practica.text import duration

if TYPE_CHECKING:
    from practica.tuning import StudySummary


def tune(
    suite_file: Annotated[Path, typer.Argument(help="Suite YAML with a tune: block on some experiment.")],
    experiment: Annotated[str | None, typer.Option(
        "--experiment", metavar="NAME", help="Tune only this experiment (default: every one with a tune: block).")
    ] = None,
    runs_dir: Annotated[Path, typer.Option(help="Where run directories go.")] = Path("runs"),
    trials: Annotated[int | None, typer.Option(
        min=1, help="Trials per study in all, a resumed study's earlier ones counted (over the suite's budget).")
    ] = None,
    minutes: Annotated[float | None, typer.Option(
        min=0.1, help="Wall time of each study in this invocation, at most (over the suite's budget).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the newest (or --run-id) tuning run of this suite: its studies, and a trial "
                         "a kill interrupted from its last checkpoint.")] = False,
    run_id: Annotated[str | None, typer.Option(help="With --resume: which run to continue.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the tables and errors.")] = False,
    executor: Annotated[str, typer.Option(
        "--executor", metavar="local|processes|ray", help="What trains the trials: in this process (local); in "
        "--workers local processes; or on Ray (a local instance, or the cluster at --address; needs the ray "
        "extra).")] = "local",
    workers: Annotated[int | None, typer.Option(
        "--workers", metavar="N", help="Trials asked of the sampler and trained at once (default: 1 locally, one "
        "per CPU with processes, the cluster's CPUs with Ray). The same N gives the same study on every "
        "executor; locally the N trials run one after another.")] = None,
    address: Annotated[str | None, typer.Option(
        "--address", metavar="ADDR", help="The Ray cluster to run on (what `ray start --head` printed, or auto).",
    )] = None,
) -> None:
    """Tune experiments with Optuna (TPE, pruning; NSGA-II for accuracy against latency), then run the suite
    with the best trial as '<experiment>-tuned': diagnosed, selected, reported and bundled like any other."""
    from practica.config import load_suite
    from practica.tuning import trial_executor, tune_suite

    reporter: RichReporter | QuietReporter = QuietReporter()
    say = (lambda _: None) if quiet else (lambda line: console.print(f"[bold cyan]›[/] {escape(line)}"))
    runner = None
    try:
        suite = load_suite(suite_file)
        runner, batch = trial_executor(executor, workers=workers, address=address)  # refused before the data
        if not quiet:
            reporter = RichReporter(suite)
        result = tune_suite(suite, experiment=experiment, runs_root=runs_dir, resume=resume, run_id=run_id,
                            trials=trials, minutes=minutes, say=say, reporter=reporter, on_study=print_study,
                            executor=runner, batch=batch)
    except PracticaError as err:
        reporter.close()
        fail(err)
    except KeyboardInterrupt:
        reporter.close()
        command = ["practica", "tune", str(suite_file), "--resume"] + (
            ["--runs-dir", str(runs_dir)] if runs_dir != Path("runs") else []) + (
            ["--executor", executor] if executor != "local" else []) + (
            ["--workers", str(workers)] if workers is not None else []) + (
            ["--address", address] if address is not None else [])
        err_console.print(f"[yellow]interrupted.[/] Continue with: {escape(shlex.join(command))}", soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        reporter.close()
        if runner is not None:
            runner.close()
    run = result.suite_run
    console.print(f"[bold]Decision:[/] {escape(run.decision.summary)}")
    console.print(f"[bold]Report:[/] {run.run_dir / 'report.html'}  (and report.md)")
    for study in result.studies:
        console.print(f"Open the study {escape(study.experiment)} with: optuna-dashboard "
                      f"sqlite:///{escape(str(study.storage))}")


def print_study(study: StudySummary) -> None:
    """The trials table, then the study in one paragraph: wall time, trials run and pruned, best vs untuned."""
    table = Table(title=f"Study {study.experiment}", show_lines=False)
    for col in ("trial", "state", *study.objectives, "epochs", "params"):
        table.add_column(col, justify="left" if col in ("state", "params") else "right", overflow="fold")
    best = set(study.best)
    for t in study.trials:
        values = [f"{v:.4g}" for v in t.values] if t.values else ["-"] * len(study.objectives)
        state = t.state + (" (as declared)" if t.untuned else "") + (" [bold green]best[/]" if t.number in best
                                                                     else "")
        params = ", ".join(f"{k}={_short(v)}" for k, v in t.params.items()) + (f" — {t.note}" if t.note else "")
        table.add_row(str(t.number), state, *values, "-" if t.epochs is None else str(t.epochs), escape(params))
    console.print(table)
    metric = study.objectives[0]
    line = (f"{study.experiment}: {len(study.trials)} trials ({study.count('complete')} complete, "
            f"{study.count('pruned')} pruned, {study.count('failed')} failed), {study.epochs_trained} epochs "
            f"trained, {duration(study.seconds)} of search this time")
    if study.best_value is not None:
        line += f"; best {metric} {study.best_value:.4g} (trial {study.best[0]})"
    if study.untuned_value is not None:
        line += f" vs {study.untuned_value:.4g} as declared"
    if study.best and any(t.untuned and t.number == study.best[0] for t in study.trials):
        line += " (the experiment as declared is the best trial: the tuned one is the same model)"
    if study.tuned_experiments:
        line += f"; added to the run: {', '.join(study.tuned_experiments)}"
    console.print(escape(line))


def _short(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
