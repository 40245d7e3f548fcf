import os
import socket

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from dse_testdata import CIFAR_SOURCES, COPY, cifar10_folder, image_tree
from PIL import Image

from dse.data import (
    CACHE_DIR,
    VAL_FRACTION,
    DeviceData,
    dataset_info,
    load_dataset,
    split_validation,
    take_subset,
)
from dse.errors import DataError


@pytest.fixture(scope="module")
def synthetic():
    return load_dataset("synthetic", subset=600, val_fraction=0)


def test_synthetic_is_deterministic_balanced_and_described_by_its_info(synthetic):
    info = dataset_info("synthetic")
    assert (info.num_classes, info.in_channels, info.image_size) == (10, 3, 32) and not info.hflip
    assert synthetic.train_images.shape == (600, 3, 32, 32) and synthetic.train_images.dtype == torch.uint8
    assert synthetic.test_images.shape == (600, 3, 32, 32) and synthetic.test_labels.dtype == torch.int64
    assert torch.bincount(synthetic.train_labels).tolist() == [60] * 10
    again = load_dataset("synthetic", subset=600, val_fraction=0)
    assert torch.equal(again.train_images, synthetic.train_images)
    assert torch.equal(again.test_labels, synthetic.test_labels)
    assert 0.3 < synthetic.mean[0] < 0.7 and all(s > 0.05 for s in synthetic.std)


def test_synthetic_at_another_size():
    data = load_dataset("synthetic", image_size=48, subset=20, val_fraction=0)
    assert data.train_images.shape == (20, 3, 48, 48) and data.info.image_size == 48


def test_subset_keeps_the_first_images_of_each_class_balanced():
    labels = torch.tensor([0, 0, 0, 0, 1, 2, 1, 2, 2, 2])
    data = load_dataset("synthetic", subset=10)
    data = type(data)(data.info, data.train_images, labels, data.test_images, labels, data.mean, data.std, "x")
    small = take_subset(data, 5)
    assert small.train_labels.tolist() == [0, 0, 1, 2, 1]
    assert torch.equal(small.train_images, data.train_images[[0, 1, 4, 5, 6]])


def test_folder_of_mixed_sizes_modes_and_formats(tmp_path):
    root = image_tree(tmp_path / "tree", split_names=("train", "val"))
    name = f"folder:{root}"
    info = dataset_info(name)
    assert info.classes == ("cat", "dog", "eel") and info.in_channels == 3 and info.image_size == 32
    data = load_dataset(name, tmp_path / "cache", image_size=16, val_fraction=0)
    assert data.train_images.shape == (18, 3, 16, 16) and data.test_images.shape == (6, 3, 16, 16)
    assert data.train_labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6
    # each class is tinted by its own channel: decoding kept the colours apart
    means = data.train_images.float().mean((2, 3))
    for c in range(3):
        assert means[data.train_labels == c].mean(0).argmax().item() == c


def test_grayscale_folder_has_one_channel(tmp_path):
    root = image_tree(tmp_path / "gray", modes=[("L", (28, 28), "PNG"), ("L", (40, 20), "JPEG")])
    Image.fromarray(np.full((28, 28), 40000, np.uint16)).save(root / "test" / "dog" / "deep.png")  # 16-bit
    assert dataset_info(f"folder:{root}").in_channels == 1
    data = load_dataset(f"folder:{root}", tmp_path, image_size=28, val_fraction=0)
    assert data.train_images.shape == (18, 1, 28, 28) and data.num_test == 7
    assert (data.test_images[data.test_labels == 1] == 40000 >> 8).any()  # scaled to 8 bits, not clipped


def test_folder_cache_is_reused_and_stale_or_damaged_caches_are_rebuilt(tmp_path):
    root = image_tree(tmp_path / "tree")
    name, cache_root = f"folder:{root}", tmp_path / "data"
    first = load_dataset(name, cache_root, image_size=16)
    (cache,) = (cache_root / CACHE_DIR).glob("*.pt")
    stamp = cache.stat().st_mtime_ns
    again = load_dataset(name, cache_root, image_size=16)
    assert cache.stat().st_mtime_ns == stamp and torch.equal(again.train_images, first.train_images)

    Image.new("RGB", (20, 20), (0, 0, 255)).save(root / "train" / "eel" / "new.png")  # the source changed
    grown = load_dataset(name, cache_root, image_size=16, val_fraction=0)
    assert grown.num_train == 19 and grown.train_labels[-1].item() == 2

    cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])  # truncated
    assert torch.equal(load_dataset(name, cache_root, image_size=16, val_fraction=0).train_images, grown.train_images)

    blob = bytearray(cache.read_bytes())  # one flipped byte inside the image data
    blob[len(blob) // 2] ^= 0xFF
    cache.write_bytes(bytes(blob))
    assert torch.equal(load_dataset(name, cache_root, image_size=16, val_fraction=0).train_images, grown.train_images)


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "does not exist"),
    (lambda p: (p / "train" / "a").mkdir(parents=True), "needs train/ and test/"),
    (lambda p: [(p / s / c).mkdir(parents=True) for s in ("train", "test") for c in "ab"], "no image files"),
])
def test_bad_folders_are_one_clear_error(tmp_path, make, message):
    make(tmp_path / "ds")
    with pytest.raises(DataError, match=message):
        load_dataset(f"folder:{tmp_path / 'ds'}", tmp_path)


def test_undecodable_image_is_named(tmp_path):
    root = image_tree(tmp_path / "tree")
    (root / "train" / "cat" / "broken.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(DataError, match="broken.jpg"):
        load_dataset(f"folder:{root}", tmp_path)


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'imagenet'.*cifar10"):
        dataset_info("imagenet")


def test_offline_without_files_names_what_is_expected(tmp_path, monkeypatch):
    monkeypatch.setenv("DSE_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError("offline, yet the network was tried")

    monkeypatch.setattr(socket, "create_connection", no_network)  # every connection (probe, download) goes here
    for name, expected in (("cifar10", "cifar-10-batches-py"), ("cifar100", "cifar-100-python")):
        with pytest.raises(DataError) as err:
            load_dataset(name, tmp_path)
        message = str(err.value)
        assert expected in message and str(tmp_path) in message and "folder:PATH" in message
        assert "downloads are off" in message and "\n" not in message
    assert not any(tmp_path.iterdir())  # nothing half-downloaded


@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_the_debian_package(tmp_path, monkeypatch):
    info = dataset_info("fashion-mnist")
    assert (info.num_classes, info.in_channels, info.image_size) == (10, 1, 28)
    data = load_dataset("fashion-mnist", tmp_path, subset=100, val_fraction=0)
    assert data.train_images.shape == (100, 1, 28, 28) and data.test_images.shape == (100, 1, 28, 28)
    assert torch.bincount(data.train_labels).tolist() == [10] * 10

    def no_decoding(*args, **kwargs):
        raise AssertionError("an IDX file was decoded: the second load did not come from the cache")

    monkeypatch.setattr("gzip.open", no_decoding)  # the IDX decoder, gzipped files (Debian's) ...
    monkeypatch.setattr("numpy.frombuffer", no_decoding)  # ... or plain: from here on only the cache can serve
    full = load_dataset("fashion-mnist", tmp_path, val_fraction=0)  # from the cache written above
    assert (full.num_train, full.num_test) == (60000, 10000)


@pytest.mark.slow
@pytest.mark.xdist_group("cifar10-cache")  # one process decodes the copy once; the other test reads its cache
@pytest.mark.parametrize("source", CIFAR_SOURCES)
def test_cifar10_jpeg_copy_loads_and_then_comes_from_the_cache(request, monkeypatch, source):
    cache = request.config.cache.mkdir("dse-data")
    root = cifar10_folder(cache, source)
    name = f"folder:{root}"
    info = dataset_info(name)
    assert info.num_classes == 10 and info.in_channels == 3 and "airplane" in info.classes
    load_dataset(name, cache)  # decodes on the first run ever, then is cached

    def no_decoding(*args, **kwargs):
        raise AssertionError("images were decoded: the second load did not come from the cache")

    # from here on only the cache can give the images (reading a few headers for the channel count is no decoding)
    monkeypatch.setattr("dse.data.folder.decode_many", no_decoding)
    data = load_dataset(name, cache, subset=1000, val_fraction=0)
    assert (data.num_train, data.num_test) == (1000, 1000)
    assert torch.bincount(data.test_labels).tolist() == [100] * 10
    assert data.train_images.shape[1:] == (3, 32, 32)
    if source == COPY:
        assert 0.4 < data.mean[0] < 0.55  # CIFAR-10's red channel mean, 0.49


# ----------------------------------------------------------------------------------------- device batches


def epoch(dd: DeviceData, batch_size: int, gen: torch.Generator, *, augment: bool = True) -> list:
    """One epoch of (images, labels) batches as training draws them: a seeded order, then each step's batch."""
    order = dd.train_order(gen)
    b = dd.batch_size_for(batch_size)
    return [dd.train_batch(order[i * b:(i + 1) * b], gen, augment=augment) for i in range(dd.steps_per_epoch(b))]


def test_train_batches_are_normalised_channels_last_and_cover_each_epoch(synthetic):
    dd = DeviceData(synthetic, "cpu")
    gen = torch.Generator().manual_seed(0)
    batches = epoch(dd, 128, gen, augment=False)
    assert len(batches) == dd.steps_per_epoch(128) == 4
    x, y = batches[0]
    assert x.shape == (128, 3, 32, 32) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    labels = torch.cat([b[1] for b in batches])
    assert labels.numel() == len(set(labels.tolist())) or labels.numel() == 512  # a permutation, last batch dropped
    everything = torch.cat([b[0] for b in batches])
    assert abs(everything.mean().item()) < 0.1 and 0.85 < everything.std().item() < 1.15


def test_unaugmented_batches_are_the_images_themselves(synthetic):
    dd = DeviceData(synthetic, "cpu")
    x, y = next(dd.eval_batches("test", 50))
    mean = torch.tensor(synthetic.mean).view(1, 3, 1, 1)
    std = torch.tensor(synthetic.std).view(1, 3, 1, 1)
    expected = (synthetic.test_images[:50].float() / 255 - mean) / std
    assert torch.allclose(x, expected, atol=1e-5) and torch.equal(y, synthetic.test_labels[:50])


def test_augmentation_is_a_padded_crop_and_flip_and_is_seeded():
    data = load_dataset("synthetic", subset=64, val_fraction=0)
    data = type(data)(data.info.__class__(**{**data.info.__dict__, "hflip": True}), data.train_images,
                      data.train_labels, data.test_images, data.test_labels, data.mean, data.std, "x")
    dd = DeviceData(data, "cpu")
    a = epoch(dd, 16, torch.Generator().manual_seed(3))[0]
    b = epoch(dd, 16, torch.Generator().manual_seed(3))[0]
    assert torch.equal(a[0], b[0])
    order = torch.randperm(64, generator=torch.Generator().manual_seed(3))[:16]
    assert torch.equal(a[1], data.train_labels[order])
    padded = F.pad(data.train_images[order].float(), (4,) * 4)
    std = torch.tensor(data.std).view(1, 3, 1, 1)
    mean = torch.tensor(data.mean).view(1, 3, 1, 1)
    raw = (a[0] * std + mean) * 255
    flips = 0
    for i in range(16):  # each output is one of the 9 x 9 crops of the padded image, maybe flipped
        match = [(dy, dx, f) for dy in range(9) for dx in range(9) for f in (False, True)
                 if torch.allclose(raw[i], (lambda c: c.flip(-1) if f else c)(padded[i, :, dy:dy + 32, dx:dx + 32]),
                                   atol=1e-3)]
        assert match, f"image {i} is no padded crop"
        flips += match[0][2]
    assert 0 < flips < 16


# ----------------------------------------------------------------------------------------- validation split


def test_validation_is_held_out_of_train_seeded_and_class_balanced():
    data = load_dataset("synthetic", subset=600)  # the default: VAL_FRACTION of each class held out
    assert VAL_FRACTION == 0.1 and (data.num_train, data.num_val, data.num_test) == (540, 60, 600)
    assert torch.bincount(data.val_labels).tolist() == [6] * 10
    assert torch.bincount(data.train_labels).tolist() == [54] * 10
    whole = load_dataset("synthetic", subset=600, val_fraction=0)
    assert data.num_val + data.num_train == whole.num_train and whole.val_labels is None
    # disjoint, and together exactly the training split: no image is both trained on and validated on
    flat = lambda x: {bytes(img.numpy().tobytes()) for img in x}  # noqa: E731
    assert not flat(data.train_images) & flat(data.val_images)
    assert flat(data.train_images) | flat(data.val_images) == flat(whole.train_images)
    again = load_dataset("synthetic", subset=600)
    assert torch.equal(again.val_images, data.val_images)  # seeded: every trial validates on the same images
    other = split_validation(whole, 0.1, seed=1)
    assert not torch.equal(other.val_images, data.val_images) and "seed 1" in other.val_source
    with pytest.raises(DataError, match="validation fraction"):
        load_dataset("synthetic", subset=20, val_fraction=1.0)


def test_folder_with_train_val_and_test_uses_all_three_as_named(tmp_path):
    root = image_tree(tmp_path / "three", per_class=(6, 2, 3), split_names=("train", "test", "val"))
    data = load_dataset(f"folder:{root}", tmp_path / "cache", image_size=16)
    assert (data.num_train, data.num_test, data.num_val) == (18, 6, 9) and data.val_source == "folder val/"
    cached = load_dataset(f"folder:{root}", tmp_path / "cache", image_size=16)  # read back from the cache
    assert torch.equal(cached.val_images, data.val_images) and torch.equal(cached.val_labels, data.val_labels)
    two = image_tree(tmp_path / "two", per_class=(6, 2), split_names=("train", "val"))
    old = load_dataset(f"folder:{two}", tmp_path / "cache", image_size=16)  # val/ without test/: val/ is test
    assert old.num_test == 6 and old.num_val == 3 and old.num_train == 15 and old.val_source.startswith("held out")


def test_device_data_batches_the_validation_split(synthetic):
    data = split_validation(synthetic, 0.1)
    dd = DeviceData(data, "cpu")
    assert dd.num_val == 60 and dd.num_train == 540
    labels = torch.cat([y for _, y in dd.eval_batches("val", 25)])
    assert torch.equal(labels, data.val_labels)


def test_a_data_dir_that_is_a_file_is_one_refusal_and_an_unwritable_cache_costs_only_a_decode(tmp_path):
    """issue 19 item 9: `--data-dir` naming a file was a traceback (NotADirectoryError from the cache's cleanup)."""
    from dse.data.cache import write_cache
    from dse.data.dataset import data_root

    a_file = tmp_path / "afile"
    a_file.write_text("not a folder")
    with pytest.raises(DataError, match="is a file, not a folder"):
        data_root(a_file)
    data = load_dataset("synthetic", tmp_path / "data", subset=50, val_fraction=0)
    write_cache(a_file / ".dse-cache" / "x.pt", data, "fp")  # best effort: nothing written, nothing raised
    assert a_file.read_text() == "not a folder"


@pytest.mark.parametrize("kind", ["synthetic", "folder", "folder with val/"])
def test_the_planned_split_sizes_are_those_a_run_loads(tmp_path, kind):
    """What a dry run and the first estimate count without decoding is what training then loads (the validation
    hold-out rounds per class, so a few images either way)."""
    from dse.data import images_planned

    if kind == "synthetic":
        name, subset = "synthetic", 500
    else:
        splits = ("train", "test", "val") if kind == "folder with val/" else ("train", "test")
        image_tree(tmp_path / "tree", per_class=(12, 4, 3)[:len(splits)], split_names=splits)
        name, subset = f"folder:{tmp_path / 'tree'}", None
    planned = images_planned(name, subset, 0.25)
    data = load_dataset(name, data_dir=tmp_path, subset=subset, val_fraction=0.25)
    assert planned.test == data.num_test
    assert abs(planned.train - data.num_train) <= data.info.num_classes
    assert abs(planned.val - data.num_val) <= data.info.num_classes
    assert planned.train + planned.val == data.num_train + data.num_val
