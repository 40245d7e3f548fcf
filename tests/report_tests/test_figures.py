"""The data behind each figure: means and t-intervals over seeds, the paper's series, curves, the Pareto
front, grids, importance and error EDFs; failed and unfinished trials never become numbers."""

from __future__ import annotations

import math
import statistics

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from dse.plan import cost
from dse.report.figures import (
    accuracy_vs_size,
    edf_value,
    error_edf,
    grid_panels,
    learning_curves,
    paper_reference,
    param_importance,
    pareto_front,
    point_stats,
    training_budget,
)
from dse.report.frame import study_data
from dse.stats import mean_interval, t_quantile

from .conftest import SR_FAIL, SR_RUNNING, SR_SKIP, SR_WAITING
from .studies import BASE, PCT_VALUES, SR_VALUES, make_search, make_sweep

T975 = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 9: 2.2622, 30: 2.0423, 1000: 1.9623}


@pytest.fixture(scope="module")
def sr():
    return study_data(make_sweep(None, "sr", {"sr": SR_VALUES}, seeds=2, fail=SR_FAIL, running=SR_RUNNING,
                                 waiting=SR_WAITING, skip=SR_SKIP))


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


def test_accuracy_vs_size_carries_the_paper_series_and_missing_points(sr):
    sa = accuracy_vs_size(sr)
    ref = sa.reference
    assert ref.figure == "Figure 3(a)" and ref.matches
    assert ref.points[["value", "size_mb", "top5"]].values.tolist() == [[0.125, 4.8, 80.3], [0.75, 19.0, 86.0]]
    assert sorted(sa.missing["short"]) == ["0.875", "1.0"]
    assert "CIFAR-10" in sa.budget.text and "4 epochs" in sa.budget.text and "proxy" in sa.budget.text


def test_paper_reference_per_sweep():
    pct = make_sweep(None, "p", {"pct3x3": PCT_VALUES[:2]}, seeds=1, fixed={"sr": 0.5})
    ref = paper_reference(("pct3x3",), study_data(pct).spec)
    assert ref.figure == "Figure 3(b)" and ref.matches
    assert ref.points[["value", "size_mb", "top5"]].values.tolist() == [[0.5, 13.0, 85.6]]
    other = make_sweep(None, "p2", {"pct3x3": PCT_VALUES[:2]}, seeds=1, fixed={"sr": 0.25})
    assert not paper_reference(("pct3x3",), study_data(other).spec).matches
    assert paper_reference(("base_e",), {}) is None
    assert paper_reference(("sr", "pct3x3"), {}) is None


def test_paper_sizes_agree_with_the_cost_model():
    """The reference is drawn against ImageNet-equivalent sizes: ours must land on the paper's."""
    for value, size in ((0.125, 4.8), (0.75, 19.0)):  # the paper rounds: 4.76 and 18.5 MB
        assert cost(BASE.replace(sr=value).imagenet_equivalent()).size_mb == pytest.approx(size, abs=0.6)


def test_learning_curves_average_seeds_and_drop_failures(sr):
    curves = learning_curves(sr).lines
    first = curves[curves["short"] == "0.125"]
    assert first["epoch"].tolist() == [1, 2, 3, 4] and (first["n"] == 2).all()
    finals = sr.frame[(sr.frame["sr"] == 0.125)]["top1"]
    assert first["mean"].iloc[-1] == pytest.approx(finals.mean())
    assert first["lo"].iloc[-1] == pytest.approx(finals.min()) and first["hi"].iloc[-1] == pytest.approx(finals.max())
    half = curves[curves["short"] == "0.5"]
    assert (half["n"] == 1).all()  # the diverged seed's epochs are not averaged in
    assert curves[curves["short"] == "0.875"]["running"].all()


def _two_objective(points):
    study = optuna.create_study(directions=["maximize", "minimize"])
    for i, (acc, size) in enumerate(points):
        study.add_trial(create_trial(values=[acc, size], params={"x": i}, distributions={"x": IntDistribution(0, 99)}))
    return study_data(study)


def test_pareto_membership():
    data = _two_objective([(60, 1.0), (70, 2.0), (65, 3.0), (75, 4.0), (70, 2.5), (75, 4.0), (50, 0.5)])
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


def test_grid_panels_and_small_multiples():
    data = study_data(make_sweep(None, "g", {"sr": (0.25, 0.5), "pct3x3": (0.25, 0.5, 0.75)}, seeds=1,
                                 fail={(0.5, 0.75, 0)}))
    (panel,) = grid_panels(data)
    assert (panel.x, panel.y) == ("sr", "pct3x3") and panel.top1.shape == (3, 2)
    stats = point_stats(data)
    row = stats[(stats["sr"] == 0.25) & (stats["pct3x3"] == 0.5)].iloc[0]
    assert panel.top1[1, 0] == pytest.approx(row["top1_mean"])
    assert math.isnan(panel.top1[2, 1]) and panel.status[2, 1] == "failed"
    three = study_data(make_sweep(None, "g3", {"sr": (0.25, 0.5), "pct3x3": (0.25, 0.5), "bypass": ("none", "simple")},
                                  seeds=1))
    panels = grid_panels(three)
    assert [p.title for p in panels] == ["bypass=none", "bypass=simple"]
    assert grid_panels(study_data(make_sweep(None, "s", {"sr": (0.25, 0.5)}, seeds=1))) == []


def test_importance_needs_trials_and_varying_params():
    grid = study_data(make_sweep(None, "g", {"sr": (0.125, 0.5, 1.0), "pct3x3": (0.25, 0.75)}, seeds=2))
    imp = param_importance(grid)
    assert imp is not None and set(imp.values["param"]) <= {"sr", "pct3x3", "seed"}
    assert imp.values["importance"].sum() == pytest.approx(1.0)
    assert param_importance(study_data(make_sweep(None, "few", {"sr": (0.25, 0.5)}, seeds=2))) is None


def test_error_edf_values():
    a = _two_objective([(80, 1), (70, 2), (60, 3), (90, 4)])
    b = _two_objective([(75, 1), (65, 2)])
    b.name = "b"
    a.name = "a"
    edf = error_edf([a, b])
    curve_a = edf.curves[edf.curves["study"] == "a"]
    assert curve_a["error"].tolist() == pytest.approx([10, 20, 30, 40])
    assert curve_a["fraction"].tolist() == [0.25, 0.5, 0.75, 1.0]
    assert edf_value(edf, "a", 25) == 0.5 and edf_value(edf, "b", 25) == 0.5 and edf_value(edf, "b", 24) == 0.0
    summary = edf.summary.set_index("study")
    assert summary.loc["a", "n"] == 4 and summary.loc["a", "best"] == pytest.approx(10)
    assert summary.loc["b", "median"] == pytest.approx(30)


def test_edf_leaves_out_failed_points(sr):
    edf = error_edf([sr])
    assert len(edf.curves) == 6  # 8 points, two without a result


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


def test_budget_reads_the_sweep_definition():
    study = make_sweep(None, "b", {"sr": (0.5,)}, seeds=3, epochs=12, dataset="fashion-mnist")
    budget = training_budget(study_data(study))
    assert budget.dataset == "Fashion-MNIST" and budget.epochs == "12 epochs" and budget.seeds == "3 seeds"
    plain = optuna.create_study()
    plain.add_trial(create_trial(value=1.0, params={"x": 1}, distributions={"x": IntDistribution(0, 2)},
                                 state=TrialState.COMPLETE))
    assert "unknown dataset" in training_budget(study_data(plain)).text


def _val_sweep(points):
    """A sweep with a validation split: per (sr, seed), validation and test top-1 and their per-epoch curves."""
    from dse.study import layout

    from .studies import DISTRIBUTIONS, METAPARAMS, attrs, spec

    study = optuna.create_study(direction="maximize")
    definition = spec("sweep", ["sr"], {"sr": sorted({p[0] for p in points})}, 1, {})
    layout.write_definition(study, {**definition, "val_fraction": 0.1, "val_seed": 0})
    for sr, seed, val, test in points:
        point = BASE.replace(sr=sr)
        params = {**{k: getattr(point, k) for k in METAPARAMS}, "seed": seed, "bypass": point.bypass.value}
        user = {**attrs(point, seed, test, 90.0, 2), "epoch_top1": [test - 5, test], "val_top1": val,
                "epoch_val_top1": [val - 5, val]}
        study.add_trial(create_trial(state=TrialState.COMPLETE, value=val, params=params, user_attrs=user,
                                     distributions={k: DISTRIBUTIONS[k] for k in params},
                                     intermediate_values={1: val - 5, 2: val}))
    return study_data(study)


def test_learning_curves_name_validation_and_test():
    data = _val_sweep([(0.25, 0, 70.0, 60.0), (0.5, 0, 65.0, 80.0)])
    curves = learning_curves(data)
    assert curves.splits == ["validation", "test"]
    lines = curves.lines.set_index(["split", "short", "epoch"])["mean"]
    assert lines["validation", "0.25", 2] == 70.0 and lines["test", "0.25", 2] == 60.0
    assert lines["validation", "0.5", 1] == 60.0 and lines["test", "0.5", 1] == 75.0
    old = learning_curves(study_data(make_sweep(None, "old", {"sr": (0.25, 0.5)}, seeds=1)))
    assert old.splits == ["test"]  # a study from before the split: its curves are test, and say so


def test_edf_best_is_the_validation_choice_reported_on_test():
    data = _val_sweep([(0.25, 0, 70.0, 60.0), (0.5, 0, 65.0, 80.0), (0.75, 0, 50.0, 85.0)])
    summary = error_edf([data]).summary.iloc[0]
    assert summary["chosen_on"] == "validation" and summary["best"] == pytest.approx(40.0)  # sr 0.25's test error
    old = error_edf([_two_objective([(80, 1), (90, 2)])]).summary.iloc[0]
    assert old["chosen_on"] == "test" and old["best"] == pytest.approx(10.0)
