"""Data hygiene, shown: a self-contained HTML page (``practica data inspect --html``) and the run
report's figure of duplicate pairs.

Thumbnails are upscaled by whole pixels (nearest neighbour), so a 32×32 image stays sharp and
visible; on the page they are data-URI PNGs, so the file travels alone.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from practica.io import write_text
from practica.reporting.templating import environment

if TYPE_CHECKING:
    from practica.data.duplicates.checks import HygieneReport, Pair
    from practica.data.records import Dataset

THUMB_PX = 96  # a thumbnail's side on the page, at least


def upscaled(img: np.ndarray, side: int = THUMB_PX) -> np.ndarray:
    """H×W×C uint8 to RGB, every pixel repeated so the longer side reaches ``side``."""
    img = img[..., :3] if img.shape[2] >= 3 else np.repeat(img[..., :1], 3, axis=2)
    scale = max(1, math.ceil(side / max(img.shape[:2])))
    return img.repeat(scale, axis=0).repeat(scale, axis=1)


def png(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def data_uri(img: np.ndarray, side: int = THUMB_PX) -> str:
    from practica.reporting.plots import png_src

    return png_src(png(upscaled(img, side)))


def pair_images(pair: Pair, parts: Mapping[str, Dataset]) -> tuple[np.ndarray, np.ndarray] | None:
    a, b = parts.get(pair.a_part), parts.get(pair.b_part)
    if a is None or b is None or a.kind != "image" or b.kind != "image":
        return None
    return a.x[pair.a_index], b.x[pair.b_index]


def pair_texts(pair: Pair, parts: Mapping[str, Dataset], chars: int = 240) -> tuple[str, str] | None:
    """A pair of texts' opening ``chars`` characters (whitespace collapsed), or None for other samples."""
    a, b = parts.get(pair.a_part), parts.get(pair.b_part)
    if a is None or b is None or a.kind != "text" or b.kind != "text":
        return None

    def cut(text: str) -> str:
        flat = " ".join(text.split())
        return flat[:chars] + ("…" if len(flat) > chars else "")

    return cut(a.x[pair.a_index]), cut(b.x[pair.b_index])


def pairs_figure(pairs: Sequence[Pair], parts: Mapping[str, Dataset], *, title: str) -> bytes | None:
    """The run report's figure: each pair side by side with its files and distance; None if no image pair."""
    from practica.reporting.plots import INK, RED, new_figure, shorten

    shown = [(p, im) for p in pairs if (im := pair_images(p, parts)) is not None]
    if not shown:
        return None
    per_row = min(3, len(shown))
    rows = math.ceil(len(shown) / per_row)
    with new_figure(2.75 * per_row, 1.75 * rows + 0.3) as (fig, buf):
        grid = fig.add_gridspec(rows, per_row)
        for n, (p, (a, b)) in enumerate(shown):
            r, c = divmod(n, per_row)
            cell = grid[r, c].subgridspec(1, 2, wspace=0.04)
            for k, (img, part, source, label) in enumerate(
                ((a, p.a_part, p.a_source, p.a_label), (b, p.b_part, p.b_source, p.b_label))
            ):
                ax = fig.add_subplot(cell[0, k])
                ax.imshow(upscaled(img, 64), interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
                for side in ax.spines.values():
                    side.set_visible(False)
                colour = RED if p.labels_differ else INK
                ax.set_xlabel(f"{part} · {shorten(Path(source).name, 16)}\n{shorten(label, 18)}",
                              fontsize=7, color=colour)
            how = "identical bytes" if p.exact else f"distance {p.distance}, correlation {p.similarity:.2f}"
            fig.add_subplot(cell[0, :], frameon=False, xticks=[], yticks=[]).set_title(
                how, fontsize=8, fontweight="normal", loc="center", color="#52606d")
        fig.suptitle(title, fontsize=11, fontweight="bold", x=0.01, ha="left")
    return buf.getvalue()


# ------------------------------------------------------------------------ the inspect page


def write_page(report: HygieneReport, parts: Mapping[str, Dataset], path: Path, *, title: str, source: str,
               show: int = 12, root: str = "") -> Path:
    """A self-contained HTML page of ``report``: the data, every check, example pairs as thumbnails.
    File names are shown relative to ``root`` (the folder they share), when given."""
    page = environment().get_template("hygiene.html").render(
        title=title, source=source, report=report, parts=parts, show=show, root=root.rstrip("/") + "/" if root else "",
        examples=_examples(report, parts, show), statuses=_statuses(report),
    )
    write_text(path, page)
    return path


def _statuses(report: HygieneReport) -> list[tuple[str, str, str, int]]:
    return [(c.title, c.status, c.summary, c.count) for c in report.checks]


def _examples(report: HygieneReport, parts: Mapping[str, Dataset], show: int) -> list[dict]:
    """Per check with findings: its first ``show`` findings, pairs with thumbnails."""
    from practica.data.duplicates.checks import Pair

    out = []
    for check in report.checks:
        if not check.findings or check.name == "class_balance":
            continue
        items: list[dict[str, Any]] = []
        for f in check.findings[:show]:
            if isinstance(f, Pair):
                images = pair_images(f, parts)
                texts = pair_texts(f, parts)
                items.append({"pair": f, "a": data_uri(images[0]) if images else None,
                              "b": data_uri(images[1]) if images else None,
                              "a_text": texts[0] if texts else None, "b_text": texts[1] if texts else None})
            else:
                items.append({"text": f if isinstance(f, str) else None, "column": None if isinstance(f, str) else f})
        out.append({"check": check, "items": items, "more": max(0, len(check.findings) - show)})
    first = ("exact_across", "near_across", "label_conflicts")  # leaks and conflicts before the rest
    return sorted(out, key=lambda e: first.index(e["check"].name) if e["check"].name in first else len(first))
