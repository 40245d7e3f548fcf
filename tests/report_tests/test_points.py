"""The per-point table: seeds pooled, failures and unfinished points kept as such (never a 0), one naming of intervals;
studies of one trial or only failures."""

from __future__ import annotations

import math
import statistics

import pytest

from dse.plan import cost
from dse.report.curves import learning_curves
from dse.report.edf import error_edf
from dse.report.frame import study_data
from dse.report.importance import param_importance
from dse.report.pareto import pareto_front
from dse.report.points import point_stats
from dse.report.size import accuracy_vs_size
from dse.stats import INTERVAL_NAMES, interval_name

from .studies import BASE, make_sweep


def test_point_stats_pool_seeds_and_skip_failures(sr):
    stats = point_stats(sr).set_index("short")
    assert list(stats.index) == ["0.125", "0.25", "0.375", "0.5", "0.625", "0.75", "0.875", "1.0"]  # grid order
    f = sr.frame
    for short, value in (("0.125", 0.125), ("0.75", 0.75)):
        tops = f[(f["sr"] == value) & (f["state"] == "COMPLETE")]["top1"].tolist()
        row = stats.loc[short]
        assert row["n"] == 2 and row["status"] == "complete"
        assert row["top1_mean"] == pytest.approx(statistics.mean(tops))
        # two seeds: the min-max range, never a 12.7-sd-wide t-interval
        assert row["top1_interval"] == "range" and not row["top1_clipped"]
        assert (row["top1_lo"], row["top1_hi"]) == (pytest.approx(min(tops)), pytest.approx(max(tops)))
    half_done = stats.loc["0.5"]  # seed 1 diverged: one seed, no interval, never a 0
    assert half_done["n"] == 1 and half_done["n_failed"] == 1 and half_done["status"] == "partial"
    assert math.isnan(half_done["top1_hi"]) and half_done["top1_mean"] > 50
    running = stats.loc["0.875"]
    assert running["status"] == "running" and running["n_running"] == 1 and running["n_waiting"] == 1
    assert math.isnan(running["top1_mean"])
    missing = stats.loc["1.0"]
    assert missing["status"] == "missing" and missing["trials"] == 0
    assert missing["size_mb"] == pytest.approx(cost(BASE.replace(sr=1.0)).size_mb)  # sized though never run


def test_one_trial_study():
    data = study_data(make_sweep(None, "one", {"sr": (0.5,)}, seeds=1))
    stats = point_stats(data)
    assert len(stats) == 1 and stats.loc[0, "n"] == 1 and stats.loc[0, "status"] == "complete"
    assert math.isnan(stats.loc[0, "top1_hi"])
    assert len(accuracy_vs_size(data).points) == 1
    assert len(learning_curves(data).lines) == 4
    assert param_importance(data) is None
    assert error_edf([data]).curves["fraction"].tolist() == [1.0]


def test_all_failed_study_has_no_numbers():
    data = study_data(make_sweep(None, "bad", {"sr": (0.25, 0.5)}, seeds=1, fail={(0.25, 0), (0.5, 0)}))
    stats = point_stats(data)
    assert (stats["status"] == "failed").all() and stats["top1_mean"].isna().all()
    assert len(pareto_front(data).points) == 0 and len(error_edf([data]).curves) == 0


def test_points_csv_and_tables_use_the_same_names():
    data = study_data(make_sweep(None, "s", {"sr": (0.25, 0.5)}, seeds=3))
    stats = point_stats(data)
    assert set(stats["top1_interval"]) == {"t95"} and interval_name("t95") == INTERVAL_NAMES["t95"]
    sa = accuracy_vs_size(data)
    assert "95% t-interval of the mean" in sa.intervals["top1"]
