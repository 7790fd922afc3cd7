"""``practica run`` and ``practica validate``: a suite file in, a run directory out."""

from __future__ import annotations

import shlex
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from practica.cli.eta import SuiteClock, describe_left
from practica.cli.terminal import (
    EXIT_EXPERIMENT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NO_MODEL,
    console,
    err_console,
    fail,
    heading,
)
from practica.errors import PracticaError
from practica.tasks import get_task
from practica.text import duration, ms, percent, size

if TYPE_CHECKING:
    from practica.config import Suite


def default_suite() -> Path:
    return Path(str(resources.files("practica") / "examples" / "digits.yaml"))


class RichReporter:
    """Stages as lines, each experiment as a progress bar with live epoch metrics, and the suite's time left."""

    def __init__(self, suite: Suite) -> None:
        self._progress: _EpochProgress | None = None
        self._started: str | None = None  # the experiment whose heading was printed last
        self.run_dir: Path | None = None
        self.clock = SuiteClock([exp.train.epochs if exp.model.kind != "sklearn" else 0 for exp in suite.experiments])

    def stage(self, message: str) -> None:
        console.print(f"[bold cyan]›[/] {escape(message)}")

    def run_started(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def close(self) -> None:
        """Stop a live progress bar, so that what is printed next starts on a line of its own."""
        if self._progress is not None:
            self._progress.close()
            self._progress = None

    def experiment(self, index: int, total: int, exp):
        self._started = exp.name
        self.clock.start(index)
        left = describe_left(self.clock.left())
        heading(f"[bold][{index}/{total}] {escape(exp.name)}[/]"
                + (f" — {escape(exp.description)}" if exp.description else "")
                + (f" [dim](suite: {left})[/]" if left else ""))
        if exp.model.kind == "sklearn":
            console.print("  fitting the scikit-learn estimator…")
            return None
        self._progress = _EpochProgress(self.clock)
        return self._progress

    def experiment_done(self, exp, trained) -> None:
        # Here, not at the top: the evaluation package loads torch, which `practica --help` need not wait for.
        from practica.evaluation.records import RegressionMetrics

        self.close()
        if self._started != exp.name:  # trained by a worker elsewhere: a line when it is done, under its name
            heading(f"[bold]{escape(exp.name)}[/] done")
        if trained.status != "ok":
            console.print(f"  [red]failed:[/] {escape(trained.error)}")
            return
        h = trained.history
        how = f", {h.stop_reason.replace('_', ' ')} after {len(h.epochs)} epochs" if h else ""
        if isinstance(val := trained.val.figures, RegressionMetrics):
            console.print(f"  val R² [bold]{val.r2:.3f}[/] (RMSE {val.rmse:.4g}), "
                          f"train R² {trained.train:.3f}, {duration(trained.train_seconds)}{how}")
        else:
            # The same formatters and fields as the report, so the two never print one quantity two ways.
            console.print(
                f"  val accuracy [bold]{percent(val.accuracy)}[/], train {percent(trained.train)}, "
                f"{duration(trained.train_seconds)}{how}"
            )
        if trained.model_summary:  # the model as built, and a text model's tokenizer
            console.print(f"  [dim]model: {escape(trained.model_summary)}[/]")
        for note in trained.notes:  # e.g. a baseline that did not converge: one line, with the setting to change
            console.print(f"  [yellow]note:[/] {escape(note)}")


class _EpochProgress:
    def __init__(self, clock: SuiteClock) -> None:
        self.clock = clock
        self.progress = Progress(
            TextColumn("  epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("{task.fields[metrics]}"), console=console, transient=True,
            disable=not console.is_terminal,  # a log gets the epoch lines, not a bar redrawn
        )
        self.task: TaskID | None = None
        self.last = ""

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("", total=steps, epoch=f"{epoch}/{epochs}", metrics="")
        self.progress.reset(self.task, total=steps, epoch=f"{epoch}/{epochs}", metrics=self.last)

    def settings(self, line: str) -> None:
        """What the run computes in, once as training begins: 'precision auto → bf16 (41 ms/step vs fp32 …)'."""
        self.progress.console.print(f"  {escape(line)}")

    def step(self, done: int) -> None:
        assert self.task is not None  # epoch_start comes before any step
        self.progress.update(self.task, completed=done)

    def epoch_end(self, r) -> None:
        m = r.metrics
        self.clock.epoch_done(r.epoch, r.seconds)
        left = describe_left(self.clock.left())
        if "val_r2" in m:  # a regression (R² recorded)
            line = (f"epoch {r.epoch:>3}  loss {r.train_loss:.4f}  R² {m['train_r2']:6.3f}  │  "
                    f"val loss {r.val_loss:.4f}  R² {m['val_r2']:6.3f}  MAE {m['val_mae']:.4g}  │  "
                    f"lr {r.lr:.2e}  {r.seconds:5.1f} s")
            self.last = f"last: val R² {m['val_r2']:.3f}"
        else:
            line = (f"epoch {r.epoch:>3}  loss {r.train_loss:.4f}  acc {100 * m['train_accuracy']:5.1f}%  │  "
                    f"val loss {r.val_loss:.4f}  acc {100 * m['val_accuracy']:5.1f}%  │  "
                    f"lr {r.lr:.2e}  {r.seconds:5.1f} s")
            self.last = f"last: val acc {100 * m['val_accuracy']:.1f}%"
        if left:
            line += f"  │  suite: {left}"
            self.last += f" · suite: {left}"
        self.progress.console.print("  " + line)

    def close(self) -> None:
        if self.task is not None:
            self.progress.stop()
            self.task = None


class QuietReporter:
    """``--quiet``: nothing while the run goes; the run directory is still kept for an interruption's hint."""

    def __init__(self) -> None:
        self.run_dir: Path | None = None

    def stage(self, message: str) -> None: ...
    def experiment(self, index: int, total: int, exp) -> None: ...
    def experiment_done(self, exp, trained) -> None: ...
    def close(self) -> None: ...

    def run_started(self, run_dir: Path) -> None:
        self.run_dir = run_dir


def run(
    suite_file: Annotated[Path | None, typer.Argument(help="Suite YAML; default: the built-in digits case.")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the newest (or --run-id) run of this suite where it stopped.")] = False,
    run_id: Annotated[str | None, typer.Option(help="With --resume: which run to continue.")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Where run directories go.")] = Path("runs"),
    experiments: Annotated[str | None, typer.Option(
        "--experiments", metavar="NAMES", help="Run only these experiments of the suite: a,b.")] = None,
    reevaluate: Annotated[bool, typer.Option(
        "--reevaluate", help="With --resume of a finished run: measure, select and report again (the training "
                             "is kept). Without it, resuming a finished run only says where its report is.")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="Print only the decision and errors: no progress, no table.")] = False,
    mlflow: Annotated[bool, typer.Option(
        "--mlflow", help="Log the run to MLflow, by default in sqlite:///<runs dir>/mlflow.db (needs the tracking "
                         "extra).")] = False,
    mlflow_uri: Annotated[str | None, typer.Option(
        "--mlflow-uri", metavar="URI", help="Log the run to the MLflow store or server at URI (implies --mlflow).",
    )] = None,
    tensorboard: Annotated[bool, typer.Option(
        "--tensorboard", help="Write TensorBoard event files, by default under <runs dir>/tensorboard.")] = False,
    tensorboard_dir: Annotated[Path | None, typer.Option(
        "--tensorboard-dir", metavar="DIR", help="Write TensorBoard event files under DIR (implies --tensorboard).",
    )] = None,
    executor: Annotated[str, typer.Option(
        "--executor", metavar="local|processes|ray", help="What trains the experiments: in this process, one after "
        "another (local); in --workers local processes; or on Ray (a local instance, or the cluster at --address; "
        "needs the ray extra).")] = "local",
    workers: Annotated[int | None, typer.Option(
        "--workers", metavar="N", help="Experiments trained at once (processes: default one per CPU).")] = None,
    address: Annotated[str | None, typer.Option(
        "--address", metavar="ADDR", help="The Ray cluster to run on (what `ray start --head` printed, or auto).",
    )] = None,
) -> None:
    """Run a case study: train every experiment, diagnose, select, and write the report."""
    from practica.config import load_suite, only_experiments
    from practica.execution import get_executor
    from practica.pipeline.suite import finished_run, run_suite

    path = suite_file or default_suite()
    reporter: RichReporter | QuietReporter = QuietReporter()
    runner = None
    try:
        runner = get_executor(executor, workers=workers, address=address)  # a bad choice: refused before the data
        suite = load_suite(path)
        count = f"{len(suite.experiments)} experiments"
        if experiments is not None:
            suite = only_experiments(suite, experiments.split(","))
            count = f"{len(suite.experiments)} of its {count} (--experiments)"
        if resume and not reevaluate and (done := finished_run(runs_dir, suite, run_id)) is not None:
            _print_finished(done)
            return
        if not quiet:
            reporter = RichReporter(suite)
            console.print(f"[bold]practica[/] · suite [bold]{escape(suite.name)}[/] ({escape(str(path))}), "
                          f"{count}")
        result = run_suite(suite, runs_root=runs_dir, resume=resume, run_id=run_id, reporter=reporter,
                           tracking=_tracking(suite, mlflow or mlflow_uri is not None, mlflow_uri,
                                             tensorboard or tensorboard_dir is not None, tensorboard_dir),
                           executor=runner)
    except PracticaError as err:
        reporter.close()
        fail(err)
    except KeyboardInterrupt:
        reporter.close()
        hint = _resume_hint(suite_file, runs_dir, resume, run_id, reporter.run_dir)
        err_console.print(f"[yellow]interrupted.[/] {escape(hint)}", soft_wrap=True)  # one line, to copy whole
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        reporter.close()
        if runner is not None:
            runner.close()
    if quiet:
        console.print(f"[bold]Decision:[/] {escape(result.decision.summary)}")
    else:
        _print_summary(result)
    if result.failed:
        console.print(f"[bold red]{len(result.failed)} of {len(result.results)} experiments failed:[/] "
                      f"{escape(', '.join(result.failed))}. Each one's error is printed above and in "
                      f"{escape(str(result.run_dir / 'report.md'))}.")
        raise typer.Exit(EXIT_EXPERIMENT_FAILED)
    if result.decision.chosen is None:
        console.print("[bold red]No model meets the selection policy:[/] none is recommended and no bundle was written "
                      "(the decision above gives each experiment's reason).")
        raise typer.Exit(EXIT_NO_MODEL)


def _tracking(suite: Suite, mlflow: bool, uri: str | None, tensorboard: bool, logdir: Path | None):
    """The suite's tracking section with the flags over it; None when no flag is given."""
    if not (mlflow or tensorboard):
        return None
    from practica.config.schema import MlflowSpec, TensorboardSpec

    spec = suite.tracking
    if mlflow:  # the suite's experiment and model names kept; the URI the flag's, when it gives one
        kept = suite.tracking.mlflow or MlflowSpec()
        spec = spec.model_copy(update={"mlflow": kept.model_copy(update={"uri": uri or kept.uri})})
    if tensorboard:
        spec = spec.model_copy(update={"tensorboard": TensorboardSpec(logdir=logdir or (
            suite.tracking.tensorboard.logdir if suite.tracking.tensorboard else None))})
    return spec


def _print_finished(run) -> None:
    """What ``--resume`` of a run with nothing left to do prints (and does: nothing)."""
    status = run.read_status()
    chosen = status.get("chosen")
    console.print(f"Run {escape(run.id)} of suite '{escape(str(status.get('suite', '')))}' has already finished "
                  f"({escape(str(status.get('status')))}: "
                  + (f"{escape(chosen)} was chosen" if chosen else "no model meets the selection policy")
                  + "); nothing to resume, nothing was changed.")
    console.print(f"[bold]Report:[/] {run.path / 'report.html'}  (and report.md)")
    console.print("To measure, select and write the report again (the training is kept), add --reevaluate.")


def _resume_hint(suite_file: Path | None, runs_dir: Path, resume: bool, run_id: str | None,
                 run_dir: Path | None) -> str:
    """The command that continues the interrupted run, with every option it needs to find it again."""
    command = ["practica", "run"] + ([str(suite_file)] if suite_file is not None else [])
    if runs_dir != Path("runs"):
        command += ["--runs-dir", str(runs_dir)]
    if run_dir is None and not resume:
        return f"Nothing was written; start again with: {shlex.join(command)}"
    run_id = run_dir.name if run_dir is not None else run_id
    command += ["--resume"] + (["--run-id", run_id] if run_id else [])
    return f"Continue with: {shlex.join(command)}"


def _print_summary(run) -> None:
    table = Table(title="Experiments", show_lines=False)
    task = get_task(run.splits.train.task)
    # The task's first report column on each split: its default metric ("val acc", "test R²").
    shown = [next(c for c in task.columns if c.split == split) for split in ("val", "test")]
    scores = [c.header[0].lower() + c.header[1:] for c in shown]
    for col in ("experiment", "verdict", *scores, "p50", "size", "train time", "decision"):
        # Folded, never cut ("undert…"), when a terminal is too narrow for the table.
        table.add_column(col, justify="right" if col not in ("experiment", "verdict", "decision") else "left",
                         overflow="fold")
    from practica.reporting.context import standing  # the report's words for each experiment's place

    ranks = {r.experiment: r for r in run.decision.ranking}
    for r in run.results:
        ev, diagnosis = (r.evaluation, r.diagnosis) if r.status == "ok" else (None, None)
        status = standing(r, ranks.get(r.name))
        table.add_row(
            r.name,
            diagnosis.verdict if diagnosis else r.status,
            *(task.cell(c, ev)[1] if ev else "-" for c in shown),
            ms(ev.cost.latency_p50_ms) if ev else "-",
            size(ev.cost.size_bytes) if ev else "-",
            duration(r.train_seconds),
            "[bold green]chosen[/]" if status == "chosen" else status,
        )
    console.print(table)
    for line in run.splits.drops:  # what cleaning dropped, one line per rule: never only in the report
        console.print(f"[yellow]{escape(line)}[/]")
    console.print(f"[bold]Decision:[/] {escape(run.decision.summary)}")
    console.print(f"[bold]Report:[/] {run.run_dir / 'report.html'}  (and report.md)")


def validate(suite_file: Annotated[Path, typer.Argument(help="Suite YAML to check.")]) -> None:
    """Check a suite file without running it: its keys and values, and that the data's files and folders
    exist and are of the right kind (they are not read)."""
    from practica.config import load_suite
    from practica.data.paths import check_data_paths

    try:
        suite = load_suite(suite_file)
        check_data_paths(suite)
    except PracticaError as err:
        fail(err)
    console.print(f"[green]ok[/]: suite '{escape(suite.name)}' with {len(suite.experiments)} experiments: "
                  + ", ".join(e.name for e in suite.experiments))
