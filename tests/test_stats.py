"""The one Pareto rule (`dse.stats.pareto_mask`): non-dominance with ties and NaN, checked on random cases."""

from __future__ import annotations

import math
import random

import pytest

from dse.stats import pareto_mask


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
