"""Workers: take trials from the study's queue, train them, record the results; recover trials of lost workers.

The queue is the study itself. A WAITING trial is work to do; a worker takes one by switching it to RUNNING,
which Optuna's storage does atomically (compare-and-set on the state), so processes on one machine or on
many share a sweep through its storage and nothing else. The same atomic switch to FAIL decides which of
several workers handles a lost trial, so every retry is enqueued exactly once.

Failures, recorded in the trial's user attrs as ``fail_kind`` and ``fail_reason``:

* ``diverged`` (non-finite loss) and ``invalid`` (no network can be built from the point): results of the
  design under its recipe and seed, final, never retried;
* ``oom``, ``error``, ``lost`` (the worker died: its process is gone, or its heartbeat stopped): retried,
  each (point, seed) at most ``retries`` times more, then reported;
* ``interrupted`` (Ctrl-C) and ``duplicate`` (enqueued twice by concurrent starts, never trained): not
  attempts; an interrupted trial is enqueued again at once, so the next run resumes it.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from dse.errors import DesignError, DseError, SweepError
from dse.space import DesignPoint
from dse.storage import (
    GRACE_PERIOD_S,
    HEARTBEAT_INTERVAL_S,
    check_sqlite_file,
    describe,
    open_storage,
    resolve,
    sqlite_path,
)

DEFINITION_ATTR = "dse"  # the study user attr holding the sweep or search definition
POLL_S = 2.0  # how often an idle worker looks for new, retried or lost trials
READY_WAIT_S = 10.0  # how long to wait for a study's creator to write its definition
RETRIED_KINDS = frozenset({"oom", "error", "lost"})  # failures that count as attempts and are retried
FINAL_KINDS = frozenset({"diverged", "invalid"})  # failures that are results: recorded once, never retried
LIVE = (TrialState.WAITING, TrialState.RUNNING)
DONE = (TrialState.COMPLETE, TrialState.PRUNED)
VERSION_KEYS = ("dse_version", "torch_version")  # recorded, not compared: machines may differ


class Spec(Protocol):
    """What the worker machinery needs of a sweep (`dse.sweep.SweepSpec`) or a search (`dse.search`)."""

    kind: str
    dataset: str
    data_dir: str | None
    subset: int | None
    point: DesignPoint  # the base point, adapted to the dataset
    prune: str

    @property
    def recipe(self) -> Any: ...  # dse.train.Recipe

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

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise SweepError(f"--workers must be >= 1; got {self.workers}")
        if self.retries < 0:
            raise SweepError(f"--retries must be >= 0; got {self.retries}")


@dataclass
class StudyHandle:
    """An open study with its raw storage (for the atomic state switches Optuna's Study does not expose)."""

    study: optuna.Study
    storage: optuna.storages.RDBStorage
    spec: Spec
    options: RunOptions
    study_id: int = field(init=False)

    def __post_init__(self) -> None:
        self.study_id = self.storage.get_study_id_from_name(self.study.study_name)

    @property
    def where(self) -> str:
        return describe(self.storage.url)

    def trials(self, states: Iterable[TrialState] | None = None) -> list[FrozenTrial]:
        return self.study.get_trials(deepcopy=False, states=tuple(states) if states else None)


# ------------------------------------------------------------------------------------------------ the study


def open_study(spec: Spec, options: RunOptions, *, create: bool = True, check: bool = True) -> StudyHandle | None:
    """Load the study and check it holds the same definition; or create it (definition and initial trials).

    With create=False a missing study gives None (nothing is written).
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = sqlite_path(resolve(options.storage, options.study_name))
    if not create and path is not None and not path.exists():
        if check:
            check_sqlite_file(path)
        return None  # no file, no study: and none is made before it is needed
    storage = open_storage(options.storage, options.study_name, heartbeat_interval=options.heartbeat_interval,
                           grace_period=options.grace_period, check=check)
    name, pruner, sampler = options.study_name, _pruner(spec), spec.sampler()
    try:
        storage.get_study_id_from_name(name)
        exists = True
    except KeyError:
        exists = False
    if not exists:
        if not create:
            return None
        try:
            study = optuna.create_study(storage=storage, study_name=name, directions=spec.directions(),
                                        sampler=sampler, pruner=pruner)
        except optuna.exceptions.DuplicatedStudyError:
            pass  # another start created it a moment ago: load and check it below
        else:
            handle = StudyHandle(study, storage, spec, options)
            _initialize(handle)
            return handle
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    handle = StudyHandle(study, storage, spec, options)
    _check_definition(handle)
    return handle


def _initialize(handle: StudyHandle) -> None:
    try:
        for params in handle.spec.initial_params():
            handle.study.enqueue_trial(params)
    finally:  # written last: it tells concurrent starts that the queue is complete
        handle.study.set_user_attr(DEFINITION_ATTR, _jsonable(handle.spec.definition()))


def _pruner(spec: Spec) -> optuna.pruners.BasePruner:
    epochs = spec.recipe.epochs
    if spec.prune == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if spec.prune == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 2))
    return optuna.pruners.NopPruner()


def _check_definition(handle: StudyHandle) -> None:
    study, spec = handle.study, handle.spec
    where = f"study {study.study_name!r} in {handle.where}"
    if [d.name.lower() for d in study.directions] != spec.directions():
        kind = (study.user_attrs.get(DEFINITION_ATTR) or {}).get("kind", "non-dse")
        raise SweepError(f"{where} optimizes other objectives (a {kind} study); choose another --study-name")
    stored = study.user_attrs.get(DEFINITION_ATTR)
    deadline = time.monotonic() + READY_WAIT_S
    while stored is None and time.monotonic() < deadline and all(
            t.state == TrialState.WAITING for t in study.get_trials(deepcopy=False)):
        time.sleep(0.5)  # a concurrent start created it and is enqueueing; it writes the definition last
        stored = handle.storage.get_study_user_attrs(handle.study_id).get(DEFINITION_ATTR)
    if stored is None:
        if study.get_trials(deepcopy=False):
            raise SweepError(f"{where} was not made by dse (it has no sweep definition); choose another "
                             "--study-name")
        _initialize(handle)  # an empty study whose creator stopped before writing anything: adopt it
        return
    wanted = _jsonable(spec.definition())
    differ = [k for k in sorted(set(stored) | set(wanted)) if k not in VERSION_KEYS
              and stored.get(k) != wanted.get(k)]
    if differ:
        raise SweepError(f"{where} holds another {stored.get('kind', 'study')} definition ({', '.join(differ)} "
                         "differ); run it with the same options to resume, or choose another --study-name")


def _jsonable(value: Any) -> Any:
    """Tuples as lists, enums as values: what a JSON round trip through the storage gives back."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


# ------------------------------------------------------------------------------------------------ trial keys


def key_of(trial: FrozenTrial) -> tuple:
    """The identity of a trial's work: the params it was enqueued with (with the seed), else its params."""
    return params_key(work_params(trial))


def params_key(params: dict) -> tuple:
    return tuple(sorted((k, round(v, 9) if isinstance(v, float) else v) for k, v in params.items()))


def work_params(trial: FrozenTrial) -> dict:
    """Enqueued params win: a trial that died while taking its params has only some of them set."""
    fixed = trial.system_attrs.get("fixed_params")
    return dict(fixed) if fixed else dict(trial.params)


def attempts(trials: Iterable[FrozenTrial], key: tuple) -> int:
    """Failed trainings of a (point, seed): the failures that count against the retry limit."""
    return sum(1 for t in trials if t.state == TrialState.FAIL and t.user_attrs.get("fail_kind") in RETRIED_KINDS
               and key_of(t) == key)


def retried_numbers(trials: Iterable[FrozenTrial]) -> set[int]:
    return {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}


def final_failures(trials: list[FrozenTrial], retries: int) -> list[FrozenTrial]:
    """FAIL trials that will not be run again: diverged, or out of retries, with nothing live or done beside."""
    settled = {key_of(t) for t in trials if t.state in LIVE or t.state in DONE}
    out, seen = [], set()
    for t in reversed(trials):
        key = key_of(t)
        if t.state != TrialState.FAIL or key in settled or key in seen:
            continue
        kind = t.user_attrs.get("fail_kind")
        if kind in FINAL_KINDS or (kind in RETRIED_KINDS and attempts(trials, key) > retries):
            out.append(t)
            seen.add(key)
    return out[::-1]


def enqueue_retry(handle: StudyHandle, failed: FrozenTrial) -> bool:
    """Queue the failed trial's work again if it may be retried and nothing else covers it."""
    kind = failed.user_attrs.get("fail_kind")
    if kind not in RETRIED_KINDS and kind != "interrupted":
        return False
    trials = handle.trials()
    key = key_of(failed)
    if any(t.number != failed.number and key_of(t) == key and (t.state in LIVE or t.state in DONE)
           for t in trials):
        return False
    if failed.number in retried_numbers(trials) or attempts(trials, key) > handle.options.retries:
        return False
    handle.study.enqueue_trial(work_params(failed), user_attrs={"retry_of": failed.number})
    return True


def requeue(handle: StudyHandle) -> int:
    """At start: re-run lost trials, retry failures a crash left unqueued, enqueue grid points never queued."""
    count = reap_lost(handle)
    trials = handle.trials()
    retried = retried_numbers(trials)
    for t in trials:
        if t.state == TrialState.FAIL and t.number not in retried:
            count += enqueue_retry(handle, t)
    trials = handle.trials()
    present = {key_of(t) for t in trials}
    for params in handle.spec.initial_params():
        if params_key(params) not in present:
            handle.study.enqueue_trial(params)
            count += 1
    return count


# ------------------------------------------------------------------------------------------------ lost workers


def machine_id() -> str:
    """This machine and PID namespace: a PID means the same process only under the same id."""
    parts = [socket.gethostname()]
    for path in ("/proc/sys/kernel/random/boot_id",):
        try:
            parts.append(Path(path).read_text().strip())
        except OSError:
            pass
    try:
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:
        pass
    return "/".join(parts)


def _process_start(pid: int) -> int | None:
    """The start time of a live process (clock ticks since boot), to tell a reused PID; None if none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except FileNotFoundError:
        return None
    except (OSError, IndexError, ValueError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return -1  # alive, start time unknown


def worker_token(device: str) -> dict:
    return {"host": socket.gethostname(), "machine": machine_id(), "pid": os.getpid(),
            "start": _process_start(os.getpid()), "device": device}


def _dead_locally(token: dict | None) -> bool:
    """True when the token's process ran on this machine and is gone (or its PID now belongs to another)."""
    if not token or token.get("machine") != machine_id():
        return False
    start = _process_start(int(token["pid"]))
    return start is None or (start != -1 and token.get("start") not in (None, start))


def reap_lost(handle: StudyHandle) -> int:
    """Fail and re-queue RUNNING trials whose worker is gone: a dead local process, or a heartbeat that
    stopped (any machine). Returns how many were re-queued."""
    running = handle.trials([TrialState.RUNNING])
    if not running:
        return 0
    storage, grace = handle.storage, handle.options.grace_period
    stale = set(storage._get_stale_trial_ids(handle.study_id))  # Optuna's heartbeat bookkeeping
    now = time.time()
    count = 0
    for t in running:
        token = t.user_attrs.get("worker")
        if _dead_locally(token):
            reason = f"worker lost: process {token['pid']} on {token['host']} died during the trial"
        elif t._trial_id in stale:
            host = f" on {token['host']}" if token else ""
            reason = f"worker lost: no heartbeat{host} for over {grace} s"
        elif token is None and t.datetime_start and now - t.datetime_start.timestamp() > 3 * grace:
            reason = "worker lost before it started the trial"
        else:
            continue
        try:
            storage.set_trial_user_attr(t._trial_id, "fail_kind", "lost")
            storage.set_trial_user_attr(t._trial_id, "fail_reason", reason)
            if not storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:
            continue  # finished meanwhile, or another worker reaped it first
        count += enqueue_retry(handle, storage.get_trial(t._trial_id))
    return count


class _Heartbeat:
    """Records the trial's heartbeat every interval in a thread, so other machines can tell it is alive."""

    def __init__(self, storage, trial_id: int, interval: int) -> None:
        self._storage, self._trial_id, self._interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dse-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._storage.record_heartbeat(self._trial_id)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._storage.record_heartbeat(self._trial_id)
            except Exception:  # noqa: BLE001 - a missed beat is harmless; the next one may get through
                pass


# ------------------------------------------------------------------------------------------------ one trial


def claim(handle: StudyHandle) -> optuna.Trial | None:
    """Take the oldest WAITING trial (atomically, against every other worker), or None."""
    for t in handle.trials([TrialState.WAITING]):
        try:
            if handle.storage.set_trial_state_values(t._trial_id, TrialState.RUNNING):
                return optuna.Trial(handle.study, t._trial_id)
        except UpdateFinishedTrialError:
            continue
    return None


def new_trial(handle: StudyHandle) -> optuna.Trial | None:
    """A fresh trial for the sampler (searches), while the study has fewer trials than its target."""
    trials = handle.trials()
    if handle.spec.kind != "search" or counted_trials(trials, handle.options.retries) >= handle.spec.target():
        return None
    if sum(1 for t in trials if t.user_attrs.get("skip_reason")) > 20 * handle.spec.target() + 100:
        return None  # the sampler keeps proposing points over budget: stop rather than loop
    trial_id = handle.storage.create_new_trial(handle.study_id)
    return optuna.Trial(handle.study, trial_id)


def counted_trials(trials: list[FrozenTrial], retries: int) -> int:
    """Trials that count toward a search's --trials: trained, training, queued, or failed for good."""
    return sum(1 for t in trials if t.state in LIVE or t.state == TrialState.COMPLETE
               or (t.state == TrialState.PRUNED and not t.user_attrs.get("skip_reason"))) + len(
        final_failures(trials, retries))


def _suggest(trial: optuna.Trial, distributions: dict[str, BaseDistribution]) -> dict:
    """Every param through Optuna's suggest API: enqueued values are taken as given, others are sampled."""
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


def _duplicate_of(handle: StudyHandle, trial: optuna.Trial, key: tuple) -> int | None:
    """Another trial doing the same work (two starts enqueued it at once): the lower number keeps it.

    Same-key WAITING trials are taken (atomically) and closed as duplicates of this one, so any two workers
    holding the same work both see the other RUNNING and agree on who keeps it.
    """
    for t in handle.trials():
        if t.number == trial.number or key_of(t) != key:
            continue
        if t.state in DONE or (t.state == TrialState.RUNNING and t.number < trial.number):
            return t.number
        if t.state == TrialState.WAITING:
            try:
                if handle.storage.set_trial_state_values(t._trial_id, TrialState.RUNNING):
                    _close_duplicate(handle, t._trial_id, trial.number)
            except UpdateFinishedTrialError:
                pass
    return None


def _close_duplicate(handle: StudyHandle, trial_id: int, of: int) -> None:
    storage = handle.storage
    storage.set_trial_user_attr(trial_id, "fail_kind", "duplicate")
    storage.set_trial_user_attr(trial_id, "duplicate_of", of)
    storage.set_trial_user_attr(trial_id, "fail_reason", f"duplicate of trial {of} (enqueued twice); not trained")
    storage.set_trial_state_values(trial_id, TrialState.FAIL)


TrainFn = Callable[..., Any]


def run_trial(handle: StudyHandle, trial: optuna.Trial, data, device: str, train_fn: TrainFn,
              on_event: Callable[[], None] | None = None, *, interrupted: bool = False) -> TrialState | None:
    """Train one claimed trial and record everything (docs/design.md, study layout); never leave it RUNNING.

    Ctrl-C closes the trial as interrupted (queued again) and propagates.
    """
    try:
        if interrupted:
            raise KeyboardInterrupt
        return _run_trial(handle, trial, data, device, train_fn, on_event)
    except KeyboardInterrupt:
        with _deferred_interrupts():  # a second Ctrl-C must not cut the bookkeeping short
            if handle.storage.get_trial(trial._trial_id).state == TrialState.RUNNING:
                _fail(handle, trial, "interrupted", "interrupted (Ctrl-C); queued again")
        raise


def _run_trial(handle: StudyHandle, trial: optuna.Trial, data, device: str, train_fn: TrainFn,
               on_event: Callable[[], None] | None) -> TrialState | None:
    from dse.plan import cost
    from dse.train import Diverged, OutOfMemory, TrainingFailed

    spec = handle.spec
    trial_id = trial._trial_id
    with _Heartbeat(handle.storage, trial_id, handle.options.heartbeat_interval):
        params = _suggest(trial, spec.distributions())
        if "fixed_params" in handle.storage.get_trial(trial_id).system_attrs:  # taken from the queue
            of = _duplicate_of(handle, trial, params_key(params))
            if of is not None:
                _close_duplicate(handle, trial_id, of)
                return None
        try:
            point = spec.point.replace(**{k: v for k, v in params.items() if k != "seed"})
            c = cost(point)
        except DesignError as exc:  # a point no network can be built from: a result, not a fault
            return _fail(handle, trial, "invalid", str(exc))
        trial.set_user_attr("point", point.to_dict())
        for name in ("params", "size_mb", "imagenet_size_mb", "macs"):
            trial.set_user_attr(name, getattr(c, name))
        constraint = spec.constraint(c.size_mb)
        if constraint is not None:
            trial.set_constraint("size_over_budget_mb", constraint)
        skip = spec.skip_reason(c.size_mb)
        if skip:
            trial.set_user_attr("skip_reason", skip)
            return _tell(handle, trial, state=TrialState.PRUNED)
        if on_event:
            on_event()
        epoch_top1: list[float] = []
        single = len(spec.directions()) == 1

        def on_epoch(epoch: int, top1: float) -> None:
            epoch_top1.append(float(top1))
            trial.set_user_attr("epoch_top1", list(epoch_top1))
            if single:
                trial.report(float(top1), epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after epoch {epoch} at {top1:.2f}% top-1")
            if on_event:
                on_event()

        recipe = spec.recipe.replace(seed=int(params["seed"]))
        try:
            result = train_fn(point, data, recipe, device=device, on_epoch=on_epoch)
        except optuna.TrialPruned:
            return _tell(handle, trial, state=TrialState.PRUNED)
        except Diverged as exc:
            trial.set_user_attr("diverged", True)
            return _fail(handle, trial, "diverged", str(exc))
        except OutOfMemory as exc:
            return _fail(handle, trial, "oom", f"out of memory: {exc}")
        except TrainingFailed as exc:
            return _fail(handle, trial, "error", str(exc))
        except DseError:
            _fail(handle, trial, "error", "the run could not start here; queued again")
            raise  # no point can run here (a device that does not exist): stop rather than burn the queue
        except Exception as exc:  # noqa: BLE001 - recorded on the trial; the sweep goes on
            traceback.print_exc(file=sys.stderr)
            return _fail(handle, trial, "error", f"{type(exc).__name__}: {exc}")
        attrs = result.to_dict()
        for name in ("top1", "top5", "loss", "epochs", "train_seconds", "images_per_second", "peak_memory_mb",
                     "device", "epoch_top1"):
            trial.set_user_attr(name, attrs[name])
        trial.set_user_attr("diverged", False)
        trial.set_user_attr("fail_reason", None)
        return _tell(handle, trial, values=spec.values(result.top1, c.size_mb))


def _fail(handle: StudyHandle, trial: optuna.Trial, kind: str, reason: str) -> TrialState | None:
    trial.set_user_attr("fail_kind", kind)
    trial.set_user_attr("fail_reason", reason)
    state = _tell(handle, trial, state=TrialState.FAIL)
    if state is not None:
        enqueue_retry(handle, handle.storage.get_trial(trial._trial_id))
    return state


def _tell(handle: StudyHandle, trial: optuna.Trial, *, values=None, state=None) -> TrialState | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frozen = handle.study.tell(trial, values, state=state)
    except UpdateFinishedTrialError:
        # Declared lost by another worker (no heartbeat for the grace period) and already queued again.
        print(f"dse: trial {trial.number} was declared lost meanwhile; its result is dropped", file=sys.stderr)
        return None
    return frozen.state


@contextmanager
def _deferred_interrupts():
    """Hold Ctrl-C (SIGINT) for the duration, then raise it: a trial taken must be given an owner first."""
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    pending: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: pending.append(signum))
    try:
        yield pending
    finally:
        signal.signal(signal.SIGINT, previous)


# ------------------------------------------------------------------------------------------------ workers


def work(handle: StudyHandle, data, device: str, *, train_fn: TrainFn | None = None,
         on_event: Callable[[], None] | None = None, poll: float = POLL_S) -> None:
    """Train trials until the study has nothing left: none waiting, none to sample, none running elsewhere.

    While others run, an idle worker keeps watching: their failures may be retried and their loss detected.
    """
    if train_fn is None:
        from dse.data import DeviceData
        from dse.train import resolve_device
        from dse.train import train as train_fn

        data = DeviceData(data, resolve_device(device))  # uploaded once: every trial of this worker reuses it
    token = worker_token(device)
    while True:
        with _deferred_interrupts() as pending:
            trial = claim(handle) or new_trial(handle)
            if trial is not None:
                trial.set_user_attr("worker", token)
        if trial is not None:
            run_trial(handle, trial, data, device, train_fn, on_event, interrupted=bool(pending))
            if on_event:
                on_event()
            continue
        if pending:
            raise KeyboardInterrupt
        if reap_lost(handle):
            continue
        if not handle.trials([TrialState.RUNNING]):
            if handle.trials([TrialState.WAITING]):
                continue  # queued between our look and now
            return
        if on_event:
            on_event()
        time.sleep(poll)


def load_data(spec: Spec):
    from dse.data import load_dataset

    return load_dataset(spec.dataset, spec.data_dir, image_size=spec.point.input_size, subset=spec.subset)


def worker_devices(device: str, workers: int) -> list[str]:
    """One device per worker: `auto`/`cuda` spread workers over every GPU (several may share one)."""
    import torch

    from dse.train import resolve_device

    if device in ("auto", "cuda") and torch.cuda.is_available():
        n = torch.cuda.device_count()
        return [f"cuda:{i % n}" for i in range(workers)]
    resolved = str(resolve_device(device))  # a device that does not exist here fails now, with one line
    return [resolved] * workers


def has_work(handle: StudyHandle) -> bool:
    trials = handle.trials()
    return any(t.state in LIVE for t in trials) or (
        handle.spec.kind == "search" and counted_trials(trials, handle.options.retries) < handle.spec.target())


def run(spec: Spec, options: RunOptions, *, train_fn: TrainFn | None = None,
        on_event: Callable[[StudyHandle], None] | None = None, poll: float = POLL_S) -> StudyHandle:
    """Open or resume the study and train what it lacks with `options.workers` workers.

    One worker runs in this process (Ctrl-C reaches its training directly); several run as spawned
    processes, each loading the dataset once, while this one watches and calls `on_event` about once a
    second. The data is loaded here first, before a new study is written: a missing dataset or device fails
    without leaving a study behind, and the cache is built once. KeyboardInterrupt propagates after every
    worker has closed its trial.
    """
    devices = worker_devices(options.device, options.workers)
    handle = open_study(spec, options, create=False)
    if handle is not None:
        requeue(handle)
        if not has_work(handle):
            return handle
    data = load_data(spec)
    if handle is None:
        handle = open_study(spec, options, check=False)
        requeue(handle)
    notify = (lambda: on_event(handle)) if on_event else None
    with _terminate_as_interrupt():
        if options.workers == 1:
            work(handle, data, devices[0], train_fn=train_fn, on_event=notify, poll=poll)
            return handle
        del data
        _run_processes(spec, options, devices, notify)
    return handle


@contextmanager
def _terminate_as_interrupt():
    """SIGTERM (a scheduler stopping the job) closes the running trial as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_processes(spec: Spec, options: RunOptions, devices: list[str], notify) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker_main, args=(spec, options, device, len(devices)), name=f"worker {i}")
             for i, device in enumerate(devices)]
    try:
        with _sigint_ignored():  # inherited: a worker takes Ctrl-C only once it can close a trial cleanly
            for p in procs:
                p.start()
        while any(p.is_alive() for p in procs):
            if notify:
                notify()
            for p in procs:
                p.join(timeout=1.0 / len(procs))
    except KeyboardInterrupt:
        _stop(procs)
        raise
    failed = [p for p in procs if p.exitcode != 0]
    if failed:
        codes = ", ".join(f"{p.name}: {_exit_text(p.exitcode)}" for p in failed)
        print(f"dse: {codes}; the next start re-runs what it left", file=sys.stderr)


@contextmanager
def _sigint_ignored():
    """SIGINT ignored while workers start: they inherit that (and not a Python handler) through exec, so a
    Ctrl-C in their start-up imports does nothing rather than print a traceback. `_worker_main` restores it."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop(procs: list) -> None:
    """Ctrl-C: workers in the same terminal got it too; keep passing it to any still running (one may still be
    starting, with Ctrl-C ignored), then wait for each to close its trial."""
    with _deferred_interrupts():
        deadline = time.monotonic() + 1.0
        for p in procs:
            p.join(timeout=max(0.0, deadline - time.monotonic()))
        deadline = time.monotonic() + 60.0
        while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
            for p in procs:
                if p.is_alive() and p.pid:
                    os.kill(p.pid, signal.SIGINT)
            for p in procs:
                p.join(timeout=0.5 / len(procs))
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(5)


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit {code}"


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def _worker_main(spec: Spec, options: RunOptions, device: str, workers: int) -> None:
    """A spawned worker: its own storage connection, the dataset loaded once, then trials until none are left."""
    signal.signal(signal.SIGTERM, _interrupt)  # terminated: close the trial as Ctrl-C does
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # started with it ignored (_run_processes)
        if device == "cpu" and workers > 1:
            import torch

            torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
        handle = open_study(spec, options, check=False)
        data = load_data(spec)
        work(handle, data, device)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the command may pass on another: the trial is closed
        sys.exit(130)
    except DseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


# ------------------------------------------------------------------------------------------------ progress


@dataclass(frozen=True)
class Snapshot:
    """Where a sweep or search stands, from its trials (for the live display)."""

    total: int  # (point, seed) pairs of a sweep; --trials of a search
    done: int
    running: int
    waiting: int
    failed: int  # final failures
    skipped: int  # search: sampled over the size budget, never trained
    best: FrozenTrial | None
    eta_s: float | None
    running_trials: tuple[FrozenTrial, ...] = ()

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.done - self.failed)


def snapshot(trials: list[FrozenTrial], total: int, retries: int, workers: int) -> Snapshot:
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    done_keys = {key_of(t) for t in trials if t.state in DONE and not t.user_attrs.get("skip_reason")}
    running = [t for t in trials if t.state == TrialState.RUNNING]
    failed = final_failures(trials, retries)
    best = max(complete, key=lambda t: t.values[0], default=None)
    durations = [t.duration.total_seconds() for t in complete if t.duration]
    done = len(done_keys)
    remaining = max(0, total - done - len(failed))
    eta = None
    if durations and remaining:
        eta = sum(durations) / len(durations) * remaining / max(1, min(workers, remaining))
    return Snapshot(total=total, done=done, running=len(running),
                    waiting=sum(1 for t in trials if t.state == TrialState.WAITING), failed=len(failed),
                    skipped=sum(1 for t in trials if t.user_attrs.get("skip_reason")), best=best, eta_s=eta,
                    running_trials=tuple(running))


def mean_sd(values: list[float]) -> tuple[float, float]:
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, sd
