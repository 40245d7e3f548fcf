"""Choices in the study layer read validation top-1 where it is recorded; test top-1 is only reported."""

from __future__ import annotations

import math

from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from dse.study.grid import build_spec
from dse.study.progress import chosen_split, chosen_top1, measured_top1, pareto_front, snapshot, summarize
from dse.study.search import build_spec as build_search

DISTS = {"sr": FloatDistribution(0.125, 1.0), "seed": IntDistribution(0, 9)}


def _trial(number: int, sr: float, seed: int, val: float | None, test: float, size: float | None = None,
           queued: dict | None = None):
    attrs = {"top1": test, "train_seconds": 1.0, **({} if val is None else {"val_top1": val})}
    if queued is not None:  # the (point, seed) a sweep queued: what `summarize` matches trials on
        attrs["queued_params"] = queued
    objective = test if val is None else val
    trial = create_trial(state=TrialState.COMPLETE, values=[objective] if size is None else [objective, size],
                         params={"sr": sr, "seed": seed}, distributions=DISTS, user_attrs=attrs)
    trial.number = number
    return trial


def test_best_and_front_follow_validation_not_test():
    # trial 1 is best on test, trial 0 on validation: the choice is trial 0
    trials = [_trial(0, 0.25, 0, val=70.0, test=60.0, size=1.0), _trial(1, 0.5, 0, val=65.0, test=80.0, size=1.0),
              _trial(2, 0.125, 0, val=50.0, test=90.0, size=0.5)]
    assert chosen_split(trials) == "validation"
    assert [chosen_top1(t, chosen_split(trials)) for t in trials] == [70.0, 65.0, 50.0]
    assert [measured_top1(t) for t in trials] == [60.0, 80.0, 90.0]
    snap = snapshot(trials, total=3, retries=2, workers=1)
    assert snap.best.number == 0 and snap.chosen_on == "validation"
    assert [t.number for t in pareto_front(trials)] == [2, 0]  # trial 1 is dominated on validation


def test_a_study_without_validation_falls_back_to_test_and_says_so():
    trials = [_trial(0, 0.25, 0, val=None, test=60.0), _trial(1, 0.5, 0, val=None, test=80.0)]
    assert chosen_split(trials) == "test"
    assert [chosen_top1(t, chosen_split(trials)) for t in trials] == [60.0, 80.0]
    snap = snapshot(trials, total=2, retries=2, workers=1)
    assert snap.best.number == 1 and snap.chosen_on == "test"


def test_summarize_reports_test_and_validation_separately():
    spec = build_spec(params=["sr"], values=["0.25,0.5"], seeds=2, dataset="synthetic",
                      design={"base_e": 16, "incr_e": 16})
    queued = {(p["sr"], p["seed"]): p for p in spec.initial_params()}
    trials = [_trial(0, 0.25, 0, 70.0, 60.0, queued=queued[0.25, 0]), _trial(1, 0.25, 1, 72.0, 62.0,
                                                                              queued=queued[0.25, 1]),
              _trial(2, 0.5, 0, 90.0, 50.0, queued=queued[0.5, 0])]
    rows = summarize(trials, spec, retries=2)
    assert [r.seeds_done for r in rows] == [2, 1]
    assert rows[0].top1_mean == 61.0 and rows[0].val_top1_mean == 71.0 and rows[0].top1.kind == "range"
    assert (rows[0].top1.lo, rows[0].top1.hi) == (60.0, 62.0) and rows[0].top1_sd == math.sqrt(2)
    assert rows[1].top1_mean == 50.0 and rows[1].val_top1_mean == 90.0 and rows[1].top1.kind == "single"
    old = summarize([_trial(0, 0.25, 0, None, 60.0, queued=queued[0.25, 0])], spec, retries=2)
    assert old[0].top1_mean == 60.0 and math.isnan(old[0].val_top1_mean)


def test_search_definition_records_the_split():
    d = build_search(dataset="synthetic", params=["sr=0.25:0.5"]).definition()
    assert d["val_fraction"] > 0 and "val_seed" in d
