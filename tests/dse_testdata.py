"""Test data shared by test_data, test_train and test_cli_train: small generated image trees, a generated folder in
the CIFAR-10 JPEG copy's layout (every clone has it) and the real copy (used where it exists)."""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CIFAR_JPEG_ARCHIVE = REPO.parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"


CIFAR_PER_CLASS = {"train": 250, "test": 100}  # of 5,000 and 1,000: real images, decoded in seconds, not a minute


def cifar10_jpeg(cache: Path) -> Path | None:
    """A CIFAR-10 JPEG tree: ./data/cifar10-jpeg if there (the whole copy), else the first `CIFAR_PER_CLASS` images
    of each class and split of the archive, extracted once into `cache`."""
    for root in (REPO / "data" / "cifar10-jpeg", cache / "cifar10-jpeg-part"):
        if (root / "train").is_dir() and (root / "test").is_dir():
            return root
    if not CIFAR_JPEG_ARCHIVE.is_file():
        return None
    staging = cache / f".cifar10-jpeg-part.{os.getpid()}"
    taken: dict[tuple[str, str], int] = {}
    with tarfile.open(CIFAR_JPEG_ARCHIVE) as tar:
        for member in tar:
            parts = Path(member.name).parts  # cifar10-jpeg/<split>/<class>/<file>
            if not member.isfile() or len(parts) != 4 or parts[1] not in CIFAR_PER_CLASS:
                continue
            key = (parts[1], parts[2])
            if taken.get(key, 0) < CIFAR_PER_CLASS[parts[1]]:
                taken[key] = taken.get(key, 0) + 1
                tar.extract(member, staging, filter="data")
    try:
        (staging / "cifar10-jpeg").rename(cache / "cifar10-jpeg-part")  # whole or not at all (parallel test runs)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another process was first: its copy is the same
    shutil.rmtree(staging, ignore_errors=True)
    return cache / "cifar10-jpeg-part"


CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
GENERATED, COPY = "generated", "CIFAR-10 JPEG copy"
CIFAR_SOURCES = (GENERATED, COPY)
"""What the CIFAR-10 folder tests read: the generated folder always, the real copy where it is (README, "Run the
tests")."""


def cifar10_folder(cache: Path, source: str) -> Path:
    """The CIFAR-10-layout folder of `source`; the real copy's absence skips, naming where it is looked for."""
    if source == GENERATED:
        return cifar10_layout(cache)
    root = cifar10_jpeg(cache)
    if root is None:
        pytest.skip(f"no CIFAR-10 JPEG copy (data/cifar10-jpeg or {CIFAR_JPEG_ARCHIVE}; README: Run the tests); "
                    "the generated folder ran instead")
    return root


def cifar10_layout(cache: Path) -> Path:
    """A folder laid out as the CIFAR-10 JPEG copy (its ten class names, 32x32 RGB JPEG files, `CIFAR_PER_CLASS`
    images of each class and split) holding the synthetic gratings: learnable, generated, so a fresh clone runs the
    CIFAR-10 folder tests without the copy. Written once into `cache`."""
    root = cache / "cifar10-layout-generated"
    if (root / "train").is_dir() and (root / "test").is_dir():
        return root
    from dse.data import load_dataset

    data = load_dataset("synthetic", val_fraction=0)
    staging = cache / f".cifar10-layout-generated.{os.getpid()}"
    for split, images, labels in (("train", data.train_images, data.train_labels),
                                  ("test", data.test_images, data.test_labels)):
        for c, name in enumerate(CIFAR_CLASSES):
            folder = staging / split / name
            folder.mkdir(parents=True)
            for i, j in enumerate((labels == c).nonzero().flatten()[:CIFAR_PER_CLASS[split]].tolist()):
                Image.fromarray(images[j].permute(1, 2, 0).numpy(), "RGB").save(folder / f"{i:04d}.jpg", "JPEG")
    try:
        staging.rename(root)  # whole or not at all (parallel test runs)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another process was first: its folder is the same
    return root


# (mode, size, format): mixed sizes, modes and file formats, as a folder dataset may hold
MIXED = [("RGB", (40, 30), "JPEG"), ("L", (20, 20), "PNG"), ("RGBA", (64, 48), "PNG"), ("P", (33, 50), "PNG"),
         ("RGB", (16, 16), "PNG"), ("L", (100, 80), "JPEG")]


def image_tree(root: Path, classes=("cat", "dog", "eel"), per_class=(6, 2), split_names=("train", "test"),
               modes=MIXED) -> Path:
    """A tiny ImageFolder tree; each class has its own colour so the images are learnable."""
    rng = np.random.default_rng(0)
    for split, count in zip(split_names, per_class, strict=True):
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                mode, (w, h), fmt = modes[(i + c) % len(modes)]
                base = np.zeros((h, w, 3), np.uint8)
                base[..., c % 3] = 200
                base = (base + rng.integers(0, 40, base.shape)).astype(np.uint8)
                image = Image.fromarray(base, "RGB")
                image = image.convert("P", palette=Image.Palette.ADAPTIVE) if mode == "P" else image.convert(mode)
                image.save(folder / f"{i:03d}.{'jpg' if fmt == 'JPEG' else 'png'}", fmt)
    (root / split_names[0] / classes[0] / "notes.txt").write_text("not an image")
    return root
