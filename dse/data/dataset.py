"""What a dataset is, whatever its source: `DatasetInfo` (known without decoding), `Dataset` (the splits as uint8
arrays on the CPU, with the training split's channel statistics), and where datasets live (`data_root`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from dse.errors import DataError

DATA_DIR_ENV = "DSE_DATA_DIR"
DEFAULT_DATA_DIR = "data"


@dataclass(frozen=True)
class DatasetInfo:
    """What a network needs to know of a dataset, known without decoding it."""

    name: str
    num_classes: int
    in_channels: int
    image_size: int
    classes: tuple[str, ...]
    hflip: bool = True  # a horizontal flip keeps the label


@dataclass(frozen=True, eq=False)
class Dataset:
    """The splits as uint8 NCHW images and int64 labels (on the CPU), with the train split's statistics.

    `val_images`/`val_labels` are None when there is no validation split; `val_source` says where it came from.
    """

    info: DatasetInfo
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    mean: tuple[float, ...]  # per channel, in [0, 1], of the whole train split (not only a subset)
    std: tuple[float, ...]
    source: str  # where the images came from
    val_images: torch.Tensor | None = None
    val_labels: torch.Tensor | None = None
    val_source: str = ""  # "folder val/", "held out: 10% of train, seed 0", or "" (none)

    @property
    def num_train(self) -> int:
        return int(self.train_labels.shape[0])

    @property
    def num_test(self) -> int:
        return int(self.test_labels.shape[0])

    @property
    def num_val(self) -> int:
        return 0 if self.val_labels is None else int(self.val_labels.shape[0])


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """--data-dir, else $DSE_DATA_DIR, else ./data; a file there is refused (one line) before anything is read."""
    root = Path(data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser()
    if root.exists() and not root.is_dir():
        raise DataError(f"the data dir {root} is a file, not a folder: point --data-dir (or ${DATA_DIR_ENV}) at a "
                        "folder")
    return root


def make(info, train_x, train_y, test_x, test_y, source: str, val_x=None, val_y=None) -> Dataset:
    mean, std = _channel_stats(train_x)
    val = {} if val_y is None else {"val_images": val_x.contiguous(), "val_labels": val_y.to(torch.int64),
                                    "val_source": "folder val/"}
    return Dataset(info, train_x.contiguous(), train_y.to(torch.int64), test_x.contiguous(),
                   test_y.to(torch.int64), mean, std, source, **val)


def _channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and std from byte histograms (no float copy of the split)."""
    means, stds = [], []
    values = torch.arange(256, dtype=torch.float64) / 255
    for c in range(images.shape[1]):
        hist = torch.bincount(images[:, c].reshape(-1), minlength=256).to(torch.float64)
        p = hist / hist.sum()
        mean = float((p * values).sum())
        var = float((p * (values - mean) ** 2).sum())
        means.append(mean)
        stds.append(max(var**0.5, 1e-3))
    return tuple(means), tuple(stds)
