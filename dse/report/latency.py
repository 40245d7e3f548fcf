"""Accuracy against measured CPU latency per design point, and the front over (accuracy, fp32 MB, latency). A
latency is a median of timed runs; its spread (the middle half of the runs) is drawn with it, and a spread too wide
says the machine was busy while it was measured (`dse.stats.busy_warning`), a warning on the figure and the page.

Data (`accuracy_vs_latency`), drawing (`draw_accuracy_vs_latency`) and words (`latency_figure`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dse.report.frame import StudyData
from dse.report.labels import marker_boxes, place_labels
from dse.report.page import Figured
from dse.report.points import COMPLETE, point_stats
from dse.report.style import MUTED, OURS, freeze, new_figure, styled, titles
from dse.report.trust import Budget, Selection, selection, training_budget
from dse.stats import busy_warning, pareto_mask, relative_spread


@dataclass(frozen=True)
class LatencyAccuracy:
    """Accuracy against measured CPU latency per design point, and the Pareto front over (accuracy, fp32 MB,
    latency): a point is on it when no other is at least as good on all three and better on one."""

    points: pd.DataFrame  # label, short, size_mb, latency_ms (median over the point's trials), latency_lo and
    #                       latency_hi (the widest first and third quartile of its trials' runs), n, top1_mean,
    #                       val_top1_mean, on_front
    front: pd.DataFrame  # the front, fastest first
    selection: Selection
    budget: Budget
    cpu: str  # the CPU(s) the latencies were measured on
    threads: str
    warning: str = ""  # `busy_warning` of the trials' timings


def accuracy_vs_latency(data: StudyData, stats: pd.DataFrame | None = None) -> LatencyAccuracy | None:
    """None when no completed trial recorded its latency (a study from before latencies, or a fake trainer)."""
    f = data.frame
    if "latency_ms" not in f:
        return None
    done = f[(f["state"] == COMPLETE) & pd.to_numeric(f["latency_ms"], errors="coerce").notna()]
    if done.empty:
        return None
    stats = point_stats(data) if stats is None else stats
    chosen = selection(stats)
    timed = done.assign(**{c: pd.to_numeric(done[c], errors="coerce") if c in done else math.nan
                           for c in ("latency_ms", "latency_q1_ms", "latency_q3_ms")})
    by_point = timed.groupby("label")
    pts = stats[(stats["n"] > 0) & stats["label"].isin(by_point.groups) & stats[chosen.column].notna()].copy()
    pts["latency_ms"] = pts["label"].map(by_point["latency_ms"].median()).astype(float)
    pts["latency_lo"] = pts["label"].map(by_point["latency_q1_ms"].min()).astype(float)
    pts["latency_hi"] = pts["label"].map(by_point["latency_q3_ms"].max()).astype(float)
    pts = pts[["label", "short", "size_mb", "latency_ms", "latency_lo", "latency_hi", "n", "top1_mean",
               "val_top1_mean"]].reset_index(drop=True)
    pts["on_front"] = pareto_mask(pts[chosen.column].to_numpy(), pts["size_mb"].to_numpy(),
                                 pts["latency_ms"].to_numpy())
    front = pts[pts["on_front"]].sort_values("latency_ms", kind="stable").reset_index(drop=True)
    cpus = sorted({str(c) for c in done.get("latency_cpu", pd.Series(dtype=object)).dropna()})
    threads = sorted({str(int(t)) for t in pd.to_numeric(done.get("latency_threads", pd.Series(dtype=float)),
                                                            errors="coerce").dropna()})
    return LatencyAccuracy(pts, front, chosen, training_budget(data), ", ".join(cpus) or "unknown CPU",
                           ", ".join(threads) or "?", latency_warning(timed))


def latency_warning(trials: pd.DataFrame) -> str:
    """`busy_warning` over the trials' own timings (median and quartiles of their runs), "" when calm or not
    recorded (studies from before the quartiles were)."""
    if not {"latency_ms", "latency_q1_ms", "latency_q3_ms"} <= set(trials.columns):
        return ""
    return busy_warning(relative_spread(m, a, b) for m, a, b in
                        zip(trials["latency_ms"], trials["latency_q1_ms"], trials["latency_q3_ms"], strict=True))


def study_latency_warning(data: StudyData) -> str:
    """The busy-machine warning of a study's completed trials, for its page."""
    f = data.frame
    done = f[f["state"] == COMPLETE]
    return latency_warning(done) if len(done) else ""


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
    spread = pts[pts["latency_lo"].notna() & pts["latency_hi"].notna()]
    if len(spread):
        xerr = np.vstack([(spread["latency_ms"] - spread["latency_lo"]).clip(lower=0),
                          (spread["latency_hi"] - spread["latency_ms"]).clip(lower=0)])
        ax.errorbar(spread["latency_ms"], spread[col], xerr=xerr, fmt="none", ecolor=MUTED, elinewidth=0.9,
                    capsize=2, zorder=3, label="middle half of the timed runs (first to third quartile)")
    ax.set_xlabel(f"latency (ms per image, batch 1, fp32) on {data.cpu}, {data.threads} thread(s)")
    ax.set_ylabel(f"{data.selection.split} top-1 accuracy (%), the one the front is chosen on")
    ax.set_title("accuracy (max) vs CPU latency (min)")
    ax.grid(True, alpha=0.25)
    ax.margins(0.08, 0.15)
    ax.legend(loc="best", frameon=True, framealpha=0.9, edgecolor="none")  # clear of the points and their bars
    caption = ("WARNING: " + data.warning + " ") if data.warning else ""
    caption += (f"{len(pts)} design points with a measured latency (median over their trials; median of timed "
                "runs after warm-up on the machine that trained them; grey bars: the middle half of the runs, "
                "widest over the point's trials). A point is on the front when no other is at least as accurate, "
                "as small and as fast, and better in one. " + data.selection.text)
    titles(fig, title, data.budget.text, caption)
    freeze(fig)
    renderer = fig.canvas.get_renderer()
    taken = [ax.get_legend().get_window_extent(renderer)]
    taken += marker_boxes(ax, pts["latency_ms"], pts[col], radius_pt=3.5)
    place_labels(ax, front["latency_ms"], front[col], list(front["short"].astype(str)), taken=taken, color=OURS)
    return fig


def latency_figure(data: StudyData, stats: pd.DataFrame) -> Figured | None:
    """Accuracy against measured CPU latency, where trials recorded it."""
    timed = accuracy_vs_latency(data, stats)
    if timed is None or not len(timed.points):
        return None
    split = timed.selection.split
    return Figured("accuracy_vs_latency", "Accuracy vs latency", f"{split.capitalize()} top-1 against CPU latency "
                   "measured after training; the front over accuracy, size and latency is drawn and labelled."
                   + (" Validation, not test: the front is chosen on it, and the front drawn is the front chosen."
                      if split == "validation" else ""),
                   draw_accuracy_vs_latency(timed, f"{data.name}: accuracy vs latency"),
                   ((split, "accuracy vs latency"),))
