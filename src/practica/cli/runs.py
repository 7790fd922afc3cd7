"""``practica runs …``: finished runs side by side: list them, show one, compare several.

RUN is a run directory's path, or a run id under --runs-dir (``20261203-170512``, a unique prefix of
one, or ``suite/run-id``); the figures, words and formats are the report's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from practica.cli.terminal import console, fail
from practica.errors import PracticaError, RunError
from practica.text import DASH, count, duration, moment, size

if TYPE_CHECKING:
    from practica.runs import Comparison, RunView

runs_app = typer.Typer(help="Finished runs side by side: list them, show one, compare several.",
                       no_args_is_help=True)

RunsDir = Annotated[Path, typer.Option("--runs-dir", help="Where practica run wrote its run directories.")]
_STANDING_STYLE = {"chosen": "bold green", "rejected": "yellow", "failed": "red"}


@runs_app.command("list")
def list_runs(
    suite: Annotated[str | None, typer.Argument(help="Only this suite's runs (its name).")] = None,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Every run under --runs-dir, newest first: its status, the chosen model and its validation figure."""
    from practica.runs import list_runs as find

    try:
        entries = find(runs_dir, suite)
    except PracticaError as err:
        fail(err)
    if not entries:
        console.print(f"no runs under {escape(str(runs_dir))} yet; practica run SUITE --runs-dir "
                      f"{escape(str(runs_dir))} makes one")
        return
    table = Table(show_edge=False, box=None, padding=(0, 2), pad_edge=False)
    for col in ("run", "suite", "started", "status", "chosen", "validation (95% interval)", "wall time"):
        table.add_column(col, justify="right" if col == "wall time" else "left")
    for e in entries:
        figure = DASH if e.metric is None else f"{e.metric.show_with(e.value, e.interval)} {e.metric.name}"
        table.add_row(e.run_id, escape(e.suite), moment(e.started, seconds=False), e.status, escape(e.chosen or DASH),
                      figure, duration(e.seconds))
    console.print(table)


@runs_app.command()
def show(
    run: Annotated[str, typer.Argument(metavar="RUN", help="A run directory, or a run id under --runs-dir.")],
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """One finished run: its decision with the reason for every experiment, and each experiment's figures."""
    view = _read(run, runs_dir)
    r = view.result
    metric = view.metric
    console.print(f"[bold]{escape(view.label)}[/] · {r.status} · started {moment(view.started, seconds=False)} · "
                  f"wall time {duration(view.seconds)}")
    console.print(f"  [dim]{escape(str(r.run_dir))}[/]")
    table = Table(show_edge=False, box=None, padding=(0, 2), pad_edge=False)
    for col in ("experiment", f"{metric.label} (95%)", "p50 latency (95%)", "params", "size", "train time",
                "verdict", "standing"):
        table.add_column(col, justify="left" if col in ("experiment", "verdict", "standing") else "right")
    for e in view.experiments:
        ev = e.evaluation
        table.add_row(
            escape(e.name),
            metric.show_with(*e.figure(metric)),
            e.latency, count(ev.cost.params) if ev else DASH, size(ev.cost.size_bytes) if ev else DASH,
            duration(e.train_seconds), e.verdict or DASH, _standing(e.standing),
        )
    console.print(table)
    console.print(f"[bold]Decision:[/] {escape(r.decision.summary)}")
    for e in view.experiments:
        if e.reason:
            console.print(f"  {escape(e.name)} — {_standing(e.standing)}: {escape(e.reason)}")
    console.print(f"[bold]Report:[/] {escape(str(r.report_html))}")


@runs_app.command()
def compare(
    runs: Annotated[list[str], typer.Argument(metavar="RUN RUN...", show_default=False,
                                              help="Two runs or more: run directories, or run ids under --runs-dir.")],
    runs_dir: RunsDir = Path("runs"),
    html: Annotated[Path | None, typer.Option(
        "--html", help="Also write a page with the tables and the validation curves overlaid.")] = None,
) -> None:
    """Experiments side by side across runs: the settings that differ, the data, each experiment's
    validation figure with its interval (and whether it moved beyond noise), and each run's decision."""
    from practica.runs import compare_runs

    try:
        if len(runs) < 2:
            raise RunError(f"compare needs two runs or more; got {len(runs)} ({', '.join(runs)}). "
                           "Give another RUN, e.g. one that practica runs list shows")
        if html is not None and html.is_dir():
            raise RunError(f"--html {html} is a folder; give a file name, e.g. {html / 'compare.html'}")
        views = [_read(ref, runs_dir) for ref in runs]
        paths = [v.result.run_dir.resolve() for v in views]
        if len(set(paths)) < len(paths):
            twice = next(v.label for v, p in zip(views, paths, strict=True) if paths.count(p) > 1)
            raise RunError(f"the run {twice} is given twice; compare different runs")
        comparison = compare_runs(views)
        _print_comparison(comparison)
        if html is not None:
            from practica.reporting.compare import write_compare_page

            write_compare_page(comparison, html)
            console.print(f"[green]wrote[/] {escape(str(html))}")
    except PracticaError as err:
        fail(err)
    except OSError as err:
        fail(RunError(f"cannot write {err.filename}: {err.strerror}"))


def _read(ref: str, runs_dir: Path) -> RunView:
    from practica.runs import read_run, resolve_run

    try:
        return read_run(resolve_run(ref, runs_dir))
    except PracticaError as err:
        fail(err)


def _print_comparison(c: Comparison) -> None:
    names = c.names
    console.print(f"[bold]Comparing {len(c.runs)} runs[/] on {c.metric.label}")
    for name, run in zip(names, c.runs, strict=True):
        r = run.result
        console.print(f"  [bold]{name}[/]  {escape(run.label)}  {r.status}, chosen {escape(r.chosen or 'none')}, "
                      f"started {moment(run.started, seconds=False)}, wall time {duration(run.seconds)}, "
                      f"practica {escape(run.code_version or DASH)}")
    if c.same_data:
        console.print(f"[bold]Data:[/] the same in every run (fingerprint {(c.runs[0].fingerprint or '')[:12]})")
    elif c.same_data is False:
        console.print("[bold yellow]Data: the runs used different data[/]")
    arrow = " → ".join(names)
    if c.differences:
        console.print(f"[bold]Settings that differ[/] ({arrow}; {DASH}: not in that run's suite, e.g. one an older "
                      "practica wrote):")
        for d in c.differences:
            where = "suite" if d.where == ("suite",) else ", ".join(d.where)
            console.print(f"  {escape(d.key)}: {escape(d.change)}   [dim]in {escape(where)}[/]")
    else:
        console.print("[bold]Settings:[/] the same in every run")
    for exp, has in c.only_in.items():
        console.print(f"  experiment {escape(exp)} only in {escape(', '.join(has))}")
    table = Table(show_edge=False, box=None, padding=(0, 2), pad_edge=False, title_justify="left",
                  title=f"{c.metric.label} (95% interval) and standing")
    table.add_column("experiment")
    for name in names:
        table.add_column(name, justify="right")
    for name in names[1:]:
        table.add_column(f"{name} vs {names[0]}")
    for contrast in c.contrasts:
        cells = []
        for cell in contrast.cells:
            cells.append(DASH if cell is None else
                         f"{c.metric.show_with(*cell.figure(c.metric))} {_standing(cell.standing)}")
        table.add_row(escape(contrast.experiment), *cells, *map(_call, contrast.calls))
    console.print(table)
    for note in c.notes:
        console.print(f"[yellow]note:[/] {escape(note)}" if c.same_data is False and "different data" in note
                      else f"[dim]{escape(note)}[/]")
    console.print("[bold]Decisions:[/]")
    for name, run in zip(names, c.runs, strict=True):
        console.print(f"  [bold]{name}[/] {escape(run.result.decision.summary)}")


def _call(text: str) -> str:
    return f"[bold]{escape(text)}[/]" if text.startswith("beyond") else escape(text)


def _standing(status: str) -> str:
    style = _STANDING_STYLE.get(status)
    return f"[{style}]{status}[/]" if style else status

