"""dse.train.bench.compare: several ways of running one step, measured in alternating rounds."""

import statistics

import pytest

from dse.data import load_dataset
from dse.space import DesignPoint
from dse.train.bench import Variant, compare

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
