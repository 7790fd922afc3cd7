"""``practica pipeline PIPELINE.yaml``: retrain on new data behind two gates, and promote only a better model.

Exit codes (a CI job reads them; ``practica.retrain.steps`` defines them):

    0    promoted: the challenger won by the declared margin (or the registry had no version under the alias
         yet, and this first run's model is promoted without a comparison)
    1    an unexpected error (a bug): its traceback is printed
    2    the pipeline file, its suite, the data or the registry cannot be used as given; the message says what
         to change
    4    the suite chose no model: there is no challenger
    5    the hygiene gate refused the new data (leakage, unreadable files, drift, too few fresh test samples):
         nothing was trained or registered
    6    the challenger was registered but not promoted: it did not win by the declared margin, or a class
         regressed past its threshold
    130  interrupted (Ctrl-C)

Every run's record is RUNS_DIR/NAME/RUN_ID/pipeline.json, written as each step starts and ends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from practica.cli.terminal import EXIT_INTERRUPTED, console, err_console, fail, heading
from practica.errors import PracticaError


def pipeline(
    pipeline_file: Annotated[Path, typer.Argument(metavar="PIPELINE", help="A pipeline YAML (see "
                                                  "src/practica/examples/digits_pipeline.yaml).")],
    registry: Annotated[Path | None, typer.Option(
        help="The model registry; default: the file's registry:, else $PRACTICA_REGISTRY.")] = None,
    runs_dir: Annotated[Path | None, typer.Option(
        help="Where pipeline runs are recorded; default: the file's runs_dir (runs/pipelines).")] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="Print the steps and the decision only, not the suite's training.")] = False,
) -> None:
    """Retrain on new data: hygiene gate → suite → challenger against production → register, promote if better."""
    from practica.cli.suite import QuietReporter, RichReporter
    from practica.retrain import load_pipeline, run_pipeline

    reporter: RichReporter | QuietReporter = QuietReporter()
    try:
        loaded = load_pipeline(pipeline_file, registry=registry, runs_dir=runs_dir)
        if not quiet:
            reporter = RichReporter(loaded.suite)
        console.print(f"[bold]practica pipeline[/] · [bold]{escape(loaded.spec.name)}[/] "
                      f"({escape(str(pipeline_file))}): suite {escape(loaded.suite.name)}, alias "
                      f"'{escape(loaded.spec.alias)}'")
        run = run_pipeline(loaded, say=_say, suite_reporter=reporter)
    except PracticaError as err:
        reporter.close()
        fail(err)
    except KeyboardInterrupt:
        reporter.close()
        err_console.print("[yellow]interrupted.[/] The pipeline record says which step it stopped in; nothing was "
                          "promoted. Run the pipeline again.")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        reporter.close()
    record = run.record
    heading("[bold]Decision[/]")
    colour = "green" if record.exit_code == 0 else "red"
    console.print(f"[bold {colour}]{escape(record.outcome.replace('_', ' '))}[/]: {escape(record.message)}")
    console.print(f"record: {escape(str(run.path / 'pipeline.json'))}")
    if record.exit_code:
        raise typer.Exit(record.exit_code)


def _say(message: str) -> None:
    console.print(f"[bold magenta]»[/] {escape(message)}")
