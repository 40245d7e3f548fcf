"""The study layout's one rule for which split chooses (`layout.choosing_split`), and every place that chooses
following it: the study layer (front, best), the report, `dse export --best` and the end tables of the CLI."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from dse.study import layout
from dse.study.layout import TEST, VALIDATION, choosing_split

DISTS = {"sr": FloatDistribution(0.125, 1.0), "seed": IntDistribution(0, 9)}


def test_validation_chooses_only_where_every_candidate_recorded_it():
    assert choosing_split([70.0, 65, 50.5]) == VALIDATION
    assert choosing_split([70.0, None, 50.0]) == TEST  # one candidate without it: all are ranked on test
    assert choosing_split([70.0, math.nan]) == TEST and choosing_split([70.0, math.inf]) == TEST
    assert choosing_split([True, 50.0]) == TEST and choosing_split(["70", 50.0]) == TEST  # not a recorded number
    assert choosing_split([]) == TEST  # no candidates: nothing chose
    assert choosing_split(v for v in (1.0, 2.0)) == VALIDATION  # any iterable, read once


def _mixed_trials():
    """Trial 0 is best on validation, trial 2 best on test and smallest; trial 1 recorded no validation."""
    rows = [(0.25, 70.0, 60.0, 1.0), (0.5, None, 80.0, 1.0), (0.125, 50.0, 90.0, 0.5)]
    trials = []
    for number, (sr, val, test, size) in enumerate(rows):
        attrs = {"top1": test, "size_mb": size, "train_seconds": 1.0, "weights_artifact_id": f"w{number}",
                 **({} if val is None else {"val_top1": val})}
        trial = create_trial(state=TrialState.COMPLETE, values=[test if val is None else val, size],
                             params={"sr": sr, "seed": 0}, distributions=DISTS, user_attrs=attrs)
        trial.number = number
        trials.append(trial)
    return trials


@pytest.mark.parametrize("mixed", [True, False])
def test_every_place_that_chooses_agrees_on_the_split(mixed, capsys):
    from dse.cli.app import console
    from dse.cli.export import accuracy_line, choose_best
    from dse.cli.tables import print_search_table
    from dse.report.frame import study_data
    from dse.report.points import point_stats
    from dse.report.trust import selection
    from dse.study.progress import chosen_split, pareto_front, snapshot

    trials = _mixed_trials()
    if not mixed:
        trials[1].user_attrs["val_top1"] = 40.0
    split = TEST if mixed else VALIDATION
    assert chosen_split(trials) == split
    assert snapshot(trials, total=3, retries=2, workers=1).chosen_on == split
    # on test, trial 2 (90%, 0.5 MB) beats both others; on validation trial 0 is the best and stays on the front
    assert snapshot(trials, total=3, retries=2, workers=1).best.number == (2 if mixed else 0)
    assert [t.number for t in pareto_front(trials)] == ([2] if mixed else [2, 0])
    chosen, by = choose_best(trials, None, None, "weights_artifact_id")
    assert chosen.number == (2 if mixed else 0) and by.startswith(f"{split} top-1")
    said = accuracy_line(chosen.user_attrs, split)  # what dse export prints: the split that chose, named once
    assert said.count("(the split that chose it") == 1
    assert f"on {split} (the split that chose it" in said
    assert "the split that chose" not in accuracy_line(chosen.user_attrs, None)  # --trial: the user chose
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trials(trials)
    assert selection(point_stats(study_data(study))).split == split
    with console.capture() as captured:
        print_search_table(trials)
    assert (f"on {split} top-1" in captured.get()) and (("val top-1 %" in captured.get()) == (not mixed))


def test_definitions_compare_nan_and_missing_keys_and_print_them_apart():
    nan = float("nan")
    same = {"kind": "search", "max_size_mb": nan, "subset": None, "grid": {"sr": [0.25, nan]}}
    assert layout.difference_lines(same, dict(same, grid={"sr": [0.25, nan]})) == []  # NaN == NaN, nested too
    assert layout.difference_lines({"kind": "sweep"}, {"kind": "sweep", "data_dir": None}) == []  # added since: None
    lines = layout.difference_lines({"fixed": {"bypass": "none", "sr": 0.5}, "max_size_mb": nan},
                                    {"fixed": {"sr": 0.5}, "max_size_mb": 2.0})
    assert lines == ['fixed.bypass "none" (study) vs (not set) (this command)',
                     "max_size_mb nan (study) vs 2.0 (this command)"]
    assert layout.difference_lines({"fixed": {"bypass": None}}, {"fixed": {"bypass": "none"}}) == [
        'fixed.bypass none (study) vs "none" (this command)']
def _failed(study: optuna.Study, params: dict, kind: str | None) -> optuna.trial.FrozenTrial:
    """A FAIL trial of `params`; kind None: failed by Optuna's heartbeat check (no fail_kind: `lost`)."""
    from dse.study.layout import FAIL_KIND_ATTR, QUEUED_ATTR

    attrs = {QUEUED_ATTR: params, **({FAIL_KIND_ATTR: kind} if kind else {})}
    study.add_trial(create_trial(state=TrialState.FAIL, params=params, distributions=DISTS, user_attrs=attrs))
    return study.get_trials(deepcopy=False)[-1]


@pytest.mark.parametrize("kind", ["lost", None, "interrupted"])
def test_a_trial_lost_by_its_command_is_queued_again_however_often(kind):
    """Killed commands (lost, or failed by the heartbeat check) and Ctrl-C are not failures of the trial: with
    --retries 0 and three such losses, the pair is still queued again and never final."""
    from dse.study.layout import final_failures, requeue

    study = optuna.create_study(direction="maximize")
    params = {"sr": 0.5, "seed": 0}
    for _ in range(3):
        failed = _failed(study, params, kind)
        assert requeue(study, failed, 0)
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        assert len(waiting) == 1
        study.tell(study.ask().number, state=TrialState.FAIL)  # take the queued retry off the queue
    trials = study.get_trials(deepcopy=False)
    assert final_failures(trials, 0) == []


def test_failures_of_the_trial_itself_use_up_the_retries():
    from dse.study.layout import final_failures, requeue

    study = optuna.create_study(direction="maximize")
    params = {"sr": 0.5, "seed": 0}
    assert requeue(study, _failed(study, params, "error"), 1)  # attempt 1 of 2
    study.tell(study.ask().number, state=TrialState.FAIL)
    last = _failed(study, params, "oom")
    assert not requeue(study, last, 1)  # attempt 2: out of retries
    assert [t.number for t in final_failures(study.get_trials(deepcopy=False), 1)] == [last.number]
