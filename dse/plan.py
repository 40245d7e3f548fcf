"""Design point -> layer plan -> cost. The builder (`dse.model`) reads the same plan, so they cannot drift.

Sizes follow the paper: "model size" is fp32 parameter bytes / 2^20, which the paper writes "MB".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

from dse.space import (
    POOL_AFTER_FIRE,
    SIMPLE_BYPASS_FIRES,
    STEM_FILTERS,
    Bypass,
    DesignPoint,
    FireWidths,
    Head,
    Norm,
    Stem,
    fire_widths,
    spatial_sizes,
)

BYTES_PER_PARAM = 4  # fp32
MB = 2**20


class Kind(str, Enum):
    conv = "conv"
    maxpool = "maxpool"
    fire = "fire"
    dropout = "dropout"
    avgpool = "avgpool"


class Shortcut(str, Enum):
    none = "none"
    identity = "identity"
    conv = "conv"  # 1x1 projection (complex bypass where channel counts differ): with bias, or with BatchNorm


@dataclass(frozen=True)
class Layer:
    """One row of the plan (and of the paper's Table 1)."""

    name: str
    kind: Kind
    in_channels: int
    out_channels: int
    out_size: int  # side length of the (square) output
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    norm: bool = False  # BatchNorm after each convolution of the layer (then its convolutions carry no bias)
    relu: bool = True
    widths: FireWidths | None = None  # fire modules only
    shortcut: Shortcut = Shortcut.none
    dropout: float = 0.0

    @property
    def residual(self) -> bool:
        """A BatchNorm fire with a shortcut adds it before its ReLU, residual-network style (see `dse.model.Fire`);
        without BatchNorm the paper's shortcut adds to the ReLU'd output."""
        return self.kind is Kind.fire and self.norm and self.shortcut is not Shortcut.none

    @property
    def params(self) -> int:
        if self.kind is Kind.conv:
            return conv_params(self.in_channels, self.out_channels, self.kernel, self.norm)
        if self.kind is Kind.fire:
            w = self.widths
            total = conv_params(self.in_channels, w.squeeze, 1, self.norm)
            total += conv_params(w.squeeze, w.expand1x1, 1, self.norm) if w.expand1x1 else 0
            total += conv_params(w.squeeze, w.expand3x3, 3, self.norm) if w.expand3x3 else 0
            if self.shortcut is Shortcut.conv:
                total += conv_params(self.in_channels, self.out_channels, 1, self.norm)
            return total
        return 0

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the convolutions (pooling, norms and activations not counted)."""
        pixels = self.out_size * self.out_size
        if self.kind is Kind.conv:
            return pixels * self.kernel * self.kernel * self.in_channels * self.out_channels
        if self.kind is Kind.fire:
            w = self.widths
            per_pixel = self.in_channels * w.squeeze + w.squeeze * w.expand1x1 + 9 * w.squeeze * w.expand3x3
            if self.shortcut is Shortcut.conv:
                per_pixel += self.in_channels * self.out_channels
            return pixels * per_pixel
        return 0


def conv_params(in_channels: int, out_channels: int, kernel: int, norm: bool) -> int:
    """Weights plus bias, or plus BatchNorm's scale and shift (a bias before BatchNorm would be redundant)."""
    return in_channels * out_channels * kernel * kernel + (2 * out_channels if norm else out_channels)


def layer_plan(point: DesignPoint) -> tuple[Layer, ...]:
    """The whole network as ordered records: stem, max-pools, fire2..fire9, dropout, conv10, global pool."""
    norm = point.norm is Norm.batch
    stem_size, *pooled = spatial_sizes(point.stem, point.input_size)
    stem_filters = STEM_FILTERS[point.stem]
    if point.stem is Stem.imagenet:
        kernel, stride, padding = 7, 2, 0
    elif point.stem is Stem.v1_1:
        kernel, stride, padding = 3, 2, 0
    else:
        kernel, stride, padding = 3, 1, 1
    plan = [
        Layer("conv1", Kind.conv, point.in_channels, stem_filters, stem_size, kernel, stride, padding, norm),
        Layer("maxpool1", Kind.maxpool, stem_filters, stem_filters, pooled[0], 3, 2),
    ]
    size, channels, pools = pooled[0], stem_filters, 1
    for i, widths in enumerate(fire_widths(point)):
        out = widths.expand
        plan.append(
            Layer(f"fire{i + 2}", Kind.fire, channels, out, size, norm=norm, widths=widths,
                  shortcut=_shortcut(point.bypass, i, channels, out))
        )
        channels = out
        if i in POOL_AFTER_FIRE[point.pooling]:
            size = pooled[pools]
            pools += 1
            plan.append(Layer(f"maxpool{i + 2}", Kind.maxpool, channels, channels, size, 3, 2))
    plan += [
        Layer("dropout9", Kind.dropout, channels, channels, size, relu=False, dropout=point.dropout),
        Layer("conv10", Kind.conv, channels, point.num_classes, size, 1, 1, 0, norm=False,
              relu=point.head is Head.relu),
        Layer("avgpool10", Kind.avgpool, point.num_classes, point.num_classes, 1, size, 1, relu=False),
    ]
    return tuple(plan)


def _shortcut(bypass: Bypass, fire_index: int, in_channels: int, out_channels: int) -> Shortcut:
    """Simple bypass: identity around fire3, 5, 7, 9 where channels match (the paper's case).

    Complex bypass adds a 1x1 convolution around every other fire module, and around fire3, 5, 7, 9 where a
    custom point makes their channels differ.
    """
    if bypass is Bypass.none:
        return Shortcut.none
    if in_channels == out_channels and (bypass is Bypass.complex or fire_index in SIMPLE_BYPASS_FIRES):
        return Shortcut.identity
    if bypass is Bypass.complex:
        return Shortcut.conv
    return Shortcut.none


@dataclass(frozen=True)
class Cost:
    """Analytic cost of a design point, known before any training."""

    params: int
    size_mb: float  # fp32 bytes / 2^20, the paper's "MB"
    macs: int  # multiply-accumulates for one image at the point's input size
    imagenet_size_mb: float  # the same metaparameters as the paper trained them: the x-axis of its Figure 3
    size_mb_int8: float  # every parameter at 8 bits (quantization scales not counted)
    size_mb_int4: float  # at 4 bits: the scale of the paper's Deep Compression headline

    def to_dict(self) -> dict:
        return asdict(self)


def param_count(plan: tuple[Layer, ...]) -> int:
    return sum(layer.params for layer in plan)


def size_mb(params: int, bits: int = 8 * BYTES_PER_PARAM) -> float:
    return params * bits / 8 / MB


def cost(point: DesignPoint) -> Cost:
    plan = layer_plan(point)
    params = param_count(plan)
    return Cost(
        params=params,
        size_mb=size_mb(params),
        macs=sum(layer.macs for layer in plan),
        imagenet_size_mb=size_mb(param_count(layer_plan(point.imagenet_equivalent()))),
        size_mb_int8=size_mb(params, 8),
        size_mb_int4=size_mb(params, 4),
    )
