"""Learning curves: seeds averaged per epoch, failed trials left out, validation beside test, and a colour per point."""

from __future__ import annotations

import pytest

from dse.report.curves import CURVE_TITLES, draw_learning_curves, learning_curves
from dse.report.frame import study_data

from .studies import SR_VALUES, assert_draws, make_sweep, val_sweep


def test_learning_curves_average_seeds_and_drop_failures(sr):
    curves = learning_curves(sr).lines
    first = curves[curves["short"] == "0.125"]
    assert first["epoch"].tolist() == [1, 2, 3, 4] and (first["n"] == 2).all()
    finals = sr.frame[(sr.frame["sr"] == 0.125)]["top1"]
    assert first["mean"].iloc[-1] == pytest.approx(finals.mean())
    assert first["lo"].iloc[-1] == pytest.approx(finals.min()) and first["hi"].iloc[-1] == pytest.approx(finals.max())
    half = curves[curves["short"] == "0.5"]
    assert (half["n"] == 1).all()  # the diverged seed's epochs are not averaged in
    assert curves[curves["short"] == "0.875"]["running"].all()


def test_learning_curves_name_validation_and_test():
    data = val_sweep([(0.25, 0, 70.0, 60.0), (0.5, 0, 65.0, 80.0)])
    curves = learning_curves(data)
    assert curves.splits == ["validation", "test"]
    lines = curves.lines.set_index(["split", "short", "epoch"])["mean"]
    assert lines["validation", "0.25", 2] == 70.0 and lines["test", "0.25", 2] == 60.0
    assert lines["validation", "0.5", 1] == 60.0 and lines["test", "0.5", 1] == 75.0
    old = learning_curves(study_data(make_sweep(None, "old", {"sr": (0.25, 0.5)}, seeds=1)))
    assert old.splits == ["test"]  # a study from before the split: its curves are test, and say so


def test_learning_curves_draw_validation_beside_test():
    curves = learning_curves(val_sweep([(0.25, 0, 70.0, 60.0), (0.5, 0, 65.0, 80.0)]))
    fig = draw_learning_curves(curves, "t")
    fig.canvas.draw()
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == [CURVE_TITLES["validation"], CURVE_TITLES["test"]]
    # each panel plots its own split's means: the validation panel ends at 70 for sr 0.25, the test panel at 60
    finals = [sorted(line.get_ydata()[-1] for line in ax.lines if not line.get_label().startswith("chance"))
              for ax in panels]
    assert finals == [[65.0, 70.0], [60.0, 80.0]]
    assert "Left: validation top-1" in fig._supxlabel.get_text()


def test_learning_curves_of_variants_that_share_a_size_get_their_own_colours():
    """Vanilla and simple bypass have the same size: coloured by size they would be one colour, two lines a
    reader cannot tell apart."""
    from matplotlib.colors import to_hex

    three = study_data(make_sweep(None, "bypass3", {"bypass": ("none", "simple", "complex")}, seeds=3))

    curves = learning_curves(three)
    sizes = curves.lines.groupby("label")["size_mb"].first()
    assert sizes.nunique() < len(sizes)  # the case in point: none and simple share their size
    fig = draw_learning_curves(curves, "t")
    colours = {}
    for line in fig.axes[0].get_lines():
        if not line.get_label().startswith("_") and "chance" not in line.get_label():
            colours[line.get_label()] = to_hex(line.get_color())
    assert len(colours) == 3 and len(set(colours.values())) == 3, colours


def test_learning_curves_draw():
    data = study_data(make_sweep(None, "s", {"sr": SR_VALUES[:4]}, seeds=3))
    assert_draws(draw_learning_curves(learning_curves(data), "t"))
