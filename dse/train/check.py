"""Does every part of the design space train? The points that check it, and a brief run of each.

The points: every preset (the paper's networks, and the same with BatchNorm) and the corners of the domain,
each varied one field at a time from a base point: each metaparameter at both ends of its range in the parameter
table (`dse.space.PARAMS`: the search's default bounds), each bypass, each stem, both norms and both heads.
`dse check` trains them on any dataset (`check_data`: a subset); `tests/test_trainability.py` at tiny widths on
synthetic images.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from dse.data import Dataset, load_dataset, take_subset
from dse.space import CIFAR_STEM_BELOW, PARAMS, PRESETS, Bypass, DesignPoint, Head, Norm, Stem, min_input_size
from dse.train.loop import train
from dse.train.outcome import Diverged


def corner_points(base: DesignPoint) -> dict[str, DesignPoint]:
    """`base` varied one field at a time: each end of each metaparameter's domain, each bypass, stem, norm and
    head. Named `field=value`; a variation equal to `base` is still listed (every value is covered by name).
    A stem that needs a larger input than `base`'s gets its smallest one."""
    out = {}
    for name, p in PARAMS.items():
        for value in p.range if p.kind == "number" else ():  # the ends of its range (bypass: below, with the enums)
            out[f"{name}={value}"] = base.replace(**{name: value})
    for name, enum in (("bypass", Bypass), ("stem", Stem), ("norm", Norm), ("head", Head)):
        for value in enum:
            changes = {name: value}
            if name == "stem":
                changes["input_size"] = max(base.input_size, min_input_size(value))
            out[f"{name}={value.value}"] = base.replace(**changes)
    return out


def preset_points(num_classes: int, in_channels: int, input_size: int, **changes) -> dict[str, DesignPoint]:
    """Every preset adapted to the data (the paper's head and norm), and the same with BatchNorm (`+bn`).
    `changes` (e.g. narrow widths) apply to all of them; a stem that needs a larger input gets its smallest."""
    out = {}
    for name, point in PRESETS.items():
        stem = Stem.cifar if point.stem is Stem.imagenet and input_size < CIFAR_STEM_BELOW else point.stem  # for_data
        point = point.replace(num_classes=num_classes, in_channels=in_channels, stem=stem,
                              input_size=max(input_size, min_input_size(stem)), **changes)
        out[name] = point
        out[f"{name}+bn"] = point.replace(norm=Norm.batch)
    return out


def check_points(base: DesignPoint, *, narrow: dict | None = None) -> dict[str, DesignPoint]:
    """Presets (with `narrow` widths) then corners of `base`; `base` must already fit the data."""
    narrow = narrow or {}
    presets = preset_points(base.num_classes, base.in_channels, base.input_size, **narrow)
    return {**presets, **corner_points(base)}

DEAD_MARGIN = 0.01  # nats below ln(classes) that count as learning: a dead head ends within rounding of ln(classes)


@dataclass(frozen=True)
class CheckRow:
    """One line of the trainability table."""

    name: str
    top1: float | None  # test %, None when the run diverged
    chance: float  # % a constant guess gets
    diverged: bool
    first_loss: float  # mean training loss over the first steps of the run
    last_loss: float  # ... and over the last ones (nan when diverged)
    seconds: float

    @property
    def trains(self) -> bool:
        """Finite throughout, and the training loss fell, to clearly below a uniform guess's (ln classes): a network
        whose ReLU head died sits at ln classes, give or take float rounding."""
        return (not self.diverged and math.isfinite(self.last_loss)
                and self.last_loss < min(self.first_loss, math.log(100 / self.chance) - DEAD_MARGIN))

    def to_dict(self) -> dict:
        return {**asdict(self), "trains": self.trains}


def check_data(dataset: str, data_dir=None, *, subset: int | None = None, test: int | None = None
               ) -> Callable[[int], Dataset]:
    """input size -> the data a check trains on there: the first `subset` training and `test` test images
    (classes balanced), no validation split (the check reads the training loss); each size loaded once."""

    @functools.cache
    def data_for(size: int) -> Dataset:
        wanted = [n for n in (subset, test) if n is not None]
        data = load_dataset(dataset, data_dir, image_size=size, subset=max(wanted) if wanted else None,
                            val_fraction=0)
        return take_subset(data, subset or data.num_train, test=test) if wanted else data

    return data_for


def step_losses(point: DesignPoint, data, recipe, *, device: str = "cpu"):
    """Train and return (RunResult, the training loss of every step).

    `train` reports each epoch's running mean loss (`Progress.loss`) at every check; with `check_every=1` the
    loss of step i is i * mean_i - (i - 1) * mean_(i-1).
    """
    means: dict[tuple[int, int], float] = {}

    def record(p) -> None:
        means[(p.epoch, p.step)] = p.loss

    result = train(point, data, recipe, device=device, on_progress=record, check_every=1)
    return result, _per_step(means)


def _per_step(means: dict[tuple[int, int], float]) -> list[float]:
    losses = []
    previous: tuple[int, float] = (0, 0.0)
    for (_epoch, step), mean in sorted(means.items()):
        if step == 1:
            previous = (0, 0.0)
        i, m = previous
        losses.append(step * mean - i * m)
        previous = (step, mean)
    return losses


def check(points: dict[str, DesignPoint], data_for: Callable[[int], object],
          recipe_of: Callable[[DesignPoint], object], *, window: int = 3, device: str = "cpu",
          on_row: Callable[[CheckRow], None] | None = None) -> list[CheckRow]:
    """Train each point briefly on `data_for(point.input_size)`; the mean training loss of the first and of the
    last `window` steps tell whether it learned."""
    rows = []
    for name, point in points.items():
        data = data_for(point.input_size)
        chance = 100 / data.info.num_classes
        started = time.perf_counter()
        try:
            result, losses = step_losses(point, data, recipe_of(point), device=device)
        except Diverged:
            row = CheckRow(name, None, chance, True, math.nan, math.nan, time.perf_counter() - started)
        else:
            k = max(1, min(window, len(losses) // 2))
            first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
            row = CheckRow(name, result.top1, chance, False, first, last, time.perf_counter() - started)
        rows.append(row)
        if on_row:
            on_row(row)
    return rows
