"""The report's look, shared by every figure: size and colours, rc settings applied without touching the caller's
(Agg, no pyplot: no global state), the title, budget and caption lines, and the pieces several figures draw alike
(interval bars, the chance line, the accuracy axis, one legend for several panels).

Every figure names its dataset and training budget in the title, because a few epochs on CIFAR-10 are a proxy
and must never be read as the paper's ImageNet numbers.
"""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from dse.stats import interval_label

DPI = 150
OURS = "#1f77b4"  # this study
TOP5 = "#2ca02c"
PAPER = "#d62728"  # the paper's published values
MUTED = "#8c8c8c"
SIZE_LABEL = "model size (MB, fp32 weights)"

_RC = {"font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 9, "legend.fontsize": 8, "xtick.labelsize": 8,
       "ytick.labelsize": 8, "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "dse"}


def new_figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas, laid out by matplotlib's constrained layout."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def styled(draw):
    """Draw under the report's rc settings without touching the caller's."""

    @functools.wraps(draw)
    def run(*args, **kwargs) -> Figure:
        with matplotlib.rc_context(_RC):
            return draw(*args, **kwargs)

    return run


def titles(fig: Figure, title: str, budget: str, caption: str = "") -> None:
    """Title, then the dataset and budget on the line below it, and a caption under everything."""
    width = fig.get_figwidth() * 72  # points
    fig.suptitle(f"{title}\n{_wrap(budget, int(width / (10 * 0.56)))}", fontsize=10)
    if caption:
        fig.supxlabel(_wrap(caption, int(width / (7.5 * 0.55))), fontsize=7.5, color="#444444")


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) if len(text) > width else text


def freeze(fig: Figure) -> None:
    """Run the layout once and keep it: labels are placed in screen space, so the axes must not move after."""
    fig.canvas.draw()
    fig.set_layout_engine("none")


def interval_bars(ax: Axes, xs: pd.Series, mean: pd.Series, lo: pd.Series, hi: pd.Series, kinds: pd.Series,
                  color, *, legend: bool, capsize: float, range_width: float) -> None:
    """Each mean's interval (`seed_stat`'s, already clipped): capped bars for t-intervals, wide faint ones for
    ranges; `legend`: name each kind in the legend."""
    for kind, style in (("t95", {"capsize": capsize, "elinewidth": 1.1}),
                        ("range", {"capsize": 0, "elinewidth": range_width, "alpha": 0.45})):
        sel = (kinds == kind) & lo.notna() & hi.notna()
        if sel.any():
            yerr = np.vstack([(mean[sel] - lo[sel]).to_numpy(), (hi[sel] - mean[sel]).to_numpy()])
            ax.errorbar(xs[sel], mean[sel], yerr=np.clip(yerr, 0, None), fmt="none", ecolor=color, zorder=3,
                        label=interval_label(kind) if legend else None, **style)


def chance_line(ax: Axes, chance: dict[str, float], metric: str) -> None:
    """A dashed line at the accuracy of guessing, where the study's number of classes is known."""
    if metric in chance:
        ax.axhline(chance[metric], color=MUTED, ls="--", lw=0.9, zorder=1,
                   label=f"chance ({chance['top1']:.0f}% top-1, {chance['top5']:.0f}% top-5)")


def clamp_accuracy_axis(ax: Axes) -> None:
    """Fit the y axis to what is drawn, but keep it within what an accuracy can be (0-100%, a little margin)."""
    ax.autoscale_view()
    bottom, top = ax.get_ylim()
    ax.set_ylim(max(bottom, -2.0), min(top, 102.0))


def merged_legend(axes: Sequence[Axes]) -> tuple[list, list[str]]:
    """The legend entries of these axes, each label once, in order: one legend for a figure of panels."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    return handles, labels


def mappable(norm: Normalize, cmap) -> ScalarMappable:
    """What a colour bar reads: the norm and the colour map of what was drawn."""
    return ScalarMappable(norm=norm, cmap=cmap)
