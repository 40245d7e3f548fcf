"""dse.fmt.number: decimal half-up rounding, as a reader rounds, whatever the binary float holds."""

from __future__ import annotations

import math
import statistics
from decimal import Decimal

import numpy as np
import pytest

from dse.fmt import MISSING, number


@pytest.mark.parametrize("value, digits, text", [
    (27.85, 1, "27.9"),  # stored just above 27.85
    (31.65, 1, "31.7"),  # stored just below 31.65: f"{31.65:.1f}" gives 31.6
    (28.25, 1, "28.3"),  # exact in binary: f"{28.25:.1f}" rounds half to even, 28.2
    (0.125, 2, "0.13"),
    (2.5, 0, "3"),
    (-2.5, 0, "-3"),  # half away from zero, symmetric
    (-0.04, 1, "0.0"),  # no negative zero
    (1.0, 2, "1.00"),
    (12.706, 1, "12.7"),
])
def test_half_up_to_fixed_decimals(value, digits, text):
    assert number(value, digits) == text


def test_computed_means_are_rounded_as_their_decimal_value():
    mean = statistics.mean([32.5, 31.05, 31.4])  # 31.65, computed as 31.649999999999995
    assert f"{mean:.1f}" == "31.6" and number(mean) == "31.7"
    assert number(sum([26.5, 27.85, 27.3]) / 3, 2) == "27.22"


@pytest.mark.parametrize("value, digits, text", [
    (0.725, 2, "0.73"),
    (1.925, 2, "1.9"),
    (19.0, 6, "19"),
    (4.8, 6, "4.8"),
    (0.01 * 100, 3, "1"),
    (0.29 * 100, 3, "29"),  # 28.999999999999996
    (9.996, 3, "10"),
    (123456.0, 3, "123000"),
    (0.000125, 2, "0.00013"),
    (0.0, 3, "0"),
])
def test_significant_digits(value, digits, text):
    assert number(value, digits, significant=True) == text


def test_options_and_missing_values():
    assert number(1248424, 0, thousands=True) == "1,248,424"
    assert number(35.333, 1, percent=True) == "35.3%"
    assert number(4.35, 1, sign=True) == "+4.4" and number(-4.35, 1, sign=True) == "-4.4"
    assert number(0.0, 1, sign=True) == "0.0"
    assert number(np.float32(2.5), 0) == "3" and number(np.int64(7), 0) == "7" and number(Decimal("0.05"), 1) == "0.1"
    for nothing in (None, math.nan, np.nan, "x", float("nan")):
        assert number(nothing) == MISSING
    assert number(None, missing="?") == "?"
    assert number(math.inf) == "inf" and number(-math.inf, percent=True) == "-inf%"
    with pytest.raises(ValueError):
        number(1.0, -1)
    with pytest.raises(ValueError):
        number(1.0, 0, significant=True)
