"""A really trained tiny network, shared by the weights, export and artifact tests: a few SGD steps on the
synthetic gratings on the CPU, its test top-1 measured in fp32 (what a run on a CPU records)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

from dse.data import Dataset, DeviceData, load_dataset
from dse.model import build_model
from dse.space import DesignPoint
from dse.train import evaluate

TINY = DesignPoint(base_e=16, incr_e=16, dropout=0.0)  # the cifar stem at 32 px; v1_1's learns nothing this fast


@dataclass(frozen=True, eq=False)
class Trained:
    model: torch.nn.Module
    point: DesignPoint
    data: Dataset
    top1: float  # % on the test split, fp32 on the CPU


@lru_cache(maxsize=1)
def trained_tiny(epochs: int = 3) -> Trained:
    data = load_dataset("synthetic", subset=512)
    point = TINY.for_data(data.info.num_classes, data.info.in_channels, data.info.image_size)
    torch.manual_seed(0)
    model = build_model(point)
    device_data = DeviceData(data, "cpu")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        order = device_data.train_order(gen)
        for step in range(device_data.steps_per_epoch(32)):
            x, y = device_data.train_batch(order[step * 32:(step + 1) * 32], gen, augment=False)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    return Trained(model, point, data, test_top1(model, data))


def test_top1(model, data: Dataset) -> float:
    """Top-1 % on the test split, by training's evaluation loop on the CPU in fp32."""
    return evaluate(model, DeviceData(data, "cpu").eval_batches("test", 500), data.info.num_classes)[0]


test_top1.__test__ = False  # a helper, not a test


def pack_trained(t: Trained, precision: str = "fp32", **record):
    from dse.weights import pack

    return pack(t.model, t.point, precision=precision, mean=t.data.mean, std=t.data.std,
                probe_images=t.data.test_images, probe_labels=t.data.test_labels,
                record={"dataset": t.data.info.name, "top1": t.top1, **record})


def dse_study(directory, name: str = "demo", *, url: str | None = None, artifacts=None):
    """A study laid out as a dse sweep records it: the `dse` definition, trial 0 trained with its weights kept,
    trial 1 complete without weights. SQLite in `directory` unless `url` names a database (then `artifacts` is
    its store). Returns (path or url, study)."""
    import optuna

    from dse.plan import cost
    from dse.study.artifacts import store_for, store_weights

    t = trained_tiny()
    path = url or directory / "studies" / f"{name}.db"
    if url is None:
        path.parent.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(storage=url or f"sqlite:///{path}", study_name=name, direction="maximize")
    study.set_user_attr("dse", {"kind": "sweep", "dataset": "synthetic", "point": t.point.to_dict()})
    store = store_for(path, artifacts, create=True)
    for number, keep in ((0, True), (1, False)):
        trial = study.ask()
        trial.set_user_attr("point", t.point.to_dict())
        trial.set_user_attr("size_mb", cost(t.point).size_mb)
        trial.set_user_attr("top1", t.top1 - number)
        if keep:
            store_weights(trial, pack_trained(t, "fp16"), store)
        study.tell(trial, t.top1 - number)
    return path, study
