"""The built-in datasets: CIFAR-10, CIFAR-100 and Fashion-MNIST, read from the data dir (torchvision's layout, a
plain folder, or Debian's package), downloaded through torchvision when they are missing, or one clear line saying
which files were expected where."""

from __future__ import annotations

import gzip
import socket
import struct
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
import torch.nn.functional as F

from dse.data.cache import CACHE_DIR, cached, fingerprint, read_cache
from dse.data.dataset import DATA_DIR_ENV, Dataset, DatasetInfo
from dse.data.folder import FOLDER_PREFIX
from dse.errors import DataError

FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
PROBE_TIMEOUT_S = 3.0

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
INFOS: dict[str, DatasetInfo] = {
    "cifar10": DatasetInfo("cifar10", 10, 3, 32, CIFAR10_CLASSES),
    "cifar100": DatasetInfo("cifar100", 100, 3, 32, CIFAR100_CLASSES),
    "fashion-mnist": DatasetInfo("fashion-mnist", 10, 1, 28, FASHION_CLASSES),
}


def load_builtin(info: DatasetInfo, root: Path, image_size: int | None, download: bool) -> Dataset:
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
            data = read_cache(cache, info, "", str(cache))
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

    return cached(info, root, key, fingerprint(files), build, str(source))


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
