"""Heat maps over two swept parameters, and small multiples over the others."""

from __future__ import annotations

import math

import pytest

from dse.report.frame import study_data
from dse.report.grid import draw_grid, grid_panels
from dse.report.points import point_stats

from .studies import assert_draws, make_sweep


def test_grid_panels_and_small_multiples():
    data = study_data(make_sweep(None, "g", {"sr": (0.25, 0.5), "pct3x3": (0.25, 0.5, 0.75)}, seeds=1,
                                 fail={(0.5, 0.75, 0)}))
    (panel,) = grid_panels(data)
    assert (panel.x, panel.y) == ("sr", "pct3x3") and panel.top1.shape == (3, 2)
    stats = point_stats(data)
    row = stats[(stats["sr"] == 0.25) & (stats["pct3x3"] == 0.5)].iloc[0]
    assert panel.top1[1, 0] == pytest.approx(row["top1_mean"])
    assert math.isnan(panel.top1[2, 1]) and panel.status[2, 1] == "failed"
    three = study_data(make_sweep(None, "g3", {"sr": (0.25, 0.5), "pct3x3": (0.25, 0.5), "bypass": ("none", "simple")},
                                  seeds=1))
    panels = grid_panels(three)
    assert [p.title for p in panels] == ["bypass=none", "bypass=simple"]
    assert grid_panels(study_data(make_sweep(None, "s", {"sr": (0.25, 0.5)}, seeds=1))) == []


def test_grid_draws():
    data = study_data(make_sweep(None, "g", {"sr": (0.125, 0.5, 1.0), "pct3x3": (0.25, 0.75)}, seeds=2))
    assert_draws(draw_grid(grid_panels(data, point_stats(data)), "t", "b"))
