"""A lean closed-loop HTTP/1.1 load generator on loopback.

N persistent keep-alive connections, each a closed-loop client: it sends its next request the
moment the previous answer is complete. Everything is callback-driven (one ``asyncio.Protocol``
per connection, no coroutine or future per request) on uvloop when it is installed, with the
request bytes built once beforehand, so the generator costs as little CPU as it can: it shares
the machine with the server under test, and whatever it burns lowers every number alike.

A response is read as: status line + headers up to the blank line, then ``Content-Length`` bytes
of body (or a chunked body). Anything but a 200, a dropped connection or an answer slower than
``timeout_s`` counts as an error; the connection is then opened again.

Only requests that *complete* while recording is on are counted: rate = completions / recorded
wall time, latency = from writing the request to the last byte of its answer
(``time.perf_counter_ns``).
"""

from __future__ import annotations

import asyncio
import resource
import time
from dataclasses import dataclass, field

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
    uvloop = None

perf_ns = time.perf_counter_ns


def build_requests(host: str, port: int, path: str, bodies: list[bytes]) -> list[bytes]:
    """One ready-to-write HTTP/1.1 keep-alive POST per body."""
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n".encode()
    return [head + b"Content-Length: %d\r\n\r\n" % len(b) + b for b in bodies]


@dataclass
class CellStats:
    """What one (server, route, concurrency) cell measured."""

    latencies_ns: list[int] = field(default_factory=list)  # completed 200s while recording
    errors_http: int = 0  # non-200 answers while recording
    errors_conn: int = 0  # connections lost or refused while recording
    errors_timeout: int = 0  # answers slower than the timeout while recording
    outside_errors: int = 0  # all kinds, outside the recorded window (warm-up, drain)
    status_counts: dict[int, int] = field(default_factory=dict)  # non-200 statuses seen (any phase)
    first_error: str = ""
    recorded_s: float = 0.0
    gen_cpu_s: float = 0.0  # the generator's own user+system CPU time while recording

    @property
    def errors(self) -> int:
        return self.errors_http + self.errors_conn + self.errors_timeout


class _Run:
    """Shared state of the connections of one cell."""

    def __init__(self, loop, host: str, port: int, requests: list[bytes], timeout_s: float) -> None:
        self.loop = loop
        self.host, self.port = host, port
        self.requests = requests
        self.timeout_ns = int(timeout_s * 1e9)
        self.running = True
        self.recording = False
        self.stats = CellStats()
        self.conns: list[_Conn] = []

    def error(self, kind: str, detail: str) -> None:
        s = self.stats
        if not s.first_error:
            s.first_error = detail
        if not self.recording:
            s.outside_errors += 1
        elif kind == "http":
            s.errors_http += 1
        elif kind == "timeout":
            s.errors_timeout += 1
        else:
            s.errors_conn += 1


class _Conn(asyncio.Protocol):
    """One keep-alive connection; a closed-loop client."""

    def __init__(self, run: _Run, start_index: int) -> None:
        self.run = run
        self.k = start_index
        self.transport = None
        self.buf = b""
        self.t0 = 0  # when the in-flight request was written; 0 when none
        self.closed = asyncio.get_running_loop().create_future()
        self.broken = False

    # -- sending ----------------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.send()

    def send(self) -> None:
        run = self.run
        if not run.running:
            self.t0 = 0
            return
        reqs = run.requests
        req = reqs[self.k % len(reqs)]
        self.k += 1
        self.t0 = perf_ns()
        self.transport.write(req)

    # -- receiving --------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end]
            try:
                status = int(head[9:12])
            except ValueError:
                self._fail("http", f"unparseable status line {head[:40]!r}")
                return
            lower = head.lower()
            i = lower.find(b"\r\ncontent-length:")
            if i >= 0:
                j = lower.find(b"\r\n", i + 2)
                n = int(head[i + 17:j if j >= 0 else len(head)])
                stop = end + 4 + n
                if len(buf) < stop:
                    break
                rest = buf[stop:]
            elif b"\r\ntransfer-encoding: chunked" in lower:
                stop = _chunked_end(buf, end + 4)
                if stop < 0:
                    break
                rest = buf[stop:]
            else:
                self._fail("http", f"answer without Content-Length: {head[:200]!r}")
                return
            self._complete(status, buf, end, stop, b"\r\nconnection: close" in lower)
            buf = rest
            if self.transport is None or self.transport.is_closing():
                return
        self.buf = buf

    def _complete(self, status: int, buf: bytes, head_end: int, stop: int, close: bool) -> None:
        t1 = perf_ns()
        run = self.run
        if run.recording and self.t0:
            if status == 200:
                run.stats.latencies_ns.append(t1 - self.t0)
            else:
                run.stats.errors_http += 1
        elif status != 200:
            run.stats.outside_errors += 1
        if status != 200:
            run.stats.status_counts[status] = run.stats.status_counts.get(status, 0) + 1
            if not run.stats.first_error:
                run.stats.first_error = f"HTTP {status}: {buf[head_end + 4:stop][:300]!r}"
        self.t0 = 0
        if close:  # the server will close: open a new connection for the next request
            self.transport.close()
            return
        self.send()

    def _fail(self, kind: str, detail: str) -> None:
        if self.t0:
            self.run.error(kind, detail)
        self.t0 = 0
        self.broken = True
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc) -> None:
        if self.t0:  # a request was in flight
            self.run.error("conn", f"connection lost with a request in flight: {exc!r}")
            self.t0 = 0
        self.transport = None
        if not self.closed.done():
            self.closed.set_result(None)

    def timed_out(self) -> None:
        self._fail("timeout", f"no answer within {self.run.timeout_ns / 1e9:g} s")


def _chunked_end(buf: bytes, pos: int) -> int:
    """Index just past a complete chunked body starting at ``pos``, or -1 if incomplete."""
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return -1
        size = int(buf[pos:eol].split(b";")[0], 16)
        pos = eol + 2 + size + 2
        if len(buf) < pos:
            return -1
        if size == 0:
            return pos


async def _client(run: _Run, index: int, stride: int, delay_s: float = 0.0) -> None:
    """Keep one connection open (re-opening it after errors) until the run stops; open it ``delay_s`` late."""
    if delay_s:
        await asyncio.sleep(delay_s)
    start = index * stride
    while run.running:
        try:
            _, conn = await run.loop.create_connection(lambda s=start: _Conn(run, s), run.host, run.port)
        except OSError as err:
            run.error("conn", f"cannot connect: {err}")
            await asyncio.sleep(0.05)
            continue
        run.conns.append(conn)
        await conn.closed
        run.conns.remove(conn)
        start = conn.k
        if conn.broken:
            await asyncio.sleep(0.01)


async def measure_cell(host: str, port: int, requests: list[bytes], concurrency: int, warmup_s: float,
                       seconds: float, timeout_s: float = 30.0, on_record=None, ramp_s: float = 0.0) -> CellStats:
    """Warm up ``warmup_s``, record ``seconds``, then let in-flight requests finish and close.

    ``on_record(start: bool)`` is called right when recording starts and stops (for the caller's
    own CPU accounting of other processes). The clients open their connections one after another over
    the first ``ramp_s`` of the warm-up, as independent clients would, rather than all in one instant
    (keep it below ``warmup_s``).
    """
    loop = asyncio.get_running_loop()
    run = _Run(loop, host, port, requests, timeout_s)
    stride = max(1, len(requests) // max(1, concurrency))
    tasks = [loop.create_task(_client(run, i, stride, ramp_s * i / concurrency)) for i in range(concurrency)]

    async def watchdog() -> None:
        while run.running:
            await asyncio.sleep(0.25)
            now = perf_ns()
            for c in list(run.conns):
                if c.t0 and now - c.t0 > run.timeout_ns:
                    c.timed_out()

    dog = loop.create_task(watchdog())
    await asyncio.sleep(warmup_s)
    if on_record:
        on_record(True)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = perf_ns()
    run.recording = True
    await asyncio.sleep(seconds)
    run.recording = False
    t1 = perf_ns()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    if on_record:
        on_record(False)
    run.running = False
    run.stats.recorded_s = (t1 - t0) / 1e9
    run.stats.gen_cpu_s = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    # Drain: each connection has at most one request in flight; wait for it, then close.
    deadline = perf_ns() + int(timeout_s * 1e9)
    while any(c.t0 for c in run.conns) and perf_ns() < deadline:
        await asyncio.sleep(0.01)
    for c in list(run.conns):
        if c.transport is not None:
            c.transport.close()
    await asyncio.wait(tasks, timeout=5)
    for t in tasks:
        t.cancel()
    dog.cancel()
    return run.stats


def new_event_loop() -> asyncio.AbstractEventLoop:
    return uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()


def loop_name() -> str:
    return "uvloop" if uvloop is not None else "asyncio"


async def http_get(host: str, port: int, path: str, timeout_s: float = 2.0) -> tuple[int, bytes]:
    """A one-off GET on a fresh connection (health checks)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(-1), timeout_s)
    finally:
        writer.close()
    return int(data[9:12]), data.partition(b"\r\n\r\n")[2]


async def http_post(host: str, port: int, request: bytes, timeout_s: float = 30.0) -> tuple[int, bytes]:
    """One pre-built request on a fresh connection; returns status and body (content-length bodies)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    try:
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout_s)
        lower = head.lower()
        i = lower.find(b"\r\ncontent-length:")
        n = int(head[i + 17:lower.find(b"\r\n", i + 2)]) if i >= 0 else 0
        body = await asyncio.wait_for(reader.readexactly(n), timeout_s)
    finally:
        writer.close()
    return int(head[9:12]), body
