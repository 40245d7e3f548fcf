"""`dse check`: does every part of the design space train on this data? Each preset and each corner of the domain,
trained briefly (`dse.train.check`), one line per point as it finishes.

torch is imported inside the command, so that `dse --help` never loads it.
"""

from __future__ import annotations

import json
import math
from typing import Annotated

import typer

from dse.cli.app import command, console, err_console
from dse.cli.options import (
    DATA,
    TRAINING,
    DataDirOpt,
    DatasetOpt,
    DesignChoice,
    DeviceOpt,
    ImageSizeOpt,
    JsonOpt,
    SeedOpt,
    design_options,
)
from dse.errors import DesignError

NARROWED = ("base_e", "incr_e")  # the widths the presets take from the design options (so the check stays cheap)
HEADER = "| point | trains | top-1 % | chance % | diverged? | loss first -> last steps | s |"


@command("check", help="Train every preset and each corner of the design space briefly: does every part of the space "
         "learn on this data? One line per point, as a table.")
@design_options()
def check_command(
    design: DesignChoice,
    dataset: DatasetOpt = "cifar10",
    data_dir: DataDirOpt = None,
    subset: Annotated[int, typer.Option("--subset", min=1, help="Training images (the first, classes balanced).",
                                        rich_help_panel=DATA)] = 2000,
    test_images: Annotated[int, typer.Option("--test-images", min=1, help="Test images each point is scored on.",
                                             rich_help_panel=DATA)] = 1000,
    image_size: ImageSizeOpt = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Epochs per point.", rich_help_panel=TRAINING)] = 2,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Batch size of every point's recipe (the "
                                            "default recipe for its norm otherwise).", rich_help_panel=TRAINING)] = 128,
    seed: SeedOpt = None,
    device: DeviceOpt = "auto",
    points: Annotated[list[str] | None, typer.Option(
        "--point", metavar="NAME", help="Check only this point (a preset, NAME+bn, or a corner such as sr=0.125 or "
        "bypass=simple); repeatable. Default: all.", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    from dse.data import dataset_info
    from dse.train import device_name, recipe_for, resolve_device
    from dse.train.check import check, check_data, check_points

    dev = resolve_device(device)
    info = dataset_info(dataset, data_dir)
    base = design.point(info.num_classes, info.in_channels, image_size or info.image_size)
    every = check_points(base, narrow={k: v for k, v in design.values.items() if k in NARROWED})
    wanted = list(dict.fromkeys(points or every))
    unknown = [name for name in wanted if name not in every]
    if unknown:
        raise DesignError(f"unknown --point {', '.join(unknown)}; known: {', '.join(every)}")

    def recipe_of(point):
        return recipe_for(point, epochs=epochs, batch_size=batch_size, seed=seed)

    out = err_console if as_json else console
    out.print(f"check {len(wanted)} point{'s' if len(wanted) != 1 else ''} on {dataset} ({subset:,} training, "
              f"{test_images:,} test images), {epochs} epoch{'s' if epochs != 1 else ''} of batch {batch_size}, "
              f"{device_name(dev)}", highlight=False, soft_wrap=not out.is_terminal)
    if not as_json:
        console.print(f"{HEADER}\n|---|---|---|---|---|---|---|", highlight=False, markup=False)

    def show(row) -> None:
        if as_json:
            typer.echo(json.dumps(row.to_dict()))
        else:
            console.print(_line(row), highlight=False, markup=False, soft_wrap=True)

    data_for = check_data(dataset, data_dir, subset=subset, test=test_images)  # each input size loaded once
    rows = check({name: every[name] for name in wanted}, data_for, recipe_of, device=str(dev), on_row=show)
    out.print(f"{sum(r.trains for r in rows)} of {len(rows)} points train (finite loss that fell clearly below "
              "ln(classes), where a dead network sits)", highlight=False, soft_wrap=not out.is_terminal)


def _line(row) -> str:
    top1 = "" if row.top1 is None else f"{row.top1:.1f}"
    loss = "" if not math.isfinite(row.first_loss) else f"{row.first_loss:.3f} -> {row.last_loss:.3f}"
    return (f"| {row.name} | {'yes' if row.trains else 'no'} | {top1} | {row.chance:.1f} | "
            f"{'yes' if row.diverged else 'no'} | {loss} | {row.seconds:.0f} |")
