"""Datasets: a registry of names -> uint8 arrays decoded once and cached; device-resident batches.

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

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
import torch.nn.functional as F

from dse.errors import DataError
from dse.imagefiles import ImageFileError, decode_many, scan_images, sniff_channels

DATA_DIR_ENV = "DSE_DATA_DIR"
OFFLINE_ENV = "DSE_OFFLINE"
DEFAULT_DATA_DIR = "data"
CACHE_DIR = ".dse-cache"
CACHE_FORMAT = 1  # bump when the cached arrays or their meaning change
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
FOLDER_IMAGE_SIZE = 32
PROBE_TIMEOUT_S = 3.0
SYNTHETIC_SIZES = (10_000, 2_000)  # train, test
VAL_FRACTION = 0.1  # share of the training split held out for validation, unless the data names a val split
VAL_SEED = 0  # the hold-out is the same for every trial of a study, whatever the trial's seed

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_CLASSES = tuple(
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can "
    "castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin "
    "elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard "
    "lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear "
    "pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal "
    "shark shrew skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank "
    "telephone television tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm".split()
)
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
FASHION_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte")
SYNTHETIC_CLASSES = tuple(f"{tone}-{angle}deg" for tone in ("warm", "cool") for angle in range(0, 180, 36))


@dataclass(frozen=True)
class DatasetInfo:
    """What a network needs to know of a dataset, known without decoding it."""

    name: str
    num_classes: int
    in_channels: int
    image_size: int
    classes: tuple[str, ...]
    hflip: bool = True  # a horizontal flip keeps the label


BUILTIN: dict[str, DatasetInfo] = {
    "cifar10": DatasetInfo("cifar10", 10, 3, 32, CIFAR10_CLASSES),
    "cifar100": DatasetInfo("cifar100", 100, 3, 32, CIFAR100_CLASSES),
    "fashion-mnist": DatasetInfo("fashion-mnist", 10, 1, 28, FASHION_CLASSES),
    "synthetic": DatasetInfo("synthetic", 10, 3, 32, SYNTHETIC_CLASSES, hflip=False),
}
FOLDER_PREFIX = "folder:"


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
    """--data-dir, else $DSE_DATA_DIR, else ./data."""
    return Path(data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser()


def dataset_names() -> tuple[str, ...]:
    return (*BUILTIN, f"{FOLDER_PREFIX}PATH")


def dataset_info(name: str, data_dir: str | os.PathLike | None = None) -> DatasetInfo:
    """Classes, channels and native image size, without decoding any image (folders: headers only)."""
    if name.startswith(FOLDER_PREFIX):
        return _Folder(name).info(FOLDER_IMAGE_SIZE)  # headers of one image per class
    try:
        return BUILTIN[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(dataset_names())}") from None


def images_to_decode(name: str, data_dir: str | os.PathLike | None = None, image_size: int | None = None) -> int:
    """How many image files `load_dataset` will decode first: a folder without its cache file, else 0 (so a
    display can say why the first start waits)."""
    if not name.startswith(FOLDER_PREFIX):
        return 0
    folder = _Folder(name)
    size = image_size or FOLDER_IMAGE_SIZE
    if (data_root(data_dir) / CACHE_DIR / f"{folder.cache_key(size)}.pt").is_file():
        return 0
    return sum(len(found) for split in folder.splits() for found in folder.scan(split))


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
    _check_fraction(val_fraction)
    if name == "synthetic":
        data = _synthetic(image_size or BUILTIN["synthetic"].image_size, subset)
    elif name.startswith(FOLDER_PREFIX):
        folder = _Folder(name)
        size = image_size or FOLDER_IMAGE_SIZE
        data = _cached(folder.info(size), data_root(data_dir), folder.cache_key(size), folder.fingerprint(),
                       lambda: folder.decode(size), str(folder.root))
    elif name in BUILTIN:
        data = _load_builtin(BUILTIN[name], data_root(data_dir), image_size, download)
    else:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(dataset_names())}")
    data = take_subset(data, subset) if subset else data
    return split_validation(data, val_fraction, val_seed)


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


def _check_fraction(fraction: float) -> None:
    if not (isinstance(fraction, (int, float)) and 0 <= fraction < 1):
        raise DataError(f"the validation fraction must be in [0, 1) (0: no validation split); got {fraction}")


def split_validation(data: Dataset, fraction: float = VAL_FRACTION, seed: int = VAL_SEED) -> Dataset:
    """Hold `fraction` of each class of the training split out as the validation split (seeded, so every trial
    of a study validates on the same images). A dataset that already has a validation split (a folder's val/)
    or `fraction` 0 is returned unchanged. Each class with 2 or more images gives at least one."""
    _check_fraction(fraction)
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


# ---------------------------------------------------------------------------------------------------- cache


def _cached(info: DatasetInfo, root: Path, key: str, fingerprint: str, build, source: str) -> Dataset:
    """Read the cache if it is whole and matches the source; otherwise build the arrays and write it."""
    path = root / CACHE_DIR / f"{key}.pt"
    data = _read_cache(path, info, fingerprint, source)
    if data is None:
        train_x, train_y, test_x, test_y, *val = build()
        data = _make(info, train_x, train_y, test_x, test_y, source, *val)
        _write_cache(path, data, fingerprint)
    return data


def _read_cache(path: Path, info: DatasetInfo, fingerprint: str, source: str) -> Dataset | None:
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


def _write_cache(path: Path, data: Dataset, fingerprint: str) -> None:
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
    except OSError:
        tmp.unlink(missing_ok=True)


def _checksum(t: torch.Tensor) -> int:
    """CRC-32 of the bytes: catches a damaged cache at about 1 GB/s, without copying the tensor."""
    return zlib.crc32(memoryview(t.contiguous().numpy()).cast("B"))


def _make(info, train_x, train_y, test_x, test_y, source: str, val_x=None, val_y=None) -> Dataset:
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


def _fingerprint(paths) -> str:
    """Names, sizes and modification times of the source files: changes when the source does."""
    h = hashlib.sha1()
    for p in paths:
        st = os.stat(p)
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 NCHW -> size x size, antialiased (for a built-in dataset asked at another input size)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for i in range(0, images.shape[0], 4096):
        x = F.interpolate(images[i:i + 4096].float(), size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False)
        out[i:i + 4096] = x.round_().clamp_(0, 255).to(torch.uint8)
    return out


# ------------------------------------------------------------------------------------------------ built-ins


def _load_builtin(info: DatasetInfo, root: Path, image_size: int | None, download: bool) -> Dataset:
    size = image_size or info.image_size
    info = replace(info, image_size=size)
    if info.name == "fashion-mnist":
        source = _fashion_dir(root)
        files = [_fashion_file(source, f) for f in FASHION_FILES] if source else []
    else:
        source = root / _cifar_class(info.name).base_folder
        files = [source / f for f in _cifar_files(info.name)] if _cifar_present(root, info.name) else []
    key = f"{info.name}-{size}px"
    cache = root / CACHE_DIR / f"{key}.pt"
    if not files:
        if cache.is_file():  # source removed after decoding: the cache is the data
            data = _read_cache(cache, info, "", str(cache))
            if data is not None:
                return data
        source = _obtain(info.name, root, download)
        files = ([_fashion_file(source, f) for f in FASHION_FILES] if info.name == "fashion-mnist"
                 else [source / f for f in _cifar_files(info.name)])

    def build():
        if info.name == "fashion-mnist":
            train_x, train_y, test_x, test_y = _read_fashion(source)
        else:
            train_x, train_y, test_x, test_y = _read_cifar(info.name, root)
        return _resize(train_x, size), train_y, _resize(test_x, size), test_y

    return _cached(info, root, key, _fingerprint(files), build, str(source))


def _cifar_class(name: str):
    from torchvision.datasets import CIFAR10, CIFAR100

    return CIFAR10 if name == "cifar10" else CIFAR100


def _cifar_files(name: str) -> list[str]:
    cls = _cifar_class(name)
    return [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]


def _cifar_present(root: Path, name: str) -> bool:
    folder = root / _cifar_class(name).base_folder
    return all((folder / f).is_file() for f in _cifar_files(name))


def _read_cifar(name: str, root: Path):
    cls = _cifar_class(name)
    try:
        splits = [cls(str(root), train=train, download=False) for train in (True, False)]
    except RuntimeError as exc:
        raise DataError(f"{name} files in {root / cls.base_folder} are damaged ({exc}); delete them to "
                        "download again") from None
    out = []
    for split in splits:
        out.append(torch.from_numpy(np.ascontiguousarray(split.data)).permute(0, 3, 1, 2).contiguous())
        out.append(torch.tensor(split.targets, dtype=torch.int64))
    return out


def _fashion_file(folder: Path, stem: str) -> Path:
    plain = folder / stem
    return plain if plain.is_file() else folder / f"{stem}.gz"


def _fashion_dir(root: Path) -> Path | None:
    """torchvision's layout under the data dir, a plain folder there, or Debian's package."""
    for folder in (root / "FashionMNIST" / "raw", root / "fashion-mnist", FASHION_SYSTEM_DIR):
        if all(_fashion_file(folder, f).is_file() for f in FASHION_FILES):
            return folder
    return None


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
        zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
        dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
        if zero != 0 or dtype != 0x08:
            raise ValueError("not an unsigned-byte IDX file")
        return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    except (OSError, EOFError, ValueError, struct.error) as exc:
        raise DataError(f"cannot read {path}: {exc}; delete it to download again") from None


def _read_fashion(folder: Path):
    arrays = [_read_idx(_fashion_file(folder, f)) for f in FASHION_FILES]
    train_x, train_y, test_x, test_y = (torch.from_numpy(a.copy()) for a in arrays)
    return train_x[:, None], train_y.long(), test_x[:, None], test_y.long()


def _expected(name: str, root: Path) -> str:
    if name == "fashion-mnist":
        return (f"{root / 'FashionMNIST' / 'raw'}/ or {FASHION_SYSTEM_DIR}/ with "
                f"{', '.join(f + '.gz' for f in FASHION_FILES)} (Debian: apt-get install dataset-fashion-mnist)")
    cls = _cifar_class(name)
    return f"{root / cls.base_folder}/ ({', '.join(_cifar_files(name))}) or {root / cls.filename}"


def _obtain(name: str, root: Path, download: bool) -> Path:
    """Extract an archive already in the data dir, else download through torchvision, else one clear line."""
    from torchvision.datasets import FashionMNIST

    is_fashion = name == "fashion-mnist"
    archive = None if is_fashion else root / _cifar_class(name).filename
    if archive is None or not archive.is_file():
        url = FashionMNIST.mirrors[0] if is_fashion else _cifar_class(name).url
        reason = "downloads are off" if not download else _unreachable(url)
        if reason:
            raise DataError(
                f"{name} is not in {root}: expected {_expected(name, root)}, and it cannot be downloaded "
                f"({reason}). Put the files there, point --data-dir or ${DATA_DIR_ENV} at them, or train on "
                f"an image folder tree with --dataset {FOLDER_PREFIX}PATH (PATH/train/<class>/*.jpg and "
                "PATH/test/<class>/*.jpg)"
            )
    try:
        root.mkdir(parents=True, exist_ok=True)
        if is_fashion:
            FashionMNIST(str(root), train=True, download=True)
            return root / "FashionMNIST" / "raw"
        _cifar_class(name)(str(root), train=True, download=True)
        return root / _cifar_class(name).base_folder
    except (OSError, RuntimeError) as exc:
        raise DataError(f"{name} could not be downloaded into {root} ({exc}); expected "
                        f"{_expected(name, root)}, or use --dataset {FOLDER_PREFIX}PATH") from None


def _unreachable(url: str) -> str:
    """'' if the download host answers, else why not: a fast check so offline runs fail in seconds."""
    parts = urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        return f"no network: {parts.hostname} unreachable, {exc.strerror or exc}"
    return ""


# -------------------------------------------------------------------------------------------------- folders


class _Folder:
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


# ------------------------------------------------------------------------------------------------ synthetic


def _synthetic(size: int, subset: int | None) -> Dataset:
    """Oriented colour gratings: 5 orientations x 2 colour tones, random phase, frequency and contrast, plus
    noise. Learnable by a small CNN within one epoch, far from trivial for a linear model; always the same
    images for the same size."""
    info = replace(BUILTIN["synthetic"], image_size=size)
    gen = torch.Generator().manual_seed(20160224)  # SqueezeNet's arXiv date
    splits = []
    for n in SYNTHETIC_SIZES:
        n = min(n, subset) if subset else n
        labels = torch.arange(n) % 10
        labels = labels[torch.randperm(n, generator=gen)]
        splits += [_gratings(labels, size, gen), labels]
    return _make(info, *splits, source="generated")


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


# ---------------------------------------------------------------------------------------------- on a device


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
