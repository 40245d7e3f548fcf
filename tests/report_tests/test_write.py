"""Report files are written, non-trivial and honest: embedded figures, the table, failures with reasons,
unfinished points as such; figures that no longer apply are deleted; several studies are compared."""

from __future__ import annotations

import struct

import pytest

from dse.outdir import OutputFolderError
from dse.report.frame import load_studies, study_data
from dse.report.write import write_comparison, write_report

from .studies import make_search, make_sweep

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def sr_report(studies_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "sr"
    (data,) = load_studies(str(studies_dir / "sr.db"))
    written = write_report(data, out)
    return out, written


def test_files_are_written_and_substantial(sr_report):
    out, written = sr_report
    names = {p.name for p in written}
    for name in ("accuracy_vs_size.png", "accuracy_vs_size.svg", "learning_curves.png", "results.csv",
                 "points.csv", "summary.md", "index.html"):
        assert name in names and (out / name).is_file()
    for png in out.glob("*.png"):
        width, height = png_size(png)
        assert width >= 800 and height >= 300 and png.stat().st_size > 20_000
    svg = (out / "accuracy_vs_size.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and len(svg) > 50_000


def test_results_csv_is_one_row_per_trial(sr_report):
    import pandas as pd

    out, _ = sr_report
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 14
    assert {"number", "state", "sr", "seed", "top1", "top5", "size_mb", "device", "fail_reason"} <= set(results)
    assert results.loc[results["state"] == "FAIL", "top1"].isna().all()
    points = pd.read_csv(out / "points.csv")
    assert len(points) == 8 and set(points["status"]) == {"complete", "partial", "running", "missing"}


def test_html_embeds_figures_and_tables(sr_report):
    out, _ = sr_report
    html = (out / "index.html").read_text()
    assert html.count('src="data:image/png;base64,') == len(list(out.glob("*.png")))
    assert "<table" in html and "test top-1 % (mean [interval])" in html and "min-max range of the seeds" in html
    assert "non-finite loss" in html  # the failure, with its reason
    assert "running" in html and "missing" in html and "queued" in html
    assert "CIFAR-10, 4 epochs" in html and "proxy" in html
    assert "Figure 3(a)" in html
    assert "<script" not in html and "http://" not in html and "https://" not in html  # self-contained


def test_markdown_has_the_table_and_failures(sr_report):
    out, _ = sr_report
    md = (out / "summary.md").read_text()
    assert "| sr | size (MB) |" in md and "| 0.125 | 2.79 |" in md
    assert "## Failed trials" in md and "non-finite loss" in md
    assert "![Accuracy vs model size](accuracy_vs_size.png)" in md


def test_search_report_has_the_front_and_not_figure_3(studies_dir, tmp_path):
    (data,) = load_studies(str(studies_dir / "search.db"))
    write_report(data, tmp_path)
    assert (tmp_path / "pareto.png").is_file() and not (tmp_path / "accuracy_vs_size.png").exists()
    assert png_size(tmp_path / "pareto.png")[0] > 1000


def test_one_trial_study_report(studies_dir, tmp_path):
    (data,) = load_studies(str(studies_dir / "one.db"))
    write_report(data, tmp_path)
    assert (tmp_path / "accuracy_vs_size.png").stat().st_size > 20_000
    assert "(1 seed)" in (tmp_path / "summary.md").read_text()


def test_stale_figures_are_removed(studies_dir, tmp_path):
    """A figure of dse's earlier report that no longer applies goes; the user's files stay."""
    (search,) = load_studies(str(studies_dir / "search.db"))
    write_report(search, tmp_path)
    assert (tmp_path / "pareto.png").is_file()
    (tmp_path / "notes.txt").write_text("mine\n")
    (data,) = load_studies(str(studies_dir / "one.db"))
    write_report(data, tmp_path)
    assert not (tmp_path / "pareto.png").exists() and not (tmp_path / "pareto.svg").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine\n" and (tmp_path / "accuracy_vs_size.png").is_file()


def test_a_users_figure_is_never_deleted(studies_dir, tmp_path):
    """issue 19 item 7: a report into a user's folder removed their pareto.png."""
    (tmp_path / "pareto.png").write_bytes(PNG_MAGIC)
    (data,) = load_studies(str(studies_dir / "one.db"))
    with pytest.raises(OutputFolderError, match="--force"):
        write_report(data, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pareto.png"]
    write_report(data, tmp_path, force=True)
    assert (tmp_path / "pareto.png").read_bytes() == PNG_MAGIC and (tmp_path / "index.html").is_file()


def test_comparison(studies_dir, tmp_path):
    datas = load_studies(str(studies_dir / "two.db"))
    written = write_comparison(datas, tmp_path, links={"sr-a": "../sr-a/index.html"})
    assert {p.name for p in written} >= {"error_edf.png", "error_edf.svg", "edf.csv", "summary.md", "index.html"}
    html = (tmp_path / "index.html").read_text()
    assert 'src="data:image/png;base64,' in html and 'href="../sr-a/index.html"' in html
    assert png_size(tmp_path / "error_edf.png")[0] > 800




def test_every_figure_a_report_can_draw_is_one_the_writer_knows_to_clear():
    """A figure that no longer applies is deleted by name (`FIGURE_NAMES`): the names must be every figure's."""
    from dse.report.edf import edf_figure, error_edf
    from dse.report.study_page import study_figures
    from dse.report.write import FIGURE_NAMES

    from .studies import TIMED_ROWS, timed_study

    grid = study_data(make_sweep(None, "g", {"sr": (0.25, 0.5), "pct3x3": (0.25, 0.75), "bypass": ("none", "simple")},
                                 seeds=1))
    search = study_data(make_search(None, n=8))
    made = {f.name for data in (grid, search, timed_study(TIMED_ROWS)) for f in study_figures(data)}
    made.add(edf_figure(error_edf([grid, search]), "g vs search").name)
    assert made == set(FIGURE_NAMES)
