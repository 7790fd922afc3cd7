"""The jinja2 environment every practica page is rendered in, and the report's filters."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape


@cache
def environment() -> Environment:
    """The one template environment of every page practica writes (the report, the data page, the run
    comparison): templates/, HTML autoescaped, undefined names an error, the report's filters."""
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = _markdown_text
    env.filters["fence"] = _fence
    env.filters["slug"] = _slug
    env.filters["sentence"] = _sentence
    return env


def _markdown_text(text: object) -> str:
    """Plain text safe inside Markdown, table cells included: no raw HTML, no broken rows."""
    out = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    out = out.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    return " ".join(out.split())


def _fence(text: object) -> str:
    """A fenced code block that no run of backticks inside ``text`` can close early."""
    text = str(text).rstrip("\n")
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _sentence(text: object) -> str:
    """End ``text`` with a full stop unless it already ends a sentence."""
    text = str(text).rstrip()
    return text if not text or text[-1] in ".!?…" else text + "."


def _slug(text: object) -> str:
    """An HTML id: experiment names are already slugs; this keeps anything else safe too."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-") or "x"
