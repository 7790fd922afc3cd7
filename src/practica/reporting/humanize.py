"""Numbers as a reader wants them: the report's name for ``practica.text``, where every formatter lives.

The terminal and the diagnosis format through the same functions, so one quantity reads the same
wherever it is printed; this module only re-exports them for the report's code.
"""

from __future__ import annotations

from practica.text import (
    DASH,
    count,
    duration,
    loss,
    moment,
    ms,
    per_second,
    percent,
    plural,
    points,
    significant,
    size,
)

__all__ = ["DASH", "count", "duration", "loss", "moment", "ms", "per_second", "percent", "plural", "points",
           "significant", "size"]
