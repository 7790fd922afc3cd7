"""Fetch a published file once into the user's cache, checked against its published checksum.

``fetch(remote)`` returns the path of a verified local copy, downloading it when needed:

- into ``downloads/`` beside the decoded-data cache (``$PRACTICA_CACHE_DIR/downloads``, else
  the user's cache folder), through ``<name>.part`` renamed into place only once its md5
  matches; a file already there is verified once (a ``<name>.verified`` note records its
  size, mtime and md5) and never fetched again;
- resumable: an existing ``.part`` (a killed process, a dropped connection) continues with an
  HTTP Range request; a server that ignores Range sends the whole file and it starts over;
- transient failures (refused or reset connections, timeouts, 5xx) are retried with backoff,
  resuming where the last attempt stopped;
- ``$PRACTICA_DATA_MIRROR`` (``http://host/path/``) replaces the publishers' addresses by a
  mirror holding the same file names, for machines without internet access;
- a rich progress bar (bytes, speed, time left) when stderr is a terminal.

Every failure is a ``DataError`` naming the address and the ways out: a local copy
(``dataset.path``) or a mirror.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import practica
from practica.data.storage.cache import cache_dir
from practica.errors import DataError

log = logging.getLogger(__name__)

MIRROR_ENV = "PRACTICA_DATA_MIRROR"
TIMEOUT_S = 30.0  # per connection attempt and per read: a stalled transfer fails, then resumes
RETRY_DELAYS_S = (2.0, 6.0)  # a transient failure is retried after each of these waits
CHUNK = 1 << 16
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Remote:
    """One published file: its name on disk, where it is published, and its md5."""

    folder: str  # the set it belongs to: its folder in downloads/ and on a mirror (MNIST and
    #              Fashion-MNIST publish files of the same names)
    name: str  # the file name, as published
    urls: tuple[str, ...]  # the publishers' addresses, tried in order
    md5: str
    title: str  # what it is, for messages ("CIFAR-10")
    local_hint: str  # what dataset.path may name instead, for messages

    def sources(self) -> tuple[str, ...]:
        """The addresses to try: with ``$PRACTICA_DATA_MIRROR`` set, the mirror's only
        (``<mirror>/<set>/<name>``, then ``<mirror>/<name>``); else the publishers'."""
        mirror = os.environ.get(MIRROR_ENV, "").strip()
        if mirror:
            base = mirror.rstrip("/")
            return (f"{base}/{self.folder}/{self.name}", f"{base}/{self.name}")
        return self.urls


def downloads_dir() -> Path:
    """``downloads/`` in ``$PRACTICA_CACHE_DIR``, else beside the user's decoded-data cache."""
    if os.environ.get("PRACTICA_CACHE_DIR"):
        return cache_dir() / "downloads"
    return cache_dir().parent / "downloads"


def ways_out(remote: Remote) -> str:
    return (
        f"Two ways out: download it where there is access and point the suite at the copy, "
        f"dataset.path: {remote.local_hint}; or set {MIRROR_ENV}=http://host/path/ to a mirror "
        f"holding the same file names (http://host/path/{remote.folder}/{remote.name} or http://host/path/{remote.name})."
    )


def fetch(remote: Remote, *, progress: bool | None = None) -> Path:
    """A verified local copy of ``remote``, downloaded when there is none yet."""
    folder = downloads_dir() / remote.folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(
            f"cannot create the download folder {folder} ({err.strerror}). Set PRACTICA_CACHE_DIR to a "
            f"writable folder, or give a local copy instead: dataset.path: {remote.local_hint}."
        ) from None
    target = folder / remote.name
    with _locked(folder / f".{remote.name}.lock"):
        if target.exists() and _already_verified(target, remote):
            return target
        failures: list[str] = []
        mismatch = ""
        for url in remote.sources():
            try:
                _download(url, target, remote, progress)
                return target
            except _Unreachable as err:
                failures.append(f"{url}: {err}")
            except _Mismatch as err:
                mismatch = str(err)
        if mismatch:
            raise DataError(mismatch)
        tried = "; ".join(failures)
        raise DataError(f"could not download {remote.title}'s {remote.name}: {tried}. {ways_out(remote)}")


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------------ internals


class _Unreachable(Exception):
    """Every attempt at one address failed (no network, refused, timed out, HTTP error)."""


class _Mismatch(Exception):
    """The downloaded file is not the published one; the file has been removed."""


class _Transient(Exception):
    """A failure worth another attempt (the .part is kept, so the attempt resumes)."""


def _already_verified(target: Path, remote: Remote) -> bool:
    """A file already downloaded: checked once against the md5, then trusted while unchanged."""
    note = target.with_name(target.name + ".verified")
    try:
        if json.loads(note.read_text(encoding="utf-8")) == _stamp(remote, target.stat()):
            return True
    except (OSError, ValueError):
        pass
    got = file_md5(target)
    if got != remote.md5:
        log.warning("%s has md5 %s, not the published %s; downloading it again", target, got, remote.md5)
        target.unlink(missing_ok=True)
        note.unlink(missing_ok=True)
        return False
    _write_note(target, remote)
    return True


def _write_note(target: Path, remote: Remote) -> None:
    st = target.stat()
    note = target.with_name(target.name + ".verified")
    with contextlib.suppress(OSError):
        note.write_text(json.dumps(_stamp(remote, st)), encoding="utf-8")


def _stamp(remote: Remote, st: os.stat_result) -> dict[str, object]:
    return {"md5": remote.md5, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _download(url: str, target: Path, remote: Remote, progress: bool | None) -> None:
    """Fetch ``url`` into ``target.part`` (resuming), verify it, rename it onto ``target``."""
    part = target.with_name(target.name + ".part")
    delays = iter(RETRY_DELAYS_S)
    furthest = _size(part)
    while True:
        try:
            _transfer(url, part, progress)
            break
        except _Transient as err:
            if _size(part) > furthest:  # it got further: a flaky connection, not a dead one
                furthest = _size(part)
                delays = iter(RETRY_DELAYS_S)
            delay = next(delays, None)
            if delay is None:
                raise _Unreachable(f"{err} (after {len(RETRY_DELAYS_S) + 1} attempts)") from None
            log.warning("downloading %s failed (%s); trying again in %.0f s", url, err, delay)
            time.sleep(delay)
    got = file_md5(part)
    if got != remote.md5:
        part.unlink(missing_ok=True)
        raise _Mismatch(
            f"the file downloaded from {url} is not {remote.title}'s published {remote.name}: its md5 is {got}, "
            f"expected {remote.md5}. The download was removed. Run again to download it afresh, or give a copy "
            f"you trust: dataset.path: {remote.local_hint}; or set {MIRROR_ENV}=http://host/path/ to a mirror "
            "holding the published files."
        )
    os.replace(part, target)
    _write_note(target, remote)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _transfer(url: str, part: Path, progress: bool | None) -> None:
    """One attempt: append the rest of ``url`` to ``part``; ``_Transient`` when worth retrying."""
    have = _size(part)
    request = urllib.request.Request(url, headers={"User-Agent": f"practica/{practica.__version__}"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and have:  # the .part is complete already, or larger than the file
            total = _total_from_content_range(err.headers.get("Content-Range"))
            if total == have:
                return
            part.unlink(missing_ok=True)
            raise _Transient(f"the server refused to resume ({err.code}); starting over") from None
        if err.code in _RETRY_STATUS:
            raise _Transient(f"HTTP {err.code} {err.reason}") from None
        raise _Unreachable(f"HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        reason = err.reason
        if isinstance(reason, (str, FileNotFoundError)):  # a bad address (unknown scheme, a missing file://)
            raise _Unreachable(str(reason)) from None
        if isinstance(reason, (socket.gaierror, ConnectionRefusedError)):  # no network, or no server: final
            raise _Unreachable(_describe(reason)) from None
        raise _Transient(_describe(reason)) from None
    except ValueError as err:  # a malformed address, e.g. a mirror without http://
        raise _Unreachable(f"not a valid address ({err})") from None
    except (ConnectionError, http.client.HTTPException, OSError) as err:
        raise _Transient(_describe(err)) from None
    with response:
        offset, total = _where_it_starts(response, have, part)
        mode: Literal["ab", "wb"] = "ab" if offset else "wb"
        if have and not offset:
            log.info("%s does not resume downloads (Range ignored); starting %s over", url, part.name)
        written = offset
        name = part.name.removesuffix(".part")
        with _open_part(part, mode) as out, _progress_bar(name, url, total, offset, progress) as advance:
            while True:
                try:
                    block = response.read(CHUNK)
                except (OSError, http.client.HTTPException) as err:
                    raise _Transient(f"the connection broke after {written} bytes ({_describe(err)})") from None
                if not block:
                    break
                try:
                    out.write(block)
                except OSError as err:
                    raise _cannot_write(part, err) from None
                written += len(block)
                advance(len(block))
    if total is not None and written < total:
        raise _Transient(f"the connection closed after {written} of {total} bytes")


@contextlib.contextmanager
def _open_part(part: Path, mode: Literal["ab", "wb"]) -> Iterator[BinaryIO]:
    try:
        out = open(part, mode)  # noqa: SIM115 - closed below, its errors told apart from the network's
    except OSError as err:
        raise _cannot_write(part, err) from None
    with out:
        yield out


def _cannot_write(part: Path, err: OSError) -> DataError:
    return DataError(
        f"cannot write {part} ({err.strerror}); free some disk space, or set PRACTICA_CACHE_DIR to another folder."
    )


def _where_it_starts(response: http.client.HTTPResponse, have: int, part: Path) -> tuple[int, int | None]:
    """(offset the body starts at, total size or None): 206 continues the .part, 200 replaces it."""
    length = response.headers.get("Content-Length")
    size = int(length) if length and length.isdigit() else None
    if response.status == 206:
        match = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", ""))
        if match and int(match.group(1)) == have:
            total = match.group(3)
            return have, int(total) if total.isdigit() else (have + size if size is not None else None)
        got = response.headers.get("Content-Range")
        with contextlib.suppress(OSError):
            part.unlink()  # the next attempt asks for the whole file
        raise _Transient(f"the server answered the resume request with an unexpected range ({got}); starting over")
    return 0, size


def _total_from_content_range(value: str | None) -> int | None:
    match = re.match(r"bytes \*/(\d+)", value or "")
    return int(match.group(1)) if match else None


def _describe(reason: object) -> str:
    if isinstance(reason, socket.gaierror):
        return f"the host name cannot be resolved ({reason.strerror or reason}); is there a network connection?"
    if isinstance(reason, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(reason, TimeoutError):
        return f"no answer within {TIMEOUT_S:.0f} s"
    text = getattr(reason, "strerror", None) or str(reason)
    return text or type(reason).__name__


@contextlib.contextmanager
def _progress_bar(
    name: str, url: str, total: int | None, done: int, show: bool | None
) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr when it is a terminal (or ``show``), else one line."""
    if show is None:
        show = sys.stderr.isatty()
    if not show:
        size = f" ({total / 1e6:.1f} MB)" if total else ""
        resumed = f", resuming at {done / 1e6:.1f} MB" if done else ""
        print(f"practica: downloading {url}{size}{resumed}", file=sys.stderr, flush=True)
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("[bold]downloading[/] {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task(name, total=total, completed=done)
        yield lambda n: bar.advance(task, n)


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    """Two processes fetching one file take turns, so neither writes into the other's .part."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
