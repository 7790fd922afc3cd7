"""``practica monitor DB|URL``: a prediction log's HTML report, from the log file or a running server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from practica.cli.terminal import console, fail
from practica.errors import PracticaError


def monitor(
    source: Annotated[str, typer.Argument(
        metavar="DB|URL", help="A prediction log (the file given to practica serve --monitor-db) or a running "
                               "server's address (http://HOST:PORT).")],
    out: Annotated[Path, typer.Option(help="Where to write the HTML report.")] = Path("monitor.html"),
    window: Annotated[int, typer.Option(min=1, help="Inputs per drift window (the server's --monitor-window).")] = 1000,
    limit: Annotated[int, typer.Option(min=1, help="Read at most this many of the newest rows.")] = 200_000,
    api_key: Annotated[str | None, typer.Option(
        envvar="PRACTICA_API_KEY", show_envvar=True, help="The server's API key, for a URL.")] = None,
) -> None:
    """Report a served model's traffic, OOD rate, predicted classes and drift over time, as one HTML page."""
    from practica.monitoring.page import write_monitor_page
    from practica.monitoring.sources import load_source

    try:
        data = load_source(source, limit=limit, api_key=api_key)
        report = write_monitor_page(data, out, window=window)
    except PracticaError as err:
        fail(err)
    except OSError as err:
        fail(PracticaError(f"cannot write {out}: {err}"))
    console.print(f"[green]wrote[/] {escape(str(out))}: {len(data.rows):,} inputs, "
                  f"{len(report.alerts)} drift alert(s) in the newest {report.rows:,}")
    for check in report.alerts:
        console.print(f"  [red]alert[/] {escape(check.sentence)}")
