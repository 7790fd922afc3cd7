"""``practica data …``: look at a data set before training on it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from practica.cli.terminal import console, fail
from practica.errors import PracticaError
from practica.tasks import get_task

data_app = typer.Typer(help="Look at a data set before training on it.", no_args_is_help=True)

_STYLE = {"ok": "green", "warning": "yellow"}


@data_app.command()
def inspect(
    target: Annotated[Path, typer.Argument(metavar="SUITE_OR_PATH", help="A suite file (its data and fixed test set), "
                                           "or a data folder or file.")],
    near_distance: Annotated[int | None, typer.Option(
        "--near-distance", min=0, max=64,
        help="Largest perceptual-hash distance (of 64 bits) for two images to count as near duplicates; "
             "default 6 (hashes differ in even steps: 6 and 7 find the same pairs).")] = None,
    no_near: Annotated[bool, typer.Option("--no-near", help="Look for exact duplicates only.")] = False,
    min_similarity: Annotated[float, typer.Option(
        "--min-similarity", min=-1.0, max=1.0,
        help="Correlation two near-duplicate candidates' thumbnails need (at the best shift of up to 2 pixels); "
             "-1 lets the hash alone decide.")] = 0.8,
    imbalance: Annotated[float, typer.Option(
        "--imbalance-threshold", min=1.0,
        help="Warn when the largest class has this many times the smallest's samples.")] = 3.0,
    show: Annotated[int, typer.Option("--show", min=0, help="Examples shown per check.")] = 5,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every finding to this JSON file.")] = None,
    html_out: Annotated[Path | None, typer.Option(
        "--html", help="Write a page with example pairs as thumbnails.")] = None,
) -> None:
    """Check a data set before training: unreadable files, class balance, duplicates, leakage.

    Duplicates (exact, and near for images and texts) within each part and across train and test,
    duplicates whose labels differ, for feature tables missing, constant or infinite values, and for
    texts their lengths and odd characters."""
    from practica.data.duplicates.checks import check_data
    from practica.data.duplicates.hygiene import DEFAULT_NEAR_DISTANCE
    from practica.data.duplicates.inspection import load_target

    distance = None if no_near else (DEFAULT_NEAR_DISTANCE if near_distance is None else near_distance)
    try:
        for out in (json_out, html_out):
            if out is not None and out.is_dir():
                raise _OutputError(f"--json/--html {out} is a folder; give a file name, e.g. {out / 'hygiene.html'}")
        with console.status("loading the data…", spinner="dots"):
            seen = load_target(target)
        _print_loaded(console, seen)
        with console.status("checking…", spinner="dots"):
            report = check_data(seen.parts, near_distance=distance, imbalance_threshold=imbalance,
                                min_similarity=None if min_similarity <= -1.0 else min_similarity)
        _print_checks(console, report, show)
        if json_out is not None:
            from practica.io import write_json

            write_json(json_out, {"title": seen.title, "source": seen.source, **report.to_dict(limit=None)})
            console.print(f"[green]wrote[/] {escape(str(json_out))}")
        if html_out is not None:
            from practica.reporting.hygiene import write_page

            write_page(report, seen.parts, html_out, title=seen.title, source=seen.source, show=max(show, 12),
                       root=_common_root(report))
            console.print(f"[green]wrote[/] {escape(str(html_out))}")
    except PracticaError as err:
        fail(err)
    except OSError as err:
        fail(_OutputError(f"cannot write {err.filename}: {err.strerror}"))


def _common_root(report) -> str:
    """The folder every listed file lies in, so the examples can show shorter paths."""
    import os

    sources = [s for c in report.checks for f in c.findings[:50]
               for s in ((f.a_source, f.b_source) if hasattr(f, "a_source")
                         else (f.split(": ")[0],) if isinstance(f, str) else ())]
    if not sources or not all(os.path.isabs(s) for s in sources):
        return ""
    try:
        root = os.path.commonpath([os.path.dirname(s) for s in sources])
    except ValueError:
        return ""
    return root if len(root) > 1 else ""


class _OutputError(PracticaError):
    pass


def _print_loaded(console, seen) -> None:
    console.print(f"[bold]practica data inspect[/] · {escape(seen.title)}")
    console.print(f"  [dim]{escape(seen.source)}[/]")
    table = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 2))
    for col in ("part", "samples", "kind", "shape", "classes", "unreadable"):
        table.add_column(col, justify="right" if col in ("samples", "classes", "unreadable") else "left", style=None)
    for name, d in seen.parts.items():
        shape = "texts" if d.kind == "text" else "×".join(map(str, d.input_shape))
        table.add_row(name, f"{len(d):,}", d.kind, shape,
                      str(len(d.classes)) if get_task(d.task).has_classes else d.task, str(len(d.skipped)))
    console.print(table)
    first = next(iter(seen.parts.values()))
    if not get_task(first.task).has_classes:  # a numeric target: its distribution is in the checks below
        console.print("  target: a number (regression); see Target distribution below")
        return
    counts = [d.class_counts() for d in seen.parts.values()]
    shown = [f"{c} {'/'.join(f'{cc[c]:,}' for cc in counts)}" for c in first.classes[:20]]
    more = f" … ({len(first.classes)} classes)" if len(first.classes) > 20 else ""
    console.print(f"  classes ({' / '.join(seen.parts)}): {escape(', '.join(shown))}{more}")


def _print_checks(console, report, show: int) -> None:
    root = _common_root(report)
    if root:
        console.print(f"  files below [bold]{escape(root)}[/]")

    def name(source: str) -> str:
        return source[len(root):].lstrip("/\\") if root else source

    if report.near_distance is not None and report.is_text:
        console.print(f"  near duplicates: word-bigram Jaccard ≥ {report.min_similarity:g} (MinHash LSH, confirmed "
                      "exactly); exact: equal after NFKC, casefold and whitespace")
    elif report.near_distance is not None:
        sim = "" if report.min_similarity is None else f" and thumbnails correlating ≥ {report.min_similarity:.2f}"
        if report.max_difference is not None:
            sim += f", mean pixel difference ≤ {report.max_difference:g}/255 (best 1-px shift, brightness fitted)"
        console.print(f"  near duplicates: perceptual-hash distance ≤ {report.near_distance}{sim}")
    for note in report.notes:
        console.print(f"  [dim]{escape(note)}[/]")
    console.print()
    for c in report.checks:
        colour = _STYLE.get(c.status, "white")
        console.print(f"[bold {colour}]{c.status:>7}[/]  [bold]{escape(c.title)}[/]: {escape(c.summary)}")
        if not c.findings or show == 0 or c.name == "class_balance":
            continue
        listed = c.findings[:show]
        if hasattr(listed[0], "a_part"):
            table = Table(show_edge=False, box=None, padding=(0, 1), pad_edge=False)
            table.add_column("", width=7)
            table.add_column(listed[0].a_part if c.name.endswith("across") else "sample", overflow="fold")
            table.add_column(listed[0].b_part if c.name.endswith("across") else "duplicate", overflow="fold")
            table.add_column("Jaccard" if report.is_text else "distance (corr.)", justify="right")
            for p in listed:
                conflict = "[red]" if p.labels_differ else ""
                table.add_row("", f"{escape(name(p.a_source))} {conflict}({escape(p.a_label)})",
                              f"{escape(name(p.b_source))} {conflict}({escape(p.b_label)})",
                              "identical" if p.exact else f"{p.similarity:.2f}" if report.is_text
                              else f"{p.distance} ({p.similarity:.2f})")
            console.print(table)
        else:
            for f in listed:
                text = name(f) if isinstance(f, str) else f.line
                console.print(f"           {escape(text)}")
        if len(c.findings) > show:
            console.print(f"           [dim]… and {len(c.findings) - show:,} more (--show, --json, --html)[/]")
    warnings = report.warnings
    console.print()
    if warnings:
        console.print(f"[bold yellow]{len(warnings)} of {len(report.checks)} checks warn[/]: "
                      + ", ".join(escape(c.title.lower()) for c in warnings) + f"  ({report.seconds:.1f} s)")
    else:
        console.print(f"[bold green]all {len(report.checks)} checks ok[/]  ({report.seconds:.1f} s)")
