"""Workers: `study.optimize` takes queued trials, trains them and records them (docs/sweeps.md).

The study is the queue (`dse.study.queue`). Every step rests on Optuna's public API:

* a worker runs `study.optimize(objective, n_trials=1)` while a queued trial waits (or, for a search, while the
  search wants more): `ask` takes the oldest WAITING trial with a compare-and-set, Optuna's heartbeat thread beats
  while it trains, and `fail_stale_trials` fails trials whose heartbeat stopped, calling `requeue`;
* the objective records a heartbeat (`RDBStorage.record_heartbeat`) before anything else, and its `worker` attr
  after, so a trial that dies before its first beat is still reclaimed (`reclaim_lost`);
* failures inside training end the trial as FAIL (`TrialFailed`), and the optimize callback queues a retry.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import traceback
from collections.abc import Callable
from functools import partial
from typing import Any

import optuna
import torch
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from dse.data import DeviceData
from dse.errors import DesignError, DseError
from dse.plan import cost
from dse.study import layout
from dse.study.handle import RunOptions, Spec, StudyHandle, open_study
from dse.study.keep import Keeper
from dse.study.keep import plan as keep_plan
from dse.study.layout import DONE, LIVE, duplicate_of, params_key, requeue
from dse.study.processes import (
    Interrupts,
    handle_interrupts,
    load_data,
    run_processes,
    worker_devices,
    worker_token,
)
from dse.study.progress import live_writer, phase_writer
from dse.study.queue import Queueing, has_work, queue_missing, reclaim_lost, wants_more
from dse.train import Diverged, OutOfMemory, TrainingFailed, resolve_device, train
from dse.train.device import worker_threads

__all__ = ["POLL_S", "RunOptions", "StudyHandle", "TrialFailed", "open_study", "queue_missing", "reclaim_lost",
           "run", "work"]

POLL_S = 2.0  # how often an idle worker looks for new, retried or lost trials
TrainFn = Callable[..., Any]


class TrialFailed(Exception):
    """Ends a trial as FAIL with its failure recorded (Optuna's `optimize(catch=...)` records the state)."""


class _Objective:
    """One worker's objective: takes the trial (heartbeat, then `worker` attr), trains it, records it.

    Ctrl-C interrupts only the training itself (`Interrupts`); held anywhere else, it is raised when training
    starts (the trial, taken, has an owner first) or once the trial is told. From `hold` to the objective's start,
    the local gate is held, so no other worker of this machine asks an empty queue (which would make a fresh,
    sampled trial).
    """

    def __init__(self, handle: StudyHandle, data, device: str, train_fn: TrainFn, on_event, gate,
                 interrupts: Interrupts) -> None:
        self.handle, self.data, self.device, self.train_fn, self.on_event = handle, data, device, train_fn, on_event
        self.gate, self.gate_held, self.interrupts = gate, False, interrupts
        self.token = worker_token(device, handle.options.run_id)
        self.grid = {params_key(p) for p in handle.spec.initial_params()}
        self.number: int | None = None
        self.progress = False  # the real trainer: pass on_progress (a scripted stand-in may not take it)
        self.keep = Keeper.for_worker(handle, data)  # weights and latency (dse.study.keep)

    def hold(self) -> None:
        self.gate.acquire()
        self.gate_held = True

    def release(self) -> None:
        if self.gate_held:
            self.gate_held = False
            self.gate.release()

    def __call__(self, trial: optuna.Trial) -> list[float]:
        self.number = trial.number
        try:
            self.release()
            return self._take(trial)
        except KeyboardInterrupt:
            layout.record_failure(trial, layout.INTERRUPTED, f"interrupted ({self.interrupts.cause()}); queued again")
            raise

    def _take(self, trial: optuna.Trial) -> list[float]:
        handle, spec = self.handle, self.handle.spec
        handle.storage.record_heartbeat(handle.trial_id(trial.number))  # reclaimable from now on, anywhere
        trial.set_user_attr(layout.WORKER_ATTR, self.token)
        params = layout.suggest(trial, spec.distributions())
        key = params_key(params)
        if spec.kind == "sweep" and key not in self.grid:
            self._fail(trial, "unused", "asked for after the queue emptied (another worker took the last trial); "
                       "not trained")
        of = duplicate_of(handle.trials(DONE + LIVE), trial.number, key)  # the states that can hold its work
        if of is not None:
            trial.set_user_attr(layout.DUPLICATE_OF_ATTR, of)
            self._fail(trial, "duplicate", f"duplicate of trial {of} (queued twice); not trained")
        return self._train(trial, params)

    def _train(self, trial: optuna.Trial, params: dict) -> list[float]:
        spec = self.handle.spec
        try:
            point = spec.point.replace(**{k: v for k, v in params.items() if k != "seed"})
            c = cost(point)
        except DesignError as exc:  # a point no network can be built from: a result, not a fault
            self._fail(trial, "invalid", str(exc))
        layout.record_cost(trial, point.to_dict(), c)
        constraint = spec.constraint(c.size_mb)
        if constraint is not None:
            trial.set_constraint("size_over_budget_mb", constraint)
        skip = spec.skip_reason(c.size_mb) or self.keep.before_training(trial, point)
        if skip:
            trial.set_user_attr(layout.SKIP_REASON_ATTR, skip)
            raise optuna.TrialPruned(skip)
        self._event()
        epoch_top1: list[float] = []
        single = len(spec.directions()) == 1
        # what on_epoch is given: validation top-1 where the data holds a validation split, else test top-1
        has_val = spec.val_fraction or getattr(self.data, "num_val", 0)
        live_attr = layout.EPOCH_VAL_TOP1 if has_val else layout.EPOCH_TOP1

        def on_epoch(epoch: int, top1: float) -> None:
            epoch_top1.append(float(top1))
            trial.set_user_attr(live_attr, list(epoch_top1))
            if single:
                trial.report(float(top1), epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after epoch {epoch} at {top1:.2f}% top-1")
            self._event()

        recipe = spec.recipe.replace(seed=int(params["seed"]))
        held = self.interrupts.held  # the callbacks write to the study
        extra = {"on_progress": held(live_writer(trial, self._event))} if self.progress else {}
        if self.progress and str(self.device).startswith("cpu"):
            extra["check_every"] = 1  # a CPU step is slow and reading its loss costs no device sync
        try:
            with self.interrupts.allowed():
                result = self.train_fn(point, self.data, recipe, device=self.device, on_epoch=held(on_epoch), **extra)
        except (optuna.TrialPruned, KeyboardInterrupt):
            raise
        except Diverged as exc:
            self._fail(trial, "diverged", str(exc))
        except OutOfMemory as exc:
            self._fail(trial, "oom", f"out of memory: {exc}")
        except TrainingFailed as exc:
            self._fail(trial, "error", str(exc))
        except DseError:
            layout.record_failure(trial, "error", "the run could not start here; queued again")
            raise  # no point can run here (a device that does not exist): stop rather than burn the queue
        except Exception as exc:  # noqa: BLE001 - recorded on the trial; the sweep goes on
            traceback.print_exc(file=sys.stderr)
            self._fail(trial, "error", f"{type(exc).__name__}: {exc}")
        recorded = result.to_dict()
        layout.record_result(trial, recorded)
        on_phase = self.interrupts.held(phase_writer(trial, self._event)) if self.progress else None
        more_values = self.keep.after_training(trial, point, result, on_phase)  # before tell: weights, latency
        chosen = recorded.get("val_top1")
        return spec.values(result.top1 if chosen is None else chosen, c.size_mb, *more_values)

    def _fail(self, trial: optuna.Trial, kind: str, reason: str):
        layout.record_failure(trial, kind, reason)
        raise TrialFailed(reason)

    def _event(self) -> None:
        if self.on_event:
            self.on_event()


def _retry_callback(retries: int):
    def callback(study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.state == TrialState.FAIL:
            requeue(study, trial, retries)
    return callback


def work(handle: StudyHandle, data, device: str, *, train_fn: TrainFn | None = None,
         on_event: Callable[[], None] | None = None, poll: float = POLL_S, gate=None,
         interrupts: Interrupts | None = None) -> None:
    """Train trials until the study has nothing left: none waiting, none to sample, none running elsewhere.

    `gate` (a lock shared by this machine's workers) makes "is a trial queued? then ask" one step. `interrupts`
    is the process's Ctrl-C handling (`handle_interrupts`); without it, none is installed.
    """
    real = train_fn is None
    if real:
        train_fn = partial(train, keep_model=True)  # the network, for its weights and latency (dse.study.keep)
        data = DeviceData(data, resolve_device(device))  # uploaded once: every trial of this worker reuses it
    interrupts = interrupts if interrupts is not None else Interrupts()
    objective = _Objective(handle, data, device, train_fn, on_event, gate if gate is not None else threading.Lock(),
                           interrupts)
    objective.progress = real
    callbacks = [_retry_callback(handle.options.retries)]
    while True:
        objective.hold()
        if not handle.trials([TrialState.WAITING]) and not wants_more(handle):
            objective.release()
            if reclaim_lost(handle):
                continue
            if not handle.trials([TrialState.RUNNING]):
                if handle.trials([TrialState.WAITING]):
                    continue  # queued between our look and now
                queued = queue_missing(handle, wait=False)  # what a queueing command killed halfway left
                if queued is None:  # another command (or this one's thread) is queueing: poll its progress
                    with interrupts.allowed():
                        time.sleep(poll)
                    continue
                if queued:
                    continue
                return
            objective._event()
            with interrupts.allowed():
                time.sleep(poll)
            continue
        objective.number = None
        try:
            handle.study.optimize(objective, n_trials=1, catch=(TrialFailed,), callbacks=callbacks,
                                  gc_after_trial=False)
        except UpdateFinishedTrialError:
            print(f"dse: trial {objective.number} was declared lost meanwhile; its result is dropped",
                  file=sys.stderr)
        except (KeyboardInterrupt, DseError):
            if objective.number is not None:  # Optuna has set it to FAIL: queue its work again
                requeue(handle.study, handle.storage.get_trial(handle.trial_id(objective.number)),
                        handle.options.retries)
            raise
        finally:
            objective.release()
        interrupts.check()  # a Ctrl-C held while the trial was told: stop, with nothing left running
        objective._event()


def run(spec: Spec, options: RunOptions, *, train_fn: TrainFn | None = None,
        on_event: Callable[[StudyHandle], None] | None = None, poll: float = POLL_S,
        on_open: Callable[[StudyHandle, Any], None] | None = None) -> StudyHandle:
    """Open or resume the study and train what it lacks with `options.workers` workers.

    One worker runs in this process (Ctrl-C reaches its training directly); several run as spawned
    processes, each loading the dataset once, while this one watches and calls `on_event` about once a
    second. The data is loaded here first, before a new study is written: a missing dataset or device fails
    without leaving a study behind, and the cache is built once. `on_open` is called once the study exists and
    its definition matched, with the loaded data (None when nothing is left to train). KeyboardInterrupt
    propagates after every worker has closed its trial.
    """
    devices = worker_devices(options.device, options.workers)
    keep_plan(spec, options)  # a policy that cannot be kept here fails before any study is written
    handle = open_study(spec, options, create=False)
    queueing = None
    try:
        if handle is not None:
            queueing = Queueing(handle).start()
            queueing.first.wait()
            if not has_work(handle, queueing):
                queueing.close()
                if on_open:
                    on_open(handle, None)
                return handle
        data = load_data(spec)
        if handle is None:
            handle = open_study(spec, options, check=False)
            queueing = Queueing(handle).start()
        if on_open:
            on_open(handle, data)
        notify = (lambda: on_event(handle)) if on_event else None
        with handle_interrupts() as interrupts:
            if options.workers == 1:
                work(handle, data, devices[0], train_fn=train_fn, on_event=notify, poll=poll, interrupts=interrupts)
            else:
                del data
                run_processes(worker_main, spec, options, devices, notify,
                              has_work=lambda: has_work(handle, queueing), interrupts=interrupts)
    except BaseException:
        if queueing is not None:
            with contextlib.suppress(Exception):
                queueing.close(stop=True)  # the next start queues the rest
        raise
    queueing.close()
    return handle


def worker_main(spec: Spec, options: RunOptions, device: str, workers: int, gate, sigint: bool) -> None:
    """A spawned worker (`dse.study.processes.run_processes`): its own storage connection, the dataset loaded
    once, then trials until none are left."""
    with handle_interrupts(sigint) as interrupts:  # started with SIGINT ignored (`processes._sigint_ignored`)
        try:
            if device == "cpu" and worker_threads(workers) is not None:
                torch.set_num_threads(worker_threads(workers))
            handle = open_study(spec, options, check=False)
            with interrupts.allowed():
                data = load_data(spec)
            work(handle, data, device, gate=gate, interrupts=interrupts)
        except KeyboardInterrupt:
            sys.exit(130)  # later signals stay ignored (`Interrupts`): the command may pass on another
        except DseError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(exc.exit_code)
