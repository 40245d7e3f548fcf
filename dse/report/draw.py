"""Matplotlib drawings of the figure data in `dse.report.figures` (Agg, no pyplot: no global state).

Every figure names its dataset and training budget in the title, because a few epochs on CIFAR-10 are a proxy
and must never be read as the paper's ImageNet numbers; the paper's own points sit on their own panel and axes,
named as the paper's ImageNet values after full training. Point labels are placed so they do not overlap each
other, the points or the error bars (see `place_labels`), which the paper's 8- and 9-point grids need.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.transforms import Bbox, blended_transform_factory

from dse.report.figures import (
    UNCONFIRMED,
    BypassTable,
    Curves,
    ErrorEdf,
    GridPanel,
    Importance,
    LatencyAccuracy,
    Pareto,
    SizeAccuracy,
)
from dse.report.frame import format_value
from dse.report.labels import bar_boxes, marker_boxes, place_labels, segment_boxes
from dse.report.style import (
    MUTED,
    OURS,
    PAPER,
    SIZE_LABEL,
    TOP5,
    chance_line,
    clamp_accuracy_axis,
    freeze,
    interval_bars,
    mappable,
    merged_legend,
    new_figure,
    styled,
    titles,
)
from dse.stats import interval_legend

# ---------------------------------------------------------------------------------------------- labels


# ---------------------------------------------------------------------------------------------- shared pieces


# ---------------------------------------------------------------------------------------------- accuracy vs size


def _groups(points: pd.DataFrame, swept: tuple[str, ...]) -> list[tuple[str, pd.DataFrame]]:
    """Lines of a multi-parameter sweep: one per combination of all swept values but the first."""
    if len(swept) <= 1:
        return [("", points)]
    rest = list(swept[1:])
    out = []
    for key, rows in points.groupby(rest, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        out.append((", ".join(f"{n}={format_value(n, v)}" for n, v in zip(rest, key, strict=True)), rows))
    return out


def _point_text(row: pd.Series, swept: tuple[str, ...]) -> str:
    text = format_value(swept[0], row[swept[0]]) if swept else row["label"]
    if row["expected"] and not pd.isna(row["expected"]) and row["n"] < row["expected"]:
        text += f" ({row['n']}/{int(row['expected'])} seeds)"
    return text


@styled
def draw_accuracy_vs_size(data: SizeAccuracy) -> Figure:
    """Top-1 over top-5 against this study's model size (an axis fitted to its points); the paper's points on
    their own panel and axes, so neither scale squeezes the other."""
    pts = data.points
    has_top5 = bool(pts["top5_mean"].notna().any())
    ref = data.reference
    left = [["top1"], ["top5"]] if has_top5 else [["top1"]]
    mosaic = [row + ["paper"] for row in left] if ref is not None else left
    mosaic = [["legend"] * len(mosaic[0]), *mosaic]  # a row of its own: see the legend below
    fig = new_figure(12.0 if ref is not None else 7.5, 8.4 if has_top5 else 5.8)
    legend_rows = 0.24 if ref is not None else 0.5  # alone, the study's panels are narrow: one legend column
    axd = fig.subplot_mosaic(mosaic, height_ratios=[legend_rows, 1.35, 1] if has_top5 else [legend_rows + 0.04, 1],
                             width_ratios=[1.6, 1] if ref is not None else None)
    if has_top5:
        axd["top5"].sharex(axd["top1"])
    words = data.dataset_words or data.budget.dataset
    specs = [("top1", f"top-1 on {words}, test (%)", OURS)] + (
        [("top5", f"top-5 on {words}, test (%)", TOP5)] if has_top5 else [])
    for metric, ylabel, color in specs:
        _size_panel(axd[metric], data, metric, ylabel, color)
    if has_top5:
        axd["top1"].set_xlabel("")
        axd["top1"].tick_params(labelbottom=True)
    handles, labels = merged_legend([axd[metric] for metric, _, _ in specs])
    if ref is not None:
        _paper_panel(axd["paper"], data)
        handles.append(Line2D([], [], color=PAPER, marker="s", ms=6, ls="none"))
        labels.append(f"the paper: top-5 on ImageNet after full training ({ref.figure})")
    # Outside the axes: a legend inside would compete with the point labels for the free space.
    axd["legend"].axis("off")
    axd["legend"].legend(handles, labels, loc="center", ncols=2 if ref is not None else 1, frameon=False)
    label_name = data.swept[0] if data.swept else "point"
    n_done = int((pts["n"] > 0).sum())
    caption = ""
    if data.warnings:
        caption += "WARNING: " + " ".join(data.warnings) + " "
    caption += (f"Each labelled point is one design point (label: its {label_name}, joined to it by a line): small "
                f"dots = each seed's result, large dot = the mean over seeds; {_interval_words(data)}. "
                f"{n_done} of {len(pts)} points have results.")
    if data.chance:
        caption += f" Dashed grey: chance ({data.chance['top1']:.0f}% top-1, {data.chance['top5']:.0f}% top-5)."
    missing = pts[pts["n"] == 0]
    if len(missing):
        caption += " No result yet (x on the size axis): " + ", ".join(
            f"{r['short']} ({r['status']})" for _, r in missing.iterrows()) + "."
    if ref is not None:
        caption += (f" Right: the paper's {ref.figure} on its own axes (ImageNet top-5 after full training, at "
                    f"ImageNet model sizes); the paper: {ref.text}.")
        inet = pts["imagenet_size_mb"].dropna()
        if len(inet):
            caption += (f" This study's networks would be {inet.min():.2g}-{inet.max():.2g} MB at ImageNet's "
                        "input and 1000 classes.")
        if not ref.matches:
            caption += " Note: this study fixes other metaparameters than the paper's " + ", ".join(
                f"{k}={v}" for k, v in ref.fixed.items()) + "."
    titles(fig, data.title, data.budget.text, caption)
    freeze(fig)
    for metric, _, _ in specs:
        _label_size_panel(axd[metric], data, metric)
    if ref is not None:
        _label_paper_panel(axd["paper"], data)
    return fig


def _interval_words(data: SizeAccuracy) -> str:
    done = data.points[data.points["n"] > 0]
    kinds = list(done["top1_interval"]) + list(done["top5_interval"])
    clipped = bool(done["top1_clipped"].any() or done["top5_clipped"].any())
    return interval_legend(kinds, clipped)


def _intervals(done: pd.DataFrame, metric: str) -> tuple[pd.Series, pd.Series]:
    """The interval to draw per point (NaN where there is none); already clipped by `seed_stat`."""
    return done[f"{metric}_lo"], done[f"{metric}_hi"]


def _size_panel(ax: Axes, data: SizeAccuracy, metric: str, ylabel: str, color: str) -> None:
    pts = data.points
    groups = _groups(pts, data.swept)
    cmap = colormaps["tab10"]
    name = metric.replace("top", "top-")
    seeds = data.seeds
    for g, (group, rows) in enumerate(groups):
        c = color if len(groups) == 1 else cmap(g % 10)
        done = rows[rows["n"] > 0].sort_values("size_mb", kind="stable")
        mean = done[f"{metric}_mean"]
        if done.empty or mean.isna().all():
            continue
        ax.plot(done["size_mb"], mean, "-", color=c, lw=1.2, alpha=0.6, zorder=2)
        lo, hi = _intervals(done, metric)
        interval_bars(ax, done["size_mb"], mean, lo, hi, done[f"{metric}_interval"], c, legend=g == 0, capsize=3,
                       range_width=2.2)
        if len(seeds) and metric in seeds:
            mine = seeds[seeds["label"].isin(done["label"])]
            ax.scatter(mine["size_mb"], mine[metric], s=9, facecolor="white", edgecolor=c, lw=0.7, zorder=3.5,
                       label="one seed" if g == 0 else None)
        full = done["n"] >= done["expected"].fillna(0)
        ax.scatter(done.loc[full, "size_mb"], mean[full], s=30, color=c, zorder=4,
                   label=group or f"this study: {name} on {data.dataset_words or data.budget.dataset}, "
                                  "mean over seeds")
        if (~full).any():
            ax.scatter(done.loc[~full, "size_mb"], mean[~full], s=30, facecolor="white", edgecolor=c, zorder=4,
                       label="fewer seeds than asked" if g == 0 else None)
    chance_line(ax, data.chance, metric)
    missing = pts[(pts["n"] == 0) & pts["size_mb"].notna()]
    if len(missing):
        trans = blended_transform_factory(ax.transData, ax.transAxes)
        ax.scatter(missing["size_mb"], [0.04] * len(missing), marker="x", color=MUTED, s=30, transform=trans,
                   zorder=4, label="no result yet", clip_on=False)
    sizes = pts["size_mb"].dropna()
    if len(sizes):
        span = float(sizes.max() - sizes.min()) or max(1.0, float(sizes.max()))
        ax.set_xlim(max(0.0, float(sizes.min()) - 0.1 * span), float(sizes.max()) + 0.1 * span)
    ax.set_xlabel(data.size_label or SIZE_LABEL)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{name} vs size (this study)")
    ax.grid(True, alpha=0.25)
    ax.margins(y=0.25)
    clamp_accuracy_axis(ax)


def _label_size_panel(ax: Axes, data: SizeAccuracy, metric: str) -> None:
    pts = data.points
    taken: list[Bbox] = []
    groups = _groups(pts, data.swept)
    labels = []
    every = []  # all means of the panel: a label must sit nearer its own than any of these
    for g, (_, rows) in enumerate(groups):
        done = rows[(rows["n"] > 0) & rows[f"{metric}_mean"].notna()].sort_values("size_mb", kind="stable")
        taken += marker_boxes(ax, done["size_mb"], done[f"{metric}_mean"])
        lo, hi = _intervals(done, metric)
        taken += bar_boxes(ax, done["size_mb"], lo, hi)
        taken += segment_boxes(ax, done["size_mb"], done[f"{metric}_mean"])
        every += [tuple(ax.transData.transform((x, y))) for x, y in zip(done["size_mb"], done[f"{metric}_mean"],
                                                                         strict=True)]
        color = "#222222" if len(groups) == 1 else colormaps["tab10"](g % 10)
        labels.append((done, color))
    if len(data.seeds) and metric in data.seeds:
        taken += marker_boxes(ax, data.seeds["size_mb"], data.seeds[metric], radius_pt=2.5)
    missing = pts[(pts["n"] == 0) & pts["size_mb"].notna()]
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    taken += marker_boxes(ax, missing["size_mb"], [0.04] * len(missing), transform=trans)
    for done, color in labels:  # every obstacle is known before the first label goes down
        place_labels(ax, done["size_mb"], done[f"{metric}_mean"], [_point_text(r, data.swept)
                                                                   for _, r in done.iterrows()],
                     taken=taken, color=color, neighbours=every)
    if len(missing):
        place_labels(ax, missing["size_mb"], [0.04] * len(missing),
                     [f"{r['short']} {r['status']}" for _, r in missing.iterrows()], taken=taken, color=MUTED,
                     transform=trans, fontsize=7)


def _paper_panel(ax: Axes, data: SizeAccuracy) -> None:
    """The paper's confirmed points alone, on axes fitted to them (ImageNet sizes, ImageNet top-5)."""
    ref = data.reference
    ax.plot(ref.points["size_mb"], ref.points["top5"], "s", color=PAPER, ms=7)
    ax.set_xlabel("model size on ImageNet (MB, fp32), the paper's")
    ax.set_ylabel("ImageNet top-5 (%), the paper's", color=PAPER)
    ax.tick_params(axis="y", colors=PAPER)
    ax.grid(True, alpha=0.25)
    lo, hi = float(ref.points["top5"].min()), float(ref.points["top5"].max())
    ax.set_ylim(lo - max(3.0, (hi - lo) * 0.6), hi + max(3.0, (hi - lo) * 0.6))
    sizes = ref.points["size_mb"]
    span = float(sizes.max() - sizes.min()) or 1.0
    ax.set_xlim(max(0.0, float(sizes.min()) - 0.35 * span), float(sizes.max()) + 0.35 * span)
    ax.set_title(f"the paper's {ref.figure} (ImageNet, full training)")


def _label_paper_panel(ax: Axes, data: SizeAccuracy) -> None:
    ref = data.reference
    taken = marker_boxes(ax, ref.points["size_mb"], ref.points["top5"], radius_pt=5)
    name = "SR" if ref.param == "sr" else ref.param
    place_labels(ax, ref.points["size_mb"], ref.points["top5"],
                 [f"{name} {lab}\n{t:.1f}%" for lab, t in zip(ref.points["label"], ref.points["top5"], strict=True)],
                 taken=taken, color=PAPER)


# ---------------------------------------------------------------------------------------------- learning curves


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


# ---------------------------------------------------------------------------------------------- Pareto


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
        ax.axvline(max_size_mb, color=PAPER, ls=":", lw=1, label=f"size budget {max_size_mb:g} MB")
    sizes = pts["size_mb"][pts["size_mb"] > 0]
    if len(sizes) and sizes.max() / sizes.min() > 20:  # searches span orders of magnitude
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
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
        chosen = f"val {r[col]:.1f}%  " if col != "top1_mean" else ""
        rows.append(textwrap.fill(f"{i:>2}. {chosen}test {r['top1_mean']:.1f}%  {r['size_mb']:.2f} MB  {values}", 58,
                                  subsequent_indent="    "))
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


# ---------------------------------------------------------------------------------------------- grids


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
    cmap = colormaps["viridis"].copy()
    cmap.set_bad("#eeeeee")
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
                    text = f"{v:.1f}%" + (f"\n{s:.1f} MB" if np.isfinite(s) else "")
                    ax.text(j, i, text, ha="center", va="center", fontsize=6.5,
                            color="white" if dark else "black")
                else:
                    ax.text(j, i, str(panel.status[i, j]), ha="center", va="center", fontsize=6.5, color=MUTED)
        for spine in ax.spines.values():
            spine.set_visible(False)
    for ax in axes[n:]:
        ax.axis("off")
    fig.colorbar(mappable(norm, cmap), ax=list(axes[:n]), label="mean test top-1 (%)", shrink=0.9)
    titles(fig, title, budget, "Each cell: mean top-1 over seeds and the model size; grey: no result yet.")
    return fig


@styled
def draw_importance(importance: Importance, title: str, budget: str, spread_text: str = "") -> Figure:
    """Horizontal bars, most important on top."""
    values = importance.values.iloc[::-1]
    fig = new_figure(6.4, 1.6 + 0.38 * len(values))
    ax = fig.subplots()
    bars = ax.barh(values["param"], values["importance"], color=OURS)
    ax.bar_label(bars, labels=[f"{v:.2f}" for v in values["importance"]], padding=3, fontsize=7.5)
    ax.set_xlim(0, max(1.0, float(values["importance"].max()) * 1.15))
    ax.set_xlabel(f"importance for top-1 ({importance.evaluator}, normalised to sum to 1)")
    ax.grid(True, axis="x", alpha=0.25)
    caption = f"{importance.n_trials} completed trials, optuna.importance with {importance.evaluator}."
    if "seed" in set(values["param"]):
        caption += " A large share for seed means the differences between points are within seed noise."
    if spread_text:
        caption += " " + spread_text
    titles(fig, title, budget, caption)
    return fig


def _chosen_note(summary_row) -> str:
    """How an EDF's best was chosen, when not on validation."""
    return " lowest test" if summary_row.get("chosen_on", "validation") != "validation" else ""


@styled
def draw_edf(edf: ErrorEdf, title: str) -> Figure:
    """Cumulative share of design points under each error, one step line per study (Radosavovic et al.)."""
    fig = new_figure(7.2, 4.8)
    ax = fig.subplots()
    cmap = colormaps["tab10"]
    for i, (_, s) in enumerate(edf.summary.iterrows()):
        curve = edf.curves[edf.curves["study"] == s["study"]]
        if curve.empty:
            continue
        xs = np.concatenate([[curve["error"].iloc[0]], curve["error"].to_numpy()])
        ys = np.concatenate([[0.0], curve["fraction"].to_numpy()])
        ax.step(xs, ys, where="post", color=cmap(i % 10), lw=1.8,
                label=f"{s['study']} (n={int(s['n'])}, best {s['best']:.1f}%{_chosen_note(s)}, "
                      f"median {s['median']:.1f}%)")
    ax.set_xlabel("top-1 test error (%)")
    ax.set_ylabel("cumulative fraction of design points")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.25)
    ax.legend(loc="lower right", frameon=False)
    budgets = set(edf.budgets.values())
    budget = next(iter(budgets)) if len(budgets) == 1 else (
        "trained differently, so the spaces are not compared on equal terms — " + "; ".join(
            f"{k}: {v}" for k, v in (edf.short_budgets or edf.budgets).items()))
    caption = ("Error EDF (Radosavovic et al., On Network Design Spaces for Visual Recognition): for each design "
               "space, the share of its models (seed means) with error at most x. Higher and further left is a "
               "better space. 'best': the test error of the point with the highest validation top-1 (the "
               "test split never chooses); 'lowest test' where a study has no validation split.")
    if len(budgets) > 1 and any("proxy" in b for b in budgets):
        caption += " Brief-training proxies, not the paper's full ImageNet training."
    titles(fig, title, budget, caption)
    return fig


# ---------------------------------------------------------------------------------------------- latency


@styled
def draw_accuracy_vs_latency(data: LatencyAccuracy, title: str) -> Figure:
    """Accuracy against measured CPU latency; the points on the (accuracy, size, latency) front numbered and
    sized by their fp32 MB, the others faint."""
    fig = new_figure(9.0, 5.6)
    ax = fig.subplots()
    pts, front, col = data.points, data.front, data.selection.column
    rest = pts[~pts["on_front"]]
    ax.scatter(rest["latency_ms"], rest[col], s=18, color=MUTED, alpha=0.4, lw=0, label=f"dominated ({len(rest)})")
    biggest = float(pts["size_mb"].max()) or 1.0
    ax.scatter(front["latency_ms"], front[col], s=20 + 120 * front["size_mb"] / biggest, color=OURS, alpha=0.8,
               zorder=4, label=f"front over accuracy, size and latency ({len(front)}); area ~ fp32 MB")
    ax.set_xlabel(f"latency (ms per image, batch 1, fp32) on {data.cpu}, {data.threads} thread(s)")
    ax.set_ylabel(f"{data.selection.split} top-1 accuracy (%)")
    ax.set_title("accuracy (max) vs CPU latency (min)")
    ax.grid(True, alpha=0.25)
    ax.margins(0.08, 0.15)
    ax.legend(loc="lower right", frameon=True, framealpha=0.9, edgecolor="none")
    caption = (f"{len(pts)} design points with a measured latency (median over their trials; median of timed "
               "runs after warm-up on the machine that trained them). A point is on the front when no other is "
               "at least as accurate, as small and as fast, and better in one. " + data.selection.text)
    titles(fig, title, data.budget.text, caption)
    freeze(fig)
    renderer = fig.canvas.get_renderer()
    taken = [ax.get_legend().get_window_extent(renderer)]
    taken += marker_boxes(ax, pts["latency_ms"], pts[col], radius_pt=3.5)
    place_labels(ax, front["latency_ms"], front[col], list(front["short"].astype(str)), taken=taken, color=OURS)
    return fig


# ---------------------------------------------------------------------------------------------- bypass (Table 3)


def _variant_ticks(table: BypassTable, paper: bool = False) -> tuple[list[float], list[str]]:
    """One tick per variant at its own position: its name (the paper's, on the paper's panel) and its size."""
    pts = table.variants
    ref = table.paper.set_index("variant")
    positions, labels = [], []
    for i, variant in enumerate(ref.index):
        rows = pts[pts["variant"] == variant]
        positions.append(float(i))
        if paper:
            r = ref.loc[variant]
            labels.append(f"{r['paper_name']}\n{r['size_mb']:g} MB" if r["confirmed"]
                          else f"{r['paper_name']}\nno confirmed value")
            continue
        sizes = rows["size_mb"].dropna()
        inet = rows["imagenet_size_mb"].dropna()
        text = variant
        if len(table.groups) == 1 and len(sizes):
            text += f"\n{sizes.iloc[0]:.2f} MB" + (f"\n(ImageNet {inet.iloc[0]:.2f})" if len(inet) else "")
        labels.append(text)
    return positions, labels


@styled
def draw_bypass_table(table: BypassTable) -> Figure:
    """The paper's Table 3 as a figure: per bypass variant, each seed's test accuracy (one mark each), the mean
    and its interval; the paper's ImageNet values on their own panel at the same positions, and for a variant the
    confirmed reference lacks, words instead of a number."""
    pts, seeds = table.variants, table.seeds
    has_top5 = bool(pts["top5_mean"].notna().any())
    metrics = ["top1", "top5"] if has_top5 else ["top1"]
    fig = new_figure(4.0 * len(metrics) + 4.2, 6.2)
    axd = fig.subplot_mosaic([["legend"] * (len(metrics) + 1), [*metrics, "paper"]], height_ratios=[0.18, 1])
    words = table.dataset_words or table.budget.dataset
    cmap = colormaps["tab10"]
    positions, labels = _variant_ticks(table)
    for metric in metrics:
        ax = axd[metric]
        for g, group in enumerate(table.groups):
            c = OURS if len(table.groups) == 1 else cmap(g % 10)
            rows = pts[(pts["group"] == group) & (pts["n"] > 0)]
            mine = seeds[seeds["group"] == group]
            ax.scatter(mine["x"], mine[metric], s=16, facecolor="white", edgecolor=c, lw=0.8, zorder=3.5,
                       gid=f"seeds-{metric}-{g}", label="one seed (its test result)" if g == 0 else None)
            mean = rows[f"{metric}_mean"]
            interval_bars(ax, rows["x"], mean, rows[f"{metric}_lo"], rows[f"{metric}_hi"],
                           rows[f"{metric}_interval"], c, legend=g == 0, capsize=4, range_width=2.4)
            ax.scatter(rows["x"], mean, s=44, marker="D", color=c, zorder=4,
                       label=(group or f"this study: test {metric.replace('top', 'top-')} on {words}, mean over "
                              "seeds"))
            for _, r in rows.iterrows():
                ax.annotate(f"{r[f'{metric}_mean']:.1f}" + (" *" if r["chosen"] else ""), (r["x"], r[f"{metric}_mean"]),
                            xytext=(7, 0), textcoords="offset points", va="center", fontsize=7.5, color=c)
        chance_line(ax, table.chance, metric)
        ax.set_xticks(positions, labels)
        ax.set_xlim(-0.6, len(positions) - 0.4)
        ax.set_ylabel(f"test {metric.replace('top', 'top-')} on {words} (%)")
        ax.set_title(f"{metric.replace('top', 'top-')} per bypass variant (this study)")
        ax.grid(True, axis="y", alpha=0.25)
        ax.margins(y=0.2)
        clamp_accuracy_axis(ax)
    _paper_table3_panel(axd["paper"], table)
    handles, names = merged_legend([axd[metric] for metric in [*metrics, "paper"]])
    axd["legend"].axis("off")
    axd["legend"].legend(handles, names, loc="center", ncols=2, frameon=False)
    caption = ("WARNING: " + " ".join(table.warnings) + " ") if table.warnings else ""
    caption += (f"Each variant at its own position: open circles = each seed's test result, diamond = the mean "
                f"over seeds; {table.intervals.get('top1', '')}.")
    if len(table.groups) == 1:
        caption += (" Under each variant: its model size here and (in brackets) at ImageNet's input and 1000 "
                    "classes, the sizes the paper gives.")
    caption += " " + table.selection.text
    chosen = pts[pts["chosen"]]
    if len(chosen):
        caption += " * = the best variant by " + table.selection.split + " top-1" + (
            " (per line)" if len(table.groups) > 1 else "") + ": " + ", ".join(
            f"{r['variant']}" + (f" ({r['group']})" if r["group"] else "") for _, r in chosen.iterrows()) + "."
    missing = pts[pts["n"] == 0]
    if len(missing):
        caption += " No result: " + ", ".join(f"{r['label']} ({r['status']})" for _, r in missing.iterrows()) + "."
    caption += (" Right: the paper's Table 3 on its own axis (ImageNet top-1 and top-5 after full training, "
                "ImageNet model sizes)")
    if table.unconfirmed:
        caption += "; " + ", ".join(table.paper.set_index("variant").loc[table.unconfirmed, "paper_name"]) + (
            f": {UNCONFIRMED}, so no value is shown")
    caption += "."
    if not table.paper_matches:
        caption += " Note: the paper trains SqueezeNet v1.0's metaparameters (" + ", ".join(
            f"{k}={v}" for k, v in table.paper_fixed.items()) + "); this study fixes others."
    titles(fig, table.title, table.budget.text, caption)
    return fig


def _paper_table3_panel(ax: Axes, table: BypassTable) -> None:
    """The paper's top-1 and top-5 per variant; a variant without a confirmed value gets words, not a mark."""
    ref = table.paper.reset_index(drop=True)
    xs = np.arange(len(ref), dtype=float)
    ok = ref["confirmed"].to_numpy(dtype=bool)
    for metric, marker, name in (("top1", "s", "top-1"), ("top5", "^", "top-5")):
        ax.plot(xs[ok], ref.loc[ok, metric], marker, color=PAPER, ms=7, ls="none",
                label=f"the paper: ImageNet {name} after full training (Table 3)")
        for x, v in zip(xs[ok], ref.loc[ok, metric], strict=True):
            ax.annotate(f"{v:.1f}", (x, v), xytext=(7, 0), textcoords="offset points", va="center", fontsize=7.5,
                        color=PAPER)
    positions, labels = _variant_ticks(table, paper=True)
    ax.set_xticks(positions, labels)
    ax.set_xlim(-0.6, len(positions) - 0.4)
    values = pd.concat([ref.loc[ok, "top1"], ref.loc[ok, "top5"]])
    if len(values):
        ax.set_ylim(float(values.min()) - 8, float(values.max()) + 8)
    for x, r in zip(xs[~ok], ref[~ok].itertuples(), strict=True):
        ax.text(x, 0.5, f"{r.paper_name}:\n" + textwrap.fill(UNCONFIRMED, 12),
                transform=blended_transform_factory(ax.transData, ax.transAxes), ha="center", va="center",
                fontsize=7.5, color=MUTED, gid=f"unconfirmed-{r.variant}")
    ax.set_ylabel("ImageNet accuracy (%), the paper's", color=PAPER)
    ax.tick_params(axis="y", colors=PAPER)
    ax.grid(True, axis="y", alpha=0.25)
    ax.set_title("the paper's Table 3 (ImageNet, full training)")
