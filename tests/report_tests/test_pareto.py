"""The Pareto front over design points: membership by the one rule, chosen on validation and reported on test."""

from __future__ import annotations

from optuna.trial import TrialState, create_trial

from dse.report.frame import study_data
from dse.report.pareto import draw_pareto, pareto_front
from dse.report.points import point_stats
from dse.report.size import accuracy_vs_size
from dse.report.trust import selection

from .studies import DISTRIBUTIONS, assert_draws, make_search, two_objective


def test_pareto_membership():
    data = two_objective([(60, 1.0), (70, 2.0), (65, 3.0), (75, 4.0), (70, 2.5), (75, 4.0), (50, 0.5)])
    pareto = pareto_front(data)
    on = dict(zip(pareto.points["x"], pareto.points["on_front"], strict=True))
    assert on == {0: True, 1: True, 2: False, 3: True, 4: False, 5: True, 6: True}
    assert pareto.front["size_mb"].tolist() == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_pareto_of_a_search_study():
    data = study_data(make_search(None, n=12))
    pareto = pareto_front(data)
    assert data.kind == "search" and len(pareto.points) == 12
    for _, p in pareto.points.iterrows():
        dominated = ((pareto.points["top1_mean"] >= p["top1_mean"]) & (pareto.points["size_mb"] <= p["size_mb"])
                     & ((pareto.points["top1_mean"] > p["top1_mean"]) | (pareto.points["size_mb"] < p["size_mb"])))
        assert p["on_front"] == (not dominated.any())
    assert accuracy_vs_size(data).reference is None


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


def test_pareto_draws():
    data = study_data(make_search(None, n=12))
    assert_draws(draw_pareto(pareto_front(data), "t", data.swept))
