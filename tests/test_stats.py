"""`dse.stats`: Student's t and the interval each number of seeds allows (clipped, named once), chance level and its
warnings, seed spread, and the one Pareto rule (`pareto_mask`: non-dominance with ties and NaN, on random cases)."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from dse.stats import (
    STAT_DESCRIPTION,
    busy_warning,
    chance_level,
    chance_warnings,
    few_steps_warning,
    format_stat,
    interval_name,
    mean_interval,
    pareto_mask,
    relative_spread,
    seed_spread,
    seed_stat,
    steps_per_epoch,
    t_quantile,
    two_seed_t_width,
)


def _reference(maximize, *minimize) -> list[bool]:
    """Non-dominance written out as its definition, one comparison at a time (NaN compares false)."""
    points = [(-a, *m) for a, *m in zip(maximize, *minimize, strict=True)]
    return [not any(all(q <= p for p, q in zip(mine, other, strict=True))
                    and any(q < p for p, q in zip(mine, other, strict=True)) for other in points)
            for mine in points]


def _cases(objectives: int, n_cases: int = 400):
    rng = random.Random(22)
    for _ in range(n_cases):
        n = rng.randint(0, 12)
        # few distinct values, so ties on one objective and whole duplicate points are common; some NaN
        columns = [[rng.choice((math.nan, *range(4))) if rng.random() < 0.1 else float(rng.randint(0, 3))
                    for _ in range(n)] for _ in range(objectives)]
        yield columns


@pytest.mark.parametrize("objectives", [2, 3])
def test_pareto_mask_agrees_with_the_definition_on_random_cases(objectives):
    for columns in _cases(objectives):
        assert pareto_mask(*columns) == _reference(*columns), columns


def test_pareto_mask_ties_nan_and_empty():
    assert pareto_mask([80, 80], [1.0, 1.0]) == [True, True]  # equal points: neither dominates
    assert pareto_mask([80, 70], [1.0, 1.0]) == [True, False]
    assert pareto_mask([80, math.nan, 70], [1.0, 0.5, 2.0]) == [True, True, False]
    assert pareto_mask([], []) == [] and pareto_mask([], [], []) == []


T975 = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 9: 2.2622, 30: 2.0423, 1000: 1.9623}


@pytest.mark.parametrize("df, value", sorted(T975.items()))
def test_t_quantile_matches_the_table(df, value):
    assert t_quantile(0.975, df) == pytest.approx(value, abs=1e-4)


def test_mean_interval():
    mean, sd, lo, hi = mean_interval([1.0, 2.0, 3.0])
    half = 4.302653 / math.sqrt(3)
    assert (mean, sd) == (2.0, 1.0)
    assert (lo, hi) == (pytest.approx(2 - half, abs=1e-5), pytest.approx(2 + half, abs=1e-5))
    one = mean_interval([5.0])
    assert one[0] == 5.0 and all(math.isnan(v) for v in one[1:])
    assert all(math.isnan(v) for v in mean_interval([]))


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


def test_few_steps_warning_names_a_batch_size_that_gives_enough_steps():
    one = few_steps_warning(4500, 512)
    assert one.startswith("An epoch is only 8 optimizer steps (4500 training images, batch size 512; fewer than 20)")
    assert "the network has barely started to learn (--batch-size 128 gives 35 steps an epoch)." in one
    assert "ranking" in few_steps_warning(4500, 512, compared=True)  # several points: what it does to them
    assert few_steps_warning(4500, 128) is None and few_steps_warning(None, 512) is None
    assert few_steps_warning(100, 256).endswith("barely started to learn.")  # no batch size gives 20: no hint
    assert chance_warnings([("a", 80.0), ("b", 70.0)], 10, train_images=4500, batch_size=512) == [
        few_steps_warning(4500, 512, compared=True)]


def test_seed_spread_pooled_within_and_between():
    spread = seed_spread([[1.0, 3.0], [10.0, 12.0, 14.0], [5.0]])
    within = math.sqrt((2.0 + 8.0) / (1 + 2))
    assert spread.within_sd == pytest.approx(within) and spread.n_pooled == 2 and spread.n_points == 3
    assert spread.between_sd == pytest.approx(statistics.stdev([2.0, 12.0, 5.0]))
    assert not spread.seeds_dominate and "the point means spread more than the seeds" in spread.sentence()
    assert "not each step between points" in spread.sentence()  # never read as: every step is real
    noisy = seed_spread([[10.0, 30.0], [12.0, 28.0]])
    assert noisy.seeds_dominate and "differ no more than seed noise" in noisy.sentence()


def test_the_two_seed_interval_is_described_by_its_real_width():
    """t(0.975, 1) = 12.706 multiplies the standard error sd / sqrt(2): the full width is 2 x 12.706 / sqrt(2)
    = 17.97 sample sds, not 12.7."""
    half, width = two_seed_t_width()
    assert half == pytest.approx(12.7062, abs=1e-4) and width == pytest.approx(17.9693, abs=1e-4)
    lo, hi = mean_interval([0.0, 1.0])[2:]  # sd of [0, 1] is 1/sqrt(2): the width in sds is (hi - lo) * sqrt(2)
    assert (hi - lo) * math.sqrt(2) == pytest.approx(width)
    assert "12.7 standard errors either side of the mean, 18.0 sample standard deviations" in STAT_DESCRIPTION


def test_front_mask_over_three_objectives():
    # (acc max, size min, latency min): the last is beaten on all three by the first
    assert pareto_mask([80, 70, 75], [1.0, 2.0, 1.5], [5.0, 1.0, 6.0]) == [True, True, False]
    assert pareto_mask([], [], []) == []


def test_a_timing_spread_says_when_the_machine_was_busy():
    assert relative_spread(2.0, 1.9, 2.3) == pytest.approx(0.2)
    assert math.isnan(relative_spread(2.0, None, 2.3)) and math.isnan(relative_spread(0.0, 1.0, 2.0))
    assert busy_warning([0.05, 0.2, math.nan]) == ""
    text = busy_warning([0.05, 0.3, 0.9, math.nan])
    assert text.startswith("The machine was busy while the latencies were measured: in 2 of 3 measurements")
    assert "more than 25% of their median (widest: 90%)" in text
