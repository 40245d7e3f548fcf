"""Drawn figures say what their data says: every point label is anchored on its own point and sits nearer to it
than to any other; seeds, intervals and the chance line are drawn; every figure kind draws."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from matplotlib.text import Annotation

from dse.report import draw
from dse.report.draw import draw_accuracy_vs_size
from dse.report.figures import (
    accuracy_vs_size,
    error_edf,
    grid_panels,
    learning_curves,
    param_importance,
    pareto_front,
    point_stats,
)
from dse.report.frame import load_studies, study_data
from dse.report.labels import text_box
from dse.report.style import PAPER

from .studies import SR_VALUES, make_search, make_sweep

DEMO = Path(__file__).resolve().parents[2] / "studies" / "cpu-demo-sr.db"


def _crowded():
    """Eight points within 0.03 MB of each other, 3 seeds: labels must still each find their own point."""
    values = (0.5, 0.505, 0.51, 0.515, 0.52, 0.525, 0.53, 0.535)
    return study_data(make_sweep(None, "crowded", {"sr": values}, seeds=3))


def _studies():
    out = [("crowded", _crowded()), ("sr-2-seeds", study_data(make_sweep(None, "sr", {"sr": SR_VALUES}, seeds=2)))]
    if DEMO.is_file():
        out.append(("cpu-demo-sr", load_studies(str(DEMO))[0]))
    return out


def _annotations(ax):
    return [t for t in ax.texts if isinstance(t, Annotation) and t.get_text()]


def _box_distance(box, p):
    dx = max(box.x0 - p[0], 0.0, p[0] - box.x1)
    dy = max(box.y0 - p[1], 0.0, p[1] - box.y1)
    return math.hypot(dx, dy)


@pytest.mark.parametrize("name, data", _studies(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_label_is_anchored_on_the_point_it_names(name, data):
    sa = accuracy_vs_size(data)
    fig = draw_accuracy_vs_size(sa)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    pts = sa.points[sa.points["n"] > 0].set_index("short")
    checked = 0
    for ax in fig.axes:
        title = ax.get_title()
        anns = _annotations(ax)
        if title.startswith(("top-1 vs", "top-5 vs")):
            metric = "top1" if title.startswith("top-1") else "top5"
            means = [tuple(ax.transData.transform((r["size_mb"], r[f"{metric}_mean"]))) for _, r in pts.iterrows()]
            for ann in anns:
                short = ann.get_text().split(" (")[0]
                assert short in pts.index, f"{name}: label {ann.get_text()!r} names no point"
                row = pts.loc[short]
                assert ann.xy == (pytest.approx(row["size_mb"]), pytest.approx(row[f"{metric}_mean"])), (
                    f"{name}: label {short!r} is anchored at {ann.xy}, not on its point")
                assert ann.arrow_patch is not None, f"{name}: label {short!r} has no leader line to its point"
                own = tuple(ax.transData.transform(ann.xy))
                box = text_box(ann, renderer)  # the text, without its leader line
                nearest = min(means, key=lambda p: _box_distance(box, p))
                assert _box_distance(box, nearest) >= _box_distance(box, own) - 0.5, (
                    f"{name}: label {short!r} sits nearer another point than its own")
                checked += 1
        elif title.startswith("the paper's") and sa.reference is not None:
            ref = sa.reference.points.set_index("label")
            for ann in anns:
                label = ann.get_text().split("\n")[0].split(" ", 1)[1]
                assert ann.xy == (pytest.approx(ref.loc[label, "size_mb"]), pytest.approx(ref.loc[label, "top5"]))
                checked += 1
    assert checked >= 2 * len(pts), f"{name}: only {checked} labels for {len(pts)} points"


def test_seeds_intervals_and_chance_are_drawn():
    data = study_data(make_sweep(None, "s", {"sr": (0.25, 0.5, 0.75)}, seeds=3))
    sa = accuracy_vs_size(data)
    assert sa.chance == {"top1": pytest.approx(10.0), "top5": pytest.approx(50.0)}
    assert len(sa.seeds) == 9 and set(sa.seeds["short"]) == {"0.25", "0.5", "0.75"}
    fig = draw_accuracy_vs_size(sa)
    (top1,) = [ax for ax in fig.axes if ax.get_title().startswith("top-1 vs")]
    chance = [ln for ln in top1.get_lines() if list(ln.get_ydata()) == [10.0, 10.0]]
    assert chance and chance[0].get_linestyle() == "--"
    labels = top1.get_legend_handles_labels()[1]
    assert "one seed" in labels and "95% t-interval of the mean (3+ seeds)" in labels
    caption = fig._supxlabel.get_text().replace("\n", " ")
    assert "chance (10% top-1" in caption and "95% t-interval" in caption


def test_two_seeds_draw_a_range_not_an_interval():
    sa = accuracy_vs_size(study_data(make_sweep(None, "s", {"sr": (0.25, 0.5)}, seeds=2)))
    fig = draw_accuracy_vs_size(sa)
    (top1,) = [ax for ax in fig.axes if ax.get_title().startswith("top-1 vs")]
    labels = top1.get_legend_handles_labels()[1]
    assert "min-max range of the seeds (2 seeds)" in labels and not any("t-interval" in s for s in labels)


def test_paper_panel_has_its_own_axes_and_plain_legend():
    data = load_studies(str(DEMO))[0] if DEMO.is_file() else study_data(
        make_sweep(None, "sr", {"sr": SR_VALUES}, seeds=1, dataset="folder:/x/cifar10-jpeg"))
    fig = draw_accuracy_vs_size(accuracy_vs_size(data))
    (paper,) = [ax for ax in fig.axes if ax.get_title().startswith("the paper's")]
    lo, hi = paper.get_xlim()
    assert lo >= 0 and hi < 30  # fitted to the paper's 4.8 and 19 MB
    assert all(ln.get_color() == PAPER for ln in paper.get_lines())
    legend = [ax for ax in fig.axes if ax.get_legend() is not None and not ax.axison][0].get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    assert "this study: top-1 on CIFAR-10 (JPEG folder), mean over seeds" in texts
    assert any(t.startswith("the paper: top-5 on ImageNet") for t in texts)


@pytest.mark.parametrize("kind", ["accuracy_vs_size", "learning_curves", "pareto", "grid", "importance", "edf"])
def test_every_figure_kind_draws(kind):
    if kind in ("grid", "importance"):
        data = study_data(make_sweep(None, "g", {"sr": (0.125, 0.5, 1.0), "pct3x3": (0.25, 0.75)}, seeds=2))
    elif kind == "pareto":
        data = study_data(make_search(None, n=12))
    else:
        data = study_data(make_sweep(None, "s", {"sr": SR_VALUES[:4]}, seeds=3))
    if kind == "accuracy_vs_size":
        fig = draw.draw_accuracy_vs_size(accuracy_vs_size(data))
    elif kind == "learning_curves":
        fig = draw.draw_learning_curves(learning_curves(data), "t")
    elif kind == "pareto":
        fig = draw.draw_pareto(pareto_front(data), "t", data.swept)
    elif kind == "grid":
        fig = draw.draw_grid(grid_panels(data, point_stats(data)), "t", "b")
    elif kind == "importance":
        fig = draw.draw_importance(param_importance(data), "t", "b", "spread")
    else:
        fig = draw.draw_edf(error_edf([data]), "t")
    fig.canvas.draw()
    drawn = sum(len(ax.lines) + len(ax.collections) + len(ax.patches) + len(ax.images) for ax in fig.axes)
    assert drawn > 0 and fig.get_suptitle()


def test_learning_curves_draw_validation_beside_test():
    from .test_figures import _val_sweep

    curves = learning_curves(_val_sweep([(0.25, 0, 70.0, 60.0), (0.5, 0, 65.0, 80.0)]))
    fig = draw.draw_learning_curves(curves, "t")
    fig.canvas.draw()
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == [draw.CURVE_TITLES["validation"], draw.CURVE_TITLES["test"]]
    # each panel plots its own split's means: the validation panel ends at 70 for sr 0.25, the test panel at 60
    finals = [sorted(line.get_ydata()[-1] for line in ax.lines if not line.get_label().startswith("chance"))
              for ax in panels]
    assert finals == [[65.0, 70.0], [60.0, 80.0]]
    assert "Left: validation top-1" in fig._supxlabel.get_text()
