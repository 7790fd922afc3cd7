"""write_report over a hand-made suite run: files, self-containment, content, escaping, variants."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest
from markupsafe import escape

from practica.reporting import write_report

SRC_OR_HREF = re.compile(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)


@pytest.fixture(scope="module")
def page(report_dir: Path) -> str:
    return (report_dir / "report.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def markdown(report_dir: Path) -> str:
    return (report_dir / "report.md").read_text(encoding="utf-8")


def test_both_files_are_written_into_the_run_folder(report_dir: Path) -> None:
    assert (report_dir / "report.html").stat().st_size > 10_000
    assert (report_dir / "report.md").stat().st_size > 1_000
    assert sorted(p.name for p in (report_dir / "report_files").iterdir()) == [
        "class-counts.png", "comparison.png", "confusion.png", "curves-cnn-wide.png", "curves-cnn.png",
        "curves-mlp-hot.png", "samples.png"]


def test_html_is_self_contained(page: str) -> None:
    targets = SRC_OR_HREF.findall(page)
    images = re.findall(r"<img\b[^>]*>", page)
    assert len(images) == 7
    assert all('src="data:image/png;base64,' in img for img in images)
    assert all(t.startswith(("#", "data:image/png;base64,")) for t in targets), targets
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page
    assert "url(" not in page  # no CSS fetches either


def test_html_names_the_chosen_model_first(page: str) -> None:
    box = page[page.index('class="decision"'):page.index("</section>")]
    assert "Production model" in box and "<h2>cnn</h2>" in box
    assert html.escape("cnn goes to production: 96.2% validation accuracy", quote=True) in box


def test_html_shows_every_verdict_and_reason(page: str, build_run, tmp_path: Path) -> None:
    run = build_run(tmp_path)
    for result in run.results:
        assert f'id="exp-{result.name}"' in page
        verdict = result.diagnosis.verdict if result.status == "ok" and result.diagnosis else "failed"
        assert f'<span class="badge v-{verdict}">{verdict}</span>' in page
    for ranked in run.decision.ranking:
        assert html.escape(ranked.reason) in page
    for finding in run.results[1].diagnosis.findings:
        assert html.escape(finding.evidence) in page and html.escape(finding.advice) in page
    assert html.escape("RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x32 and 16x10)") in page


def test_html_orders_the_sections(page: str) -> None:
    marks = ['class="decision"', 'class="toc"', 'id="data"', 'id="comparison"', 'id="selection"',
             'id="experiments"', 'id="production"', "<footer>"]
    positions = [page.index(m) for m in marks]
    assert positions == sorted(positions)


def test_html_formats_numbers_for_humans(page: str) -> None:
    for text in ("96.2%", "0.294 / 0.42 ms", "1.25 M", "24.5 k", "5 min 12 s", "5.02 MB", "29.4 k/s",
                 "3f9a0c1d2e4b", "20250101-120000-ab12", "git 50d800d (dirty)", "6 min 42 s"):
        assert text in page, text


def test_html_emphasises_the_best_values(page: str) -> None:
    row = re.search(r'<tr class="rejected">\s*<td class="name"><a href="#exp-cnn-wide">.*?</tr>', page, re.S).group(0)
    assert '<td class="num best">96.6%</td>' in row  # best validation accuracy


def test_html_test_split_note_and_calibration(page: str) -> None:
    detail = page[page.index('id="production"'):]
    assert "never for choosing" in detail
    assert "Test ECE" in detail and "Precision" in detail


def test_user_strings_are_escaped(page: str, markdown: str, script_text: str) -> None:
    assert "<script>alert" not in page
    assert str(escape(script_text)) in page
    assert "<script>" not in markdown
    assert "&lt;script&gt;alert('owned')&lt;/script&gt;" in markdown
    assert r"\| pipe" in markdown  # a pipe cannot break a Markdown table


def test_markdown_images_exist_and_are_relative(report_dir: Path, markdown: str) -> None:
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert len(refs) == 7
    for ref in refs:
        assert ref.startswith("report_files/") and not Path(ref).is_absolute()
        assert (report_dir / ref).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "data:image" not in markdown


def test_markdown_tables_have_one_row_per_experiment(markdown: str) -> None:
    for name in ("cnn", "cnn-wide", "mlp-hot", "logreg", "resnet"):
        assert re.search(rf"^\| {re.escape(name)} \| ", markdown, re.M), name
    header = next(line for line in markdown.splitlines() if line.startswith("| Experiment | Model"))
    separator = markdown.splitlines()[markdown.splitlines().index(header) + 1]
    assert header.count("|") == separator.count("|")


def test_no_model_chosen_renders_a_clear_notice(tmp_path: Path, build_run, report_dir: Path) -> None:
    shutil.copytree(report_dir / "report_files", tmp_path / "report_files")  # an earlier report's figures
    html_path, md_path = write_report(build_run(tmp_path, chosen=None))
    page, markdown = html_path.read_text(), md_path.read_text()
    assert "No experiment satisfied the selection policy" in page
    assert 'id="production"' not in page and "Confusion" not in page
    assert "No production model" in markdown
    # the earlier report's confusion matrix is gone; nothing half-written is left
    assert not (tmp_path / "report_files" / "confusion.png").exists()
    assert (tmp_path / "report_files" / "comparison.png").exists()
    assert not list(tmp_path.rglob(".*.tmp"))


def test_feature_table_has_no_sample_grid(tmp_path: Path, build_run) -> None:
    out = tmp_path / "elsewhere"
    html_path, md_path = write_report(build_run(tmp_path, features=True), out)
    assert html_path == out / "report.html" and md_path == out / "report.md"
    assert not (out / "report_files" / "samples.png").exists()
    page = html_path.read_text()
    assert "feature table, 4 features" in page and "setosa" in page
    assert "fixed (its own set)" in page
    assert not (tmp_path / "report.html").exists()  # out_dir wins over run.run_dir


DROPPED = ("cleaning (leaks: drop) dropped 12 of 1,809 samples (0.7%), sample(s) identical or near to a fixed "
           "test sample; hardest hit '7' 5 of 184 (2.7%): raw/7/a.png, raw/7/b.png, raw/1/c.png and 9 more")


def test_the_data_section_opens_with_what_cleaning_dropped_and_gives_the_split_as_made(
    tmp_path: Path, build_run,
) -> None:
    from dataclasses import replace

    import numpy as np

    run = build_run(tmp_path)
    # the settings ask for a 20% test split; as made, it is 360 of 1,168 + 50 + 360 samples: 23%
    splits = replace(run.splits, val=run.splits.val.subset(np.arange(50)), drops=(DROPPED,))
    html_path, md_path = write_report(replace(run, splits=splits))
    page, markdown = html_path.read_text(), md_path.read_text()
    data = page[page.index('<section id="data">'):page.index('<section id="comparison">')]
    assert "held out from the data (23%, seed 0)" in data and "(20%" not in data
    warning = data.index('<div class="note warn drops">')
    assert warning < data.index('<dl class="facts') and data.index(str(escape(DROPPED))) > warning
    section = markdown[markdown.index("## 1. Data"):markdown.index("## 2.")]
    assert section.index("> **Cleaning dropped samples before the split**") < section.index("- **Source:**")
    assert "held out from the data (23%, seed 0)" in section and "raw/7/a.png" in section


def test_the_experiment_details_name_the_precision_and_why(page: str, markdown: str) -> None:
    shown = "auto → bf16 (41 ms/step vs fp32 63 ms/step on Intel Xeon (amx_bf16, avx512_bf16))"
    assert html.escape(shown) in page and shown in markdown
    assert "<dt>Numeric precision</dt><dd>fp32</dd>" in page  # a history without the record: the setting
    assert "- **Numeric precision:** fp32" in markdown
