"""Design-point options shared by `dse arch`, `dse train` and `dse bench`.

Every option defaults to None, meaning "the preset's value, else DesignPoint's default": defaults live in the
dataclass, not here.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dse.space import Bypass, DesignPoint, Head, Norm, Pooling, Stem, preset

_DESIGN = "Design point"

PresetOpt = Annotated[
    str | None,
    typer.Option("--preset", help="Start from a named network (squeezenet1_0, squeezenet1_1, ..._simple_bypass, "
                 "..._complex_bypass); other options override it.", rich_help_panel=_DESIGN),
]
BaseEOpt = Annotated[int | None, typer.Option("--base-e", help="Expand filters of fire2.", rich_help_panel=_DESIGN)]
IncrEOpt = Annotated[int | None, typer.Option("--incr-e", help="Expand filters added every FREQ fire modules.",
                                              rich_help_panel=_DESIGN)]
FreqOpt = Annotated[int | None, typer.Option("--freq", help="Fire modules between width increases.",
                                             rich_help_panel=_DESIGN)]
SrOpt = Annotated[float | None, typer.Option("--sr", help="Squeeze ratio s1x1 / e, in (0, 1].",
                                             rich_help_panel=_DESIGN)]
Pct3x3Opt = Annotated[float | None, typer.Option("--pct3x3", help="Share of 3x3 expand filters, in [0, 1].",
                                                 rich_help_panel=_DESIGN)]
BypassOpt = Annotated[Bypass | None, typer.Option("--bypass", help="Shortcut connections.", rich_help_panel=_DESIGN)]
StemOpt = Annotated[Stem | None, typer.Option("--stem", help="First convolution (default: cifar for inputs under "
                                              "96 px, else imagenet).", rich_help_panel=_DESIGN)]
PoolingOpt = Annotated[Pooling | None, typer.Option("--pooling", help="Max-pool layout.", rich_help_panel=_DESIGN)]
NormOpt = Annotated[Norm | None, typer.Option("--norm", help="Normalisation (default: batch; presets: none).",
                                              rich_help_panel=_DESIGN)]
HeadOpt = Annotated[Head | None, typer.Option("--head", help="After conv10: linear (default) or relu (the paper's; "
                                              "presets).", rich_help_panel=_DESIGN)]
DropoutOpt = Annotated[float | None, typer.Option("--dropout", help="Dropout before conv10.",
                                                  rich_help_panel=_DESIGN)]


def point_from_options(
    *,
    preset_name: str | None = None,
    base_e: int | None = None,
    incr_e: int | None = None,
    freq: int | None = None,
    sr: float | None = None,
    pct3x3: float | None = None,
    bypass: Bypass | None = None,
    stem: Stem | None = None,
    pooling: Pooling | None = None,
    norm: Norm | None = None,
    head: Head | None = None,
    dropout: float | None = None,
    num_classes: int | None = None,
    in_channels: int | None = None,
    input_size: int | None = None,
) -> DesignPoint:
    """The point the options describe; a given input size without --stem picks the stem that fits it."""
    base = preset(preset_name) if preset_name else DesignPoint()
    if input_size is not None and stem is None:
        base = base.for_data(base.num_classes, base.in_channels, input_size)
    overrides = {
        "base_e": base_e, "incr_e": incr_e, "freq": freq, "sr": sr, "pct3x3": pct3x3, "bypass": bypass,
        "stem": stem, "pooling": pooling, "norm": norm, "head": head, "dropout": dropout, "num_classes": num_classes,
        "in_channels": in_channels, "input_size": input_size,
    }
    return base.replace(**{k: v for k, v in overrides.items() if v is not None})
