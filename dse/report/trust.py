"""What a reader must know before trusting a number: what the accuracies were measured on (dataset, epochs,
seeds: a brief-training proxy is never to be read as the paper's ImageNet training), the warnings for results
near chance or trained in too few steps, and which split chose (`layout.choosing_split`) and which measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from dse.report.frame import StudyData, expected_seeds
from dse.report.points import COMPLETE, point_stats
from dse.stats import chance_level, chance_warnings, interval_legend
from dse.study.layout import VALIDATION, choosing_split

_DATASET_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "fashion-mnist": "Fashion-MNIST",
                  "synthetic": "synthetic data", "imagenet": "ImageNet"}


@dataclass(frozen=True)
class Budget:
    """What the accuracies were measured on: every figure carries it so brief training is never read as the
    paper's."""

    dataset: str
    epochs: str
    seeds: str
    text: str
    short: str = ""  # without the proxy note, for listing several studies


def training_budget(data: StudyData) -> Budget:
    spec, frame = data.spec, data.frame
    dataset = dataset_label(spec.get("dataset"))
    recipe = spec.get("recipe") if isinstance(spec.get("recipe"), dict) else {}
    epochs: Any = recipe.get("epochs")
    if epochs is None:
        known = frame["epochs"].dropna()
        epochs = int(known.max()) if len(known) else None
    epoch_text = f"{epochs} epoch{'s' if epochs != 1 else ''}" if epochs is not None else "unknown epochs"
    subset = _first(spec, recipe, spec.get("dataset"), keys=("subset", "train_subset", "train_images"))
    if subset:
        epoch_text += f" on a {subset}-image subset"
    n_seeds = expected_seeds(spec)
    if n_seeds is None:
        per_point = frame[frame["state"] == COMPLETE].groupby("label").size()
        n_seeds = int(per_point.max()) if len(per_point) else None
    seeds = f"{n_seeds} seed{'s' if n_seeds != 1 else ''}" if n_seeds else "seeds unknown"
    full = dataset.lower() == "imagenet" and epochs is not None and int(epochs) >= 60
    note = "" if full else " — a brief-training proxy, not the paper's full ImageNet training"
    short = f"{dataset}, {epoch_text} per trial, {seeds} per point"
    return Budget(dataset, epoch_text, seeds, short + note, short)


_FORMATS = {"jpeg": "JPEG", "jpg": "JPEG", "png": "PNG", "webp": "WebP", "bmp": "BMP", "tiff": "TIFF",
            "images": "image", "img": "image"}


def dataset_label(dataset: Any) -> str:
    """A dataset as a reader names it: `CIFAR-10`, a folder `cifar10-jpeg` as `CIFAR-10 (JPEG folder)`, any other
    folder as `folder <name>`."""
    if isinstance(dataset, dict):
        dataset = dataset.get("name") or dataset.get("dataset")
    if not dataset:
        return "unknown dataset"
    text = str(dataset)
    if not text.startswith("folder:"):
        return _DATASET_NAMES.get(text.lower(), text)
    name = text.split(":", 1)[1].rstrip("/").split("/")[-1]
    stem, _, suffix = name.lower().replace("_", "-").rpartition("-")
    for known, pretty in _DATASET_NAMES.items():
        if known in ("synthetic", "imagenet") and stem != known:
            continue
        if stem in (known, known.replace("-", "")) and suffix in _FORMATS:
            return f"{pretty} ({_FORMATS[suffix]} folder)"
        if name.lower() in (known, known.replace("-", "")):
            return f"{pretty} (image folder)"
    return f"folder {name}"


def _first(*sources: Any, keys: tuple[str, ...]) -> Any:
    for source in sources:
        if isinstance(source, dict):
            for k in keys:
                if source.get(k):
                    return source[k]
    return None


def study_num_classes(data: StudyData) -> int | None:
    """Classes of the study's networks: the definition's point, else a trial's recorded point."""
    point = data.spec.get("point")
    if isinstance(point, dict) and isinstance(point.get("num_classes"), int):
        return int(point["num_classes"])
    if data.study is not None:
        for t in data.study.get_trials(deepcopy=False):
            p = t.user_attrs.get("point")
            if isinstance(p, dict) and isinstance(p.get("num_classes"), int):
                return int(p["num_classes"])
    return None


def study_train_images(data: StudyData) -> int | None:
    """Images trained on per epoch: the trials' `train_images` attr (after the validation hold-out) when the
    runner wrote it, else the definition's `subset` (studies from before the validation split trained on all of
    it), else unknown."""
    if "train_images" in data.frame:
        known = pd.to_numeric(data.frame["train_images"], errors="coerce").dropna()
        if len(known):
            return int(known.max())
    subset = data.spec.get("subset")
    return int(subset) if isinstance(subset, int) and subset > 0 else None


def study_batch_size(data: StudyData) -> int | None:
    recipe = data.spec.get("recipe")
    size = recipe.get("batch_size") if isinstance(recipe, dict) else None
    return int(size) if isinstance(size, int) and size > 0 else None


def study_warnings(data: StudyData, stats: pd.DataFrame | None = None) -> list[str]:
    """`chance_warnings` for this study's point means (test top-1) and training budget."""
    stats = point_stats(data) if stats is None else stats
    done = stats[stats["n"] > 0]
    return chance_warnings(zip(done["label"], done["top1_mean"], strict=True), study_num_classes(data),
                           train_images=study_train_images(data), batch_size=study_batch_size(data))


@dataclass(frozen=True)
class Selection:
    """Which split chooses (front, best) and which measures."""

    column: str  # point_stats column the choices are made on
    split: str  # "validation" | "test"
    text: str


def selection(stats: pd.DataFrame) -> Selection:
    """Validation top-1 where every completed trial of the points with a result recorded it
    (`layout.choosing_split`); else test top-1, said as a fallback."""
    done = stats[stats["n"] > 0]
    every_seed = done["val_top1_mean"].where(done["val_top1_n"] == done["n"])  # a point's mean over all its seeds
    if choosing_split(every_seed) == VALIDATION:
        return Selection("val_top1_mean", "validation",
                         "Chosen by validation top-1 (a held-out part of the training set); measured: test top-1, "
                         "which never chooses anything.")
    return Selection("top1_mean", "test",
                     "This study recorded no validation split, so choices here (Pareto front, best) fall back to "
                     "test top-1: the chosen points' test accuracy is optimistic. Measured: test top-1.")


def split_sentence(data: StudyData, stats: pd.DataFrame) -> str:
    """Which split chose what in this study, and which one every shown accuracy is measured on."""
    chosen = selection(stats)
    if chosen.split != "validation":
        return chosen.text
    f = data.frame

    def images(column: str) -> str:
        known = pd.to_numeric(f[column], errors="coerce").dropna() if column in f else pd.Series(dtype=float)
        return f"{int(known.max()):,} images" if len(known) else "size not recorded"

    if data.kind == "search":
        choices = "the search's sampler, the Pareto front and its numbering"
    else:
        prune = data.spec.get("prune")
        choices = (f"pruning (--prune {prune}) and " if prune and prune != "none" else "") + \
            "the best point in a comparison of studies (error EDF)"
    return (f"Which split chose and which measured: validation top-1 (a held-out part of the training data, "
            f"{images('val_images')}) chose {choices}; test top-1 ({images('test_images')}) is every accuracy "
            "shown in this report's figures and tables, and chose nothing.")


def chance_levels(data: StudyData) -> dict[str, float]:
    """Top-1 and top-5 of guessing (%) among the study's classes; {} where the number of classes is unknown."""
    n_classes = study_num_classes(data)
    return {m: chance_level(n_classes, k) for m, k in (("top1", 1), ("top5", 5))} if n_classes else {}


def interval_words(points: pd.DataFrame) -> dict[str, str]:
    """Per metric, the words for the bars drawn for these `point_stats` rows (those with a result)."""
    return {m: interval_legend(points[f"{m}_interval"], bool(points[f"{m}_clipped"].any())) for m in ("top1", "top5")}
