"""Training throughput of one design point in steady state: the numbers `dse bench` and benchmarks/ print.

It times the very step `dse.train.train` runs (device-resident batches, augmentation, autocast, optimizer),
after warm-up steps that absorb cuDNN autotuning, allocator growth and (with `compile`) compilation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from dse.data import Dataset, DeviceData, load_dataset
from dse.space import DesignPoint
from dse.train import Recipe, _Session, check_fits, device_name, recipe_for, release, resolve_device

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

    def to_dict(self) -> dict:
        return asdict(self)


def bench_data(point: DesignPoint, batch_size: int) -> Dataset:
    """Synthetic images at the point's input size, enough for a few batches (generated, never read)."""
    data = load_dataset("synthetic", image_size=point.input_size, subset=max(2 * batch_size, 1024))
    return data


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
    """Images/s of training steps after `warmup_steps` untimed ones; one host sync at each end.

    `on_step(n)` is told after each step is queued (n counts warm-up steps too), for a live display.
    """
    data = data if data is not None else bench_data(point, batch_size)
    check_fits(point, data.info)
    recipe = (recipe or recipe_for(point)).replace(batch_size=batch_size, epochs=1)
    dev = resolve_device(device)
    session = _Session(point, data, recipe, dev, compile)
    try:
        with session.seeded():
            session.build()
            batches = session.batches()
            lr = 0.0  # the optimizer still does all its work; the weights (and the speed) stay as at init
            for i in range(warmup_steps):
                session.step(*next(batches), lr)
                if on_step:
                    on_step(i + 1)
            _sync(dev)
            started = time.perf_counter()
            for i in range(steps):
                session.step(*next(batches), lr)
                if on_step:
                    on_step(warmup_steps + i + 1)
            _sync(dev)
            seconds = time.perf_counter() - started
        ips = steps * session.batch_size / max(seconds, 1e-9)
        return BenchResult(
            device=device_name(dev), batch_size=session.batch_size, dtype="bf16" if session.amp_dtype else "fp32",
            images_per_second=ips, step_ms=1000 * seconds / max(steps, 1), epoch_seconds=EPOCH_IMAGES / ips,
            steps=steps, warmup_steps=warmup_steps,
            peak_memory_mb=torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else 0.0,
            compiled=compile,
        )
    finally:
        session = None
        release(dev)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
