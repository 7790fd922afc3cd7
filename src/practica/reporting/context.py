"""From a ``SuiteRun`` to what the templates show: formatted text, figures, and nothing to compute.

The templates only lay things out; every number is formatted and every choice (which
value is best, which badge) is made here, so the HTML and the Markdown say the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from practica.data.records import Skipped, skipped_noun
from practica.reporting import humanize as h
from practica.reporting import plots, slices
from practica.reporting import regression as reg
from practica.reporting.thresholds import ThresholdSection, threshold_section
from practica.reporting.transfer import transfer_lines
from practica.reporting.tuning import StudySection, tuning_sections
from practica.tasks import Column, Metric, Task, get_task

if TYPE_CHECKING:  # records are only read here; importing their packages would pull in torch
    from practica.config.schema import ExperimentSpec, Suite
    from practica.data.records import Splits
    from practica.diagnosis.records import Finding
    from practica.evaluation.records import ClassificationMetrics
    from practica.reporting.slices import ErrorAnalysis
    from practica.results import ExperimentResult, Ok, SuiteRun
    from practica.selection.records import Ranked
    from practica.training.history import History, PrecisionChoice


@dataclass(frozen=True)
class Image:
    key: str  # file stem in report_files/, unique in the report
    alt: str
    png: bytes = field(repr=False)

    @property
    def css_width(self) -> int:
        return plots.css_width(self.png)


@dataclass(frozen=True)
class Cell:
    text: str
    best: bool = False


@dataclass(frozen=True)
class Row:
    """One experiment in the comparison table."""

    name: str
    model: str
    cells: tuple[Cell, ...]  # in the order of COLUMNS (below)
    verdict: str  # a Verdict, or "failed" / "not diagnosed"
    selection: str  # a standing (see ``standing``): "chosen", "not chosen", "rejected", "failed" or "not ranked"


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    status: str
    model: str
    summary: str
    config: tuple[tuple[str, str], ...]
    curves: Image | None
    no_curves: str  # why there are no curves, when there are none
    verdict: str
    diagnosis_summary: str  # only when there is no finding to say it: the diagnosis is told once
    findings: tuple[Finding, ...]
    facts: tuple[str, ...]
    numbers: tuple[tuple[str, str], ...]
    selection: str
    reason: str
    error: str
    scored: str = ""  # which model the numbers are of: the kept epoch's, or the fitted estimator


@dataclass(frozen=True)
class Chosen:
    name: str
    confusion: Image
    per_class: tuple[tuple[str, str, str, str, str], ...]  # name, precision, recall, F1, support
    numbers: tuple[tuple[str, str], ...]
    observations: tuple[str, ...]  # the weakest class, the most frequent confusion
    caption: str = "Counts; the colour is the share of each true class (row-normalised)."
    regression: bool = False  # the figure is predicted vs actual; no per-class table, no calibration


CLASSES_COMPARISON_NOTE = (
    "Validation figures decide; test accuracy is shown for the record only. Val F1 is the macro-F1 (every "
    "class counts equally); latency is one sample per call, p50 / p95 in ms; throughput is at the evaluation "
    "batch size. The best value of each column is in bold."
)


TEXT_COST_NOTE = (
    " On texts, a call takes one raw text: its latency includes the tokenisation, as a served model's does, and "
    "a model's size includes its tokenizer's vocabulary."
)


@dataclass(frozen=True)
class Report:
    title: str
    description: str
    chosen: str | None
    summary: str
    headline: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]
    skipped: tuple[str, ...]
    skipped_more: int
    skipped_noun: str
    data_images: tuple[Image, ...]
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    comparison: Image | None
    policy: tuple[tuple[str, str], ...]
    ranking: tuple[tuple[str, str, str, str, str], ...]  # rank, name, value, status, reason
    experiments: tuple[Experiment, ...]
    detail: Chosen | None
    footer: tuple[tuple[str, str], ...]
    bundle: str = ""  # the chosen model's production bundle, as a path to type
    hygiene: tuple[tuple[str, str, str], ...] = ()  # per data check: title, "ok" or "warning", one line
    hygiene_notes: tuple[str, ...] = ()  # how near duplicates were found, what was not checked
    hygiene_images: tuple[Image, ...] = ()  # duplicate pairs side by side, train–test first
    # texts: duplicate pairs as (how near, first text's source and label, its excerpt, the second's, its excerpt)
    hygiene_texts: tuple[tuple[str, str, str, str, str], ...] = ()
    task: str = "classification"
    drops: tuple[str, ...] = ()  # one line per cleaning rule that dropped samples: first in the data section
    comparison_note: str = CLASSES_COMPARISON_NOTE
    threshold: ThresholdSection | None = None  # precision–recall curves, and the decision threshold if set
    error_analysis: ErrorAnalysis | None = None  # slices, what to work on, mistakes (``reporting/slices.py``)
    transfer: tuple[str, ...] = ()  # what transfer bought, one sentence per transfer experiment
    tuning: tuple[StudySection, ...] = ()  # one per study in RUN_DIR/tuning/ (``reporting/tuning.py``)

    def images(self) -> list[Image]:
        found = [*self.data_images, *self.hygiene_images, self.comparison, *(e.curves for e in self.experiments),
                 self.threshold.curves if self.threshold else None]
        found += self.error_analysis.images if self.error_analysis else ()
        if self.detail:
            found.append(self.detail.confusion)
        found += [image for study in self.tuning for image in study.images]
        return [i for i in found if i is not None]


def build(run: SuiteRun) -> Report:
    decision, suite = run.decision, run.suite
    ranked = {r.experiment: r for r in decision.ranking}
    standings = {r.name: standing(r, ranked.get(r.name)) for r in run.results}
    chosen = _evaluated(run, decision.chosen)
    skipped = _skipped(run.splits)
    task = get_task(run.splits.train.task)
    metric = task.metric(decision.metric)
    # One rule for every learning-curve figure of the run: near-identical models get the same loss axis.
    log_loss = plots.wants_log_loss([r.history for r in run.results if r.status == "ok" and r.history])
    return Report(
        title=suite.name,
        description=suite.description or "",
        chosen=decision.chosen,
        summary=decision.summary,
        headline=_headline(chosen, task, metric) if chosen else (),
        data=_data_facts(suite, run.splits),
        notes=tuple(run.splits.notes),
        drops=tuple(run.splits.drops),
        skipped=tuple(str(s) for s in skipped[:12]),
        skipped_more=max(0, len(skipped) - 12),
        skipped_noun=skipped_noun(skipped),
        data_images=_data_images(run.splits, task),
        columns=tuple(c[0] for c in _columns(run.results, task)),
        rows=_rows(run.results, standings, task),
        comparison=_comparison(run, standings, metric),
        policy=_policy(suite, metric),
        ranking=_ranking(run, ranked, standings, metric),
        experiments=tuple(_experiment(r, suite, ranked.get(r.name), standings[r.name], task, log_loss)
                          for r in run.results),
        detail=_detail(chosen, run.splits.classes, task) if chosen else None,
        footer=(("Run", run.run_id), ("Code version", run.code_version or h.DASH),
                ("Started", h.moment(run.started)), ("Duration", h.duration(run.seconds)),
                ("Data fingerprint", run.splits.fingerprint[:12] or h.DASH)),
        bundle=str(run.bundle) if run.bundle else "",
        **_hygiene(run),
        task=task.name,
        comparison_note=(CLASSES_COMPARISON_NOTE if task.has_classes else reg.COMPARISON_NOTE)
        + (TEXT_COST_NOTE if run.splits.train.kind == "text" else ""),
        threshold=threshold_section(run),
        error_analysis=slices.build(run),
        transfer=transfer_lines(run),
        tuning=tuning_sections(run),
    )


def _evaluated(run: SuiteRun, name: str | None) -> Ok | None:
    """The result named ``name`` if it exists and was evaluated."""
    for r in run.results:
        if r.name == name and r.status == "ok":
            return r
    return None


# ----------------------------------------------------------------- headline, data


def _headline(chosen: Ok, task: Task, metric: Metric) -> tuple[tuple[str, str], ...]:
    ev = chosen.evaluation
    if not task.has_classes:
        return reg.headline(ev, metric)
    return (
        (metric.label.capitalize(), metric.show(metric.value(ev.val))),
        ("Test accuracy", h.percent(ev.test.classification.accuracy)),
        ("Median latency", h.ms(ev.cost.latency_p50_ms)),
        ("Size", h.size(ev.cost.size_bytes)),
        ("Parameters", h.count(ev.cost.params)),
    )


def _data_facts(suite: Suite, splits: Splits) -> tuple[tuple[str, str], ...]:
    spec, train = suite.dataset, splits.train
    source = spec.source + (f" · {spec.path}" if spec.path else "")
    if train.kind == "image":
        c, height, width = train.input_shape
        shape = f"images, {height}×{width} {'RGB' if c == 3 else 'grayscale'}"
    elif train.kind == "text":
        words = sorted(len(str(t).split()) for t in train.x)
        shape = (f"texts, {words[len(words) // 2]:,} words at the median, {words[-1]:,} at most (training split)"
                 if words else "texts")
    else:
        shape = f"feature table, {train.input_shape[0]} features"
    share = splits.shares()  # as made, from the indices: the settings only asked for them

    def size(part: str) -> str:
        return f"{len(getattr(splits, part)):,} ({h.percent(share[part], 0)})"

    if splits.test_is_fixed:
        where = f": {spec.test.source} · {spec.test.path}" if spec.test and spec.test.path else ""
        test_origin = "fixed (its own set" + where + ")"
    else:
        test_origin = f"held out from the data ({h.percent(share['test'], 0)}, seed {splits.seed})"
    return (
        ("Source", source),
        ("Samples", shape),
        ("Classes",
         f"{len(splits.classes)}: {', '.join(splits.classes[:12])}{' …' if len(splits.classes) > 12 else ''}")
        if get_task(train.task).has_classes else ("Target", reg.target_facts(splits)),
        ("Train", size("train")),
        ("Validation", size("val")),
        ("Test", size("test")),
        ("Test set", test_origin),
        ("Fingerprint", splits.fingerprint[:12] or h.DASH),
    )


def _skipped(splits: Splits) -> tuple[Skipped, ...]:
    seen: dict[Skipped, None] = {}
    for ds in (splits.train, splits.val, splits.test):
        seen.update(dict.fromkeys(ds.skipped))
    return tuple(seen)


HYGIENE_PAIRS = 6  # duplicate pairs shown in the report


def _hygiene(run: SuiteRun) -> dict:
    """The data-hygiene block: each check's one-line result, and a few duplicate pairs as images."""
    report = getattr(run, "hygiene", None)
    if report is None:
        return {}
    lines = tuple((c.title, c.status, c.summary) for c in report.checks)
    notes = list(report.notes)
    if report.near_distance is not None and report.is_text:
        from practica.data.duplicates.text_hashes import NUM_PERM

        notes.insert(0, f"Near duplicates: texts whose word-bigram Jaccard similarity is at least "
                        f"{report.min_similarity:g} (MinHash with {NUM_PERM} hashes and LSH for candidates, each "
                        "confirmed exactly); exact ones are equal after Unicode NFKC, casefolding and whitespace. "
                        "Checked on the splits as trained; every pair is listed in data/hygiene.json.")
    elif report.near_distance is not None:
        sim = (f" and thumbnails correlating at least {report.min_similarity:.2f}"
               if report.min_similarity is not None else "")
        if report.max_difference is not None:  # the pixel check that confirms a candidate pair
            sim += (f", whose pixels differ by at most {report.max_difference:g} of 255 on average (after the "
                    "best one-pixel shift and a brightness/contrast fit)")
        notes.insert(0, f"Near duplicates: images within perceptual-hash distance {report.near_distance} "
                        f"(of 64 bits){sim}. "
                        f"Checked on the splits as trained; every pair is listed in data/hygiene.json.")

    def order(p) -> int:  # train–test leaks first, then other leaks, then duplicates within a split
        return 0 if {p.a_part, p.b_part} == {"train", "test"} else 1 if p.a_part != p.b_part else 2

    pairs = sorted(report.pairs(), key=order)[:HYGIENE_PAIRS]
    parts = {"train": run.splits.train, "val": run.splits.val, "test": run.splits.test}
    images: tuple[Image, ...] = ()
    if pairs:
        from practica.reporting.hygiene import pairs_figure

        differ = " (labels in red differ)" if any(p.labels_differ for p in pairs) else ""
        figure = pairs_figure(pairs, parts, title="Duplicate pairs" + differ)
        if figure is not None:
            images = (Image("duplicates", "Example duplicate pairs, side by side", figure),)
    texts = tuple(_text_pair(p, parts) for p in pairs) if report.is_text else ()
    return {"hygiene": lines, "hygiene_notes": tuple(notes), "hygiene_images": images, "hygiene_texts": texts}


def _text_pair(p, parts: dict) -> tuple[str, str, str, str, str]:
    """A duplicate pair of texts as the report lists it: how near, then each side's name and excerpt."""
    def excerpt(part: str, i: int) -> str:
        flat = " ".join(str(parts[part].x[i]).split())
        return flat[:160] + ("…" if len(flat) > 160 else "")

    how = "identical (normalised)" if p.exact else f"Jaccard {p.similarity:.2f}"
    return (how + (", labels differ" if p.labels_differ else ""), f"{p.a_part} · {p.a_source} ({p.a_label})",
            excerpt(p.a_part, p.a_index), f"{p.b_part} · {p.b_source} ({p.b_label})", excerpt(p.b_part, p.b_index))


def _data_images(splits: Splits, task: Task) -> tuple[Image, ...]:
    if not task.has_classes:
        return (Image("target", "The target's distribution in each split", reg.target_histogram(splits)),)
    images = [Image("class-counts", "Samples per class in each split", plots.class_counts(splits))]
    grid = plots.sample_grid(splits.train, seed=splits.seed)
    if grid is not None:
        images.append(Image("samples", "Training samples, a few per class", grid))
    return tuple(images)


# ------------------------------------------------------------------ comparison


def _latency(r: Ok) -> str:
    """"0.24 (0.23–0.25) / 4.5 ms": the median with its interval (what the selection compares), then p95."""
    cost = r.evaluation.cost
    ci = cost.latency_p50_interval
    spread = f" ({_bare_ms(ci.low)}–{_bare_ms(ci.high)})" if ci is not None else ""
    return f"{_bare_ms(cost.latency_p50_ms)}{spread} / {h.ms(cost.latency_p95_ms)}"


def _bare_ms(v: float) -> str:
    return h.ms(v).removesuffix(" ms")


# The comparison columns: header, the value that decides "best", its text, and whether higher is better;
# the task's quality columns go between the size and the latency.
_COST: tuple[tuple[str, Callable, Callable, bool], ...] = (
    ("Params", lambda r: r.evaluation.cost.params, lambda r: h.count(r.evaluation.cost.params), False),
    ("Size", lambda r: r.evaluation.cost.size_bytes, lambda r: h.size(r.evaluation.cost.size_bytes), False),
)
_SPEED: tuple[tuple[str, Callable, Callable, bool], ...] = (
    ("p50 / p95", lambda r: r.evaluation.cost.latency_p50_ms, _latency, False),
    ("Throughput", lambda r: r.evaluation.cost.throughput, lambda r: h.per_second(r.evaluation.cost.throughput), True),
    ("Train time", lambda r: r.train_seconds, lambda r: h.duration(r.train_seconds), False),
)
# With dataset.split.cv_folds, the baselines' k-fold accuracy on train+val (mean ± std), last of the quality.
_CV_COLUMN = ("CV acc", lambda r: r.cv.mean if r.cv else None,
              lambda r: f"{h.percent(r.cv.mean)} ± {r.cv.std * 100:.1f}" if r.cv else h.DASH, True)


def _quality(column: Column, task: Task) -> tuple[str, Callable, Callable, bool]:
    metric = task.metric(column.metric)

    def text(r: Ok) -> str:  # a validation figure with its bootstrap interval: "98.5% (97.4–99.3)"
        interval = r.evaluation.intervals.get(column.metric) if column.split == "val" else None
        return metric.show_with(task.cell(column, r.evaluation)[0], interval)

    return (column.header, lambda r: task.cell(column, r.evaluation)[0], text, metric.higher_is_better)


def _columns(results: tuple[ExperimentResult, ...], task: Task) -> tuple[tuple[str, Callable, Callable, bool], ...]:
    quality = tuple(_quality(c, task) for c in task.columns)
    cv = (_CV_COLUMN,) if any(getattr(r, "cv", None) for r in results) else ()
    return (*_COST, *quality, *cv, *_SPEED)


def _rows(results: tuple[ExperimentResult, ...], standings: dict[str, str], task: Task) -> tuple[Row, ...]:
    columns = _columns(results, task)
    evaluated = [r for r in results if r.status == "ok"]
    best = []
    for _, value, _, higher in columns:
        values = [v for v in map(value, evaluated) if v is not None and math.isfinite(v)]
        # Only a comparison emphasises: one evaluated experiment is not "best" at anything.
        best.append((max if higher else min)(values) if len(values) > 1 else None)
    rows = []
    for r in results:
        if r.status == "failed":
            cells = tuple(Cell(h.DASH) for _ in columns[:-1]) + (Cell(h.duration(r.train_seconds)),)
        else:
            cells = tuple(Cell(text(r), best=b is not None and value(r) == b)
                          for (_, value, text, _), b in zip(columns, best, strict=True))
        rows.append(Row(r.name, _model_kind(r.spec), cells, _verdict(r), standings[r.name]))
    return tuple(rows)


def _verdict(r: ExperimentResult) -> str:
    if r.status == "failed":
        return "failed"
    return r.diagnosis.verdict if r.diagnosis else "not diagnosed"


def standing(r: ExperimentResult, ranked: Ranked | None) -> str:
    """How the report words an experiment's place in the decision: the policy's own status ("chosen",
    "not chosen" for an eligible model that lost to a better or cheaper one, "rejected" for what the policy
    rules out: a diverged run, a broken constraint, a failed slice audit), "failed", or "not ranked"."""
    if r.status == "failed":
        return "failed"
    return ranked.status if ranked is not None else "not ranked"


def _comparison(run: SuiteRun, standings: dict[str, str], metric: Metric) -> Image | None:
    points = [
        plots.Point(r.name, r.evaluation.cost.latency_p50_ms, metric.value(r.evaluation.val),
                    chosen=r.name == run.decision.chosen, rejected=standings[r.name] == "rejected",
                    value_interval=r.evaluation.intervals.get(metric.name),
                    latency_interval=r.evaluation.cost.latency_p50_interval)
        for r in run.results if r.status == "ok"
    ]
    png = plots.comparison(points, metric=metric,
                           latency_limit_ms=run.suite.selection.constraints.latency_p95_ms)
    return Image("comparison", f"{metric.label} against median latency", png) if png else None


# ------------------------------------------------------------------- selection


def _policy(suite: Suite, metric: Metric) -> tuple[tuple[str, str], ...]:
    """``metric``: the one in force (a default resolved)."""
    sel = suite.selection
    c = sel.constraints
    limits = [f"p95 latency ≤ {c.latency_p95_ms:g} ms" if c.latency_p95_ms else "",
              f"size ≤ {c.size_mb:g} MB" if c.size_mb else "",
              f"parameters ≤ {h.count(c.params)}" if c.params else ""]
    limits = [x for x in limits if x]
    return (
        ("Metric", f"{metric.label} ({metric.direction} is better), "
                   "measured on the validation split"),
        ("Constraints", "; ".join(limits) if limits else "none"),
        ("Tolerance", f"within {metric.tolerance(sel.tolerance)} of the best, the cheaper model wins"),
        ("Cheaper means", f"lower median (p50) latency, beyond noise: the intervals apart and at least "
                          f"{h.percent(sel.latency_margin)} less; ties go to the fewer parameters"
         if sel.prefer == "latency" else "smaller size on disk (within 1% is a tie); ties go to the fewer parameters"),
    )


def _ranking(run: SuiteRun, ranked: dict[str, Ranked], standings: dict[str, str],
             metric: Metric) -> tuple[tuple[str, str, str, str, str], ...]:
    rows: list[tuple[str, str, str, str, str]] = [
        (str(i), r.experiment, metric.show(r.value), standings.get(r.experiment, r.status), r.reason)
        for i, r in enumerate(run.decision.ranking, 1)]
    for r in run.results:  # every experiment gets a line, even one the decision left out
        if r.name not in ranked:
            why = f"failed: {_first_line(r.error)}" if r.status == "failed" else "not in the selection record"
            rows.append((h.DASH, r.name, h.DASH, "failed" if r.status == "failed" else "not ranked", why))
    return tuple(rows)


# ------------------------------------------------------------------- experiments


def _model_kind(spec: ExperimentSpec) -> str:
    model = spec.model
    # In the order ModelSpec.kind tests them (layers, arch, sklearn), on the fields themselves so the
    # types narrow: ModelSpec's validator leaves exactly one of the three set.
    if model.layers is not None:
        types = {getattr(layer, "type", "") for layer in model.layers}
        if "residual" in types:
            return "ResNet-style CNN"
        return "CNN" if "conv" in types else "MLP"
    if model.arch is not None:
        return model.arch
    assert model.sklearn is not None  # kind is "sklearn": neither of the others is set
    return f"scikit-learn {model.sklearn.replace('_', ' ')}"


def _shorthand(spec) -> str:
    """A layer or augmentation as written in the suite file: 'conv32', 'dropout 0.2', 'maxpool', with
    any other setting that is not the default after it: 'hflip (alternate)', 'crop 2 (fill reflect)'."""
    main = getattr(type(spec), "main", None)
    fields = type(spec).model_fields
    if main is None or getattr(spec, main) == fields[main].default:
        text = spec.type
    else:
        value = getattr(spec, main)
        # Layer widths read as one word ('conv32', 'dense128'), as in the model summary; the rest spaced.
        text = f"{spec.type}{value}" if spec.type in ("conv", "dense", "residual") else f"{spec.type} {value:g}"
    extras = [name if value is True else f"{name} {value}" for name, value in
              ((n, getattr(spec, n)) for n in fields if n not in ("type", main)) if value != fields[name].default]
    return f"{text} ({', '.join(extras)})" if extras else text


def _model_text(r: ExperimentResult) -> str:
    from practica.models.registry import describe  # the same short form the CLI and pipeline use

    return r.model_summary or describe(r.spec.model)


def _train_config(spec: ExperimentSpec, suite: Suite,
                  precision: PrecisionChoice | None = None) -> tuple[tuple[str, str], ...]:
    """The experiment's training settings as rows; ``precision``: what the run trained in and why, as its history
    recorded it (one stored before that was recorded: the setting)."""
    t = spec.train
    if spec.model.kind == "sklearn":
        estimator = spec.model.sklearn
        assert estimator is not None  # kind is "sklearn": ModelSpec's validator set it
        rows: list[tuple[str, str]] = [("Estimator", estimator)]
        if spec.model.params:
            rows.append(("Parameters", ", ".join(f"{k}={v}" for k, v in spec.model.params.items())))
        rows.append(("Training data",
                     f"{t.max_samples:,} samples (subset)" if t.max_samples else "all training samples"))
        return tuple(rows)
    opt = t.optimizer
    optimizer = f"{opt.name}, lr {opt.lr:g}"
    if opt.name == "sgd":
        optimizer += f", momentum {opt.momentum:g}{' (Nesterov)' if opt.nesterov else ''}"
    if opt.weight_decay:
        optimizer += f", weight decay {opt.weight_decay:g}"
    schedule = t.schedule.name + (f", {h.plural(t.schedule.warmup_epochs, 'warm-up epoch')}"
                                  if t.schedule.warmup_epochs else "")
    stopping = (f"on {t.early_stopping.monitor}, patience {t.early_stopping.patience}"
                if t.early_stopping else "off")
    augment = suite.augment_for(spec)
    rows = [
        ("Optimizer", optimizer),
        ("Schedule", schedule),
        ("Epochs, batch", f"up to {t.epochs}, batch {t.batch_size}"),
        ("Early stopping", stopping),
        ("Augmentation", ", ".join(_shorthand(a) for a in augment) if augment else "none"),
        # "Numeric" keeps it apart from the precision of precision and recall
        ("Numeric precision", precision.describe().removeprefix("precision ") if precision else t.precision),
    ]
    extras = [f"label smoothing {t.label_smoothing:g}" if t.label_smoothing else "",
              f"gradient clipping at {t.grad_clip:g}" if t.grad_clip else "",
              f"{t.max_samples:,} training samples" if t.max_samples else "", f"seed {t.seed}"]
    rows.append(("Other", ", ".join(x for x in extras if x)))
    return tuple(rows)


def _experiment(r: ExperimentResult, suite: Suite, ranked: Ranked | None, status: str, task: Task,
                log_loss: bool) -> Experiment:
    curves, no_curves = None, ""
    history, ev, d = (r.history, r.evaluation, r.diagnosis) if r.status == "ok" else (None, None, None)
    if history is not None and history.epochs:
        draw = plots.learning_curves if task.has_classes else reg.learning_curves
        curves = Image(f"curves-{r.name}", f"Learning curves of {r.name}", draw(history, log_loss=log_loss))
    elif history is None and r.spec.model.kind == "sklearn":
        no_curves = "A scikit-learn baseline is fitted in one pass: there are no epochs and no learning curves."
    elif r.status == "ok":
        no_curves = "No training history was recorded."
    numbers: list[tuple[str, str]] = []
    if ev is not None and not task.has_classes:
        numbers = reg.numbers(ev, r.train_seconds)
    elif ev is not None:
        val = ev.val.classification
        numbers = [("Train accuracy", h.percent(ev.train)), ("Val accuracy", h.percent(val.accuracy)),
                   ("Gap", h.points(ev.train - val.accuracy)),
                   ("Val loss", h.loss(ev.val.loss)),
                   ("Val ECE", h.percent(val.ece)), ("Train time", h.duration(r.train_seconds))]
    return Experiment(
        name=r.name,
        description=r.spec.description or "",
        status=r.status,
        model=_model_kind(r.spec),
        summary=_model_text(r),
        config=_train_config(r.spec, suite, history.precision if history is not None else None),
        curves=curves,
        no_curves=no_curves,
        verdict=_verdict(r),
        diagnosis_summary=d.summary if d and not d.findings else "",
        findings=d.findings if d else (),
        # A fitted model's facts (train and val accuracy, the gap, "no epochs") restate the numbers
        # row and the no-curves note above them: shown once, there.
        facts=d.facts if d and history is not None else (),
        numbers=tuple(numbers),
        selection=status,
        reason=ranked.reason if ranked else "",
        error=r.error if r.status == "failed" else "",
        scored=_scored(history) if numbers else "",
    )


def _scored(history: History | None) -> str:
    """Names the model the numbers row scores, so that they are not read as the diagnosis's epoch means."""
    if history is None:
        return "The fitted model, scored on each split after training:"
    kept = f" (epoch {history.best_epoch})" if history.best_epoch else ""
    return f"The model kept{kept}, scored on each split after training:"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no error message recorded"


# ----------------------------------------------------------------- chosen model


def _detail(chosen: Ok, classes: tuple[str, ...], task: Task) -> Chosen:
    ev = chosen.evaluation
    test = ev.test
    if not task.has_classes:
        figure = reg.predicted_vs_actual(test, title=f"{test.n:,} test samples")
        return Chosen(name=chosen.name, confusion=Image("predicted-vs-actual", f"Predicted against actual values of "
                      f"{chosen.name} on the test split", figure), per_class=(), numbers=reg.test_numbers(ev),
                      observations=reg.observations(ev), caption=reg.FIGURE_CAPTION, regression=True)
    figures = test.classification
    return Chosen(
        name=chosen.name,
        confusion=Image("confusion", f"Confusion matrix of {chosen.name} on the test split",
                        plots.confusion_matrix(figures, classes,
                                               title=f"{chosen.name} on the test split ({test.n:,} samples)")),
        per_class=tuple((c.name, h.percent(c.precision), h.percent(c.recall), h.percent(c.f1), f"{c.support:,}")
                        for c in figures.per_class),
        numbers=(("Test accuracy", h.percent(figures.accuracy)), ("Test macro-F1", h.percent(figures.macro_f1)),
                 ("Test loss", h.loss(test.loss)),
                 ("Test ECE", h.percent(figures.ece)), ("Val ECE", h.percent(ev.val.classification.ece)),
                 ("Test samples", f"{test.n:,}")),
        observations=_observations(figures, classes),
    )


def _observations(test: ClassificationMetrics, classes: tuple[str, ...]) -> tuple[str, ...]:
    notes = []
    scored = [c for c in test.per_class if math.isfinite(c.f1)]
    if len(scored) > 1:
        weakest = min(scored, key=lambda c: c.f1)
        notes.append(f"Weakest class: {weakest.name} (F1 {h.percent(weakest.f1)}, recall {h.percent(weakest.recall)}, "
                     f"{weakest.support:,} samples).")
    pairs = [(n, i, j) for i, row in enumerate(test.confusion) for j, n in enumerate(row) if i != j and n > 0]
    if pairs:
        n, i, j = max(pairs)
        names = list(classes) if len(classes) == len(test.confusion) else [str(k) for k in range(len(test.confusion))]
        notes.append(f"Most frequent confusion: true {names[i]} predicted as {names[j]}, "
                     f"{n:,} time{'s' if n != 1 else ''}.")
    return tuple(notes)
