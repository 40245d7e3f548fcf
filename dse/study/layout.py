"""The study layout: what dse writes into an Optuna study and how it is read back (docs/design.md, docs/sweeps.md).

The runner, the report (`dse.report.frame`) and the test fixtures all go through this module, so nothing can read a
dialect that nothing writes. Everything here uses Optuna's public API (user attrs, `enqueue_trial`, `params`).

* The definition: study user attr ``dse`` (one JSON object, compared on resume) and the same fields again as
  readable study user attrs ``dse.<field>`` (one per field, for optuna-dashboard). Written before any trial is
  queued, so a study with trials and no definition was not made by dse.
* A queued (point, seed): a WAITING trial whose user attr ``queued_params`` holds its params (with ``seed``);
  `params_key` of those params is the identity of the work, whatever trial carries it.
* Results: `COST_ATTRS` when a trial starts, `RESULT_ATTRS` when it completes; failures as ``fail_kind`` and
  ``fail_reason``. To record another result field, add it to `RESULT_ATTRS` (and to the training result's dict).
* Retries: a failure that may be retried is queued again as a new trial with ``retry_of`` (`requeue`), by the
  runner and by Optuna's heartbeat-stale callback (`dse.study.handle.open_study`).
"""

from __future__ import annotations

import json
import math
import warnings
from collections import Counter
from collections.abc import Iterable
from enum import Enum
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

DEFINITION_ATTR = "dse"  # the study user attr holding the sweep or search definition (compared on resume)
FIELD_PREFIX = "dse."  # readable copies of the definition, one study user attr per field (not compared)
VERSION_KEYS = ("dse_version", "torch_version")  # recorded, not compared: machines may differ
METRIC_NAMES = {"sweep": ["top-1 (%)"], "search": ["top-1 (%)", "size (MB)"]}  # without a validation split
VAL_METRIC_NAMES = {"sweep": ["validation top-1 (%)"], "search": ["validation top-1 (%)", "size (MB)"]}

QUEUED_ATTR = "queued_params"  # the params (with seed) a trial was queued with
WORKER_ATTR = "worker"  # who took the trial: host, machine, pid, start, device, run
RETRY_OF_ATTR = "retry_of"  # the trial number a retry repeats
DUPLICATE_OF_ATTR = "duplicate_of"
FAIL_KIND_ATTR = "fail_kind"
FAIL_REASON_ATTR = "fail_reason"
SKIP_REASON_ATTR = "skip_reason"  # a search point over the size or latency budget: PRUNED, never trained
POINT_ATTR = "point"  # the full design point
DIVERGED_ATTR = "diverged"
PROGRESS_ATTR = "progress"  # a running trial: epoch, epochs, step, steps, images_per_second (every few seconds)
COST_ATTRS = ("params", "size_mb", "imagenet_size_mb", "macs", "size_mb_int8", "size_mb_int4")  # dse.plan.cost
# CPU inference latency (dse.train.latency.Latency.attrs), measured after training (or before, under a latency budget)
LATENCY_ATTRS = ("latency_ms", "latency_q1_ms", "latency_q3_ms", "latency_batch_ms", "latency_batch_size",
                 "latency_threads", "latency_cpu")
WEIGHTS_ATTRS = ("weights_artifact_id", "weights_precision", "weights_bytes")  # dse.study.artifacts.store_weights
RESULT_ATTRS = ("top1", "top5", "loss", "epochs", "train_seconds", "images_per_second", "peak_memory_mb", "device",
                "epoch_top1", "val_top1", "val_top5", "val_loss", "epoch_val_top1", "train_images", "val_images",
                "test_images", "step", "dtype")  # from the training result's to_dict(), after training
# Test top-1 is measured on every trial, never chosen on: the objective (what pruning, the sampler and "best"
# read) is validation top-1 where the study holds a validation split.
EPOCH_VAL_TOP1 = "epoch_val_top1"
# Recipe fields kept out of the stored definition: the seed is per trial, and the step kind (eager or CUDA graph)
# computes the same step (tested), so a sweep may resume on another device; each result records its `step`.
RECIPE_NOT_COMPARED = ("seed", "step")
RESULT_SECONDS = "train_seconds"
EPOCH_TOP1 = "epoch_top1"

VAL_TOP1 = "val_top1"  # validation top-1 (%), where the study holds a validation split: what chooses
TEST_TOP1 = "top1"  # test top-1 (%): measured on every trial, chooses only where no validation is recorded
VALIDATION, TEST = "validation", "test"  # the splits a choice can be made on (`choosing_split`)

RETRIED_KINDS = frozenset({"oom", "error"})  # failures of the trial itself: they count as attempts, up to --retries
FINAL_KINDS = frozenset({"diverged", "invalid"})  # failures that are results: recorded once, never retried
NOT_WORK_KINDS = frozenset({"duplicate", "unused"})  # never trained; leave them out of everything
INTERRUPTED = "interrupted"  # a failure kind: stopped by Ctrl-C, queued again, not counted against the retries
# Failures of the command, not of the trial (its worker was killed, lost its machine, or was stopped): the work is
# queued again every time, without limit, and never counted against the retries.
REDONE_KINDS = frozenset({"lost", INTERRUPTED})
LIVE = (TrialState.WAITING, TrialState.RUNNING)
DONE = (TrialState.COMPLETE, TrialState.PRUNED)


# ------------------------------------------------------------------------------------------------ definition


def jsonable(value: Any) -> Any:
    """Tuples as lists, enums as values: what a JSON round trip through the storage gives back."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def write_definition(study: optuna.Study, definition: dict) -> None:
    """The definition (compared on resume), its fields as readable attrs, and the objectives' names."""
    definition = jsonable(definition)
    study.set_user_attr(DEFINITION_ATTR, definition)
    for name, value in definition.items():
        study.set_user_attr(FIELD_PREFIX + name, value)
    names = (VAL_METRIC_NAMES if definition.get("val_fraction") else METRIC_NAMES).get(definition.get("kind", ""))
    if names and len(names) == len(study.directions):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)


def read_definition(study_or_attrs: optuna.Study | dict) -> dict | None:
    """The stored definition, or None (a study dse did not make, or one whose creator has not written it yet)."""
    attrs = study_or_attrs if isinstance(study_or_attrs, dict) else study_or_attrs.user_attrs
    value = attrs.get(DEFINITION_ATTR)
    return value if isinstance(value, dict) else None


_NOT_SET = object()  # a key one definition has and the other lacks: neither None ("none") nor any value


def same_value(a: Any, b: Any) -> bool:
    """Equality as a definition means it: NaN equals NaN (a JSON round trip keeps NaN, and NaN != NaN), a missing
    key equals a missing key or None (a field added to dse since the study was made is None where the study's
    behaviour is unchanged) and nothing else, and containers compare item by item."""
    if isinstance(a, dict) and isinstance(b, dict):
        return all(same_value(a.get(k, _NOT_SET), b.get(k, _NOT_SET)) for k in a.keys() | b.keys())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if a is _NOT_SET or b is _NOT_SET:
        return a in (_NOT_SET, None) and b in (_NOT_SET, None)
    return a == b


def definition_differences(stored: dict, wanted: dict) -> list[str]:
    """The fields that differ (versions aside): a rerun must match the study it resumes."""
    wanted = jsonable(wanted)
    return [k for k in sorted(set(stored) | set(wanted))
            if k not in VERSION_KEYS and not same_value(stored.get(k, _NOT_SET), wanted.get(k, _NOT_SET))]


def show_value(v: Any) -> str:
    """A definition's value as a difference line prints it: a missing key `(not set)`, None `none`, the string
    "none" `"none"` where both could be confused, NaN `nan`."""
    if v is _NOT_SET:
        return "(not set)"
    if v is None:
        return "none"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v) if v in ("none", "null", "(not set)", "nan", "inf", "-inf", "") else v
    return json.dumps(v)


def difference_lines(stored: dict, wanted: dict) -> list[str]:
    """Each differing field with both values, `subset 4000 (study) vs 1000 (this command)`; a differing dict
    (grid, recipe, point) names its differing keys, `recipe.epochs 8 (study) vs 1 (this command)`."""
    wanted = jsonable(wanted)
    out = []
    for k in definition_differences(stored, wanted):
        a, b = stored.get(k, _NOT_SET), wanted.get(k, _NOT_SET)
        pairs = ([(f"{k}.{n}", a.get(n, _NOT_SET), b.get(n, _NOT_SET)) for n in sorted(set(a) | set(b))
                  if not same_value(a.get(n, _NOT_SET), b.get(n, _NOT_SET))]
                 if isinstance(a, dict) and isinstance(b, dict) else [(k, a, b)])
        out += [f"{name} {show_value(x)} (study) vs {show_value(y)} (this command)" for name, x, y in pairs]
    return out


# ------------------------------------------------------------------------------------------------ work keys


def params_key(params: dict) -> tuple:
    """The identity of a (point, seed): its params, floats rounded so JSON and Optuna agree."""
    return tuple(sorted((k, round(v, 9) if isinstance(v, float) else v) for k, v in params.items()))


def work_params(trial: FrozenTrial) -> dict:
    """The params a trial was queued with, else its params (a trial that died while taking them has only some)."""
    queued = trial.user_attrs.get(QUEUED_ATTR)
    return dict(queued) if isinstance(queued, dict) else dict(trial.params)


def key_of(trial: FrozenTrial) -> tuple:
    return params_key(work_params(trial))


def suggest(trial: optuna.Trial, distributions: dict[str, BaseDistribution]) -> dict:
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


def queue(study: optuna.Study, params: dict, **user_attrs: Any) -> None:
    """Queue a (point, seed): a WAITING trial that any worker of any machine may take."""
    params = jsonable(params)
    study.enqueue_trial(params, user_attrs={QUEUED_ATTR: params, **user_attrs})


# ------------------------------------------------------------------------------------------------ results


def record_cost(trial: optuna.Trial, point_dict: dict, cost: Any) -> None:
    trial.set_user_attr(POINT_ATTR, point_dict)
    for name in COST_ATTRS:
        trial.set_user_attr(name, getattr(cost, name))


def record_latency(trial: optuna.Trial, attrs: dict) -> None:
    for name in LATENCY_ATTRS:
        trial.set_user_attr(name, attrs.get(name))


def record_result(trial: optuna.Trial, result: dict) -> None:
    for name in RESULT_ATTRS:
        trial.set_user_attr(name, result.get(name))
    trial.set_user_attr(DIVERGED_ATTR, False)
    trial.set_user_attr(FAIL_REASON_ATTR, None)


def record_failure(trial: optuna.Trial, kind: str, reason: str) -> None:
    trial.set_user_attr(FAIL_KIND_ATTR, kind)
    trial.set_user_attr(FAIL_REASON_ATTR, reason)
    if kind == "diverged":
        trial.set_user_attr(DIVERGED_ATTR, True)


def failure(trial: FrozenTrial) -> tuple[str, str]:
    """(kind, reason) of a FAIL trial. One failed by Optuna's heartbeat check (`fail_stale_trials`) carries no
    attrs of ours: its worker stopped beating, so it is `lost`."""
    kind = trial.user_attrs.get(FAIL_KIND_ATTR)
    reason = trial.user_attrs.get(FAIL_REASON_ATTR)
    if kind is None:
        worker = trial.user_attrs.get(WORKER_ATTR)
        host = f" on {worker['host']}" if isinstance(worker, dict) and worker.get("host") else ""
        return "lost", reason or f"worker lost: no heartbeat{host} for the grace period"
    return kind, reason or kind


def is_work(trial: FrozenTrial) -> bool:
    """False for trials that were never work: duplicates of queued work, and trials asked after the queue emptied."""
    return not (trial.state == TrialState.FAIL and trial.user_attrs.get(FAIL_KIND_ATTR) in NOT_WORK_KINDS)


def attempt_counts(trials: Iterable[FrozenTrial]) -> Counter[tuple]:
    """Failed trainings per (point, seed): the failures that count against the retry limit."""
    return Counter(key_of(t) for t in trials if t.state == TrialState.FAIL and failure(t)[0] in RETRIED_KINDS)


def attempts(trials: Iterable[FrozenTrial], key: tuple) -> int:
    """Failed trainings of a (point, seed): the failures that count against the retry limit."""
    return attempt_counts(trials)[key]


def retried_numbers(trials: Iterable[FrozenTrial]) -> set[int]:
    return {t.user_attrs[RETRY_OF_ATTR] for t in trials if RETRY_OF_ATTR in t.user_attrs}


def final_failures(trials: list[FrozenTrial], retries: int) -> list[FrozenTrial]:
    """FAIL trials that will not be run again: diverged, or out of retries, with nothing live or done beside. The
    latest failure of a pair decides: one lost or interrupted is queued again, whatever came before."""
    settled = {key_of(t) for t in trials if t.state in LIVE or t.state in DONE}
    counts = attempt_counts(trials)
    out, seen = [], set()
    for t in reversed(trials):
        key = key_of(t)
        if t.state != TrialState.FAIL or key in settled or key in seen or not is_work(t):
            continue
        seen.add(key)
        kind = failure(t)[0]
        if kind in FINAL_KINDS or (kind in RETRIED_KINDS and counts[key] > retries):
            out.append(t)
    return out[::-1]


# ------------------------------------------------------------------------------------------------ choices


def choosing_split(val_top1: Iterable[Any]) -> str:
    """The split every choice among candidates is made on (a Pareto front, "best", the weights a search keeps,
    the trial `dse export --best` picks): `VALIDATION` when every candidate recorded a finite validation top-1,
    else `TEST` (also for no candidates: nothing chose). `val_top1`: each candidate's recorded value, None where
    it has none.

    Every, not any: a choice ranks its candidates on one number, so each of them needs that number. Were one
    recorded value enough, a candidate without it would either be ranked on its test top-1 against the others'
    validation top-1 (two splits in one ranking, test choosing for it unannounced) or be left out of the choice
    unannounced. "Every" never mixes splits and never drops a candidate, and where it falls back to test the
    callers say so. Studies dse writes record validation top-1 on every trial or on none (the runner records it
    whenever the study holds a validation split), so the two quantifiers differ only on a mixed study (another
    tool's, or one edited by hand)."""
    values = list(val_top1)
    return VALIDATION if values and all(_recorded(v) for v in values) else TEST


def _recorded(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ------------------------------------------------------------------------------------------------ retries


def requeue(study: optuna.Study, failed: FrozenTrial, retries: int, trials: list[FrozenTrial] | None = None, *,
            retried: set[int] | None = None) -> bool:
    """Queue a failed trial's work again if it may be retried and nothing else covers it. `retried`: the
    `retried_numbers` of `trials`, when the caller has them."""
    kind = failure(failed)[0]
    if kind not in RETRIED_KINDS and kind not in REDONE_KINDS:
        return False
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    retried = retried_numbers(trials) if retried is None else retried
    key = key_of(failed)
    if not key or failed.number in retried:
        return False
    if duplicate_of(trials, failed.number, key, live_above=True) is not None:
        return False
    if kind in RETRIED_KINDS and attempts(trials, key) > retries:
        return False
    queue(study, work_params(failed), **{RETRY_OF_ATTR: failed.number})
    return True


def duplicate_of(trials: list[FrozenTrial], number: int, key: tuple, *, live_above: bool = False) -> int | None:
    """Another trial that holds the same work: done, or live with a lower number (Optuna hands out the oldest
    WAITING trial first, so the lower number keeps it), or with `live_above`, live whatever its number."""
    for t in trials:
        if t.number != number and key_of(t) == key and (
                t.state in DONE or (t.state in LIVE and (live_above or t.number < number))):
            return t.number
    return None
