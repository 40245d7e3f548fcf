"""The seeds of one design point trained together, as one vmapped model: a throughput lever for small networks.

K runs of the same point that differ only in the seed are K models of the same shapes, so `torch.func` can
stack their parameters and buffers ([K, ...] each) and run one vmapped forward and backward over K batches:
each model keeps its own init, data order, augmentation, dropout and BatchNorm statistics, and its result is
that of a separate `dse.train.train` run with its seed (in float64 on a CPU, equal up to summation order: tested).

Why vmap rather than a hand-written grouped-convolution network: vmap's convolution rule already turns K
convolutions into one grouped convolution, while the network stays the one `dse.model` builds from the plan
(every layer kind, shortcuts included) and the per-model code is the single-model code. Dropout is the one
module swapped: its masks are drawn outside vmap from each seed's own generator (in the state a separate
run's default generator would be in), so a seed draws what its separate run draws, on a CPU bit for bit.

Off by default: on a CPU it is slower than K runs one after the other; whether it pays on a GPU is a
measurement still to be made (docs/gpu.md). Sweep runners call `train_seeds` with the seeds of one point.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from dse.data import Dataset, DeviceData
from dse.errors import DataError, DesignError
from dse.plan import cost
from dse.space import DesignPoint
from dse.train import (
    Diverged,
    Recipe,
    RunResult,
    Session,
    StepTiming,
    TrainingFailed,
    _epoch_checks,
    _sync,
    _Timer,
    check_fits,
    device_name,
    recipe_for,
    resolve_device,
    run_released,
    wide,
)


def train_seeds(
    point: DesignPoint,
    data: Dataset | DeviceData,
    recipe: Recipe | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    device: str | torch.device = "auto",
    on_epoch: Callable[[int, int, float], None] | None = None,
    check_every: int = 50,
) -> list[RunResult | TrainingFailed]:
    """Train `point` once per seed in `seeds`, all together; one entry per seed, in order: its RunResult, or
    the Diverged error of a seed whose loss became non-finite (the others train on; a NaN stays in its model).

    `recipe.seed` is ignored (each run gets its seed from `seeds`) and so is `recipe.step` (the batched step
    is eager; the results say step="batched"). Like `dse.train.train`, each epoch is evaluated on the validation
    split (where the data has one) and the test split; `on_epoch(index, epoch, top1)` runs for each live seed
    after each evaluation with its VALIDATION top-1 (test top-1 only without a validation split) and may raise
    to stop the whole batch. Each RunResult's train_seconds and
    images_per_second are the batch's time and one model's rate (the aggregate is len(seeds) times it).
    Raises OutOfMemory on CUDA out-of-memory (for the whole batch: try fewer seeds or a smaller batch).
    """
    recipe = recipe or recipe_for(point)
    seeds = _check_seeds(seeds)
    check_fits(point, data.info)
    dev = resolve_device(device)
    return run_released(dev, recipe.batch_size, lambda: SeedBatch(point, data, recipe, seeds, dev).run(
        on_epoch, max(1, check_every)))


def time_seed_steps(
    point: DesignPoint,
    data: Dataset | DeviceData,
    recipe: Recipe | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    device: str | torch.device = "auto",
    steps: int = 50,
    warmup_steps: int = 10,
) -> StepTiming:
    """Like `dse.train.time_steps`, for the batched step of len(seeds) models (images/s counts all of them)."""
    recipe = recipe or recipe_for(point)
    seeds = _check_seeds(seeds)
    check_fits(point, data.info)
    dev = resolve_device(device)

    def timed() -> StepTiming:
        batch = SeedBatch(point, data, recipe, seeds, dev)
        batch.build()
        orders = batch.index_batches()
        for _ in range(warmup_steps):
            batch.advance(next(orders), 0.0)
        _sync(dev)
        started = time.perf_counter()
        for _ in range(steps):
            batch.advance(next(orders), 0.0)
        _sync(dev)
        seconds = time.perf_counter() - started
        first = batch.sessions[0]
        return StepTiming(
            seconds=seconds, steps=steps, batch_size=first.batch_size, models=len(seeds), dtype=first.dtype_name,
            step="batched", device=device_name(dev),
            peak_memory_mb=torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else 0.0)

    return run_released(dev, recipe.batch_size, timed)


def _check_seeds(seeds: Sequence[int]) -> tuple[int, ...]:
    seeds = tuple(int(s) for s in seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise DesignError(f"seeds must be distinct and at least one; got {list(seeds)}")
    return seeds


class _MaskedDropout(nn.Module):
    """Dropout whose mask (already scaled by 1 / (1 - p)) is set before each training forward."""

    def __init__(self) -> None:
        super().__init__()
        self.mask: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.mask is None:
            return x
        return x * self.mask


class _GlobalMean(nn.Module):
    """AdaptiveAvgPool2d(1) as a mean over height and width."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3), keepdim=True)


class SeedBatch:
    """K single-seed sessions (their data generators, schedules and initial models) trained as one model."""

    def __init__(self, point: DesignPoint, data: Dataset | DeviceData, recipe: Recipe, seeds: tuple[int, ...],
                 dev: torch.device) -> None:
        if isinstance(data, DeviceData) and data.device != dev:
            raise DataError(f"the data is on {data.device} but the run on {dev}")
        data = data if isinstance(data, DeviceData) else DeviceData(data, dev)  # one upload for all seeds
        self.point, self.recipe, self.seeds, self.dev = point, recipe, seeds, dev
        self.sessions = [Session(point, data, recipe.replace(seed=s, step="eager"), dev, False) for s in seeds]
        self.data, self.k = data, len(seeds)
        first = self.sessions[0]
        self.batch_size, self.steps_per_epoch, self.total_steps = (first.batch_size, first.steps_per_epoch,
                                                                   first.total_steps)

    def build(self) -> None:
        """Each seed's model initialised as its separate run would be (its seed, its RNG fork), then stacked."""
        models, self.dropout_generators = [], []
        for session in self.sessions:
            with session.seeded():
                session.build()
                generator = torch.Generator(device=self.dev)  # dropout's: where the run's default one is now
                generator.set_state(torch.cuda.get_rng_state(self.dev) if self.dev.type == "cuda"
                                    else torch.get_rng_state())
            session.optimizer = None  # the stacked parameters get one optimizer below
            models.append(session.model)
            self.dropout_generators.append(generator)
        self.base = copy.deepcopy(models[0])
        self.dropouts: list[tuple[_MaskedDropout, float]] = []
        for name, module in list(self.base.named_modules()):
            if isinstance(module, nn.AdaptiveAvgPool2d) and module.output_size in (1, (1, 1)):
                self.base.set_submodule(name, _GlobalMean())  # vmap has no batching rule for its as_strided_
            if isinstance(module, nn.Dropout):
                masked = _MaskedDropout()
                self.base.set_submodule(name, masked)
                self.dropouts.append((masked, module.p))
        self.mask_like = self._dropout_inputs(models[0])
        self.params, self.buffers = stack_module_state(models)
        for session in self.sessions:
            session.model = None
        first = self.sessions[0]
        decay = [p for p in self.params.values() if p.ndim > 2]  # a model's ndim > 1: weights, not biases/norms
        no_decay = [p for p in self.params.values() if p.ndim <= 2]
        self.optimizer = torch.optim.SGD(
            [{"params": decay, "weight_decay": self.recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.recipe.lr, momentum=self.recipe.momentum,
            nesterov=self.recipe.nesterov and self.recipe.momentum > 0, **({"fused": True} if first.cuda else {}))
        self.loss_sum = torch.zeros(self.k, device=self.dev, dtype=first.param_dtype)

        def loss_of(params, buffers, x, y, masks):
            for (module, _), mask in zip(self.dropouts, masks, strict=True):
                module.mask = mask
            logits = functional_call(self.base, (params, buffers), (x,))
            return F.cross_entropy(wide(logits), y, label_smoothing=self.recipe.label_smoothing)

        def logits_of(params, buffers, x):
            return functional_call(self.base, (params, buffers), (x,))

        self.losses = vmap(loss_of, randomness="error")  # no random op inside: the masks come in
        self.logits = vmap(logits_of, in_dims=(0, 0, None), randomness="error")

    def _dropout_inputs(self, model: nn.Module) -> list[torch.Tensor]:
        """An empty tensor shaped (and strided) as each dropout's input at this batch size: the mask's mould."""
        seen: list[torch.Tensor] = []
        hooks = [m.register_forward_pre_hook(lambda _m, args: seen.append(torch.empty_like(args[0])))
                 for m in model.modules() if isinstance(m, nn.Dropout)]
        first = self.sessions[0]
        x = torch.zeros(self.batch_size, self.point.in_channels, self.point.input_size, self.point.input_size,
                        device=self.dev, dtype=first.dtype).contiguous(memory_format=torch.channels_last)
        try:
            model.eval()
            with torch.no_grad(), first.autocast():
                model(x)
        finally:
            model.train()
            for hook in hooks:
                hook.remove()
        return seen

    def masks(self) -> tuple[torch.Tensor, ...]:
        """Each dropout's [K, ...] masks, seed k's drawn from its own generator as F.dropout draws them."""
        out = []
        for (_, p), like in zip(self.dropouts, self.mask_like, strict=True):
            if p == 0:
                out.append(torch.ones((self.k, *like.shape), device=self.dev, dtype=like.dtype))
            elif p == 1:
                out.append(torch.zeros((self.k, *like.shape), device=self.dev, dtype=like.dtype))
            else:
                out.append(torch.stack([torch.empty_like(like).bernoulli_(1 - p, generator=g).div_(1 - p)
                                        for g in self.dropout_generators]))
        return tuple(out)

    def index_batches(self):
        """Each step's K index batches (seed k's data order), epoch after epoch, endlessly."""
        streams = [s.index_batches() for s in self.sessions]
        while True:
            yield [next(stream) for stream in streams]

    def advance(self, idx: list[torch.Tensor], lr: float) -> None:
        """One step of all K models; their losses added to `loss_sum`; no host sync."""
        xs, ys = zip(*(s.data.train_batch(i, s.data_generator, augment=self.recipe.augment, dtype=s.dtype)
                       for s, i in zip(self.sessions, idx, strict=True)), strict=True)
        x, y = torch.stack(xs), torch.stack(ys)
        masks = self.masks()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with self.sessions[0].autocast():
            losses = self.losses(self.params, self.buffers, x, y, masks)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()  # each model's gradient is that of its own loss
        if self.recipe.grad_clip:
            _clip_each(list(self.params.values()), self.recipe.grad_clip, self.k)
        self.optimizer.step()
        self.loss_sum += losses.detach()

    @torch.no_grad()
    def evaluate(self, split: str = "test") -> torch.Tensor:
        """[K, 3]: top-1 %, top-5 %, mean cross-entropy of each model on the `test` or `val` split; no sync."""
        self.base.eval()
        k = min(5, self.point.num_classes)
        first = self.sessions[0]
        totals = torch.zeros(self.k, 3, device=self.dev, dtype=torch.float64)
        for x, y in self.data.eval_batches(split, self.recipe.eval_batch_size, dtype=first.dtype):
            with first.autocast():
                logits = wide(self.logits(self.params, self.buffers, x))  # [K, B, classes]
            hits = logits.topk(k, 2).indices == y[None, :, None]
            ce = torch.stack([F.cross_entropy(one, y, reduction="sum") for one in logits])
            totals += torch.stack([hits[..., 0].sum(1).double(), hits.any(2).sum(1).double(), ce.double()], 1)
        self.base.train()
        n = self.data.num_test if split == "test" else self.data.num_val
        return totals * torch.tensor([100 / n, 100 / n, 1 / n], device=self.dev, dtype=torch.float64)

    def run(self, on_epoch, check_every: int) -> list[RunResult | TrainingFailed]:
        cuda = self.dev.type == "cuda"
        with torch.random.fork_rng(devices=[self.dev.index] if cuda else [], device_type="cuda"), \
                torch.cuda.device(self.dev) if cuda else nullcontext():
            if cuda:
                torch.cuda.reset_peak_memory_stats(self.dev)
            self.build()
            return self._loop(on_epoch, check_every)

    def _loop(self, on_epoch, check_every: int) -> list[RunResult | TrainingFailed]:
        recipe, steps, first = self.recipe, self.steps_per_epoch, self.sessions[0]
        failed: list[TrainingFailed | None] = [None] * self.k
        history: list[list[float]] = [[] for _ in range(self.k)]
        val_history: list[list[float]] = [[] for _ in range(self.k)]
        metrics = val_metrics = None
        has_val = self.data.num_val > 0
        train_time = eval_time = 0.0
        started = time.perf_counter()
        batches = self.index_batches()
        for epoch in range(1, recipe.epochs + 1):
            timer = _Timer(self.dev)
            self.loss_sum.zero_()
            for i in _epoch_checks(self, batches, first.lr_at, epoch, check_every):
                for k, loss in enumerate(self.loss_sum.tolist()):  # the only host sync inside an epoch
                    if failed[k] is None and not math.isfinite(loss):
                        failed[k] = Diverged(epoch, f" (step {i} of {steps}, lr {recipe.lr:g}, seed "
                                                    f"{self.seeds[k]})")
            train_time += timer.stop()
            if all(failed):
                break
            eval_started = time.perf_counter()
            metrics = self.evaluate().tolist()
            val_metrics = self.evaluate("val").tolist() if has_val else None
            eval_time += time.perf_counter() - eval_started
            for k, (top1, _, test_loss) in enumerate(metrics):
                if failed[k] is None and not math.isfinite(test_loss):
                    failed[k] = Diverged(epoch, f" (test loss, seed {self.seeds[k]})")
                if failed[k] is None:
                    history[k].append(top1)
                    if val_metrics is not None:
                        val_history[k].append(val_metrics[k][0])
                    if on_epoch:  # choices read validation, as in dse.train
                        on_epoch(k, epoch, val_metrics[k][0] if val_metrics is not None else top1)
        wall = time.perf_counter() - started
        c = cost(self.point)
        peak = torch.cuda.max_memory_allocated(self.dev) / 2**20 if self.dev.type == "cuda" else 0.0
        out: list[RunResult | TrainingFailed] = []
        for k, session in enumerate(self.sessions):
            if failed[k] is not None:
                out.append(failed[k])
                continue
            top1, top5, test_loss = metrics[k]
            val_top1, val_top5, val_loss = val_metrics[k] if val_metrics is not None else (None, None, None)
            out.append(RunResult(
                top1=top1, top5=top5, loss=test_loss, epochs=recipe.epochs, train_seconds=wall,
                eval_seconds=eval_time, images_per_second=self.total_steps * self.batch_size / max(train_time, 1e-9),
                peak_memory_mb=peak, device=device_name(self.dev), dtype=session.dtype_name,
                epoch_top1=tuple(history[k]), params=c.params, size_mb=c.size_mb, macs=c.macs,
                imagenet_size_mb=c.imagenet_size_mb, dataset=self.data.info.name, train_images=self.data.num_train,
                test_images=self.data.num_test, point=self.point, recipe=recipe.replace(seed=self.seeds[k]),
                step="batched", val_top1=val_top1, val_top5=val_top5, val_loss=val_loss,
                epoch_val_top1=tuple(val_history[k]), val_images=self.data.num_val))
        return out


def _clip_each(params: list[torch.Tensor], max_norm: float, k: int) -> None:
    """clip_grad_norm_ for each of the k stacked models separately (its own global norm)."""
    grads = [p.grad for p in params if p.grad is not None]
    norms = torch.stack([torch.linalg.vector_norm(g.reshape(k, -1), dim=1) for g in grads], 1)  # [k, tensors]
    coef = torch.clamp(max_norm / (torch.linalg.vector_norm(norms, dim=1) + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef.view(k, *([1] * (g.ndim - 1))).to(g.dtype))
