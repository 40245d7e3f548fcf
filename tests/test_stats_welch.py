"""dse.stats.welch against the worked example of Welch's t-test (Wikipedia, 'Welch's t-test', example 1:
t = -2.46, df = 24.99, p = 0.021) and its edge cases."""

import math
import statistics

import pytest

from dse.stats import welch

A1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
A2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]


def test_the_textbook_example():
    w = welch(A1, A2)
    assert w.t == pytest.approx(-2.46, abs=0.005) and w.df == pytest.approx(24.99, abs=0.005)
    assert w.p == pytest.approx(0.021, abs=0.0005) and w.differs(0.05) and not w.differs(0.01)
    assert w.diff == pytest.approx(statistics.mean(A1) - statistics.mean(A2))


def test_symmetric_and_unequal_sizes():
    a, b = [70.1, 70.5, 69.8, 70.9], [71.0, 71.4, 70.2]
    ab, ba = welch(a, b), welch(b, a)
    assert ab.t == pytest.approx(-ba.t) and ab.p == pytest.approx(ba.p) and ab.df == pytest.approx(ba.df)
    se = math.sqrt(statistics.variance(a) / 4 + statistics.variance(b) / 3)
    assert ab.t == pytest.approx((statistics.mean(a) - statistics.mean(b)) / se)


def test_too_few_values_say_nothing():
    assert math.isnan(welch([1.0], [2.0, 3.0]).p) and welch([1.0], [2.0, 3.0]).diff == -1.5
    assert math.isnan(welch([], [2.0, 3.0]).diff) and not welch([1.0], [2.0, 3.0]).differs()
    assert math.isnan(welch([1.0, float("nan")], [2.0, 3.0]).p)  # NaN values are dropped, leaving one


def test_no_spread_at_all():
    assert welch([1.0, 1.0], [2.0, 2.0]).p == 0.0 and welch([1.0, 1.0], [1.0, 1.0]).p == 1.0
