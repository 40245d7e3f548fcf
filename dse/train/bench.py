"""Training throughput of one design point in steady state: the numbers `dse bench` and benchmarks/ print.

It times the very step `dse.train.train` runs (device-resident batches, augmentation, autocast, optimizer), through
`time_steps`, after warm-up steps that absorb cuDNN autotuning, allocator growth, the CUDA graph's
capture and (with `compile`) compilation.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch

from dse.data import Dataset, DeviceData, load_dataset
from dse.space import DesignPoint
from dse.train.device import autocast_bf16, device_name, resolve_device, run_released, sync
from dse.train.graph import GRAPH_WARMUP_STEPS
from dse.train.loop import Session, check_fits
from dse.train.recipe import Recipe, recipe_for

EPOCH_IMAGES = 50_000  # a CIFAR-sized epoch, to read images/s as seconds per epoch


@dataclass(frozen=True)
class StepTiming:
    """Timed training steps (what `dse.train.bench` reports): steady state, after untimed warm-up steps."""

    seconds: float
    steps: int
    batch_size: int
    dtype: str
    step: str  # eager, static or graph: the step that ran
    device: str
    peak_memory_mb: float  # CUDA only; 0 on CPU

    @property
    def images_per_second(self) -> float:
        return self.steps * self.batch_size / max(self.seconds, 1e-9)


def time_steps(
    point: DesignPoint,
    data: Dataset | DeviceData,
    recipe: Recipe | None = None,
    *,
    device: str | torch.device = "auto",
    steps: int = 50,
    warmup_steps: int = 10,
    compile: bool = False,
    capture: bool | None = None,
    on_step: Callable[[int], None] | None = None,
) -> StepTiming:
    """Time `steps` training steps of `recipe` (its batch size and step kind) after `warmup_steps` untimed ones
    (at least GRAPH_WARMUP_STEPS + 1 with the graph step: its capture is never timed); one host sync at each
    end. The lr is 0: the optimizer does all its work while the weights, and so the speed, stay as at init.
    `capture=True` on a CPU attempts a capture (which fails there): the check script's test of the fallback.
    `on_step(n)` is told after each step is queued (n counts warm-up steps too), for a live display."""
    recipe = recipe or recipe_for(point)
    check_fits(point, data.info)
    dev = resolve_device(device)

    def timed() -> StepTiming:
        session = Session(point, data, recipe, dev, compile, capture)
        warmup = max(warmup_steps, GRAPH_WARMUP_STEPS + 1) if session.step_kind == "graph" else warmup_steps
        with session.seeded():
            session.build()
            batches = session.index_batches()
            for i in range(warmup):
                session.advance(next(batches), 0.0)
                if on_step:
                    on_step(i + 1)
            sync(dev)
            started = time.perf_counter()
            for i in range(steps):
                session.advance(next(batches), 0.0)
                if on_step:
                    on_step(warmup + i + 1)
            sync(dev)
            seconds = time.perf_counter() - started
        return StepTiming(
            seconds=seconds, steps=steps, batch_size=session.batch_size,
            dtype=session.dtype_name, step=session.step_ran, device=device_name(dev),
            peak_memory_mb=torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else 0.0)

    return run_released(dev, recipe.batch_size, timed)


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
    step: str = "eager"  # eager, static (the graph's step, uncaptured) or graph (captured)

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
        warmup_steps=warmup_steps, peak_memory_mb=t.peak_memory_mb, compiled=compile, step=t.step,
    )


@dataclass(frozen=True)
class Variant:
    """One way of running the same training step: the recipe's precision and step kind."""

    precision: str = "auto"
    step: str = "auto"


@dataclass(frozen=True)
class VariantResult:
    variant: Variant
    result: BenchResult  # its median round (by images/s)
    rounds: tuple[float, ...]  # images/s of every round, in order
    ratio: float  # median images/s over the first variant's

    def to_dict(self) -> dict:
        return {**asdict(self.variant), **self.result.to_dict(), "rounds": list(self.rounds), "ratio": self.ratio}


def compare(
    point: DesignPoint,
    variants: Sequence[Variant],
    data: Dataset | DeviceData | None = None,
    *,
    rounds: int = 3,
    device: str | torch.device = "auto",
    batch_size: int = 512,
    steps: int = 50,
    warmup_steps: int = 10,
    recipe: Recipe | None = None,
    on_round: Callable[[int, Variant], None] | None = None,
) -> list[VariantResult]:
    """Images/s of each variant, measured in alternating rounds (v1 v2 .. v1 v2 ..) so that a machine whose speed
    drifts (another job, clocks) affects every variant alike; each variant's median round, and its ratio to the
    first variant's. `on_round(r, variant)` is told before each measurement."""
    if not variants:
        raise ValueError("compare needs at least one variant")
    data = data if data is not None else bench_data(point, batch_size)
    base = recipe or recipe_for(point)
    seen: dict[Variant, list[BenchResult]] = {v: [] for v in variants}
    for r in range(rounds):
        for v in seen:
            if on_round:
                on_round(r + 1, v)
            seen[v].append(bench(point, data, device=device, batch_size=batch_size, steps=steps,
                                 warmup_steps=warmup_steps, recipe=base.replace(precision=v.precision, step=v.step)))
    medians = {v: _median_round(results) for v, results in seen.items()}
    first = medians[next(iter(seen))].images_per_second
    return [VariantResult(v, medians[v], tuple(b.images_per_second for b in seen[v]),
                          medians[v].images_per_second / first) for v in seen]


def _median_round(results: list[BenchResult]) -> BenchResult:
    """The round whose images/s is the median (the lower middle one for an even count)."""
    ranked = sorted(results, key=lambda b: b.images_per_second)
    middle = statistics.median_low(b.images_per_second for b in ranked)
    return next(b for b in ranked if b.images_per_second == middle)


@dataclass(frozen=True)
class TrialSpeed:
    """Images/s of each kind of pass a trial makes, timed on one point: what a sweep's first estimate counts
    before any trial has finished (`trial_seconds`)."""

    train: float  # training steps, the recipe's precision and step
    evaluate: float  # evaluation passes in the recipe's precision (each epoch's test and validation splits)
    evaluate_fp32: float  # fp32 passes on the CPU: the latency runs and the stored weights' precision check
    cold_seconds: float = 0.0  # a new network's first steps and passes over steady ones: kernels chosen, memory


@dataclass(frozen=True)
class TrialImages:
    """The images each kind of pass of one trial goes through (counted from the data and the recipe)."""

    train: int  # training images x epochs
    evaluate: int  # (test + validation images) x epochs
    evaluate_fp32: int  # latency runs (single images and batches), and twice the choosing split if weights are kept


def trial_images(epochs: int, train: int, val: int, test: int, keeps_weights: bool) -> TrialImages:
    """What one trial of `epochs` on these split sizes passes through: every epoch trains and then evaluates the
    test and validation splits (`dse.train.loop`); latency times `RUNS + WARMUP` single images and batches
    (`dse.train.latency`); a kept network is evaluated twice more on the choosing split (fp32 and fp16,
    `dse.weights.choose_precision`)."""
    from dse.train.latency import BATCH, RUNS, WARMUP

    timed = (RUNS + WARMUP) * (1 + BATCH)
    return TrialImages(train=train * epochs, evaluate=(val + test) * epochs,
                       evaluate_fp32=timed + (2 * (val or test) if keeps_weights else 0))


def trial_seconds(speed: TrialSpeed, images: TrialImages) -> float:
    """One trial's seconds at `speed`: its passes, each at its own rate, and the cold start of its new network
    (the worker's own start-up not counted)."""
    return (images.train / speed.train + images.evaluate / speed.evaluate
            + images.evaluate_fp32 / speed.evaluate_fp32 + speed.cold_seconds)


def trial_speed(point: DesignPoint, recipe: Recipe, *, device: str | torch.device = "auto",
                threads: int | None = None, steps: int = 3, warmup_steps: int = 1,
                eval_batch_size: int = 256) -> TrialSpeed:
    """Time a few training steps and one evaluation batch (recipe's precision, then fp32) of `point` on synthetic
    images, under `threads` intra-op threads (a sweep's workers' own count, `worker_threads`): seconds, not a
    benchmark, so the numbers carry the noise of so few steps."""
    from dse.model import build_model
    from dse.train.device import threads as set_threads
    from dse.train.loop import wide

    dev = resolve_device(device)
    with set_threads(threads):
        data = bench_data(point, recipe.batch_size)
        started = time.perf_counter()
        timed = bench(point, data, device=dev, batch_size=recipe.batch_size, steps=steps,
                      warmup_steps=warmup_steps, recipe=recipe)
        cold = time.perf_counter() - started - (steps + warmup_steps) * timed.step_ms / 1000
        model = build_model(point).to(dev, memory_format=torch.channels_last).eval()
        shape = (eval_batch_size, point.in_channels, point.input_size, point.input_size)
        x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(dev, memory_format=torch.channels_last)
        bf16 = recipe.precision != "fp32" and autocast_bf16(recipe.precision, dev)

        def rate(autocast: bool) -> tuple[float, float]:
            """Images/s of a warm pass, and the seconds the first (cold) pass took over it."""
            with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=autocast):
                times = []
                for _ in range(2):  # the first call chooses the kernels for this shape and dtype
                    started = time.perf_counter()
                    wide(model(x))
                    sync(dev)
                    times.append(time.perf_counter() - started)
            return eval_batch_size / max(times[1], 1e-9), max(0.0, times[0] - times[1])

        evaluate, cold_eval = rate(bf16)
        fp32, cold_fp32 = rate(False) if bf16 else (evaluate, 0.0)
    return TrialSpeed(train=timed.images_per_second, evaluate=evaluate, evaluate_fp32=fp32,
                      cold_seconds=max(0.0, cold) + cold_eval + cold_fp32)
