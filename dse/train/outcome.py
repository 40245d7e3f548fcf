"""What a run hands back: its `RunResult`, `Progress` while it runs, or why it ended without one
(`TrainingFailed`: `Diverged`, `OutOfMemory`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from torch import nn

from dse.errors import DseError
from dse.space import DesignPoint
from dse.train.recipe import Recipe


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


@dataclass(frozen=True)
class Progress:
    """Where a run is, for progress bars: sent at each loss check and after each evaluation."""

    epoch: int  # 1-based
    epochs: int
    step: int  # steps done in this epoch
    steps: int  # steps per epoch
    loss: float  # mean training loss of this epoch so far
    top1: float | None  # test top-1 % after the last evaluated epoch
    images_per_second: float  # training throughput of this epoch so far
    evaluated: bool = False  # sent after this epoch's evaluation: top1 (and val_top1) are this epoch's own
    val_top1: float | None = None  # validation top-1 % after the last evaluated epoch; None without the split


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
