"""``practica registry …``: the local model registry: list, register, promote, rollback, show.

The registry is ``--registry DIR`` or, without it, ``$PRACTICA_REGISTRY``. A version is named by its number
(``3`` or ``v3``) or by an alias pointing at it (``production``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from practica.cli.terminal import console, fail
from practica.errors import PracticaError
from practica.text import DASH, moment

if TYPE_CHECKING:
    from practica.registry import Registry

registry_app = typer.Typer(help="The local model registry: bundles as numbered versions, aliases that point at "
                                "them (production, staging, any), every change recorded.", no_args_is_help=True)

RegistryDir = Annotated[Path | None, typer.Option(
    "--registry", help="The registry folder; default: $PRACTICA_REGISTRY.", show_default=False)]
SHOWN_EVENTS = 10


def _open(path: Path | None) -> Registry:
    from practica.registry import open_registry

    return open_registry(path)


@registry_app.command("list")
def list_versions(registry: RegistryDir = None) -> None:
    """Every version, oldest first, with the aliases that point at it."""
    try:
        reg = _open(registry)
        versions, aliases = reg.versions(), reg.aliases()
    except PracticaError as err:
        fail(err)
    if not versions:
        console.print(f"the registry at {escape(str(reg.root))} has no versions yet; "
                      "practica registry register BUNDLE adds one")
        return
    by_version: dict[int, list[str]] = {}
    for alias, number in sorted(aliases.items()):
        by_version.setdefault(number, []).append(alias)
    table = Table(show_edge=False, box=None, padding=(0, 2), pad_edge=False)
    for col in ("version", "aliases", "bundle", "registered", "note"):
        table.add_column(col, justify="right" if col == "version" else "left")
    for v in versions:
        table.add_row(f"v{v.number}", f"[bold green]{escape(', '.join(by_version.get(v.number, [])))}[/]",
                      escape(v.bundle_version), moment(v.registered), escape(v.note or DASH))
    console.print(table)


@registry_app.command()
def register(
    bundle: Annotated[Path, typer.Argument(help="A bundle folder (from practica export, or RUN_DIR/bundle).")],
    registry: RegistryDir = None,
    alias: Annotated[str | None, typer.Option(help="Point this alias at the new version in the same step.")] = None,
    note: Annotated[str, typer.Option(help="A note kept with the version.")] = "",
) -> None:
    """Copy a bundle in as the next version (verified first: manifest, card)."""
    try:
        reg = _open(registry)
        version = reg.register(bundle, note=note, alias=alias)
    except PracticaError as err:
        fail(err)
    console.print(f"[green]registered[/] v{version.number}: {escape(version.bundle_version)}"
                  + (f"; [bold]{escape(alias)}[/] → v{version.number}" if alias else ""))


@registry_app.command()
def promote(
    alias: Annotated[str, typer.Argument(help="The alias to move (production, staging, any name).")],
    version: Annotated[str, typer.Argument(help="A version number (3 or v3), or another alias.")],
    registry: RegistryDir = None,
    reason: Annotated[str, typer.Option(help="Why: kept in the history.")] = "",
) -> None:
    """Point an alias at a version, atomically: a server watching the alias switches to it."""
    try:
        move = _open(registry).promote(alias, version, reason=reason)
    except PracticaError as err:
        fail(err)
    before = "new" if move.before is None else f"v{move.before}"
    console.print(f"[green]promoted[/] [bold]{escape(alias)}[/]: {before} → v{move.after}")


@registry_app.command()
def rollback(
    alias: Annotated[str, typer.Argument(help="The alias to move back.")],
    registry: RegistryDir = None,
    reason: Annotated[str, typer.Option(help="Why: kept in the history.")] = "",
) -> None:
    """Point an alias back at the version it pointed at before its last promotion (again: one further back)."""
    try:
        move = _open(registry).rollback(alias, reason=reason)
    except PracticaError as err:
        fail(err)
    console.print(f"[yellow]rolled back[/] [bold]{escape(alias)}[/]: v{move.before} → v{move.after}")


@registry_app.command()
def show(
    version: Annotated[str, typer.Argument(help="A version number (3 or v3) or an alias.")],
    registry: RegistryDir = None,
) -> None:
    """One version: its bundle (task, input, classes, test metrics), aliases, and its history."""
    from practica.bundle import load_bundle

    try:
        reg = _open(registry)
        v = reg.version(version)
        aliases = sorted(a for a, n in reg.aliases().items() if n == v.number)
        bundle = load_bundle(reg.path(v.number))
        history = [e for e in reg.history() if e.get("version") == v.number or e.get("after") == v.number
                   or e.get("before") == v.number]
    except PracticaError as err:
        fail(err)
    table = Table(show_header=False, show_edge=False, box=None, padding=(0, 2), pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    metrics = bundle.card.get("metrics", {}).get("test", {}) if isinstance(bundle.card.get("metrics"), dict) else {}
    rows = [
        ("version", f"v{v.number}"),
        ("aliases", ", ".join(aliases) or DASH),
        ("bundle", v.bundle_version),
        ("task", f"{bundle.task}: {bundle.input.describe()} → "
                 + (f"{len(bundle.classes)} classes" if bundle.classes else "a value")),
        ("model", bundle.kind),
        ("test metrics", ", ".join(f"{k} {val:.4g}" for k, val in metrics.items() if isinstance(val, int | float))
         or DASH),
        ("registered", v.registered),
        ("from", v.source),
        ("manifest sha256", v.bundle_sha256),
        ("note", v.note or DASH),
        ("folder", str(reg.path(v.number))),
    ]
    for name, value in rows:
        table.add_row(name, escape(value))
    console.print(table)
    if history:
        console.print("[bold]history[/]")
        for e in history[-SHOWN_EVENTS:]:
            console.print(f"  {moment(e.get('time'))}  {escape(_event_text(e))}")


def _event_text(event: dict) -> str:
    kind = event.get("event", "?")
    if "after" in event:
        before = "new" if event.get("before") is None else f"v{event['before']}"
        text = f"{kind} {event.get('alias')}: {before} → v{event['after']}"
    else:
        text = f"{kind} v{event.get('version')}"
    why = event.get("reason") or event.get("note")
    if why == kind:  # a rollback's default reason says nothing more
        why = None
    return text + (f" ({why})" if why else "") + f" by {event.get('user', '?')}"
