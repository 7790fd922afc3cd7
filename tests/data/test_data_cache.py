"""The decoded-folder cache: reused when nothing changed, rebuilt when anything did or it is damaged."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from data_images import folder, image_tree

from practica.data import load_source
from practica.data.sources import folder as folder_source


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts calls of the folder decoder (each appends the number of files)."""
    calls: list[int] = []
    real = folder_source.decode_many

    def counting(paths, image_size, channels):
        calls.append(len(paths))
        return real(paths, image_size, channels)

    monkeypatch.setattr(folder_source, "decode_many", counting)
    return calls


def _entry(cache_dir: Path) -> Path:
    (entry,) = [p for p in cache_dir.iterdir() if not p.name.startswith(".")]
    return entry


def test_second_load_reads_the_cache_and_does_not_decode(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image_tree(tmp_path, {"a": 3, "b": 2})
    (tmp_path / "a" / "empty.png").write_bytes(b"")
    first = load_source(folder(tmp_path))
    assert {p.name for p in _entry(cache_dir).iterdir()} == {"x.npy", "y.npy", "meta.json"}

    def no_decoding(*args: object) -> None:
        raise AssertionError("decoded again although nothing changed")

    monkeypatch.setattr(folder_source, "decode_many", no_decoding)
    again = load_source(folder(tmp_path))
    np.testing.assert_array_equal(again.x, first.x)
    np.testing.assert_array_equal(again.y, first.y)
    assert (again.name, again.classes, again.sources, again.skipped) == (
        first.name, first.classes, first.sources, first.skipped
    )


def test_a_changed_file_or_other_size_decodes_again(tmp_path: Path, decodes: list[int]) -> None:
    image_tree(tmp_path, {"a": 2, "b": 2})
    load_source(folder(tmp_path))
    later = time.time_ns() + 10**9
    os.utime(tmp_path / "b" / "001.png", ns=(later, later))
    load_source(folder(tmp_path))
    load_source(folder(tmp_path, image_size=(4, 4)))
    load_source(folder(tmp_path, image_size=(4, 4)))
    assert decodes == [4, 4, 4]


def _truncate_x(entry: Path) -> None:
    x = entry / "x.npy"
    x.write_bytes(x.read_bytes()[:-10])


def _flip_a_pixel(entry: Path) -> None:
    x = entry / "x.npy"
    raw = bytearray(x.read_bytes())
    raw[-1] ^= 0xFF
    x.write_bytes(bytes(raw))


def _garble_meta(entry: Path) -> None:
    (entry / "meta.json").write_text('{"format": 1, "ke')


def _lose_y(entry: Path) -> None:
    (entry / "y.npy").unlink()


@pytest.mark.parametrize("damage", [_truncate_x, _flip_a_pixel, _garble_meta, _lose_y])
def test_a_damaged_entry_is_rebuilt_not_trusted(tmp_path: Path, cache_dir: Path, decodes: list[int], damage) -> None:
    image_tree(tmp_path, {"a": 2, "b": 2})
    first = load_source(folder(tmp_path))
    damage(_entry(cache_dir))
    rebuilt = load_source(folder(tmp_path))
    np.testing.assert_array_equal(rebuilt.x, first.x)
    assert decodes == [4, 4]
    load_source(folder(tmp_path))  # and the rebuilt entry is whole again
    assert decodes == [4, 4]


def test_leftovers_of_a_killed_writer_are_ignored_then_cleared(tmp_path: Path, cache_dir: Path) -> None:
    stale = cache_dir / ".tmp-0123456789abcdef-killed"
    stale.mkdir(parents=True)
    (stale / "x.npy").write_bytes(b"\x93NUMPY half")
    hour_ago = time.time() - 7200
    os.utime(stale, (hour_ago, hour_ago))
    image_tree(tmp_path, {"a": 1, "b": 1})
    assert len(load_source(folder(tmp_path))) == 2
    assert not stale.exists()
