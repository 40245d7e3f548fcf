"""Where a run trains: the device by name, its precision, its name for people, and its memory released whatever
happens (CUDA out-of-memory as `OutOfMemory`)."""

from __future__ import annotations

import gc
import os
import platform
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import torch

from dse.errors import DseError
from dse.train.outcome import OutOfMemory

T = TypeVar("T")


class DeviceError(DseError):
    """The requested device does not exist here (not a TrainingFailed: no point could run on it)."""


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """auto (CUDA when there is one, else CPU), cpu, cuda, cuda:N."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise DeviceError(f"unsupported device {name!r}; use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise DeviceError(f"device {name} requested but CUDA is not available here; use --device cpu")
    index = dev.index if dev.index is not None else torch.cuda.current_device()
    if index >= torch.cuda.device_count():
        raise DeviceError(f"device {name} does not exist: {torch.cuda.device_count()} CUDA device(s) here")
    return torch.device("cuda", index)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512_BF16 or AMX), where bf16 autocast trains about twice as
    fast as fp32 (docs/training.md); elsewhere bf16 is emulated and slower. torch has no public query for this:
    `torch.cpu._is_avx512_bf16_supported` and `_is_amx_tile_supported` (checked in torch 2.4 to 2.14) are
    read here and only here, and a torch without them means no."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        return any(bool(getattr(torch.cpu, name)()) for name in checks if hasattr(torch.cpu, name))
    except (RuntimeError, AttributeError):
        return False


def autocast_bf16(precision: str, dev: torch.device) -> bool:
    """Does `precision` train in bf16 autocast on `dev`? `auto` does where the device computes bf16 natively."""
    if precision == "auto":
        return dev.type == "cuda" or (dev.type == "cpu" and cpu_has_native_bf16())
    return precision == "bf16"


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                      if line.startswith("model name")), "")
    return f"cpu ({model or platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def worker_threads(workers: int) -> int | None:
    """Intra-op threads of each of `workers` CPU workers: the cores shared out, so workers never oversubscribe;
    None for one worker, which keeps torch's own count (and so $OMP_NUM_THREADS)."""
    return max(1, (os.cpu_count() or 1) // workers) if workers > 1 else None


@contextmanager
def threads(n: int | None) -> Iterator[int]:
    """torch's intra-op threads set to `n` (None: left as they are) inside, the caller's count restored after;
    yields the count in use."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def run_released(dev: torch.device, batch_size: int, fn: Callable[[], T]) -> T:
    """`fn()`, whose device memory is released on CUDA whatever happens; CUDA OOM raised as OutOfMemory."""
    try:
        return fn()
    except BaseException as exc:
        if dev.type != "cuda":
            raise
        traceback.clear_frames(exc.__traceback__)  # the frames hold the model, optimizer and activations
        if not is_out_of_memory(exc):
            release(dev)
            raise
    release(dev)
    raise OutOfMemory(f"CUDA out of memory on {device_name(dev)} at batch size {batch_size}: try a "
                      "smaller --batch-size")


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def is_out_of_memory(exc: BaseException) -> bool:
    """torch's OOM error, or cuDNN / cuBLAS failing to allocate their workspace."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "ALLOC_FAILED" in text)


def release(dev: torch.device) -> None:
    """Return the cached blocks of finished runs to the driver, so the next run (or process) can use them."""
    if dev.type == "cuda":
        gc.collect()
        torch.cuda.synchronize(dev)
        torch.cuda.empty_cache()
