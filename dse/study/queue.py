"""The study is the queue: what is queued, retried and reclaimed, and whether anything is left (docs/sweeps.md).

* Queueing is idempotent (`queue_missing` queues only the (point, seed) pairs with no trial yet), so a rerun or a
  second machine completes a partly queued grid, whenever it starts.
* A failure that may be retried is queued again as a new WAITING trial (`dse.study.layout.requeue`), also from
  Optuna's heartbeat-stale callback.
* A RUNNING trial whose worker is gone is failed and queued again (`reclaim_lost`): by Optuna's
  `fail_stale_trials` when its heartbeat stopped, at once when its process on this machine is gone, and after
  the grace period when it has no `worker` attr (its worker died before its first heartbeat, which Optuna's
  stale check never reports).
"""

from __future__ import annotations

import time
import warnings

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from dse.study import layout
from dse.study.handle import StudyHandle
from dse.study.layout import LIVE, key_of, params_key, requeue
from dse.study.processes import dead_locally

QUEUE_REREAD = 50  # queueing a grid re-reads the study every this many points


def queue_missing(handle: StudyHandle) -> int:
    """Queue every (point, seed) of the grid that has no trial yet; retry failures a crash left unqueued.

    Two starts queueing at the same moment may queue one pair twice; the objective then trains it once
    (`duplicate_of`).
    """
    count = reclaim_lost(handle)
    trials = handle.trials()
    retried = layout.retried_numbers(trials)
    for t in trials:
        if t.state == TrialState.FAIL:
            count += requeue(handle.study, t, handle.options.retries, trials, retried=retried)
    present: set[tuple] = set()
    for i, params in enumerate(handle.spec.initial_params()):
        if i % QUEUE_REREAD == 0:  # another start may be queueing the same grid: skip what it has queued
            present = {key_of(t) for t in handle.trials()}
        if params_key(params) not in present:
            layout.queue(handle.study, params)
            count += 1
    return count


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


def has_work(handle: StudyHandle) -> bool:
    """Something to take now or soon: a queued trial, a running one (it may fail and be retried), or a search
    that wants more trials."""
    return bool(handle.trials(LIVE)) or wants_more(handle)


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
