"""Which neighbouring points the seeds tell apart: Welch's t-test on each step at the 5% level, the runs of steps
in words, the ends of a flat run tested too, variants compared as variants, and the section on the page."""

from __future__ import annotations

import pytest

from dse.fmt import number
from dse.report.page import markdown
from dse.report.points import point_stats
from dse.report.steps import DOWN, FLAT, UNTESTED, UP, steps_section, sweep_steps
from dse.stats import welch

from .studies import explicit_sweep, make_search

RISE_THEN_FLAT = {(0.5,): [60.0, 61.0, 62.0], (0.25,): [50.0, 51.0, 52.0], (0.75,): [60.5, 61.5, 59.5],
                  (1.0,): [61.0, 60.0, 62.0]}  # grid listed out of order: steps run in the values' order


def _p(a, b) -> str:
    p = welch(b, a).p
    return "p < 0.001" if p < 0.001 else f"p = {number(p, 2, significant=True)}"


def test_each_step_is_welchs_test_on_the_neighbours_seeds():
    data = explicit_sweep(RISE_THEN_FLAT)
    steps = sweep_steps(data)
    order = [0.25, 0.5, 0.75, 1.0]
    assert list(steps.steps["from"]) == ["0.25", "0.5", "0.75"] and list(steps.steps["to"]) == ["0.5", "0.75", "1.0"]
    for row, a, b in zip(steps.steps.to_dict("records"), order, order[1:], strict=False):
        test = welch(RISE_THEN_FLAT[(b,)], RISE_THEN_FLAT[(a,)])
        assert (row["diff"], row["t"], row["df"], row["p"]) == pytest.approx((test.diff, test.t, test.df, test.p))
    assert list(steps.steps["verdict"]) == [UP, FLAT, FLAT]


def test_a_rise_then_a_flat_run_says_where_the_curve_stops_rising():
    steps = sweep_steps(explicit_sweep(RISE_THEN_FLAT))
    s = RISE_THEN_FLAT
    assert steps.sentences == (
        "Test top-1, neighbouring points compared by Welch's t-test at the 5% level: rises from SR 0.25 to 0.5 "
        f"({_p(s[(0.25,)], s[(0.5,)])}); from 0.5 on, no step is told apart from seed noise, nor 0.5 from 1.0 "
        f"({_p(s[(0.5,)], s[(1.0,)])}).",)
    (span,) = steps.spans.to_dict("records")
    assert (span["from"], span["to"], span["apart"]) == ("0.5", "1.0", False)


def test_small_steps_that_add_up_are_said_to_add_up_and_a_last_rise_is_said_to_go_on():
    creep = {(0.25,): [50.0, 52.0, 54.0], (0.5,): [52.0, 54.0, 56.0], (0.75,): [54.0, 56.0, 58.0],
             (1.0,): [56.5, 58.0, 59.5]}
    steps = sweep_steps(explicit_sweep(creep))
    assert list(steps.steps["verdict"]) == [FLAT, FLAT, FLAT]
    (sentence,) = steps.sentences
    assert "no step from SR 0.25 to 1.0 is told apart from seed noise, though 0.25 and 1.0 are (" in sentence
    rising = {(0.25,): [50.0, 50.5, 51.0], (0.5,): [50.2, 51.0, 51.4], (0.75,): [60.0, 60.5, 61.0]}
    (sentence,) = sweep_steps(explicit_sweep(rising)).sentences
    assert sentence.endswith(f"rises from 0.5 to 0.75 ({_p(rising[(0.5,)], rising[(0.75,)])}), still rising at "
                             "the sweep's end.")
    assert "the step from SR 0.25 to 0.5 is not told apart from seed noise" in sentence


def test_falls_and_untested_steps():
    data = explicit_sweep({(0.25,): [70.0, 71.0, 72.0], (0.5,): [60.0, 61.0, 60.5], (0.75,): [61.0]})
    steps = sweep_steps(data)
    assert list(steps.steps["verdict"]) == [DOWN, UNTESTED]
    (sentence,) = steps.sentences
    assert "falls from SR 0.25 to 0.5 (" in sentence and "from 0.5 to 0.75 too few seeds to test" in sentence
    assert "still rising" not in sentence


def test_variants_are_higher_lower_or_not_told_apart_in_the_papers_order():
    data = explicit_sweep({("complex",): [40.0, 41.0, 42.0], ("none",): [30.0, 31.0, 32.0],
                           ("simple",): [30.5, 31.5, 29.5]}, ("bypass",))
    steps = sweep_steps(data)
    assert list(steps.steps["from"]) == ["none", "simple"] and list(steps.steps["to"]) == ["simple", "complex"]
    diff = welch([40.0, 41.0, 42.0], [30.5, 31.5, 29.5]).diff
    assert steps.sentences == (
        "Test top-1 per bypass variant, neighbouring variants compared by Welch's t-test at the 5% level: simple is "
        f"not told apart from none ({_p([30.0, 31.0, 32.0], [30.5, 31.5, 29.5])}); complex is higher than simple "
        f"by {number(diff)} points ({_p([30.5, 31.5, 29.5], [40.0, 41.0, 42.0])}).",)


def test_a_sweep_of_two_params_has_a_sentence_per_line_and_a_search_none():
    samples = {(sr, b): [40.0 + 20 * sr * (b == "complex") + d for d in (0.0, 1.0, 2.0)]
               for sr in (0.25, 0.75) for b in ("none", "complex")}
    steps = sweep_steps(explicit_sweep(samples, ("sr", "bypass")))
    assert set(steps.steps["line"]) == {"bypass=none", "bypass=complex"} and len(steps.sentences) == 2
    assert steps.sentences[0].startswith("Test top-1 (bypass=none), ")
    along = sweep_steps(explicit_sweep(samples, ("sr", "bypass")), along="bypass")
    assert set(along.steps["line"]) == {"sr=0.25", "sr=0.75"}
    assert sweep_steps(explicit_sweep({(0.5,): [1.0, 2.0]})) is None  # one point: no step
    from dse.report.frame import study_data

    assert sweep_steps(study_data(make_search(None, n=6))) is None


def test_the_section_holds_the_table_the_sentences_and_the_method():
    data = explicit_sweep(RISE_THEN_FLAT)
    text = markdown(steps_section(data, point_stats(data)))
    assert "## Which neighbouring points the seeds tell apart" in text
    assert "| 0.25 | 0.5 | 3, 3 | 51.0 → 61.0 | +10.0 |" in text and "told apart: higher" in text
    assert sweep_steps(data).sentences[0] in text
    assert "Method: Welch's t-test on the seeds of each pair of neighbouring points (two-sided, 5% level" in text
