"""Where a study stands and what it found: the snapshot, the sweep's table, the Pareto front, mean and interval.

One statistic for the CLI and the report (`dse.stats`) and one Pareto
rule (`dse.stats.pareto_mask`), so the two can never disagree.

Every choice here (the front, the best trial) is made on the split `chosen_split` names (`layout.choosing_split`:
validation top-1 where every completed trial recorded it, test top-1 for studies from before the validation split)
and reads `chosen_top1` on it. Test top-1 (`measured_top1`) is reported, never chosen on where validation exists.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from dse.plan import cost
from dse.stats import SeedStat, mean_interval, pareto_mask, seed_stat
from dse.study.layout import (
    DONE,
    INTERRUPTED,
    POINT_ATTR,
    PROGRESS_ATTR,
    RESULT_SECONDS,
    SKIP_REASON_ATTR,
    TEST_TOP1,
    VAL_TOP1,
    VALIDATION,
    WORKER_ATTR,
    choosing_split,
    failure,
    final_failures,
    key_of,
    params_key,
    read_definition,
)
from dse.study.storage import default_path, open_existing, resolve, sqlite_path

PROGRESS_EVERY_S = 3.0  # a running trial's step count is written at most this often (for live displays)
TRAINING, FINISHING = "training", "finishing"  # phases a display shows as the step count, or not at all


def live_writer(trial, on_write: Callable[[], None]) -> Callable[[Any], None]:
    """The trainer's progress as a trial attr, written at most every PROGRESS_EVERY_S and at each epoch's end:
    a live display on any machine shows each running trial's epoch, step and phase (`training_phase`)."""
    last = [0.0]

    def write(p) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_S and p.step < p.steps:
            return
        last[0] = now
        trial.set_user_attr(PROGRESS_ATTR, {
            "epoch": p.epoch, "epochs": p.epochs, "step": p.step, "steps": p.steps,
            "images_per_second": round(float(p.images_per_second), 1), "phase": training_phase(p)})
        on_write()

    return write


def training_phase(p) -> str:
    """What a trial does after this progress report (`dse.train.Progress`): an epoch's last step is reported just
    before its evaluation, the evaluated report before the next epoch (or, after the last, what the trial keeps)."""
    if p.step < p.steps or (getattr(p, "evaluated", False) and p.epoch < p.epochs):
        return TRAINING
    return FINISHING if getattr(p, "evaluated", False) else f"evaluating epoch {p.epoch}"


def phase_writer(trial, on_write: Callable[[], None]) -> Callable[[str], None]:
    """A running trial's phase after training (`measuring latency`, `storing weights`), written into its progress
    attr so the display says what the trial waits for once its steps are done."""

    def write(phase: str) -> None:
        trial.set_user_attr(PROGRESS_ATTR, {**(trial.user_attrs.get(PROGRESS_ATTR) or {}), "phase": phase})
        on_write()

    return write


def work(macs: float, train_images: float, epochs: float) -> float:
    """A trial's work as every estimate counts it: MACs per image x training images x epochs."""
    return macs * train_images * epochs


SAME_RUN = ("dataset", "subset", "val_fraction", "val_seed", "recipe", "torch_version")  # definition fields


def times_elsewhere(spec, options, device: str, folder: Path | None = None) -> list[tuple[float, float]]:
    """(work, seconds) of the finished trials of other studies beside this one (SQLite files in the folder of its
    file: the default studies/ or that of --storage; read only, and a file a killed writer left unfinished is
    passed over, not rolled back) that trained one of this sweep's points on this device with its data and recipe:
    what its trials will take, known before any of them finished. Work as the live view counts it: MACs per image
    x training images x epochs. A file that cannot be read is passed over; a search (whose points are not known)
    and a study on a server get none."""
    own = default_path(options.study_name) if options.storage is None else sqlite_path(
        resolve(options.storage, options.study_name))
    folder = folder or (own.parent if own is not None else None)
    if spec.kind != "sweep" or folder is None or not folder.is_dir():
        return []
    wanted = spec.definition()
    points = {json.dumps(p.to_dict(), sort_keys=True) for p in spec.points()}
    own = own.resolve() if own is not None else None
    out = []
    for path in sorted(folder.glob("*.db")):
        if path.resolve() == own:
            continue
        try:
            storage, _ = open_existing(str(path), recover=False)
            for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
                study = optuna.load_study(study_name=summary.study_name, storage=storage)
                stored = read_definition(study) or {}
                if any(stored.get(k) != wanted.get(k) for k in SAME_RUN):
                    continue
                for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
                    a = t.user_attrs
                    if a.get("device") != device or not t.duration or not a.get("macs"):
                        continue
                    if json.dumps(a.get(POINT_ATTR), sort_keys=True) not in points:
                        continue
                    done = work(float(a["macs"]), float(a.get("train_images") or 0), float(a.get("epochs") or 0))
                    if done > 0:
                        out.append((done, t.duration.total_seconds()))
        except Exception:  # noqa: BLE001 - another study's file is only a hint: unreadable, it says nothing
            continue
    return out


def chosen_top1(t: FrozenTrial, split: str) -> float:
    """What a choice on `split` (`chosen_split`) reads: the trial's validation top-1, or its test top-1."""
    return float(t.user_attrs[VAL_TOP1]) if split == VALIDATION else measured_top1(t)


def measured_top1(t: FrozenTrial) -> float:
    """Test top-1, what a result reports: the recorded attr, else the objective (studies before the split)."""
    test = t.user_attrs.get(TEST_TOP1)
    return float(test) if isinstance(test, (int, float)) else float(t.values[0])


def chosen_split(trials: list[FrozenTrial]) -> str:
    """The split choices among the completed trials are made on (`layout.choosing_split`); "test" is said as a
    fallback wherever it is shown."""
    return choosing_split(t.user_attrs.get(VAL_TOP1) for t in trials if t.state == TrialState.COMPLETE and t.values)


def pareto_front(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Completed trials of a search (values: top-1, size) on the front, smallest first; accuracy is
    `chosen_top1` on `chosen_split` (validation where recorded)."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    split = chosen_split(done)
    mask = pareto_mask([chosen_top1(t, split) for t in done], [t.values[1] for t in done])
    return sorted((t for t, on in zip(done, mask, strict=True) if on), key=lambda t: t.values[1])


# ------------------------------------------------------------------------------------------------ progress


@dataclass(frozen=True)
class Snapshot:
    """Where a sweep or search stands, from its trials (for the command's closing lines, `dse.cli.sweep`; the
    live display has its own, `dse.cli.live.Snapshot`)."""

    total: int  # (point, seed) pairs of a sweep; --trials of a search
    done: int
    running: int
    waiting: int
    failed: int  # final failures
    skipped: int  # search: sampled over the size budget, never trained
    best: FrozenTrial | None  # the most accurate by `chosen_top1` on `chosen_on`: validation where recorded
    eta_s: float | None
    running_trials: tuple[FrozenTrial, ...] = ()
    chosen_on: str = "validation"  # the split `best` was chosen on (`chosen_split`)

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.done - self.failed)


def snapshot(trials: list[FrozenTrial], total: int, retries: int, workers: int) -> Snapshot:
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    done_keys = {key_of(t) for t in trials if t.state in DONE and not t.user_attrs.get(SKIP_REASON_ATTR)}
    running = [t for t in trials if t.state == TrialState.RUNNING]
    failed = final_failures(trials, retries)
    split = chosen_split(trials)
    best = max((t for t in complete if t.values), key=lambda t: chosen_top1(t, split), default=None)
    durations = [t.duration.total_seconds() for t in complete if t.duration]
    done = len(done_keys)
    remaining = max(0, total - done - len(failed))
    eta = None
    if durations and remaining:
        eta = sum(durations) / len(durations) * remaining / max(1, min(workers, remaining))
    return Snapshot(total=total, done=done, running=len(running),
                    waiting=sum(1 for t in trials if t.state == TrialState.WAITING), failed=len(failed),
                    skipped=sum(1 for t in trials if t.user_attrs.get(SKIP_REASON_ATTR)), best=best, eta_s=eta,
                    running_trials=tuple(running), chosen_on=split)


def trained_in_run(trials: list[FrozenTrial], run_id: str) -> int:
    """Trials this command's workers trained (completed, pruned, or failed in training), each counted once."""
    def trained(t: FrozenTrial) -> bool:
        if t.state == TrialState.COMPLETE:
            return True
        if t.state == TrialState.PRUNED:
            return not t.user_attrs.get(SKIP_REASON_ATTR)
        return t.state == TrialState.FAIL and failure(t)[0] in ("diverged", "oom", "error", INTERRUPTED)

    return sum(1 for t in trials if (t.user_attrs.get(WORKER_ATTR) or {}).get("run") == run_id and trained(t))


@dataclass(frozen=True)
class PointSummary:
    """One design point of a finished (or partial) sweep: its seeds pooled."""

    values: dict  # the swept params' values
    size_mb: float
    imagenet_size_mb: float
    seeds_done: int
    seeds_total: int
    top1_mean: float  # TEST top-1, measured (never chosen on)
    top1_sd: float  # NaN with fewer than 2 seeds
    seconds_mean: float
    failed: tuple[str, ...]  # reasons of final failures
    top1: SeedStat | None = None  # test top-1: mean and the interval for this many seeds (`dse.stats.seed_stat`)
    val_top1_mean: float = float("nan")  # validation top-1, what chooses; NaN for studies without the split


def summarize(trials: list[FrozenTrial], spec, retries: int) -> list[PointSummary]:
    """The final table of a sweep (`dse.study.grid.SweepSpec`): per grid point, test top-1 over its completed
    seeds (mean, sd and `seed_stat`, as the report writes it), validation top-1 mean where recorded, size,
    time."""
    failed = {key_of(t): t for t in final_failures(trials, retries)}
    complete: dict[tuple, FrozenTrial] = {}
    for t in trials:
        if t.state == TrialState.COMPLETE:
            complete.setdefault(key_of(t), t)
    by_point: dict[tuple, list[tuple]] = {}
    for params in spec.initial_params():
        by_point.setdefault(tuple((n, params[n]) for n in spec.params), []).append(params_key(params))
    rows = []
    for point_key, keys in by_point.items():
        done = [complete[k] for k in keys if k in complete]
        test = seed_stat([measured_top1(t) for t in done])
        vals = [t.user_attrs.get(VAL_TOP1) for t in done]
        val_mean = mean_interval(vals)[0] if choosing_split(vals) == VALIDATION else float("nan")
        c = cost(spec.point.replace(**dict(point_key)))
        rows.append(PointSummary(
            values=dict(point_key), size_mb=c.size_mb, imagenet_size_mb=c.imagenet_size_mb,
            seeds_done=len(done), seeds_total=len(keys), top1_mean=test.mean, top1_sd=test.sd,
            seconds_mean=mean_interval([t.user_attrs.get(RESULT_SECONDS, 0.0) for t in done])[0],
            failed=tuple(failure(failed[k])[1] for k in keys if k in failed), top1=test, val_top1_mean=val_mean))
    return rows
