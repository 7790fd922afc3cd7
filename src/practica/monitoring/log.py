"""The prediction log: every answered input as a row in a SQLite file, written off the request path.

``PredictionLog.record`` puts rows on a queue and returns at once; one writer thread drains the
queue and inserts what has gathered in one transaction (a batch), so a request never waits on the
disk. When the queue is full (the disk cannot keep up) rows are dropped, counted and warned about
once: losing monitoring rows beats slowing the service.

Bounded by deleting the oldest rows in chunks rather than rotating to a ``.1`` file: several
server workers (processes) write one file, and readers (``GET /v1/monitor``, ``practica monitor``)
read it while they do. Renaming a SQLite file under open WAL connections would leave the other
processes writing to the renamed file; a ``DELETE`` of the lowest ids is one transaction every
connection sees, and the window a reader wants (the newest rows) is always whole in one file.
The file holds at most ``max_rows`` plus one chunk (a tenth) per writing process.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import orjson

from practica.errors import MonitorError
from practica.monitoring.records import PredictionRow

log = logging.getLogger("practica")

DEFAULT_MAX_ROWS = 1_000_000  # ~200 MB of rows for a table of a dozen features; days of traffic at 10 req/s
QUEUE_BATCHES = 100_000  # record() calls waiting for the writer; beyond this rows are dropped, never waited for
QUEUE_BYTES = 256 * 1024 * 1024  # inputs held for the writer to summarise; beyond this rows are dropped too
BATCH_ROWS = 5_000  # rows the writer inserts in one transaction at most
# How often the writer comes for the queued rows: a commit costs as much as a few hundred rows, so
# committing each request's rows as they come would cost more than everything else the log does.
# A flush (a reader) or close wakes it at once.
GATHER_S = 0.25
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 5_000  # another worker process holding the write lock: wait this long, then drop the batch
COLUMNS = ("time", "model_version", "role", "request_id", "client", "input_summary", "output", "confidence",
           "ood_score", "ood_flag", "latency_ms", "error")
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL, model_version TEXT NOT NULL, role TEXT NOT NULL, request_id TEXT NOT NULL,
    client TEXT, input_summary TEXT NOT NULL, output TEXT, confidence REAL, ood_score REAL, ood_flag INTEGER,
    latency_ms REAL NOT NULL, error TEXT
);
CREATE TABLE IF NOT EXISTS models (
    model_version TEXT PRIMARY KEY, reference TEXT NOT NULL, feature_names TEXT NOT NULL, time REAL NOT NULL
);
PRAGMA user_version = {SCHEMA_VERSION};
"""
# No index on time: every insert would pay for it, and readers want the newest rows (by id, the primary key).
_INSERT = f"INSERT INTO predictions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_STOP = object()


class DeferredRows(Protocol):
    """Rows whose values are worked out by the writer thread, not by the caller: a server queues what
    it has at hand (the decoded inputs, its answers) and the writer summarises many requests at once."""

    @classmethod
    def batch_values(cls, items: list) -> list[tuple]:
        """The rows of ``items`` (all of this class) as tuples in ``COLUMNS`` order."""
        ...

    def __len__(self) -> int: ...


@dataclass(frozen=True)
class LogStats:
    rows: int
    first_time: float | None
    last_time: float | None


class PredictionLog:
    """A bounded SQLite log of predictions, written by a thread of its own.

    >>> plog = PredictionLog("predictions.db", max_rows=100_000)  # doctest: +SKIP
    >>> plog.record([row, ...])   # returns at once
    >>> plog.close()              # writes what is queued, then stops the writer
    """

    def __init__(self, path: str | Path, *, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        if max_rows < 1:
            raise MonitorError(f"max_rows must be at least 1, not {max_rows}")
        self.path = Path(path)
        self.max_rows = max_rows
        self.trim_every = max(1, max_rows // 10)
        self.recorded = 0  # rows written (by this process)
        self.dropped = 0  # rows lost: the queue was full, or the disk refused them
        # Opened here, once, so that a path that cannot hold a log fails when the server starts, not later.
        connect(self.path, create=True).close()
        # A deque and no condition: record() appends without waking the writer (waking a thread on every
        # request costs the event loop a GIL hand-off each time); the writer comes for the rows on its own.
        self._pending: deque = deque()
        self._queued_bytes = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._warned = False
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="practica-prediction-log", daemon=True)
        self._writer.start()

    def describe_model(self, model_version: str, reference: dict, feature_names: Sequence[str] = ()) -> None:
        """Keep a model's reference statistics in the log, so that the log alone says what its rows are
        compared against (``practica monitor DB`` needs no bundle). Written at once, at startup."""
        conn = connect(self.path, create=True)
        try:
            with conn:
                conn.execute("INSERT OR REPLACE INTO models VALUES (?, ?, ?, ?)",
                             (model_version, orjson.dumps(reference).decode(),
                              orjson.dumps(list(feature_names)).decode(), time.time()))
        except sqlite3.Error as err:
            raise MonitorError(f"cannot write to the prediction log {self.path}: {err}") from None
        finally:
            conn.close()

    def record(self, rows: list[PredictionRow] | DeferredRows) -> None:
        """Queue ``rows`` for the writer; never blocks (a full queue drops them, with one warning)."""
        if not len(rows) or self._closed:
            return
        size = getattr(rows, "nbytes", 0)
        with self._lock:
            full = len(self._pending) >= QUEUE_BATCHES or self._queued_bytes + size > QUEUE_BYTES
            if not full:
                self._pending.append(rows)  # the writer is not woken: it comes for the rows every GATHER_S
                self._queued_bytes += size
        if full:
            self.dropped += len(rows)
            self._warn_once(f"the prediction log {self.path} cannot keep up; {len(rows)} rows dropped "
                            "(the service goes on; a faster disk helps)")

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row queued so far is written; False if that took longer than ``timeout``."""
        if self._closed:
            return True
        done = threading.Event()
        self._pending.append(done)
        self._wake.set()
        return done.wait(timeout)

    def close(self) -> None:
        """Write what is queued, then stop the writer. Later ``record`` calls are ignored."""
        if self._closed:
            return
        self._closed = True
        self._pending.append(_STOP)
        self._wake.set()
        self._writer.join()

    def _write_loop(self) -> None:
        conn = connect(self.path, create=True)
        trim(conn, self.max_rows)
        since_trim = 0
        try:
            while True:
                self._wake.wait(GATHER_S)  # a flush or close wakes it early
                self._wake.clear()
                items = []
                while self._pending:
                    items.append(self._pending.popleft())
                rows = [item for item in items if _rows_in(item)]
                for chunk in _chunks(rows, BATCH_ROWS):
                    since_trim += self._insert(conn, chunk)
                    with self._lock:
                        self._queued_bytes -= sum(getattr(item, "nbytes", 0) for item in chunk)
                    if since_trim >= self.trim_every:
                        self._guarded(lambda: trim(conn, self.max_rows))
                        since_trim = 0
                for item in items:
                    if isinstance(item, threading.Event):
                        item.set()
                if any(item is _STOP for item in items):
                    return
        finally:
            conn.close()

    def _insert(self, conn: sqlite3.Connection, items: list) -> int:
        values = [row_values(r) for item in items if isinstance(item, list) for r in item]
        deferred: dict[type[DeferredRows], list] = {}
        for item in items:
            if not isinstance(item, list):
                deferred.setdefault(type(item), []).append(item)
        for kind, group in deferred.items():
            try:
                values += kind.batch_values(group)
            except Exception as err:  # noqa: BLE001 — a bug in summarising must cost rows, never the server
                self._warn_once(f"rows for the prediction log {self.path} could not be made ({type(err).__name__}: "
                                f"{err}); they are dropped")
                self.dropped += sum(map(len, group))

        def insert() -> None:
            with conn:
                conn.executemany(_INSERT, values)

        if self._guarded(insert):
            self.recorded += len(values)
            return len(values)
        self.dropped += len(values)
        return 0

    def _guarded(self, work) -> bool:
        """Run one write; a failing disk is warned about once and never reaches a request."""
        try:
            work()
        except sqlite3.Error as err:
            self._warn_once(f"the prediction log {self.path} cannot be written ({err}); rows are being dropped "
                            "(the service goes on)")
            return False
        return True

    def _warn_once(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning(message)

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def row_values(r: PredictionRow) -> tuple:
    """A row as the tuple the log inserts (``COLUMNS`` order)."""
    return (r.time, r.model_version, r.role, r.request_id, r.client, orjson.dumps(r.input_summary).decode(),
            orjson.dumps(r.output).decode(), r.confidence, r.ood_score, None if r.ood_flag is None else int(r.ood_flag),
            r.latency_ms, r.error)


def _chunks(items: list, max_rows: int) -> list[list]:
    """``items`` (lists of rows, deferred rows) cut into consecutive runs of about ``max_rows`` rows."""
    out: list[list] = []
    run: list = []
    count = 0
    for item in items:
        run.append(item)
        count += _rows_in(item)
        if count >= max_rows:
            out.append(run)
            run, count = [], 0
    return [*out, run] if run else out


def _rows_in(item: object) -> int:
    """Rows in a queued item (0 for the flush and stop markers)."""
    return len(item) if isinstance(item, list) or hasattr(item, "batch_values") else 0  # type: ignore[arg-type]


def connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """A connection to a prediction log, its schema checked; a MonitorError names what is wrong.
    ``create``: make the file (WAL mode) if it is not there; otherwise open it read-only."""
    if not create and not path.is_file():
        what = "a folder, not a file" if path.is_dir() else "no such file"
        raise MonitorError(f"no prediction log at {path} ({what}); `practica serve BUNDLE --monitor-db {path}` "
                           "writes one")
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
        else:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    except (OSError, sqlite3.Error) as err:
        raise MonitorError(f"cannot open the prediction log {path}: {err}; give a path in a writable folder") from None
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if create and not tables:
            conn.execute("PRAGMA journal_mode = WAL")  # readers never block the writer, nor it them
            conn.executescript(SCHEMA)
        elif "predictions" not in tables or version != SCHEMA_VERSION:
            raise MonitorError(f"{path} is a SQLite file but not a practica prediction log (schema version "
                               f"{version}, tables {sorted(tables) or 'none'}); give another path")
        if create:
            conn.execute("PRAGMA synchronous = NORMAL")  # WAL: durable up to the last checkpoint, and fast
    except sqlite3.DatabaseError as err:
        conn.close()
        raise MonitorError(f"{path} is not a readable prediction log ({err}); it may be damaged or not a SQLite "
                           "file: move it away and let the server start a new one") from None
    except MonitorError:
        conn.close()
        raise
    return conn


def trim(conn: sqlite3.Connection, max_rows: int) -> None:
    """Delete the oldest rows beyond ``max_rows`` (ids only grow, so the lowest ids are the oldest)."""
    with conn:
        conn.execute("DELETE FROM predictions WHERE id <= (SELECT MAX(id) FROM predictions) - ?", (max_rows,))


def read_rows(source: str | Path | PredictionLog, *, since: float | None = None, limit: int | None = None,
              role: str | None = None) -> list[PredictionRow]:
    """The logged rows, oldest first: those at or after ``since`` (epoch seconds) and of ``role`` (any role
    when None), the newest ``limit`` of them. A ``PredictionLog`` is flushed first, so its rows recorded so
    far are all there."""
    path = _path_of(source)
    conn = connect(path, create=False)
    try:
        query = f"SELECT {', '.join(COLUMNS)} FROM predictions"
        where: list[str] = []
        params: list[float | str | int] = []
        if since is not None:
            where.append("time >= ?")
            params.append(since)
        if role is not None:
            where.append("role = ?")
            params.append(role)
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY id DESC"
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        fetched = conn.execute(query, params).fetchall()
    except sqlite3.DatabaseError as err:
        raise MonitorError(f"{path} cannot be read as a prediction log ({err}); it may be damaged") from None
    finally:
        conn.close()
    return [_row(values) for values in reversed(fetched)]


def log_stats(source: str | Path | PredictionLog) -> LogStats:
    """How many rows the log holds and the time span they cover."""
    path = _path_of(source)
    conn = connect(path, create=False)
    try:
        rows, first, last = conn.execute("SELECT COUNT(*), MIN(time), MAX(time) FROM predictions").fetchone()
    except sqlite3.DatabaseError as err:
        raise MonitorError(f"{path} cannot be read as a prediction log ({err}); it may be damaged") from None
    finally:
        conn.close()
    return LogStats(rows, first, last)


@dataclass(frozen=True)
class ModelReference:
    model_version: str
    reference: dict
    feature_names: tuple[str, ...]
    time: float


def read_models(source: str | Path | PredictionLog) -> list[ModelReference]:
    """The models whose reference statistics the log keeps, the most recently started last."""
    path = _path_of(source)
    conn = connect(path, create=False)
    try:
        fetched = conn.execute("SELECT model_version, reference, feature_names, time FROM models ORDER BY time")
        return [ModelReference(v, orjson.loads(r), tuple(orjson.loads(f)), t) for v, r, f, t in fetched]
    except sqlite3.DatabaseError as err:
        raise MonitorError(f"{path} cannot be read as a prediction log ({err}); it may be damaged") from None
    finally:
        conn.close()


def _path_of(source: str | Path | PredictionLog) -> Path:
    if isinstance(source, PredictionLog):
        source.flush()
        return source.path
    return Path(source)


def _row(values: tuple) -> PredictionRow:
    fields = dict(zip(COLUMNS, values, strict=True))
    fields["input_summary"] = orjson.loads(fields["input_summary"])
    fields["output"] = orjson.loads(fields["output"]) if fields["output"] is not None else None
    fields["ood_flag"] = None if fields["ood_flag"] is None else bool(fields["ood_flag"])
    # the log's own rows, written from PredictionRow: trusted, so not validated again (10× faster to read)
    return PredictionRow.model_construct(**fields)
