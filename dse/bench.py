"""Training throughput of one design point in steady state: the numbers `dse bench` and benchmarks/ print.

It times the very step `dse.train.train` runs (device-resident batches, augmentation, autocast, optimizer), through
`dse.train.time_steps`, after warm-up steps that absorb cuDNN autotuning, allocator growth, the CUDA graph's
capture and (with `compile`) compilation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from dse.data import Dataset, DeviceData, load_dataset
from dse.space import DesignPoint
from dse.train import Recipe, StepTiming, recipe_for, time_steps

EPOCH_IMAGES = 50_000  # a CIFAR-sized epoch, to read images/s as seconds per epoch


@dataclass(frozen=True)
class BenchResult:
    device: str
    batch_size: int
    dtype: str
    images_per_second: float  # steady state, timed steps only
    step_ms: float
    epoch_seconds: float  # EPOCH_IMAGES / images_per_second (training steps only, no evaluation)
    steps: int
    warmup_steps: int
    peak_memory_mb: float  # CUDA only; 0 on CPU
    compiled: bool
    step: str = "eager"  # eager, static, graph (captured) or batched (seeds trained together)
    models: int = 1  # models trained per step (batched seeds); images/s counts all of them

    def to_dict(self) -> dict:
        return asdict(self)


def bench_data(point: DesignPoint, batch_size: int) -> Dataset:
    """Synthetic images at the point's input size, enough for a few batches (generated, never read)."""
    return load_dataset("synthetic", image_size=point.input_size, subset=max(2 * batch_size, 1024))


def bench(
    point: DesignPoint,
    data: Dataset | DeviceData | None = None,
    *,
    device: str | torch.device = "auto",
    batch_size: int = 512,
    steps: int = 50,
    warmup_steps: int = 10,
    recipe: Recipe | None = None,
    compile: bool = False,
    on_step: Callable[[int], None] | None = None,
) -> BenchResult:
    """Images/s of training steps (the recipe's step kind: graph on CUDA by default) after `warmup_steps`
    untimed ones; one host sync at each end. `on_step(n)` is told after each step is queued (n counts warm-up
    steps too), for a live display."""
    data = data if data is not None else bench_data(point, batch_size)
    recipe = (recipe or recipe_for(point)).replace(batch_size=batch_size, epochs=1)
    return result_of(time_steps(point, data, recipe, device=device, steps=steps, warmup_steps=warmup_steps,
                                compile=compile, on_step=on_step), warmup_steps, compile)


def result_of(t: StepTiming, warmup_steps: int, compile: bool = False) -> BenchResult:
    ips = t.images_per_second
    return BenchResult(
        device=t.device, batch_size=t.batch_size, dtype=t.dtype, images_per_second=ips,
        step_ms=1000 * t.seconds / max(t.steps, 1), epoch_seconds=EPOCH_IMAGES / ips, steps=t.steps,
        warmup_steps=warmup_steps, peak_memory_mb=t.peak_memory_mb, compiled=compile, step=t.step, models=t.models,
    )
