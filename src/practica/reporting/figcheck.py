"""Where a drawn figure's text lies, and which pieces of text collide or leave the figure.

The report's figures are checked with it in the tests (``plots.inspecting``): two labels printed over
each other, or a title cut off at the figure's edge, is a defect a reader sees at once and a test
of the PNG's size never does. A rotated label is compared as the rotated rectangle it is, not as
the larger upright box around it (two tick labels at 40° stand clear while their boxes overlap).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

SLACK_PX = 1.0  # shapes that merely touch (anti-aliasing, rounding) do not count

Corners = tuple[tuple[float, float], ...]


def visible_texts(fig: Figure) -> list[tuple[Text, Bbox]]:
    """Every piece of text the drawn ``fig`` shows, with its box in display pixels: titles, axis and
    tick labels (only the ticks inside the axis' view), legends, annotations."""
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]  # Agg's canvas has one
    shown: dict[int, bool] = {}  # tick labels: shown only where their tick lies in the view
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            tolerance = (hi - lo) * 1e-9
            for ticks, locs in ((axis.get_major_ticks(), axis.get_majorticklocs()),
                                (axis.get_minor_ticks(), axis.get_minorticklocs())):
                for i, tick in enumerate(ticks):
                    inside = i < len(locs) and lo - tolerance <= locs[i] <= hi + tolerance
                    for label in (tick.label1, tick.label2):
                        shown[id(label)] = inside
    found = []
    for text in fig.findobj(Text):
        if not (text.get_visible() and text.get_text().strip() and shown.get(id(text), True)):
            continue
        box = text.get_window_extent(renderer)
        if box.width > 0 and box.height > 0:
            found.append((text, box))
    return found


def outline(text: Text, box: Bbox, renderer) -> Corners:
    """The four corners of ``text`` as drawn: its box, or for a rotated text the upright text's
    rectangle turned by its angle about the box's centre (the centre a rotation keeps)."""
    angle = math.radians(text.get_rotation() % 180)
    if angle == 0:
        return ((box.x0, box.y0), (box.x1, box.y0), (box.x1, box.y1), (box.x0, box.y1))
    rotation = text.get_rotation()
    text.set_rotation(0)
    upright = text.get_window_extent(renderer)
    text.set_rotation(rotation)
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    w, h = upright.width / 2, upright.height / 2
    cos, sin = math.cos(angle), math.sin(angle)
    return tuple((cx + dx * cos - dy * sin, cy + dx * sin + dy * cos)
                 for dx, dy in ((-w, -h), (w, -h), (w, h), (-w, h)))


def _apart(a: Corners, b: Corners, slack: float) -> bool:
    """Separating axes: some edge direction of either rectangle along which they are over ``slack`` apart,
    or overlap by no more than it."""
    for shape in (a, b):
        for i in range(4):
            (x0, y0), (x1, y1) = shape[i], shape[(i + 1) % 4]
            nx, ny = y0 - y1, x1 - x0
            norm = math.hypot(nx, ny) or 1.0
            nx, ny = nx / norm, ny / norm
            pa = [x * nx + y * ny for x, y in a]
            pb = [x * nx + y * ny for x, y in b]
            if min(max(pa), max(pb)) - max(min(pa), min(pb)) <= slack:
                return True
    return False


def text_problems(fig: Figure) -> list[str]:
    """Each pair of texts that overlap, and each text that leaves the figure, as a sentence; [] when
    every text stands clear."""
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]  # Agg's canvas has one
    texts = [(text.get_text(), box, outline(text, box, renderer)) for text, box in visible_texts(fig)]
    edge = fig.bbox
    problems = [f"{name!r} leaves the figure" for name, box, _ in texts
                if box.x0 < edge.x0 - SLACK_PX or box.y0 < edge.y0 - SLACK_PX
                or box.x1 > edge.x1 + SLACK_PX or box.y1 > edge.y1 + SLACK_PX]
    for i, (a, box_a, shape_a) in enumerate(texts):
        for b, box_b, shape_b in texts[i + 1:]:
            if overlap(box_a, box_b) and not _apart(shape_a, shape_b, SLACK_PX):
                problems.append(f"{a!r} overlaps {b!r}")
    return problems


def overlap(a: Bbox, b: Bbox, slack: float = SLACK_PX) -> bool:
    """The boxes share more than ``slack`` pixels in both directions."""
    return min(a.x1, b.x1) - max(a.x0, b.x0) > slack and min(a.y1, b.y1) - max(a.y0, b.y0) > slack
