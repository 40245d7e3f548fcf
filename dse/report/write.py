"""Report files: figures (PNG + SVG), results.csv (one tidy row per trial), points.csv, summary.md and a
self-contained index.html (figures embedded), for one study or a comparison of several.

Every file a report writes, and every stale figure it deletes, is written or deleted here and nowhere else, through
`dse.outdir` (which refuses a folder holding the user's files and deletes only files dse wrote); what the files say
comes from the figure modules and the page (`study_page`, `edf.comparison_sections`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import pandas as pd

from dse.outdir import Writing, claim
from dse.report.edf import comparison_sections, edf_figure, error_edf
from dse.report.frame import StudyData
from dse.report.page import Figured, html_page, markdown
from dse.report.points import point_stats
from dse.report.study_page import study_figures, study_sections
from dse.report.style import DPI
from dse.report.table3 import bypass_of
from dse.stats import interval_name

FIGURE_NAMES = ("accuracy_vs_size", "bypass_table3", "pareto", "accuracy_vs_latency", "learning_curves", "grid",
                "importance", "error_edf")
REPORT_FILES = (*(f"{n}.{ext}" for n in FIGURE_NAMES for ext in ("png", "svg")), "results.csv", "points.csv",
                "edf.csv", "summary.md", "index.html")
"""Every file a report or a comparison can write: none of them may be a user's file in the folder."""
KIND = "report"


def claim_folder(out: Path | str, force: bool = False):
    """Check `out` may take a report (`dse.outdir.claim`); writes nothing."""
    return claim(out, KIND, REPORT_FILES, force)


def write_report(data: StudyData, out: Path | str, size: str = "fp32", force: bool = False) -> list[Path]:
    """Write every file of one study's report into `out` (created); returns the paths written. `size`: the
    accuracy-vs-size axis (fp32, int8, int4); `force`: write into a folder holding files dse did not write."""
    folder = claim_folder(out, force)
    stats = point_stats(data)
    table = bypass_of(data, stats)  # made once: the figure, summary.md and index.html all show it
    figures = study_figures(data, stats, size, table)
    out = Writing(folder)
    written = _save_figures(figures, out)
    written.append(_write_text(out, "results.csv", data.frame.to_csv(index=False)))
    written.append(_write_text(out, "points.csv", _points_csv(stats, data).to_csv(index=False)))
    sections = study_sections(data, stats, figures, table)
    written.append(_write_text(out, "summary.md", markdown(sections)))
    written.append(_write_text(out, "index.html", html_page(f"dse report: {data.name}", sections)))
    out.done()  # a figure of an earlier report that no longer applies goes
    return written


def write_comparison(datas: Sequence[StudyData], out: Path | str, links: dict[str, str] | None = None,
                     force: bool = False) -> list[Path]:
    """Compare design spaces: error EDFs over the points of each study, and a table of each."""
    folder = claim_folder(out, force)
    edf = error_edf(datas)
    names = " vs ".join(d.name for d in datas)
    fig = edf_figure(edf, names)
    out = Writing(folder)
    written = _save_figures([fig], out)
    written.append(_write_text(out, "edf.csv", edf.curves.to_csv(index=False)))
    sections = comparison_sections(edf, fig, names, links or {})
    written.append(_write_text(out, "summary.md", markdown(sections)))
    written.append(_write_text(out, "index.html", html_page(f"dse: {names}", sections)))
    out.done()
    return written


# ---------------------------------------------------------------------------------------------- figures


def _save_figures(figures: Sequence[Figured], out: Writing) -> list[Path]:
    written = []
    with matplotlib.rc_context({"svg.hashsalt": "dse", "svg.fonttype": "path"}):
        for f in figures:
            png = out.file(f"{f.name}.png")
            png.write_bytes(f.png_bytes())
            svg = out.file(f"{f.name}.svg")
            f.figure.savefig(svg, dpi=DPI, metadata={"Date": None, "Creator": None})
            written += [png, svg]
    return written


def _write_text(out: Writing, name: str, text: str) -> Path:
    path = out.file(name)
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------- tables


def _points_csv(stats: pd.DataFrame, data: StudyData) -> pd.DataFrame:
    """points.csv: the interval's kind written by its name, as the tables and figures name it."""
    out = stats.drop(columns=["short"]).assign(study=data.name)
    for metric in ("top1", "top5"):
        out[f"{metric}_interval"] = out[f"{metric}_interval"].map(interval_name)
    return out
