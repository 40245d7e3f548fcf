"""The training split's validation hold-out and quick subsets: seeded, class-balanced, the same for every trial of
a study (the validation split chooses, the test split only measures)."""

from __future__ import annotations

from dataclasses import replace

import torch

from dse.data.dataset import Dataset
from dse.errors import DataError

VAL_FRACTION = 0.1  # share of the training split held out for validation, unless the data names a val split
VAL_SEED = 0  # the hold-out is the same for every trial of a study, whatever the trial's seed


def take_subset(data: Dataset, n: int, test: int | None = None) -> Dataset:
    """The first n training and n (or `test`) test and validation images, classes balanced (deterministic: no
    seed needed)."""
    test_idx = _balanced_first(data.test_labels, n if test is None else test)
    train = _balanced_first(data.train_labels, n)
    out = replace(data, train_images=data.train_images[train], train_labels=data.train_labels[train],
                  test_images=data.test_images[test_idx], test_labels=data.test_labels[test_idx])
    if data.val_labels is not None:
        val = _balanced_first(data.val_labels, n if test is None else test)
        out = replace(out, val_images=data.val_images[val], val_labels=data.val_labels[val])
    return out


def check_fraction(fraction: float) -> None:
    if not (isinstance(fraction, (int, float)) and 0 <= fraction < 1):
        raise DataError(f"the validation fraction must be in [0, 1) (0: no validation split); got {fraction}")


def split_validation(data: Dataset, fraction: float = VAL_FRACTION, seed: int = VAL_SEED) -> Dataset:
    """Hold `fraction` of each class of the training split out as the validation split (seeded, so every trial
    of a study validates on the same images). A dataset that already has a validation split (a folder's val/)
    or `fraction` 0 is returned unchanged. Each class with 2 or more images gives at least one."""
    check_fraction(fraction)
    if data.val_labels is not None or fraction == 0:
        return data
    gen = torch.Generator().manual_seed(int(seed))
    labels = data.train_labels
    held = []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()
        if members.numel() < 2:
            continue
        k = min(members.numel() - 1, max(1, round(fraction * members.numel())))
        held.append(members[torch.randperm(members.numel(), generator=gen)[:k]])
    if not held:
        return data
    val = torch.sort(torch.cat(held)).values
    keep = torch.ones(labels.numel(), dtype=torch.bool)
    keep[val] = False
    return replace(data, train_images=data.train_images[keep], train_labels=labels[keep],
                   val_images=data.train_images[val], val_labels=labels[val],
                   val_source=f"held out: {fraction:.0%} of train, seed {seed}")


def _balanced_first(labels: torch.Tensor, n: int) -> torch.Tensor:
    """Indices of the first n labels taken round-robin over classes by their order of appearance."""
    if n >= labels.numel():
        return torch.arange(labels.numel())
    order = torch.argsort(labels, stable=True)
    sorted_labels = labels[order]
    starts = torch.searchsorted(sorted_labels, sorted_labels, right=False)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(labels.numel()) - starts  # position of each image within its class
    key = rank * labels.numel() + torch.arange(labels.numel())
    chosen = torch.argsort(key)[:n]
    return torch.sort(chosen).values
