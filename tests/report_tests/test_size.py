"""Accuracy vs size (Figure 3): the paper's series and missing points in the data, seeds, intervals, chance and the
paper's own panel in the drawing, the quantized size axes."""

from __future__ import annotations

import math

import pytest

from dse.fmt import number
from dse.plan import cost
from dse.report.frame import format_value, load_studies, study_data
from dse.report.paper import paper
from dse.report.points import point_stats
from dse.report.size import accuracy_vs_size, accuracy_vs_size_at, draw_accuracy_vs_size, paper_reference
from dse.report.steps import sweep_steps
from dse.report.style import PAPER

from .drawn import annotations, approx_points, errorbars, horizontal_lines, line_points, marks, panel
from .studies import BASE, PCT_VALUES, REAL_SR, SR_VALUES, TIMED_ROWS, assert_draws, make_sweep, timed_study


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
    data = load_studies(str(REAL_SR))[0] if REAL_SR.is_file() else study_data(
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


# ---------------------------------------------------------------------------------------------- the drawing, read back
# Each test reads what matplotlib drew (bar segments, marks, lines) and compares it with the data it came from, so a
# figure that draws something else than its data fails: bars of the wrong length, seeds of the other metric, the
# chance line of the other metric, the paper's points moved.

METRICS = ("top1", "top5")


def _panels(fig):
    return {m: panel(fig, f"{m.replace('top', 'top-')} vs size (this study)") for m in METRICS}


@pytest.fixture(scope="module", params=[3, 2], ids=["t-intervals", "ranges"])
def drawn(request):
    sa = accuracy_vs_size(study_data(make_sweep(None, "s", {"sr": (0.125, 0.25, 0.5, 0.75)}, seeds=request.param)))
    return sa, draw_accuracy_vs_size(sa)


def test_error_bars_end_at_each_points_interval(drawn):
    sa, fig = drawn
    for metric, ax in _panels(fig).items():
        pts = sa.points[sa.points[f"{metric}_lo"].notna()]
        expected = sorted(zip(pts["x"], pts[f"{metric}_lo"], pts[f"{metric}_hi"], strict=True))
        assert errorbars(ax) == approx_points(expected) and len(expected) == 4


def test_means_and_every_seed_are_drawn_at_their_own_metric(drawn):
    sa, fig = drawn
    assert not sa.seeds["top1"].equals(sa.seeds["top5"])  # else a panel drawing the other metric would pass
    for metric, ax in _panels(fig).items():
        assert marks(ax, f"seeds-{metric}") == approx_points(zip(sa.seeds["x"], sa.seeds[metric], strict=True))
        assert marks(ax, f"means-{metric}") == approx_points(zip(sa.points["x"], sa.points[f"{metric}_mean"],
                                                                 strict=True))


def test_each_panel_has_its_own_metrics_chance_line(drawn):
    sa, fig = drawn
    assert sa.chance["top1"] != sa.chance["top5"]
    for metric, ax in _panels(fig).items():
        assert horizontal_lines(ax) == [(pytest.approx(sa.chance[metric]), "--")]


def test_the_papers_points_are_drawn_where_the_paper_put_them():
    sa = accuracy_vs_size(study_data(make_sweep(None, "sr", {"sr": (0.125, 0.75)}, seeds=1)))
    fig = draw_accuracy_vs_size(sa)
    ax = panel(fig, "the paper's Figure 3(a) (ImageNet, full training)")
    ref = paper()["figure_3a_sr_sweep"]["points"]
    assert line_points(ax, "paper-top5") == sorted((float(p["size_mb"]), float(p["top5"])) for p in ref)
    labels = [(text.split("\n")[1], x, y) for text, x, y in annotations(ax)]
    assert labels == sorted((number(p["top5"], percent=True), float(p["size_mb"]), float(p["top5"])) for p in ref)


def test_points_of_equal_size_are_drawn_side_by_side_with_their_true_size_said():
    data = study_data(make_sweep(None, "b", {"bypass": ("none", "simple", "complex")}, seeds=3))
    sa = accuracy_vs_size(data)
    size = sa.points.set_index("short")["size_mb"]
    assert size["none"] == size["simple"] < size["complex"]  # the premise: two points share a size
    x = sa.points.set_index("short")["x"]
    fig = draw_accuracy_vs_size(sa)
    lo, hi = _panels(fig)["top1"].get_xlim()
    assert x["none"] != x["simple"] and abs(x["none"] - x["simple"]) < 0.05 * (hi - lo)  # apart, yet near
    assert x["complex"] == size["complex"] and (x["none"] + x["simple"]) / 2 == pytest.approx(size["none"])
    for metric, ax in _panels(fig).items():
        means = dict(marks(ax, f"means-{metric}"))
        assert set(means) == set(x)  # three means, none hiding another
        for short in ("none", "simple"):
            mine = sa.seeds[sa.seeds["short"] == short]
            assert set(mine["x"]) == {x[short]}  # each seed beside its own point's mean
            texts = [t for t, px, _ in annotations(ax) if px == x[short]]
            assert texts == [f"{short}, {number(size[short], 2)} MB"]
        assert sorted(bx for bx, _, _ in errorbars(ax)) == sorted(x)
    caption = " ".join(fig._supxlabel.get_text().split())
    assert f"none and simple share one size ({number(size['none'], 2)} MB) and are drawn side by side" in caption


def test_the_caption_says_which_steps_the_seeds_tell_apart():
    data = study_data(make_sweep(None, "s", {"sr": (0.125, 0.25, 0.5, 0.75)}, seeds=3))
    sa = accuracy_vs_size(data)
    assert sa.steps == sweep_steps(data).sentences and len(sa.steps) == 1
    caption = " ".join(draw_accuracy_vs_size(sa)._supxlabel.get_text().split())
    assert sa.steps[0] in caption


# ---------------------------------------------------------------------------------------------- a large grid
# issue 19 item 12: 216 points over three swept parameters drew a figure covered by labels, legend and caption,
# and three matplotlib warnings. The study is laid out as the sweep's runner writes it (`make_sweep`), untrained.

LARGE = {"sr": (0.125, 0.25, 0.375, 0.5, 0.75, 1.0), "pct3x3": (0.125, 0.25, 0.375, 0.5, 0.75, 0.99),
         "base_e": (16, 32, 48, 64, 96, 128)}


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """The 216-point study's figures, page and files, every warning they raise recorded."""
    import warnings

    from dse.report.study_page import study_figures, study_sections
    from dse.report.write import write_report

    data = study_data(make_sweep(None, "large", LARGE, seeds=1))
    stats = point_stats(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figures = study_figures(data, stats)
        sections = study_sections(data, stats, figures)
        out = tmp_path_factory.mktemp("large")
        write_report(data, out)  # the files: every figure saved as PNG and SVG
    (size,) = [f for f in figures if f.name == "accuracy_vs_size"]
    return data, stats, size, sections, caught, out


@pytest.mark.slow
def test_a_large_grid_reports_without_warnings(large):
    *_, caught, out = large
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []
    assert (out / "accuracy_vs_size.png").is_file()


def _labels(fig, metric):
    from dse.report.size import LABEL_GID

    ax = panel(fig, f"{metric.replace('top', 'top-')} vs size (this study)")
    return ax, [t for t in ax.texts if (t.get_gid() or "").startswith(f"{LABEL_GID}-{metric}-")]


@pytest.mark.slow
def test_a_large_grid_labels_only_where_labels_fit(large):
    from dse.report.labels import text_box

    data, stats, size, *_ = large
    fig = size.figure
    renderer = fig.canvas.get_renderer()
    for metric in METRICS:
        ax, labels = _labels(fig, metric)
        assert 0 < len(labels) < len(stats), metric  # some fit, not all 216
        boxes = [text_box(t, renderer) for t in labels]
        frame = ax.get_window_extent(renderer)
        for i, box in enumerate(boxes):
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            assert not any(box.overlaps(other) for other in boxes[i + 1:]), (metric, labels[i].get_text())
        for t in labels:  # each names every swept value of its own point
            row = stats.set_index("label").loc[t.get_gid().split("-", 2)[2]]
            assert t.get_text() == ", ".join(format_value(n, row[n]) for n in data.swept)
    assert not [line for line in panel(fig, "top-1 vs size (this study)").get_lines()
                if (line.get_gid() or "").startswith("line-")]  # 36 lines would cross unread: none joined
    legend = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert len(legend) <= 5, legend  # one entry per kind of mark, not one per line of the grid
    caption = fig.get_supxlabel()  # the figure's caption (`style.titles`)
    assert len(caption) < 1200 and "too many lines to tell apart" in caption


@pytest.mark.slow
def test_a_large_grids_unlabelled_points_are_in_a_table_under_the_figure(large):
    from dse.report.page import FigureBlock, Table

    data, stats, size, sections, *_ = large
    fig = size.figure
    labelled = {m: {t.get_gid().split("-", 2)[2] for t in _labels(fig, m)[1]} for m in METRICS}
    at = next(i for i, b in enumerate(sections) if isinstance(b, FigureBlock) and b.figure is size)
    table = sections[at + 2]  # the note saying what follows, then the table
    assert isinstance(table, Table) and table.name == "unlabelled"
    listed = {", ".join(f"{n}={c}" for n, c in zip(data.swept, row, strict=False)): row[-1] for row in table.rows}
    for label in stats["label"]:
        missing = [m for m in METRICS if label not in labelled[m]]
        if missing:
            assert listed.pop(label) == " and ".join(m.replace("top", "top-") for m in missing) + " panel"
    assert listed == {}  # only points that lack a label
