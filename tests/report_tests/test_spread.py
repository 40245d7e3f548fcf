"""Seed noise against differences between design points, for a sweep with several seeds."""

from __future__ import annotations

from dse.report.frame import study_data
from dse.report.spread import point_spread

from .studies import make_sweep


def test_point_spread_of_a_sweep():
    data = study_data(make_sweep(None, "s", {"sr": (0.125, 0.5, 1.0)}, seeds=3))
    spread = point_spread(data)
    assert spread is not None and spread.n_points == 3 and spread.n_pooled == 3
    assert point_spread(study_data(make_sweep(None, "one", {"sr": (0.25, 0.5)}, seeds=1))) is None
