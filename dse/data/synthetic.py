"""`synthetic`: oriented colour gratings, generated (never downloaded, always the same for the same size); for tests
and offline demos, never used in place of another dataset."""

from __future__ import annotations

from dataclasses import replace

import torch

from dse.data.dataset import Dataset, DatasetInfo, make

SYNTHETIC_SIZES = (10_000, 2_000)  # train, test
SYNTHETIC_CLASSES = tuple(f"{tone}-{angle}deg" for tone in ("warm", "cool") for angle in range(0, 180, 36))
INFO = DatasetInfo("synthetic", 10, 3, 32, SYNTHETIC_CLASSES, hflip=False)


def generate(size: int, subset: int | None) -> Dataset:
    """Oriented colour gratings: 5 orientations x 2 colour tones, random phase, frequency and contrast, plus
    noise. Learnable by a small CNN within one epoch, far from trivial for a linear model; always the same
    images for the same size."""
    info = replace(INFO, image_size=size)
    gen = torch.Generator().manual_seed(20160224)  # SqueezeNet's arXiv date
    splits = []
    for n in SYNTHETIC_SIZES:
        n = min(n, subset) if subset else n
        labels = torch.arange(n) % 10
        labels = labels[torch.randperm(n, generator=gen)]
        splits += [_gratings(labels, size, gen), labels]
    return make(info, *splits, source="generated")


def _gratings(labels: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    n = labels.numel()
    angle = (labels % 5).double() * torch.pi / 5 + (torch.rand(n, generator=gen, dtype=torch.float64) - 0.5) * 0.3
    freq = (2 * torch.pi / size) * (3 + 2 * torch.rand(n, generator=gen, dtype=torch.float64))
    phase = 2 * torch.pi * torch.rand(n, generator=gen, dtype=torch.float64)
    contrast = 0.25 + 0.2 * torch.rand(n, generator=gen, dtype=torch.float64)
    warm = torch.tensor([0.85, 0.45, 0.25], dtype=torch.float64)
    cool = torch.tensor([0.3, 0.5, 0.8], dtype=torch.float64)
    tone = torch.where((labels >= 5)[:, None], cool, warm)  # [n, 3]
    tone = tone + 0.15 * (torch.rand(n, 3, generator=gen, dtype=torch.float64) - 0.5)
    out = torch.empty(n, 3, size, size, dtype=torch.uint8)
    coords = torch.arange(size, dtype=torch.float64)
    for i in range(0, n, 1024):
        sl = slice(i, i + 1024)
        a, f, p = angle[sl, None, None], freq[sl, None, None], phase[sl, None, None]
        wave = torch.sin(f * (coords[None, :, None] * torch.sin(a) + coords[None, None, :] * torch.cos(a)) + p)
        img = 0.5 + contrast[sl, None, None, None] * wave[:, None] * tone[sl, :, None, None]
        img = img + 0.12 * torch.randn(img.shape, generator=gen, dtype=torch.float64)
        out[sl] = (img.clamp(0, 1) * 255).round().to(torch.uint8)
    return out
