"""The decoded arrays cached beside their source: one file per dataset and image size, checksummed, written
atomically, rebuilt whenever the source changes or the file is damaged."""

from __future__ import annotations

import contextlib
import hashlib
import os
import zlib
from dataclasses import replace
from pathlib import Path

import torch

from dse.data.dataset import Dataset, DatasetInfo, make

CACHE_DIR = ".dse-cache"
CACHE_FORMAT = 1  # bump when the cached arrays or their meaning change


def cached(info: DatasetInfo, root: Path, key: str, fingerprint: str, build, source: str) -> Dataset:
    """Read the cache if it is whole and matches the source; otherwise build the arrays and write it."""
    path = root / CACHE_DIR / f"{key}.pt"
    data = read_cache(path, info, fingerprint, source)
    if data is None:
        train_x, train_y, test_x, test_y, *val = build()
        data = make(info, train_x, train_y, test_x, test_y, source, *val)
        write_cache(path, data, fingerprint)
    return data


def read_cache(path: Path, info: DatasetInfo, fingerprint: str, source: str) -> Dataset | None:
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
        if blob.get("format") != CACHE_FORMAT or (fingerprint and blob.get("fingerprint") != fingerprint):
            return None
        tensors = [blob[k] for k in ("train_images", "train_labels", "test_images", "test_labels")]
        if [_checksum(t) for t in tensors] != blob["checksums"]:
            return None  # damaged
        pairs = [(tensors[0], tensors[1]), (tensors[2], tensors[3])]
        val = [blob[k] for k in ("val_images", "val_labels") if k in blob]
        if val:  # a folder's own val/
            if [_checksum(t) for t in val] != blob["val_checksums"]:
                return None  # damaged
            pairs.append((val[0], val[1]))
        c, s = info.in_channels, info.image_size
        for images, labels in pairs:
            if images.dtype != torch.uint8 or labels.dtype != torch.int64 or tuple(images.shape[1:]) != (c, s, s):
                return None
            if images.shape[0] != labels.shape[0]:
                return None
        info = replace(info, classes=tuple(blob["classes"]), num_classes=len(blob["classes"]))
        extra = {"val_images": val[0], "val_labels": val[1], "val_source": "folder val/"} if val else {}
        return Dataset(info, *tensors, mean=tuple(blob["mean"]), std=tuple(blob["std"]), source=source, **extra)
    except Exception:  # any unreadable or unexpected cache is rebuilt, never trusted
        return None


def write_cache(path: Path, data: Dataset, fingerprint: str) -> None:
    """Atomic (write then rename), so concurrent workers never read half a file. Best effort: a read-only
    data dir only costs the next load a decode."""
    tensors = {"train_images": data.train_images, "train_labels": data.train_labels,
               "test_images": data.test_images, "test_labels": data.test_labels}
    blob = {"format": CACHE_FORMAT, "fingerprint": fingerprint, "classes": list(data.info.classes),
            "mean": list(data.mean), "std": list(data.std),
            "checksums": [_checksum(t) for t in tensors.values()], **tensors}
    if data.val_labels is not None:  # a folder's own val/ (a held-out split is made after the cache)
        blob.update(val_images=data.val_images, val_labels=data.val_labels,
                    val_checksums=[_checksum(data.val_images), _checksum(data.val_labels)])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(blob, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError):  # torch.save reports some unwritable places as RuntimeError
        with contextlib.suppress(OSError):  # a file where the folder should be: nothing was written
            tmp.unlink(missing_ok=True)


def _checksum(t: torch.Tensor) -> int:
    """CRC-32 of the bytes: catches a damaged cache at about 1 GB/s, without copying the tensor."""
    return zlib.crc32(memoryview(t.contiguous().numpy()).cast("B"))


def fingerprint(paths) -> str:
    """Names, sizes and modification times of the source files: changes when the source does."""
    h = hashlib.sha1()
    for p in paths:
        st = os.stat(p)
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()
