"""`dse sweep` (a grid x seeds, the paper's Figure 3) and `dse search` (multi-objective sampling).

Both run on an Optuna study (`dse.study.runner`): the same command again resumes it; `--workers N` trains in N
processes; `--storage postgresql://...` on several machines shares one queue. While it runs, a live display
(`dse.cli.live`) shows each trial's epoch and step, the ETA and the last results; plain lines when stdout is
not a terminal.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from dse.cli.app import STARTED, command, console, err_console, fail
from dse.cli.live import (
    LiveDisplay,
    Snapshot,
    SweepLog,
    TrialView,
    duration,
    eta_bounds,
    eta_seconds,
    finished_rates,
    sweep_lines,
)
from dse.cli.options import (
    ArtifactsOpt,
    BatchSizeOpt,
    DataDirOpt,
    DatasetOpt,
    DesignChoice,
    DeviceOpt,
    DryRunOpt,
    EpochsOpt,
    ImageSizeOpt,
    KeepWeightsOpt,
    LatencyRunsOpt,
    LrOpt,
    MaxLatencyOpt,
    MaxSizeOpt,
    ObjectiveOpt,
    ParamOpt,
    PointsOpt,
    PrecisionOpt,
    PruneOpt,
    RangeOpt,
    RetriesOpt,
    SearchParamOpt,
    SeedOpt,
    SeedsOpt,
    StorageOpt,
    StudyNameOpt,
    SubsetOpt,
    TrialsOpt,
    ValFractionOpt,
    ValuesOpt,
    WorkersOpt,
    design_options,
    flag,
)
from dse.errors import DesignError, DseError
from dse.plan import cost
from dse.space import SWEEPABLE, format_value
from dse.stats import STAT_HEADER, chance_warnings, format_stat, interval_name, seed_stat

DEFAULT_DATASET = "cifar10"  # keeps the bare study name (the mission's `dse sweep --param sr` -> studies/sr.db)
QUICK_HINT_AFTER_S = 600  # a CPU estimate longer than this gets the line on how to make a quick run


@command("sweep", help="Train a grid of design points (x seeds) as one Optuna study; the same command resumes it.")
@design_options()
def sweep_command(
    design: DesignChoice,
    param: ParamOpt = None,
    range_: RangeOpt = None,
    points: PointsOpt = None,
    values: ValuesOpt = None,
    seeds: SeedsOpt = 1,
    dataset: DatasetOpt = DEFAULT_DATASET,
    data_dir: DataDirOpt = None,
    subset: SubsetOpt = None,
    image_size: ImageSizeOpt = None,
    val_fraction: ValFractionOpt = None,
    epochs: EpochsOpt = None,
    batch_size: BatchSizeOpt = None,
    lr: LrOpt = None,
    precision: PrecisionOpt = None,
    seed: SeedOpt = None,
    device: DeviceOpt = "auto",
    workers: WorkersOpt = None,
    storage: StorageOpt = None,
    study_name: StudyNameOpt = None,
    prune: PruneOpt = "none",
    retries: RetriesOpt = 2,
    keep_weights: KeepWeightsOpt = None,
    artifacts: ArtifactsOpt = None,
    latency_runs: LatencyRunsOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    from dse.study.grid import build_spec, default_study_name
    from dse.study.handle import RunOptions

    spec = build_spec(
        params=param or [], ranges=[range_] if range_ else None, points=points, values=[values] if values else None,
        base=design.base(), design=design.values, given=design.given, dataset=dataset,
        recipe_options=dict(epochs=epochs, batch_size=batch_size, lr=lr,
                            precision=precision.value if precision else None), seed=seed, seeds=seeds, subset=subset,
        data_dir=data_dir, image_size=image_size, prune=prune, val_fraction=val_fraction)
    name = study_name or default_name(default_study_name(param or []), dataset)
    options = RunOptions(storage=storage, study_name=name, workers=_workers(workers, device), device=device,
                         retries=retries,
                         keep_weights=keep_weights, artifacts=artifacts, latency_runs=latency_runs)
    n_seeds = len(spec.seeds)
    n_points = len(spec.points())
    (_dry_run if dry_run else _run)(spec, options, f"sweep {', '.join(spec.params)}: "
                                   f"{_count(spec.target(), 'trial')} ({_count(n_points, 'point')} x "
                                   f"{_count(n_seeds, 'seed')})")


@command("search", help="Sample the design space for accuracy (max) and size (min), optionally under a size "
         "budget; the same command resumes it, a larger --trials extends it.")
@design_options()
def search_command(
    design: DesignChoice,
    param: SearchParamOpt = None,
    trials: TrialsOpt = 20,
    max_size_mb: MaxSizeOpt = None,
    max_latency_ms: MaxLatencyOpt = None,
    objective: ObjectiveOpt = "size",
    dataset: DatasetOpt = DEFAULT_DATASET,
    data_dir: DataDirOpt = None,
    subset: SubsetOpt = None,
    image_size: ImageSizeOpt = None,
    val_fraction: ValFractionOpt = None,
    epochs: EpochsOpt = None,
    batch_size: BatchSizeOpt = None,
    lr: LrOpt = None,
    precision: PrecisionOpt = None,
    seed: SeedOpt = None,
    device: DeviceOpt = "auto",
    workers: WorkersOpt = None,
    storage: StorageOpt = None,
    study_name: StudyNameOpt = None,
    retries: RetriesOpt = 2,
    keep_weights: KeepWeightsOpt = None,
    artifacts: ArtifactsOpt = None,
    latency_runs: LatencyRunsOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    from dse.study.handle import RunOptions
    from dse.study.search import build_spec

    spec = build_spec(
        params=param, base=design.base(), design=design.values, given=design.given, dataset=dataset,
        recipe_options=dict(epochs=epochs, batch_size=batch_size, lr=lr,
                            precision=precision.value if precision else None), seed=seed, trials=trials,
        max_size_mb=max_size_mb, subset=subset, data_dir=data_dir, image_size=image_size, val_fraction=val_fraction,
        max_latency_ms=max_latency_ms, objective=objective)
    options = RunOptions(storage=storage, study_name=study_name or default_name("search", dataset),
                         workers=_workers(workers, device),
                         device=device, retries=retries, keep_weights=keep_weights, artifacts=artifacts,
                         latency_runs=latency_runs)
    budget = f" under {max_size_mb:g} MB" if max_size_mb is not None else ""
    if max_latency_ms is not None:
        budget += f" under {max_latency_ms:g} ms"
    (_dry_run if dry_run else _run)(spec, options, f"search {', '.join(spec.params)}: "
                                   f"{_count(spec.trials, 'trial')}{budget}")


def default_name(base: str, dataset: str) -> str:
    """The study name when none is given: CIFAR-10 keeps `base`, any other dataset is named after it
    (`sr-fashion-mnist`, `sr-synthetic`, `sr-<folder name>`), so runs on two datasets never share a study."""
    if dataset == DEFAULT_DATASET:
        return base
    if dataset.startswith("folder:"):
        dataset = dataset[len("folder:"):].rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1] or "folder"
    return f"{base}-{re.sub(r'[^a-z0-9_.]+', '-', dataset.lower()).strip('-.') or 'data'}"


# ------------------------------------------------------------------------------------------------ running


class Watch:
    """What the live display is shown: the study's trials turned into a `Snapshot`, with the phase the run is in
    and the prior speed until trials measure their own."""

    def __init__(self, spec, options, started: float) -> None:
        self.spec, self.options, self.started = spec, options, started
        self.started_wall = time.time() - (time.monotonic() - started)
        self.phase, self.rate, self.train_images = "", None, 0
        self.startup = 0.0  # seconds a worker takes to be ready (this process's own start-up, measured)
        self.elsewhere: tuple[tuple[float, float], ...] = ()  # `dse.study.progress.times_elsewhere`
        self.has_val = bool(spec.val_fraction)  # the live top-1's split (a folder's val/ too, once loaded)
        self.names = (*spec.params, "seed") if spec.kind == "sweep" and len(spec.seeds) > 1 else tuple(spec.params)
        self.total = spec.target()  # fixed for the run; a sweep's builds every grid point, too slow for each tick
        self._macs: dict[tuple, float] = {}
        self._planned: tuple[float, ...] | None = None

    def macs(self, params: dict) -> float:
        key = tuple(sorted((k, v) for k, v in params.items() if k != "seed"))
        if key not in self._macs:
            try:
                self._macs[key] = float(cost(self.spec.point.replace(**dict(key))).macs)
            except (DesignError, TypeError):
                self._macs[key] = 0.0
        return self._macs[key]

    def work(self, params: dict) -> float:
        """Analytic work of one trial (`dse.study.progress.work`), as the estimates from other studies count it."""
        from dse.study.progress import work

        return work(self.macs(params), self.train_images, self.spec.recipe.epochs)

    def planned_work(self) -> tuple[float, ...]:
        """Each grid point's work, once the training images are known (a search's points are not known)."""
        if self.spec.kind != "sweep" or not self.train_images:
            return ()
        if self._planned is None:
            self._planned = tuple(self.work(p.to_dict()) for p in self.spec.points())
        return self._planned

    def snapshot(self, trials) -> Snapshot:
        now = time.monotonic()
        return Snapshot(total=self.total, trials=tuple(trial_views(trials, self)), elapsed=now - self.started,
                        taken_at=now, workers=self.options.workers, phase=self.phase, rate=self.rate,
                        metric="val top-1" if self.has_val else "test top-1", elsewhere=self.elsewhere,
                        planned_work=self.planned_work())


def trial_views(trials, watch: Watch) -> list[TrialView]:
    """Each trial as the display shows it: retried failures, duplicates and unused asks are left out (a retry
    stands for its failure), so the counts add up to the trials the run is to finish."""
    from optuna.trial import TrialState

    from dse.study import layout

    final = {t.number for t in layout.final_failures(trials, watch.options.retries)}
    now = time.time()
    out = []
    for t in trials:
        params = layout.work_params(t)
        label = ", ".join(f"{k}={format_value(k, params[k])}" for k in watch.names if k in params)
        started = t.datetime_start.timestamp() if t.datetime_start else now
        ended = t.datetime_complete.timestamp() if t.datetime_complete else now
        common = dict(number=t.number, label=label, work=watch.work(params), seconds=max(0.0, ended - started),
                      epochs=watch.spec.recipe.epochs,
                      finished_at=ended - watch.started_wall,
                      epoch_top1=tuple(t.user_attrs.get(layout.EPOCH_VAL_TOP1) or t.user_attrs.get(layout.EPOCH_TOP1)
                                       or ()))
        if t.state == TrialState.WAITING:
            out.append(TrialView(**{**common, "seconds": 0.0}, state="queued"))
        elif t.state == TrialState.RUNNING:
            p = t.user_attrs.get(layout.PROGRESS_ATTR) or {}
            out.append(TrialView(**common, state="running", epoch=int(p.get("epoch", 0)), step=int(p.get("step", 0)),
                                 steps=int(p.get("steps", 0)), images_per_second=p.get("images_per_second"),
                                 phase=str(p.get("phase", ""))))
        elif t.state == TrialState.COMPLETE:
            out.append(TrialView(**common, state="done", top1=t.values[0] if t.values else None,
                                 images_per_second=t.user_attrs.get("images_per_second"),
                                 train_seconds=t.user_attrs.get(layout.RESULT_SECONDS)))
        elif t.state == TrialState.PRUNED:
            skip = t.user_attrs.get(layout.SKIP_REASON_ATTR)
            out.append(TrialView(**common, state="skipped" if skip else "pruned", note=skip or ""))
        elif t.state == TrialState.FAIL and t.number in final:
            out.append(TrialView(**common, state="failed", note=layout.failure(t)[1]))
    return out


def _run(spec, options, title: str) -> None:
    from dse.study.keep import plan as keep_plan
    from dse.study.runner import run
    from dse.train import resolve_device

    started = time.monotonic()
    dev = resolve_device(options.device)  # a device that does not exist: one line before anything else
    watch = Watch(spec, options, started)
    watch.phase = loading_phase(spec)
    state: dict[str, Any] = {"last": 0.0, "where": None}
    display = LiveDisplay(console, sweep_lines, SweepLog(), transient=True)

    def show(handle, force: bool = False) -> None:
        now = time.monotonic()
        if not force and not display.plain and now - state["last"] < 0.5:  # a log sees every event: each phase
            return
        state["last"] = now
        display.show(watch.snapshot(handle.trials()))

    def opened(handle, data) -> None:
        """The study exists and matched: now the header may name its file; the prior speed is measured."""
        state["where"] = handle.where
        trials = handle.trials()
        if data is not None:
            watch.train_images = data.num_train
            watch.has_val = bool(spec.val_fraction or getattr(data, "num_val", 0))
            if not finished_rates(watch.snapshot(trials)):  # finished trials measure better than a speed test
                watch.elsewhere = _times_elsewhere(spec, options, dev)
            if not watch.phase.startswith("decoding"):  # a worker starts as this process did: imports, data
                watch.startup = time.monotonic() - STARTED
            if not finished_rates(watch.snapshot(trials)) and not watch.elsewhere:
                watch.phase = "measuring speed (a short benchmark of the base point)"
                display.show(watch.snapshot(trials))
                sizes = (data.num_train, data.num_val, data.num_test)
                watch.rate = _prior_rate(spec, dev, options.workers, sizes, keep_plan(spec, options).policy)
            watch.phase = f"starting {options.workers} workers" if options.workers > 1 else "starting"
        snap = watch.snapshot(trials)
        wrap = not console.is_terminal  # a log keeps one line; a terminal wraps between words
        eta = estimate(snap, watch.work(spec.point.to_dict()), watch.startup)
        console.print(header_line(title, options.study_name, handle.where, _device_text(dev, options.workers),
                                  snap.remaining, eta, estimate_basis(snap)), highlight=False, soft_wrap=wrap)
        console.print(_budget(spec, dev), style="dim", highlight=False, soft_wrap=wrap)
        console.print(keep_plan(spec, options).line(), style="dim", highlight=False, soft_wrap=wrap)
        if dev.type == "cpu" and eta is not None and eta > QUICK_HINT_AFTER_S:
            console.print(quick_hint(eta, spec), highlight=False, soft_wrap=wrap)
        display.show(snap)

    handle = None
    try:
        with display:
            display.show(watch.snapshot([]))
            handle = run(spec, options, on_event=show, on_open=opened)
            show(handle, force=True)
    except KeyboardInterrupt:
        where = f" (study {options.study_name!r} in {state['where']})" if state["where"] else ""
        err_console.print(f"interrupted: no trial is left running; run the same command again to resume{where}",
                          highlight=False)
        raise typer.Exit(130) from None
    _finish(handle, spec, options, time.monotonic() - started)


def _dry_run(spec, options, title: str) -> None:
    """`--dry-run`: what the run would train, keep and take, from the spec, the study as it stands (read only) and
    the speed (its finished trials, else a speed test in memory); no study, cache or folder is written."""
    from dse.data import images_planned
    from dse.study.keep import plan as keep_plan
    from dse.study.storage import describe, resolve
    from dse.train import resolve_device

    dev = resolve_device(options.device)
    keep = keep_plan(spec, options)  # refused here as the run would refuse it
    trials, state = _study_as_it_stands(spec, options)
    watch = Watch(spec, options, time.monotonic())
    sizes = images_planned(spec.dataset, spec.subset, spec.val_fraction)
    watch.train_images = sizes.train
    snap = watch.snapshot(trials)
    startup = time.monotonic() - STARTED  # imports: a worker also loads the data, so this is a lower bound
    if snap.remaining and not finished_rates(snap):
        watch.elsewhere = _times_elsewhere(spec, options, dev)
        watch.rate = None if watch.elsewhere else _prior_rate(spec, dev, options.workers, sizes, keep.policy)
        snap = watch.snapshot(trials)
    eta = estimate(snap, watch.work(spec.point.to_dict()), startup)
    where = describe(resolve(options.storage, options.study_name))
    device = _device_text(dev, options.workers)
    if not snap.remaining:
        plan = f"nothing left to train on {device}"
    else:
        plan = f"{_count(snap.remaining, 'trial')} to train on {device}" + (
            f", about {duration(eta)} ({estimate_basis(snap)})" if eta is not None else "")
    lines = [f"{title} · dry run: nothing is trained or written", *space_lines(spec),
             f"study {options.study_name} in {where}: {state}", _budget(spec, dev), keep.line(), plan]
    if dev.type == "cpu" and eta is not None and eta > QUICK_HINT_AFTER_S:
        lines.append(quick_hint(eta, spec))
    console.print("\n".join(lines), highlight=False, markup=False, soft_wrap=not console.is_terminal)


def space_lines(spec) -> list[str]:
    """A sweep's grid (each swept parameter's values) or a search's bounds, and what both hold fixed."""
    if spec.kind == "sweep":
        out = [f"grid: {name} = {', '.join(format_value(name, v) for v in values)} ({_count(len(values), 'value')})"
               for name, values in zip(spec.params, spec.grid, strict=True)]
        out.append(f"seeds: {', '.join(str(s) for s in spec.seeds)}")
    else:
        out = []
        for name, b in spec.bounds:
            if name == "bypass" or not isinstance(b[0], (int, float)):
                out.append(f"space: {name} one of {', '.join(str(v) for v in b)}")
            else:
                step = f" in steps of {format_value(name, b[2])}" if len(b) > 2 and b[2] else ""
                out.append(f"space: {name} from {format_value(name, b[0])} to {format_value(name, b[1])}{step}")
        out.append(f"sampled by TPE, seed {spec.seed}")
    fixed = spec.fixed()
    if fixed:
        out.append("fixed: " + ", ".join(f"{k} {format_value(k, v)}" for k, v in fixed.items()))
    return out


def _study_as_it_stands(spec, options) -> tuple[list, str]:
    """The study's trials, read without writing (none when it does not exist), and its state in words."""
    import optuna

    from dse.study import layout
    from dse.study.storage import open_existing, resolve, sqlite_path

    url = resolve(options.storage, options.study_name)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return [], "new (the run creates it)"
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage, _ = open_existing(str(path) if path is not None else url)
    if options.study_name not in optuna.get_all_study_names(storage):
        return [], "new (the run creates it)"
    study = optuna.load_study(study_name=options.study_name, storage=storage)
    stored = layout.read_definition(study)
    differ = layout.difference_lines(stored, spec.definition()) if stored else ["no dse definition"]
    if differ:
        return [], f"holds another definition ({'; '.join(differ)}): the run would refuse it"
    trials = study.get_trials(deepcopy=False)
    done = sum(1 for t in trials if t.state == optuna.trial.TrialState.COMPLETE)
    return trials, f"exists, {done} trial{'' if done == 1 else 's'} done (the run resumes it)"


def header_line(title: str, study: str, where: str, device: str, left: int, eta: float | None,
                basis: str = "") -> str:
    """One line: what runs, the study and its file, the device, and the trials left with the estimate of their time
    (`estimate`; None: not known yet) and what it rests on (`estimate_basis`)."""
    if not left:
        plan = "nothing left to train"
    elif eta is None:
        plan = f"{left} to train"
    else:
        plan = f"{left} to train, about {duration(eta)} ({basis or 'estimate'})"
    return f"{title} · study {study} in {where} · {device} · {plan}"


def estimate_basis(snap: Snapshot) -> str:
    """What the estimate rests on, and so how far it may be off: the finished trials (their times against the
    model's, `eta_bounds`), one trial, or the speed test (training steps alone: evaluation, latency and weights
    come on top)."""
    rates, bounds = finished_rates(snap), eta_bounds(snap)
    if bounds is not None:
        source = (f"the {len(rates)} finished trials" if rates
                  else f"{len(snap.elsewhere)} trials of the same points in other studies on this device")
        return f"estimate: {duration(bounds[0])} to {duration(bounds[1])}, from the times of {source}"
    if rates:
        return "estimate from 1 finished trial"
    if snap.elsewhere:
        return "estimate from 1 trial of the same point in another study on this device"
    if snap.rate:
        return "estimate from a speed test of training and evaluation steps"
    return "estimate"


def estimate(snap: Snapshot, base_work: float = 0.0, startup: float = 0.0) -> float | None:
    """Seconds left before the workers start: their `startup` (they start side by side), then the trials
    (`dse.cli.live.eta_seconds`); trials not created yet and no trial to compare them with (a new search) count at
    `base_work` each."""
    known = any(t.work > 0 and t.state != "skipped" for t in snap.trials)
    if known or not base_work or not snap.rate:
        left = eta_seconds(snap)
    else:
        left = snap.remaining * base_work / snap.rate / max(1, min(snap.workers, snap.remaining))
    return None if left is None else left + (startup if snap.remaining else 0.0)


QUICK_RUN = {"dataset": "synthetic", "subset": 2000, "epochs": 1, "base_e": 16, "incr_e": 16}
"""What the long-run hint suggests for a quick CPU run."""


def quick_hint(eta: float, spec) -> str:
    """The long-run hint: only the QUICK_RUN flags that would make this run smaller (none it already has, nor a
    flag for what it varies)."""
    varied = set(getattr(spec, "params", ())) | {name for name, _ in getattr(spec, "bounds", ())}
    now = {"subset": spec.subset, "epochs": spec.recipe.epochs, "base_e": spec.point.base_e,
           "incr_e": spec.point.incr_e}
    add = ["--dataset synthetic"] if spec.dataset != QUICK_RUN["dataset"] else []
    add += [f"{flag(name)} {QUICK_RUN[name]}" for name, value in now.items()
            if name not in varied and (value is None or value > QUICK_RUN[name])]
    mine = " (or --subset with your data)" if add[:1] == ["--dataset synthetic"] and "--subset 2000" in add else ""
    quick = f"for a quick run add {' '.join(add)}{mine}, and " if add else ""
    return f"on this CPU that is about {duration(eta)}; {quick}run the real job on a GPU"


def loading_phase(spec) -> str:
    from dse.data import images_to_decode

    n = images_to_decode(spec.dataset, spec.data_dir, spec.point.input_size)
    return f"decoding {n:,} images (once, into the cache)" if n else f"loading {spec.dataset}"


def _times_elsewhere(spec, options, dev) -> tuple[tuple[float, float], ...]:
    """The same runs' times in other studies beside this one on this device (`times_elsewhere`), the device named
    as this run's workers will record it (their thread count)."""
    from dse.study.progress import times_elsewhere
    from dse.train import device_name
    from dse.train.device import threads, worker_threads

    with threads(worker_threads(options.workers) if dev.type == "cpu" else None):
        name = device_name(dev)
    return tuple(times_elsewhere(spec, options, name))


def _prior_rate(spec, dev, workers: int, sizes: tuple[int, int, int], keep_policy: str) -> float | None:
    """Work per second (`dse.study.progress.work`) of one worker on the base point's whole trial: its training
    steps, every epoch's evaluation, the latency runs and the weights' check, each kind of pass timed for a few
    steps under the workers' own thread count (`dse.train.bench.trial_speed`) and counted for the `sizes`
    (train, validation, test images) of this run. The ETA before the first trial has finished; start-up is not
    in it. On a CPU a batch of at most 128 keeps this to seconds."""
    from dse.study.progress import work
    from dse.train import TrainingFailed
    from dse.train.bench import trial_images, trial_seconds, trial_speed
    from dse.train.device import worker_threads

    recipe = spec.recipe if dev.type == "cuda" else spec.recipe.replace(batch_size=min(spec.recipe.batch_size, 128))
    try:
        speed = trial_speed(spec.point, recipe, device=dev,
                            threads=worker_threads(workers) if dev.type == "cpu" else None)
    except (TrainingFailed, RuntimeError, DseError):
        return None  # no prior: the ETA appears after the first steps
    train, val, test = sizes
    seconds = trial_seconds(speed, trial_images(spec.recipe.epochs, train, val, test, keep_policy != "none"))
    return work(cost(spec.point).macs, train, spec.recipe.epochs) / seconds


def _workers(workers: int | None, device: str) -> int:
    from dse.study.processes import default_workers

    return workers if workers is not None else default_workers(device)


def _device_text(dev, workers: int) -> str:
    from dse.train import device_name

    return f"{workers} workers on {device_name(dev)}" if workers > 1 else device_name(dev)


def _budget(spec, dev) -> str:
    from dse.train import autocast_bf16

    r = spec.recipe
    val = (f"validation {spec.val_fraction:.0%} of train chooses, test measures" if spec.val_fraction
           else "no validation split: the test split chooses")
    dtype = "bf16" if autocast_bf16(r.precision, dev) else "fp32"
    return (f"{spec.dataset}{f' (subset {spec.subset})' if spec.subset else ''}, {r.epochs} epoch"
            f"{'s' if r.epochs > 1 else ''}, batch {r.batch_size}, lr {r.lr:g}, {dtype}; {val}")


def _finish(handle, spec, options, elapsed: float) -> None:
    from dse.study.progress import snapshot, trained_in_run

    trials = handle.trials()
    snap = snapshot(trials, spec.target(), options.retries, options.workers)
    if spec.kind == "sweep":
        _sweep_table(trials, spec, options.retries)
    else:
        _search_table(trials)
    where = handle.where
    ran = trained_in_run(trials, options.run_id)
    console.print(f"{snap.done} of {snap.total} done, {snap.failed} failed"
                  f"{f', {snap.skipped} over budget (not trained)' if snap.skipped else ''}"
                  f" · {f'{ran} trained in this run' if ran else 'nothing left to train'} · {duration(elapsed)}"
                  f" · optuna-dashboard {_dashboard_url(where, options)}", highlight=False,
                  soft_wrap=not console.is_terminal)
    if snap.failed:
        err_console.print(f"{snap.failed} trial(s) failed for good (reasons above; --retries sets how often "
                          "failures are retried)", highlight=False)
    if snap.remaining:
        raise fail(f"{snap.remaining} of {snap.total} trials are not done; run the same command again to resume", 1)


def _dashboard_url(where: str, options) -> str:
    """What to hand optuna-dashboard (a database URL without its password)."""
    from urllib.parse import quote

    from dse.study.storage import resolve

    return f"sqlite:///{quote(where)}" if resolve(options.storage, options.study_name).startswith("sqlite:") else where


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# ------------------------------------------------------------------------------------------------ end tables


TRAIN_SECONDS = "train s"
"""The end tables' time column: the training run's seconds (its epochs and their evaluations, `train_seconds`; a
point's mean over its seeds), as the log's "(training 46s)" says it; the log's "in 48s" is the whole trial (loading
the data, measuring latency and storing weights too)."""


def point_rows(trials, spec, retries: int) -> list[dict]:
    """Per grid point of a sweep: its values, size, and validation and test top-1 over its completed seeds as
    `dse.stats` names them (t-interval from 3 seeds, range from 2)."""
    from optuna.trial import TrialState

    from dse.study.layout import key_of, params_key
    from dse.study.progress import summarize

    complete: dict[tuple, Any] = {}
    for t in trials:
        if t.state == TrialState.COMPLETE:
            complete.setdefault(key_of(t), t)
    keys_of: dict[tuple, list[tuple]] = {}
    for params in spec.initial_params():
        keys_of.setdefault(tuple(params_key({n: params[n] for n in spec.params})), []).append(params_key(params))
    rows = []
    for row in summarize(trials, spec, retries):
        done = [complete[k] for k in keys_of.get(tuple(params_key(row.values)), []) if k in complete]
        val = seed_stat(t.user_attrs.get("val_top1") for t in done)
        test = seed_stat(t.user_attrs.get("top1", t.value) for t in done)
        rows.append({
            "values": row.values, "size_mb": row.size_mb, "imagenet_size_mb": row.imagenet_size_mb,
            "val": format_stat(val.mean, val.lo, val.hi, val.kind, val.clipped) if val.n else "",
            "test": format_stat(test.mean, test.lo, test.hi, test.kind, test.clipped) if test.n else "",
            "test_mean": test.mean if test.n else None, "seeds": f"{row.seeds_done}/{row.seeds_total}",
            "seconds": row.seconds_mean,
            "status": "; ".join(row.failed) if row.failed else (
                "done" if row.seeds_done == row.seeds_total else "missing")})
    return rows


def _sweep_table(trials, spec, retries: int) -> None:
    from dse.study.layout import VALIDATION
    from dse.study.progress import chosen_split

    rows = point_rows(trials, spec, retries)
    has_val = chosen_split(trials) == VALIDATION
    chose = "validation top-1 chose, test top-1 measured" if has_val else "no validation split: test top-1 chose"
    console.print(f"per point · top-1 % as {STAT_HEADER} over seeds · {chose}", highlight=False, markup=False,
                  soft_wrap=not console.is_terminal)
    table, dropped = sweep_table(rows, spec.params, has_val, console.width)
    console.print(table)
    if dropped:
        console.print(f"left out at {console.width} columns: {', '.join(dropped)} (a wider terminal shows "
                      f"{'it' if len(dropped) == 1 else 'them'})", style="dim", highlight=False, markup=False)
    if any("[" in r["test"] for r in rows):
        console.print(f"[interval]: {interval_name('t95')} with 3 or more seeds, {interval_name('range')} with 2 "
                      "(marked range)", style="dim", highlight=False, markup=False, soft_wrap=not console.is_terminal)
    trained = next((t.user_attrs.get("train_images") for t in trials if t.user_attrs.get("train_images")), None)
    labelled = [(", ".join(f"{n}={format_value(n, r['values'][n])}" for n in spec.params), r["test_mean"]) for r in rows
                if r["test_mean"] is not None]
    for line in chance_warnings(labelled, spec.point.num_classes, train_images=trained,
                                batch_size=spec.recipe.batch_size):
        console.print(f"warning: {line}", style="yellow", highlight=False, soft_wrap=not console.is_terminal)


# the columns a narrow terminal leaves out first, in order: the swept values and test top-1 are always kept whole,
# and status (the reasons of failures) wraps instead
DROP_ORDER = ("ImageNet MB", TRAIN_SECONDS, "seeds", "size MB", "val top-1 %")


def sweep_table(rows: list[dict], params, has_val: bool, width: int) -> tuple[Table, list[str]]:
    """The end table of a sweep (`point_rows`) no wider than `width`: rather than cut every cell to `0.…`, whole
    columns are left out (`DROP_ORDER`) until the rest fits; returns the table and the names left out."""
    status = any(r["status"] != "done" for r in rows)  # all done: the closing line says so
    columns: dict[str, list[str]] = {name: [format_value(name, r["values"][name]) for r in rows] for name in params}
    columns["size MB"] = [f"{r['size_mb']:.3f}" for r in rows]
    columns["ImageNet MB"] = [f"{r['imagenet_size_mb']:.3f}" for r in rows]
    if has_val:
        columns["val top-1 %"] = [r["val"] for r in rows]
    columns["test top-1 %"] = [r["test"] for r in rows]
    columns["seeds"] = [r["seeds"] for r in rows]
    columns[TRAIN_SECONDS] = ["" if math.isnan(r["seconds"]) else f"{r['seconds']:.1f}" for r in rows]
    if status:
        columns["status"] = [r["status"] for r in rows]

    def build(measuring: bool = False) -> Table:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for name in columns:
            table.add_column(name, justify="left" if name == "status" else "right", no_wrap=name != "status")
        for i in range(len(rows)):  # measured, status counts at its longest word: it wraps between words
            table.add_row(*(max(cells[i].split() or [""], key=len) if measuring and name == "status" else cells[i]
                            for name, cells in columns.items()))
        return table

    measure = Console(width=10_000)

    def fits() -> bool:
        return Measurement.get(measure, measure.options, build(measuring=True)).maximum <= width

    dropped: list[str] = []
    for name in DROP_ORDER:
        if fits():
            break
        if name in columns:
            del columns[name]
            dropped.append(name)
    table = build()
    return table, dropped


def _search_table(trials) -> None:
    from dse.study.layout import VALIDATION
    from dse.study.progress import chosen_split, pareto_front

    front = pareto_front(trials)
    has_val = chosen_split(trials) == VALIDATION  # the split the front was chosen on
    chose = "on validation top-1; test top-1 measured" if has_val else "on test top-1 (no validation split)"
    console.print(f"Pareto front {chose} ({len(front)} of {sum(1 for t in trials if t.values)} trained points)",
                  highlight=False, soft_wrap=not console.is_terminal)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    cols = ("#", *SWEEPABLE, "size MB", *(("val top-1 %",) if has_val else ()), "test top-1 %", TRAIN_SECONDS)
    for col in cols:
        table.add_column(col, justify="right")
    for t in front:
        p = t.params
        test = t.user_attrs.get("top1", t.values[0])
        table.add_row(str(t.number), *(format_value(k, p[k]) if k in p else "" for k in SWEEPABLE),
                      f"{t.values[1]:.3f}", *((f"{t.values[0]:.2f}",) if has_val else ()), f"{test:.2f}",
                      f"{t.user_attrs.get('train_seconds', 0):.1f}")
    console.print(table)
