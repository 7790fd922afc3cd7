"""The registry on disk: a directory anyone with the path can read, and one writer at a time can change.

    REGISTRY/
      registry.json      the state: every version's record and where each alias points
      history.jsonl      every change, appended: register, promote, rollback (who, when, why)
      versions/<n>/      the bundle of version n, copied in and verified (its manifest), never changed after

Every change takes an exclusive lock (``.lock``, fcntl), reads the state, and replaces ``registry.json``
atomically (``io.write_json``), so a reader sees the old state or the new one and an alias moves in one
step: a server that watches ``production`` never sees a half-registered version. Registering copies the
bundle into a staging folder first and renames it into place, so a killed register leaves nothing behind.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from practica.errors import BundleError, RegistryError
from practica.io import read_json, write_json

ENV_REGISTRY = "PRACTICA_REGISTRY"  # the registry used when no --registry is given
STATE_FILE = "registry.json"
HISTORY_FILE = "history.jsonl"
LOCK_FILE = ".lock"
VERSIONS = "versions"
FORMAT = "practica-registry"
ALIAS_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")


class Version(BaseModel):
    """One registered bundle."""

    model_config = ConfigDict(frozen=True)

    number: int
    bundle_version: str  # the card's version: suite/experiment@run_id
    registered: str  # ISO time, UTC
    source: str  # the folder it was registered from
    bundle_sha256: str  # sha256 of the bundle's manifest.json: the bundle's identity
    note: str = ""


class AliasMove(BaseModel):
    """An alias moved from one version to another (``before`` None: the alias is new)."""

    model_config = ConfigDict(frozen=True)

    alias: str
    before: int | None
    after: int
    reason: str = ""


class State(BaseModel):
    model_config = ConfigDict(frozen=True)

    format: str = FORMAT
    versions: dict[int, Version] = {}
    aliases: dict[str, int] = {}


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # ---- reading ------------------------------------------------------------------------------------------
    def state(self) -> State:
        path = self.root / STATE_FILE
        try:
            raw = read_json(path)
        except FileNotFoundError:
            raise RegistryError(f"no model registry at {self.root} ({STATE_FILE} is missing); create one with: "
                                f"practica registry register BUNDLE --registry {self.root}") from None
        except (OSError, ValueError) as err:
            raise RegistryError(f"{path} cannot be read ({err}); the registry is damaged: restore it from "
                                "a backup, or register the bundles again into a new registry") from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise RegistryError(f"{path} is not a practica registry's state file")
        return State.model_validate(raw)

    def versions(self) -> list[Version]:
        return sorted(self.state().versions.values(), key=lambda v: v.number)

    def aliases(self) -> dict[str, int]:
        return dict(self.state().aliases)

    def version(self, ref: str | int) -> Version:
        """A version by number (``3``, ``"3"``, ``"v3"``) or by alias (``"production"``)."""
        state = self.state()
        number = self._number(ref, state)
        return state.versions[number]

    def path(self, ref: str | int) -> Path:
        """The bundle folder of a version (by number or alias)."""
        return self.root / VERSIONS / str(self.version(ref).number)

    def history(self) -> list[dict]:
        path = self.root / HISTORY_FILE
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    # ---- changing -----------------------------------------------------------------------------------------
    def register(self, bundle_dir: Path, *, note: str = "", alias: str | None = None) -> Version:
        """Copy a bundle in as the next version (verified first: its manifest and card); optionally point
        ``alias`` at it in the same step."""
        from practica.bundle.load import load_bundle

        bundle_dir = Path(bundle_dir)
        try:
            bundle = load_bundle(bundle_dir)  # checks the manifest's sums and the card; starts no session
        except BundleError as err:
            raise RegistryError(f"cannot register {bundle_dir}: {err}") from None
        if alias is not None:
            _check_alias(alias)
        (self.root / VERSIONS).mkdir(parents=True, exist_ok=True)
        with self._locked() as state:
            number = max(state.versions, default=0) + 1
            staging = Path(tempfile.mkdtemp(prefix=f".register-{number}.", dir=self.root / VERSIONS))
            try:
                shutil.copytree(bundle_dir, staging, dirs_exist_ok=True)
                load_bundle(staging)  # the copy is the bundle, byte for byte
                staging.rename(self.root / VERSIONS / str(number))
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            version = Version(number=number, bundle_version=bundle.version, registered=_now(),
                              source=str(bundle_dir.resolve()), bundle_sha256=_manifest_sha(bundle_dir), note=note)
            aliases = dict(state.aliases)
            move = None
            if alias is not None:
                move = AliasMove(alias=alias, before=aliases.get(alias), after=number, reason="registered")
                aliases[alias] = number
            self._write(State(versions={**state.versions, number: version}, aliases=aliases))
            self._record("register", version=number, bundle_version=bundle.version, note=note)
            if move is not None:
                self._record("promote", **move.model_dump())
        return version

    def promote(self, alias: str, ref: str | int, *, reason: str = "") -> AliasMove:
        """Point ``alias`` at a version (by number, or another alias's version). Atomic, and recorded."""
        _check_alias(alias)
        with self._locked() as state:
            number = self._number(ref, state)
            move = AliasMove(alias=alias, before=state.aliases.get(alias), after=number, reason=reason)
            self._write(state.model_copy(update={"aliases": {**state.aliases, alias: number}}))
            self._record("promote", **move.model_dump())
        return move

    def rollback(self, alias: str, *, reason: str = "", event: str = "rollback") -> AliasMove:
        """Point ``alias`` back where it pointed before its last promotion. Rollbacks walk back through the
        alias's promotions one at a time (a second rollback goes one step further back; it never undoes the
        first). ``event`` names the history record (``canary_rollback`` when a server rolled a canary back)."""
        with self._locked() as state:
            if alias not in state.aliases:
                raise RegistryError(f"alias {alias!r} does not exist in {self.root}; it has "
                                    f"{_listed(state.aliases) or 'no aliases'}")
            current = state.aliases[alias]
            previous = _previous_target(self.history(), alias, current)
            if previous is None:
                raise RegistryError(f"alias {alias!r} has no earlier version to roll back to (it points at version "
                                    f"{current}); promote another version: practica registry promote {alias} N")
            move = AliasMove(alias=alias, before=current, after=previous, reason=reason or "rollback")
            self._write(state.model_copy(update={"aliases": {**state.aliases, alias: previous}}))
            self._record(event, **move.model_dump())
        return move

    def record_canary_rollback(self, version: int, *, reason: str, alias: str | None = None) -> AliasMove | None:
        """A server stopped sending traffic to canary ``version`` (``reason``: what crossed its threshold).
        Recorded as a ``canary_rollback`` event; when ``alias`` (the name the canary was served under, e.g.
        ``canary``) still points at that version, it is pointed back too, and the move is returned."""
        if alias is not None and self.aliases().get(alias) == version:
            try:
                return self.rollback(alias, reason=reason, event="canary_rollback")
            except RegistryError:  # the alias has nowhere earlier to point: the event alone says what happened
                pass
        with self._locked():
            self._record("canary_rollback", version=version, alias=alias, reason=reason)
        return None

    # ---- internals ----------------------------------------------------------------------------------------
    def _number(self, ref: str | int, state: State) -> int:
        text = str(ref).strip()
        if re.fullmatch(r"v?\d+", text):
            number = int(text.lstrip("v"))
            if number not in state.versions:
                raise RegistryError(f"version {number} is not in the registry at {self.root}; it has "
                                    f"{_listed(state.versions) or 'no versions'}")
            return number
        if text not in state.aliases:
            raise RegistryError(f"{text!r} is neither a version number nor an alias of the registry at "
                                f"{self.root}; its aliases: {_listed(state.aliases) or 'none'}")
        return state.aliases[text]

    @contextmanager
    def _locked(self) -> Iterator[State]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK_FILE, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield self.state() if (self.root / STATE_FILE).exists() else State()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, state: State) -> None:
        write_json(self.root / STATE_FILE, state.model_dump(mode="json"))

    def _record(self, event: str, **fields) -> None:
        line = json.dumps({"event": event, "time": _now(), "user": _user(), **fields})
        with open(self.root / HISTORY_FILE, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())


def registry_dir(path: str | Path | None = None) -> Path | None:
    """The registry folder asked for: ``path``, else $PRACTICA_REGISTRY when set; None when neither is given
    (each caller says how to give one: --registry, a pipeline file's ``registry:``)."""
    chosen = path if path is not None else os.environ.get(ENV_REGISTRY)
    return Path(chosen) if chosen else None


def open_registry(path: str | Path | None = None) -> Registry:
    """The registry at ``path``, else at $PRACTICA_REGISTRY; a RegistryError when neither is given."""
    chosen = registry_dir(path)
    if chosen is None:
        raise RegistryError(f"no registry given: pass --registry DIR or set {ENV_REGISTRY}")
    return Registry(chosen)


def _previous_target(history: list[dict], alias: str, current: int) -> int | None:
    """Where a rollback of ``alias`` (now at ``current``) goes: the alias's promotions replayed as a stack
    (a promotion pushes its target, a rollback pops one), so rollbacks walk back one promotion at a time."""
    stack: list[int] = []
    for event in history:
        if event.get("alias") != alias or "after" not in event:
            continue
        if event["event"] == "promote":
            if not stack or stack[-1] != event["after"]:  # promoting the version it points at changes nothing
                stack.append(int(event["after"]))
        elif event["event"] in ("rollback", "canary_rollback") and stack:
            stack.pop()
    if stack and stack[-1] == current and len(stack) > 1:
        return stack[-2]
    return None


def _check_alias(alias: str) -> None:
    if not ALIAS_NAME.fullmatch(alias) or alias.startswith("v") and alias[1:].isdigit():
        raise RegistryError(f"{alias!r} is not a valid alias: use lower-case letters, digits, '-' and '_', "
                            "starting with a letter (and not v<number>, which names a version)")


def _manifest_sha(bundle_dir: Path) -> str:
    from practica.io import sha256_file

    return sha256_file(bundle_dir / "manifest.json")


def _listed(keys) -> str:
    return ", ".join(str(k) for k in sorted(keys, key=str))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return str(os.getuid())
