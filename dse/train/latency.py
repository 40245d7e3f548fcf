"""CPU inference latency of a network: what an embedded engineer chooses by, measured on this machine.

Median wall time of `runs` timed forward passes after `warmup` untimed ones, at batch 1 and at batch 32, in
fp32, eval mode, under `torch.inference_mode`, with the intra-op thread count recorded (it changes the numbers
more than anything else), and the spread of the single-image runs (first and third quartile): a wide spread says
the machine was busy (`dse.stats.busy_warning`), and the median then holds other work's time too. Weights do
not change the time of dense convolutions, so an untrained network of a point (`point_latency`) measures what the
trained one would.
"""

from __future__ import annotations

import copy
import math
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from dse.model import build_model
from dse.space import DesignPoint
from dse.stats import BUSY_SPREAD, relative_spread
from dse.train.device import threads as set_threads

BATCH = 32
RUNS = 20
WARMUP = 5


@dataclass(frozen=True)
class Latency:
    single_ms: float  # median ms for one image
    batch_ms: float  # median ms for one batch of `batch_size` images
    batch_size: int
    runs: int
    warmup: int
    threads: int  # torch intra-op threads during the measurement
    cpu: str  # CPU model name
    torch_version: str
    single_q1_ms: float = math.nan  # first and third quartile of the single-image runs: their spread
    single_q3_ms: float = math.nan

    @property
    def spread(self) -> float:
        """(q3 - q1) / median of the single-image runs (`dse.stats.relative_spread`)."""
        return relative_spread(self.single_ms, self.single_q1_ms, self.single_q3_ms)

    @property
    def busy(self) -> bool:
        """The spread says the machine was busy while this was measured (`dse.stats.BUSY_SPREAD`)."""
        return self.spread > BUSY_SPREAD

    @property
    def batch_image_ms(self) -> float:
        return self.batch_ms / self.batch_size

    def to_dict(self) -> dict:
        return asdict(self)

    def attrs(self) -> dict:
        """The trial user attrs a sweep records (names of the study layout)."""
        return {"latency_ms": self.single_ms, "latency_q1_ms": self.single_q1_ms, "latency_q3_ms": self.single_q3_ms,
                "latency_batch_ms": self.batch_ms, "latency_batch_size": self.batch_size,
                "latency_threads": self.threads, "latency_cpu": self.cpu}


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what `platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def _timed_ms(model: nn.Module, x: torch.Tensor, runs: int, warmup: int) -> tuple[float, float, float]:
    """Median, first and third quartile (ms) of `runs` timed forward passes after `warmup` untimed ones."""
    for _ in range(warmup):
        model(x)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        model(x)
        times.append(1000 * (time.perf_counter() - started))
    q1, _, q3 = statistics.quantiles(times, n=4, method="inclusive") if len(times) > 1 else times * 3
    return statistics.median(times), q1, q3


def measure(model: nn.Module, input_shape: tuple[int, int, int], *, batch_size: int = BATCH, runs: int = RUNS,
            warmup: int = WARMUP, threads: int | None = None) -> Latency:
    """Latency of `model` on the CPU for inputs of `input_shape` (C, H, W); the model is copied to the CPU in
    fp32 and eval mode only if it is not already there, and the caller's thread count is restored."""
    if runs < 1 or warmup < 0 or batch_size < 1:
        raise ValueError("runs and batch size must be >= 1, warmup >= 0")
    params = next(model.parameters(), None)
    if params is not None and (params.device.type != "cpu" or params.dtype != torch.float32):
        model = copy.deepcopy(model).to("cpu", torch.float32)
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(0)
    try:
        with set_threads(threads) as used, torch.inference_mode():
            single, q1, q3 = _timed_ms(model, torch.randn(1, *input_shape, generator=gen), runs, warmup)
            batch = _timed_ms(model, torch.randn(batch_size, *input_shape, generator=gen), runs, warmup)[0]
    finally:
        model.train(was_training)
    return Latency(single, batch, batch_size, runs, warmup, used, cpu_model(), torch.__version__, q1, q3)


def point_latency(point: DesignPoint, **options) -> Latency:
    """Latency of a design point without training it (what `dse bench --latency` prints)."""
    model = build_model(point)
    return measure(model, (point.in_channels, point.input_size, point.input_size), **options)
