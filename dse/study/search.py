"""Search: multi-objective sampling of the design space (top-1 accuracy up, model size down), run by `dse.study.runner`.

The five metaparameters and bypass are sampled within bounds (`DEFAULT_BOUNDS`, narrowed with --param
NAME=A:B[:STEP] or NAME=v1,v2 for bypass, or fixed with --set). Optuna's TPE sampler, multi-objective,
proposes points. Size is analytic (`dse.plan.cost`), so a point over --max-size-mb is never trained: its
trial is closed as PRUNED with a `skip_reason`, and every trial carries its MB over the budget as an Optuna
constraint, so the sampler learns to stay under it. Such trials do not count toward --trials.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

import dse
from dse.data import VAL_FRACTION, VAL_SEED
from dse.errors import DesignError, SweepError
from dse.plan import cost
from dse.space import Bypass, DesignPoint
from dse.study.grid import (
    INTEGER,
    PAPER_FIXED,
    SWEEPABLE,
    distribution,
    fixed_values,
    parse_assignments,
    parse_param,
    torch_version,
)
from dse.study.layout import RECIPE_NOT_COMPARED

# name -> (low, high, step): the paper's space around squeezenet1_0, steps where a finer grain means nothing
DEFAULT_BOUNDS: dict[str, tuple] = {
    "base_e": (32, 256, 16),
    "incr_e": (0, 256, 16),
    "freq": (1, 8, 1),
    "sr": (0.125, 1.0, None),
    "pct3x3": (0.01, 0.99, None),
    "bypass": tuple(b.value for b in Bypass),
}
OBJECTIVES = ("size", "latency")  # what a search minimizes beside accuracy: size, or size and latency
STARTUP_TRIALS = 8  # random points before TPE models the results


@dataclass(frozen=True)
class SearchSpec:
    """What a search samples (bounds per parameter; others fixed at the base point), trains and optimizes."""

    bounds: tuple[tuple[str, tuple], ...]  # (name, (low, high, step)) or ("bypass", choices)
    point: DesignPoint  # the base point, adapted to the dataset
    seed: int
    dataset: str
    recipe: Any  # dse.train.Recipe
    trials: int = 20
    max_size_mb: float | None = None
    subset: int | None = None
    data_dir: str | None = None
    prune: str = "none"
    val_fraction: float = VAL_FRACTION  # of the training split, held out to choose on (dse.data)
    max_latency_ms: float | None = None  # CPU latency budget, measured before training (dse.study.keep)
    objective: str = "size"  # size: (top-1, MB); latency: (top-1, MB, measured ms per image)
    kind: str = "search"

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise SweepError(f"--trials must be >= 1; got {self.trials}")
        if self.max_size_mb is not None and self.max_size_mb <= 0:
            raise SweepError(f"--max-size-mb must be positive; got {self.max_size_mb}")
        if self.max_latency_ms is not None and self.max_latency_ms <= 0:
            raise SweepError(f"--max-latency-ms must be positive; got {self.max_latency_ms}")
        if self.objective not in OBJECTIVES:
            raise SweepError(f"--objective must be one of {', '.join(OBJECTIVES)}; got {self.objective!r}")

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.bounds)

    def fixed(self) -> dict:
        return fixed_values(self.point, self.params)

    def definition(self) -> dict:
        """The study's identity; --trials is not part of it, so a rerun with more trials extends the search."""
        return {
            "kind": "search",
            "params": list(self.params),
            "grid": None,
            "bounds": {name: list(b) for name, b in self.bounds},
            "fixed": self.fixed(),
            "seeds": [self.seed],
            "dataset": self.dataset,
            "subset": self.subset,
            "val_fraction": self.val_fraction,
            "val_seed": VAL_SEED,
            "recipe": {k: v for k, v in self.recipe.to_dict().items() if k not in RECIPE_NOT_COMPARED},
            "point": self.point.to_dict(),
            "max_size_mb": self.max_size_mb,
            **({"max_latency_ms": self.max_latency_ms} if self.max_latency_ms is not None else {}),
            **({"objective": self.objective} if self.objective != "size" else {}),
            "dse_version": dse.__version__,
            "torch_version": torch_version(),
        }

    def directions(self) -> list[str]:
        return ["maximize", "minimize"] + (["minimize"] if self.objective == "latency" else [])

    def distributions(self) -> dict[str, BaseDistribution]:
        values = self.point.to_dict()
        bounds = dict(self.bounds)
        out: dict[str, BaseDistribution] = {}
        for name in SWEEPABLE:
            b = bounds.get(name)
            if name == "bypass":
                out[name] = CategoricalDistribution(list(b) if b else [values[name]])
            elif b is None:
                out[name] = distribution(name, (values[name],))
            elif name in INTEGER:
                out[name] = IntDistribution(b[0], b[1], step=b[2] or 1)
            else:
                out[name] = FloatDistribution(b[0], b[1], step=b[2])
        out["seed"] = IntDistribution(self.seed, self.seed)
        return out

    def sampler(self) -> optuna.samplers.BaseSampler:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(n_startup_trials=STARTUP_TRIALS, multivariate=True)

    def initial_params(self) -> list[dict]:
        return []

    def target(self) -> int:
        return self.trials

    def skip_reason(self, size_mb: float) -> str | None:
        if self.max_size_mb is not None and size_mb > self.max_size_mb:
            return f"over the size budget: {size_mb:.3f} MB > {self.max_size_mb} MB; not trained"
        return None

    def constraint(self, size_mb: float) -> float | None:
        """For the sampler (feasible when <= 0): MB over the budget."""
        return None if self.max_size_mb is None else size_mb - self.max_size_mb

    def values(self, top1: float, size_mb: float, *latency_ms: float) -> list[float]:
        """(top-1, MB), and the measured ms per image with --objective latency (`Keeper.after_training`)."""
        return [top1, size_mb, *latency_ms]


def parse_bounds(items: list[str] | None) -> dict[str, tuple]:
    """--param NAME=A:B[:STEP] (numbers) or NAME=v1,v2 (bypass); a bare NAME keeps the default bounds."""
    out: dict[str, tuple] = {}
    for item in items or []:
        name, text = parse_param(item)
        if name in out:
            raise SweepError(f"--param {name} is given twice")
        if text is None:
            out[name] = DEFAULT_BOUNDS[name]
        elif name == "bypass":
            choices = tuple(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
            bad = [c for c in choices if c not in DEFAULT_BOUNDS["bypass"]]
            if not choices or bad:
                raise SweepError(f"bypass takes values among none, simple, complex; got {text!r}")
            out[name] = choices
        else:
            out[name] = _parse_bounds(name, text)
    return out


def _parse_bounds(name: str, text: str) -> tuple:
    parts = [p.strip() for p in text.split(":")]
    if len(parts) not in (2, 3) or not all(parts):
        raise SweepError(f"--param {name}: bounds are LOW:HIGH[:STEP]; got {text!r}")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise SweepError(f"--param {name}: bounds must be numbers; got {text!r}") from None
    if name in INTEGER and not all(n.is_integer() for n in nums):
        raise SweepError(f"--param {name} takes integers; got {text!r}")
    low, high = nums[0], nums[1]
    step = nums[2] if len(nums) == 3 else None
    if low > high:
        raise SweepError(f"--param {name}: bounds {text} are reversed (low > high)")
    if low == high:
        raise SweepError(f"--param {name}: bounds {text} are empty; use --set {name}={parts[0]} to fix it")
    if step is not None:
        if step <= 0:
            raise SweepError(f"--param {name}: the step of {text} must be positive")
        span = (high - low) / step
        if abs(span - round(span)) > 1e-9:
            raise SweepError(f"--param {name}: {high} - {low} is not a multiple of the step {step}")
    if name in INTEGER:
        return int(low), int(high), int(step) if step else 1
    return low, high, step


def build_spec(
    *,
    params: list[str] | None = None,
    assignments: list[str] | None = None,
    base: DesignPoint | None = None,
    design: dict | None = None,
    dataset: str,
    recipe_options: dict | None = None,
    seed: int | None = None,
    trials: int = 20,
    max_size_mb: float | None = None,
    subset: int | None = None,
    data_dir: str | None = None,
    image_size: int | None = None,
    val_fraction: float | None = None,
    max_latency_ms: float | None = None,
    objective: str = "size",
) -> SearchSpec:
    """A checked SearchSpec: no --param searches all six parameters in their default bounds."""
    from dse.data import dataset_info
    from dse.train import recipe_for

    fixed = parse_assignments(assignments)
    explicit = {k: v for k, v in (design or {}).items() if v is not None}
    bounds = parse_bounds(params)
    if not params:
        bounds = {n: b for n, b in DEFAULT_BOUNDS.items() if n not in fixed and n not in explicit}
    for name in bounds:
        if name in fixed or name in explicit:
            raise SweepError(f"{name} is both searched (--param) and fixed")
    if not bounds:
        raise SweepError("nothing to search: every parameter is fixed")
    paper = {k: v for name in bounds for k, v in PAPER_FIXED.get(name, {}).items() if k not in bounds}
    paper = {} if len(bounds) > 1 else paper
    info = dataset_info(dataset, data_dir)
    try:
        point = (base or DesignPoint()).replace(**{**paper, **explicit, **fixed})
        point = point.for_data(info.num_classes, info.in_channels, image_size or info.image_size)
        for name, b in bounds.items():
            for v in (b if name == "bypass" else b[:2]):
                try:
                    point.replace(**{name: v})
                except DesignError as exc:
                    raise SweepError(f"--param {name}: {v} is outside its domain ({exc})") from None
        recipe = recipe_for(point, **(recipe_options or {}))
    except DesignError as exc:
        raise SweepError(str(exc)) from None
    spec = SearchSpec(bounds=tuple(bounds.items()), point=point, seed=recipe.seed if seed is None else seed,
                      dataset=dataset, recipe=recipe, trials=trials, max_size_mb=max_size_mb, subset=subset,
                      data_dir=None if data_dir is None else str(data_dir), max_latency_ms=max_latency_ms,
                      objective=objective, val_fraction=VAL_FRACTION if val_fraction is None else val_fraction)
    if max_size_mb is not None:
        smallest = smallest_size_mb(spec)
        if smallest > max_size_mb:
            raise SweepError(f"no point within the bounds fits --max-size-mb {max_size_mb}: the smallest is "
                             f"{smallest:.3f} MB")
    return spec


def smallest_size_mb(spec: SearchSpec) -> float:
    """The size of the bounds' smallest corner (size grows with base_e, incr_e, sr, pct3x3 and bypass, and
    falls with freq), checked over the bypass choices."""
    corner = {}
    for name, b in spec.bounds:
        if name == "freq":
            corner[name] = b[1]
        elif name != "bypass":
            corner[name] = b[0]
    choices = dict(spec.bounds).get("bypass", (spec.point.bypass.value,))
    return min(cost(spec.point.replace(**corner, bypass=c)).size_mb for c in choices)
