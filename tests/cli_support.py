"""The command line as the tests call it: a run that must not crash, and whether its output says something."""

from __future__ import annotations

from typer.testing import CliRunner

from practica.cli import app

runner = CliRunner()


def invoke(*args):
    """``practica ARGS…`` (each argument as text: paths too); a traceback in its output fails the test."""
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def said(result, *phrases) -> bool:
    """Whether the output holds every phrase, whitespace aside: rich wraps and folds long lines."""
    output = "".join(result.output.split())
    return all("".join(p.split()) in output for p in phrases)
