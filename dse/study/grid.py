"""Sweeps: a grid of design points x seeds, each (point, seed) one Optuna trial, run by `dse.study.runner`.

Grids (one per --param; several --param give the full grid):

* ``--range A:B[:STEP]``: A, every multiple of STEP strictly between A and B, and B. STEP defaults to the
  parameter's lattice (`dse.space.Param.sweep_step`): 0.125 for sr and pct3x3, so ``sr 0.125:1.0`` is the paper's
  Figure 3(a) (8 points, 0.125 .. 1.0) and ``pct3x3 0.01:0.99`` its Figure 3(b) (9 points: 1%, 12.5%, 25%, .., 87.5%,
  99%, 50% among them).
* ``--range A:B --points N``: N evenly spaced values from A to B.
* ``--values v1,v2,..``: exactly these (the only form for bypass).

Points not swept keep the base point's values: squeezenet1_0's metaparameters (with BatchNorm and the
dataset's stem) unless set otherwise, except that a pct3x3 sweep holds sr at 0.5, as the paper's Figure 3(b)
(`dse.space.PaperPanel.held`). Each parameter's range, lattice and kind come from `dse.space.PARAMS`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import optuna
import torch
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

import dse
from dse.data import VAL_FRACTION, VAL_SEED, dataset_info
from dse.errors import DesignError, SweepError
from dse.space import DATA_FIELDS, PARAMS, SWEEPABLE, DesignPoint
from dse.study.layout import RECIPE_NOT_COMPARED
from dse.train import recipe_for
from dse.train.recipe import MAX_SEED

PRUNERS = ("none", "median", "hyperband")
MAX_VALUES = 10_000  # values of one swept parameter: a larger grid is a typo (0.125:1e9), not a sweep to build


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep trains: the grid of swept values x seeds around a base point, on a dataset, by a recipe.

    `point` is already adapted to the dataset; `grid[i]` holds the values of `params[i]`.
    """

    params: tuple[str, ...]
    grid: tuple[tuple[Any, ...], ...]
    point: DesignPoint
    seeds: tuple[int, ...]
    dataset: str
    recipe: Any  # dse.train.Recipe
    subset: int | None = None
    data_dir: str | None = None
    prune: str = "none"
    val_fraction: float = VAL_FRACTION  # of the training split, held out to choose on (dse.data)
    kind: str = "sweep"

    def __post_init__(self) -> None:
        if not self.seeds:
            raise SweepError("--seeds must be >= 1")
        if self.prune not in PRUNERS:
            raise SweepError(f"--prune must be one of {', '.join(PRUNERS)}; got {self.prune!r}")

    def points(self) -> list[DesignPoint]:
        combos = itertools.product(*self.grid)
        return [self.point.replace(**dict(zip(self.params, values, strict=True))) for values in combos]

    def fixed(self) -> dict:
        return fixed_values(self.point, self.params)

    def initial_params(self) -> list[dict]:
        """Every (point, seed) as trial params, seed by seed: the first seed's curve is complete first."""
        swept = [{name: values[name] for name in SWEEPABLE} for values in (p.to_dict() for p in self.points())]
        return [{**params, "seed": seed} for seed in self.seeds for params in swept]

    def target(self) -> int:
        return len(self.points()) * len(self.seeds)

    def definition(self) -> dict:
        return definition(self, grid={name: list(values) for name, values in zip(self.params, self.grid, strict=True)},
                          seeds=list(self.seeds), prune=self.prune)

    def directions(self) -> list[str]:
        return ["maximize"]

    def distributions(self) -> dict[str, BaseDistribution]:
        """Every metaparameter and the seed, swept or not, so the dashboard shows and filters them all."""
        values = self.point.to_dict()
        out: dict[str, BaseDistribution] = {}
        for name in SWEEPABLE:
            grid = self.grid[self.params.index(name)] if name in self.params else (values[name],)
            out[name] = distribution(name, grid)
        out["seed"] = IntDistribution(min(self.seeds), max(self.seeds))
        return out

    def sampler(self) -> optuna.samplers.BaseSampler:
        return optuna.samplers.RandomSampler()  # never asked: every param of a sweep trial is enqueued

    def skip_reason(self, size_mb: float) -> str | None:
        return None

    def constraint(self, size_mb: float) -> float | None:
        return None

    def values(self, top1: float, size_mb: float) -> list[float]:
        return [top1]


def fixed_values(point: DesignPoint, swept: tuple[str, ...]) -> dict:
    """The sweepable values a sweep or search holds fixed."""
    values = point.to_dict()
    return {name: values[name] for name in SWEEPABLE if name not in swept}


def definition(spec: Any, **own: Any) -> dict:
    """A study's identity, compared on resume (versions aside): what a sweep and a search both record, and the
    kind's `own` fields (a sweep's grid, seeds and pruner; a search's bounds and size budget)."""
    return {
        "kind": spec.kind,
        "params": list(spec.params),
        **own,
        "fixed": spec.fixed(),
        "dataset": spec.dataset,
        "subset": spec.subset,
        "val_fraction": spec.val_fraction,
        "val_seed": VAL_SEED,
        "recipe": {k: v for k, v in spec.recipe.to_dict().items() if k not in RECIPE_NOT_COMPARED},
        "point": spec.point.to_dict(),
        "dse_version": dse.__version__,
        "torch_version": torch_version(),
    }


def distribution(name: str, values: tuple) -> BaseDistribution:
    """The distribution of a param over the given values: a fixed value gets a one-value distribution, so
    optuna-dashboard (and its importance) never sees choices that were not made."""
    if PARAMS[name].kind == "choice":
        return CategoricalDistribution(list(dict.fromkeys(values)))
    if PARAMS[name].integer:
        return IntDistribution(min(values), max(values))
    return FloatDistribution(min(values), max(values))


def torch_version() -> str:
    return torch.__version__


# ------------------------------------------------------------------------------------------------ building


class Resolved(NamedTuple):
    point: DesignPoint  # the base point, adapted to the dataset
    recipe: Any  # dse.train.Recipe
    seed: int  # the first seed


@dataclass(frozen=True)
class SpecInputs:
    """The command-line pieces a sweep and a search share (the keywords both `build_spec` take besides their own):
    the base point (a preset, the design values given), the dataset and the recipe."""

    dataset: str
    base: DesignPoint | None = None  # a preset; None: squeezenet1_0's values
    design: dict | None = None  # design fields by name (the CLI: its flags and --set); a None value was not given
    given: dict | None = None  # how the user typed each design value ("--sr 0.5", "--set sr=0.5"), for messages
    recipe_options: dict | None = None  # overrides of the point's default recipe; a None value was not given
    seed: int | None = None  # the first seed; None: the recipe's
    subset: int | None = None
    data_dir: str | None = None
    image_size: int | None = None  # None: the dataset's own
    val_fraction: float | None = None  # of the training split held out to choose on; None: dse.data's default

    def __post_init__(self) -> None:
        if self.data_dir is not None:
            object.__setattr__(self, "data_dir", str(self.data_dir))  # a Path from a caller: stored as text
        if self.val_fraction is None:
            object.__setattr__(self, "val_fraction", VAL_FRACTION)

    def fixed(self) -> dict[str, Any]:
        """The design values the command fixes; any field but those the dataset decides."""
        explicit = {k: v for k, v in (self.design or {}).items() if v is not None}
        allowed = [f.name for f in fields(DesignPoint) if f.name not in DATA_FIELDS]
        for name in explicit:
            if name not in allowed:
                raise SweepError(f"unknown design field {name!r}; known: {', '.join(allowed)}")
        return explicit

    def resolve(self, swept: dict[str, Iterable], *, verb: str, held: dict | None = None) -> Resolved:
        """The base point adapted to the dataset, its recipe and first seed, with every value of `swept` (name ->
        the values to check) checked against its domain; a swept parameter may not also be fixed.

        The base point is the preset (else squeezenet1_0), then `held` (the values a kind of study holds for its
        swept parameters: `paper_fixed`), then the design options and --set.
        """
        explicit = self.fixed()
        for name in swept:
            if name in explicit:
                typed = (self.given or {}).get(name) or f"{name}={explicit[name]}"
                raise SweepError(f"{name} is both {verb} (--param) and set ({typed}); drop one")
        info = dataset_info(self.dataset, self.data_dir)
        try:
            point = (self.base or DesignPoint()).replace(**{**(held or {}), **explicit})
            point = point.for_data(info.num_classes, info.in_channels, self.image_size or info.image_size)
            for name, values in swept.items():
                for v in values:
                    try:
                        point.replace(**{name: v})
                    except DesignError as exc:
                        raise SweepError(f"--param {name}: {v} is outside its domain ({exc})") from None
            recipe = recipe_for(point, **(self.recipe_options or {}))
        except DesignError as exc:
            raise SweepError(str(exc)) from None
        seed = recipe.seed if self.seed is None else self.seed
        if not 0 <= seed <= MAX_SEED:
            raise SweepError(f"--seed must be in 0..{MAX_SEED}; got {seed}")
        return Resolved(point, recipe, seed)


def paper_fixed(swept: Iterable[str]) -> dict[str, Any]:
    """The values the paper holds while sweeping these parameters (sr 0.5 for pct3x3), unless swept too."""
    swept = set(swept)
    return {k: v for name in swept if PARAMS[name].paper for k, v in PARAMS[name].paper.held if k not in swept}


def parse_param(item: str) -> tuple[str, str | None]:
    """--param NAME or NAME=GRID (a range A:B[:STEP] or a list v1,v2,..)."""
    name, sep, grid = item.partition("=")
    name = name.strip()
    if name not in SWEEPABLE:
        raise SweepError(f"unknown --param {name!r}; sweepable: {', '.join(SWEEPABLE)}")
    return name, (grid.strip() if sep else None)


def grid_values(name: str, *, range_: str | None = None, points: int | None = None,
                values: str | None = None) -> tuple:
    """The values of one swept parameter (see the module docstring); checked against its domain later."""
    if range_ is not None and values is not None:
        raise SweepError(f"{name}: give either a range or values, not both")
    if values is not None:
        if points is not None:
            raise SweepError(f"{name}: --points goes with a range, not with values")
        out = tuple(_parse_value(name, v) for v in values.split(",") if v.strip())
        if not out:
            raise SweepError(f"{name}: --values is empty")
        if len(set(out)) != len(out):
            raise SweepError(f"{name}: --values repeats a value")
        return out
    p = PARAMS[name]
    if p.kind == "choice":
        if range_ is not None or points is not None:
            raise SweepError(f"{name} takes --values ({','.join(p.choices)}), not a range")
        return p.choices
    if range_ is None:
        start, stop = p.range
        step = None
    else:
        start, stop, step = parse_range(name, range_, single="--values {value} for a single value")
    if points is not None:
        if step is not None:
            raise SweepError(f"{name}: give a STEP or --points, not both")
        return _linspace(name, start, stop, points)
    return _lattice(name, start, stop, step if step is not None else p.sweep_step)


def _parse_value(name: str, text: str) -> Any:
    text = text.strip()
    p = PARAMS[name]
    if p.kind == "choice":
        if text not in p.choices:
            raise SweepError(f"{name} takes values among {', '.join(p.choices)}; got {text!r}")
        return text
    try:
        number = float(text)
    except ValueError:
        raise SweepError(f"{name}: {text!r} is not a number") from None
    if not math.isfinite(number):
        raise SweepError(f"{name}: {text!r} is not a finite number")
    if p.integer:
        if not number.is_integer():
            raise SweepError(f"{name} takes integers; got {text}")
        return int(number)
    return number


def parse_range(name: str, text: str, *, single: str) -> tuple:
    """START:END[:STEP] of a numeric parameter (a sweep's --range, a search's bounds): numbers of the parameter's
    type (integers for base_e, incr_e, freq), START < END, STEP positive or None. `single` says how to give one
    value instead (``{value}`` is START)."""
    parts = [p.strip() for p in text.split(":")]
    if len(parts) not in (2, 3) or not all(parts):
        raise SweepError(f"{name}: a range is START:END[:STEP]; got {text!r}")
    start, stop = (_parse_value(name, p) for p in parts[:2])
    step = _parse_value(name, parts[2]) if len(parts) == 3 else None
    if start > stop:
        raise SweepError(f"{name}: range {text} is reversed (start > end)")
    if start == stop:
        raise SweepError(f"{name}: range {text} is empty; use {single.format(value=parts[0])}")
    if step is not None and step <= 0:
        raise SweepError(f"{name}: the step of range {text} must be positive")
    return start, stop, step


def _lattice(name: str, start: float, stop: float, step: float) -> tuple:
    """start, the multiples of step strictly between, stop."""
    count = (stop - start) / step + 1
    if not count <= MAX_VALUES:
        raise SweepError(f"{name}: {start:g}:{stop:g} in steps of {step:g} is {count:,.0f} values; at most "
                         f"{MAX_VALUES:,} (a larger step, or --points N)")
    eps = step * 1e-9
    k = math.floor(start / step + 1e-9) + 1
    inner = []
    while k * step < stop - eps:
        if k * step > start + eps:
            inner.append(k * step)
        k += 1
    return _clean(name, [start, *inner, stop])


def _linspace(name: str, start: float, stop: float, n: int) -> tuple:
    if n < 2:
        raise SweepError(f"{name}: --points must be >= 2 for a range; got {n} (use --values for one value)")
    if n > MAX_VALUES:
        raise SweepError(f"{name}: --points {n:,} is more than {MAX_VALUES:,} values")
    out = _clean(name, [start + (stop - start) * i / (n - 1) for i in range(n)])
    if len(out) < n:
        raise SweepError(f"{name}: {start}:{stop} holds only {len(out)} distinct integers; --points {n} asks "
                         "for more")
    return out


def _clean(name: str, values: list[float]) -> tuple:
    if PARAMS[name].integer:
        return tuple(dict.fromkeys(int(round(v)) for v in values))
    return tuple(dict.fromkeys(round(v, 6) for v in values))


def build_spec(
    *,
    params: list[str],
    ranges: list[str] | None = None,
    points: int | None = None,
    values: list[str] | None = None,
    seeds: int = 1,
    prune: str = "none",
    **common: Any,
) -> SweepSpec:
    """A checked SweepSpec from the command line's pieces (`common`: the fields of `SpecInputs`); nothing is
    written.

    Every grid value is checked against its domain and every grid point built; a pct3x3 sweep holds sr at 0.5
    (`paper_fixed`) unless the command sets it.
    """
    inputs = SpecInputs(**common)
    if not params:
        raise SweepError(f"give at least one --param ({', '.join(SWEEPABLE)})")
    if seeds < 1:
        raise SweepError(f"--seeds must be >= 1; got {seeds}")
    if seeds > MAX_VALUES:
        raise SweepError(f"--seeds must be at most {MAX_VALUES:,}; got {seeds}")
    parsed = [parse_param(p) for p in params]
    names = [n for n, _ in parsed]
    if len(set(names)) != len(names):
        raise SweepError("a --param is given twice")
    ranges, values = list(ranges or []), list(values or [])
    if len(parsed) > 1 and (ranges or values):
        raise SweepError("with several --param give each its grid inline, e.g. --param sr=0.125:1.0 "
                         "--param bypass=none,simple")
    if len(ranges) > 1 or len(values) > 1:
        raise SweepError("give --range or --values once")
    grid = []
    for name, inline in parsed:
        if inline is not None:
            if ranges or values:
                raise SweepError(f"{name}: its grid is given inline and by --range/--values")
            range_, listed = (inline, None) if ":" in inline else (None, inline)
        else:
            range_, listed = (ranges[0] if ranges else None), (values[0] if values else None)
        takes_points = listed is None and PARAMS[name].kind == "number"
        grid.append(grid_values(name, range_=range_, values=listed,
                                points=points if takes_points or len(parsed) == 1 else None))
    point, recipe, first = inputs.resolve(dict(zip(names, grid, strict=True)), verb="swept",
                                          held=paper_fixed(names))
    if first + seeds - 1 > MAX_SEED:
        raise SweepError(f"--seed {first} with --seeds {seeds} goes past the largest seed, {MAX_SEED}")
    try:
        spec = SweepSpec(params=tuple(names), grid=tuple(grid), point=point,
                         seeds=tuple(range(first, first + seeds)), dataset=inputs.dataset, recipe=recipe,
                         subset=inputs.subset, data_dir=inputs.data_dir, prune=prune, val_fraction=inputs.val_fraction)
        spec.points()  # every combination is a valid network
    except DesignError as exc:
        raise SweepError(str(exc)) from None
    return spec


def default_study_name(params: list[str]) -> str:
    return "-".join(parse_param(p)[0] for p in params)
