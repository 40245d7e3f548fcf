"""The SqueezeNet design space: a design point, its validation, presets, fire-module widths, and the table of the
parameters a sweep or search varies (`PARAMS`).

Pure Python on purpose: sizes and costs of a point need no torch (see `dse.plan`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from enum import Enum
from typing import Any

from dse.errors import DesignError
from dse.fmt import number

NUM_FIRE_MODULES = 8  # fire2 .. fire9
METAPARAMETERS = ("base_e", "incr_e", "freq", "sr", "pct3x3")  # the paper's five; `PARAMS` adds bypass
DATA_FIELDS = ("num_classes", "in_channels", "input_size")
"""Design fields a dataset decides: train, bench, sweep and search take them from the data (never --set); arch
has flags for them."""


class Bypass(str, Enum):
    """Macro-architecture variants of the paper (section 6)."""

    none = "none"
    simple = "simple"  # identity shortcut around fire3, 5, 7, 9 (where channel counts match)
    complex = "complex"  # simple, plus 1x1-conv shortcuts around the fire modules whose channels change


class Stem(str, Enum):
    """The first convolution, chosen by input resolution."""

    imagenet = "imagenet"  # 7x7 stride 2, 96 filters (SqueezeNet v1.0)
    cifar = "cifar"  # 3x3 stride 1 padding 1, 96 filters: keeps 32x32 inputs from collapsing by fire9
    v1_1 = "v1_1"  # 3x3 stride 2, 64 filters (SqueezeNet v1.1)


class Pooling(str, Enum):
    """Where the 3x3 stride-2 max-pools (ceil mode) sit."""

    v1_0 = "v1_0"  # after conv1, fire4, fire8
    v1_1 = "v1_1"  # after conv1, fire3, fire5


class Norm(str, Enum):
    batch = "batch"  # BatchNorm after every convolution but conv10 (shortcut projections too): brief training needs it
    none = "none"  # the paper's network


class Head(str, Enum):
    """What follows conv10 before the global average pool."""

    relu = "relu"  # the paper's (Caffe's, torchvision's) conv10 -> ReLU -> avgpool: logits are never negative
    linear = "linear"  # conv10 -> avgpool: no ReLU, so brief training cannot stall with every logit clipped to 0


STEM_FILTERS = {Stem.imagenet: 96, Stem.cifar: 96, Stem.v1_1: 64}
CIFAR_STEM_BELOW = 96
"""Inputs smaller than this (px) get the cifar stem in place of imagenet (DesignPoint.for_data): CIFAR-10 and a
folder's default 32 px train with it, ImageNet-sized inputs with the paper's."""
# Fire-module indices (0 = fire2) followed by a max-pool; the stem is always followed by one.
POOL_AFTER_FIRE = {Pooling.v1_0: (2, 6), Pooling.v1_1: (1, 3)}
SIMPLE_BYPASS_FIRES = (1, 3, 5, 7)  # fire3, fire5, fire7, fire9


@dataclass(frozen=True)
class FireWidths:
    """Channel widths of one fire module."""

    squeeze: int  # s1x1
    expand1x1: int  # e1x1
    expand3x3: int  # e3x3

    @property
    def expand(self) -> int:
        return self.expand1x1 + self.expand3x3


@dataclass(frozen=True)
class DesignPoint:
    """One network of the space. The defaults are SqueezeNet v1.0's metaparameters, with BatchNorm and the
    linear head (what brief training needs: docs/training.md); the presets are the paper's networks exactly.

    Enum fields also accept their string values (as Optuna and the CLI hand them over).
    """

    base_e: int = 128
    incr_e: int = 128
    freq: int = 2
    sr: float = 0.125
    pct3x3: float = 0.5
    bypass: Bypass = Bypass.none
    stem: Stem = Stem.imagenet
    pooling: Pooling = Pooling.v1_0
    norm: Norm = Norm.batch
    head: Head = Head.linear
    dropout: float = 0.5
    num_classes: int = 1000
    in_channels: int = 3
    input_size: int = 224

    def __post_init__(self) -> None:
        for name, enum in (("bypass", Bypass), ("stem", Stem), ("pooling", Pooling), ("norm", Norm),
                            ("head", Head)):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, enum(value))
            except ValueError:
                choices = ", ".join(m.value for m in enum)
                raise DesignError(f"{name} must be one of {choices}; got {value!r}") from None
        for name in ("base_e", "incr_e", "freq", "num_classes", "in_channels", "input_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    object.__setattr__(self, name, int(value))
                else:
                    raise DesignError(f"{name} must be an integer; got {value!r}")
        _validate(self)

    def to_dict(self) -> dict:
        """Plain JSON-able values (enums as strings)."""
        return {k: (v.value if isinstance(v, Enum) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> DesignPoint:
        """A point from a stored record. A complete record written before `head` existed (it has `norm`, which
        every record has had) was trained with the paper's ReLU head, not today's default."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise DesignError(f"unknown design field(s): {', '.join(unknown)}")
        if "norm" in values and "head" not in values:
            values = {**values, "head": Head.relu}
        return cls(**values)

    def replace(self, **changes) -> DesignPoint:
        return replace(self, **changes)

    def for_data(self, num_classes: int, in_channels: int, input_size: int) -> DesignPoint:
        """The same micro-architecture adapted to a dataset; small inputs get the cifar stem."""
        stem = self.stem
        if input_size < CIFAR_STEM_BELOW and stem is Stem.imagenet:
            stem = Stem.cifar
        return replace(self, num_classes=num_classes, in_channels=in_channels, input_size=input_size, stem=stem)

    def imagenet_equivalent(self) -> DesignPoint:
        """The point as the paper would have trained it: ImageNet stem, 224 input, 1000 classes, no BN, ReLU head.

        Its size is the x-axis of the paper's Figure 3, so CIFAR sweeps can be read against it.
        """
        stem = Stem.v1_1 if self.stem is Stem.v1_1 else Stem.imagenet
        return replace(self, stem=stem, num_classes=1000, in_channels=3, input_size=224, norm=Norm.none,
                       head=Head.relu)


def _validate(p: DesignPoint) -> None:
    if not 0 < p.sr <= 1:
        raise DesignError(f"sr (squeeze ratio) must be in (0, 1]; got {p.sr}")
    if not 0 <= p.pct3x3 <= 1:
        raise DesignError(f"pct3x3 must be in [0, 1]; got {p.pct3x3}")
    if p.base_e < 1:
        raise DesignError(f"base_e must be >= 1; got {p.base_e}")
    if p.incr_e < 0:
        raise DesignError(f"incr_e must be >= 0; got {p.incr_e}")
    if p.freq < 1:
        raise DesignError(f"freq must be >= 1; got {p.freq}")
    if not 0 <= p.dropout < 1:
        raise DesignError(f"dropout must be in [0, 1); got {p.dropout}")
    if p.num_classes < 2:
        raise DesignError(f"num_classes must be >= 2; got {p.num_classes}")
    if p.in_channels < 1:
        raise DesignError(f"in_channels must be >= 1; got {p.in_channels}")
    smallest = min_input_size(p.stem)
    if p.input_size < smallest:
        raise DesignError(
            f"input_size {p.input_size} is too small for the {p.stem.value} stem and its 3 max-pools "
            f"(at least {smallest})"
        )


def spatial_sizes(stem: Stem, input_size: int) -> tuple[int, int, int, int]:
    """Side lengths after the stem and after each of the three max-pools."""
    if stem is Stem.imagenet:
        after_stem = (input_size - 7) // 2 + 1
    elif stem is Stem.v1_1:
        after_stem = (input_size - 3) // 2 + 1
    else:
        after_stem = input_size
    sizes = [after_stem]
    for _ in range(3):
        sizes.append(pool_output(sizes[-1]))
    return tuple(sizes)  # type: ignore[return-value]


def pool_output(size: int) -> int:
    """3x3 stride-2 max-pool with ceil_mode (Caffe's rounding, as torchvision keeps it)."""
    if size < 3:
        return 0
    out = math.ceil((size - 3) / 2) + 1
    if (out - 1) * 2 >= size:  # PyTorch drops a last window that would start in the padding
        out -= 1
    return out


def min_input_size(stem: Stem) -> int:
    """Smallest input whose feature map survives all three max-pools (at least 1x1 before conv10)."""
    size = 1
    while spatial_sizes(stem, size)[-1] < 1:
        size += 1
    return size


def fire_widths(point: DesignPoint) -> tuple[FireWidths, ...]:
    """The paper's section-5 formulas for fire2..fire9.

    e_i = base_e + incr_e * floor(i / freq); e3x3 = round(pct3x3 * e_i); e1x1 = e_i - e3x3;
    s1x1 = max(1, round(sr * e_i)). Rounding is Python's round (half to even), so v1.0's widths are exact
    and a pct3x3 of 0 or 1 drops one expand branch.
    """
    widths = []
    for i in range(NUM_FIRE_MODULES):
        e = point.base_e + point.incr_e * (i // point.freq)
        e3 = round(point.pct3x3 * e)
        widths.append(FireWidths(squeeze=max(1, round(point.sr * e)), expand1x1=e - e3, expand3x3=e3))
    return tuple(widths)


_V1_0 = DesignPoint(norm=Norm.none, head=Head.relu)
_V1_1 = replace(_V1_0, stem=Stem.v1_1, pooling=Pooling.v1_1)

PRESETS: dict[str, DesignPoint] = {
    "squeezenet1_0": _V1_0,
    "squeezenet1_0_simple_bypass": replace(_V1_0, bypass=Bypass.simple),
    "squeezenet1_0_complex_bypass": replace(_V1_0, bypass=Bypass.complex),
    "squeezenet1_1": _V1_1,
    "squeezenet1_1_simple_bypass": replace(_V1_1, bypass=Bypass.simple),
    "squeezenet1_1_complex_bypass": replace(_V1_1, bypass=Bypass.complex),
}
"""The paper's networks exactly (no BatchNorm, conv10's ReLU, ImageNet stem and size): `replace` what a dataset
needs."""


def preset(name: str) -> DesignPoint:
    try:
        return PRESETS[name]
    except KeyError:
        raise DesignError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None


# ------------------------------------------------------------------------------------------------ parameters


@dataclass(frozen=True)
class PaperPanel:
    """The paper's own sweep of a parameter (its Figure 3), as `dse/reference/squeezenet-paper.json` holds it."""

    key: str  # the series in the reference file
    figure: str  # how the paper names it
    held: tuple[tuple[str, Any], ...] = ()  # what the paper held fixed while sweeping it (Figure 3(b): SR 0.5)


@dataclass(frozen=True)
class Param:
    """One parameter a sweep or search varies: everything the grid, the search, the trainability check, the CLI and
    the report know about it, written once (pycls keeps such a table in `sweep/analysis.py`).

    A number has a range (`low`, `high`): a sweep's default range, a search's default bounds and the ends the
    trainability check trains. A choice (bypass) has its `choices` instead, all of them by default.
    """

    name: str  # the DesignPoint field
    label: str  # how figures and tables name it ("SR", as the paper writes it)
    help: str  # the CLI flag's help
    integer: bool = False
    low: float | None = None
    high: float | None = None
    sweep_step: float | None = None  # a sweep's lattice for --range A:B (0.125: the paper's Figure 3 grids)
    search_step: float | None = None  # a search's grain (None: continuous)
    choices: tuple[str, ...] = ()
    percent: bool = False  # shown as a percentage (the paper writes pct3x3 as 12.5%)
    paper: PaperPanel | None = None

    @property
    def kind(self) -> str:
        """"choice" (bypass) or "number"."""
        return "choice" if self.choices else "number"

    @property
    def range(self) -> tuple:
        """A sweep's default range: (low, high) of a number, the choices of a choice."""
        return self.choices if self.choices else (self.low, self.high)

    @property
    def search_bounds(self) -> tuple:
        """A search's default bounds, as its definition stores them: (low, high, step) of a number (step 1 for an
        integer without a coarser grain, None for a continuous float), the choices of a choice."""
        if self.choices:
            return self.choices
        return self.low, self.high, self.search_step or (1 if self.integer else None)

    def format(self, value: Any) -> str:
        """How a value reads wherever dse shows one (the CLI's log and tables, the report): a percentage where the
        paper writes one (pct3x3 0.5 is 50%), integers as integers, a whole float with one decimal (sr 1.0), other
        numbers to 4 significant digits, rounded half up (dse.fmt.number); "?" for a missing value."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "?"
        if self.percent and isinstance(value, (int, float)) and not isinstance(value, bool):
            return number(100 * value, 3, significant=True, percent=True)
        if isinstance(value, float):
            return number(value, 1) if value.is_integer() else number(value, 4, significant=True)
        return str(value)


PARAMS: dict[str, Param] = {p.name: p for p in (
    Param("base_e", "base_e", "Expand filters of fire2.", integer=True, low=32, high=256, sweep_step=32,
          search_step=16),
    Param("incr_e", "incr_e", "Expand filters added every FREQ fire modules.", integer=True, low=0, high=256,
          sweep_step=32, search_step=16),
    Param("freq", "freq", "Fire modules between width increases.", integer=True, low=1, high=8, sweep_step=1),
    Param("sr", "SR", "Squeeze ratio s1x1 / e, in (0, 1].", low=0.125, high=1.0, sweep_step=0.125,
          paper=PaperPanel("figure_3a_sr_sweep", "Figure 3(a)")),
    Param("pct3x3", "pct3x3", "Share of 3x3 expand filters, in [0, 1].", low=0.01, high=0.99, sweep_step=0.125,
          percent=True, paper=PaperPanel("figure_3b_pct3x3_sweep", "Figure 3(b)", held=(("sr", 0.5),))),
    Param("bypass", "bypass", "Shortcut connections around fire modules.", choices=tuple(b.value for b in Bypass)),
)}
"""The parameters a sweep or search varies, in the order tables show them: the five metaparameters, then bypass."""

SWEEPABLE = tuple(PARAMS)


def param(name: str) -> Param:
    """The table's entry for `name`; DesignError naming the sweepable parameters for any other."""
    try:
        return PARAMS[name]
    except KeyError:
        raise DesignError(f"{name!r} is not a sweepable parameter; sweepable: {', '.join(PARAMS)}") from None


def label(name: str) -> str:
    """How figures name a parameter ("SR"); a name outside the table as it is."""
    return PARAMS[name].label if name in PARAMS else name


def format_value(name: str, value: Any) -> str:
    """How a value of parameter `name` reads in a label (`Param.format`); a name outside the table (a study dse
    did not make) is formatted as a plain number or text."""
    return (PARAMS[name] if name in PARAMS else Param(name, name, "")).format(value)
