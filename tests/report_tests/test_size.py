"""Accuracy vs size (Figure 3): the paper's series and missing points in the data, seeds, intervals, chance and the
paper's own panel in the drawing, the quantized size axes."""

from __future__ import annotations

import math

import pytest

from dse.plan import cost
from dse.report.frame import load_studies, study_data
from dse.report.points import point_stats
from dse.report.size import accuracy_vs_size, accuracy_vs_size_at, draw_accuracy_vs_size, paper_reference
from dse.report.style import PAPER

from .studies import BASE, DEMO, PCT_VALUES, SR_VALUES, TIMED_ROWS, assert_draws, make_sweep, timed_study


def test_accuracy_vs_size_carries_the_paper_series_and_missing_points(sr):
    sa = accuracy_vs_size(sr)
    ref = sa.reference
    assert ref.figure == "Figure 3(a)" and ref.matches
    assert ref.points[["value", "size_mb", "top5"]].values.tolist() == [[0.125, 4.8, 80.3], [0.75, 19.0, 86.0]]
    assert sorted(sa.missing["short"]) == ["0.875", "1.0"]
    assert "CIFAR-10" in sa.budget.text and "4 epochs" in sa.budget.text and "proxy" in sa.budget.text


def test_paper_reference_per_sweep():
    pct = make_sweep(None, "p", {"pct3x3": PCT_VALUES[:2]}, seeds=1, fixed={"sr": 0.5})
    ref = paper_reference(("pct3x3",), study_data(pct).spec)
    assert ref.figure == "Figure 3(b)" and ref.matches
    assert ref.points[["value", "size_mb", "top5"]].values.tolist() == [[0.5, 13.0, 85.6]]
    other = make_sweep(None, "p2", {"pct3x3": PCT_VALUES[:2]}, seeds=1, fixed={"sr": 0.25})
    assert not paper_reference(("pct3x3",), study_data(other).spec).matches
    assert paper_reference(("base_e",), {}) is None
    assert paper_reference(("sr", "pct3x3"), {}) is None


def test_paper_sizes_agree_with_the_cost_model():
    """The reference is drawn against ImageNet-equivalent sizes: ours must land on the paper's."""
    for value, size in ((0.125, 4.8), (0.75, 19.0)):  # the paper rounds: 4.76 and 18.5 MB
        assert cost(BASE.replace(sr=value).imagenet_equivalent()).size_mb == pytest.approx(size, abs=0.6)


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


def test_the_size_axis_at_8_and_4_bits():
    data = timed_study(TIMED_ROWS)
    stats = point_stats(data)
    fp32 = accuracy_vs_size_at(data, "fp32", stats)
    for size, attr in (("int8", "size_mb_int8"), ("int4", "size_mb_int4")):
        at = accuracy_vs_size_at(data, size, stats)
        for (_, r), (_, r32) in zip(at.points.iterrows(), fp32.points.iterrows(), strict=True):
            assert r["size_mb"] == pytest.approx(getattr(cost(BASE.replace(sr=r32["sr"])), attr))
        assert at.seeds["size_mb"].tolist() == pytest.approx((fp32.seeds["size_mb"] * int(size[3:]) / 32).tolist())
        assert f"{size[3:]} bits" in at.size_label and not math.isnan(at.points["size_mb"].iloc[0])
    assert fp32.size_label == ""


def test_accuracy_vs_size_draws():
    assert_draws(draw_accuracy_vs_size(accuracy_vs_size(study_data(make_sweep(None, "s", {"sr": SR_VALUES[:4]},
                                                                              seeds=3)))))
