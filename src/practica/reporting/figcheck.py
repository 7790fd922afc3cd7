"""Where a drawn figure's text lies, and which pieces of text collide or leave the figure.

The report's figures are checked with it in the tests (``plots.inspecting``): two labels printed over
each other, or a title cut off at the figure's edge, is a defect a reader sees at once and a test
of the PNG's size never does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

SLACK_PX = 1.0  # boxes that merely touch (anti-aliasing, rounding) do not count


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


def text_problems(fig: Figure) -> list[str]:
    """Each pair of texts that overlap, and each text that leaves the figure, as a sentence; [] when
    every text stands clear."""
    texts = [(text.get_text(), box) for text, box in visible_texts(fig)]
    edge = fig.bbox
    problems = [f"{name!r} leaves the figure" for name, box in texts
                if box.x0 < edge.x0 - SLACK_PX or box.y0 < edge.y0 - SLACK_PX
                or box.x1 > edge.x1 + SLACK_PX or box.y1 > edge.y1 + SLACK_PX]
    for i, (a, box_a) in enumerate(texts):
        for b, box_b in texts[i + 1:]:
            if overlap(box_a, box_b):
                problems.append(f"{a!r} overlaps {b!r}")
    return problems


def overlap(a: Bbox, b: Bbox, slack: float = SLACK_PX) -> bool:
    """The boxes share more than ``slack`` pixels in both directions."""
    return min(a.x1, b.x1) - max(a.x0, b.x0) > slack and min(a.y1, b.y1) - max(a.y0, b.y0) > slack
