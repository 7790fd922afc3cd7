"""What every command shares: the consoles, the exit codes, and how a ``PracticaError`` ends a command."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from practica.errors import PracticaError

console = Console()
err_console = Console(stderr=True)

EXIT_USAGE = 2  # a PracticaError: the suite, data, options or run directory must change
EXIT_EXPERIMENT_FAILED = 3
EXIT_NO_MODEL = 4
EXIT_INTERRUPTED = 130


def fail(err: PracticaError) -> NoReturn:
    """Print the error's message (it says what to change) and end the command with exit code 2."""
    err_console.print(f"[bold red]error:[/] {escape(str(err))}")
    raise typer.Exit(EXIT_USAGE)
