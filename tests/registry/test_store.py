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
    with pytest.raises(RegistryError, match="no earlier version to roll back to"):
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


def test_rollbacks_walk_back_one_promotion_at_a_time(tmp_path, cnn_bundle, baseline_bundle):
    reg = Registry(tmp_path / "reg")
    for bundle in (cnn_bundle, baseline_bundle, cnn_bundle):
        reg.register(bundle)
    for n in (1, 2, 3):
        reg.promote("production", n)
    reg.promote("production", 3)  # promoting where it points changes nothing to roll back through
    assert reg.rollback("production").after == 2
    assert reg.rollback("production").after == 1  # a second rollback goes further back; it does not undo the first
    with pytest.raises(RegistryError, match="no earlier version"):
        reg.rollback("production")
    reg.promote("production", 3)
    assert reg.rollback("production").after == 1


def test_a_canary_rollback_is_recorded_and_points_its_alias_back(tmp_path, cnn_bundle, baseline_bundle):
    reg = Registry(tmp_path / "reg")
    reg.register(cnn_bundle, alias="canary")
    reg.register(baseline_bundle)
    reg.promote("canary", 2)
    move = reg.record_canary_rollback(2, reason="error rate 50% over 5%", alias="canary")
    assert move is not None and (move.before, move.after) == (2, 1) and reg.aliases()["canary"] == 1
    assert reg.record_canary_rollback(2, reason="p95 too slow") is None  # no alias: the event alone
    events = [e for e in reg.history() if e["event"] == "canary_rollback"]
    assert [e.get("after") for e in events] == [1, None] and events[1]["version"] == 2
