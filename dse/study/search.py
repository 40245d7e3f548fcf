"""Search: multi-objective sampling of the design space (top-1 accuracy up, model size down), run by `dse.study.runner`.

The five metaparameters and bypass are sampled within bounds (`dse.space.Param.search_bounds`, narrowed with --param
NAME=A:B[:STEP] or NAME=v1,v2 for bypass, or fixed with --set). Optuna's TPE sampler, multi-objective,
proposes points. Size is analytic (`dse.plan.cost`), so a point over --max-size-mb is never trained: its
trial is closed as PRUNED with a `skip_reason`, and every trial carries its MB over the budget as an Optuna
constraint, so the sampler learns to stay under it. Such trials do not count toward --trials.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from dse.data import VAL_FRACTION
from dse.errors import SweepError
from dse.plan import cost
from dse.space import PARAMS, SWEEPABLE, DesignPoint
from dse.study.grid import (
    SpecInputs,
    definition,
    distribution,
    fixed_values,
    grid_values,
    paper_fixed,
    parse_param,
    parse_range,
)

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
        if self.max_size_mb is not None and not 0 < self.max_size_mb < math.inf:
            raise SweepError(f"--max-size-mb must be a positive finite number; got {self.max_size_mb}")
        if self.max_latency_ms is not None and not 0 < self.max_latency_ms < math.inf:
            raise SweepError(f"--max-latency-ms must be a positive finite number; got {self.max_latency_ms}")
        if self.objective not in OBJECTIVES:
            raise SweepError(f"--objective must be one of {', '.join(OBJECTIVES)}; got {self.objective!r}")

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.bounds)

    def fixed(self) -> dict:
        return fixed_values(self.point, self.params)

    def definition(self) -> dict:
        """The study's identity; --trials is not part of it, so a rerun with more trials extends the search."""
        return definition(self, grid=None, bounds={name: list(b) for name, b in self.bounds}, seeds=[self.seed],
                          max_size_mb=self.max_size_mb,
                          **({"max_latency_ms": self.max_latency_ms} if self.max_latency_ms is not None else {}),
                          **({"objective": self.objective} if self.objective != "size" else {}))

    def directions(self) -> list[str]:
        return ["maximize", "minimize"] + (["minimize"] if self.objective == "latency" else [])

    def distributions(self) -> dict[str, BaseDistribution]:
        values = self.point.to_dict()
        bounds = dict(self.bounds)
        out: dict[str, BaseDistribution] = {}
        for name in SWEEPABLE:
            b = bounds.get(name)
            if PARAMS[name].kind == "choice":
                out[name] = CategoricalDistribution(list(b) if b else [values[name]])
            elif b is None:
                out[name] = distribution(name, (values[name],))
            elif PARAMS[name].integer:
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
            out[name] = PARAMS[name].search_bounds
        elif PARAMS[name].kind == "choice":
            out[name] = grid_values(name, values=text)
        else:
            out[name] = _bounds(name, text)
    return out


def _bounds(name: str, text: str) -> tuple:
    """(low, high, step) of a numeric parameter: a range whose span is a whole number of steps; integers step 1
    by default."""
    low, high, step = parse_range(name, text, single=f"--set {name}={{value}} to fix it")
    if step is not None:
        span = (high - low) / step
        if abs(span - round(span)) > 1e-9:
            raise SweepError(f"--param {name}: {high} - {low} is not a multiple of the step {step}")
    if PARAMS[name].integer:
        return low, high, step or 1
    return low, high, step


def build_spec(
    *,
    params: list[str] | None = None,
    trials: int = 20,
    max_size_mb: float | None = None,
    max_latency_ms: float | None = None,
    objective: str = "size",
    **common: Any,
) -> SearchSpec:
    """A checked SearchSpec (`common`: the fields of `dse.study.grid.SpecInputs`): no --param searches every
    parameter the command does not fix, in its default bounds."""
    inputs = SpecInputs(**common)
    bounds = parse_bounds(params)
    if not params:
        fixed = inputs.fixed()
        bounds = {n: p.search_bounds for n, p in PARAMS.items() if n not in fixed}
    if not bounds:
        raise SweepError("nothing to search: every parameter is fixed")
    ends = {name: b if PARAMS[name].kind == "choice" else b[:2] for name, b in bounds.items()}
    # one searched parameter: held as in the paper's sweep of it (sr 0.5 for pct3x3); several: around the base
    point, recipe, seed = inputs.resolve(ends, verb="searched", held=paper_fixed(bounds) if len(bounds) == 1 else {})
    spec = SearchSpec(bounds=tuple(bounds.items()), point=point, seed=seed, dataset=inputs.dataset, recipe=recipe,
                      trials=trials, max_size_mb=max_size_mb, subset=inputs.subset, data_dir=inputs.data_dir,
                      max_latency_ms=max_latency_ms, objective=objective, val_fraction=inputs.val_fraction)
    if max_size_mb is not None:
        smallest = smallest_size_mb(spec)
        if smallest > max_size_mb:
            raise SweepError(f"no point within the bounds fits --max-size-mb {max_size_mb}: the smallest is "
                             f"{smallest:.3f} MB")
    return spec


def size_corner(spec: SearchSpec, *, largest: bool) -> DesignPoint:
    """The bounds' largest (or smallest) corner by size: size grows with base_e, incr_e, sr, pct3x3 and bypass,
    and falls with freq; the bypass choices are compared by `dse.plan.cost`."""
    corner = {name: (b[0] if (name == "freq") == largest else b[1]) for name, b in spec.bounds if name != "bypass"}
    choices = dict(spec.bounds).get("bypass", (spec.point.bypass.value,))
    points = (spec.point.replace(**corner, bypass=c) for c in choices)
    return (max if largest else min)(points, key=lambda p: cost(p).size_mb)


def smallest_size_mb(spec: SearchSpec) -> float:
    """The size of the bounds' smallest corner (`size_corner`)."""
    return cost(size_corner(spec, largest=False)).size_mb
