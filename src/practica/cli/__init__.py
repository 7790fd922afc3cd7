"""The command line: a thin layer over the stages. ``practica --help`` lists the commands.

Exit codes (``practica run``; the other commands use 0, 2 and 130 alike):

    0    the run completed: every experiment trained and a model was chosen
    1    an unexpected error (a bug): its traceback is printed
    2    the command cannot run as given: a bad suite, data, option or run directory (typer's usage
         errors are 2 too); the message says what to change
    3    some experiment failed (the report and run.json say which and why); a model may still be chosen
    4    every experiment trained, but none meets the selection policy: no model is chosen
    130  interrupted (Ctrl-C); the message says how to resume

One module per group of commands: ``suite`` (run, validate), ``bundle`` (export, predict, serve),
``data`` (``practica data …``) and ``runs`` (``practica runs list|show|compare``); ``terminal`` holds what
they share.
"""

from __future__ import annotations

from typing import Annotated

import typer

from practica.cli import bundle, suite
from practica.cli.data import data_app
from practica.cli.monitor import monitor
from practica.cli.pipeline import pipeline as pipeline_command
from practica.cli.registry import registry_app
from practica.cli.runs import runs_app
from practica.cli.suite import default_suite
from practica.cli.terminal import console
from practica.cli.tune import tune

app = typer.Typer(
    help="practica: from a data set to a model in production, with the evidence for every decision.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for command in (suite.run, suite.validate, bundle.export, bundle.predict, bundle.serve):
    app.command()(command)
app.command(name="pipeline")(pipeline_command)
app.command()(tune)
app.command()(monitor)


def _print_version(value: bool) -> None:
    if value:
        version()
        raise typer.Exit()


@app.callback()
def main(
    show_version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """practica: from a data set to a model in production, with the evidence for every decision."""


@app.command()
def version() -> None:
    """Print the version (with the git commit when run from a checkout)."""
    from practica.version import code_version

    console.print(code_version())


app.add_typer(data_app, name="data")
app.add_typer(runs_app, name="runs")
app.add_typer(registry_app, name="registry")

__all__ = ["app", "default_suite"]
