"""The prediction log: rows go in off the caller's thread, come back as written, and the file stays bounded."""

from __future__ import annotations

import sqlite3
import time

import numpy as np
import pytest

from practica.errors import MonitorError
from practica.monitoring import PredictionLog, PredictionRow, log_stats, read_rows


def row(i: int, **changes) -> PredictionRow:
    fields = dict(time=1_700_000_000.0 + i, model_version="v1", request_id=f"r{i}",
                  input_summary={"features": [i, None]}, output="a", confidence=0.9, latency_ms=1.5)
    return PredictionRow(**{**fields, **changes})


def test_rows_come_back_as_recorded(tmp_path):
    path = tmp_path / "log.db"
    with PredictionLog(path) as plog:
        plog.record([row(0), row(1, output=3.5, ood_score=2.0, ood_flag=True, role="shadow", client="c1")])
        plog.record([row(2, error="boom", output=None, confidence=None)])
    back = read_rows(path)
    assert back == [row(0), row(1, output=3.5, ood_score=2.0, ood_flag=True, role="shadow", client="c1"),
                    row(2, error="boom", output=None, confidence=None)]
    assert [r.request_id for r in read_rows(path, since=1_700_000_001.0)] == ["r1", "r2"]
    assert [r.request_id for r in read_rows(path, limit=2)] == ["r1", "r2"]  # the newest two, oldest first
    assert [r.request_id for r in read_rows(path, role="shadow")] == ["r1"]
    assert plog.recorded == 3 and plog.dropped == 0


def test_record_never_waits_for_the_disk(tmp_path):
    with PredictionLog(tmp_path / "log.db") as plog:
        rows = [row(i) for i in range(64)]
        started = time.perf_counter()
        for _ in range(500):
            plog.record(rows)
        per_call = (time.perf_counter() - started) / 500
        assert per_call < 0.002  # a queue put, not an insert (32,000 rows are written meanwhile)
        # a live log can be read while it writes: reading flushes what is queued first
        assert len(read_rows(plog)) == 500 * 64


def test_the_log_is_bounded_oldest_rows_go_first(tmp_path):
    path = tmp_path / "log.db"
    with PredictionLog(path, max_rows=100) as plog:
        for i in range(0, 1000, 10):
            plog.record([row(j) for j in range(i, i + 10)])
            plog.flush()
            assert log_stats(path).rows <= 110  # max_rows plus one chunk (a tenth)
    kept = read_rows(path)
    assert 100 <= len(kept) <= 110
    assert kept[-1].request_id == "r999" and kept[0].request_id == f"r{1000 - len(kept)}"


def test_two_writers_on_one_file_stay_bounded(tmp_path):
    """Server workers are processes sharing one file: the ids they write are one sequence."""
    path = tmp_path / "log.db"
    with PredictionLog(path, max_rows=50) as a, PredictionLog(path, max_rows=50) as b:
        for i in range(40):
            (a if i % 2 else b).record([row(i * 10 + j) for j in range(10)])
    assert 50 <= log_stats(path).rows <= 60


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "no prediction log at"),
    (lambda p: p.mkdir(), "a folder, not a file"),
    (lambda p: p.write_bytes(b"this is not sqlite, just some bytes" * 100), "not a readable prediction log"),
    (lambda p: sqlite3.connect(p).executescript("CREATE TABLE other (x); PRAGMA user_version = 7;"),
     "not a practica prediction log"),
])
def test_bad_files_are_clear_errors(tmp_path, setup, message):
    path = tmp_path / "log.db"
    setup(path)
    with pytest.raises(MonitorError, match=message):
        read_rows(path)


def test_a_corrupt_file_is_refused_when_the_server_starts(tmp_path):
    path = tmp_path / "log.db"
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(MonitorError, match="move it away"):
        PredictionLog(path)


def test_max_rows_must_be_positive(tmp_path):
    with pytest.raises(MonitorError, match="max_rows must be at least 1"):
        PredictionLog(tmp_path / "log.db", max_rows=0)


def test_large_images_are_summarised_at_once_small_ones_by_the_writer(tmp_path):
    """A request's photographs are summarised on the request path (their decoding dwarfs it, and the
    queue should not hold them); small inputs wait for the writer. Both give the same rows."""
    from prometheus_client import CollectorRegistry

    from practica.monitoring.service import SUMMARISE_NOW_BYTES, Monitor

    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    side = int((SUMMARISE_NOW_BYTES / 3) ** 0.5) + 1
    large = rng.integers(0, 256, (1, side, side, 3), dtype=np.uint8)
    monitor = Monitor(tmp_path / "log.db", model_version="v", reference={}, registry=CollectorRegistry())
    answers = [{"label": "a", "probability": 0.5, "ood": {"score": 1.5, "flag": False}}]
    monitor.record_answers(small, answers * 2, request_id="s", started=time.perf_counter())
    monitor.record_answers(large, answers, request_id="l", started=time.perf_counter())
    monitor.close()
    rows = {r.request_id: r for r in read_rows(tmp_path / "log.db")}
    assert rows["l"].input_summary["brightness"] == pytest.approx(large.mean() / 255, abs=1e-5)
    assert rows["s"].input_summary["channel_means"] == pytest.approx((small[1].reshape(-1, 3).mean(0) / 255).tolist(),
                                                                     abs=1e-5)
    assert (rows["l"].ood_score, rows["l"].ood_flag, rows["l"].confidence) == (1.5, False, 0.5)
