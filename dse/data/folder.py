"""`folder:PATH`: an ImageFolder-style tree of any image files (train/ and test/ or val/ of class folders), decoded
once by `dse.data.imagefiles` and fitted to the input size (32 px unless asked)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from dse.data.dataset import DatasetInfo
from dse.data.imagefiles import ImageFileError, decode_many, scan_images, sniff_channels
from dse.errors import DataError

FOLDER_PREFIX = "folder:"
FOLDER_IMAGE_SIZE = 32


class Folder:
    """An ImageFolder-style tree: PATH/train/<class>/* and PATH/test/<class>/* (or val/), optionally with
    PATH/val/<class>/* beside test/ as the validation split."""

    def __init__(self, name: str) -> None:
        raw = name[len(FOLDER_PREFIX):]
        if not raw:
            raise DataError(f"give the folder: --dataset {FOLDER_PREFIX}PATH")
        self.root = Path(raw).expanduser().resolve()
        if not self.root.is_dir():
            raise DataError(f"dataset folder {self.root} does not exist (expected train/ and test/ of class "
                            "folders)")
        self.train_dir = self.root / "train"
        self.test_dir = next((self.root / s for s in ("test", "val") if (self.root / s).is_dir()), None)
        # train/ + val/ + test/: all three as named; train/ + val/ alone: val/ is the test split (as before)
        self.val_dir = self.root / "val" if (self.root / "test").is_dir() and (self.root / "val").is_dir() else None
        if not self.train_dir.is_dir() or self.test_dir is None:
            raise DataError(f"dataset folder {self.root} needs train/ and test/ (or val/) folders of class "
                            "folders")
        self.classes = tuple(sorted(e.name for e in os.scandir(self.train_dir)
                                    if e.is_dir() and not e.name.startswith(".")))
        if len(self.classes) < 2:
            raise DataError(f"{self.train_dir} needs at least 2 class folders; found {len(self.classes)}")
        for split in (self.test_dir, self.val_dir):
            if split is None:
                continue
            split_classes = {e.name for e in os.scandir(split) if e.is_dir() and not e.name.startswith(".")}
            extra = sorted(split_classes - set(self.classes))
            if extra:
                raise DataError(f"{split} has class folders missing from train/: {', '.join(extra)}")
        self.name = f"{FOLDER_PREFIX}{raw}"
        self._scans: dict[Path, list[list[tuple[str, int, int]]]] = {}

    def scan(self, split: Path) -> list[list[tuple[str, int, int]]]:
        """Per class, its image files (path, size, mtime_ns); scanned once per instance."""
        if split not in self._scans:
            self._scans[split] = [scan_images(split / c) if (split / c).is_dir() else [] for c in self.classes]
        return self._scans[split]

    def files(self, split: Path) -> tuple[list[str], list[int]]:
        paths, labels = [], []
        for label, found in enumerate(self.scan(split)):
            paths += [f[0] for f in found]
            labels += [label] * len(found)
        if not paths:
            raise DataError(f"{split} has no image files")
        return paths, labels

    def info(self, size: int) -> DatasetInfo:
        samples = []
        for cls, found in zip(self.classes, self.scan(self.train_dir), strict=True):
            if not found:
                raise DataError(f"{self.train_dir / cls} has no image files")
            samples.append(found[0][0])
        try:
            channels = sniff_channels(samples[:32])
        except ImageFileError as exc:
            raise DataError(str(exc)) from None
        return DatasetInfo(self.name, len(self.classes), channels, size, self.classes)

    def splits(self) -> tuple[Path, ...]:
        """train, test and, where named, val: the order `decode` returns them in."""
        return (self.train_dir, self.test_dir) + ((self.val_dir,) if self.val_dir is not None else ())

    def cache_key(self, size: int) -> str:
        digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:12]
        return f"folder-{self.root.name}-{digest}-{size}px"

    def fingerprint(self) -> str:
        """Names, sizes and modification times of every image: changes when the tree does."""
        h = hashlib.sha1()
        for split in self.splits():
            for found in self.scan(split):
                h.update("".join(f"{p}\0{n}\0{t}\n" for p, n, t in found).encode())
        return h.hexdigest()

    def decode(self, size: int):
        channels = self.info(size).in_channels
        out = []
        for split in self.splits():
            paths, labels = self.files(split)
            try:
                arr = decode_many(paths, size, channels)
            except ImageFileError as exc:
                raise DataError(str(exc)) from None
            out.append(torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous())
            out.append(torch.tensor(labels, dtype=torch.int64))
        return out
