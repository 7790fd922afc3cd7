"""The registry store: versions, aliases, atomic moves and their history, and clear errors."""

from __future__ import annotations

import shutil

import pytest

from practica.errors import RegistryError
from practica.registry import Registry, open_registry


def test_register_promote_rollback(tmp_path, cnn_bundle, baseline_bundle):
    reg = Registry(tmp_path / "reg")
    v1 = reg.register(cnn_bundle, alias="production", note="first")
    v2 = reg.register(baseline_bundle)
    assert (v1.number, v2.number) == (1, 2)
    assert reg.aliases() == {"production": 1}
    assert (reg.path("production") / "bundle.json").is_file()
    move = reg.promote("production", 2, reason="better")
    assert (move.before, move.after) == (1, 2)
    assert reg.version("production").number == 2
    back = reg.rollback("production")
    assert (back.before, back.after) == (2, 1)
    assert [e["event"] for e in reg.history()] == ["register", "promote", "register", "promote", "rollback"]
    assert reg.version("v2").bundle_version == v2.bundle_version


def test_errors_name_the_problem(tmp_path, cnn_bundle):
    with pytest.raises(RegistryError, match="no model registry"):
        Registry(tmp_path / "none").versions()
    reg = Registry(tmp_path / "reg")
    reg.register(cnn_bundle)
    with pytest.raises(RegistryError, match="version 7 is not in the registry"):
        reg.version(7)
    with pytest.raises(RegistryError, match="neither a version number nor an alias"):
        reg.version("production")
    with pytest.raises(RegistryError, match="not a valid alias"):
        reg.promote("Prod!", 1)
    reg.promote("staging", 1)
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        reg.rollback("staging")
    with pytest.raises(RegistryError, match="no registry given"):
        open_registry(None)


def test_an_altered_bundle_is_refused_and_leaves_nothing(tmp_path, cnn_bundle):
    bad = tmp_path / "bad"
    shutil.copytree(cnn_bundle, bad)
    (bad / "bundle.json").write_text("{}")
    reg = Registry(tmp_path / "reg")
    with pytest.raises(RegistryError, match="cannot register"):
        reg.register(bad)
    assert not (tmp_path / "reg" / "versions").exists() or not any((tmp_path / "reg" / "versions").iterdir())
