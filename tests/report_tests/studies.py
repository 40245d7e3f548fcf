"""Studies laid out as sweeps and searches write them (through `dse.study.layout`), built directly with
Optuna so report tests need no training. Accuracies follow a made-up saturating curve plus seed noise."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from dse.plan import cost
from dse.report.frame import study_data
from dse.space import DesignPoint
from dse.study import layout

optuna.logging.set_verbosity(optuna.logging.WARNING)

SR_VALUES = (0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0)
PCT_VALUES = (0.01, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 0.99)
EPOCHS = 4

DISTRIBUTIONS = {
    "base_e": IntDistribution(8, 1024),
    "incr_e": IntDistribution(0, 1024),
    "freq": IntDistribution(1, 8),
    "sr": FloatDistribution(0.01, 1.0),
    "pct3x3": FloatDistribution(0.0, 1.0),
    "bypass": CategoricalDistribution(["none", "simple", "complex"]),
    "seed": IntDistribution(0, 10_000),
}
BASE = DesignPoint().for_data(10, 3, 32)
METAPARAMS = ("base_e", "incr_e", "freq", "sr", "pct3x3", "bypass")


def accuracy(point: DesignPoint, seed: int) -> tuple[float, float]:
    """A plausible top-1/top-5 (%): rises with size and saturates; seed noise of about 0.5 points."""
    size = cost(point).size_mb
    key = (round(point.sr, 6), round(point.pct3x3, 6), point.base_e, seed)
    if point.bypass.value != "none":  # a bypass variant gets noise of its own (str hashes differ per process)
        key += (("simple", "complex").index(point.bypass.value),)
    noise = random.Random(hash(key)).gauss(0, 0.5)
    top1 = 60 + 20 * (1 - math.exp(-size / 6)) + noise
    return top1, min(99.9, 90 + top1 / 10)


def attrs(point: DesignPoint, seed: int, top1: float | None, top5: float | None, epochs: int) -> dict[str, Any]:
    c = cost(point)
    return {
        "params": c.params, "size_mb": c.size_mb, "imagenet_size_mb": c.imagenet_size_mb, "macs": c.macs,
        "top1": top1, "top5": top5, "loss": 0.9 if top1 is not None else None, "epochs": epochs,
        "train_seconds": 12.5 + point.sr * 10, "images_per_second": 4000.0, "peak_memory_mb": 300.0,
        "device": "cpu", "diverged": False, "point": point.to_dict(),
        "epoch_top1": [] if top1 is None else curve(top1, epochs),
    }


def curve(final: float, epochs: int) -> list[float]:
    """Rises from near chance and ends exactly at `final`."""
    return [final - (final - 10) * (math.exp(-2.0 * e) - math.exp(-2.0 * epochs)) for e in range(1, epochs + 1)]


def spec(kind: str, params: Sequence[str], grid: Any, seeds: int, fixed: dict[str, Any],
         epochs: int = EPOCHS, dataset: str = "cifar10") -> dict[str, Any]:
    point = BASE.replace(**fixed)
    return {"kind": kind, "params": list(params), "grid": grid, "fixed": fixed, "seeds": seeds,
            "dataset": dataset, "recipe": {"epochs": epochs, "batch_size": 256, "lr": 0.05},
            "point": point.to_dict(), "dse_version": "0.1.0", "torch_version": "2.x"}


def make_sweep(
    storage: str | optuna.storages.BaseStorage,
    name: str,
    grid: dict[str, Sequence[Any]],
    *,
    seeds: int = 2,
    fixed: dict[str, Any] | None = None,
    fail: Iterable[tuple] = (),
    running: Iterable[tuple] = (),
    waiting: Iterable[tuple] = (),
    skip: Iterable[tuple] = (),
    epochs: int = EPOCHS,
    dataset: str = "cifar10",
    shift: float = 0.0,
) -> optuna.Study:
    """A sweep over the full product of `grid`; (values..., seed) tuples pick trials that failed, are running,
    wait in the queue or were never made."""
    fixed = dict(fixed or {})
    names = list(grid)
    points = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(grid[n] for n in names))]
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    layout.write_definition(study, spec("sweep", names, {n: list(v) for n, v in grid.items()}, seeds, fixed,
                                        epochs, dataset))
    fail, running, waiting, skip = set(fail), set(running), set(waiting), set(skip)
    for values in points:
        point = BASE.replace(**fixed, **values)
        for seed in range(seeds):
            key = (*values.values(), seed)
            params = {**{k: getattr(point, k) for k in METAPARAMS}, "seed": seed}
            params["bypass"] = point.bypass.value
            if key in skip:
                continue
            if key in waiting:
                layout.queue(study, params)
                continue
            dists = {k: DISTRIBUTIONS[k] for k in params}
            if key in fail:
                user = attrs(point, seed, None, None, epochs)
                user[layout.FAIL_KIND_ATTR] = "diverged"
                user[layout.FAIL_REASON_ATTR] = "Diverged: non-finite loss at epoch 2"
                user[layout.DIVERGED_ATTR] = True
                study.add_trial(create_trial(state=TrialState.FAIL, params=params, distributions=dists,
                                             user_attrs=user, intermediate_values={1: 10.0}))
                continue
            top1, top5 = accuracy(point, seed)
            top1 += shift
            if key in running:
                study.add_trial(create_trial(state=TrialState.RUNNING, params=params, distributions=dists,
                                             user_attrs={"point": point.to_dict()},
                                             intermediate_values={1: curve(top1, epochs)[0]}))
                continue
            study.add_trial(create_trial(
                state=TrialState.COMPLETE, value=top1, params=params, distributions=dists,
                user_attrs=attrs(point, seed, top1, top5, epochs),
                intermediate_values=dict(enumerate(curve(top1, epochs), start=1)),
            ))
    return study


def make_search(storage: str | optuna.storages.BaseStorage, name: str = "search", n: int = 24,
                seed: int = 0) -> optuna.Study:
    """A two-objective search (top-1 max, size min) over random points of the space, one seed each."""
    rng = random.Random(seed)
    study = optuna.create_study(storage=storage, study_name=name, directions=["maximize", "minimize"])
    layout.write_definition(study, spec("search", list(METAPARAMS), None, 1, {}))
    for _ in range(n):
        point = BASE.replace(base_e=rng.choice([32, 64, 128]), incr_e=rng.choice([32, 64, 128]),
                             freq=rng.choice([1, 2, 4]), sr=rng.choice([0.125, 0.25, 0.5, 0.75]),
                             pct3x3=rng.choice([0.25, 0.5, 0.75]), bypass=rng.choice(["none", "simple"]))
        params = {**{k: getattr(point, k) for k in METAPARAMS}, "seed": 0}
        params["bypass"] = point.bypass.value
        top1, top5 = accuracy(point, 0)
        top1 -= abs(rng.gauss(0, 3))  # not every point of a search is a good one
        study.add_trial(create_trial(
            state=TrialState.COMPLETE, values=[top1, cost(point).size_mb], params=params,
            distributions={k: DISTRIBUTIONS[k] for k in params},
            user_attrs=attrs(point, 0, top1, top5, EPOCHS),
            intermediate_values=dict(enumerate(curve(top1, EPOCHS), start=1)),
        ))
    return study


def two_objective(points):
    """A study of another tool with two objectives (accuracy, size) and one param `x`, no dse attrs."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    for i, (acc, size) in enumerate(points):
        study.add_trial(create_trial(values=[acc, size], params={"x": i}, distributions={"x": IntDistribution(0, 99)}))
    return study_data(study)


def val_sweep(points):
    """A sweep with a validation split: per (sr, seed), validation and test top-1 and their per-epoch curves."""
    study = optuna.create_study(direction="maximize")
    definition = spec("sweep", ["sr"], {"sr": sorted({p[0] for p in points})}, 1, {})
    layout.write_definition(study, {**definition, "val_fraction": 0.1, "val_seed": 0})
    for sr, seed, val, test in points:
        point = BASE.replace(sr=sr)
        params = {**{k: getattr(point, k) for k in METAPARAMS}, "seed": seed, "bypass": point.bypass.value}
        user = {**attrs(point, seed, test, 90.0, 2), "epoch_top1": [test - 5, test], "val_top1": val,
                "epoch_val_top1": [val - 5, val]}
        study.add_trial(create_trial(state=TrialState.COMPLETE, value=val, params=params, user_attrs=user,
                                     distributions={k: DISTRIBUTIONS[k] for k in params},
                                     intermediate_values={1: val - 5, 2: val}))
    return study_data(study)


DISTS = {"sr": FloatDistribution(0.01, 1.0), "seed": IntDistribution(0, 99)}


def timed_study(rows, *, latency=True, spread: float | None = None):
    """A sweep whose trials recorded CPU latency (unless `latency` is False); rows: (sr, seed, val_top1, test top1,
    latency ms). `spread`: the runs' first and third quartile at median x (1 -/+ spread / 2) (relative spread
    `spread`); None: not recorded, as in studies from before the quartiles."""
    study = optuna.create_study(direction="maximize")
    study.set_user_attr(layout.DEFINITION_ATTR, {"kind": "sweep", "params": ["sr"], "dataset": "synthetic",
                                                 "point": BASE.to_dict(), "seeds": 2})
    for sr, seed, val, top1, ms in rows:
        point = BASE.replace(sr=sr)
        c = cost(point)
        attrs = {**{name: getattr(c, name) for name in layout.COST_ATTRS}, "point": point.to_dict(),
                 "top1": top1, "val_top1": val, "epochs": 1}
        if latency:
            attrs.update({"latency_ms": ms, "latency_batch_ms": 10 * ms, "latency_batch_size": 32,
                          "latency_threads": 4, "latency_cpu": "Test CPU"})
            if spread is not None:
                attrs.update({"latency_q1_ms": ms * (1 - spread / 2), "latency_q3_ms": ms * (1 + spread / 2)})
        study.add_trial(create_trial(state=TrialState.COMPLETE, values=[val], params={"sr": sr, "seed": seed},
                                     distributions=DISTS, user_attrs=attrs))
    return study_data(study)


TIMED_ROWS = [  # sr 0.25: most accurate, smallest, slowest; 0.5: fast; 0.75: slower, bigger and worse than 0.5
    (0.25, 0, 80.0, 79.0, 6.0), (0.25, 1, 82.0, 81.0, 8.0),
    (0.5, 0, 70.0, 69.0, 2.0), (0.5, 1, 70.0, 69.0, 4.0),
    (0.75, 0, 60.0, 65.0, 5.0), (0.75, 1, 62.0, 66.0, 5.0),
]

REAL_SR = Path(__file__).resolve().parents[2] / "studies" / "cpu-sr.db"  # committed Figure 3(a): 8 points, 3 seeds
REAL_PCT3X3 = REAL_SR.with_name("cpu-pct3x3.db")  # committed Figure 3(b): 9 points, 3 seeds


def assert_draws(fig) -> None:
    """A figure draws: marks on its axes, and a title."""
    fig.canvas.draw()
    drawn = sum(len(ax.lines) + len(ax.collections) + len(ax.patches) + len(ax.images) for ax in fig.axes)
    assert drawn > 0 and fig.get_suptitle()


def explicit_sweep(samples: dict[tuple, Sequence[float]], swept: Sequence[str] = ("sr",), *, seeds: int = 3):
    """A complete sweep whose test top-1 per seed is given: {(value of each swept param, ...): [top-1 per seed]};
    keys in the order the sweep's grid lists them."""
    study = optuna.create_study(direction="maximize")
    grid = {n: list(dict.fromkeys(k[i] for k in samples)) for i, n in enumerate(swept)}
    layout.write_definition(study, spec("sweep", list(swept), grid, seeds, {}))
    for key, tops in samples.items():
        point = BASE.replace(**dict(zip(swept, key, strict=True)))
        for seed, top1 in enumerate(tops):
            params = {**{k: getattr(point, k) for k in METAPARAMS}, "seed": seed, "bypass": point.bypass.value}
            study.add_trial(create_trial(state=TrialState.COMPLETE, value=top1, params=params,
                                         distributions={k: DISTRIBUTIONS[k] for k in params},
                                         user_attrs=attrs(point, seed, top1, min(99.9, top1 + 30), EPOCHS)))
    return study_data(study)
