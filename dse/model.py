"""The network builder: each record of the layer plan becomes one module, in order."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from dse.plan import Kind, Layer, Shortcut, layer_plan
from dse.space import DesignPoint


def conv_block(
    in_channels: int, out_channels: int, kernel: int, stride: int, padding: int, norm: bool, relu: bool = True
) -> nn.Sequential:
    """Conv -> (BatchNorm) -> (ReLU); a bias only where no BatchNorm follows."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel, stride, padding, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(out_channels))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Fire(nn.Module):
    """Squeeze 1x1 -> ReLU -> concat(expand 1x1, expand 3x3) -> ReLU, plus an optional shortcut.

    The paper's shortcut (`residual=False`) adds the input, or its 1x1 projection, to the ReLU'd concat.
    A residual fire (`residual=True`, BatchNorm networks) adds it before the ReLU, as residual networks do:
    expand -> BatchNorm, + shortcut (identity, or 1x1 projection -> BatchNorm), then ReLU; the expand
    BatchNorms' scales start at zero (`init_weights`), so the fire starts as its shortcut.
    An expand branch of width 0 (pct3x3 of 0 or 1) is left out.
    """

    def __init__(
        self,
        in_channels: int,
        squeeze: int,
        expand1x1: int,
        expand3x3: int,
        norm: bool = False,
        shortcut: Shortcut = Shortcut.none,
        residual: bool = False,
    ) -> None:
        super().__init__()
        self.residual = residual
        self.squeeze = conv_block(in_channels, squeeze, 1, 1, 0, norm)
        self.expand = nn.ModuleList(
            conv_block(squeeze, width, kernel, 1, kernel // 2, norm, relu=not residual)
            for width, kernel in ((expand1x1, 1), (expand3x3, 3))
            if width
        )
        out_channels = expand1x1 + expand3x3
        self.shortcut: nn.Module | None = {
            Shortcut.none: None,
            Shortcut.identity: nn.Identity(),
            Shortcut.conv: conv_block(in_channels, out_channels, 1, 1, 0, norm, relu=False),
        }[shortcut]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([branch(s) for s in [self.squeeze(x)] for branch in self.expand], 1)
        if self.shortcut is None:
            return out
        out = out + self.shortcut(x)
        return torch.relu(out) if self.residual else out


def build_layer(layer: Layer) -> nn.Module:
    if layer.kind is Kind.conv:
        return conv_block(layer.in_channels, layer.out_channels, layer.kernel, layer.stride, layer.padding, layer.norm,
                          layer.relu)
    if layer.kind is Kind.fire:
        w = layer.widths
        return Fire(layer.in_channels, w.squeeze, w.expand1x1, w.expand3x3, layer.norm, layer.shortcut,
                    layer.residual)
    if layer.kind is Kind.maxpool:
        return nn.MaxPool2d(layer.kernel, layer.stride, ceil_mode=True)
    if layer.kind is Kind.dropout:
        return nn.Dropout(layer.dropout)
    if layer.kind is Kind.avgpool:
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
    raise ValueError(f"no module for layer kind {layer.kind}")


class SqueezeNet(nn.Sequential):
    """A SqueezeNet-family network; its children are named after the plan's layers (conv1, fire2, ...)."""

    def __init__(self, point: DesignPoint) -> None:
        plan = layer_plan(point)
        super().__init__(OrderedDict((layer.name, build_layer(layer)) for layer in plan))
        self.point = point
        init_weights(self, final=self.conv10[0])


def init_weights(model: nn.Module, final: nn.Conv2d) -> None:
    """torchvision's SqueezeNet init: kaiming-uniform convolutions, conv10 normal(0, 0.01), zero biases; and
    BatchNorm scale 1, shift 0, but scale 0 on a residual fire's expand branches (its shortcut carries it).
    Without BatchNorm a projection shortcut starts at zero: kaiming-initialised, its unnormalised output
    added to every other fire's inflates the logits (initial loss above 3 for 10 classes) and the ReLU head
    collapses to chance; from zero the network starts as the simple-bypass one and learns its projections."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            if module is final:
                nn.init.normal_(module.weight, mean=0.0, std=0.01)
            else:
                nn.init.kaiming_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    for module in model.modules():
        if isinstance(module, Fire) and module.residual:
            for branch in module.expand:
                nn.init.zeros_(branch[1].weight)
        elif isinstance(module, Fire) and isinstance(module.shortcut, nn.Sequential):
            nn.init.zeros_(module.shortcut[0].weight)  # the paper's projection starts at zero (see docstring)


def build_model(point: DesignPoint) -> SqueezeNet:
    return SqueezeNet(point)


def load_torchvision_state_dict(model: SqueezeNet, state_dict: dict[str, torch.Tensor]) -> None:
    """Load torchvision squeezenet1_0/1_1 weights into the equivalent generated network (norm none).

    Both register parameters in network order (conv1, fire2 squeeze/expand1x1/expand3x3, ..., conv10), so the
    mapping is positional; shapes are checked one by one.
    """
    ours = model.state_dict()
    if len(ours) != len(state_dict):
        raise ValueError(f"{len(state_dict)} tensors to load into a network with {len(ours)}")
    mapped = {}
    for (name, target), (source_name, tensor) in zip(ours.items(), state_dict.items(), strict=True):
        if target.shape != tensor.shape:
            raise ValueError(f"{source_name} {tuple(tensor.shape)} does not fit {name} {tuple(target.shape)}")
        mapped[name] = tensor
    model.load_state_dict(mapped)
