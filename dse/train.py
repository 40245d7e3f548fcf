"""Brief, trustworthy training of one design point: an explicit recipe in, test accuracy and cost out.

Trustworthy: seeded (init, data order, augmentation), evaluated after every epoch on the validation split
(which chooses: `on_epoch` gets it) and on the held-out test split (which only measures), the recipe recorded
with the result. Fast: the data lives on the device (`dse.data.DeviceData`), steps run in bf16
autocast and channels_last on CUDA, and the host syncs only every `check_every` steps and at each
evaluation (to test the loss for NaN and to report progress), never per step.
"""

from __future__ import annotations

import gc
import logging
import math
import platform
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dse.data import Dataset, DatasetInfo, DeviceData
from dse.errors import DataError, DesignError, DseError
from dse.model import build_model
from dse.plan import cost
from dse.space import DesignPoint, Norm

PRECISIONS = ("auto", "bf16", "fp32", "fp64")  # fp64: exactness tests (the graph step against the eager one)
PRECISION_CHOICES = ("auto", "bf16", "fp32")  # what the command line offers
STEPS = ("auto", "eager", "graph")  # auto: graph on CUDA (unless compiled), eager elsewhere
GRAPH_WARMUP_STEPS = 3  # eager steps (real ones, on the schedule) before the capture: optimizer state, cuDNN
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    """How a point is trained; recorded with every result. Defaults: brief training of a BatchNorm network.

    SGD with Nesterov momentum; the learning rate rises linearly over the first `warmup` share of the steps,
    then falls linearly to zero (the paper's schedule). No weight decay on norms and biases.
    """

    epochs: int = 8
    batch_size: int = 512
    lr: float = 0.1  # peak, for batch_size 512 (0.05/0.1/0.2/0.4 measured: docs/training.md)
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    warmup: float = 0.05  # share of all steps
    grad_clip: float = 0.0  # max global gradient norm; 0: off
    augment: bool = True  # random crop with padding, and horizontal flip where the dataset allows it
    precision: str = "auto"  # auto: bf16 autocast on CUDA and on a CPU with native bf16 (cpu_has_native_bf16)
    step: str = "auto"  # auto: the step captured in a CUDA graph on CUDA, eager on CPU; see docs/gpu.md
    seed: int = 0
    eval_batch_size: int = 1000

    def __post_init__(self) -> None:
        checks = (
            (self.epochs >= 1, f"epochs must be >= 1; got {self.epochs}"),
            (self.batch_size >= 1, f"batch size must be >= 1; got {self.batch_size}"),
            (self.eval_batch_size >= 1, f"eval batch size must be >= 1; got {self.eval_batch_size}"),
            (self.lr > 0 and math.isfinite(self.lr), f"lr must be a positive number; got {self.lr}"),
            (0 <= self.momentum < 1, f"momentum must be in [0, 1); got {self.momentum}"),
            (self.weight_decay >= 0, f"weight decay must be >= 0; got {self.weight_decay}"),
            (0 <= self.label_smoothing < 1, f"label smoothing must be in [0, 1); got {self.label_smoothing}"),
            (0 <= self.warmup < 1, f"warmup (a share of all steps) must be in [0, 1); got {self.warmup}"),
            (self.grad_clip >= 0, f"grad clip must be >= 0 (0: off); got {self.grad_clip}"),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}; "
                                           f"got {self.precision!r}"),
            (self.step in STEPS, f"step must be one of {', '.join(STEPS)}; got {self.step!r}"),
        )
        for ok, message in checks:
            if not ok:
                raise DesignError(message)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Recipe:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise DesignError(f"unknown recipe field(s): {', '.join(unknown)}")
        return cls(**values)

    def replace(self, **changes) -> Recipe:
        return replace(self, **changes)


NO_NORM_RECIPE = Recipe(lr=0.01, warmup=0.15, grad_clip=2.0, label_smoothing=0.0)
"""For `norm="none"` (the paper's networks). Without BatchNorm the paper's lr of 0.04 with the default init
stays at chance (its ReLU'd logits all die); a lower peak, a longer warm-up and gradient clipping let it
learn (measured in docs/training.md)."""


def recipe_for(point: DesignPoint, **overrides) -> Recipe:
    """The default recipe for the point's norm, with the given (non-None) fields replaced."""
    base = NO_NORM_RECIPE if point.norm is Norm.none else Recipe()
    return base.replace(**{k: v for k, v in overrides.items() if v is not None})


class TrainingFailed(DseError):
    """A run ended without a result; a sweep records why and goes on with the next point."""


class Diverged(TrainingFailed):
    """The training loss became NaN or infinite."""

    def __init__(self, epoch: int, detail: str = "") -> None:
        self.epoch = epoch
        self.detail = detail
        super().__init__(f"training diverged: non-finite loss in epoch {epoch}{detail}")

    def __reduce__(self):
        return type(self), (self.epoch, self.detail)


class OutOfMemory(TrainingFailed):
    """CUDA ran out of memory (the run's memory is released before this is raised)."""


class DeviceError(DseError):
    """The requested device does not exist here (not a TrainingFailed: no point could run on it)."""


@dataclass(frozen=True)
class Progress:
    """Where a run is, for progress bars: sent at each loss check and after each evaluation."""

    epoch: int  # 1-based
    epochs: int
    step: int  # steps done in this epoch
    steps: int  # steps per epoch
    loss: float  # mean training loss of this epoch so far
    top1: float | None  # test top-1 % after the last finished epoch
    images_per_second: float  # training throughput of this epoch so far


@dataclass(frozen=True)
class RunResult:
    """One trained point: test (and validation) metrics, the budget and speed of the run, and the point's
    analytic size. `train_images` is what was trained on, after the validation hold-out."""

    top1: float  # % on the test split
    top5: float  # % (100 when there are 5 classes or fewer)
    loss: float  # test cross-entropy (no label smoothing)
    epochs: int
    train_seconds: float  # wall time of the whole run: training steps and every evaluation
    eval_seconds: float  # the evaluations' share of train_seconds
    images_per_second: float  # training images / time in training steps (first epoch included)
    peak_memory_mb: float  # peak CUDA memory allocated (model, optimizer, activations, data); 0 on CPU
    device: str
    dtype: str  # "bf16" (autocast), "fp32" or "fp64"
    epoch_top1: tuple[float, ...]
    params: int
    size_mb: float
    macs: int
    imagenet_size_mb: float
    dataset: str
    train_images: int
    test_images: int
    point: DesignPoint
    recipe: Recipe
    step: str = "eager"  # the step that ran: eager, static (graph's step, uncaptured) or graph (captured)
    # the validation split (held out of train, or a folder's val/): what chooses; None/() without one
    val_top1: float | None = None
    val_top5: float | None = None
    val_loss: float | None = None
    epoch_val_top1: tuple[float, ...] = ()
    val_images: int = 0
    model: nn.Module | None = field(default=None, repr=False, compare=False)  # train(keep_model=True) only

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model"}
        out.update(epoch_top1=list(self.epoch_top1), epoch_val_top1=list(self.epoch_val_top1),
                   point=self.point.to_dict(), recipe=self.recipe.to_dict())
        return out


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


def run_released(dev: torch.device, batch_size: int, fn: Callable[[], RunResult]):
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


@dataclass(frozen=True)
class StepTiming:
    """Timed training steps (what `dse.bench` reports): steady state, after untimed warm-up steps."""

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
            _sync(dev)
            started = time.perf_counter()
            for i in range(steps):
                session.advance(next(batches), 0.0)
                if on_step:
                    on_step(warmup + i + 1)
            _sync(dev)
            seconds = time.perf_counter() - started
        return StepTiming(
            seconds=seconds, steps=steps, batch_size=session.batch_size,
            dtype=session.dtype_name, step=session.step_ran, device=device_name(dev),
            peak_memory_mb=torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else 0.0)

    return run_released(dev, recipe.batch_size, timed)


def _sync(dev: torch.device) -> None:
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


class Session:
    """Model, optimizer, device data and RNG of one run; also drives `dse.bench`."""

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
        self.static: _StaticStep | None = None

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
            self.static = _StaticStep(self, capture=self.capture)

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
                    on_progress(Progress(epoch, recipe.epochs, i, steps, mean_loss, top1, rate))
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
                                     steps * self.batch_size / max(epoch_seconds, 1e-9)))
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


class _StaticStep:
    """The training step over static buffers, so that a CUDA graph can capture it once and replay it.

    The step's inputs are device tensors written before each step: the batch's image indices and the learning
    rate (the optimizer reads it as a tensor, so the schedule stays exact under replay). The batch is gathered
    and augmented inside the step (the data generator is registered with the graph, dropout's default
    generator is registered by torch), autocast runs with cache_enabled=False, and the gradients are allocated
    once, by the captured backward. On CUDA the first GRAPH_WARMUP_STEPS steps run eagerly on a side stream
    (optimizer state, cuDNN autotuning), then the step is captured and every later step is a replay. Any error
    while capturing switches the run to the eager step with one line in the log. Uncaptured (a CPU), the same
    computation runs eagerly: tests compare it with the eager step.
    """

    def __init__(self, session: Session, capture: bool) -> None:
        self.s = session
        dev = session.dev
        self.idx = torch.zeros(session.batch_size, dtype=torch.long, device=dev)
        # fused SGD on CUDA reads a float32 lr tensor; on a CPU SGD reads it as a Python number (exact in fp64)
        self.lr = torch.zeros((), dtype=torch.float32 if dev.type == "cuda" else torch.float64, device=dev)
        for group in session.optimizer.param_groups:
            group["lr"] = self.lr
        self.capture = capture
        self.graph: torch.cuda.CUDAGraph | None = None
        self.usable = True
        self.eager_steps = 0

    def body(self) -> None:
        self.s.sgd_step(self.idx, cache=False)  # the session's step, on the static index buffer and tensor lr

    def __call__(self, idx: torch.Tensor, lr: float) -> None:
        self.idx.copy_(idx)
        self.lr.fill_(lr)
        if self.graph is not None:
            self.graph.replay()
        elif not self.capture:
            self.body()
        elif self.eager_steps < GRAPH_WARMUP_STEPS and not self.s.cuda:
            self.body()
            self.eager_steps += 1
        elif self.eager_steps < GRAPH_WARMUP_STEPS:
            side = torch.cuda.Stream(self.s.dev)
            side.wait_stream(torch.cuda.current_stream(self.s.dev))
            with torch.cuda.stream(side):
                self.body()
            torch.cuda.current_stream(self.s.dev).wait_stream(side)
            self.eager_steps += 1
        elif self._capture():
            self.graph.replay()
        else:  # this step (not yet taken: a capture runs nothing) is taken by the eager step
            self.s.advance(idx, lr)

    def _capture(self) -> bool:
        """Capture `body` once; False (and the eager step from now on) if anything goes wrong."""
        s = self.s
        try:
            graph = torch.cuda.CUDAGraph()
            graph.register_generator_state(s.data_generator)
            s.optimizer.zero_grad(set_to_none=True)  # the captured backward allocates the static gradients
            with torch.cuda.graph(graph):
                self.body()
            self.graph = graph
            return True
        except Exception as exc:  # noqa: BLE001 - any capture failure: the eager step is always correct
            log.warning("dse: CUDA graph capture failed (%s: %s); this run continues with the eager step",
                        type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
            self.graph = None
            self.usable = False
            s.optimizer.zero_grad(set_to_none=True)
            for group in s.optimizer.param_groups:
                group["lr"] = s.recipe.lr  # a number again (the eager step sets it every step)
            if s.cuda:
                torch.cuda.synchronize(s.dev)
            return False


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
