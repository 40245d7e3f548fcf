"""A trained network as one file: its design point, its state_dict and a probe that proves the weights are the ones
that were measured.

The file is a plain `torch.save` dict of tensors, strings and numbers, so `torch.load(weights_only=True)` reads
it without running code. It holds:

* ``point``: the design point (`load` rebuilds the module from it, so no class has to be pickled);
* ``state_dict``: the weights, in fp32, or with the convolution weights in fp16 (half the disk; biases and
  BatchNorm stay fp32) where that leaves the accuracy on the choosing split unchanged (`choose_precision`);
* ``mean``/``std``: the input normalisation the network was trained with (x = (pixel / 255 - mean) / std);
* ``probe``: a few test images (uint8), their labels, and the logits the stored weights give on them on the CPU;
  `check` recomputes them after any restore or export and refuses a mismatch;
* ``record``: what the run measured (top-1 on test, top-1 on validation where there was one, dataset, ...).

Knows nothing of Optuna (`dse.study.artifacts` keeps these files with a study).
"""

from __future__ import annotations

import copy
import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from dse.errors import DseError, first_line
from dse.model import SqueezeNet, build_model
from dse.plan import MB, cost
from dse.space import DesignPoint

FORMAT = "dse-weights"
VERSION = 1
PRECISIONS = ("fp32", "fp16")
PROBE_IMAGES = 8  # enough to catch wrong weights, small next to the weights even at 224 px (8 x 147 KiB)
FP16_MAX = 65504.0
CHECK_RTOL = 1e-3  # logits of the probe, relative to the largest: CPU kernels and thread counts differ slightly


class WeightsError(DseError):
    """A weights file cannot be read, or does not belong to the network or record it claims."""


class WeightsMismatch(WeightsError):
    """The restored network does not give the logits (or accuracy) recorded when it was stored."""


@dataclass(frozen=True)
class Probe:
    """A few test images and what the stored weights make of them."""

    images: torch.Tensor  # uint8 [N, C, H, W]
    labels: torch.Tensor  # int64 [N]
    logits: torch.Tensor  # fp32 [N, classes], from the stored (possibly fp16-rounded) weights on the CPU

    @property
    def top1(self) -> float:
        return 100 * float((self.logits.argmax(1) == self.labels).float().mean()) if len(self.labels) else 0.0


@dataclass(frozen=True, eq=False)
class Weights:
    """The contents of a weights file."""

    point: DesignPoint
    state_dict: dict[str, torch.Tensor]
    precision: str  # fp32 | fp16 (convolution weights only)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    probe: Probe | None
    record: dict = field(default_factory=dict)

    def model(self) -> SqueezeNet:
        """The network in fp32, eval mode, on the CPU."""
        model = build_model(self.point)
        try:
            model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in self.state_dict.items()})
        except RuntimeError as exc:
            raise WeightsError(f"the weights do not fit their design point: {first_line(exc)}") from None
        return model.eval()

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images -> the network's input, as in training (`dse.data.DeviceData.normalise`)."""
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
        return (images.float() / 255 - mean) / std

    def to_dict(self) -> dict:
        out = {"format": FORMAT, "version": VERSION, "point": self.point.to_dict(), "precision": self.precision,
               "state_dict": self.state_dict, "mean": list(self.mean), "std": list(self.std),
               "record": dict(self.record)}
        if self.probe is not None:
            out["probe"] = {"images": self.probe.images, "labels": self.probe.labels, "logits": self.probe.logits}
        return out

    def metadata(self) -> dict:
        """What a user of an exported model needs besides the weights (the JSON written beside them)."""
        return {"format": FORMAT, "version": VERSION, "point": self.point.to_dict(), "precision": self.precision,
                "input": {"shape": [self.point.in_channels, self.point.input_size, self.point.input_size],
                          "normalise": "x = (pixel / 255 - mean) / std, per channel", "mean": list(self.mean),
                          "std": list(self.std)},
                "record": dict(self.record),
                "probe_images": 0 if self.probe is None else len(self.probe.labels)}


# ------------------------------------------------------------------------------------------- precision


def rounded_state_dict(model: nn.Module, precision: str) -> dict[str, torch.Tensor]:
    """The state_dict on the CPU as stored: fp16 turns only the multi-dimensional (convolution) weights to fp16."""
    if precision not in PRECISIONS:
        raise WeightsError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    out = {}
    for name, tensor in model.state_dict().items():
        t = tensor.detach().to("cpu", copy=True)
        if t.is_floating_point():
            t = t.float()
            if precision == "fp16" and t.ndim > 1:
                t = t.half()
        out[name] = t.contiguous()
    return out


def fp16_fits(model: nn.Module) -> bool:
    """No convolution weight overflows fp16."""
    return all(float(t.abs().max()) < FP16_MAX for t in model.state_dict().values()
               if t.is_floating_point() and t.ndim > 1 and t.numel())


def restored(model: nn.Module, precision: str) -> nn.Module:
    """A copy of `model` (same device) whose weights went through storage at `precision` and back to fp32."""
    copy_ = copy.deepcopy(model)
    state = rounded_state_dict(model, precision)
    device = next(model.parameters()).device
    copy_.load_state_dict({k: (v.float() if v.is_floating_point() else v).to(device) for k, v in state.items()})
    return copy_


def choose_precision(model: nn.Module, evaluate: Callable[[nn.Module], float], recorded: float | None = None) -> str:
    """fp16 where the fp16-rounded network scores exactly what the trained one does (`evaluate` gives top-1 %
    on the split that chooses, as `dse.study.keep.top1_on_choosing_split` does: validation, never test where there
    is one; `recorded` that of the trained network if already known), else fp32."""
    if not fp16_fits(model):
        return "fp32"
    reference = evaluate(model) if recorded is None else recorded
    return "fp16" if evaluate(restored(model, "fp16")) == reference else "fp32"


# ------------------------------------------------------------------------------------------- packing


def pack(
    model: nn.Module,
    point: DesignPoint,
    *,
    precision: str = "fp32",
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    probe_images: torch.Tensor | None = None,
    probe_labels: torch.Tensor | None = None,
    record: dict | None = None,
) -> Weights:
    """The weights file's contents for a trained `model` of `point`; the probe logits come from the stored
    weights themselves (after rounding), on the CPU in fp32, so a restore can be checked exactly."""
    mean = tuple(float(m) for m in (mean if mean is not None else (0.0,) * point.in_channels))
    std = tuple(float(s) for s in (std if std is not None else (1.0,) * point.in_channels))
    if len(mean) != point.in_channels or len(std) != point.in_channels:
        raise WeightsError(f"mean and std need {point.in_channels} values (one per input channel)")
    weights = Weights(point, rounded_state_dict(model, precision), precision, mean, std, None, dict(record or {}))
    if probe_images is not None:
        if probe_labels is None or len(probe_labels) != len(probe_images):
            raise WeightsError("the probe needs one label per image")
        images = probe_images[:PROBE_IMAGES].to("cpu", torch.uint8).clone()  # a view would save its whole storage
        labels = probe_labels[:PROBE_IMAGES].to("cpu", torch.int64).clone()
        logits = logits_of(weights.model(), weights.normalise(images))
        weights = Weights(point, weights.state_dict, precision, mean, std, Probe(images, labels, logits),
                          weights.record)
    return weights


@torch.no_grad()
def logits_of(model: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
    """fp32 logits on the CPU of a network in eval mode (a module, an exported program's module, a runner)."""
    return model(inputs.float().contiguous()).float().cpu()


def save(weights: Weights, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(weights.to_dict(), path)
    return path


def to_bytes(weights: Weights) -> bytes:
    buffer = io.BytesIO()
    torch.save(weights.to_dict(), buffer)
    return buffer.getvalue()


def read(path: str | os.PathLike) -> Weights:
    """A weights file written by `save`; anything else is refused with one line."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # not a torch file, truncated, or holding objects weights_only refuses
        raise WeightsError(f"{path} is not a dse weights file ({first_line(exc)})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise WeightsError(f"{path} is not a dse weights file (no {FORMAT!r} header)")
    if raw.get("version") != VERSION:
        raise WeightsError(f"{path} is a dse weights file of version {raw.get('version')}; this dse reads {VERSION}")
    probe = raw.get("probe")
    return Weights(
        point=DesignPoint.from_dict(raw["point"]),
        state_dict=raw["state_dict"],
        precision=raw["precision"],
        mean=tuple(raw["mean"]),
        std=tuple(raw["std"]),
        probe=Probe(probe["images"], probe["labels"], probe["logits"]) if probe else None,
        record=raw.get("record", {}),
    )


def load(path: str | os.PathLike) -> SqueezeNet:
    """The network of a dse weights file (`dse export`'s model.pt, or weights kept with a study): rebuilt from
    its design point, fp32, eval mode, on the CPU."""
    return read(path).model()


# ------------------------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class CheckResult:
    images: int
    max_abs_diff: float  # largest |logit difference| on the probe
    scale: float  # largest |stored logit|
    agree: int  # images whose predicted class is the stored one
    top1: float  # % of the probe images classified correctly by the restored network

    def line(self) -> str:
        return (f"{self.agree}/{self.images} probe images agree with the record, max |logit difference| "
                f"{self.max_abs_diff:.2g}")


def check(weights: Weights, model: Callable[[torch.Tensor], torch.Tensor] | None = None,
          rtol: float = CHECK_RTOL) -> CheckResult:
    """Recompute the probe's logits with `model` (default: the network rebuilt from `weights`); raise
    WeightsMismatch unless every prediction and every logit (within `rtol` of the largest) is the recorded one."""
    if weights.probe is None or not len(weights.probe.labels):
        raise WeightsMismatch("the weights carry no probe images, so the restored network cannot be checked")
    probe = weights.probe
    got = logits_of(model if model is not None else weights.model(), weights.normalise(probe.images))
    if got.shape != probe.logits.shape:
        raise WeightsMismatch(f"the restored network gives logits of shape {tuple(got.shape)}; the record has "
                              f"{tuple(probe.logits.shape)}")
    diff = float((got - probe.logits).abs().max())
    scale = float(probe.logits.abs().max())
    agree = int((got.argmax(1) == probe.logits.argmax(1)).sum())
    result = CheckResult(len(probe.labels), diff, scale, agree,
                         100 * float((got.argmax(1) == probe.labels).float().mean()))
    if not math.isfinite(diff) or diff > rtol * max(scale, 1.0) or agree != result.images:
        raise WeightsMismatch(f"the restored network does not match its record: {result.line()} "
                              f"(allowed {rtol * max(scale, 1.0):.2g})")
    return result


# ------------------------------------------------------------------------------------------- sizes


def payload_mb(point: DesignPoint, precision: str) -> float:
    """Analytic size of the stored weights (parameters only, from the layer plan): what `--keep-weights`
    budgets with. The file adds BatchNorm statistics, the probe and a few KB of framing."""
    if precision not in PRECISIONS:
        raise WeightsError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    return cost(point).params * (2 if precision == "fp16" else 4) / MB
