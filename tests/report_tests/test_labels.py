"""Point labels: each anchored on the point it names and nearer to it than to any other, none overlapping at the paper's
8- and 9-point grids."""

from __future__ import annotations

import itertools
import math

import pytest
from matplotlib.text import Annotation

from dse.report.frame import load_studies, study_data
from dse.report.labels import text_box
from dse.report.size import accuracy_vs_size, draw_accuracy_vs_size

from .studies import PCT_VALUES, REAL_PCT3X3, REAL_SR, SR_VALUES, make_sweep


def _crowded():
    """Eight points within 0.03 MB of each other, 3 seeds: labels must still each find their own point."""
    values = (0.5, 0.505, 0.51, 0.515, 0.52, 0.525, 0.53, 0.535)
    return study_data(make_sweep(None, "crowded", {"sr": values}, seeds=3))


def _studies():
    out = [("crowded", _crowded()), ("sr-2-seeds", study_data(make_sweep(None, "sr", {"sr": SR_VALUES}, seeds=2)))]
    for real in (REAL_SR, REAL_PCT3X3):
        if real.is_file():
            out.append((real.stem, load_studies(str(real))[0]))
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


def _label_boxes(fig):
    """Point labels (annotations) per screen region: a panel with its twin axis counts as one."""
    renderer = fig.canvas.get_renderer()
    groups: dict[tuple, list] = {}
    for ax in fig.axes:
        key = tuple(round(v) for v in ax.get_window_extent(renderer).bounds)
        for text in ax.texts:
            if isinstance(text, Annotation) and text.get_text():
                groups.setdefault(key, []).append((text.get_text(), text_box(text, renderer), ax))
    return groups


@pytest.mark.parametrize("param, values, fixed", [("sr", SR_VALUES, {}), ("pct3x3", PCT_VALUES, {"sr": 0.5})])
@pytest.mark.parametrize("seeds", [1, 3])
def test_point_labels_do_not_overlap_at_the_paper_grids(param, values, fixed, seeds):
    data = study_data(make_sweep(None, param, {param: values}, seeds=seeds, fixed=fixed))
    fig = draw_accuracy_vs_size(accuracy_vs_size(data))
    fig.canvas.draw()
    groups = _label_boxes(fig)
    assert sum(len(v) for v in groups.values()) >= 2 * len(values) + 1  # top-1, top-5, the paper's own points
    for boxes in groups.values():
        for (t1, b1, _), (t2, b2, _) in itertools.combinations(boxes, 2):
            assert not b1.overlaps(b2), f"labels {t1!r} and {t2!r} overlap"
        for text, box, ax in boxes:
            frame = ax.get_window_extent(fig.canvas.get_renderer())
            assert frame.x0 - 1 <= box.x0 and box.x1 <= frame.x1 + 1, f"label {text!r} leaves its panel"


def test_fit_labels_leaves_out_what_does_not_fit_and_overlaps_nothing():
    """A crowded panel: 60 points in a small axes. Some labels fit, the rest are left out, none overlap."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from dse.report.labels import fit_labels

    fig = Figure(figsize=(3, 2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = [i % 10 for i in range(60)]
    ys = [i // 10 for i in range(60)]
    ax.scatter(xs, ys)
    ax.set_xlim(-1, 10)
    ax.set_ylim(-1, 6)
    fig.canvas.draw()
    taken = []
    done = fit_labels(ax, xs, ys, [f"point {i}" for i in range(60)], taken=taken,
                      gids=[f"p{i}" for i in range(60)])
    renderer = fig.canvas.get_renderer()
    drawn = {t.get_gid(): text_box(t, renderer) for t in ax.texts}
    assert 0 < len(drawn) < 60 and sorted(drawn) == sorted(f"p{i}" for i in range(60) if done[i])
    boxes = list(drawn.values())
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
    frame = ax.get_window_extent(renderer)
    assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)
    assert len(taken) == len(drawn)  # each label placed is an obstacle for the next call's
