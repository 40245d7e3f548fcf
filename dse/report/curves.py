"""Learning curves: top-1 after each epoch per design point, mean and range over seeds, validation (what chose)
beside test (what measured).

Data (`learning_curves`), drawing (`draw_learning_curves`) and words (`curves_figure`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dse.report.frame import CURVE_SPLITS, StudyData, point_label
from dse.report.page import Figured
from dse.report.points import COMPLETE
from dse.report.style import MUTED, SIZE_LABEL, mappable, new_figure, styled, titles
from dse.report.trust import Budget, study_num_classes, training_budget
from dse.stats import chance_level


@dataclass(frozen=True)
class Curves:
    """Per-epoch top-1 per design point and split (validation: what chose; test: measured), mean and range over
    the seeds that reached each epoch (the range, not a t-interval: with two seeds the interval is so wide the
    curves disappear under it)."""

    lines: pd.DataFrame  # split, label, short, size_mb, epoch, n, mean, lo (min), hi (max), running
    swept: tuple[str, ...]
    budget: Budget
    chance: float | None = None  # top-1 of guessing (%)

    @property
    def splits(self) -> list[str]:
        """The splits present, validation first (the order of the panels)."""
        have = set(self.lines["split"]) if "split" in self.lines else set()
        return [s for s in CURVE_SPLITS if s in have]


def learning_curves(data: StudyData) -> Curves:
    """Curves of completed, pruned and running trials; a failed trial's epochs are left out, as its result is."""
    frame, curves = data.frame, data.curves
    columns = ["split", "label", "short", "size_mb", "epoch", "n", "mean", "lo", "hi", "running"]
    if curves.empty:
        return Curves(pd.DataFrame(columns=columns), data.swept, training_budget(data))
    keep = curves[curves["state"].isin([COMPLETE, "PRUNED", "RUNNING"])]
    if "split" not in keep:  # a curve table made before splits were named: its values are test top-1
        keep = keep.assign(split="test")
    info = frame.set_index("number")[["label", "size_mb"]]
    keep = keep.join(info, on="number")
    shorts = {}
    for _, row in frame.iterrows():
        shorts[row["label"]] = point_label(data.swept, row.to_dict(), short=True)
    records = []
    for (split, label, epoch), rows in keep.groupby(["split", "label", "epoch"], sort=False):
        mean, lo, hi = float(rows["top1"].mean()), float(rows["top1"].min()), float(rows["top1"].max())
        records.append({"split": split, "label": label, "short": shorts.get(label, label),
                        "size_mb": rows["size_mb"].iloc[0], "epoch": int(epoch), "n": len(rows), "mean": mean,
                        "lo": lo, "hi": hi, "running": bool((rows["state"] == "RUNNING").any())})
    lines = pd.DataFrame(records, columns=columns)
    if not lines.empty:
        order = {s: i for i, s in enumerate(CURVE_SPLITS)}
        lines = lines.assign(_split=lines["split"].map(order)).sort_values(
            ["_split", "size_mb", "label", "epoch"], na_position="last", kind="stable").drop(columns="_split")
    n_classes = study_num_classes(data)
    return Curves(lines.reset_index(drop=True), data.swept, training_budget(data),
                  chance_level(n_classes) if n_classes else None)


@styled
def draw_learning_curves(curves: Curves, title: str) -> Figure:
    """Top-1 per epoch, one line per design point (mean over seeds, band = range over seeds): one panel per
    split, validation (what chose) beside test (what measured), on a shared accuracy axis."""
    splits = curves.splits or ["test"]
    fig = new_figure(7.2 if len(splits) == 1 else 11.0, 4.8)
    axes = fig.subplots(1, len(splits), sharey=True, squeeze=False)[0]
    lines = curves.lines
    labels = list(dict.fromkeys(lines["label"]))
    many = len(labels) > 12
    sizes = lines.groupby("label", sort=False)["size_mb"].first()
    norm = Normalize(vmin=float(np.nanmin(sizes)) if sizes.notna().any() else 0,
                     vmax=float(np.nanmax(sizes)) if sizes.notna().any() else 1)
    cmap = _viridis()
    # points that share a size (bypass none and simple) would share a colour: then colour by order instead
    by_size = sizes.notna().all() and sizes.nunique() == len(sizes)
    for ax, split in zip(axes, splits, strict=True):
        mine = lines[lines["split"] == split] if "split" in lines else lines
        for i, label in enumerate(labels):
            rows = mine[mine["label"] == label]
            if rows.empty:
                continue
            size = sizes.get(label)
            color = cmap(norm(size)) if by_size else cmap(i / max(1, len(labels) - 1))
            style = "--" if rows["running"].any() else "-"
            short = rows["short"].iloc[0] + (" (running)" if rows["running"].any() else "")
            ax.plot(rows["epoch"], rows["mean"], style, color=color, lw=0.8 if many else 1.6,
                    alpha=0.6 if many else 1.0, label=None if many else short, marker=None if many else "o", ms=3)
            if not many and rows["lo"].notna().any():
                ax.fill_between(rows["epoch"], rows["lo"], rows["hi"], color=color, alpha=0.12, lw=0)
        if curves.chance is not None:
            ax.axhline(curves.chance, color=MUTED, ls="--", lw=0.9, label=f"chance ({curves.chance:.0f}%)")
        ax.set_title(CURVE_TITLES.get(split, split), fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.25)
    axes[0].set_ylabel("top-1 accuracy after each epoch (%)")
    if many:
        fig.colorbar(mappable(norm, cmap), ax=list(axes), label=SIZE_LABEL)
    elif labels:
        name = curves.swept[0] if len(curves.swept) == 1 else "point"
        axes[-1].legend(title=f"{name} (by size)", loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False,
                        title_fontsize=8)
    if splits == ["validation", "test"]:
        which = ("Left: validation top-1 (a held-out part of the training set), the value pruning and every "
                 "choice read; right: test top-1 of the same trials, measured only. ")
    elif splits == ["validation"]:
        which = "Validation top-1 (the value pruning and every choice read); no test curve was recorded. "
    else:
        which = "Test top-1: this study has no validation split, so any pruning read these test values. "
    caption = (which + "Mean over seeds per epoch; shaded: range over seeds; dashed colour: still running; "
               "dashed grey: chance. Failed trials left out.")
    titles(fig, title, curves.budget.text, caption)
    return fig


CURVE_TITLES = {"validation": "validation top-1 (chooses)", "test": "test top-1 (measured, never chooses)"}


def _viridis():
    """Viridis without its last, yellow fifth, which vanishes on white."""
    from matplotlib.colors import ListedColormap

    return ListedColormap(colormaps["viridis"](np.linspace(0, 0.85, 256)), name="viridis_dark")


def curves_figure(data: StudyData) -> Figured | None:
    """Learning curves, where trials recorded their epochs."""
    curves = learning_curves(data)
    if not len(curves.lines):
        return None
    return Figured("learning_curves", "Learning curves", _curves_about(curves.splits),
                   draw_learning_curves(curves, f"{data.name}: learning curves"))


def _curves_about(splits: list[str]) -> str:
    if splits == ["validation", "test"]:
        return ("Top-1 after each epoch, per design point: validation (which chose: pruning, best) beside test "
                "(measured only).")
    if splits == ["validation"]:
        return "Validation top-1 after each epoch, per design point (what pruning and every choice read)."
    return "Test top-1 after each epoch, per design point (this study has no validation split)."
