"""Where samples come from: one loader per kind of source (folders, CSV tables, JSON records, arrays, known
sets), the dispatcher (``load``) and the decoding they share."""

from __future__ import annotations

from pathlib import Path

from practica.errors import DataError


def required_path(path: Path | None, key: str, source: str) -> Path:
    """A path the schema requires of the source (``path`` of every file source, ``labels`` of npy),
    so never None in a validated spec; one built without validation fails here, naming the key."""
    if path is None:
        raise DataError(f"source '{source}' needs '{key}', which the spec does not give")
    return Path(path)
