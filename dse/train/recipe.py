"""How a point is trained: the `Recipe` (recorded with every result), and the default one for a point's norm."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from dse.errors import DesignError
from dse.space import DesignPoint, Norm

PRECISIONS = ("auto", "bf16", "fp32", "fp64")  # fp64: exactness tests (the graph step against the eager one)
PRECISION_CHOICES = ("auto", "bf16", "fp32")  # what the command line offers
MAX_SEED = 2**32 - 1  # what every generator a seed drives accepts (numpy's is the narrowest)
MAX_LR = 3.4028234663852886e38  # float32's largest: SGD multiplies fp32 gradients by it
STEPS = ("auto", "eager", "graph")  # auto: graph on CUDA (unless compiled), eager elsewhere


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
            (0 < self.lr <= MAX_LR, f"lr must be a positive number at most {MAX_LR:.1e} (float32); got {self.lr}"),
            (0 <= self.seed <= MAX_SEED, f"seed must be in 0..{MAX_SEED}; got {self.seed}"),
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
