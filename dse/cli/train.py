"""`dse train` (one point, briefly, with a live display) and `dse bench` (training throughput).

torch is imported inside the commands, so that `dse --help` and `dse arch` never load it.
"""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from dse.cli.app import command, console, err_console
from dse.cli.live import LiveDisplay, RunLog, RunView, describe_point, run_lines
from dse.cli.options import (
    PRECISION_HELP,
    TRAINING,
    BatchSizeOpt,
    DataDirOpt,
    DatasetOpt,
    DesignChoice,
    DeviceOpt,
    EpochsOpt,
    ImageSizeOpt,
    JsonOpt,
    LrOpt,
    Precision,
    PrecisionOpt,
    SeedOpt,
    Step,
    SubsetOpt,
    ValFractionOpt,
    design_options,
)


def _display(out, transient: bool = False) -> LiveDisplay[RunView]:
    return LiveDisplay(out, run_lines, RunLog(), transient=transient)


@command("train", help="Train one design point briefly; report test accuracy, size and speed.")
@design_options()
def train_command(
    design: DesignChoice,
    dataset: DatasetOpt = "cifar10",
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
    as_json: JsonOpt = False,
) -> None:
    from dse.data import VAL_FRACTION, dataset_info, load_dataset
    from dse.stats import few_steps_warning
    from dse.train import autocast_bf16, device_name, recipe_for, resolve_device, train

    started = time.monotonic()
    dev = resolve_device(device)  # before any loading: a wrong device is reported at once
    info = dataset_info(dataset, data_dir)
    point = design.point(info.num_classes, info.in_channels, image_size or info.image_size)
    recipe = recipe_for(point, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                        precision=precision.value if precision else None)
    dtype = "bf16" if autocast_bf16(recipe.precision, dev) else "fp32"
    out = err_console if as_json else console
    out.print(f"[bold]train[/] {describe_point(point)}\non {dataset}{f' (subset {subset})' if subset else ''}, "
              f"{recipe.epochs} epoch{'s' if recipe.epochs > 1 else ''}, batch {recipe.batch_size}, lr {recipe.lr:g}"
              f", seed {recipe.seed}, {dtype} · {device_name(dev)}", highlight=False, soft_wrap=not out.is_terminal)
    label = f"{dataset} · {point.input_size}px · {device_name(dev)}"
    with _display(out) as display:
        first_load = " (a folder's images are decoded once, into the cache)" if dataset.startswith("folder:") else ""
        display.show(RunView(label, phase=f"loading {dataset}{first_load}", elapsed=time.monotonic() - started))
        data = load_dataset(dataset, data_dir, image_size=point.input_size, subset=subset,
                            val_fraction=VAL_FRACTION if val_fraction is None else val_fraction)
        few = few_steps_warning(data.num_train, recipe.batch_size)
        if few:  # before training, so a run that cannot learn much can be stopped and rerun
            out.print(f"warning: {few}", style="yellow", highlight=False, soft_wrap=not out.is_terminal)
        phase = f"training on {data.num_train:,} images"
        display.show(RunView(label, phase=phase, elapsed=time.monotonic() - started))
        first = time.monotonic()

        evaluated = [0]  # the last epoch whose accuracy p.top1 is

        def show(p) -> None:
            now = time.monotonic()
            if p.evaluated:
                evaluated[0] = p.epoch
            # the epoch's last step is reported just before its evaluation, which takes a while
            where = f"evaluating epoch {p.epoch}" if p.step == p.steps and not p.evaluated else phase
            display.show(RunView(label, phase=where, epoch=p.epoch, epochs=p.epochs, step=p.step, steps=p.steps,
                                 images_per_second=p.images_per_second, loss=p.loss, top1=p.top1,
                                 val_top1=p.val_top1, evaluated=evaluated[0], elapsed=now - started,
                                 busy=now - first, taken_at=now))

        # On a CPU a step is slow and reading the loss costs nothing: report every step. On a GPU reading the
        # loss waits for the device, so the trainer's default spacing keeps it busy.
        check = {"check_every": 1} if dev.type == "cpu" else {}
        result = train(point, data, recipe, device=dev, on_progress=show, **check)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
        return
    _summary(result)


def _summary(r) -> None:
    p, rc = r.point, r.recipe
    memory = f", peak GPU memory {r.peak_memory_mb:,.0f} MB" if r.peak_memory_mb else ""
    console.print(
        f"[bold]top-1 {r.top1:.2f}%[/]  top-5 {r.top5:.2f}%  test loss {r.loss:.3f}  on the {r.dataset} test split "
        f"({r.test_images:,} images; chance {100 / p.num_classes:.1f}%)\n"
        f"per epoch top-1: {', '.join(f'{a:.1f}' for a in r.epoch_top1)}\n"
        f"size {r.size_mb:.2f} MB ({r.params:,} params), {r.macs / 1e6:,.1f} M MACs per image; "
        f"ImageNet-equivalent {r.imagenet_size_mb:.2f} MB\n"
        f"{r.epochs} epochs of {r.train_images:,} images in {r.train_seconds:.1f} s "
        f"(evaluation {r.eval_seconds:.1f} s), {r.images_per_second:,.0f} img/s, {r.dtype}, {r.device}{memory}\n"
        f"point: {describe_point(p)}\n"
        f"recipe: lr {rc.lr}, batch {rc.batch_size}, momentum {rc.momentum}{' nesterov' if rc.nesterov else ''}, "
        f"weight decay {rc.weight_decay}, label smoothing {rc.label_smoothing}, warmup {rc.warmup:.0%}, "
        f"grad clip {rc.grad_clip or 'off'}, augment {'on' if rc.augment else 'off'}, seed {rc.seed}",
        highlight=False, soft_wrap=not console.is_terminal,
    )


@command("bench", help="Training throughput of one design point: images/s after warm-up, with device and dtype.")
@design_options()
def bench_command(
    design: DesignChoice,
    dataset: DatasetOpt = "synthetic",
    data_dir: DataDirOpt = None,
    image_size: ImageSizeOpt = None,
    device: DeviceOpt = "auto",
    batch_size: BatchSizeOpt = None,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Timed steps.", rich_help_panel=TRAINING)] = 50,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed steps first.",
                                        rich_help_panel=TRAINING)] = 10,
    compile_model: Annotated[bool, typer.Option("--compile", help="torch.compile the model.",
                                                rich_help_panel=TRAINING)] = False,
    precisions: Annotated[list[Precision] | None, typer.Option(
        "--precision", help=f"{PRECISION_HELP}; repeat it (or --step) to compare, side by side.",
        rich_help_panel=TRAINING, show_default=False)] = None,
    steps_kinds: Annotated[list[Step] | None, typer.Option(
        "--step", help="The training step: auto (captured in a CUDA graph on CUDA, eager on a CPU), eager, or graph "
        "(uncaptured on a CPU: the static step); repeatable, to compare.", rich_help_panel=TRAINING,
        show_default=False)] = None,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Alternating rounds of every variant when "
                                        "comparing; each variant's median round is shown.",
                                        rich_help_panel=TRAINING)] = 3,
    latency: Annotated[bool, typer.Option("--latency", help="Instead: the point's inference latency on this CPU "
                                          "(median ms per image and per batch of 32, fp32), without training.",
                                          rich_help_panel=TRAINING)] = False,
    as_json: JsonOpt = False,
) -> None:
    if latency:
        return _latency(design, dataset, data_dir, image_size, as_json)
    from dse.data import dataset_info, load_dataset
    from dse.train import Recipe, device_name, recipe_for, resolve_device
    from dse.train.bench import Variant, bench, bench_data

    started = time.monotonic()
    dev = resolve_device(device)
    info = dataset_info(dataset, data_dir)
    point = design.point(info.num_classes, info.in_channels, image_size or info.image_size)
    batch = batch_size or Recipe.batch_size
    out = err_console if as_json else console
    name = describe_point(point)
    out.print(f"[bold]bench[/] {name}\n{point.input_size}px on {dataset}, batch {batch}, {warmup} warm-up + {steps} "
              f"timed steps{', compiled' if compile_model else ''} · {device_name(dev)}", highlight=False,
              soft_wrap=not out.is_terminal)
    label = f"bench · batch {batch} · {device_name(dev)}"
    with _display(out, transient=True) as display:
        display.show(RunView(label, phase=f"loading {dataset}", elapsed=time.monotonic() - started))
        data = (bench_data(point, batch) if dataset == "synthetic"
                else load_dataset(dataset, data_dir, image_size=point.input_size))
        first = time.monotonic()

        def show(n: int) -> None:
            now = time.monotonic()
            display.show(RunView(label, phase="warm-up" if n <= warmup else "timed", step=n, steps=warmup + steps,
                                 elapsed=now - started, busy=now - first, taken_at=now))

        variants = [Variant(p.value, k.value) for p in precisions or [Precision.auto]
                    for k in steps_kinds or [Step.auto]]
        if len(variants) > 1:
            rows = _compare(point, data, variants, dev, batch, steps, warmup, rounds, display)
        else:
            display.show(RunView(label, phase="building the model" + (" and compiling" if compile_model else ""),
                                 steps=warmup + steps, elapsed=time.monotonic() - started))
            recipe = recipe_for(point).replace(precision=variants[0].precision, step=variants[0].step)
            result = bench(point, data, device=dev, batch_size=batch, steps=steps, warmup_steps=warmup,
                           compile=compile_model, on_step=show, recipe=recipe)
    if len(variants) > 1:
        return _compare_table(point, rows, rounds, batch, steps, warmup, as_json)
    if as_json:
        typer.echo(json.dumps({**result.to_dict(), "point": point.to_dict()}))
        return
    console.print(
        f"[bold]{result.images_per_second:,.0f} images/s[/] ({result.step_ms:.1f} ms per step; "
        f"{result.epoch_seconds:.1f} s per 50,000-image epoch) at batch {result.batch_size}, {result.dtype}, "
        f"{result.step} step{', compiled' if result.compiled else ''}, on {result.device}\n"
        f"point: {name}, {point.input_size}px input, {point.num_classes} classes",
        highlight=False, soft_wrap=not console.is_terminal,
    )


def _compare(point, data, variants, dev, batch: int, steps: int, warmup: int, rounds: int, display) -> list:
    """`dse bench --precision fp32 --precision bf16` (and/or several --step): the variants in alternating rounds."""
    from dse.train import device_name
    from dse.train.bench import compare

    label = f"bench · batch {batch} · {device_name(dev)}"
    started = time.monotonic()

    def show(r: int, v) -> None:
        display.show(RunView(label, phase=f"round {r}/{rounds}: {v.precision}, {v.step} step",
                             elapsed=time.monotonic() - started))

    return compare(point, variants, data, rounds=rounds, device=dev, batch_size=batch, steps=steps,
                   warmup_steps=warmup, on_round=show)


def _compare_table(point, rows: list, rounds: int, batch: int, steps: int, warmup: int, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"point": point.to_dict(), "variants": [row.to_dict() for row in rows]}))
        return
    lines = [f"{'asked':<14} {'ran':<14} {'images/s':>9} {'ratio':>6}  rounds (images/s)"]
    for row in rows:
        asked = f"{row.variant.precision}, {row.variant.step}"
        ran = f"{row.result.dtype}, {row.result.step}"
        lines.append(f"{asked:<14} {ran:<14} {row.result.images_per_second:>9,.0f} {row.ratio:>5.2f}x  "
                     + " ".join(f"{ips:,.0f}" for ips in row.rounds))
    console.print("\n".join(lines) + f"\nmedian of {rounds} alternating round{'s' if rounds > 1 else ''} of "
                  f"{warmup} warm-up + {steps} timed steps, batch {batch}, on {rows[0].result.device}; ratio: "
                  f"images/s over the first row's\npoint: {describe_point(point)}", highlight=False,
                  soft_wrap=not console.is_terminal)


def _latency(design: DesignChoice, dataset: str, data_dir, image_size: int | None, as_json: bool) -> None:
    """`dse bench --latency`: an untrained network of the point times what the trained one would (dse.train.latency)."""
    from dse.data import dataset_info
    from dse.train.latency import point_latency

    info = dataset_info(dataset, data_dir)
    point = design.point(info.num_classes, info.in_channels, image_size or info.image_size)
    result = point_latency(point)
    if as_json:
        typer.echo(json.dumps({**result.to_dict(), "point": point.to_dict()}))
        return
    console.print(
        f"[bold]{result.single_ms:.3f} ms per image[/] (batch 1), {result.batch_ms:.2f} ms per batch of "
        f"{result.batch_size} ({result.batch_image_ms:.3f} ms per image); median of {result.runs} runs after "
        f"{result.warmup} warm-up, fp32, {result.threads} thread{'s' if result.threads != 1 else ''} on "
        f"{result.cpu}, torch {result.torch_version}\npoint: {describe_point(point)}, {point.input_size}px input, "
        f"{point.num_classes} classes", highlight=False, soft_wrap=not console.is_terminal)
