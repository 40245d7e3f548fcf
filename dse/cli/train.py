"""`dse train` (one point, briefly, with a progress bar) and `dse bench` (training throughput)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from dse.cli.app import command, console, err_console
from dse.cli.options import (
    BaseEOpt,
    BypassOpt,
    DropoutOpt,
    FreqOpt,
    HeadOpt,
    IncrEOpt,
    NormOpt,
    Pct3x3Opt,
    PoolingOpt,
    PresetOpt,
    SrOpt,
    StemOpt,
    point_from_options,
)
from dse.space import DesignPoint
from dse.train import NO_NORM_RECIPE, Recipe

_DATA = "Data"
_RUN = "Run"

DatasetOpt = Annotated[str, typer.Option(
    "--dataset", help="cifar10, cifar100, fashion-mnist, folder:PATH (PATH/train/<class>/*, PATH/test/<class>/*) "
    "or synthetic.", rich_help_panel=_DATA)]
DataDirOpt = Annotated[Path | None, typer.Option(
    "--data-dir", help="Where datasets and their caches live (default ./data, or $DSE_DATA_DIR).",
    rich_help_panel=_DATA)]
SubsetOpt = Annotated[int | None, typer.Option(
    "--subset", min=1, help="Use only the first N images of each split, classes balanced (quick runs).",
    rich_help_panel=_DATA)]
ImageSizeOpt = Annotated[int | None, typer.Option(
    "--image-size", min=1, help="Input side in px (default: the dataset's; folders 32).", rich_help_panel=_DATA)]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.", rich_help_panel=_RUN)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.", rich_help_panel=_RUN)]


def _point(info, image_size: int | None, **design) -> DesignPoint:
    """The design options, adapted to the data (a stem given explicitly is kept)."""
    return point_from_options(num_classes=info.num_classes, in_channels=info.in_channels,
                              input_size=image_size or info.image_size, **design)


@command("train", help="Train one design point briefly; report test accuracy, size and speed.")
def train_command(
    preset: PresetOpt = None,
    base_e: BaseEOpt = None,
    incr_e: IncrEOpt = None,
    freq: FreqOpt = None,
    sr: SrOpt = None,
    pct3x3: Pct3x3Opt = None,
    bypass: BypassOpt = None,
    stem: StemOpt = None,
    pooling: PoolingOpt = None,
    norm: NormOpt = None,
    head: HeadOpt = None,
    dropout: DropoutOpt = None,
    dataset: DatasetOpt = "cifar10",
    data_dir: DataDirOpt = None,
    subset: SubsetOpt = None,
    image_size: ImageSizeOpt = None,
    epochs: Annotated[int | None, typer.Option(
        "--epochs", help=f"Training epochs (default {Recipe.epochs}).", rich_help_panel=_RUN)] = None,
    batch_size: Annotated[int | None, typer.Option(
        "--batch-size", help=f"Training batch size (default {Recipe.batch_size}).", rich_help_panel=_RUN)] = None,
    lr: Annotated[float | None, typer.Option(
        "--lr", help=f"Peak learning rate (default {Recipe.lr} with --norm batch, {NO_NORM_RECIPE.lr} with "
        "--norm none, whose recipe also warms up longer and clips gradients).", rich_help_panel=_RUN)] = None,
    seed: Annotated[int | None, typer.Option(
        "--seed", help=f"Drives init, data order and augmentation (default {Recipe.seed}).",
        rich_help_panel=_RUN)] = None,
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    from dse.data import dataset_info, load_dataset
    from dse.train import recipe_for, resolve_device, train

    dev = resolve_device(device)  # before any loading: a wrong device is reported at once
    info = dataset_info(dataset, data_dir)
    point = _point(info, image_size, preset_name=preset, base_e=base_e, incr_e=incr_e, freq=freq, sr=sr,
                   pct3x3=pct3x3, bypass=bypass, stem=stem, pooling=pooling, norm=norm, head=head, dropout=dropout)
    recipe = recipe_for(point, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    out = err_console if as_json else console
    with out.status(f"loading {dataset}"):
        data = load_dataset(dataset, data_dir, image_size=point.input_size, subset=subset)
    with _progress(out) as bar:
        task = bar.add_task("training", total=None, loss="", top1="", rate="")

        def show(p) -> None:
            top1 = f"top-1 {p.top1:.1f}%" if p.top1 is not None else ""
            bar.update(task, total=p.epochs * p.steps, completed=(p.epoch - 1) * p.steps + p.step,
                       description=f"epoch {p.epoch}/{p.epochs}", loss=f"loss {p.loss:.3f}", top1=top1,
                       rate=f"{p.images_per_second:,.0f} img/s")

        result = train(point, data, recipe, device=dev, on_progress=show)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
        return
    _summary(result)


def _progress(out) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[loss]}"),
                    TextColumn("{task.fields[top1]}"), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                    console=out, transient=False)


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
        f"point: base_e {p.base_e}, incr_e {p.incr_e}, freq {p.freq}, sr {p.sr}, pct3x3 {p.pct3x3}, bypass "
        f"{p.bypass.value}, stem {p.stem.value}, pooling {p.pooling.value}, norm {p.norm.value}, "
        f"head {p.head.value}, dropout {p.dropout}\n"
        f"recipe: lr {rc.lr}, batch {rc.batch_size}, momentum {rc.momentum}{' nesterov' if rc.nesterov else ''}, "
        f"weight decay {rc.weight_decay}, label smoothing {rc.label_smoothing}, warmup {rc.warmup:.0%}, "
        f"grad clip {rc.grad_clip or 'off'}, augment {'on' if rc.augment else 'off'}, seed {rc.seed}",
        highlight=False,
    )


@command("bench", help="Training throughput of one design point: images/s after warm-up, with device and dtype.")
def bench_command(
    preset: PresetOpt = None,
    base_e: BaseEOpt = None,
    incr_e: IncrEOpt = None,
    freq: FreqOpt = None,
    sr: SrOpt = None,
    pct3x3: Pct3x3Opt = None,
    bypass: BypassOpt = None,
    stem: StemOpt = None,
    pooling: PoolingOpt = None,
    norm: NormOpt = None,
    head: HeadOpt = None,
    dropout: DropoutOpt = None,
    dataset: DatasetOpt = "synthetic",
    data_dir: DataDirOpt = None,
    image_size: ImageSizeOpt = None,
    device: DeviceOpt = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, rich_help_panel=_RUN)] = Recipe.batch_size,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Timed steps.", rich_help_panel=_RUN)] = 50,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed steps first.", rich_help_panel=_RUN)] = 10,
    compile_model: Annotated[bool, typer.Option("--compile", help="torch.compile the model.",
                                                rich_help_panel=_RUN)] = False,
    as_json: JsonOpt = False,
) -> None:
    from dse.bench import bench, bench_data
    from dse.data import dataset_info, load_dataset
    from dse.train import resolve_device

    dev = resolve_device(device)
    info = dataset_info(dataset, data_dir)
    point = _point(info, image_size, preset_name=preset, base_e=base_e, incr_e=incr_e, freq=freq, sr=sr,
                   pct3x3=pct3x3, bypass=bypass, stem=stem, pooling=pooling, norm=norm, head=head, dropout=dropout)
    out = err_console if as_json else console
    with out.status(f"benchmarking on {dataset}"):
        data = (bench_data(point, batch_size) if dataset == "synthetic"
                else load_dataset(dataset, data_dir, image_size=point.input_size))
        result = bench(point, data, device=dev, batch_size=batch_size, steps=steps, warmup_steps=warmup,
                       compile=compile_model)
    if as_json:
        typer.echo(json.dumps({**result.to_dict(), "point": point.to_dict()}))
        return
    console.print(
        f"[bold]{result.images_per_second:,.0f} images/s[/] ({result.step_ms:.1f} ms per step; "
        f"{result.epoch_seconds:.1f} s per 50,000-image epoch) at batch {result.batch_size}, {result.dtype}"
        f"{', compiled' if result.compiled else ''}, on {result.device}",
        highlight=False,
    )
