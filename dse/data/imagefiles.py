"""Image files -> square uint8 arrays: the decoding half of `folder:PATH` datasets.

PIL and numpy only: decoding worker processes never touch torch.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F"})
PARALLEL_FROM = 2000  # fewer files than this decode faster in-process than a pool starts
CHUNK = 512


class ImageFileError(Exception):
    """An image file cannot be decoded (the caller turns it into a DataError naming the file)."""


def scan_images(folder: str | Path) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of the image files directly inside `folder`, sorted by name, hidden skipped.

    One scandir and one stat per file: cheap enough to fingerprint a 60,000-file tree on every load.
    """
    found = []
    for e in os.scandir(folder):
        if e.name.startswith(".") or os.path.splitext(e.name)[1].lower() not in IMAGE_SUFFIXES or not e.is_file():
            continue
        st = e.stat()
        found.append((e.path, st.st_size, st.st_mtime_ns))
    found.sort()
    return found


def sniff_channels(paths: list[str]) -> int:
    """1 if every sampled file is grayscale, else 3; reads headers only (PIL opens lazily)."""
    for path in paths:
        try:
            with Image.open(path) as im:
                if im.mode not in GRAY_MODES:
                    return 3
        except (OSError, UnidentifiedImageError) as exc:
            raise ImageFileError(f"cannot read image {path}: {exc}") from None
    return 1


def decode(paths: list[str], size: int, channels: int) -> np.ndarray:
    """Decode, drop alpha, convert to L or RGB, fit to size x size (centre crop then resize): [n, size, size, c]."""
    mode = "L" if channels == 1 else "RGB"
    out = np.empty((len(paths), size, size, channels), dtype=np.uint8)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as im:
                if im.format == "JPEG" and min(im.size) >= 2 * size:
                    im.draft(mode, (size, size))  # DCT-domain downscale: much faster decoding of big JPEGs
                if im.mode == "P" and "transparency" in im.info:
                    im = im.convert("RGBA")
                elif im.mode in ("I", "I;16", "I;16B", "I;16L"):  # 16-bit gray: PIL's convert would clip
                    im = Image.fromarray((np.asarray(im).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8), "L")
                im = im.convert(mode)
                if im.size != (size, size):
                    im = ImageOps.fit(im, (size, size), Image.Resampling.BILINEAR)
                out[i] = np.asarray(im).reshape(size, size, channels)
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise ImageFileError(f"cannot decode image {path}: {exc}") from None
    return out


def decode_many(names: list[str], size: int, channels: int, workers: int | None = None) -> np.ndarray:
    """`decode` over many files, in worker processes when there are enough of them to pay off."""
    workers = workers or min(os.cpu_count() or 1, 16)
    if workers < 2 or len(names) < PARALLEL_FROM or "fork" not in get_all_start_methods():
        return decode(names, size, channels)
    chunks = [names[i:i + CHUNK] for i in range(0, len(names), CHUNK)]
    # fork, as torch's DataLoader does: the children run only PIL and numpy, and unlike spawn it neither
    # re-imports the caller's __main__ nor needs it guarded
    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
        parts = list(pool.map(decode, chunks, [size] * len(chunks), [channels] * len(chunks)))
    return np.concatenate(parts) if parts else np.empty((0, size, size, channels), np.uint8)
