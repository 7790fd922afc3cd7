"""What every command shares: the consoles, the exit codes, and how a ``PracticaError`` ends a command.

Piped (a CI log, ``| tee``), there is no screen to fit: rich would cut every table and line at 80
columns ("undert…", "reject…"), so a piped console is wide and never wraps; a heading that would
be a rule across the screen is a plain line there (``heading``).
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from practica.errors import PracticaError

# Wide enough for any table practica prints whole; a piped console prints no rule or bar at this width.
PIPED_WIDTH = 1000


def _console(stderr: bool = False) -> Console:
    on_screen = Console(stderr=stderr)
    return on_screen if on_screen.is_terminal else Console(stderr=stderr, width=PIPED_WIDTH, soft_wrap=True)


console = _console()
err_console = _console(stderr=True)

EXIT_USAGE = 2  # a PracticaError: the suite, data, options or run directory must change
EXIT_EXPERIMENT_FAILED = 3
EXIT_NO_MODEL = 4
EXIT_INTERRUPTED = 130


def heading(text: str) -> None:
    """A section heading (rich markup): a rule across a terminal; one plain line in a log."""
    if console.is_terminal:
        console.rule(text)
    else:
        console.print(f"── {text} ──")


def fail(err: PracticaError) -> NoReturn:
    """Print the error's message (it says what to change) and end the command with exit code 2."""
    err_console.print(f"[bold red]error:[/] {escape(str(err))}")
    raise typer.Exit(EXIT_USAGE)
