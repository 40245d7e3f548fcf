"""The Pareto front of accuracy (max) against size (min) over design points, chosen on validation top-1 where the
study recorded it (`trust.selection`) and by `dse.stats.pareto_mask`, the rule every front in dse is drawn with.

Data (`pareto_front`), drawing (`draw_pareto`) and words (`pareto_figure`, `front_section`).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from dse.fmt import number
from dse.report import page
from dse.report.frame import StudyData
from dse.report.labels import marker_boxes, place_labels
from dse.report.page import Figured, Heading, num
from dse.report.points import point_stats, stat_text
from dse.report.style import MUTED, OURS, PAPER, SIZE_LABEL, freeze, new_figure, styled, titles
from dse.report.trust import Budget, Selection, selection, training_budget
from dse.space import format_value
from dse.stats import pareto_mask


@dataclass(frozen=True)
class Pareto:
    """Accuracy (max) against size (min): the non-dominated points form the front."""

    points: pd.DataFrame  # point_stats rows with a result, plus `on_front`
    front: pd.DataFrame  # the front, by size
    budget: Budget
    selection: Selection | None = None  # the accuracy the front is chosen on (validation where recorded)

    @property
    def column(self) -> str:
        return self.selection.column if self.selection else "top1_mean"


def pareto_front(data: StudyData, stats: pd.DataFrame | None = None) -> Pareto:
    """The front over design points (seed means): a point is on it if no other is at least as accurate and at
    most as large, and strictly better in one. Accuracy here is validation top-1 where the study recorded it
    (`selection`), so the test split never chooses."""
    stats = point_stats(data) if stats is None else stats
    chosen = selection(stats)
    pts = stats[(stats["n"] > 0) & stats["size_mb"].notna() & stats[chosen.column].notna()].copy()
    acc = pts[chosen.column].to_numpy()
    size = pts["size_mb"].to_numpy()
    on_front = pareto_mask(acc.tolist(), size.tolist())
    pts["on_front"] = pd.Series(on_front, index=pts.index, dtype=bool)
    front = pts.loc[pts["on_front"]].sort_values("size_mb", kind="stable")
    return Pareto(pts.reset_index(drop=True), front.reset_index(drop=True), training_budget(data), chosen)


@styled
def draw_pareto(pareto: Pareto, title: str, swept: tuple[str, ...], max_size_mb: float | None = None,
                skipped: int = 0) -> Figure:
    """Every evaluated point faintly, the non-dominated ones numbered, joined, and listed beside the plot."""
    fig = new_figure(11.5, 5.6)
    ax, side = fig.subplots(1, 2, width_ratios=[1.5, 1])
    pts, front = pareto.points, pareto.front
    col = pareto.column
    split = pareto.selection.split if pareto.selection else "test"
    dominated = pts[~pts["on_front"]]
    ax.scatter(dominated["size_mb"], dominated[col], s=18, color=MUTED, alpha=0.4, lw=0,
               label=f"dominated ({len(dominated)})")
    ax.step(front["size_mb"], front[col], where="post", color=OURS, lw=1.2, alpha=0.7)
    ax.scatter(front["size_mb"], front[col], s=34, color=OURS, zorder=4,
               label=f"Pareto front ({len(front)}), numbered by size")
    if max_size_mb:
        ax.axvline(max_size_mb, color=PAPER, ls=":", lw=1,
                   label=f"size budget {number(max_size_mb, 6, significant=True)} MB")
    sizes = pts["size_mb"][pts["size_mb"] > 0]
    if len(sizes) and sizes.max() / sizes.min() > 20:  # searches span orders of magnitude
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: number(v, 6, significant=True)))
        ax.set_xlabel(SIZE_LABEL + ", log scale")
    else:
        ax.set_xlabel(SIZE_LABEL)
    ax.set_ylabel(f"{split} top-1 accuracy (%), the one the front is chosen on")
    ax.set_title("accuracy (max) vs size (min)")
    ax.grid(True, alpha=0.25)
    ax.margins(0.08, 0.15)
    ax.legend(loc="lower right", frameon=True, framealpha=0.9, edgecolor="none")
    side.axis("off")
    shown = 14
    rows = []
    for i, (_, r) in enumerate(front.head(shown).iterrows(), start=1):
        values = " ".join(f"{n}={format_value(n, r[n])}" for n in swept)
        chosen = f"val {number(r[col], percent=True)}  " if col != "top1_mean" else ""
        line = f"{i:>2}. {chosen}test {number(r['top1_mean'], percent=True)}  {number(r['size_mb'], 2)} MB  {values}"
        rows.append(textwrap.fill(line, 58, subsequent_indent="    "))
    if len(front) > shown:
        rows.append(f"... {len(front) - shown} more: see the report's front table")
    text = "\n".join(rows) or "no completed trials"
    side.text(0, 1, "Pareto front, smallest first\n\n" + text, va="top", ha="left", fontsize=6.8,
              family="monospace", transform=side.transAxes)
    caption = (f"{len(pts)} design points with results (seed means). A point is on the front when no other is "
               "at least as accurate and at most as large.")
    if pareto.selection is not None:
        caption += " " + pareto.selection.text
    if skipped:
        caption += f" {skipped} sampled points over the size budget were not trained and are not shown."
    titles(fig, title, pareto.budget.text, caption)
    freeze(fig)
    renderer = fig.canvas.get_renderer()
    taken = [ax.get_legend().get_window_extent(renderer)]
    taken += marker_boxes(ax, pts["size_mb"], pts[col], radius_pt=3.5)
    place_labels(ax, front["size_mb"], front[col], [str(i) for i in range(1, len(front) + 1)],
                 taken=taken, color=OURS)
    return fig


def pareto_figure(data: StudyData, stats: pd.DataFrame) -> Figured | None:
    """The front of a search (or of any study with two objectives) that has results."""
    if not (data.kind == "search" or len(data.directions) > 1):
        return None
    pareto = pareto_front(data, stats)
    if not len(pareto.points):
        return None
    limit = data.spec.get("max_size_mb")
    split = pareto.selection.split if pareto.selection else "test"
    return Figured("pareto", "Pareto front", f"{split.capitalize()} top-1 (the split the front is chosen on) "
                   "against size; the non-dominated design points are numbered and listed, the dominated ones faint.",
                   draw_pareto(pareto, f"{data.name}: Pareto front", data.swept,
                               float(limit) if isinstance(limit, (int, float)) else None,
                               int(data.frame["skip_reason"].notna().sum())),
                   ((split, "the Pareto front figure"), ("test", "the Pareto front figure's list")))


FRONT_HEADERS = ["#", "chosen on: top-1 %", "test top-1 %", "size (MB)", "trials"]


def front_rows(data: StudyData, stats: pd.DataFrame) -> list[list[str]]:
    """The non-dominated points of a search, smallest first, numbered as in the figure."""
    if not (data.kind == "search" or len(data.directions) > 1):
        return []
    pareto = pareto_front(data, stats)
    front, col = pareto.front, pareto.column
    return [[str(i), f"{num(r[col])} ({pareto.selection.split})", stat_text(r, "top1"), num(r["size_mb"], 3),
             str(r["trials"]),
             *(format_value(n, r[n]) for n in data.swept)] for i, (_, r) in enumerate(front.iterrows(), start=1)]


def front_section(data: StudyData, stats: pd.DataFrame) -> list[page.Block]:
    """The front as a table, numbered as in the figure; nothing for a study without one."""
    front = front_rows(data, stats)
    if not front:
        return []
    split = selection(stats).split
    shows = ((split, "the front table's 'chosen on' column"), ("test", "the front table"))
    return [Heading("Points on the Pareto front"), page.table(FRONT_HEADERS + list(data.swept), front, "front", shows)]
