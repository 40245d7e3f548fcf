"""`dse arch`: a design point's layers and cost, laid out like the paper's Table 1."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from dse.cli.app import command, console
from dse.cli.options import DATA, DataDirOpt, DesignChoice, design_options
from dse.plan import BYTES_PER_PARAM, Kind, Layer, cost, layer_plan
from dse.space import DesignPoint, format_value

_DEFAULT = DesignPoint()
IMAGENET_SHAPE = (f"none: ImageNet's shape, {_DEFAULT.num_classes} classes, {_DEFAULT.in_channels}x"
                  f"{_DEFAULT.input_size}x{_DEFAULT.input_size} input")
"""What `dse arch` without --dataset describes: DesignPoint's defaults, the paper's ImageNet network."""


def arch_report(point: DesignPoint) -> dict:
    """Everything `dse arch` shows, as JSON-able data (also the --json output)."""
    c = cost(point)
    return {
        "point": point.to_dict(),
        "params": c.params,
        "size_bytes": c.params * BYTES_PER_PARAM,
        "size_mb": c.size_mb,
        "macs": c.macs,
        "imagenet_size_mb": c.imagenet_size_mb,
        "layers": [_layer_row(layer) for layer in layer_plan(point)],
    }


def _layer_row(layer: Layer) -> dict:
    row = {
        "name": layer.name,
        "kind": layer.kind.value,
        "output": [layer.out_size, layer.out_size, layer.out_channels],
        "kernel": layer.kernel,
        "stride": layer.stride,
        "params": layer.params,
        "macs": layer.macs,
    }
    if layer.widths is not None:
        row.update(s1x1=layer.widths.squeeze, e1x1=layer.widths.expand1x1, e3x3=layer.widths.expand3x3,
                   shortcut=layer.shortcut.value)
    return row


@command("arch", help="Show a design point's layers (the paper's Table 1), parameters, size and MACs.")
@design_options(data_fields=True)
def arch(
    design: DesignChoice,
    dataset: Annotated[str | None, typer.Option(
        help="Take classes, channels and input size from a dataset (cifar10, cifar100, fashion-mnist, "
             "folder:PATH, synthetic).", rich_help_panel=DATA, show_default=IMAGENET_SHAPE)] = None,
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    num_classes = in_channels = input_size = None
    if dataset is not None:
        from dse.data import dataset_info

        info = dataset_info(dataset, data_dir)
        num_classes, in_channels, input_size = info.num_classes, info.in_channels, info.image_size
    point = design.point(num_classes, in_channels, input_size)
    report = arch_report(point)
    if as_json:
        console.print_json(json.dumps(report))
        return
    console.print(_table(report))
    console.print(
        f"parameters  [bold]{report['params']:,}[/]\n"
        f"model size  [bold]{report['size_mb']:.1f} MB[/] "
        f"(fp32 bytes / 2^20 = {report['size_mb']:.3f}, the paper's MB)\n"
        f"MACs        [bold]{report['macs'] / 1e6:,.1f} M[/] per {point.input_size}x{point.input_size} image\n"
        f"ImageNet-equivalent size  [bold]{report['imagenet_size_mb']:.1f} MB[/] (224 input, 1000 classes, no BN: "
        "the x-axis of the paper's Figure 3)",
        highlight=False,
    )


def _table(report: dict) -> Table:
    p = report["point"]
    title = (f"base_e {p['base_e']}, incr_e {p['incr_e']}, freq {p['freq']}, SR {format_value('sr', p['sr'])}, "
             f"pct3x3 {format_value('pct3x3', p['pct3x3'])}, "
             f"bypass {p['bypass']}, stem {p['stem']}, pooling {p['pooling']}, norm {p['norm']}, head {p['head']}, "
             f"{p['num_classes']} classes, {p['in_channels']}x{p['input_size']}x{p['input_size']} input")
    table = Table(title=title, title_justify="left")
    shortcuts = any(row.get("shortcut", "none") != "none" for row in report["layers"])
    headers = ["layer", "output", "kernel", "s1x1", "e1x1", "e3x3"] + (["bypass"] if shortcuts else [])
    for header in [*headers, "params", "MACs"]:
        table.add_column(header, justify="left" if header in ("layer", "output", "bypass") else "right",
                         no_wrap=True)
    for row in report["layers"]:
        h, w, c = row["output"]
        plain = row["kind"] in (Kind.fire.value, Kind.dropout.value)
        kernel = "" if plain else f"{row['kernel']}x{row['kernel']}/{row['stride']}"
        cells = [row["name"], f"{h}x{w}x{c}", kernel, str(row.get("s1x1", "")), str(row.get("e1x1", "")),
                 str(row.get("e3x3", ""))]
        if shortcuts:
            cells.append(row.get("shortcut", "") if row.get("shortcut") != "none" else "")
        table.add_row(*cells, f"{row['params']:,}" if row["params"] else "", _millions(row["macs"]))
    blanks = [""] * (len(headers) - 1)
    table.add_row("total", *blanks, f"{report['params']:,}", _millions(report["macs"]), style="bold")
    return table


def _millions(macs: int) -> str:
    return f"{macs / 1e6:,.1f}M" if macs else ""
