"""Report files: figures (PNG + SVG), results.csv (one tidy row per trial), points.csv, summary.md and a
self-contained index.html (figures embedded), for one study or a comparison of several.

Failed trials are listed with their reasons and unfinished points with their status, so a partial or running
study reads as partial rather than as a finished one with holes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import pandas as pd

from dse.report import draw, page
from dse.report.figures import (
    BypassTable,
    ErrorEdf,
    accuracy_vs_latency,
    accuracy_vs_size_at,
    error_edf,
    grid_panels,
    learning_curves,
    param_importance,
    pareto_front,
    point_spread,
    point_stats,
    training_budget,
)
from dse.report.frame import StudyData
from dse.report.page import Em, FigureBlock, Figured, Heading, Link, html_page, markdown, num
from dse.report.study_page import _bypass_of, study_sections
from dse.report.style import DPI
from dse.stats import interval_name

FIGURE_NAMES = ("accuracy_vs_size", "bypass_table3", "pareto", "accuracy_vs_latency", "learning_curves", "grid",
                "importance", "error_edf")


def study_figures(data: StudyData, stats: pd.DataFrame | None = None, size: str = "fp32",
                  table: BypassTable | None = None) -> list[Figured]:
    """The figures that apply to this study: Figure 3's layout for sweeps, the front for searches, learning
    curves when epochs were recorded, a heat map for grids, importance when enough trials vary. `table`: the
    study's `bypass_table`, made here when not given."""
    stats = point_stats(data) if stats is None else stats
    out: list[Figured] = []
    budget = training_budget(data)
    if data.kind == "sweep" and len(stats):
        sa = accuracy_vs_size_at(data, size, stats)  # --size: the x axis at fp32, 8 or 4 bits per weight
        about = ("Accuracy against model size per design point, the layout of the paper's Figure 3"
                 + (f"; the paper's {sa.reference.figure} is shown on its own axis (ImageNet top-5)."
                    if sa.reference else "."))
        out.append(Figured("accuracy_vs_size", "Accuracy vs model size", about, draw.draw_accuracy_vs_size(sa)))
    table = _bypass_of(data, stats) if table is None else table
    if table is not None:
        out.append(_bypass_figure(table))
    if data.kind == "search" or len(data.directions) > 1:
        pareto = pareto_front(data, stats)
        if len(pareto.points):
            limit = data.spec.get("max_size_mb")
            out.append(Figured("pareto", "Pareto front", "Top-1 accuracy against size; the non-dominated design "
                               "points are numbered and listed, the dominated ones faint.",
                               draw.draw_pareto(pareto, f"{data.name}: Pareto front", data.swept,
                                                float(limit) if isinstance(limit, (int, float)) else None,
                                                int(data.frame["skip_reason"].notna().sum()))))
    timed = accuracy_vs_latency(data, stats)
    if timed is not None and len(timed.points):
        out.append(Figured("accuracy_vs_latency", "Accuracy vs latency", "Accuracy against CPU latency measured "
                           "after training; the front over accuracy, size and latency is drawn and labelled.",
                           draw.draw_accuracy_vs_latency(timed, f"{data.name}: accuracy vs latency")))
    curves = learning_curves(data)
    if len(curves.lines):
        out.append(Figured("learning_curves", "Learning curves", _curves_about(curves.splits),
                           draw.draw_learning_curves(curves, f"{data.name}: learning curves")))
    panels = grid_panels(data, stats)
    if panels:
        out.append(Figured("grid", "Grid", "Mean top-1 over the grid of the first two swept parameters.",
                           draw.draw_grid(panels, f"{data.name}: top-1 over the grid", budget.text)))
    importance = param_importance(data)
    if importance is not None:
        out.append(Figured("importance", "Parameter importance",
                           f"How much each parameter matters for top-1 ({importance.evaluator}).",
                           draw.draw_importance(importance, f"{data.name}: parameter importance", budget.text,
                                                _spread_text(data))))
    return out


def _curves_about(splits: list[str]) -> str:
    if splits == ["validation", "test"]:
        return ("Top-1 after each epoch, per design point: validation (which chose: pruning, best) beside test "
                "(measured only).")
    if splits == ["validation"]:
        return "Validation top-1 after each epoch, per design point (what pruning and every choice read)."
    return "Test top-1 after each epoch, per design point (this study has no validation split)."


def _bypass_figure(table: BypassTable) -> Figured:
    about = ("Accuracy per bypass variant, the paper's Table 3: each seed's test result, the mean and its interval, "
             "and the paper's ImageNet values beside them where the confirmed reference has them.")
    return Figured("bypass_table3", "Bypass variants (the paper's Table 3)", about, draw.draw_bypass_table(table))


def _spread_text(data: StudyData) -> str:
    spread = point_spread(data)
    return spread.sentence("test top-1") if spread is not None else ""


def write_report(data: StudyData, out: Path | str, size: str = "fp32") -> list[Path]:
    """Write every file of one study's report into `out` (created); returns the paths written. `size`: the
    accuracy-vs-size axis (fp32, int8, int4)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stats = point_stats(data)
    table = _bypass_of(data, stats)  # made once: the figure, summary.md and index.html all show it
    figures = study_figures(data, stats, size, table)
    written = _save_figures(figures, out)
    written.append(_write_text(out / "results.csv", data.frame.to_csv(index=False)))
    written.append(_write_text(out / "points.csv", _points_csv(stats, data).to_csv(index=False)))
    sections = study_sections(data, stats, figures, table)
    written.append(_write_text(out / "summary.md", markdown(sections)))
    written.append(_write_text(out / "index.html", html_page(f"dse report: {data.name}", sections)))
    return written


def write_comparison(datas: Sequence[StudyData], out: Path | str, links: dict[str, str] | None = None) -> list[Path]:
    """Compare design spaces: error EDFs over the points of each study, and a table of each."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    edf = error_edf(datas)
    names = " vs ".join(d.name for d in datas)
    fig = Figured("error_edf", "Error EDFs", EDF_ABOUT, draw.draw_edf(edf, f"Design spaces compared: {names}"))
    written = _save_figures([fig], out)
    written.append(_write_text(out / "edf.csv", edf.curves.to_csv(index=False)))
    sections = comparison_sections(edf, fig, names, links or {})
    written.append(_write_text(out / "summary.md", markdown(sections)))
    written.append(_write_text(out / "index.html", html_page(f"dse: {names}", sections)))
    return written


EDF_ABOUT = ("Error EDF: for each design space, the share of its design points (seed means) with top-1 error at "
             "most x (Radosavovic et al., ", Em("On Network Design Spaces for Visual Recognition"), "). The best point "
             "is the one with the highest validation top-1, reported with its test error: the test split never "
             "chooses (a study without a validation split falls back to its lowest test error, marked 'test').")
COMPARISON_HEADERS = ["study", "points", "best: test error % (chosen on)", "median test error %", "mean test error %",
                      "training"]


def comparison_sections(edf: ErrorEdf, fig: Figured, names: str, links: dict[str, str]) -> list[page.Block]:
    """The comparison page: the EDFs, then one row per study (its name linked to its own report)."""
    rows = [[Link(r.study, links.get(r.study)), str(int(r.n)), f"{num(r.best)} ({r.chosen_on})", num(r.median),
             num(r.mean), edf.budgets[r.study]] for r in edf.summary.itertuples()]
    return [Heading(f"Design spaces compared: {names}", level=1), FigureBlock(fig),
            page.table(COMPARISON_HEADERS, rows)]


# ---------------------------------------------------------------------------------------------- figures


def _save_figures(figures: Sequence[Figured], out: Path) -> list[Path]:
    made = {f.name for f in figures}
    for name in FIGURE_NAMES:  # a figure that no longer applies must not linger from an earlier run
        if name not in made:
            for ext in ("png", "svg"):
                (out / f"{name}.{ext}").unlink(missing_ok=True)
    written = []
    with matplotlib.rc_context({"svg.hashsalt": "dse", "svg.fonttype": "path"}):
        for f in figures:
            png = out / f"{f.name}.png"
            png.write_bytes(f.png_bytes())
            svg = out / f"{f.name}.svg"
            f.figure.savefig(svg, dpi=DPI, metadata={"Date": None, "Creator": None})
            written += [png, svg]
    return written


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------- tables


def _points_csv(stats: pd.DataFrame, data: StudyData) -> pd.DataFrame:
    """points.csv: the interval's kind written by its name, as the tables and figures name it."""
    out = stats.drop(columns=["short"]).assign(study=data.name)
    for metric in ("top1", "top5"):
        out[f"{metric}_interval"] = out[f"{metric}_interval"].map(interval_name)
    return out


# ---------------------------------------------------------------------------------------------- markdown


# ---------------------------------------------------------------------------------------------- html


# ---------------------------------------------------------------------------------------------- bypass (Table 3)


