"""A dataset on the device it trains on: the splits as uint8, batches made there with whole-batch tensor ops."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from dse.data.dataset import Dataset


class DeviceData:
    """A dataset's splits on one device as uint8; batches are made there with whole-batch tensor ops.

    Build it once per process and pass it to every `train` call (a sweep worker does) to skip the upload.

    Train batches: a seeded permutation per epoch (last partial batch dropped, so every step has one shape),
    random crop from the zero-padded image plus an optional horizontal flip in ONE gather, which also writes
    channels_last; then normalisation. Test batches: in order, normalised only.
    """

    def __init__(self, data: Dataset, device: torch.device | str = "cpu") -> None:
        self.info = data.info
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        size = data.info.image_size
        self.pad = max(1, size // 8)
        self.train_labels = data.train_labels.to(self.device)
        self.test_labels = data.test_labels.to(self.device)
        self.val_labels = (data.val_labels if data.val_labels is not None
                           else torch.zeros(0, dtype=torch.int64)).to(self.device)
        self.val_images = (data.val_images if data.val_images is not None
                           else data.test_images[:0]).to(self.device)
        # padded once, so a batch's crop and flip are a single indexed read
        self.train_padded = F.pad(data.train_images.to(self.device), (self.pad,) * 4)
        self.test_images = data.test_images.to(self.device)
        self.mean, self.std = data.mean, data.std  # per channel, of the train split: what a kept network records
        mean = torch.tensor(data.mean, dtype=torch.float32, device=self.device)
        std = torch.tensor(data.std, dtype=torch.float32, device=self.device)
        self.scale = (1 / (255 * std)).view(1, -1, 1, 1)
        self.shift = (-mean / std).view(1, -1, 1, 1)
        self.rows = torch.arange(size, device=self.device)
        self.channels = torch.arange(data.info.in_channels, device=self.device)

    @property
    def num_train(self) -> int:
        return int(self.train_labels.shape[0])

    @property
    def num_test(self) -> int:
        return int(self.test_labels.shape[0])

    @property
    def num_val(self) -> int:
        return int(self.val_labels.shape[0])

    def batch_size_for(self, batch_size: int) -> int:
        """A batch larger than the split shrinks to the split (tiny subsets still train)."""
        return max(1, min(batch_size, self.num_train))

    def steps_per_epoch(self, batch_size: int) -> int:
        return self.num_train // self.batch_size_for(batch_size)

    def normalise(self, images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """uint8 [B, C, H, W] (any layout) -> normalised, channels_last, `dtype`."""
        x = torch.addcmul(self.shift, images.float(), self.scale)
        return x.to(dtype, memory_format=torch.channels_last)

    def train_order(self, generator: torch.Generator) -> torch.Tensor:
        """An epoch's seeded permutation of the training split (on this device)."""
        return torch.randperm(self.num_train, generator=generator, device=self.device)

    def train_batch(self, idx: torch.Tensor, generator: torch.Generator, *, augment: bool = True,
                    dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """The augmented batch of the training images `idx`: no host sync and fixed shapes, so a CUDA graph
        can capture it (with `generator` registered with the graph)."""
        b = idx.shape[0]
        size, pad = self.info.image_size, self.pad
        if augment:
            shift = torch.randint(0, 2 * pad + 1, (2, b, 1), generator=generator, device=self.device)
            flip = (torch.randint(0, 2, (b, 1), generator=generator, device=self.device).bool()
                    if self.info.hflip else None)
        else:
            shift = torch.full((2, b, 1), pad, device=self.device)
            flip = None
        rows = shift[0] + self.rows  # [b, size]
        cols = shift[1] + (torch.where(flip, size - 1 - self.rows, self.rows) if flip is not None
                           else self.rows)
        # [b, H, W, C] gather, viewed as NCHW: the result is channels_last in memory
        images = self.train_padded[idx[:, None, None, None], self.channels[None, None, None, :],
                                   rows[:, :, None, None], cols[:, None, :, None]].permute(0, 3, 1, 2)
        return self.normalise(images, dtype), self.train_labels[idx]

    def eval_batches(self, split: str, batch_size: int, *, dtype: torch.dtype = torch.float32
                     ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of the `test` or `val` split, in order, normalised only."""
        images, labels = (self.test_images, self.test_labels) if split == "test" else (self.val_images,
                                                                                       self.val_labels)
        for i in range(0, int(labels.shape[0]), batch_size):
            yield self.normalise(images[i:i + batch_size], dtype), labels[i:i + batch_size]
