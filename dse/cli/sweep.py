"""`dse sweep` (a grid x seeds, the paper's Figure 3) and `dse search` (multi-objective sampling).

Both run on an Optuna study (`dse.study.runner`): the same command again resumes it; `--workers N` trains in N
processes; `--storage postgresql://...` on several machines shares one queue.
"""

from __future__ import annotations

import math
import time
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from dse.cli.app import command, console, err_console, fail
from dse.cli.options import (
    ArtifactsOpt,
    BaseEOpt,
    BypassOpt,
    DropoutOpt,
    FreqOpt,
    IncrEOpt,
    KeepWeightsOpt,
    MaxLatencyOpt,
    NormOpt,
    ObjectiveOpt,
    Pct3x3Opt,
    PoolingOpt,
    PresetOpt,
    SrOpt,
    StemOpt,
)
from dse.cli.train import DataDirOpt, DatasetOpt, DeviceOpt, ImageSizeOpt, SubsetOpt
from dse.space import DesignPoint, preset

_GRID = "Grid"
_TRAIN = "Training"
_STUDY = "Study and workers"

ParamOpt = Annotated[list[str] | None, typer.Option(
    "--param", help="Metaparameter to vary: base_e, incr_e, freq, sr, pct3x3 or bypass. Repeat for a full grid; "
    "then give each its grid inline: --param sr=0.125:1.0 --param bypass=none,simple.", rich_help_panel=_GRID)]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="Fix a design field: --set sr=0.25 (repeatable).", rich_help_panel=_GRID)]
EpochsOpt = Annotated[int | None, typer.Option("--epochs", min=1, help="Training epochs per trial (default 8).",
                                               rich_help_panel=_TRAIN)]
BatchOpt = Annotated[int | None, typer.Option("--batch-size", min=1, help="Training batch size (default 512).",
                                              rich_help_panel=_TRAIN)]
LrOpt = Annotated[float | None, typer.Option("--lr", help="Peak learning rate (default: the recipe's for the norm).",
                                             rich_help_panel=_TRAIN)]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="First seed (default 0); --seeds K uses K from it.",
                                             rich_help_panel=_TRAIN)]
WorkersOpt = Annotated[int, typer.Option("--workers", help="Worker processes on this machine (spread over GPUs; "
                                         "several may share one).", rich_help_panel=_STUDY)]
StorageOpt = Annotated[str | None, typer.Option(
    "--storage", help="Study file or database URL (default studies/<study>.db; postgresql://user@host/db to share "
    "one study between machines).", rich_help_panel=_STUDY)]
StudyOpt = Annotated[str | None, typer.Option("--study-name", help="Study name (default: the swept params "
                                              "joined by '-'; search: 'search').", rich_help_panel=_STUDY)]
RetriesOpt = Annotated[int, typer.Option("--retries", min=0, help="Re-runs of a (point, seed) whose training "
                                         "failed (out of memory, error, lost worker); divergence is final.",
                                         rich_help_panel=_STUDY)]


@command("sweep", help="Train a grid of design points (x seeds) as one Optuna study; the same command resumes it.")
def sweep_command(
    param: ParamOpt = None,
    range_: Annotated[str | None, typer.Option(
        "--range", help="A:B[:STEP]: A, the multiples of STEP between, B (STEP defaults: sr and pct3x3 0.125, "
        "base_e and incr_e 32, freq 1).", rich_help_panel=_GRID)] = None,
    points: Annotated[int | None, typer.Option(
        "--points", help="N evenly spaced values over the range instead of a step.", rich_help_panel=_GRID)] = None,
    values: Annotated[str | None, typer.Option(
        "--values", help="Exactly these values: v1,v2,... (bypass: none,simple,complex).",
        rich_help_panel=_GRID)] = None,
    set_: SetOpt = None,
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds per point.", rich_help_panel=_GRID)] = 1,
    preset_name: PresetOpt = None,
    base_e: BaseEOpt = None,
    incr_e: IncrEOpt = None,
    freq: FreqOpt = None,
    sr: SrOpt = None,
    pct3x3: Pct3x3Opt = None,
    bypass: BypassOpt = None,
    stem: StemOpt = None,
    pooling: PoolingOpt = None,
    norm: NormOpt = None,
    dropout: DropoutOpt = None,
    dataset: DatasetOpt = "cifar10",
    data_dir: DataDirOpt = None,
    subset: SubsetOpt = None,
    image_size: ImageSizeOpt = None,
    epochs: EpochsOpt = None,
    batch_size: BatchOpt = None,
    lr: LrOpt = None,
    seed: SeedOpt = None,
    device: DeviceOpt = "auto",
    workers: WorkersOpt = 1,
    storage: StorageOpt = None,
    study_name: StudyOpt = None,
    prune: Annotated[str, typer.Option("--prune", help="Stop weak trials early on per-epoch accuracy: none, "
                                       "median or hyperband.", rich_help_panel=_STUDY)] = "none",
    retries: RetriesOpt = 2,
    keep_weights: KeepWeightsOpt = None,
    artifacts: ArtifactsOpt = None,
) -> None:
    from dse.study.grid import build_spec, default_study_name
    from dse.study.runner import RunOptions

    design = dict(base_e=base_e, incr_e=incr_e, freq=freq, sr=sr, pct3x3=pct3x3, bypass=bypass, stem=stem,
                  pooling=pooling, norm=norm, dropout=dropout)
    spec = build_spec(
        params=param or [], ranges=[range_] if range_ else None, points=points, values=[values] if values else None,
        assignments=set_, base=preset(preset_name) if preset_name else DesignPoint(), design=design,
        dataset=dataset, recipe_options=dict(epochs=epochs, batch_size=batch_size, lr=lr), seed=seed, seeds=seeds,
        subset=subset, data_dir=data_dir, image_size=image_size, prune=prune)
    name = study_name or default_study_name(param or [])
    options = RunOptions(storage=storage, study_name=name, workers=workers, device=device, retries=retries,
                         keep_weights=keep_weights, artifacts=artifacts)
    _run(spec, options, f"sweep {', '.join(spec.params)}: {spec.target()} trials "
         f"({len(spec.points())} points x {len(spec.seeds)} seed{'s' if len(spec.seeds) > 1 else ''})")


@command("search", help="Sample the design space for accuracy (max) and size (min), optionally under a size "
         "budget; the same command resumes it, a larger --trials extends it.")
def search_command(
    param: Annotated[list[str] | None, typer.Option(
        "--param", help="Search this parameter (default: all six), optionally within bounds: --param sr=0.25:1.0, "
        "--param base_e=64:256:32, --param bypass=none,simple.", rich_help_panel=_GRID)] = None,
    set_: SetOpt = None,
    trials: Annotated[int, typer.Option("--trials", help="Trained trials wanted (points over the budget do not "
                                        "count).", rich_help_panel=_GRID)] = 20,
    max_size_mb: Annotated[float | None, typer.Option(
        "--max-size-mb", help="Size budget (MB, fp32 parameters); points over it are never trained.",
        rich_help_panel=_GRID)] = None,
    preset_name: PresetOpt = None,
    base_e: BaseEOpt = None,
    incr_e: IncrEOpt = None,
    freq: FreqOpt = None,
    sr: SrOpt = None,
    pct3x3: Pct3x3Opt = None,
    bypass: BypassOpt = None,
    stem: StemOpt = None,
    pooling: PoolingOpt = None,
    norm: NormOpt = None,
    dropout: DropoutOpt = None,
    dataset: DatasetOpt = "cifar10",
    data_dir: DataDirOpt = None,
    subset: SubsetOpt = None,
    image_size: ImageSizeOpt = None,
    epochs: EpochsOpt = None,
    batch_size: BatchOpt = None,
    lr: LrOpt = None,
    seed: SeedOpt = None,
    device: DeviceOpt = "auto",
    workers: WorkersOpt = 1,
    storage: StorageOpt = None,
    study_name: StudyOpt = None,
    retries: RetriesOpt = 2,
    keep_weights: KeepWeightsOpt = None,
    artifacts: ArtifactsOpt = None,
    max_latency_ms: MaxLatencyOpt = None,
    objective: ObjectiveOpt = "size",
) -> None:
    from dse.study.runner import RunOptions
    from dse.study.search import build_spec

    design = dict(base_e=base_e, incr_e=incr_e, freq=freq, sr=sr, pct3x3=pct3x3, bypass=bypass, stem=stem,
                  pooling=pooling, norm=norm, dropout=dropout)
    spec = build_spec(
        params=param, assignments=set_, base=preset(preset_name) if preset_name else DesignPoint(), design=design,
        dataset=dataset, recipe_options=dict(epochs=epochs, batch_size=batch_size, lr=lr), seed=seed,
        trials=trials, max_size_mb=max_size_mb, subset=subset, data_dir=data_dir, image_size=image_size,
        max_latency_ms=max_latency_ms, objective=objective)
    options = RunOptions(storage=storage, study_name=study_name or "search", workers=workers, device=device,
                         retries=retries, keep_weights=keep_weights, artifacts=artifacts)
    budget = f" under {max_size_mb} MB" if max_size_mb is not None else ""
    budget += f" under {max_latency_ms} ms" if max_latency_ms is not None else ""
    _run(spec, options, f"search {', '.join(spec.params)}: {spec.trials} trials{budget}")


# ------------------------------------------------------------------------------------------------ running


def _run(spec, options, title: str) -> None:
    from dse.study.keep import plan
    from dse.study.progress import snapshot, trained_in_run
    from dse.study.runner import run
    from dse.study.storage import describe, resolve

    where = describe(resolve(options.storage, options.study_name))
    r = spec.recipe
    budget = (f"{spec.dataset}{f' (subset {spec.subset})' if spec.subset else ''}, {r.epochs} epoch"
              f"{'s' if r.epochs > 1 else ''}, batch {r.batch_size}, lr {r.lr}")
    console.print(f"[bold]{title}[/] · study [bold]{options.study_name}[/] in {where} · {budget}", highlight=False)
    console.print(plan(spec, options).line(), highlight=False)  # what --keep-weights costs on disk
    started = time.monotonic()
    live = Live(console=console, refresh_per_second=4, transient=True)
    state = {"last": 0.0}
    names = (*spec.params, "seed") if spec.kind == "sweep" and len(spec.seeds) > 1 else tuple(spec.params)

    def show(handle) -> None:
        now = time.monotonic()
        if now - state["last"] < 0.25:
            return
        state["last"] = now
        snap = snapshot(handle.trials(), spec.target(), options.retries, options.workers)
        live.update(_render(snap, now - started, names))

    handle = None
    try:
        with live:
            handle = run(spec, options, on_event=show)
    except KeyboardInterrupt:
        err_console.print(f"interrupted: no trial is left running; run the same command again to resume "
                          f"(study {options.study_name!r} in {where})", highlight=False)
        raise typer.Exit(130) from None
    trials = handle.trials()
    snap = snapshot(trials, spec.target(), options.retries, options.workers)
    if spec.kind == "sweep":
        _sweep_table(trials, spec, options.retries)
    else:
        _search_table(trials)
    elapsed = time.monotonic() - started
    ran = trained_in_run(trials, options.run_id)
    console.print(f"{snap.done} of {snap.total} done, {snap.failed} failed"
                  f"{f', {snap.skipped} over the size budget (not trained)' if snap.skipped else ''}"
                  f" · {f'{ran} trained in this run' if ran else 'nothing left to train'} · {_duration(elapsed)}"
                  f" · optuna-dashboard {_dashboard_url(where, options)}", highlight=False)
    if snap.failed:
        err_console.print(f"{snap.failed} trial(s) failed for good (reasons above; --retries sets how often "
                          "failures are retried)", highlight=False)
    if snap.remaining:
        raise fail(f"{snap.remaining} of {snap.total} trials are not done; run the same command again to resume", 1)


def _dashboard_url(where: str, options) -> str:
    """What to hand optuna-dashboard (a database URL without its password)."""
    from dse.study.storage import resolve

    return f"sqlite:///{where}" if resolve(options.storage, options.study_name).startswith("sqlite:") else where


def _render(snap, elapsed: float, names: tuple[str, ...]):
    parts = [f"{snap.done}/{snap.total} done", f"{snap.running} running", f"{snap.waiting} queued",
             f"{snap.failed} failed"]
    if snap.skipped:
        parts.append(f"{snap.skipped} over budget")
    if snap.eta_s is not None:
        parts.append(f"ETA {_duration(snap.eta_s)}")
    parts.append(f"elapsed {_duration(elapsed)}")
    if snap.best is not None:
        parts.append(f"best {snap.best.values[0]:.2f}% ({_label(snap.best, names)})")
    bar = ProgressBar(total=max(1, snap.total), completed=snap.done + snap.failed, width=40)
    lines = [Group(bar, Text(" · ".join(parts)))]
    for t in snap.running_trials[:8]:
        epochs = t.user_attrs.get("epoch_top1") or []
        last = f", top-1 {epochs[-1]:.1f}% after epoch {len(epochs)}" if epochs else ""
        lines.append(Text(f"  #{t.number} {_label(t, names)}{last}", style="dim"))
    return Group(*lines)


def _label(trial, names: tuple[str, ...]) -> str:
    """The values that tell trials apart here (a sweep's swept params and seed), as name=value."""
    p = trial.params
    return ", ".join(f"{k}={_fmt(p[k])}" for k in names if k in p)


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _sweep_table(trials, spec, retries: int) -> None:
    from dse.study.progress import summarize

    table = Table(title="per point (top-1 mean ± sd over seeds)", title_justify="left")
    for name in spec.params:
        table.add_column(name, justify="right")
    for col in ("size MB", "ImageNet MB", "top-1 %", "seeds", "time s", "status"):
        table.add_column(col, justify="left" if col == "status" else "right")
    for row in summarize(trials, spec, retries):
        acc = "" if math.isnan(row.top1_mean) else f"{row.top1_mean:.2f}" + (
            f" ± {row.top1_sd:.2f}" if row.seeds_done > 1 and not math.isnan(row.top1_sd) else "")
        status = "; ".join(row.failed) if row.failed else (
            "done" if row.seeds_done == row.seeds_total else "missing")
        table.add_row(*(_fmt(row.values[n]) for n in spec.params),
                      f"{row.size_mb:.3f}", f"{row.imagenet_size_mb:.3f}", acc,
                      f"{row.seeds_done}/{row.seeds_total}",
                      "" if math.isnan(row.seconds_mean) else f"{row.seconds_mean:.1f}", status)
    console.print(table)


def _search_table(trials) -> None:
    from dse.study.progress import pareto_front

    front = pareto_front(trials)
    table = Table(title=f"Pareto front ({len(front)} of "
                  f"{sum(1 for t in trials if t.values)} trained points)", title_justify="left")
    for col in ("#", "base_e", "incr_e", "freq", "sr", "pct3x3", "bypass", "size MB", "top-1 %", "time s"):
        table.add_column(col, justify="right")
    for t in front:
        p = t.params
        table.add_row(str(t.number), *(_fmt(p.get(k, "")) for k in ("base_e", "incr_e", "freq", "sr", "pct3x3",
                                                                    "bypass")),
                      f"{t.values[1]:.3f}", f"{t.values[0]:.2f}", f"{t.user_attrs.get('train_seconds', 0):.1f}")
    console.print(table)


