"""`dse sweep` (a grid x seeds, the paper's Figure 3) and `dse search` (multi-objective sampling).

Both run on an Optuna study (`dse.study.runner`): the same command again resumes it; `--workers N` trains in N
processes; `--storage postgresql://...` on several machines shares one queue. While it runs, a live display
(`dse.cli.live`) shows each trial's epoch and step, the ETA and the last results; plain lines when stdout is
not a terminal.
"""

from __future__ import annotations

import re
import time
from typing import Any

import typer

from dse.cli.app import STARTED, command, console, err_console, fail
from dse.cli.live import (
    LiveDisplay,
    SweepLog,
    duration,
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
)
from dse.cli.tables import print_search_table, print_sweep_table
from dse.cli.watch import (
    QUICK_HINT_AFTER_S,
    Watch,
    estimate,
    estimate_basis,
    header_line,
    loading_phase,
    prior_rate,
    prior_times,
    quick_hint,
    timed_points,
    times_elsewhere_here,
)
from dse.space import format_value

DEFAULT_DATASET = "cifar10"  # keeps the bare study name (the mission's `dse sweep --param sr` -> studies/sr.db)


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
                watch.elsewhere = times_elsewhere_here(spec, options, dev)
            if not watch.phase.startswith("decoding"):  # a worker starts as this process did: imports, data
                watch.startup = time.monotonic() - STARTED
            if not finished_rates(watch.snapshot(trials)) and not watch.elsewhere:
                n = len(timed_points(spec))
                what = f"{n} of the grid's points, lightest to heaviest" if n > 1 else "the base point"
                watch.phase = f"measuring speed (a short benchmark of {what})"
                display.show(watch.snapshot(trials))
                sizes = (data.num_train, data.num_val, data.num_test)
                watch.prior = prior_times(spec, dev, options.workers, sizes, keep_plan(spec, options).policy)
                watch.rate = prior_rate(watch.prior)
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
        watch.elsewhere = times_elsewhere_here(spec, options, dev)
        watch.prior = () if watch.elsewhere else prior_times(spec, dev, options.workers, sizes, keep.policy)
        watch.rate = prior_rate(watch.prior)
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
        print_sweep_table(trials, spec, options.retries)
    else:
        print_search_table(trials)
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
