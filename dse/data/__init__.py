"""Datasets: a registry of names -> uint8 arrays decoded once and cached; device-resident batches.

By source, as timm's data/readers: `registry` (names -> sources, `dataset_info`, `load_dataset`), `builtin`
(CIFAR-10, CIFAR-100, Fashion-MNIST, their download), `folder` (`folder:PATH`, decoded by `imagefiles`),
`synthetic`; around them `dataset` (what a dataset is), `split` (the validation hold-out, subsets), `cache` (the
decoded arrays beside their source) and `device` (`DeviceData`: the splits on the training device).

Every trial of a sweep trains on the same arrays, so decoding happens once per data dir (a cache file beside
the source) and a GPU never waits on Python: the whole split lives on the device as uint8 and each batch is
drawn, augmented, normalised and laid out channels_last there in a few whole-batch kernels.

Names: `cifar10` (default), `cifar100`, `fashion-mnist`, `folder:PATH` (train/ and test/ or val/ of class
folders, any size and mode, fitted to the input size: 32 unless asked), `synthetic` (generated, for tests and
offline demos; never used in place of another dataset).

Three splits: train, validation and test. The validation split chooses (pruning, search, "best"); the test
split only measures. Unless the data names one, the validation split is held out of the training split:
seeded, class-balanced, `VAL_FRACTION` (10%) by default (`load_dataset(val_fraction=...)`; 0 turns it off).
Folders: train/, val/ and test/ are used as named; train/ and test/ hold validation out of train/; train/ and
val/ without test/ keep the old reading (val/ is the test split) and hold validation out of train/.

Augmentation: random crop from a zero-padded image (pad = size // 8) and, where the data allows it, a
horizontal flip. Flips are on for the photo datasets and for fashion-mnist (garments are left-right
symmetric as a class), off for `synthetic` (its classes are orientations, which a flip would change).
"""

from dse.data.cache import CACHE_DIR, CACHE_FORMAT
from dse.data.dataset import DATA_DIR_ENV, Dataset, DatasetInfo, data_root
from dse.data.device import DeviceData
from dse.data.folder import FOLDER_PREFIX
from dse.data.registry import (
    BUILTIN,
    OFFLINE_ENV,
    dataset_info,
    dataset_names,
    images_planned,
    images_to_decode,
    load_dataset,
)
from dse.data.split import VAL_FRACTION, VAL_SEED, split_validation, take_subset

__all__ = ["BUILTIN", "CACHE_DIR", "CACHE_FORMAT", "DATA_DIR_ENV", "FOLDER_PREFIX", "OFFLINE_ENV", "VAL_FRACTION",
           "VAL_SEED", "Dataset", "DatasetInfo", "DeviceData", "data_root", "dataset_info", "dataset_names",
           "images_planned", "images_to_decode", "load_dataset", "split_validation", "take_subset"]
