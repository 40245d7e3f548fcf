"""Intervals by seed count, clipping, one naming, chance warnings, seed spread, and choosing by validation."""

from __future__ import annotations

import math
import statistics

import pytest
from optuna.trial import TrialState, create_trial

from dse.report.figures import (
    accuracy_vs_size,
    dataset_label,
    param_importance,
    pareto_front,
    point_spread,
    point_stats,
    selection,
    study_warnings,
)
from dse.report.frame import study_data
from dse.stats import (
    INTERVAL_NAMES,
    chance_level,
    chance_warnings,
    format_stat,
    interval_name,
    seed_spread,
    seed_stat,
    steps_per_epoch,
    t_quantile,
)

from .studies import DISTRIBUTIONS, make_search, make_sweep


def test_one_seed_has_no_interval():
    s = seed_stat([30.0])
    assert (s.n, s.mean, s.kind) == (1, 30.0, "single") and math.isnan(s.lo) and math.isnan(s.hi)
    assert format_stat(s.mean, s.lo, s.hi, s.kind) == "30.0 (1 seed)"
    assert seed_stat([]).kind == "none" and math.isnan(seed_stat([None, math.nan]).mean)


def test_two_seeds_give_the_range_not_a_t_interval():
    s = seed_stat([28.0, 33.2])
    assert s.kind == "range" and (s.lo, s.hi) == (28.0, 33.2) and s.mean == pytest.approx(30.6)
    assert interval_name(s.kind) == "min-max range of the seeds"
    assert format_stat(s.mean, s.lo, s.hi, s.kind, s.clipped) == "30.6 [28.0, 33.2] range"


def test_three_seeds_give_the_95_t_interval():
    values = [20.0, 25.0, 33.0]
    s = seed_stat(values)
    half = 4.302653 * statistics.stdev(values) / math.sqrt(3)
    assert s.kind == "t95" and s.name == "95% t-interval of the mean" and not s.clipped
    assert (s.lo, s.hi) == (pytest.approx(s.mean - half, abs=1e-5), pytest.approx(s.mean + half, abs=1e-5))
    assert t_quantile(0.975, 2) == pytest.approx(4.3027, abs=1e-4)


def test_intervals_are_clipped_to_the_metric_range_and_say_so():
    high = seed_stat([99.0, 60.0, 98.0])  # the t-interval passes 100%
    assert high.clipped and high.hi == 100.0 and high.lo > 0
    assert format_stat(high.mean, high.lo, high.hi, high.kind, high.clipped).endswith("100.0] clipped")
    low = seed_stat([1.0, 30.0, 2.0])
    assert low.clipped and low.lo == 0.0
    assert not seed_stat([50.0, 51.0, 52.0]).clipped
    raw = seed_stat([99.0, 60.0, 98.0], bounds=None)
    assert raw.hi > 100 and not raw.clipped


def test_points_csv_and_tables_use_the_same_names():
    data = study_data(make_sweep(None, "s", {"sr": (0.25, 0.5)}, seeds=3))
    stats = point_stats(data)
    assert set(stats["top1_interval"]) == {"t95"} and interval_name("t95") == INTERVAL_NAMES["t95"]
    sa = accuracy_vs_size(data)
    assert "95% t-interval of the mean" in sa.intervals["top1"]


def test_chance_level_and_steps():
    assert chance_level(10) == 10.0 and chance_level(10, 5) == 50.0 and chance_level(3, 5) == 100.0
    assert steps_per_epoch(4000, 128) == 31 and steps_per_epoch(100, 256) == 1 and steps_per_epoch(0, 8) == 0


def test_chance_warnings():
    assert chance_warnings([("a", 40.0), ("b", 60.0)], 10, train_images=4000, batch_size=128) == []
    near = chance_warnings([("sr=0.125", 12.0), ("sr=0.25", 40.0), ("sr=0.5", 14.9)], 10)
    assert len(near) == 1 and "2 points are within 5 points of chance (10.0%" in near[0]
    assert "sr=0.125 (12.0%)" in near[0] and "sr=0.25" not in near[0]
    few = chance_warnings([("a", 80.0)], 10, train_images=600, batch_size=128)
    assert len(few) == 1 and "only 4 optimizer steps" in few[0]
    assert chance_warnings([("a", 11.0)], None, train_images=None, batch_size=128) == []


def test_study_warnings_read_the_definition():
    low = study_data(make_sweep(None, "low", {"sr": (0.25, 0.5)}, seeds=1, shift=-60.0))
    (warning,) = study_warnings(low)
    assert "chance" in warning
    sa = accuracy_vs_size(low)
    assert sa.warnings == (warning,) and sa.chance["top1"] == 10.0
    ok = study_data(make_sweep(None, "ok", {"sr": (0.25, 0.5)}, seeds=1))
    assert study_warnings(ok) == []
    small = study_data(make_sweep(None, "few", {"sr": (0.25, 0.5)}, seeds=1))
    small.spec["subset"] = 1000  # 1000 // 256 = 3 steps an epoch
    assert any("only 3 optimizer steps" in w for w in study_warnings(small))


def test_seed_spread_pooled_within_and_between():
    spread = seed_spread([[1.0, 3.0], [10.0, 12.0, 14.0], [5.0]])
    within = math.sqrt((2.0 + 8.0) / (1 + 2))
    assert spread.within_sd == pytest.approx(within) and spread.n_pooled == 2 and spread.n_points == 3
    assert spread.between_sd == pytest.approx(statistics.stdev([2.0, 12.0, 5.0]))
    assert not spread.seeds_dominate and "larger than the seed-to-seed noise" in spread.sentence()
    noisy = seed_spread([[10.0, 30.0], [12.0, 28.0]])
    assert noisy.seeds_dominate and "not told apart" in noisy.sentence()


def test_point_spread_of_a_sweep():
    data = study_data(make_sweep(None, "s", {"sr": (0.125, 0.5, 1.0)}, seeds=3))
    spread = point_spread(data)
    assert spread is not None and spread.n_points == 3 and spread.n_pooled == 3
    assert point_spread(study_data(make_sweep(None, "one", {"sr": (0.25, 0.5)}, seeds=1))) is None


def test_no_importance_for_a_one_parameter_sweep_even_with_seeds():
    data = study_data(make_sweep(None, "s", {"sr": (0.125, 0.25, 0.5, 0.75, 1.0)}, seeds=3))
    assert param_importance(data) is None  # sr and seed vary, but only one design parameter


def test_dataset_labels_in_plain_words():
    assert dataset_label("folder:data/cifar10-jpeg") == "CIFAR-10 (JPEG folder)"
    assert dataset_label("folder:/x/flowers/") == "folder flowers"
    assert dataset_label("fashion-mnist") == "Fashion-MNIST"


def _with_val(test_and_val):
    """A two-objective study whose trials carry val_top1: (test top-1, val top-1, size)."""
    import optuna

    study = optuna.create_study(directions=["maximize", "minimize"])
    for i, (test, val, size) in enumerate(test_and_val):
        study.add_trial(create_trial(state=TrialState.COMPLETE, values=[val, size], params={"base_e": 16 + i},
                                     distributions={"base_e": DISTRIBUTIONS["base_e"]},
                                     user_attrs={"top1": test, "val_top1": val, "size_mb": size}))
    return study_data(study)


def test_the_front_is_chosen_on_validation_and_reports_test():
    # point 1 is best on test but worst on validation: the test split must not put it on the front
    data = _with_val([(60.0, 70.0, 1.0), (90.0, 50.0, 1.0), (65.0, 75.0, 2.0)])
    stats = point_stats(data)
    chosen = selection(stats)
    assert chosen.split == "validation" and chosen.column == "val_top1_mean" and "validation" in chosen.text
    pareto = pareto_front(data, stats)
    assert sorted(pareto.front["base_e"]) == [16, 18]
    assert pareto.front["top1_mean"].tolist() == [60.0, 65.0]  # reported: test


def test_old_studies_without_validation_fall_back_to_test_and_say_so():
    data = study_data(make_search(None, n=8))
    chosen = selection(point_stats(data))
    assert chosen.split == "test" and "no validation split" in chosen.text
    assert len(pareto_front(data).front) >= 1


def test_summary_and_html_carry_the_warnings_the_split_and_the_spread(tmp_path):
    from dse.report.write import write_report

    data = study_data(make_sweep(None, "low", {"sr": (0.25, 0.5, 1.0)}, seeds=2, shift=-62.0))
    write_report(data, tmp_path)
    md = (tmp_path / "summary.md").read_text()
    html = (tmp_path / "index.html").read_text()
    for text in (md, html):
        assert "WARNING: " in text and "within 5 points of chance" in text
        assert "no validation split" in text and "Seed noise against differences between points" in text
        assert "[" in text and " range" in text  # two seeds: ranges, named as such
    assert "test top-1 % (mean [interval])" in md
    import pandas as pd

    points = pd.read_csv(tmp_path / "points.csv")
    assert set(points["top1_interval"]) == {"min-max range of the seeds"}
    assert not (tmp_path / "importance.png").exists()  # a 1-D sweep asks no importance question
