"""Sweep definition (grids, domains, the paper's Figure 3 defaults) and the worker machinery, in-process with a
scripted trainer: resume, retries, divergence, out of memory, Ctrl-C, lost workers, duplicates, pruning."""

from __future__ import annotations

import os
import time

import optuna
import pytest
from optuna.trial import TrialState
from sweep_helpers import TINY_DESIGN, TINY_RECIPE, ScriptedTrain, completed_once

from dse.errors import SweepError
from dse.study.grid import build_spec, default_study_name, grid_values
from dse.study.layout import failure
from dse.study.progress import summarize
from dse.study.runner import RunOptions, open_study, queue_missing, reclaim_lost, run
from dse.train import NO_NORM_RECIPE, Diverged, OutOfMemory, Recipe

# ------------------------------------------------------------------------------------------------ grids


def test_sr_range_is_figure_3a():
    assert grid_values("sr", range_="0.125:1.0") == (0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0)


def test_pct3x3_range_is_figure_3b_with_sr_held_at_half():
    spec = build_spec(params=["pct3x3"], ranges=["0.01:0.99"], dataset="synthetic")
    assert spec.grid == ((0.01, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 0.99),)
    assert spec.point.sr == 0.5 and spec.fixed()["sr"] == 0.5


def test_base_point_is_squeezenet1_0_with_the_datasets_stem_and_batch_norm():
    spec = build_spec(params=["sr"], ranges=["0.125:1.0"], dataset="synthetic")
    p = spec.point
    assert (p.base_e, p.incr_e, p.freq, p.pct3x3, p.bypass.value) == (128, 128, 2, 0.5, "none")
    assert (p.stem.value, p.norm.value, p.num_classes, p.input_size) == ("cifar", "batch", 10, 32)
    assert len(spec.points()) == 8 and spec.target() == 8


def test_points_values_steps_and_integers():
    assert grid_values("sr", range_="0.125:1.0", points=3) == (0.125, 0.5625, 1.0)
    assert grid_values("sr", range_="0.25:0.75:0.25") == (0.25, 0.5, 0.75)
    assert grid_values("base_e", range_="64:256") == (64, 96, 128, 160, 192, 224, 256)
    assert grid_values("freq", range_="1:4", points=4) == (1, 2, 3, 4)
    assert grid_values("bypass", values="none,complex") == ("none", "complex")
    assert grid_values("bypass") == ("none", "simple", "complex")
    assert grid_values("incr_e", values="0,64") == (0, 64)


def test_several_params_give_the_full_grid_with_seeds():
    spec = build_spec(params=["sr=0.25,0.5", "bypass=none,simple"], dataset="synthetic", seeds=3, seed=7)
    assert spec.target() == 12 and spec.seeds == (7, 8, 9)
    assert {(p.sr, p.bypass.value) for p in spec.points()} == {(0.25, "none"), (0.25, "simple"), (0.5, "none"),
                                                               (0.5, "simple")}
    params = spec.initial_params()
    assert params[0]["seed"] == 7 and set(params[0]) == {"base_e", "incr_e", "freq", "sr", "pct3x3", "bypass", "seed"}
    assert default_study_name(["sr=0.25,0.5", "bypass"]) == "sr-bypass"


def test_design_values_fix_the_points_other_fields():
    spec = build_spec(params=["sr"], values=["0.25,0.5"], dataset="synthetic",
                      design={"base_e": 64, "norm": "none", "freq": 3})
    assert (spec.point.base_e, spec.point.freq, spec.point.norm.value) == (64, 3, "none")
    assert spec.recipe.lr == NO_NORM_RECIPE.lr != Recipe().lr  # the no-norm recipe follows the point


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"params": ["width"]}, "unknown --param 'width'"),
    ({"params": ["sr"], "ranges": ["1.0:0.125"]}, "reversed"),
    ({"params": ["sr"], "ranges": ["0.5:0.5"]}, "empty"),
    ({"params": ["sr"], "ranges": ["0.5"]}, "START:END"),
    ({"params": ["sr"], "ranges": ["0.1:0.5:0"]}, "positive"),
    ({"params": ["sr"], "values": ["0.5,1.5"]}, "outside its domain"),
    ({"params": ["sr"], "values": ["0,0.5"]}, "outside its domain"),
    ({"params": ["pct3x3"], "ranges": ["0:1.5"]}, "outside its domain"),
    ({"params": ["base_e"], "values": ["64.5"]}, "integers"),
    ({"params": ["freq"], "values": ["0,2"]}, "outside its domain"),
    ({"params": ["bypass"], "values": ["none,diagonal"]}, "bypass"),
    ({"params": ["bypass"], "ranges": ["0:1"]}, "bypass takes --values"),
    ({"params": ["sr"], "seeds": 0}, "--seeds must be >= 1"),
    ({"params": ["sr"], "design": {"sr": 0.5}}, "both swept"),
    ({"params": ["sr"], "design": {"num_classes": 3}}, "unknown design field"),
    ({"params": ["sr", "pct3x3"], "ranges": ["0.1:0.5"]}, "inline"),
    ({"params": ["sr", "sr"]}, "twice"),
    ({"params": []}, "at least one --param"),
    ({"params": ["freq"], "ranges": ["1:3"], "points": 5}, "distinct integers"),
    ({"params": ["sr"], "ranges": ["0.125:inf"]}, "'inf' is not a finite number"),  # once grew memory forever
    ({"params": ["sr"], "ranges": ["nan:1"]}, "'nan' is not a finite number"),
    ({"params": ["sr"], "ranges": ["0.1:0.5:nan"]}, "'nan' is not a finite number"),
    ({"params": ["sr"], "values": ["0.5,-inf"]}, "'-inf' is not a finite number"),
    ({"params": ["sr"], "ranges": ["0.125:1e9"]}, "8,000,000,000 values; at most 10,000"),
    ({"params": ["base_e"], "ranges": ["16:1e300"]}, "at most 10,000"),
    ({"params": ["sr"], "ranges": ["0.1:0.5"], "points": 10**12}, "more than 10,000 values"),
])
def test_bad_grids_are_refused_with_one_line(kwargs, message):
    with pytest.raises(SweepError) as info:
        build_spec(dataset="synthetic", **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)


# ------------------------------------------------------------------------------------------------ runs


def _spec(**kw):
    kw.setdefault("params", ["sr"])
    kw.setdefault("values", ["0.25,0.5,1.0"])
    return build_spec(dataset="synthetic", subset=32, design=TINY_DESIGN, recipe_options=TINY_RECIPE, **kw)


def _opts(tmp_path, name="sr", **kw):
    return RunOptions(storage=str(tmp_path / "s.db"), study_name=name, device="cpu", **kw)


def test_sweep_records_the_study_layout_and_a_rerun_trains_nothing(tmp_path):
    spec, opts, fake = _spec(seeds=2), _opts(tmp_path), ScriptedTrain(epochs=2)
    run(spec, opts, train_fn=fake, poll=0.05)
    study = optuna.load_study(study_name="sr", storage=f"sqlite:///{tmp_path / 's.db'}")
    assert len(fake.calls) == 6 and set(completed_once(study).values()) == {1} and len(study.trials) == 6
    t = study.trials[0]
    assert set(t.params) == {"base_e", "incr_e", "freq", "sr", "pct3x3", "bypass", "seed"}
    assert t.value == t.user_attrs["top1"] and t.intermediate_values == {1: t.user_attrs["epoch_top1"][0],
                                                                        2: t.value}
    for attr in ("params", "size_mb", "imagenet_size_mb", "macs", "top1", "top5", "loss", "epochs", "train_seconds",
                 "images_per_second", "peak_memory_mb", "device", "diverged", "point", "epoch_top1", "worker"):
        assert attr in t.user_attrs, attr
    definition = study.user_attrs["dse"]
    assert definition["kind"] == "sweep" and definition["grid"] == {"sr": [0.25, 0.5, 1.0]}
    assert definition["seeds"] == [0, 1] and definition["recipe"]["epochs"] == 1 and "torch_version" in definition
    rows = summarize(study.trials, spec, retries=2)
    assert [r.seeds_done for r in rows] == [2, 2, 2] and rows[0].top1_sd > 0

    run(spec, opts, train_fn=fake, poll=0.05)
    assert len(fake.calls) == 6 and len(optuna.load_study(study_name="sr", storage=f"sqlite:///{tmp_path / 's.db'}")
                                        .trials) == 6


def test_another_definition_is_refused(tmp_path):
    run(_spec(), _opts(tmp_path), train_fn=ScriptedTrain(), poll=0.05)
    before = (tmp_path / "s.db").read_bytes()
    with pytest.raises(SweepError, match="another sweep definition.*grid"):
        run(_spec(values=["0.25,0.5"]), _opts(tmp_path), train_fn=ScriptedTrain())
    with pytest.raises(SweepError, match="recipe"):
        build = build_spec(params=["sr"], values=["0.25,0.5,1.0"], dataset="synthetic", subset=32,
                           design=TINY_DESIGN, recipe_options={"epochs": 2, "batch_size": 32})
        run(build, _opts(tmp_path), train_fn=ScriptedTrain())
    assert (tmp_path / "s.db").read_bytes() == before


def test_a_foreign_study_of_the_same_name_is_refused(tmp_path):
    study = optuna.create_study(study_name="sr", storage=f"sqlite:///{tmp_path / 's.db'}", direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    with pytest.raises(SweepError, match="not made by dse"):
        run(_spec(), _opts(tmp_path), train_fn=ScriptedTrain())
    optuna.create_study(study_name="two", storage=f"sqlite:///{tmp_path / 's.db'}", directions=["maximize"] * 2)
    with pytest.raises(SweepError, match="other objectives"):
        run(_spec(), _opts(tmp_path, name="two"), train_fn=ScriptedTrain())


def test_a_plain_optuna_study_with_only_queued_trials_is_refused_untouched(tmp_path):
    study = optuna.create_study(study_name="sr", storage=f"sqlite:///{tmp_path / 's.db'}", direction="maximize")
    study.enqueue_trial({"x": 1.0})
    study.enqueue_trial({"x": 2.0})
    before = (tmp_path / "s.db").read_bytes()
    fake = ScriptedTrain()
    with pytest.raises(SweepError, match="not made by dse"):
        run(_spec(), _opts(tmp_path), train_fn=fake)
    assert (tmp_path / "s.db").read_bytes() == before and fake.calls == []


def test_a_study_dse_queued_before_writing_its_definition_is_adopted(tmp_path):
    from dse.study.layout import DEFINITION_ATTR, queue

    study = optuna.create_study(study_name="sr", storage=f"sqlite:///{tmp_path / 's.db'}", direction="maximize")
    queue(study, _spec().initial_params()[0])  # what an older dse, killed before its definition, left
    fake = ScriptedTrain()
    handle = run(_spec(), _opts(tmp_path), train_fn=fake, poll=0.05)
    assert DEFINITION_ATTR in handle.study.user_attrs and len(fake.calls) == 3
    assert set(completed_once(handle.study).values()) == {1}


def test_divergence_is_recorded_final_and_the_sweep_goes_on(tmp_path):
    fake = ScriptedTrain(behave=lambda p, r, i: Diverged(1) if p.sr == 0.5 else None)
    handle = run(_spec(), _opts(tmp_path), train_fn=fake, poll=0.05)
    trials = handle.trials()
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 1 and failed[0].params["sr"] == 0.5
    assert failed[0].user_attrs["diverged"] is True and failed[0].user_attrs["fail_kind"] == "diverged"
    assert "diverged" in failed[0].user_attrs["fail_reason"]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 2
    run(_spec(), _opts(tmp_path), train_fn=fake, poll=0.05)
    assert len(fake.calls) == 3  # divergence is a result: not retried
    rows = summarize(trials, handle.spec, retries=2)
    assert any("diverged" in reason for r in rows for reason in r.failed)


def test_out_of_memory_is_retried_up_to_the_limit_then_reported(tmp_path):
    fake = ScriptedTrain(behave=lambda p, r, i: OutOfMemory("CUDA out of memory") if p.sr == 1.0 else None)
    handle = run(_spec(), _opts(tmp_path, retries=1), train_fn=fake, poll=0.05)
    oom = [t for t in handle.trials() if t.params.get("sr") == 1.0]
    assert [t.state for t in oom] == [TrialState.FAIL, TrialState.FAIL]
    assert oom[1].user_attrs["retry_of"] == oom[0].number and oom[0].user_attrs["fail_kind"] == "oom"
    assert "out of memory" in oom[0].user_attrs["fail_reason"]
    run(_spec(), _opts(tmp_path, retries=1), train_fn=fake, poll=0.05)
    assert len(fake.calls) == 4  # out of retries: reported, not run again
    run(_spec(), _opts(tmp_path, retries=2), train_fn=fake, poll=0.05)
    assert len(fake.calls) == 5  # a higher limit allows one more


def test_a_transient_error_is_retried_within_the_run(tmp_path):
    fake = ScriptedTrain(behave=lambda p, r, i: RuntimeError("flaky") if i == 0 else None)
    handle = run(_spec(), _opts(tmp_path), train_fn=fake, poll=0.05)
    states = [t.state for t in handle.trials()]
    assert states.count(TrialState.COMPLETE) == 3 and states.count(TrialState.FAIL) == 1
    assert set(completed_once(handle.study).values()) == {1}


def test_ctrl_c_closes_the_trial_and_a_rerun_resumes(tmp_path):
    fake = ScriptedTrain(behave=lambda p, r, i: KeyboardInterrupt() if i == 1 else None)
    with pytest.raises(KeyboardInterrupt):
        run(_spec(), _opts(tmp_path), train_fn=fake, poll=0.05)
    study = optuna.load_study(study_name="sr", storage=f"sqlite:///{tmp_path / 's.db'}")
    states = [t.state for t in study.trials]
    assert TrialState.RUNNING not in states
    interrupted = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(interrupted) == 1 and interrupted[0].user_attrs["fail_kind"] == "interrupted"
    run(_spec(), _opts(tmp_path, retries=0), train_fn=fake, poll=0.05)  # an interruption is no attempt
    study = optuna.load_study(study_name="sr", storage=f"sqlite:///{tmp_path / 's.db'}")
    assert len(completed_once(study)) == 3 and set(completed_once(study).values()) == {1}


def _orphan(tmp_path, token: dict, spec=None) -> int:
    """A study whose first trial is RUNNING under `token`, as a killed worker leaves it."""
    handle = open_study(spec or _spec(), _opts(tmp_path, grace_period=1, heartbeat_interval=1))
    queue_missing(handle)
    trial = handle.study.ask()  # takes the first WAITING trial
    trial.suggest_float("sr", 0.25, 1.0)  # and dies while taking its params
    handle.storage.record_heartbeat(handle.trial_id(trial.number))
    trial.set_user_attr("worker", token)
    return trial.number


def test_a_trial_of_a_dead_local_worker_is_run_again(tmp_path):
    import subprocess
    import sys

    from dse.study.processes import machine_id, worker_token

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    token = {**worker_token("cpu"), "pid": dead.pid, "start": 1, "machine": machine_id()}
    number = _orphan(tmp_path, token)
    fake = ScriptedTrain()
    handle = run(_spec(), _opts(tmp_path), train_fn=fake, poll=0.05)
    lost = handle.study.trials[number]
    assert lost.state == TrialState.FAIL and lost.user_attrs["fail_kind"] == "lost"
    assert f"process {dead.pid}" in lost.user_attrs["fail_reason"]
    assert len(fake.calls) == 3 and set(completed_once(handle.study).values()) == {1}


def test_a_live_local_worker_is_left_alone(tmp_path):
    from dse.study.processes import worker_token

    number = _orphan(tmp_path, worker_token("cpu"))  # this very process: alive
    handle = open_study(_spec(), _opts(tmp_path, grace_period=60))
    assert reclaim_lost(handle) == 0 and handle.study.trials[number].state == TrialState.RUNNING


def test_a_trial_whose_heartbeat_stopped_on_another_machine_is_run_again(tmp_path):
    token = {"host": "elsewhere", "machine": "elsewhere/boot/ns", "pid": os.getpid(), "start": 1, "device": "cuda:0"}
    number = _orphan(tmp_path, token)
    # fresh for a grace period of 60 s however loaded the machine is: alive as far as anyone can tell
    assert reclaim_lost(open_study(_spec(), _opts(tmp_path, grace_period=60))) == 0
    time.sleep(2.5)
    handle = open_study(_spec(), _opts(tmp_path, grace_period=1, heartbeat_interval=1))
    assert reclaim_lost(handle) == 1
    lost = handle.study.trials[number]
    assert lost.state == TrialState.FAIL and failure(lost) == ("lost", "worker lost: no heartbeat on elsewhere for the "
                                                                "grace period")
    assert reclaim_lost(handle) == 0  # once only


def test_work_enqueued_twice_is_trained_once(tmp_path):
    spec = _spec()
    handle = open_study(spec, _opts(tmp_path))
    queue_missing(handle)
    for params in spec.initial_params():  # a second start enqueueing at the same moment
        handle.study.enqueue_trial(params)
    fake = ScriptedTrain()
    run(spec, _opts(tmp_path), train_fn=fake, poll=0.05)
    study = optuna.load_study(study_name="sr", storage=f"sqlite:///{tmp_path / 's.db'}")
    assert len(fake.calls) == 3 and set(completed_once(study).values()) == {1}
    dups = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(dups) == 3 and all(t.user_attrs["fail_kind"] == "duplicate" for t in dups)


def test_requeue_restores_points_never_queued(tmp_path):
    spec = _spec()
    handle = open_study(spec, _opts(tmp_path))
    assert queue_missing(handle) == 3 and queue_missing(handle) == 0
    storage = f"sqlite:///{tmp_path / 's.db'}"
    # a creator that died while enqueueing: only one trial made it
    optuna.delete_study(study_name="sr", storage=storage)
    study = optuna.create_study(study_name="sr", storage=storage, direction="maximize")
    study.enqueue_trial(spec.initial_params()[0])
    from dse.study.layout import write_definition

    write_definition(study, spec.definition())
    fake = ScriptedTrain()
    run(spec, _opts(tmp_path), train_fn=fake, poll=0.05)
    assert len(fake.calls) == 3


def test_median_pruning_stops_weak_points_and_they_stay_done(tmp_path):
    spec = _spec(values=["0.25,0.375,0.5,0.625,0.75,1.0"], prune="median")
    fake = ScriptedTrain(epochs=3, curve=lambda p, e: 90 - 60 * p.sr + e)  # larger sr: worse at every epoch
    handle = run(spec, _opts(tmp_path), train_fn=fake, poll=0.05)
    pruned = [t for t in handle.trials() if t.state == TrialState.PRUNED]
    assert pruned and all(t.params["sr"] > 0.5 for t in pruned)
    calls = len(fake.calls)
    run(spec, _opts(tmp_path), train_fn=fake, poll=0.05)
    assert len(fake.calls) == calls


def test_hyperband_pruning_runs_on_per_epoch_accuracy(tmp_path):
    spec = _spec(values=["0.25,0.375,0.5,0.625,0.75,1.0"], prune="hyperband")
    fake = ScriptedTrain(epochs=4, curve=lambda p, e: 90 - 60 * p.sr + e)
    handle = run(spec, _opts(tmp_path), train_fn=fake, poll=0.05)
    trials = handle.trials()
    assert len(trials) == 6 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert all(len(t.intermediate_values) >= 1 for t in trials)
