"""practica registry list|register|promote|rollback|show: tables, and every bad input a one-line error (exit 2)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from practica.cli import app

runner = CliRunner()


def cli(*args: str, env: dict | None = None):
    return runner.invoke(app, ["registry", *args], env=env)


@pytest.fixture
def reg(tmp_path, cnn_bundle, baseline_bundle):
    root = tmp_path / "reg"
    assert cli("register", str(cnn_bundle), "--registry", str(root), "--alias", "production").exit_code == 0
    assert cli("register", str(baseline_bundle), "--registry", str(root), "--note", "challenger").exit_code == 0
    return root


def test_register_promote_rollback_show(reg, monkeypatch):
    monkeypatch.setenv("PRACTICA_REGISTRY", str(reg))  # no --registry: the environment's
    listed = cli("list")
    assert listed.exit_code == 0 and "v1" in listed.output and "production" in listed.output
    assert "challenger" in listed.output
    promoted = cli("promote", "production", "v2", "--reason", "better on the fresh test set")
    assert promoted.exit_code == 0 and "v1 → v2" in promoted.output
    shown = cli("show", "production")
    assert shown.exit_code == 0, shown.output
    assert "v2" in shown.output and "10 classes" in shown.output and "better on the fresh test set" in shown.output
    back = cli("rollback", "production")
    assert back.exit_code == 0 and "v2 → v1" in back.output


@pytest.mark.parametrize(("args", "message"), [
    (("list",), "no registry given"),
    (("list", "--registry", "{missing}"), "no model registry at"),
    (("show", "7", "--registry", "{reg}"), "version 7 is not in the registry"),
    (("show", "staging", "--registry", "{reg}"), "neither a version number nor an alias"),
    (("promote", "Prod!", "1", "--registry", "{reg}"), "not a valid alias"),
    (("promote", "staging", "9", "--registry", "{reg}"), "version 9 is not in the registry"),
    (("rollback", "staging", "--registry", "{reg}"), "alias 'staging' does not exist"),
    (("rollback", "production", "--registry", "{reg}"), "no earlier version"),
    (("register", "{not_bundle}", "--registry", "{reg}"), "cannot register"),
])
def test_bad_input_is_a_one_line_error(reg, tmp_path, monkeypatch, args, message):
    monkeypatch.delenv("PRACTICA_REGISTRY", raising=False)
    (tmp_path / "folder").mkdir()
    paths = {"reg": str(reg), "missing": str(tmp_path / "missing"), "not_bundle": str(tmp_path / "folder")}
    result = cli(*(a.format(**paths) for a in args))
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
