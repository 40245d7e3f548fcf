"""The training loop: one design point trained briefly by its recipe, evaluated after every epoch.

Trustworthy: seeded (init, data order, augmentation), evaluated after every epoch on the validation split
(which chooses: `on_epoch` gets it) and on the held-out test split (which only measures), the recipe recorded
with the result. Fast: the data lives on the device (`dse.data.DeviceData`), steps run in bf16
autocast and channels_last on CUDA, and the host syncs only every `check_every` steps and at each
evaluation (to test the loss for NaN and to report progress), never per step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from dse.data import Dataset, DatasetInfo, DeviceData
from dse.errors import DataError, DesignError
from dse.model import build_model
from dse.plan import cost
from dse.space import DesignPoint
from dse.train.device import autocast_bf16, device_name, resolve_device, run_released
from dse.train.graph import StaticStep
from dse.train.outcome import Diverged, Progress, RunResult
from dse.train.recipe import Recipe, recipe_for


def check_fits(point: DesignPoint, info: DatasetInfo) -> None:
    """The point must already be adapted to the data (`point.for_data(...)`)."""
    want = (info.num_classes, info.in_channels, info.image_size)
    have = (point.num_classes, point.in_channels, point.input_size)
    if want != have:
        raise DesignError(
            f"the design point takes {have[1]}-channel {have[2]}px inputs into {have[0]} classes but "
            f"{info.name} has {want[1]}-channel {want[2]}px images in {want[0]} classes; adapt it with "
            f"point.for_data({want[0]}, {want[1]}, {want[2]})"
        )


def train(
    point: DesignPoint,
    data: Dataset | DeviceData,
    recipe: Recipe | None = None,
    *,
    device: str | torch.device = "auto",
    on_epoch: Callable[[int, float], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    check_every: int = 50,
    compile: bool = False,
    keep_model: bool = False,
) -> RunResult:
    """Train `point` on `data` with `recipe` (default: `recipe_for(point)`) and evaluate after every epoch.

    `data` is a Dataset, or a DeviceData already on the run's device (reused across runs without upload).
    `on_epoch(epoch, top1)` runs after each evaluation with the VALIDATION top-1 (the test top-1 only when the
    data has no validation split) and may raise (optuna.TrialPruned) to stop the run: pruning must choose on
    validation, never on test.
    Raises Diverged on a non-finite loss and OutOfMemory on CUDA out-of-memory; on CUDA any exception
    leaves the run's memory released. `compile` runs the model through torch.compile (GPU speed; off by
    default because compiling costs more than a brief CPU run). `recipe.step` picks the eager step or the one
    captured in a CUDA graph (`_StaticStep`); the result's `step` says which ran. `keep_model` returns the
    trained network on `RunResult.model` (on the run's device) for whoever keeps or times it.
    """
    recipe = recipe or recipe_for(point)
    check_fits(point, data.info)
    dev = resolve_device(device)
    return run_released(dev, recipe.batch_size, lambda: Session(point, data, recipe, dev, compile).run(
        on_epoch, on_progress, max(1, check_every), keep_model))


class Session:
    """Model, optimizer, device data and RNG of one run; also drives `dse.train.bench`."""

    def __init__(self, point: DesignPoint, data: Dataset | DeviceData, recipe: Recipe, dev: torch.device,
                 compile: bool, capture: bool | None = None) -> None:
        self.point, self.recipe, self.dev = point, recipe, dev
        self.capture = dev.type == "cuda" if capture is None else capture
        self.cuda = dev.type == "cuda"
        self.amp_dtype = torch.bfloat16 if autocast_bf16(recipe.precision, dev) else None
        self.param_dtype = torch.float64 if recipe.precision == "fp64" else torch.float32
        # graph: the step over static buffers, captured on CUDA; on a CPU the same step runs uncaptured
        self.step_kind = "graph" if recipe.step == "graph" or (recipe.step == "auto" and self.cuda
                                                                and not compile) else "eager"
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(dev)
            torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest kernels once
        # init and dropout use the default generators, seeded inside run's fork_rng; data uses its own
        self.data_generator = torch.Generator(device=dev).manual_seed(_mix(recipe.seed))
        if data.num_train == 0 or data.num_test == 0:
            raise DataError(f"{data.info.name} has no training or no test images")
        if isinstance(data, DeviceData) and data.device != dev:
            raise DataError(f"the data is on {data.device} but the run on {dev}")
        self.data = data if isinstance(data, DeviceData) else DeviceData(data, dev)
        self.dtype = self.amp_dtype or self.param_dtype  # of the input batches
        self.batch_size = self.data.batch_size_for(recipe.batch_size)
        self.steps_per_epoch = self.data.steps_per_epoch(recipe.batch_size)
        self.total_steps = self.steps_per_epoch * recipe.epochs
        self.warmup_steps = round(recipe.warmup * self.total_steps)
        self.compile = compile
        self.model: nn.Module | None = None
        self.loss_sum = torch.zeros((), device=dev, dtype=self.param_dtype)  # this epoch's, summed on the device
        self.static: StaticStep | None = None

    # -- building (inside the run's RNG fork, so init is seeded without touching the caller's RNG state)

    def build(self) -> None:
        self.model = build_model(self.point).to(self.dev, self.param_dtype, memory_format=torch.channels_last)
        self.forward = torch.compile(self.model) if self.compile else self.model
        decay, no_decay = [], []
        for p in self.model.parameters():
            (no_decay if p.ndim <= 1 else decay).append(p)  # biases and norm scales/shifts: no decay
        groups = [{"params": decay, "weight_decay": self.recipe.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        self.optimizer = torch.optim.SGD(groups, lr=self.recipe.lr, momentum=self.recipe.momentum,
                                         nesterov=self.recipe.nesterov and self.recipe.momentum > 0,
                                         **({"fused": True} if self.cuda else {}))
        self.params = list(self.model.parameters())
        if self.step_kind == "graph":
            self.static = StaticStep(self, capture=self.capture)

    def lr_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.recipe.lr * (step + 1) / self.warmup_steps
        return self.recipe.lr * max(0.0, (self.total_steps - step) / max(1, self.total_steps - self.warmup_steps))

    def sgd_step(self, idx: torch.Tensor, *, cache: bool = True) -> None:
        """The training step, the one body of the eager and the graph step: the batch of training images `idx`
        gathered and augmented, the forward pass under autocast (`cache=False` inside a CUDA graph), the
        label-smoothed loss, backward, clipping, SGD; the loss added to `loss_sum` (no host sync). The learning
        rate is what the optimizer's groups hold: a number `advance` sets, or the graph step's tensor."""
        x, y = self.data.train_batch(idx, self.data_generator, augment=self.recipe.augment, dtype=self.dtype)
        with self.autocast(cache=cache):
            logits = self.forward(x)
        loss = F.cross_entropy(wide(logits), y, label_smoothing=self.recipe.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.recipe.grad_clip:
            nn.utils.clip_grad_norm_(self.params, self.recipe.grad_clip, foreach=True)
        self.optimizer.step()
        self.loss_sum += loss.detach()

    def advance(self, idx: torch.Tensor, lr: float) -> None:
        """One training step on the training images `idx` at learning rate `lr`; no host sync. Through the static
        (graph) step while it works, else eagerly: both draw the same random numbers on a CPU."""
        if self.static is not None and self.static.usable:
            self.static(idx, lr)
            return
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.sgd_step(idx)

    def index_batches(self) -> Iterator[torch.Tensor]:
        """The training images of each step, epoch after epoch, endlessly (the last partial batch dropped)."""
        b = self.batch_size
        while True:
            order = self.data.train_order(self.data_generator)
            for i in range(self.steps_per_epoch):
                yield order[i * b:(i + 1) * b]

    @property
    def step_ran(self) -> str:
        """graph (captured and replayed), static (the graph's step, uncaptured: a CPU), or eager."""
        if self.static is None or not self.static.usable:
            return "eager"
        return "graph" if self.static.graph is not None else "static"

    def evaluate(self, split: str = "test") -> tuple[float, float, float]:
        """Top-1 %, top-5 % and mean cross-entropy on the `test` or `val` split (`evaluate`)."""
        assert self.model is not None
        self.model.eval()
        try:
            return evaluate(self.forward, self.data.eval_batches(split, self.recipe.eval_batch_size, dtype=self.dtype),
                            self.point.num_classes, autocast=self.autocast)
        finally:
            self.model.train()

    # -- the run

    @contextmanager
    def seeded(self) -> Iterator[None]:
        """The recipe's seed drives init and dropout; the caller's RNG state is left as it was. On CUDA the
        run's GPU is also made current (CUDA events and streams follow the current device)."""
        with torch.random.fork_rng(devices=[self.dev.index] if self.cuda else [], device_type="cuda"):
            with torch.cuda.device(self.dev) if self.cuda else nullcontext():
                _seed(self.recipe.seed, self.dev)
                yield

    @property
    def dtype_name(self) -> str:
        return "bf16" if self.amp_dtype else "fp64" if self.param_dtype == torch.float64 else "fp32"

    def autocast(self, cache: bool = True):
        return torch.autocast(self.dev.type, dtype=torch.bfloat16, enabled=self.amp_dtype is not None,
                              cache_enabled=cache)

    def run(self, on_epoch, on_progress, check_every: int, keep_model: bool = False) -> RunResult:
        with self.seeded():
            self.build()
            result = self._loop(on_epoch, on_progress, check_every)
        return replace(result, model=self.model.eval()) if keep_model else result

    def _loop(self, on_epoch, on_progress, check_every: int) -> RunResult:
        assert self.model is not None
        recipe, steps = self.recipe, self.steps_per_epoch
        self.model.train()
        epoch_top1: list[float] = []
        epoch_val_top1: list[float] = []
        val_top1 = val_top5 = val_loss = None
        train_time = eval_time = 0.0
        top1 = None
        started = time.perf_counter()
        batches = self.index_batches()
        for epoch in range(1, recipe.epochs + 1):
            timer = _Timer(self.dev)
            self.loss_sum.zero_()
            for i in _epoch_checks(self, batches, self.lr_at, epoch, check_every):
                mean_loss = self.loss_sum.item() / i  # the only host sync inside an epoch
                if not math.isfinite(mean_loss):
                    raise Diverged(epoch, f" (step {i} of {steps}, lr {recipe.lr:g})")
                if on_progress:
                    rate = i * self.batch_size / max(timer.elapsed_wall(), 1e-9)
                    on_progress(Progress(epoch, recipe.epochs, i, steps, mean_loss, top1, rate, val_top1=val_top1))
            epoch_seconds = timer.stop()
            train_time += epoch_seconds
            eval_started = time.perf_counter()
            top1, top5, test_loss = self.evaluate()
            if self.data.num_val:
                val_top1, val_top5, val_loss = self.evaluate("val")
                epoch_val_top1.append(val_top1)
            eval_time += time.perf_counter() - eval_started
            if not math.isfinite(test_loss):
                raise Diverged(epoch, " (test loss)")
            epoch_top1.append(top1)
            if on_progress:
                on_progress(Progress(epoch, recipe.epochs, steps, steps, mean_loss, top1,
                                     steps * self.batch_size / max(epoch_seconds, 1e-9), evaluated=True,
                                     val_top1=val_top1))
            if on_epoch:
                on_epoch(epoch, val_top1 if self.data.num_val else top1)  # choices read validation
        wall = time.perf_counter() - started
        c = cost(self.point)
        return RunResult(
            top1=top1, top5=top5, loss=test_loss, epochs=recipe.epochs, train_seconds=wall, eval_seconds=eval_time,
            images_per_second=self.total_steps * self.batch_size / max(train_time, 1e-9),
            peak_memory_mb=torch.cuda.max_memory_allocated(self.dev) / 2**20 if self.cuda else 0.0,
            device=device_name(self.dev), dtype=self.dtype_name,
            epoch_top1=tuple(epoch_top1), params=c.params, size_mb=c.size_mb, macs=c.macs,
            imagenet_size_mb=c.imagenet_size_mb, dataset=self.data.info.name, train_images=self.data.num_train,
            test_images=self.data.num_test, point=self.point, recipe=recipe, step=self.step_ran,
            val_top1=val_top1, val_top5=val_top5, val_loss=val_loss, epoch_val_top1=tuple(epoch_val_top1),
            val_images=self.data.num_val,
        )


@torch.no_grad()
def evaluate(forward: Callable[[torch.Tensor], torch.Tensor], batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
             num_classes: int, *, autocast: Callable[[], AbstractContextManager] = nullcontext
             ) -> tuple[float, float, float]:
    """Top-1 %, top-5 % (top-k with k = min(5, classes)) and mean cross-entropy of `forward` over `batches` of
    (normalised inputs, labels): the one evaluation loop, of every training epoch and of the check that chooses a
    kept network's stored precision. The sums stay where the data is; one host sync at the end."""
    k = min(5, num_classes)
    totals: torch.Tensor | None = None
    n = 0
    for x, y in batches:
        with autocast():
            logits = wide(forward(x))
        hits = logits.topk(k, 1).indices == y[:, None]
        sums = torch.stack([hits[:, 0].sum(), hits.any(1).sum(), F.cross_entropy(logits, y, reduction="sum")])
        totals = sums.double() if totals is None else totals + sums.double()
        n += int(y.shape[0])
    if totals is None or not n:
        return 0.0, 0.0, math.nan
    top1, top5, loss = totals.tolist()
    return 100 * top1 / n, 100 * top5 / n, loss / n


def wide(logits: torch.Tensor) -> torch.Tensor:
    """Logits for the loss: bf16 widened to fp32; fp32 and fp64 as they are."""
    return logits if logits.dtype == torch.float64 else logits.float()


def _mix(seed: int) -> int:
    """A seed for the data generator distinct from the init seed (two mt19937 streams from one seed would
    coincide on the CPU)."""
    return (seed * 0x9E3779B97F4A7C15 + 0x5EEDDA7A) % 2**63


def _seed(seed: int, dev: torch.device) -> None:
    """Seed the CPU generator and only this run's GPU (torch.manual_seed would reseed every GPU)."""
    torch.default_generator.manual_seed(seed)
    if dev.type == "cuda":
        torch.cuda.manual_seed(seed)  # the current device: `seeded` made it this run's


def _epoch_checks(runner, batches: Iterator, lr_at: Callable[[int], float], epoch: int,
                  check_every: int) -> Iterator[int]:
    """Run one epoch's steps of `runner` (its `advance` and `steps_per_epoch`), each on the next of `batches`
    at the schedule's learning rate, and yield the step i (1-based) after every `check_every`-th step and
    the epoch's last: where the caller syncs once to check the loss."""
    steps = runner.steps_per_epoch
    for i in range(1, steps + 1):
        runner.advance(next(batches), lr_at((epoch - 1) * steps + i - 1))
        if i % check_every == 0 or i == steps:
            yield i


class _Timer:
    """Time spent in training steps: CUDA events on a GPU (no sync to start), perf_counter on a CPU."""

    def __init__(self, dev: torch.device) -> None:
        self.cuda = dev.type == "cuda"
        self.wall = time.perf_counter()
        if self.cuda:
            self.start, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            self.start.record()

    def elapsed_wall(self) -> float:
        """Seconds so far (exact on a GPU right after a sync, which is when progress asks)."""
        return time.perf_counter() - self.wall

    def stop(self) -> float:
        if self.cuda:
            self.end.record()
            self.end.synchronize()
            return self.start.elapsed_time(self.end) / 1000
        return time.perf_counter() - self.wall
