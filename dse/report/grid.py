"""Heat maps of mean top-1 over a sweep of two or more parameters: the first two are the axes, one panel per
combination of the others (small multiples).

Data (`grid_panels`), drawing (`draw_grid`) and words (`grid_figure`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from dse.fmt import number
from dse.report.frame import StudyData, value_key
from dse.report.page import Figured
from dse.report.points import point_stats, sort_key
from dse.report.style import MUTED, mappable, new_figure, styled, titles
from dse.report.trust import training_budget
from dse.space import format_value


@dataclass(frozen=True)
class GridPanel:
    """Mean top-1 over a two-parameter grid (rows = y values, columns = x values); NaN where no result."""

    title: str
    x: str
    y: str
    x_values: list[Any]
    y_values: list[Any]
    top1: np.ndarray
    size_mb: np.ndarray
    status: np.ndarray


def grid_panels(data: StudyData, stats: pd.DataFrame | None = None) -> list[GridPanel]:
    """Heat maps for grids of two or more swept parameters: the first two are the axes, one panel per
    combination of the others (small multiples). [] for one-parameter sweeps and searches."""
    if data.kind != "sweep" or len(data.swept) < 2:
        return []
    stats = point_stats(data) if stats is None else stats
    x, y, rest = data.swept[0], data.swept[1], data.swept[2:]

    def levels(name: str) -> list[Any]:
        return sorted({value_key(v) for v in stats[name] if v is not None and not pd.isna(v)}, key=sort_key)

    xs, ys = levels(x), levels(y)
    panels = []
    for combo in itertools.product(*(levels(r) for r in rest)) if rest else [()]:
        sel = stats
        for name, value in zip(rest, combo, strict=True):
            sel = sel[sel[name].map(value_key) == value]
        top1 = np.full((len(ys), len(xs)), np.nan)
        size = np.full((len(ys), len(xs)), np.nan)
        status = np.full((len(ys), len(xs)), "missing", dtype=object)
        for _, row in sel.iterrows():
            i, j = ys.index(value_key(row[y])), xs.index(value_key(row[x]))
            top1[i, j], size[i, j], status[i, j] = row["top1_mean"], row["size_mb"], row["status"]
        title = ", ".join(f"{n}={format_value(n, v)}" for n, v in zip(rest, combo, strict=True)) or f"{y} x {x}"
        panels.append(GridPanel(title, x, y, xs, ys, top1, size, status))
    return panels


@styled
def draw_grid(panels: list[GridPanel], title: str, budget: str) -> Figure:
    """Heat maps of mean top-1 over a two-parameter grid, one per value of any further parameter."""
    n = len(panels)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    p0 = panels[0]
    cell_w = max(0.75, min(1.1, 7.5 / max(1, len(p0.x_values))))
    fig = new_figure(max(5.5, cols * (len(p0.x_values) * cell_w + 1.6)), rows * (len(p0.y_values) * 0.55 + 1.8) + 1.2)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    finite = np.concatenate([p.top1[np.isfinite(p.top1)] for p in panels])
    norm = Normalize(float(finite.min()) if finite.size else 0, float(finite.max()) if finite.size else 100)
    cmap = colormaps["viridis"].with_extremes(bad="#eeeeee")  # set_bad is deprecated (matplotlib 3.11)
    for ax, panel in zip(axes, panels, strict=False):
        ax.imshow(np.ma.masked_invalid(panel.top1), cmap=cmap, norm=norm, aspect="auto", origin="lower")
        ax.set_xticks(range(len(panel.x_values)), [format_value(panel.x, v) for v in panel.x_values])
        ax.set_yticks(range(len(panel.y_values)), [format_value(panel.y, v) for v in panel.y_values])
        ax.set_xlabel(panel.x)
        ax.set_ylabel(panel.y)
        ax.set_title(panel.title)
        for i in range(len(panel.y_values)):
            for j in range(len(panel.x_values)):
                v, s = panel.top1[i, j], panel.size_mb[i, j]
                if np.isfinite(v):
                    dark = norm(v) < 0.55
                    text = number(v, percent=True) + (f"\n{number(s)} MB" if np.isfinite(s) else "")
                    ax.text(j, i, text, ha="center", va="center", fontsize=6.5,
                            color="white" if dark else "black")
                else:
                    ax.text(j, i, str(panel.status[i, j]), ha="center", va="center", fontsize=6.5, color=MUTED)
        for spine in ax.spines.values():
            spine.set_visible(False)
    for ax in axes[n:]:
        ax.axis("off")
    fig.colorbar(mappable(norm, cmap), ax=list(axes[:n]), label="mean test top-1 (%)", shrink=0.9)
    titles(fig, title, budget, "Each cell: mean test top-1 over seeds and the model size; grey: no result yet.")
    return fig


def grid_figure(data: StudyData, stats: pd.DataFrame) -> Figured | None:
    """Heat maps for a sweep over two or more parameters."""
    panels = grid_panels(data, stats)
    if not panels:
        return None
    return Figured("grid", "Grid", "Mean test top-1 over the grid of the first two swept parameters.",
                   draw_grid(panels, f"{data.name}: test top-1 over the grid", training_budget(data).text),
                   (("test", "the grid"),))
