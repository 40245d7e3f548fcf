"""Search: bounds, the size budget (points over it never trained), multi-objective values, resume and extension."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState
from sweep_helpers import TINY_RECIPE, ScriptedTrain

from dse.errors import SweepError
from dse.plan import cost
from dse.space import PARAMS
from dse.study.progress import pareto_front
from dse.study.runner import RunOptions, run
from dse.study.search import build_spec, parse_bounds, smallest_size_mb

SMALL = ["base_e=16:64:16", "incr_e=0:32:16", "sr=0.125:0.5"]


def _spec(**kw):
    kw.setdefault("params", SMALL)
    return build_spec(dataset="synthetic", subset=32, recipe_options=TINY_RECIPE, **kw)


def _opts(tmp_path, **kw):
    return RunOptions(storage=str(tmp_path / "search.db"), study_name="search", device="cpu", **kw)


def test_default_search_covers_the_five_metaparameters_and_bypass():
    spec = build_spec(dataset="synthetic")
    assert spec.params == ("base_e", "incr_e", "freq", "sr", "pct3x3", "bypass")
    d = spec.distributions()
    assert d["bypass"].choices == ("none", "simple", "complex") and d["base_e"].step == 16
    assert spec.directions() == ["maximize", "minimize"]
    assert spec.definition()["kind"] == "search" and "trials" not in spec.definition()


def test_bounds_and_fixed_values():
    assert parse_bounds(["sr=0.25:1.0", "base_e=64:256:32", "bypass=none,simple"]) == {
        "sr": (0.25, 1.0, None), "base_e": (64, 256, 32), "bypass": ("none", "simple")}
    spec = build_spec(dataset="synthetic", params=["sr=0.25:0.5"], design={"base_e": 64})
    d = spec.distributions()
    assert (d["base_e"].low, d["base_e"].high) == (64, 64) and (d["sr"].low, d["sr"].high) == (0.25, 0.5)
    assert spec.fixed()["base_e"] == 64 and "sr" not in spec.fixed()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"params": ["depth=1:2"]}, "unknown --param"),
    ({"params": ["sr=1.0:0.25"]}, "reversed"),
    ({"params": ["sr=0.5:0.5"]}, "empty"),
    ({"params": ["sr=0:0.5"]}, "outside its domain"),
    ({"params": ["base_e=16:64:15"]}, "multiple of the step"),
    ({"params": ["bypass=none,sideways"]}, "bypass takes"),
    ({"params": ["sr"], "design": {"sr": 0.5}}, "both searched"),
    ({"trials": 0}, "--trials must be >= 1"),
    ({"max_size_mb": 0.001}, "no point within the bounds fits"),
])
def test_bad_searches_are_refused_with_one_line(kwargs, message):
    with pytest.raises(SweepError) as info:
        build_spec(dataset="synthetic", **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_smallest_corner_is_the_smallest_point():
    spec = build_spec(dataset="synthetic", params=SMALL)
    corner = cost(spec.point.replace(base_e=16, incr_e=0, sr=0.125)).size_mb
    assert smallest_size_mb(spec) == pytest.approx(corner)
    assert PARAMS["sr"].search_bounds[:2] == (0.125, 1.0)


def test_search_under_a_budget_never_trains_a_point_over_it_and_resumes(tmp_path):
    spec = _spec(trials=6, max_size_mb=0.2)
    fake = ScriptedTrain()
    run(spec, _opts(tmp_path), train_fn=fake, poll=0.05)
    sizes = [cost(spec.point.replace(**{k: v for k, v in p.items() if k in SMALL_NAMES})).size_mb
             for p, _ in fake.calls]
    assert len(fake.calls) == 6 and max(sizes) <= 0.2
    study = optuna.load_study(study_name="search", storage=f"sqlite:///{tmp_path / 'search.db'}")
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 6
    assert all(t.values[1] == t.user_attrs["size_mb"] and t.values[0] == t.user_attrs["top1"] for t in complete)
    skipped = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert all(t.user_attrs["size_mb"] > 0.2 and "over the size budget" in t.user_attrs["skip_reason"]
               for t in skipped)
    assert study.user_attrs["dse"]["max_size_mb"] == 0.2
    front = pareto_front(study.trials)
    assert front and all(t in complete for t in front)

    run(spec, _opts(tmp_path), train_fn=fake, poll=0.05)
    assert len(fake.calls) == 6  # resumed: nothing to do
    run(_spec(trials=8, max_size_mb=0.2), _opts(tmp_path), train_fn=fake, poll=0.05)
    assert len(fake.calls) == 8  # --trials extends the same study


SMALL_NAMES = ("base_e", "incr_e", "sr")


def test_another_budget_is_another_search(tmp_path):
    run(_spec(trials=2), _opts(tmp_path), train_fn=ScriptedTrain(), poll=0.05)
    with pytest.raises(SweepError, match="max_size_mb"):
        run(_spec(trials=2, max_size_mb=1.0), _opts(tmp_path), train_fn=ScriptedTrain())


def test_pareto_front():
    def trial(top1, size):
        return optuna.trial.create_trial(values=[top1, size], params={}, distributions={})

    a, b, c, d = trial(80, 1.0), trial(70, 0.5), trial(60, 0.8), trial(80, 2.0)
    assert pareto_front([a, b, c, d]) == [b, a]
