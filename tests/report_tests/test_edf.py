"""Error EDFs: one curve per study over its design points, failures left out, best chosen on validation."""

from __future__ import annotations

import pytest

from dse.report.edf import draw_edf, edf_value, error_edf
from dse.report.frame import study_data

from .studies import SR_VALUES, assert_draws, make_sweep, two_objective, val_sweep


def test_error_edf_values():
    a = two_objective([(80, 1), (70, 2), (60, 3), (90, 4)])
    b = two_objective([(75, 1), (65, 2)])
    b.name = "b"
    a.name = "a"
    edf = error_edf([a, b])
    curve_a = edf.curves[edf.curves["study"] == "a"]
    assert curve_a["error"].tolist() == pytest.approx([10, 20, 30, 40])
    assert curve_a["fraction"].tolist() == [0.25, 0.5, 0.75, 1.0]
    assert edf_value(edf, "a", 25) == 0.5 and edf_value(edf, "b", 25) == 0.5 and edf_value(edf, "b", 24) == 0.0
    summary = edf.summary.set_index("study")
    assert summary.loc["a", "n"] == 4 and summary.loc["a", "best"] == pytest.approx(10)
    assert summary.loc["b", "median"] == pytest.approx(30)


def test_edf_leaves_out_failed_points(sr):
    edf = error_edf([sr])
    assert len(edf.curves) == 6  # 8 points, two without a result


def test_edf_best_is_the_validation_choice_reported_on_test():
    data = val_sweep([(0.25, 0, 70.0, 60.0), (0.5, 0, 65.0, 80.0), (0.75, 0, 50.0, 85.0)])
    summary = error_edf([data]).summary.iloc[0]
    assert summary["chosen_on"] == "validation" and summary["best"] == pytest.approx(40.0)  # sr 0.25's test error
    old = error_edf([two_objective([(80, 1), (90, 2)])]).summary.iloc[0]
    assert old["chosen_on"] == "test" and old["best"] == pytest.approx(10.0)


def test_edf_draws():
    data = study_data(make_sweep(None, "s", {"sr": SR_VALUES[:4]}, seeds=3))
    assert_draws(draw_edf(error_edf([data]), "t"))
