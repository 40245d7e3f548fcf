"""dse.train.bench.compare: several ways of running one step, measured in alternating rounds."""

import statistics

import pytest

from dse.data import load_dataset
from dse.space import DesignPoint
from dse.train.bench import TrialImages, TrialSpeed, Variant, compare, trial_images, trial_seconds, trial_speed

TINY = DesignPoint(base_e=16, incr_e=16).for_data(10, 3, 32)


@pytest.fixture(scope="module")
def small():
    return load_dataset("synthetic", subset=256)


@pytest.mark.slow  # times every variant in every round
def test_compare_measures_each_variant_every_round_and_reports_its_median(small):
    variants = [Variant("fp32", "eager"), Variant("bf16", "eager"), Variant("fp32", "graph")]
    order = []
    rows = compare(TINY, variants, small, rounds=3, device="cpu", batch_size=32, steps=2, warmup_steps=1,
                   on_round=lambda r, v: order.append((r, v)))
    assert order == [(r, v) for r in (1, 2, 3) for v in variants]  # alternating: v1 v2 v3, v1 v2 v3, ...
    assert [row.variant for row in rows] == variants
    assert [row.result.dtype for row in rows] == ["fp32", "bf16", "fp32"]
    assert [row.result.step for row in rows] == ["eager", "eager", "static"]  # graph uncaptured on a CPU
    for row in rows:
        assert len(row.rounds) == 3 and row.result.images_per_second == statistics.median_low(row.rounds)
    assert rows[0].ratio == 1.0
    assert rows[1].ratio == pytest.approx(rows[1].result.images_per_second / rows[0].result.images_per_second)


def test_compare_needs_a_variant(small):
    with pytest.raises(ValueError):
        compare(TINY, [], small, device="cpu")


def test_a_trial_is_counted_as_every_pass_it_makes():
    from dse.train import latency

    kept = trial_images(4, train=45_000, val=5_000, test=10_000, keeps_weights=True)
    timed = (latency.RUNS + latency.WARMUP) * (1 + latency.BATCH)
    assert kept == TrialImages(train=180_000, evaluate=60_000, evaluate_fp32=timed + 10_000)  # val checked twice
    assert trial_images(1, 900, 0, 1000, False).evaluate_fp32 == timed  # no weights: the latency runs alone
    assert trial_images(1, 900, 0, 1000, True).evaluate_fp32 == timed + 2000  # no validation: test chooses
    speed = TrialSpeed(train=100.0, evaluate=400.0, evaluate_fp32=200.0, cold_seconds=3.0)
    assert trial_seconds(speed, TrialImages(1000, 2000, 400)) == pytest.approx(10 + 5 + 2 + 3)


def test_the_speed_test_times_training_and_both_evaluations_under_the_threads_asked_for():
    import torch

    from dse.train.recipe import recipe_for

    before = torch.get_num_threads()
    recipe = recipe_for(TINY).replace(batch_size=16, precision="bf16")
    speed = trial_speed(TINY, recipe, device="cpu", threads=1, steps=1, warmup_steps=1, eval_batch_size=16)
    assert torch.get_num_threads() == before  # the caller's count restored
    assert speed.train > 0 and speed.evaluate > 0 and speed.evaluate_fp32 > 0 and speed.cold_seconds >= 0
    fp32 = trial_speed(TINY, recipe.replace(precision="fp32"), device="cpu", threads=1, steps=1, warmup_steps=1,
                       eval_batch_size=16)
    assert fp32.evaluate_fp32 == fp32.evaluate  # one kind of evaluation pass: timed once
