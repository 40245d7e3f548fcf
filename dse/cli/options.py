"""Every option the commands share, defined once.

The design point is set the same way on every command (`dse arch`, `train`, `bench`, `sweep`, `search`): one
typed flag per DesignPoint field (`--base-e 64`, `--bypass simple`), generated from the dataclass so a new field
gets its flag, and `--set name=value` as the generic spelling of the same thing (for scripts that loop over
field names). Options default to None, meaning "the library's default": the dataclasses (DesignPoint, Recipe)
hold the defaults, and help shows them through `library_default`, computed when help is drawn (so importing this
module never imports torch).
"""

from __future__ import annotations

import functools
import inspect
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from dse.errors import DesignError
from dse.space import CIFAR_STEM_BELOW, DATA_FIELDS, PARAMS, PRESETS, DesignPoint, preset

DESIGN = "Design point"
DATA = "Data"
TRAINING = "Training"
GRID = "Grid"
STUDY = "Study and workers"
OUTPUT = "Output"

FIELD_HELP = {
    **{name: p.help for name, p in PARAMS.items()},
    "stem": "First convolution: imagenet (7x7/2, the paper's), cifar (3x3/1: small inputs keep their resolution) "
            "or v1_1 (3x3/2, 64 filters).",
    "pooling": "Max-pool layout.",
    "norm": "Normalisation (the presets: none).",
    "head": "Classifier head: linear (conv10, then global average pooling) or relu (the paper's ReLU between "
            "them; the presets' head).",
    "dropout": "Dropout before conv10.",
    "num_classes": "Classes (with --dataset: the dataset's).",
    "in_channels": "Input channels (with --dataset: the dataset's).",
    "input_size": "Input side, px (with --dataset: the dataset's).",
}
"""Help per field (the sweepable ones from the parameter table); a field added to DesignPoint without an entry here
still gets its flag."""
_SWEEPABLE = f"{', '.join(list(PARAMS)[:-1])} or {list(PARAMS)[-1]}"  # as help lists them
_CHOICES = "; ".join(f"{name}: {','.join(p.choices)}" for name, p in PARAMS.items() if p.choices)


# ------------------------------------------------------------------------------------------------ defaults


def _recipe(attr: str) -> Callable[[], Any]:
    def value() -> Any:
        from dse.train import Recipe

        return getattr(Recipe, attr)

    return value


def _lr() -> str:
    from dse.train import NO_NORM_RECIPE, Recipe

    return f"{Recipe.lr}; {NO_NORM_RECIPE.lr} with --norm none"


def _stem() -> str:
    return f"by input size: cifar under {CIFAR_STEM_BELOW} px (CIFAR-10's 32), else imagenet"


def _val_fraction() -> float:
    from dse.data import VAL_FRACTION

    return VAL_FRACTION


def _latency_runs() -> int:
    from dse.train.latency import RUNS

    return RUNS


_LIBRARY_DEFAULTS: dict[str, Callable[[], Any]] = {
    "val_fraction": _val_fraction,
    "latency_runs": _latency_runs,
    "epochs": _recipe("epochs"),
    "batch_size": _recipe("batch_size"),
    "seed": _recipe("seed"),
    "lr": _lr,
    "stem": _stem,
    "precision": _recipe("precision"),
}


def library_default(name: str | None) -> Any:
    """What an option left out (None) stands for, as help shows it: a DesignPoint, Recipe or other library
    default."""
    if name is None:
        return None
    if name in _LIBRARY_DEFAULTS:
        return _LIBRARY_DEFAULTS[name]()
    defaults = {f.name: f.default for f in fields(DesignPoint)}
    if name in defaults:
        value = defaults[name]
        return value.value if isinstance(value, Enum) else value
    return None


# ------------------------------------------------------------------------------------------------ design


def design_fields(*, data_fields: bool) -> tuple[str, ...]:
    names = tuple(f.name for f in fields(DesignPoint))
    return names if data_fields else tuple(n for n in names if n not in DATA_FIELDS)


@functools.cache
def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(DesignPoint)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def design_option(name: str) -> Any:
    """The typed option of one DesignPoint field (enums become choices)."""
    kind = _field_types()[name]
    return Annotated[kind | None, typer.Option(flag(name), help=FIELD_HELP.get(name, f"Design field {name}."),
                                               rich_help_panel=DESIGN, show_default=False)]


PresetOpt = Annotated[str | None, typer.Option(
    "--preset", help=f"Start from a named network ({', '.join(PRESETS)}); other design options override it.",
    rich_help_panel=DESIGN, show_default=False)]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", metavar="NAME=VALUE", help="A design field by name, the same as its flag (--set base_e=64 is "
    "--base-e 64); repeatable.", rich_help_panel=DESIGN, show_default=False)]

@dataclass(frozen=True)
class DesignChoice:
    """What the design options said: a preset (or none), the fields given explicitly, and how the user typed each
    (`--sr 0.5`, `--set sr=0.5`), so a message can name what was typed."""

    preset: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    given: dict[str, str] = field(default_factory=dict)

    def base(self) -> DesignPoint:
        """The preset's point, else DesignPoint's defaults (before the explicit values)."""
        return preset(self.preset) if self.preset else DesignPoint()

    def point(self, num_classes: int | None = None, in_channels: int | None = None,
              input_size: int | None = None) -> DesignPoint:
        """The point described, adapted to the data; an input size without an explicit stem picks the stem
        that fits it."""
        base = self.base()
        values = dict(self.values)
        data = {"num_classes": num_classes, "in_channels": in_channels, "input_size": input_size}
        for name, value in data.items():
            values.setdefault(name, value)
        if values.get("input_size") is not None and "stem" not in self.values:
            base = base.for_data(base.num_classes, base.in_channels, values["input_size"])
        return base.replace(**{k: v for k, v in values.items() if v is not None})


def parse_set(items: list[str] | None, allowed: tuple[str, ...]) -> dict[str, Any]:
    """`--set name=value` items, typed by the DesignPoint field (enum values are checked by DesignPoint): the one
    parser of --set."""
    return {name: value for name, (value, _) in _parse_set(items, allowed).items()}


def _parse_set(items: list[str] | None, allowed: tuple[str, ...]) -> dict[str, tuple[Any, str]]:
    """name -> (typed value, the item as typed)."""
    types = _field_types()
    out: dict[str, tuple[Any, str]] = {}
    for item in items or []:
        name, sep, text = item.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name or not text:
            raise DesignError(f"--set takes name=value; got {item!r}")
        if name not in allowed:
            raise DesignError(f"--set: unknown design field {name!r}; known: {', '.join(allowed)}")
        kind = types[name]
        try:
            value: Any = int(text) if kind is int else float(text) if kind is float else text
        except ValueError:
            raise DesignError(f"--set {name} takes {'an integer' if kind is int else 'a number'}; "
                              f"got {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise DesignError(f"--set {name} takes a finite number; got {text!r}")
        if name in out and out[name][0] != value:
            raise DesignError(f"--set {name} is given twice with different values")
        out[name] = (value, f"--set {item.strip()}")
    return out


def design_choice(preset_name: str | None, flags: dict[str, Any], sets: list[str] | None,
                  allowed: tuple[str, ...]) -> DesignChoice:
    """Typed flags and --set merged; the same field given both ways must agree."""
    if preset_name is not None and preset_name not in PRESETS:
        preset(preset_name)  # raises the one-line error naming the known presets
    values = {k: (v.value if isinstance(v, Enum) else v) for k, v in flags.items() if v is not None}
    given = {k: f"{flag(k)} {v}" for k, v in values.items()}
    for name, (value, typed) in _parse_set(sets, allowed).items():
        if name in values and values[name] != value:
            raise DesignError(f"{flag(name)} {values[name]} and --set {name}={value} disagree")
        values[name] = value
        given[name] = f"{given[name]} and {typed}" if name in given else typed
    return DesignChoice(preset_name, values, given)


def design_options(*, data_fields: bool = False) -> Callable:
    """Give a command the design flags: its parameter `design` becomes --preset, one flag per DesignPoint field
    (the data fields too when `data_fields`) and --set; the command receives a DesignChoice."""
    allowed = design_fields(data_fields=data_fields)

    def wrap(func: Callable) -> Callable:
        sig = inspect.signature(func, eval_str=True)
        own = list(sig.parameters.values())
        at = [p.name for p in own].index("design")
        kw = inspect.Parameter.KEYWORD_ONLY
        generated = [inspect.Parameter("preset", kw, default=None, annotation=PresetOpt),
                     *(inspect.Parameter(n, kw, default=None, annotation=design_option(n)) for n in allowed),
                     inspect.Parameter("set_", kw, default=None, annotation=SetOpt)]
        clash = {p.name for p in generated} & {p.name for p in own}
        assert not clash, f"{func.__name__} already has {clash}"
        params = [p.replace(kind=kw) for p in own[:at] + generated + own[at + 1:]]

        @functools.wraps(func)
        def run(**kwargs):
            flags = {n: kwargs.pop(n) for n in allowed}
            design = design_choice(kwargs.pop("preset"), flags, kwargs.pop("set_"), allowed)
            return func(design=design, **kwargs)

        run.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        return run

    return wrap


# ------------------------------------------------------------------------------------------------ data


DatasetOpt = Annotated[str, typer.Option(
    "--dataset", help="cifar10, cifar100, fashion-mnist, folder:PATH (PATH/train/<class>/*, PATH/test/<class>/*) "
    "or synthetic.", rich_help_panel=DATA)]
DataDirOpt = Annotated[Path | None, typer.Option(
    "--data-dir", help="Where datasets and their caches live (./data, or $DSE_DATA_DIR).", rich_help_panel=DATA,
    show_default=False)]
SubsetOpt = Annotated[int | None, typer.Option(
    "--subset", min=1, help="Use only the first N images of each split, classes balanced (quick runs).",
    rich_help_panel=DATA, show_default=False)]
ImageSizeOpt = Annotated[int | None, typer.Option(
    "--image-size", min=1, help="Input side in px (the dataset's; folders 32).", rich_help_panel=DATA,
    show_default=False)]
ValFractionOpt = Annotated[float | None, typer.Option(
    "--val-fraction", min=0.0, max=0.9, help="Share of the training images held out as the validation split, "
    "which chooses (pruning, best point, search); the test split only measures. 0: no validation split, and "
    "the test split chooses (a folder's own val/ is always used).", rich_help_panel=DATA, show_default=False)]


# ------------------------------------------------------------------------------------------------ training


EpochsOpt = Annotated[int | None, typer.Option("--epochs", min=1, help="Training epochs.",
                                               rich_help_panel=TRAINING, show_default=False)]
BatchSizeOpt = Annotated[int | None, typer.Option("--batch-size", min=1, help="Training batch size.",
                                                  rich_help_panel=TRAINING, show_default=False)]
LrOpt = Annotated[float | None, typer.Option(
    "--lr", help="Peak learning rate (the recipe for --norm none also warms up longer and clips gradients).",
    rich_help_panel=TRAINING, show_default=False)]
PRECISION_HELP = ("auto (bf16 autocast on CUDA and on a CPU with native bf16, such as AVX512_BF16 or AMX; fp32 "
                  "elsewhere), bf16 or fp32")


class Precision(str, Enum):
    auto = "auto"
    bf16 = "bf16"
    fp32 = "fp32"


PrecisionOpt = Annotated[Precision | None, typer.Option(
    "--precision", help=f"Arithmetic of the training step: {PRECISION_HELP}. The precision that ran is recorded.",
    rich_help_panel=TRAINING, show_default=False)]


class Step(str, Enum):
    auto = "auto"
    eager = "eager"
    graph = "graph"


SeedOpt = Annotated[int | None, typer.Option("--seed", help="Drives init, data order and augmentation.",
                                             rich_help_panel=TRAINING, show_default=False)]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto (CUDA when there is one), cpu, cuda or cuda:N.",
                                        rich_help_panel=TRAINING)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON (progress goes to stderr).",
                                       rich_help_panel=OUTPUT)]


# ------------------------------------------------------------------------------------------------ grid and study
# For `dse sweep` and `dse search`.

ParamOpt = Annotated[list[str] | None, typer.Option(
    "--param", metavar="NAME[=GRID]", help=f"Metaparameter to vary: {_SWEEPABLE}. "
    "Repeat for a full grid; then give each its grid inline: --param sr=0.125:1.0 --param bypass=none,simple.",
    rich_help_panel=GRID, show_default=False)]
SearchParamOpt = Annotated[list[str] | None, typer.Option(
    "--param", metavar="NAME[=BOUNDS]", help=f"Metaparameter to search: {_SWEEPABLE}, "
    "within its default bounds or within NAME=LOW:HIGH[:STEP] (bypass: NAME=v1,v2); repeatable. Default: all six, "
    "except any a design option sets.", rich_help_panel=GRID, show_default=False)]
RangeOpt = Annotated[str | None, typer.Option(
    "--range", metavar="A:B[:STEP]", help="A, the multiples of STEP between, B.", rich_help_panel=GRID,
    show_default=False)]
PointsOpt = Annotated[int | None, typer.Option(
    "--points", min=2, help="N evenly spaced values over the range instead of a step.", rich_help_panel=GRID,
    show_default=False)]
ValuesOpt = Annotated[str | None, typer.Option(
    "--values", metavar="V1,V2,...", help=f"Exactly these values ({_CHOICES}).",
    rich_help_panel=GRID, show_default=False)]
SeedsOpt = Annotated[int, typer.Option("--seeds", min=1, help="Seeds per point, from --seed on.",
                                       rich_help_panel=GRID)]
TrialsOpt = Annotated[int, typer.Option("--trials", min=1, help="Trained trials wanted (points over the budget "
                                        "do not count).", rich_help_panel=GRID)]
MaxSizeOpt = Annotated[float | None, typer.Option(
    "--max-size-mb", help="Size budget (MB, fp32 parameters); points over it are never trained.",
    rich_help_panel=GRID, show_default=False)]
MAX_WORKERS = 1024  # processes on one machine; more is a typo (1e20), not a layout
WorkersOpt = Annotated[int | None, typer.Option(
    "--workers", min=1, max=MAX_WORKERS, envvar="DSE_WORKERS", help="Worker processes on this machine (spread over "
    "GPUs; several may share one). Default: one per core on a CPU (each with one thread; as many as memory holds), "
    "one on a GPU.",
    rich_help_panel=STUDY, show_default=False)]
StorageOpt = Annotated[str | None, typer.Option(
    "--storage", help="Study file or database URL (studies/<study>.db; postgresql://user@host/db shares one "
    "study between machines).", rich_help_panel=STUDY, show_default=False)]
StudyNameOpt = Annotated[str | None, typer.Option(
    "--study-name", help="Study name (by default named after what is swept and the dataset).",
    rich_help_panel=STUDY, show_default=False)]
RetriesOpt = Annotated[int, typer.Option("--retries", min=0, help="Re-runs of a (point, seed) whose training "
                                         "failed (out of memory, error, lost worker); divergence is final.",
                                         rich_help_panel=STUDY)]
PruneOpt = Annotated[str, typer.Option("--prune", help="Stop weak trials early on per-epoch accuracy: none, "
                                       "median or hyperband.", rich_help_panel=STUDY)]
KeepWeightsOpt = Annotated[str | None, typer.Option(
    "--keep-weights", metavar="all|best|none", help="Store each trained network's weights with the study (dse "
    "export takes them home): all, best (those on the accuracy-size front as they finish) or none. Default: all "
    "while the sweep's weights fit 1 GB (the size is printed), else best.", rich_help_panel=STUDY,
    show_default=False)]
ArtifactsOpt = Annotated[str | None, typer.Option(
    "--artifacts", metavar="DIR|URL", help="Where the weights are stored: a directory every worker reaches, "
    "s3://bucket or gs://bucket (default beside an SQLite study: studies/<study>.artifacts; a PostgreSQL study "
    "needs it to keep weights).", rich_help_panel=STUDY, show_default=False)]
ForceOpt = Annotated[bool, typer.Option(
    "--force", help="Write into a folder holding files dse did not write, overwriting those of the same name "
    "(without it, dse writes only into a new or empty folder or one it made; it never deletes a file it did not "
    "write).", rich_help_panel=OUTPUT)]
LatencyRunsOpt = Annotated[int | None, typer.Option(
    "--latency-runs", min=0, help="Timed CPU inference runs per trial for its latency (batch 1 and 32, median after "
    "warm-up); 0 measures none (a GPU sweep whose trials take seconds).",
    rich_help_panel=STUDY, show_default=False)]
MaxLatencyOpt = Annotated[float | None, typer.Option(
    "--max-latency-ms", help="Latency budget (ms per image on this machine's CPU, measured before training); "
    "points over it are never trained.", rich_help_panel=GRID, show_default=False)]
ObjectiveOpt = Annotated[str, typer.Option(
    "--objective", metavar="size|latency", help="What to minimize beside accuracy: size, or latency as well "
    "(measured on this machine's CPU after training).", rich_help_panel=GRID)]
DryRunOpt = Annotated[bool, typer.Option(
    "--dry-run", help="Print the grid (or the searched space), the trials, the disk their kept weights take and the "
    "time estimate; train nothing, write nothing.", rich_help_panel=STUDY)]
