"""Dataset names -> their source: the built-ins, `folder:PATH` and `synthetic`; what a name holds without decoding
(`dataset_info`) and its arrays (`load_dataset`), subset and validation hold-out applied."""

from __future__ import annotations

import os
from typing import NamedTuple

from dse.data.builtin import INFOS, load_builtin
from dse.data.cache import CACHE_DIR, cached
from dse.data.dataset import Dataset, DatasetInfo, data_root
from dse.data.folder import FOLDER_IMAGE_SIZE, FOLDER_PREFIX, Folder
from dse.data.split import VAL_FRACTION, VAL_SEED, check_fraction, split_validation, take_subset
from dse.data.synthetic import INFO as SYNTHETIC
from dse.data.synthetic import SYNTHETIC_SIZES, generate
from dse.errors import DataError

OFFLINE_ENV = "DSE_OFFLINE"
BUILTIN: dict[str, DatasetInfo] = {**INFOS, "synthetic": SYNTHETIC}


def dataset_names() -> tuple[str, ...]:
    return (*BUILTIN, f"{FOLDER_PREFIX}PATH")


def dataset_info(name: str, data_dir: str | os.PathLike | None = None) -> DatasetInfo:
    """Classes, channels and native image size, without decoding any image (folders: headers only)."""
    if name.startswith(FOLDER_PREFIX):
        return Folder(name).info(FOLDER_IMAGE_SIZE)  # headers of one image per class
    try:
        return BUILTIN[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(dataset_names())}") from None


def images_to_decode(name: str, data_dir: str | os.PathLike | None = None, image_size: int | None = None) -> int:
    """How many image files `load_dataset` will decode first: a folder without its cache file, else 0 (so a
    display can say why the first start waits)."""
    if not name.startswith(FOLDER_PREFIX):
        return 0
    folder = Folder(name)
    size = image_size or FOLDER_IMAGE_SIZE
    if (data_root(data_dir) / CACHE_DIR / f"{folder.cache_key(size)}.pt").is_file():
        return 0
    return sum(len(found) for split in folder.splits() for found in folder.scan(split))


SPLIT_SIZES = {"cifar10": (50_000, 10_000), "cifar100": (50_000, 10_000), "fashion-mnist": (60_000, 10_000),
               "synthetic": SYNTHETIC_SIZES}
"""Images in each built-in training and test split (before a subset and the validation hold-out)."""


class PlannedSizes(NamedTuple):
    train: int
    val: int
    test: int


def images_planned(name: str, subset: int | None = None, val_fraction: float = VAL_FRACTION) -> PlannedSizes:
    """About how many images a run trains, validates and tests on, without reading any image or writing a cache
    (a dry run's and a first estimate's count): the splits (a folder's files are counted), their subset, the
    validation hold-out taken from training (`split_validation` rounds per class, so this may differ from the
    loaded count by a few images)."""
    if name.startswith(FOLDER_PREFIX):
        folder = Folder(name)
        n, test = (sum(len(found) for found in folder.scan(d)) for d in (folder.train_dir, folder.test_dir))
        own_val = sum(len(found) for found in folder.scan(folder.val_dir)) if folder.val_dir is not None else None
    elif name in SPLIT_SIZES:
        (n, test), own_val = SPLIT_SIZES[name], None
    else:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(dataset_names())}")
    n, test = (min(n, subset), min(test, subset)) if subset else (n, test)
    if own_val is not None:
        return PlannedSizes(n, min(own_val, subset) if subset else own_val, test)
    val = round(val_fraction * n)
    return PlannedSizes(n - val, val, test)


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    image_size: int | None = None,
    subset: int | None = None,
    download: bool | None = None,
    val_fraction: float = VAL_FRACTION,
    val_seed: int = VAL_SEED,
) -> Dataset:
    """The dataset as uint8 arrays, decoded at most once per data dir and image size (then read from cache).

    `subset` keeps the first N images of each split, balanced over the classes, for quick runs; the
    validation split is then held out of those N (`split_validation`), unless the data has its own.
    `download=False` never touches the network; None: download unless $DSE_OFFLINE is set (to 1, true or yes).
    """
    if download is None:
        download = os.environ.get(OFFLINE_ENV, "").lower() not in ("1", "true", "yes")
    if subset is not None and subset < 1:
        raise DataError(f"subset must be a positive number of images; got {subset}")
    if image_size is not None and image_size < 1:
        raise DataError(f"image size must be positive; got {image_size}")
    check_fraction(val_fraction)
    if name == "synthetic":
        data = generate(image_size or SYNTHETIC.image_size, subset)
    elif name.startswith(FOLDER_PREFIX):
        folder = Folder(name)
        size = image_size or FOLDER_IMAGE_SIZE
        data = cached(folder.info(size), data_root(data_dir), folder.cache_key(size), folder.fingerprint(),
                       lambda: folder.decode(size), str(folder.root))
    elif name in BUILTIN:
        data = load_builtin(BUILTIN[name], data_root(data_dir), image_size, download)
    else:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(dataset_names())}")
    data = take_subset(data, subset) if subset else data
    return split_validation(data, val_fraction, val_seed)
