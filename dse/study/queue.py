"""The study is the queue: what is queued, retried and reclaimed, and whether anything is left (docs/sweeps.md).

* Queueing is idempotent (`queue_missing` queues only the (point, seed) pairs with no trial yet), so a rerun or a
  second machine completes a partly queued grid, whenever it starts. It runs under the study's queue lock
  (`dse.study.lock`): the holder reads the study once and queues what is missing; commands that find the lock
  taken train what is queued meanwhile and never queue a pair twice. A command queues in a background thread
  (`Queueing`), so its first trial starts once the first pair is queued, not once the whole grid is.
* A failure that may be retried is queued again as a new WAITING trial (`dse.study.layout.requeue`), also from
  Optuna's heartbeat-stale callback.
* A RUNNING trial whose worker is gone is failed and queued again (`reclaim_lost`): by Optuna's
  `fail_stale_trials` when its heartbeat stopped, at once when its process on this machine is gone, and after
  the grace period when it has no `worker` attr (its worker died before its first heartbeat, which Optuna's
  stale check never reports).
"""

from __future__ import annotations

import threading
import time
import warnings

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from dse.study import layout
from dse.study.handle import StudyHandle
from dse.study.layout import LIVE, key_of, params_key, requeue
from dse.study.lock import QueueLock
from dse.study.processes import dead_locally

LOCK_POLL_S = 0.1  # how often a command waiting to queue looks at the lock again


def queue_lock(handle: StudyHandle) -> QueueLock:
    return QueueLock(handle.storage.url, handle.study.study_name)


def queue_missing(handle: StudyHandle, *, wait: bool = True, stop: threading.Event | None = None) -> int | None:
    """Queue every (point, seed) of the grid that has no trial yet, and retry failures a crash left unqueued,
    under the queue lock; returns how many were queued.

    `wait=False`: None at once when another command holds the lock (it is queueing now: its progress shows in the
    study). `stop`: set from another thread to end the queueing early (the next holder queues the rest).
    """
    lock = queue_lock(handle)
    while not lock.acquire():
        if not wait:
            return None
        time.sleep(LOCK_POLL_S)
    with lock:
        return _queue_missing(handle, stop)


def _queue_missing(handle: StudyHandle, stop: threading.Event | None, on_queued=None) -> int:
    """The lock held: one read of the study, then each missing pair queued once (`on_queued` after each)."""
    count = reclaim_lost(handle)
    trials = handle.trials()
    retried = layout.retried_numbers(trials)
    for t in trials:
        if t.state == TrialState.FAIL:
            count += requeue(handle.study, t, handle.options.retries, trials, retried=retried)
    present = {key_of(t) for t in trials}
    for params in handle.spec.initial_params():
        if stop is not None and stop.is_set():
            break
        key = params_key(params)
        if key not in present:
            layout.queue(handle.study, params)
            present.add(key)
            count += 1
            if on_queued is not None:
                on_queued()
    return count


class Queueing:
    """`queue_missing` in a background thread of this command, holding the queue lock: the first trial trains as
    soon as its pair is queued, while the rest of a large grid is queued behind it.

    `start` returns at once (`elsewhere`: another command holds the lock and queues); `close` waits for the
    thread, or with `stop` ends it between two pairs (the next start queues the rest), and raises what it raised."""

    def __init__(self, handle: StudyHandle) -> None:
        self.handle = handle
        self.stop = threading.Event()
        self.first = threading.Event()  # set once the first pair is queued, or the thread has ended
        self.elsewhere = False  # another command held the lock when this one started
        self.count = 0
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> Queueing:
        lock = queue_lock(self.handle)
        if not lock.acquire():
            self.elsewhere = True
            self.first.set()
            return self
        self.thread = threading.Thread(target=self._run, args=(lock,), name="dse-queue", daemon=True)
        self.thread.start()
        return self

    def _run(self, lock: QueueLock) -> None:
        try:
            with lock:
                self.count = _queue_missing(self.handle, self.stop, on_queued=self.first.set)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread by close()
            self.error = exc
        finally:
            self.first.set()

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def close(self, *, stop: bool = False) -> None:
        """Wait for the thread (`stop`: after the pair it is queueing) and raise what it raised."""
        if stop:
            self.stop.set()
        if self.thread is not None:
            self.thread.join()
        if self.error is not None:
            error, self.error = self.error, None
            raise error


def reclaim_lost(handle: StudyHandle) -> int:
    """Fail and queue again the RUNNING trials whose worker is gone; returns how many were queued again."""
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


def has_work(handle: StudyHandle, queueing: Queueing | None = None) -> bool:
    """Something to take now or soon: a queued trial, a running one (it may fail and be retried), a search that
    wants more trials, or pairs being queued (by this command's `queueing`, or by another command: its lock is
    held). Else it queues what is missing itself (a queueing command killed halfway leaves the rest)."""
    if queueing is not None and queueing.running:
        return True
    return bool(handle.trials(LIVE)) or wants_more(handle) or queue_missing(handle, wait=False) != 0


def wants_more(handle: StudyHandle) -> bool:
    """A search short of --trials (reads the whole study: a search's sampler does so for every trial anyway)."""
    if handle.spec.kind != "search":
        return False
    trials = handle.trials()
    skipped = sum(1 for t in trials if t.user_attrs.get(layout.SKIP_REASON_ATTR))
    return counted_trials(trials, handle.options.retries) < handle.spec.target() and (
        skipped <= 20 * handle.spec.target() + 100)  # a sampler stuck over the budget: stop rather than loop


def counted_trials(trials: list[FrozenTrial], retries: int) -> int:
    """Trials that count toward a search's --trials: trained, training, queued, or failed for good."""
    return sum(1 for t in trials if t.state in LIVE or t.state == TrialState.COMPLETE
               or (t.state == TrialState.PRUNED and not t.user_attrs.get(layout.SKIP_REASON_ATTR))) + len(
        layout.final_failures(trials, retries))
