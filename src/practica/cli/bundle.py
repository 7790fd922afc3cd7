"""``practica export``, ``predict`` and ``serve``: a finished run's model as a bundle, and the bundle at work."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from practica.cli.terminal import EXIT_INTERRUPTED, console, err_console, fail
from practica.errors import PracticaError

if TYPE_CHECKING:  # imported where used, to keep the CLI's start fast
    from practica.bundle import Bundle
    from practica.prediction import Row
    from practica.serving.deployment import Deployment


def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (runs/<suite>/<run-id>) of a finished run.")],
    experiment: Annotated[str | None, typer.Option(help="Which experiment; default: the chosen one.")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Bundle folder; default: RUN_DIR/bundle (RUN_DIR/bundle-NAME for others).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing bundle folder.")] = False,
) -> None:
    """Package a trained experiment as a self-contained bundle: ONNX, weights, card, lineage, manifest."""
    from practica.bundle import load_bundle
    from practica.pipeline.export import export_run

    try:
        path = export_run(run_dir, experiment, out, overwrite=overwrite)
        bundle = load_bundle(path)
    except PracticaError as err:
        fail(err)
    parity = bundle.card["onnx_parity"]
    console.print(f"[green]bundle[/] {escape(str(path))}: {escape(bundle.version)}, "
                  f"{escape(bundle.input.describe())} → "
                  f"{len(bundle.classes)} classes; ONNX agrees with the trained model to {parity['max_abs_diff']:.1e} "
                  f"on {parity['samples']} test samples")


PREVIEW_ROWS = 20
SHOWN_FAILURES = 3


def predict(
    bundle_dir: Annotated[Path, typer.Argument(metavar="BUNDLE", help="A bundle folder, as practica export wrote it.")],
    inputs: Annotated[list[Path] | None, typer.Argument(
        metavar="INPUT", show_default=False,
        help="Image files; folders of images (sub-folders named after classes give true labels); pixel CSVs "
             "(label,pixel1,…); JSON or JSON Lines files of {\"image\": base64} / {\"pixels\": …} / "
             "{\"features\": …} records with optional \"id\" and \"label\". For a text model: .txt files "
             "(one text each), folders of them, CSV/TSV or JSON/JSON Lines files with a text column.")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Write every row to this .csv or .json file; default: show the first rows.")] = None,
    top_k: Annotated[int, typer.Option(
        "--top-k", min=1, help="How many of the most probable labels each row lists.")] = 3,
    text: Annotated[list[str] | None, typer.Option(
        "--text", show_default=False, help="A text to predict (a text model; repeat for several).")] = None,
    text_column: Annotated[str | None, typer.Option(
        "--text-column", show_default=False,
        help="The column of a CSV or JSON input holding the text; default: the model's data source's text column "
             "(else 'text').")] = None,
) -> None:
    """Predict a batch of inputs with a bundle. An input that cannot be read becomes a row with an error."""
    from itertools import islice

    from practica.bundle import load_bundle
    from practica.prediction import Predictions, check_output_path, write_rows

    failures: list[Row] = []
    try:
        if out is not None:
            check_output_path(out)
        predictions = Predictions(load_bundle(bundle_dir), inputs or [], top_k=top_k, texts=text or (),
                                  text_column=text_column)
        with Progress(TextColumn("predicting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True, disable=not console.is_terminal) as progress:
            task = progress.add_task("", total=predictions.total)
            rows = _tracked(predictions, progress, task, failures)
            if out is None:
                shown = list(islice(rows, PREVIEW_ROWS))
                for _ in rows:  # the rest still counts in the summary
                    pass
            else:
                write_rows(rows, out)
    except PracticaError as err:
        fail(err)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted.[/]" + (f" Nothing was written to {escape(str(out))}." if out else ""))
        raise typer.Exit(EXIT_INTERRUPTED) from None
    s = predictions.summary
    if out is None:
        _print_predictions(shown, s.predicted + s.failed)
    else:
        console.print(f"[green]wrote[/] {s.predicted + s.failed:,} rows to {escape(str(out))}")
    for row in failures:  # rows with an error (see _tracked)
        if out is not None or row not in shown:
            console.print(f"  [red]failed:[/] {escape(row.input)}: {escape(row.error or '')}")
    line = f"[bold]{s.predicted:,} predicted[/], {s.failed:,} failed"
    if s.unfamiliar:
        line += f", {s.unfamiliar:,} unlike the training data (ood_flag; its reason in ood_reason)"
    if s.mae is not None:
        line += f"; mean absolute error [bold]{s.mae:.4g}[/] over {s.labelled:,} inputs with a known true value"
    if s.accuracy is not None:
        line += (f"; accuracy [bold]{100 * s.accuracy:.2f}%[/] "
                 f"({s.correct:,} correct of {s.labelled:,} with a known label)")
    console.print(line)
    if (rule := predictions.bundle.threshold) is not None:
        console.print(f"decision threshold: {escape(rule.positive)} when p({escape(rule.positive)}) ≥ {rule.value:.3f} "
                      "(chosen on validation; see the bundle card's threshold)")


def _tracked(rows, progress, task, failures):
    """Advance the progress bar, and keep the first few failures to show with the summary."""
    for row in rows:
        if row.error is not None and len(failures) < SHOWN_FAILURES:
            failures.append(row)
        progress.advance(task)
        yield row


def _print_predictions(rows, total: int) -> None:
    table = Table(show_lines=False)
    labelled = any(r.true_label is not None for r in rows)
    failed = any(r.error is not None for r in rows)
    values = any(r.value is not None for r in rows)  # a regressor: one number, no probabilities
    table.add_column("input", overflow="fold")
    table.add_column("prediction", justify="right" if values else "left")
    if not values:
        table.add_column("probability", justify="right")
        table.add_column("most probable")
    if labelled:
        table.add_column("true value" if values else "true label", justify="right" if values else "left")
    if failed:
        table.add_column("error", overflow="fold")
    for r in rows:
        cells = [escape(r.input), escape(r.prediction or "")]
        if not values:
            cells += ["" if r.probability is None else f"{100 * r.probability:.1f}%",
                      escape(", ".join(f"{label} {100 * p:.1f}%" for label, p in r.top_k))]
        if labelled:
            cells.append(escape(r.true_label or ""))
        if failed:
            cells.append(f"[red]{escape(r.error or '')}[/]")
        table.add_row(*cells)
    if rows:
        console.print(table)
    if total > len(rows):
        console.print(f"… and {total - len(rows):,} more rows; write them all with --out preds.csv (or .json)")


def serve(
    bundle: Annotated[Path | None, typer.Argument(
        help="A bundle folder (from practica export, or RUN_DIR/bundle); or none, with --registry.",
        show_default=False)] = None,
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 for every interface.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(
        min=1, help="Processes, each with the model loaded; one per core serves the most requests.")] = 1,
    max_batch_size: Annotated[int, typer.Option(min=1, help="Inputs per ONNX Runtime call.")] = 64,
    max_wait_ms: Annotated[float, typer.Option(
        min=0, help="How long an input waits for others to share its batch "
                    "(0: batch what is queued while the model runs).")] = 0.0,
    max_items: Annotated[int, typer.Option(min=1, help="Inputs per request.")] = 64,
    max_body_mb: Annotated[float, typer.Option(min=0.001, help="Largest request body.")] = 10.0,
    max_image_pixels: Annotated[int, typer.Option(
        min=1, help="Largest image (width × height) accepted.")] = 4096 * 4096,
    max_request_pixels: Annotated[int, typer.Option(
        min=1, help="Most pixels of a request's images, summed; checked before decoding.")] = 4 * 4096 * 4096,
    top_k: Annotated[int, typer.Option(min=1, help="Predictions per input when a request does not say.")] = 5,
    api_key: Annotated[str | None, typer.Option(
        envvar="PRACTICA_API_KEY", show_envvar=True,
        help="Require this key (Authorization: Bearer KEY or X-API-Key).")] = None,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
    bench_routes: Annotated[bool, typer.Option("--bench-routes", hidden=True)] = False,
    registry: Annotated[Path | None, typer.Option(
        help="Serve a registry's alias (default $PRACTICA_REGISTRY when no BUNDLE is given), and switch to the "
             "alias's new version, without failing a request, whenever it moves.", show_default=False)] = None,
    alias: Annotated[str, typer.Option(help="The registry alias to serve and follow.")] = "production",
    shadow: Annotated[str | None, typer.Option(
        metavar="VERSION", help="Send a copy of every request to this model after answering it; its answers are "
                                "compared in /metrics, never returned. A registry version or alias (a bundle folder "
                                "without --registry).", show_default=False)] = None,
    canary: Annotated[str | None, typer.Option(
        metavar="VERSION:FRACTION", help="Answer this share of clients (sticky, by X-Client-ID or address) with "
                                         "this model, rolled back automatically past the limits below.",
        show_default=False)] = None,
    canary_max_error_rate: Annotated[float, typer.Option(
        min=0, max=0.99, help="Roll the canary back when more of its requests fail (5xx) over the window.")] = 0.05,
    canary_max_p95_ms: Annotated[float, typer.Option(
        min=0.001, help="Roll the canary back when its p95 model latency over the window is slower.")] = 500.0,
    canary_min_requests: Annotated[int, typer.Option(
        min=1, help="Requests the canary answers before it is judged.")] = 20,
    canary_window: Annotated[int, typer.Option(min=1, help="The canary's last requests that are judged.")] = 100,
    monitor_db: Annotated[Path | None, typer.Option(
        help="Record every prediction in this SQLite file (bounded, rotating) and serve drift at /v1/monitor; "
             "off when not given.")] = None,
    monitor_window: Annotated[int, typer.Option(min=1, help="Newest inputs the drift statistics cover.")] = 1000,
    monitor_max_rows: Annotated[int, typer.Option(
        min=1, help="Rows the prediction log keeps; older ones are deleted.")] = 1_000_000,
    alert_webhook: Annotated[str | None, typer.Option(
        help="POST drift alerts as JSON to this URL (they are logged either way).")] = None,
) -> None:
    """Serve a bundle over HTTP: POST /v1/predict, a page to try it at /, /v1/model, /v1/health, /metrics.
    Or a registry's alias (--registry), hot-reloaded when it moves, with an optional shadow and canary."""
    from practica.serving import ServeSettings
    from practica.serving.server import load_for_serving, onnx_threads
    from practica.serving.server import serve as run_server

    deployed = registry is not None or bundle is None or shadow is not None or canary is not None
    try:
        settings = ServeSettings(max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, max_items=max_items,
                                 max_body_bytes=int(max_body_mb * 1024 * 1024), max_image_pixels=max_image_pixels,
                                 max_request_pixels=max_request_pixels,
                                 top_k=top_k, api_key=api_key or None, bench_routes=bench_routes,
                                 monitor_db=None if monitor_db is None else str(monitor_db),
                                 monitor_window=monitor_window, monitor_max_rows=monitor_max_rows,
                                 alert_webhook=alert_webhook)
        if alert_webhook is not None:
            from practica.monitoring.alerts import check_webhook_url

            check_webhook_url(alert_webhook)
        if monitor_db is not None:  # a log that cannot be opened is said now, in one line, not in uvicorn's traceback
            from practica.monitoring.log import connect

            connect(monitor_db, create=True).close()
        loaded: Bundle | Deployment
        if bundle is None or deployed:
            loaded = _deployment(bundle, registry, alias, shadow, canary, workers, onnx_threads(workers),
                                 (canary_max_error_rate, canary_max_p95_ms, canary_min_requests, canary_window))
        else:
            loaded = load_for_serving(bundle, workers)
    except PracticaError as err:
        fail(err)
    console.print(f"[green]serving[/] {escape(loaded.version)} ({escape(loaded.input.describe())}) on "
                  f"http://{host}:{port}  ·  page /  ·  API docs /docs"
                  + ("  ·  API key required" if settings.api_key else "")
                  + (f"  ·  predictions logged to {escape(str(monitor_db))} (drift at /v1/monitor)" if monitor_db
                     else "  ·  predictions not logged (--monitor-db PATH)"), soft_wrap=True)
    if deployed:
        _print_deployment(loaded)
    run_server(loaded, settings, host=host, port=port, workers=workers, access_log=access_log)


def _deployment(bundle: Path | None, registry: Path | None, alias: str, shadow: str | None, canary: str | None,
                workers: int, threads: int, limits: tuple[float, float, int, int]) -> Deployment:
    from practica.errors import ConfigError
    from practica.serving.canary import CanaryPolicy
    from practica.serving.rollout import build_deployment

    if workers > 1 and canary is not None:
        raise ConfigError("--canary serves from one process: a canary is judged on all of its requests, which "
                          "several workers would each see a part of; drop --workers")
    max_error_rate, max_p95_ms, min_requests, window = limits
    try:
        policy = CanaryPolicy(max_error_rate=max_error_rate, max_p95_ms=max_p95_ms, min_requests=min_requests,
                              window=window)
    except ValueError as err:
        raise ConfigError(f"--canary-*: {err}") from None
    return build_deployment(bundle=bundle, registry=registry, alias=alias, shadow=shadow, canary=canary,
                            policy=policy, threads=threads)


def _print_deployment(deployment: Bundle | Deployment) -> None:
    from practica.serving.deployment import Deployment

    if not isinstance(deployment, Deployment):
        return
    info = deployment.describe()
    if deployment.source is not None:
        console.print(f"  following alias [bold]{escape(info['registry']['alias'])}[/] "
                      f"(v{info['registry']['version']}) of {escape(str(deployment.source.registry.root))}: "
                      "a promotion switches the served model")
    if "shadow" in info:
        console.print(f"  shadow {escape(info['shadow']['model_version'])}: sees every request, answers none")
    if "canary" in info:
        c = info["canary"]
        console.print(f"  canary {escape(c['model_version'])} answers {100 * c['fraction']:g}% of clients")
