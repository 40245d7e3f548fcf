"""Workers: `study.optimize` takes queued trials, trains them and records them; lost and failed trials are queued again.

The study is the queue (docs/sweeps.md). Every step rests on Optuna's public API:

* the definition is written before any trial is queued (`layout.write_definition`), and queueing is idempotent
  (`queue_missing`: only the (point, seed) pairs with no trial yet), so a rerun or a second machine completes a
  partly queued grid, whenever it starts;
* a worker runs `study.optimize(objective, n_trials=1)` while a queued trial waits (or, for a search, while the
  search wants more): `ask` takes the oldest WAITING trial with a compare-and-set, Optuna's heartbeat thread beats
  while it trains, and `fail_stale_trials` fails trials whose heartbeat stopped, calling `requeue_lost`;
* the objective records a heartbeat (`RDBStorage.record_heartbeat`) before anything else, and its `worker` attr
  after, so a RUNNING trial without a `worker` attr older than the grace period died before its first beat, and
  is reclaimed by `reclaim_lost` (Optuna's stale check skips trials that never beat);
* failures inside training end the trial as FAIL (`TrialFailed`), and the optimize callback queues a retry.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from dse.errors import DesignError, DseError, SweepError
from dse.space import DesignPoint
from dse.study import layout
from dse.study.keep import Keeper
from dse.study.keep import plan as keep_plan
from dse.study.layout import DONE, LIVE, RETRIED_KINDS, failure, key_of, params_key, work_params
from dse.study.processes import (
    dead_locally,
    load_data,
    run_processes,
    terminate_as_interrupt,
    worker_devices,
    worker_token,
)
from dse.study.storage import (
    GRACE_PERIOD_S,
    HEARTBEAT_INTERVAL_S,
    check_sqlite_file,
    describe,
    open_storage,
    resolve,
    sqlite_path,
)

POLL_S = 2.0  # how often an idle worker looks for new, retried or lost trials
PROGRESS_EVERY_S = 3.0  # a running trial's step count is written at most this often (for live displays)
QUEUE_REREAD = 50  # queueing a grid re-reads the study every this many points
TrainFn = Callable[..., Any]


class Spec(Protocol):
    """What the runner needs of a sweep (`dse.study.grid.SweepSpec`) or a search (`dse.study.search.SearchSpec`)."""

    kind: str
    dataset: str
    data_dir: str | None
    subset: int | None
    point: DesignPoint
    prune: str
    val_fraction: float

    @property
    def recipe(self) -> Any: ...

    def definition(self) -> dict: ...
    def directions(self) -> list[str]: ...
    def distributions(self) -> dict[str, BaseDistribution]: ...
    def sampler(self) -> optuna.samplers.BaseSampler: ...
    def initial_params(self) -> list[dict]: ...
    def target(self) -> int: ...
    def skip_reason(self, size_mb: float) -> str | None: ...
    def constraint(self, size_mb: float) -> float | None: ...
    def values(self, top1: float, size_mb: float) -> list[float]: ...


@dataclass(frozen=True)
class RunOptions:
    """How to run (not what): where the study lives, how many workers, on which device."""

    storage: str | None  # path or URL; None: studies/<study>.db
    study_name: str
    workers: int = 1
    device: str = "auto"
    retries: int = 2
    heartbeat_interval: int = HEARTBEAT_INTERVAL_S
    grace_period: int = GRACE_PERIOD_S
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])  # tells this command's trials apart
    keep_weights: str | None = None  # all | best | none; None: all within a disk budget (dse.study.keep.plan)
    artifacts: str | None = None  # the artifact store; None: beside an SQLite study
    latency_runs: int | None = None  # timed runs per latency; None: dse.latency's default; 0: none

    def __post_init__(self) -> None:
        if self.keep_weights not in (None, "all", "best", "none"):
            raise SweepError(f"--keep-weights must be all, best or none; got {self.keep_weights!r}")
        if self.workers < 1:
            raise SweepError(f"--workers must be >= 1; got {self.workers}")
        if self.retries < 0:
            raise SweepError(f"--retries must be >= 0; got {self.retries}")


@dataclass
class StudyHandle:
    study: optuna.Study
    storage: optuna.storages.RDBStorage
    spec: Spec
    options: RunOptions

    @property
    def where(self) -> str:
        return describe(self.storage.url)

    def trials(self, states=None) -> list[FrozenTrial]:
        return self.study.get_trials(deepcopy=False, states=tuple(states) if states else None)

    def trial_id(self, number: int) -> int:
        """The storage's id of a trial, through BaseStorage's public lookups."""
        study_id = self.storage.get_study_id_from_name(self.study.study_name)
        return self.storage.get_trial_id_from_study_id_trial_number(study_id, number)


# ------------------------------------------------------------------------------------------------ the study


def open_study(spec: Spec, options: RunOptions, *, create: bool = True, check: bool = True) -> StudyHandle | None:
    """Load the study and check its definition, or create it and write the definition (before any trial).

    With create=False a missing study gives None and nothing is written.
    """
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    path = sqlite_path(resolve(options.storage, options.study_name))
    if not create and path is not None and not path.exists():
        if check:
            check_sqlite_file(path)
        return None
    storage = open_storage(options.storage, options.study_name, heartbeat_interval=options.heartbeat_interval,
                           grace_period=options.grace_period, check=check,
                           on_stale=lambda study, trial: requeue(study, trial, options.retries))
    name, sampler = options.study_name, spec.sampler()
    if name not in optuna.get_all_study_names(storage):
        if not create:
            return None
        study = optuna.create_study(storage=storage, study_name=name, directions=spec.directions(), sampler=sampler,
                                    pruner=_pruner(spec), load_if_exists=True)
    else:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=_pruner(spec))
    handle = StudyHandle(study, storage, spec, options)
    _check_definition(handle)
    return handle


def _pruner(spec: Spec) -> optuna.pruners.BasePruner:
    if spec.prune == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if spec.prune == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(spec.recipe.epochs, 2))
    return optuna.pruners.NopPruner()


def _check_definition(handle: StudyHandle) -> None:
    study, spec = handle.study, handle.spec
    where = f"study {study.study_name!r} in {handle.where}"
    stored = layout.read_definition(study)
    if [d.name.lower() for d in study.directions] != spec.directions():
        kind = (stored or {}).get("kind", "non-dse")
        raise SweepError(f"{where} optimizes other objectives (a {kind} study); choose another --study-name")
    if stored is None:
        if any(t.state != TrialState.WAITING for t in handle.trials()):
            raise SweepError(f"{where} was not made by dse (it has no sweep definition); choose another "
                             "--study-name")
        layout.write_definition(study, spec.definition())  # new, or made by a start that died before writing it
        stored = layout.read_definition(handle.storage.get_study_user_attrs(
            handle.storage.get_study_id_from_name(study.study_name)))  # another start may have written its own
    differ = layout.difference_lines(stored, spec.definition())
    if differ:
        raise SweepError(f"{where} holds another {stored.get('kind', 'study')} definition ({'; '.join(differ)}); "
                         "run it with the same options to resume, or choose another --study-name")


def queue_missing(handle: StudyHandle) -> int:
    """Queue every (point, seed) of the grid that has no trial yet; retry failures a crash left unqueued.

    Idempotent: any rerun, on any machine, completes a partly queued grid. Two starts queueing at the same
    moment may queue one pair twice; the objective then trains it once (`_duplicate_of`).
    """
    count = reclaim_lost(handle)
    trials = handle.trials()
    retried = layout.retried_numbers(trials)
    for t in trials:
        if t.state == TrialState.FAIL and t.number not in retried:
            count += requeue(handle.study, t, handle.options.retries, trials)
    present: set[tuple] = set()
    for i, params in enumerate(handle.spec.initial_params()):
        if i % QUEUE_REREAD == 0:  # another start may be queueing the same grid: skip what it has queued
            present = {key_of(t) for t in handle.trials()}
        if params_key(params) not in present:
            layout.queue(handle.study, params)
            count += 1
    return count


def requeue(study: optuna.Study, failed: FrozenTrial, retries: int, trials: list[FrozenTrial] | None = None) -> bool:
    """Queue a failed trial's work again if it may be retried and nothing else covers it (also Optuna's
    heartbeat-stale callback)."""
    kind = failure(failed)[0]
    if kind not in RETRIED_KINDS and kind != "interrupted":
        return False
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    key = key_of(failed)
    if not key or any(t.number != failed.number and key_of(t) == key and (t.state in LIVE or t.state in DONE)
                      for t in trials):
        return False
    if failed.number in layout.retried_numbers(trials) or layout.attempts(trials, key) > retries:
        return False
    layout.queue(study, work_params(failed), **{layout.RETRY_OF_ATTR: failed.number})
    return True


# ------------------------------------------------------------------------------------------------ lost workers


def reclaim_lost(handle: StudyHandle) -> int:
    """Fail and queue again the RUNNING trials whose worker is gone; returns how many were queued again.

    Three cases: heartbeat stopped for the grace period (Optuna's `fail_stale_trials`, any machine); a worker
    process of this machine that is gone (at once); no `worker` attr after the grace period (died before its
    first heartbeat, which Optuna's stale check never reports).
    """
    before = len(handle.trials([TrialState.WAITING]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(handle.study)
    count = max(0, len(handle.trials([TrialState.WAITING])) - before)
    now = time.time()
    for t in handle.trials([TrialState.RUNNING]):
        token = t.user_attrs.get(layout.WORKER_ATTR)
        if dead_locally(token):
            reason = f"worker lost: process {token['pid']} on {token['host']} died during the trial"
        elif token is None and t.datetime_start and now - t.datetime_start.timestamp() > handle.options.grace_period:
            reason = "worker lost before its first heartbeat"
        else:
            continue
        trial_id = handle.trial_id(t.number)
        try:
            handle.storage.set_trial_user_attr(trial_id, layout.FAIL_KIND_ATTR, "lost")
            handle.storage.set_trial_user_attr(trial_id, layout.FAIL_REASON_ATTR, reason)
            if not handle.storage.set_trial_state_values(trial_id, TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:
            continue  # finished meanwhile, or another worker reclaimed it first
        count += requeue(handle.study, handle.storage.get_trial(trial_id), handle.options.retries)
    return count


# ------------------------------------------------------------------------------------------------ one trial


class TrialFailed(Exception):
    """Ends a trial as FAIL with its failure recorded (Optuna's `optimize(catch=...)` records the state)."""


def _suggest(trial: optuna.Trial, distributions: dict[str, BaseDistribution]) -> dict:
    """Every param through Optuna's suggest API: queued values are taken as given, others are sampled."""
    params = {}
    for name, d in distributions.items():
        if isinstance(d, CategoricalDistribution):
            params[name] = trial.suggest_categorical(name, d.choices)
        elif isinstance(d, IntDistribution):
            params[name] = trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
        elif isinstance(d, FloatDistribution):
            params[name] = trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)
        else:  # pragma: no cover - dse only builds the three kinds above
            raise TypeError(f"unsupported distribution {d!r}")
    return params


def _duplicate_of(trials: list[FrozenTrial], number: int, key: tuple) -> int | None:
    """Another trial holding the same work: done, or live with a lower number (Optuna hands out the oldest
    WAITING trial first, so the lower number is the one that keeps it)."""
    for t in trials:
        if t.number != number and key_of(t) == key and (
                t.state in DONE or (t.state in LIVE and t.number < number)):
            return t.number
    return None


class _Objective:
    """One worker's objective: takes the trial (heartbeat, then `worker` attr), trains it, records it."""

    def __init__(self, handle: StudyHandle, data, device: str, train_fn: TrainFn, on_event, gate) -> None:
        self.handle, self.data, self.device, self.train_fn, self.on_event = handle, data, device, train_fn, on_event
        self.gate, self.gate_held = gate, False
        self.token = worker_token(device, handle.options.run_id)
        self.grid = {params_key(p) for p in handle.spec.initial_params()}
        self.number: int | None = None
        self.progress = False  # the real trainer: pass on_progress (a scripted stand-in may not take it)
        self.keep = Keeper.for_worker(handle, data)  # weights and latency (dse.study.keep)

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
            layout.record_failure(trial, "interrupted", "interrupted (Ctrl-C); queued again")
            raise

    def _take(self, trial: optuna.Trial) -> list[float]:
        handle, spec = self.handle, self.handle.spec
        handle.storage.record_heartbeat(handle.trial_id(trial.number))  # reclaimable from now on, anywhere
        trial.set_user_attr(layout.WORKER_ATTR, self.token)
        params = _suggest(trial, spec.distributions())
        key = params_key(params)
        if spec.kind == "sweep" and key not in self.grid:
            self._fail(trial, "unused", "asked for after the queue emptied (another worker took the last trial); "
                       "not trained")
        of = _duplicate_of(handle.trials(DONE + LIVE), trial.number, key)  # the states that can hold its work
        if of is not None:
            trial.set_user_attr(layout.DUPLICATE_OF_ATTR, of)
            self._fail(trial, "duplicate", f"duplicate of trial {of} (queued twice); not trained")
        return self._train(trial, params)

    def _train(self, trial: optuna.Trial, params: dict) -> list[float]:
        from dse.plan import cost
        from dse.train import Diverged, OutOfMemory, TrainingFailed

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
        extra = {"on_progress": self._progress_writer(trial)} if self.progress else {}
        if self.progress and str(self.device).startswith("cpu"):
            extra["check_every"] = 1  # a CPU step is slow and reading its loss costs no device sync
        try:
            result = self.train_fn(point, self.data, recipe, device=self.device, on_epoch=on_epoch, **extra)
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
        more_values = self.keep.after_training(trial, point, result)  # before tell: weights, latency
        chosen = recorded.get("val_top1")
        return spec.values(result.top1 if chosen is None else chosen, c.size_mb, *more_values)

    def _progress_writer(self, trial: optuna.Trial) -> Callable[[Any], None]:
        """The trainer's progress as a trial attr, written at most every PROGRESS_EVERY_S (any process can read
        it: a live display shows each running trial's epoch and step)."""
        last = [0.0]

        def write(p) -> None:
            now = time.monotonic()
            if now - last[0] < PROGRESS_EVERY_S and p.step < p.steps:
                return
            last[0] = now
            trial.set_user_attr(layout.PROGRESS_ATTR, {
                "epoch": p.epoch, "epochs": p.epochs, "step": p.step, "steps": p.steps,
                "images_per_second": round(float(p.images_per_second), 1)})
            self._event()

        return write

    def _fail(self, trial: optuna.Trial, kind: str, reason: str):
        layout.record_failure(trial, kind, reason)
        raise TrialFailed(reason)

    def _event(self) -> None:
        if self.on_event:
            self.on_event()


# ------------------------------------------------------------------------------------------------ workers


def has_work(handle: StudyHandle) -> bool:
    """Something to take now or soon: a queued trial, a running one (it may fail and be retried), or a search
    that wants more trials."""
    return bool(handle.trials(LIVE)) or _wants_more(handle)


def _wants_more(handle: StudyHandle, trials: list[FrozenTrial] | None = None) -> bool:
    """A search short of --trials (reads the whole study: a search's sampler does so for every trial anyway)."""
    if handle.spec.kind != "search":
        return False
    trials = handle.trials() if trials is None else trials
    skipped = sum(1 for t in trials if t.user_attrs.get(layout.SKIP_REASON_ATTR))
    return counted_trials(trials, handle.options.retries) < handle.spec.target() and (
        skipped <= 20 * handle.spec.target() + 100)  # a sampler stuck over the budget: stop rather than loop


def counted_trials(trials: list[FrozenTrial], retries: int) -> int:
    """Trials that count toward a search's --trials: trained, training, queued, or failed for good."""
    return sum(1 for t in trials if t.state in LIVE or t.state == TrialState.COMPLETE
               or (t.state == TrialState.PRUNED and not t.user_attrs.get(layout.SKIP_REASON_ATTR))) + len(
        layout.final_failures(trials, retries))


def _retry_callback(retries: int):
    def callback(study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.state == TrialState.FAIL:
            requeue(study, trial, retries)
    return callback


def work(handle: StudyHandle, data, device: str, *, train_fn: TrainFn | None = None,
         on_event: Callable[[], None] | None = None, poll: float = POLL_S, gate=None) -> None:
    """Train trials until the study has nothing left: none waiting, none to sample, none running elsewhere.

    `gate` (a lock shared by this machine's workers) makes "is a trial queued? then ask" one step, so local
    workers never ask Optuna for a trial once the queue is empty (which would make a fresh, sampled trial).
    """
    real = train_fn is None
    if real:
        from functools import partial

        from dse.data import DeviceData
        from dse.train import resolve_device, train

        train_fn = partial(train, keep_model=True)  # the network, for its weights and latency (dse.study.keep)

        data = DeviceData(data, resolve_device(device))  # uploaded once: every trial of this worker reuses it
    gate = gate if gate is not None else threading.Lock()
    objective = _Objective(handle, data, device, train_fn, on_event, gate)
    objective.progress = real
    callbacks = [_retry_callback(handle.options.retries)]
    while True:
        gate.acquire()
        objective.gate_held = True
        if not handle.trials([TrialState.WAITING]) and not _wants_more(handle):
            objective.release()
            if reclaim_lost(handle):
                continue
            if not handle.trials([TrialState.RUNNING]):
                if handle.trials([TrialState.WAITING]):
                    continue  # queued between our look and now
                return
            if on_event:
                on_event()
            time.sleep(poll)
            continue
        objective.number = None
        try:
            with _interrupts_deferred(objective):
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
        if on_event:
            on_event()


class _interrupts_deferred:
    """Ctrl-C is held from the ask until the objective runs (then it interrupts the trial, which Optuna closes
    as FAIL): a trial taken must have an owner before the worker stops."""

    def __init__(self, objective: _Objective) -> None:
        self.objective, self.pending, self.previous = objective, False, None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._hold)
            objective = self.objective
            inner = objective.release

            def release() -> None:
                inner()
                if self.previous is not None:
                    signal.signal(signal.SIGINT, self.previous)
                    self.previous = None
                    if self.pending:
                        raise KeyboardInterrupt
            objective.release = release
        return self

    def _hold(self, _signum, _frame) -> None:
        self.pending = True

    def __exit__(self, *exc) -> None:
        self.objective.__dict__.pop("release", None)
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            if self.pending and exc[0] is None:
                raise KeyboardInterrupt


def run(spec: Spec, options: RunOptions, *, train_fn: TrainFn | None = None,
        on_event: Callable[[StudyHandle], None] | None = None, poll: float = POLL_S,
        on_open: Callable[[StudyHandle, Any], None] | None = None) -> StudyHandle:
    """Open or resume the study and train what it lacks with `options.workers` workers.

    One worker runs in this process (Ctrl-C reaches its training directly); several run as spawned
    processes, each loading the dataset once, while this one watches and calls `on_event` about once a
    second. The data is loaded here first, before a new study is written: a missing dataset or device fails
    without leaving a study behind, and the cache is built once. `on_open` is called once the study exists and
    its definition matched (a header may name its file then), with the loaded data (None when nothing is left to
    train). KeyboardInterrupt propagates after every
    worker has closed its trial.
    """
    devices = worker_devices(options.device, options.workers)
    keep_plan(spec, options)  # a policy that cannot be kept here fails before any study is written
    handle = open_study(spec, options, create=False)
    if handle is not None:
        queue_missing(handle)
        if not has_work(handle):
            if on_open:
                on_open(handle, None)
            return handle
    data = load_data(spec)
    if handle is None:
        handle = open_study(spec, options, check=False)
        queue_missing(handle)
    if on_open:
        on_open(handle, data)
    notify = (lambda: on_event(handle)) if on_event else None
    with terminate_as_interrupt():
        if options.workers == 1:
            work(handle, data, devices[0], train_fn=train_fn, on_event=notify, poll=poll)
            return handle
        del data
        run_processes(spec, options, devices, notify, has_work=lambda: has_work(handle))
    return handle
