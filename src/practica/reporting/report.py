"""Write a suite run's report: one self-contained HTML file and a Markdown twin.

``report.html`` carries everything inside it (CSS inline, figures as base64 data URIs, no
script, no request to anywhere), so it can be mailed or archived as one file.
``report.md`` refers to its figures as PNG files in ``report_files/`` beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from practica.io import write_bytes, write_text
from practica.reporting import context, plots
from practica.reporting.context import Image
from practica.reporting.templating import environment

if TYPE_CHECKING:
    from practica.results import SuiteRun

FILES_DIR = "report_files"


def write_report(run: SuiteRun, out_dir: Path | None = None) -> tuple[Path, Path]:
    """Render ``run`` as ``report.html`` and ``report.md`` in ``out_dir`` (default: the run's folder).

    Returns the two paths, HTML first. Every file is written atomically; figures of an
    earlier report that this one no longer has are removed from ``report_files/``.
    Example, on a finished run (``practica.results.SuiteRun``)::

        html, md = write_report(run)                    # runs/<suite>/<run-id>/report.html, report.md
        write_report(run, Path("/tmp/review"))          # the same report somewhere else
    """
    out = Path(run.run_dir if out_dir is None else out_dir)
    report = context.build(run)
    env = environment()

    files = out / FILES_DIR
    images = report.images()
    for image in images:
        write_bytes(files / f"{image.key}.png", image.png)
    md_path, html_path = out / "report.md", out / "report.html"
    write_text(md_path, env.get_template("report.md").render(r=report, src=_relative_path))
    write_text(html_path, env.get_template("report.html").render(r=report, src=_data_uri))
    # Only now that the new Markdown is in place: no report ever points at a missing figure.
    keep = {f"{image.key}.png" for image in images}
    for stale in files.glob("*.png"):
        if stale.name not in keep:
            stale.unlink()
    return html_path, md_path


def _data_uri(image: Image) -> str:
    return plots.png_src(image.png)


def _relative_path(image: Image) -> str:
    return f"{FILES_DIR}/{image.key}.png"
