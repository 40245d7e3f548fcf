"""Parameter importance only where it answers a question: enough trials and two design parameters that vary."""

from __future__ import annotations

import pytest

from dse.report.frame import study_data
from dse.report.importance import draw_importance, param_importance

from .studies import assert_draws, make_sweep


def test_importance_needs_trials_and_varying_params():
    grid = study_data(make_sweep(None, "g", {"sr": (0.125, 0.5, 1.0), "pct3x3": (0.25, 0.75)}, seeds=2))
    imp = param_importance(grid)
    assert imp is not None and set(imp.values["param"]) <= {"sr", "pct3x3", "seed"}
    assert imp.values["importance"].sum() == pytest.approx(1.0)
    assert param_importance(study_data(make_sweep(None, "few", {"sr": (0.25, 0.5)}, seeds=2))) is None


def test_no_importance_for_a_one_parameter_sweep_even_with_seeds():
    data = study_data(make_sweep(None, "s", {"sr": (0.125, 0.25, 0.5, 0.75, 1.0)}, seeds=3))
    assert param_importance(data) is None  # sr and seed vary, but only one design parameter


def test_importance_draws():
    data = study_data(make_sweep(None, "g", {"sr": (0.125, 0.5, 1.0), "pct3x3": (0.25, 0.75)}, seeds=2))
    assert_draws(draw_importance(param_importance(data), "t", "b", "spread"))
