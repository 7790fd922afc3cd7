"""The command line: a thin layer over the stages. ``practica --help`` lists the commands.

Exit codes (``practica run``; the other commands use 0, 2 and 130 alike):

    0    the run completed: every experiment trained and a model was chosen
    1    an unexpected error (a bug): its traceback is printed
    2    the command cannot run as given: a bad suite, data, option or run directory (typer's usage
         errors are 2 too); the message says what to change
    3    some experiment failed (the report and run.json say which and why); a model may still be chosen
    4    every experiment trained, but none meets the selection policy: no model is chosen
    130  interrupted (Ctrl-C); the message says how to resume
"""

from __future__ import annotations

import shlex
from importlib import resources
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from practica.errors import PracticaError
from practica.tasks import get_task

app = typer.Typer(
    help="practica: from a data set to a model in production, with the evidence for every decision.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

EXIT_USAGE = 2  # a PracticaError: the suite, data, options or run directory must change
EXIT_EXPERIMENT_FAILED = 3
EXIT_NO_MODEL = 4
EXIT_INTERRUPTED = 130


def default_suite() -> Path:
    return Path(str(resources.files("practica") / "examples" / "digits.yaml"))


def _fail(err: PracticaError) -> None:
    err_console.print(f"[bold red]error:[/] {escape(str(err))}")
    raise typer.Exit(EXIT_USAGE)


class RichReporter:
    """Stages as lines, each experiment as a progress bar with live epoch metrics."""

    def stage(self, message: str) -> None:
        console.print(f"[bold cyan]›[/] {escape(message)}")

    def __init__(self) -> None:
        self._progress: _EpochProgress | None = None
        self.run_dir: Path | None = None

    def run_started(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def close(self) -> None:
        """Stop a live progress bar, so that what is printed next starts on a line of its own."""
        if self._progress is not None:
            self._progress.close()
            self._progress = None

    def experiment(self, index: int, total: int, exp):
        console.rule(f"[bold][{index}/{total}] {escape(exp.name)}[/]" + (f" — {escape(exp.description)}" if exp.description else ""))
        if exp.model.kind == "sklearn":
            console.print("  fitting the scikit-learn estimator…")
            return None
        self._progress = _EpochProgress()
        return self._progress

    def experiment_done(self, exp, trained) -> None:
        self.close()
        if trained.status != "ok":
            console.print(f"  [red]failed:[/] {escape(trained.error)}")
            return
        h = trained.history
        how = f", {h.stop_reason.replace('_', ' ')} after {len(h.epochs)} epochs" if h else ""
        if trained.val.regression is not None:
            console.print(f"  val R² [bold]{trained.val.regression.r2:.3f}[/] (RMSE {trained.val.regression.rmse:.4g}), "
                          f"train R² {trained.train_r2:.3f}, {trained.train_seconds:.0f} s{how}")
            return
        console.print(
            f"  val accuracy [bold]{100 * trained.val.accuracy:.1f}%[/], train {100 * trained.train_accuracy:.1f}%, "
            f"{trained.train_seconds:.0f} s{how}"
        )


class _EpochProgress:
    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("  epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("{task.fields[metrics]}"), console=console, transient=True,
        )
        self.task = None
        self.last = ""

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("", total=steps, epoch=f"{epoch}/{epochs}", metrics="")
        self.progress.reset(self.task, total=steps, epoch=f"{epoch}/{epochs}", metrics=self.last)

    def step(self, done: int) -> None:
        self.progress.update(self.task, completed=done)

    def epoch_end(self, r) -> None:
        if r.val_r2 is not None:  # a regression (R² recorded)
            line = (f"epoch {r.epoch:>3}  loss {r.train_loss:.4f}  R² {r.train_r2:6.3f}  │  val loss {r.val_loss:.4f}  "
                    f"R² {r.val_r2:6.3f}  MAE {r.val_mae:.4g}  │  lr {r.lr:.2e}  {r.seconds:5.1f} s")
            self.last = f"last: val R² {r.val_r2:.3f}"
            self.progress.console.print("  " + line)
            return
        line = (f"epoch {r.epoch:>3}  loss {r.train_loss:.4f}  acc {100 * r.train_accuracy:5.1f}%  │  "
                f"val loss {r.val_loss:.4f}  acc {100 * r.val_accuracy:5.1f}%  │  lr {r.lr:.2e}  {r.seconds:5.1f} s")
        self.last = f"last: val acc {100 * r.val_accuracy:.1f}%"
        self.progress.console.print("  " + line)

    def close(self) -> None:
        if self.task is not None:
            self.progress.stop()
            self.task = None


@app.command()
def run(
    suite_file: Annotated[Optional[Path], typer.Argument(help="Suite YAML; default: the built-in digits case.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the newest (or --run-id) run of this suite where it stopped.")] = False,
    run_id: Annotated[Optional[str], typer.Option(help="With --resume: which run to continue.")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Where run directories go.")] = Path("runs"),
) -> None:
    """Run a case study: train every experiment, diagnose, select, and write the report."""
    from practica.config import load_suite
    from practica.pipeline.suite import run_suite

    path = suite_file or default_suite()
    reporter = RichReporter()
    try:
        suite = load_suite(path)
        console.print(f"[bold]practica[/] · suite [bold]{escape(suite.name)}[/] ({escape(str(path))}), "
                      f"{len(suite.experiments)} experiments")
        result = run_suite(suite, runs_root=runs_dir, resume=resume, run_id=run_id, reporter=reporter)
    except PracticaError as err:
        reporter.close()
        _fail(err)
    except KeyboardInterrupt:
        reporter.close()
        hint = _resume_hint(suite_file, runs_dir, resume, run_id, reporter.run_dir)
        err_console.print(f"[yellow]interrupted.[/] {escape(hint)}", soft_wrap=True)  # one line, to copy whole
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        reporter.close()
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


def _resume_hint(suite_file: Path | None, runs_dir: Path, resume: bool, run_id: str | None, run_dir: Path | None) -> str:
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
    for col in ("experiment", "verdict", *scores, "p95 ms", "size MB", "train s", "decision"):
        table.add_column(col, justify="right" if col not in ("experiment", "verdict", "decision") else "left")
    ranks = {r.experiment: r for r in run.decision.ranking}
    for r in run.results:
        ev = r.evaluation
        status = ranks[r.name].status if r.name in ranks else ""
        table.add_row(
            r.name,
            r.diagnosis.verdict if r.diagnosis else r.status,
            *(task.cell(c, ev)[1] if ev else "-" for c in shown),
            f"{ev.cost.latency_p95_ms:.2g}" if ev else "-",
            f"{ev.cost.size_mb:.3g}" if ev else "-",
            f"{r.train_seconds:.0f}",
            "[bold green]chosen[/]" if status == "chosen" else status,
        )
    console.print(table)
    for line in run.splits.drops:  # what cleaning dropped, one line per rule: never only in the report
        console.print(f"[yellow]{escape(line)}[/]")
    console.print(f"[bold]Decision:[/] {escape(run.decision.summary)}")
    console.print(f"[bold]Report:[/] {run.run_dir / 'report.html'}  (and report.md)")


@app.command()
def validate(suite_file: Annotated[Path, typer.Argument(help="Suite YAML to check.")]) -> None:
    """Check a suite file without running it: its keys and values, and that the data's files and folders
    exist and are of the right kind (they are not read)."""
    from practica.config import check_data_paths, load_suite

    try:
        suite = load_suite(suite_file)
        check_data_paths(suite)
    except PracticaError as err:
        _fail(err)
    console.print(f"[green]ok[/]: suite '{escape(suite.name)}' with {len(suite.experiments)} experiments: "
                  + ", ".join(e.name for e in suite.experiments))


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (runs/<suite>/<run-id>) of a finished run.")],
    experiment: Annotated[Optional[str], typer.Option(help="Which experiment; default: the chosen one.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Bundle folder; default: RUN_DIR/bundle (RUN_DIR/bundle-NAME for others).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing bundle folder.")] = False,
) -> None:
    """Package a trained experiment as a self-contained bundle: ONNX, weights, card, lineage, manifest."""
    from practica.bundle import load_bundle
    from practica.pipeline.export import export_run

    try:
        path = export_run(run_dir, experiment, out, overwrite=overwrite)
        bundle = load_bundle(path)
    except PracticaError as err:
        _fail(err)
    parity = bundle.card["onnx_parity"]
    console.print(f"[green]bundle[/] {escape(str(path))}: {escape(bundle.version)}, {escape(bundle.input.describe())} → "
                  f"{len(bundle.classes)} classes; ONNX agrees with the trained model to {parity['max_abs_diff']:.1e} "
                  f"on {parity['samples']} test samples")


PREVIEW_ROWS = 20
SHOWN_FAILURES = 3


@app.command()
def predict(
    bundle_dir: Annotated[Path, typer.Argument(metavar="BUNDLE", help="A bundle folder, as practica export wrote it.")],
    inputs: Annotated[list[Path], typer.Argument(
        metavar="INPUT", show_default=False,
        help="Image files; folders of images (sub-folders named after classes give true labels); pixel CSVs "
             "(label,pixel1,…); JSON or JSON Lines files of {\"image\": base64} / {\"pixels\": …} / "
             "{\"features\": …} records with optional \"id\" and \"label\".")],
    out: Annotated[Optional[Path], typer.Option(help="Write every row to this .csv or .json file; default: show the first rows.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="How many of the most probable labels each row lists.")] = 3,
) -> None:
    """Predict a batch of inputs with a bundle. An input that cannot be read becomes a row with an error."""
    from itertools import islice

    from practica.bundle import load_bundle
    from practica.prediction import Predictions, check_output_path, write_rows

    failures = []
    try:
        if out is not None:
            check_output_path(out)
        predictions = Predictions(load_bundle(bundle_dir), inputs, top_k=top_k)
        with Progress(TextColumn("predicting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True, disable=not console.is_terminal) as progress:
            task = progress.add_task("", total=predictions.total)
            rows = _tracked(predictions, progress, task, failures)
            if out is None:
                shown = list(islice(rows, PREVIEW_ROWS))
                for _ in rows:  # the rest still counts in the summary
                    pass
            else:
                write_rows(rows, out)
    except PracticaError as err:
        _fail(err)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted.[/]" + (f" Nothing was written to {escape(str(out))}." if out else ""))
        raise typer.Exit(130) from None
    s = predictions.summary
    if out is None:
        _print_predictions(shown, s.predicted + s.failed)
    else:
        console.print(f"[green]wrote[/] {s.predicted + s.failed:,} rows to {escape(str(out))}")
    for row in failures:
        if out is not None or row not in shown:
            console.print(f"  [red]failed:[/] {escape(row.input)}: {escape(row.error)}")
    line = f"[bold]{s.predicted:,} predicted[/], {s.failed:,} failed"
    if s.mae is not None:
        line += f"; mean absolute error [bold]{s.mae:.4g}[/] over {s.labelled:,} inputs with a known true value"
    if s.accuracy is not None:
        line += f"; accuracy [bold]{100 * s.accuracy:.2f}%[/] ({s.correct:,} correct of {s.labelled:,} with a known label)"
    console.print(line)


def _tracked(rows, progress, task, failures):
    """Advance the progress bar, and keep the first few failures to show with the summary."""
    for row in rows:
        if row.error is not None and len(failures) < SHOWN_FAILURES:
            failures.append(row)
        progress.advance(task)
        yield row


def _print_predictions(rows, total: int) -> None:
    table = Table(show_lines=False)
    labelled = any(r.true_label is not None for r in rows)
    failed = any(r.error is not None for r in rows)
    values = any(r.value is not None for r in rows)  # a regressor: one number, no probabilities
    table.add_column("input", overflow="fold")
    table.add_column("prediction", justify="right" if values else "left")
    if not values:
        table.add_column("probability", justify="right")
        table.add_column("most probable")
    if labelled:
        table.add_column("true value" if values else "true label", justify="right" if values else "left")
    if failed:
        table.add_column("error", overflow="fold")
    for r in rows:
        cells = [escape(r.input), escape(r.prediction or "")]
        if not values:
            cells += ["" if r.probability is None else f"{100 * r.probability:.1f}%",
                      escape(", ".join(f"{label} {100 * p:.1f}%" for label, p in r.top_k))]
        if labelled:
            cells.append(escape(r.true_label or ""))
        if failed:
            cells.append(f"[red]{escape(r.error or '')}[/]")
        table.add_row(*cells)
    if rows:
        console.print(table)
    if total > len(rows):
        console.print(f"… and {total - len(rows):,} more rows; write them all with --out preds.csv (or .json)")


@app.command()
def serve(
    bundle: Annotated[Path, typer.Argument(help="A bundle folder (from practica export, or RUN_DIR/bundle).")],
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 for every interface.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Processes, each with the model loaded; one per core serves the most requests.")] = 1,
    max_batch_size: Annotated[int, typer.Option(min=1, help="Inputs per ONNX Runtime call.")] = 64,
    max_wait_ms: Annotated[float, typer.Option(min=0, help="How long an input waits for others to share its batch (0: batch what is queued while the model runs).")] = 0.0,
    max_items: Annotated[int, typer.Option(min=1, help="Inputs per request.")] = 64,
    max_body_mb: Annotated[float, typer.Option(min=0.001, help="Largest request body.")] = 10.0,
    max_image_pixels: Annotated[int, typer.Option(min=1, help="Largest image (width × height) accepted.")] = 4096 * 4096,
    max_request_pixels: Annotated[int, typer.Option(
        min=1, help="Most pixels of a request's images, summed; checked before decoding.")] = 4 * 4096 * 4096,
    top_k: Annotated[int, typer.Option(min=1, help="Predictions per input when a request does not say.")] = 5,
    api_key: Annotated[Optional[str], typer.Option(envvar="PRACTICA_API_KEY", show_envvar=True,
                                                   help="Require this key (Authorization: Bearer KEY or X-API-Key).")] = None,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
    bench_routes: Annotated[bool, typer.Option("--bench-routes", hidden=True)] = False,
) -> None:
    """Serve a bundle over HTTP: POST /v1/predict, a page to try it at /, /v1/model, /v1/health, /metrics."""
    from practica.serving import ServeSettings
    from practica.serving.server import load_for_serving
    from practica.serving.server import serve as run_server

    try:
        settings = ServeSettings(max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, max_items=max_items,
                                 max_body_bytes=int(max_body_mb * 1024 * 1024), max_image_pixels=max_image_pixels,
                                 max_request_pixels=max_request_pixels,
                                 top_k=top_k, api_key=api_key or None, bench_routes=bench_routes)
        loaded = load_for_serving(bundle, workers)
    except PracticaError as err:
        _fail(err)
    console.print(f"[green]serving[/] {escape(loaded.version)} ({escape(loaded.input.describe())}) on "
                  f"http://{host}:{port}  ·  page /  ·  API docs /docs"
                  + ("  ·  API key required" if settings.api_key else ""), soft_wrap=True)
    run_server(loaded, settings, host=host, port=port, workers=workers, access_log=access_log)


@app.command()
def version() -> None:
    """Print the version."""
    from practica.pipeline.rundir import code_version

    console.print(code_version())


def _add_data_commands() -> None:
    from practica.cli_data import data_app

    app.add_typer(data_app, name="data")


_add_data_commands()
