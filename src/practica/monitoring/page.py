"""``practica monitor``'s page: one self-contained HTML file of a prediction log over time.

Requests, OOD rate and class shares per time bucket; the drift statistics computed over consecutive
windows of rows (as the server computes them over its newest window), with their thresholds; the
current window's checks and alerts in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from practica import text
from practica.monitoring.drift import DriftReport, drift_report
from practica.monitoring.records import PredictionRow
from practica.monitoring.sources import MonitorData
from practica.monitoring.thresholds import Thresholds

MAX_WINDOWS = 40  # consecutive windows drawn; older ones are left out (the page says so)
TIME_BUCKETS = 60
MIN_SPAN_S = 60.0  # a burst of requests within a second is drawn over a minute (1 s buckets)
MAX_LINES = 6  # per drift panel: the features that moved most
MAX_CLASSES = 10  # in the class-share plot; the rest are "other"
FIG_WIDTH = 8.0


@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    caption: str
    png: bytes

    @property
    def src(self) -> str:
        from practica.reporting import plots

        return plots.png_src(self.png)

    @property
    def css_width(self) -> int:
        from practica.reporting import plots

        return plots.css_width(self.png)


def write_monitor_page(data: MonitorData, out: Path, *, window: int,
                       thresholds: Thresholds | None = None) -> DriftReport:
    """Write the page for ``data`` to ``out``; returns the newest window's drift report."""
    from practica.io import write_text
    from practica.reporting.templating import environment

    t = thresholds or Thresholds()
    primary = [r for r in data.rows if r.role == "primary" and r.error is None]
    current = drift_report(primary, data.reference, window=window, thresholds=t, feature_names=data.feature_names)
    windows = [primary[i:i + window] for i in range(0, len(primary), window)]
    left_out = max(0, len(windows) - MAX_WINDOWS)
    windows = windows[left_out:]
    history = [drift_report(w, data.reference, window=window, thresholds=t, feature_names=data.feature_names)
               for w in windows]
    figures = _figures(data.rows, history, t) if data.rows else []
    page = environment().get_template("monitor.html").render(
        data=data, report=current, figures=figures, window=window, windows=len(windows), left_out=left_out,
        when=text.moment, percent=text.percent, plural=text.plural, roles=_roles(data.rows),
        span=_span(data.rows), generated=text.moment(datetime.now(UTC).timestamp()),
    )
    write_text(out, page)
    return current


def _figures(rows: list[PredictionRow], history: list[DriftReport], t: Thresholds) -> list[Figure]:
    times = np.array([r.time for r in rows])
    edges = _bucket_edges(times)
    out = [_traffic(rows, times, edges)]
    flagged = [(r.time, r.ood_flag) for r in rows if r.ood_flag is not None]
    if flagged:
        out.append(_ood_rate(flagged, edges))
    if any(isinstance(r.output, str) for r in rows):
        out.append(_class_shares(rows, times, edges))
    if history and any(report.checks for report in history):
        out.append(_drift_history(history, t))
    return out


def _bucket_edges(times: np.ndarray) -> np.ndarray:
    lo, hi = float(times.min()), float(times.max())
    return np.linspace(lo, max(hi, lo + MIN_SPAN_S), TIME_BUCKETS + 1)


def _dates(seconds: np.ndarray) -> np.ndarray:
    return (np.asarray(seconds) * 1000).astype("datetime64[ms]")


def _date_axis(ax) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _traffic(rows: list[PredictionRow], times: np.ndarray, edges: np.ndarray) -> Figure:
    from practica.reporting.plots import BLUE, ORANGE, new_figure

    width = float(edges[1] - edges[0])
    centres = _dates((edges[:-1] + edges[1:]) / 2)
    counts = np.histogram(times, bins=edges)[0]
    latency = np.array([r.latency_ms for r in rows])
    bucket = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, len(edges) - 2)
    p50 = np.array([np.median(latency[bucket == b]) if np.any(bucket == b) else np.nan for b in range(len(counts))])
    with new_figure(FIG_WIDTH, 3.6) as (fig, buf):
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        top.bar(centres, counts / width, width=np.timedelta64(int(width * 1000 * 0.9), "ms"), color=BLUE)
        top.set_ylabel("inputs / s")
        top.set_title("Inputs predicted over time")
        bottom.plot(centres, p50, color=ORANGE, marker=".", markersize=4)
        bottom.set_ylabel("median ms")
        bottom.set_ylim(bottom=0)
        _date_axis(bottom)
    return Figure("traffic", "Traffic", f"Inputs per second and the median request latency, in {TIME_BUCKETS} "
                  f"buckets of {text.duration(width)} (all roles).", buf.getvalue())


def _ood_rate(flagged: list[tuple[float, bool]], edges: np.ndarray) -> Figure:
    from practica.reporting.plots import GREY, RED, new_figure

    times = np.array([f[0] for f in flagged])
    flags = np.array([f[1] for f in flagged], dtype=float)
    totals = np.histogram(times, bins=edges)[0]
    hits = np.histogram(times, bins=edges, weights=flags)[0]
    rate = np.where(totals > 0, hits / np.maximum(totals, 1), np.nan)
    with new_figure(FIG_WIDTH, 2.6) as (fig, buf):
        ax = fig.subplots()
        ax.plot(_dates((edges[:-1] + edges[1:]) / 2), 100 * rate, color=RED, marker=".", markersize=4)
        ax.axhline(1.0, color=GREY, linestyle="--", linewidth=1)
        ax.annotate("~1% calibrated", (0.995, 1.0), xycoords=("axes fraction", "data"), ha="right", va="bottom",
                    fontsize=8, color=GREY)
        ax.set_ylabel("% flagged")
        ax.set_ylim(bottom=0)
        ax.set_title("Inputs flagged out of distribution")
        _date_axis(ax)
    return Figure("ood", "Out-of-distribution rate", "The share of inputs whose OOD flag is set, per time bucket; "
                  "the flag is calibrated to about 1% on validation.", buf.getvalue())


def _class_shares(rows: list[PredictionRow], times: np.ndarray, edges: np.ndarray) -> Figure:
    from practica.reporting.plots import GREY, new_figure

    labels = [r.output if isinstance(r.output, str) else None for r in rows]
    common = [k for k, _ in sorted(_tally(x for x in labels if x is not None).items(), key=lambda kv: -kv[1])]
    shown = common[:MAX_CLASSES]
    bucket = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, len(edges) - 2)
    n_buckets = len(edges) - 1
    series = np.zeros((len(shown) + 1, n_buckets))
    index = {k: i for i, k in enumerate(shown)}
    for b, label in zip(bucket, labels, strict=True):
        if label is not None:
            series[index.get(label, len(shown)), b] += 1
    totals = series.sum(axis=0)
    shares = np.where(totals > 0, series / np.maximum(totals, 1), np.nan)
    names = [*shown, "other"] if len(common) > len(shown) else shown
    with new_figure(FIG_WIDTH, 3.0) as (fig, buf):
        ax = fig.subplots()
        import matplotlib as mpl

        colours = [mpl.colormaps["tab10"](i % 10) for i in range(len(shown))] + [GREY]
        ax.stackplot(_dates((edges[:-1] + edges[1:]) / 2), 100 * np.nan_to_num(shares[:len(names)]),
                     labels=names, colors=colours[:len(names)], alpha=0.9)
        ax.set_ylim(0, 100)
        ax.set_ylabel("% of answers")
        ax.set_title("Predicted classes over time")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        _date_axis(ax)
    return Figure("classes", "Predicted classes", "Each class's share of the answers per time bucket"
                  + (f" (the {MAX_CLASSES} most frequent; the rest as other)" if len(names) > len(shown) else "")
                  + ".", buf.getvalue())


def _drift_history(history: list[DriftReport], t: Thresholds) -> Figure:
    from practica.reporting.plots import GREY, RED, new_figure

    ends = _dates(np.array([h.last_time or 0.0 for h in history]))
    panels = [("psi", "PSI", t.psi), ("ks", "KS distance", t.ks)]
    names = {c.id: f"{c.subject} · {c.kind.replace('_', '-')}" for h in history for c in h.checks}
    subjects = list(names)
    import matplotlib as mpl

    # one colour per thing measured, the same in every panel (brightness is blue in PSI and in KS)
    measured = list(dict.fromkeys(c.subject for h in history for c in h.checks))
    colour = {m: mpl.colormaps["tab10"](i % 10) for i, m in enumerate(measured)}
    with new_figure(FIG_WIDTH, 2.3 * len(panels) + 0.9 + 0.22 * len(subjects)) as (fig, buf):
        axes = fig.subplots(len(panels) + 1, 1, sharex=True,
                            height_ratios=[2.3] * len(panels) + [0.6 + 0.22 * len(subjects)])
        for ax, (kind, label, threshold) in zip(axes, panels, strict=False):
            values: dict[str, list[float]] = {}
            for i, h in enumerate(history):
                for c in h.checks:
                    if c.kind == kind:
                        values.setdefault(c.subject, [np.nan] * len(history))[i] = c.value
            top = sorted(values, key=lambda k: -np.nanmax(values[k]))[:MAX_LINES]
            for name in top:
                ax.plot(ends, values[name], marker=".", markersize=4, label=name, color=colour[name])
            ax.axhline(threshold, color=RED, linestyle="--", linewidth=1)
            highest = max((np.nanmax(values[k]) for k in top), default=0.0)
            if highest > 10 * threshold:  # a far-off value would flatten the threshold and the quiet lines
                ax.set_yscale("symlog", linthresh=threshold)
            ax.set_ylim(bottom=0)
            ax.set_ylabel(label)
            ax.set_title(f"{label} per window" + (" (the most moved)" if len(values) > len(top) else ""))
            if top:
                ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        ax = axes[-1]  # every check, window by window: red where it alerted
        for row, subject in enumerate(subjects):
            states = [next((c.alert for c in h.checks if c.id == subject), None) for h in history]
            on = [e for e, s in zip(ends, states, strict=True) if s]
            off = [e for e, s in zip(ends, states, strict=True) if s is False]
            ax.scatter(off, [row] * len(off), marker="s", s=18, color=GREY, alpha=0.35, linewidths=0)
            ax.scatter(on, [row] * len(on), marker="s", s=30, color=RED, linewidths=0)
        ax.set_yticks(range(len(subjects)), [shorten_label(names[s]) for s in subjects], fontsize=8)
        ax.set_ylim(len(subjects) - 0.5, -0.5)
        ax.grid(axis="y", visible=False)
        ax.set_title("Checks alerting (red) per window")
        if len(history) == 1:  # one point: a minute around it, not an axis of zero length
            ax.set_xlim(ends[0] - np.timedelta64(30, "s"), ends[0] + np.timedelta64(30, "s"))
        _date_axis(ax)
    size = text.plural(history[-1].window, "input")
    return Figure("drift", "Drift over windows", f"Each point is one window of {size} "
                  "of the primary model, drawn at its last input's time; the dashed lines are the alert thresholds; "
                  "a check is a row of the last panel, red in the windows where it alerted.",
                  buf.getvalue())


def shorten_label(subject: str, width: int = 34) -> str:
    return subject if len(subject) <= width else subject[:width - 1] + "…"


def _tally(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def _roles(rows: list[PredictionRow]) -> dict[str, int]:
    return _tally(r.role for r in rows)


def _span(rows: list[PredictionRow]) -> str:
    if not rows:
        return "no rows"
    return f"{text.moment(rows[0].time)} to {text.moment(rows[-1].time)}"
