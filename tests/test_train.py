import dataclasses
import json
import logging
import math

import pytest
import torch
import torch.nn.functional as F
from dse_testdata import CIFAR_SOURCES, cifar10_folder

from dse.data import DeviceData, load_dataset, take_subset
from dse.errors import DesignError, DseError
from dse.plan import cost
from dse.space import DesignPoint, Norm
from dse.train import (
    NO_NORM_RECIPE,
    DeviceError,
    Diverged,
    Recipe,
    RunResult,
    TrainingFailed,
    autocast_bf16,
    cpu_has_native_bf16,
    evaluate,
    recipe_for,
    resolve_device,
    time_steps,
    train,
)
from dse.train.bench import bench
from dse.train.graph import GRAPH_WARMUP_STEPS
from dse.train.loop import Session

# a narrow point (the cifar stem as sweeps use it): a real network, seconds per run on 2 CPU cores
TINY = DesignPoint(base_e=32, incr_e=32).for_data(10, 3, 32)
QUICK = Recipe(epochs=1, batch_size=64, lr=0.1)
AUTO_CPU_DTYPE = "bf16" if cpu_has_native_bf16() else "fp32"  # what precision auto trains in on this CPU


@pytest.fixture(scope="module")
def synthetic():
    return take_subset(load_dataset("synthetic", subset=2000), 2000, test=500)


@pytest.fixture(scope="module")
def small():
    return load_dataset("synthetic", subset=256)


def test_one_epoch_on_2000_synthetic_images_beats_chance_clearly(synthetic):
    seen = []
    result = train(TINY, synthetic, QUICK, device="cpu", on_epoch=lambda e, top1: seen.append((e, top1)))
    assert result.top1 > 25, result  # chance is 10%, its standard error 1.3 points here
    # on_epoch gets the validation top-1 (what pruning reads); test is measured beside it
    assert seen == [(1, result.val_top1)] and result.epoch_val_top1 == (result.val_top1,)
    assert result.epoch_top1 == (result.top1,) and result.val_top1 > 25
    assert result.top1 <= result.top5 <= 100 and math.isfinite(result.loss)
    assert result.train_images == 1800 and result.val_images == 200 and result.test_images == 500
    assert result.epochs == 1
    assert result.images_per_second > 0 and 0 < result.eval_seconds < result.train_seconds
    assert result.device.startswith("cpu") and result.dtype == AUTO_CPU_DTYPE
    assert result.peak_memory_mb == 0


def test_result_carries_the_analytic_cost_point_and_recipe(small):
    result = train(TINY, small, QUICK, device="cpu")
    c = cost(TINY)
    assert (result.params, result.size_mb, result.macs, result.imagenet_size_mb) == (
        c.params, c.size_mb, c.macs, c.imagenet_size_mb)
    data = json.loads(json.dumps(result.to_dict()))
    assert DesignPoint.from_dict(data["point"]) == TINY and Recipe.from_dict(data["recipe"]) == QUICK
    for key in ("top1", "top5", "loss", "epochs", "train_seconds", "images_per_second", "peak_memory_mb",
                "device", "epoch_top1", "params", "size_mb", "macs", "imagenet_size_mb"):
        assert key in data
    assert isinstance(result, RunResult)


def test_same_seed_same_numbers_other_seed_other_numbers(small):
    recipe = QUICK.replace(epochs=2)
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = train(TINY, small, recipe, device="cpu")
    assert torch.equal(torch.rand(3), before)  # the caller's RNG state is left alone
    b = train(TINY, DeviceData(small, "cpu"), recipe, device="cpu")  # data already on the device: the same
    c = train(TINY, small, recipe.replace(seed=1), device="cpu")
    assert (a.loss, a.top1, a.epoch_top1) == (b.loss, b.top1, b.epoch_top1)
    assert a.loss != c.loss


def test_test_labels_cannot_change_any_choice(small):
    """Train twice with the same seed, the second time with the test labels shuffled: every number that
    chooses (validation metrics, what on_epoch sees) is identical; only the test numbers may move."""
    from dataclasses import replace

    assert small.num_val > 0
    recipe = QUICK.replace(epochs=2)
    poisoned = replace(small, test_labels=small.test_labels[torch.randperm(small.num_test,
                                                                           generator=torch.Generator().manual_seed(5))])
    assert not torch.equal(poisoned.test_labels, small.test_labels)
    seen: dict[str, list] = {"clean": [], "poisoned": []}
    clean = train(TINY, small, recipe, device="cpu", on_epoch=lambda e, v: seen["clean"].append((e, v)))
    bad = train(TINY, poisoned, recipe, device="cpu", on_epoch=lambda e, v: seen["poisoned"].append((e, v)))
    assert seen["clean"] == seen["poisoned"] and len(seen["clean"]) == 2
    assert (clean.val_top1, clean.val_top5, clean.val_loss, clean.epoch_val_top1) == (
        bad.val_top1, bad.val_top5, bad.val_loss, bad.epoch_val_top1)
    assert clean.loss != bad.loss  # the poison reached the test split, and only it


def test_absurd_learning_rate_is_reported_as_diverged(small):
    with pytest.raises(Diverged) as err:
        train(TINY, small, QUICK.replace(lr=1e9, epochs=2), device="cpu", check_every=1)
    assert err.value.epoch == 1 and "diverged" in str(err.value) and isinstance(err.value, TrainingFailed)
    assert isinstance(err.value, DseError)


def test_on_epoch_may_stop_the_run(small):
    class Pruned(Exception):
        pass

    def prune(epoch, top1):
        raise Pruned(epoch)

    with pytest.raises(Pruned):
        train(TINY, small, QUICK.replace(epochs=3), device="cpu", on_epoch=prune)


def test_a_point_not_adapted_to_the_data_is_refused(small):
    with pytest.raises(DesignError, match="for_data"):
        train(DesignPoint(), small, QUICK, device="cpu")
    with pytest.raises(DesignError, match="100 classes"):
        train(TINY.replace(num_classes=100), small, QUICK, device="cpu")


def test_recipes():
    assert recipe_for(TINY) == Recipe() and recipe_for(TINY.replace(norm=Norm.none)) == NO_NORM_RECIPE
    assert recipe_for(TINY, lr=0.5, epochs=None).lr == 0.5
    assert NO_NORM_RECIPE.grad_clip > 0 and NO_NORM_RECIPE.lr < Recipe().lr
    assert Recipe.from_dict(Recipe().to_dict()) == Recipe()
    assert Recipe().step == "auto" and Recipe.from_dict({"step": "graph"}).step == "graph"
    for bad in ({"epochs": 0}, {"lr": -1.0}, {"precision": "fp8"}, {"warmup": 1.5}, {"step": "cuda-graph"}):
        with pytest.raises(DesignError):
            Recipe(**bad)


def test_devices():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            resolve_device("cuda:0")


@pytest.mark.slow
def test_norm_none_learns_with_its_recipe(synthetic):
    """The paper's lr (0.04, no warm-up) leaves this network at exactly 10%; its recipe learns."""
    point = TINY.replace(norm=Norm.none)
    result = train(point, synthetic, recipe_for(point, epochs=2, batch_size=64), device="cpu")
    assert result.top1 > 15, result


def test_bench_reports_throughput(small):
    result = bench(TINY, small, device="cpu", batch_size=32, steps=3, warmup_steps=1)
    assert result.images_per_second > 0 and result.batch_size == 32 and result.dtype == AUTO_CPU_DTYPE
    assert result.epoch_seconds == pytest.approx(50_000 / result.images_per_second)


@pytest.mark.slow
@pytest.mark.xdist_group("cifar10-cache")  # one process decodes the copy once; the other test reads its cache
@pytest.mark.parametrize("source", CIFAR_SOURCES)
def test_a_short_run_on_a_cifar10_subset_beats_chance_clearly(request, source):
    cache = request.config.cache.mkdir("dse-data")
    root = cifar10_folder(cache, source)
    data = take_subset(load_dataset(f"folder:{root}", cache), 2000, test=500)
    result = train(TINY, data, Recipe(epochs=4, batch_size=64, lr=0.1), device="cpu")
    assert result.top1 > 15, result  # chance is 10% (standard error 1.3 points on 500 images); seeds 0-2: 19-23%


# -- the CUDA-graph step (dse.train.graph.StaticStep): on a CPU the same step runs uncaptured, or its capture fails

# BatchNorm, dropout, augmentation with flips, gradient clipping, weight decay, Nesterov: every part of the step
EXACT = Recipe(epochs=1, batch_size=16, lr=0.05, grad_clip=0.5, precision="fp64", warmup=0.5)
NARROW = DesignPoint(base_e=16, incr_e=16, norm=Norm.batch).for_data(10, 3, 32)


@pytest.fixture(scope="module")
def flips():
    """64 synthetic images with flips on (their classes are orientations, but here only the step matters)."""
    data = take_subset(load_dataset("synthetic", subset=96), 64, test=32)
    return dataclasses.replace(data, info=dataclasses.replace(data.info, hflip=True))


def _state_after(session: Session, steps: int) -> dict[str, torch.Tensor]:
    """Parameters, buffers and momenta after `steps` steps through `Session.advance`: the eager step (lr a number,
    a fresh index tensor per step) or the graph step (lr a tensor the optimizer reads, a static index buffer)."""
    with session.seeded():
        session.build()
        indices = session.index_batches()
        for i in range(steps):
            session.advance(next(indices), session.lr_at(i))
    state = dict(session.model.state_dict())
    state.update({f"momentum{i}": session.optimizer.state[p]["momentum_buffer"] for i, p in enumerate(session.params)})
    state["loss_sum"] = session.loss_sum
    return state


@pytest.mark.slow  # three trainings of two epochs (the quick lane runs both steps: test_bench_levers.py)
def test_graph_step_gives_the_parameters_of_the_eager_step(flips, caplog):
    """Tensor lr, static index buffer, batch made inside the step: bit for bit today's eager step, in fp64, over
    more than one epoch (the data order is redrawn); and so is a run whose capture fails (here: no CUDA)."""
    cpu = torch.device("cpu")
    small = flips
    steps = 2 * (small.num_train // 16) + 3
    eager = Session(NARROW, small, EXACT.replace(step="eager"), cpu, False)
    want = _state_after(eager, steps)
    static = Session(NARROW, small, EXACT.replace(step="graph"), cpu, False)
    got = _state_after(static, steps)
    assert eager.step_ran == "eager" and eager.static is None
    assert static.step_ran == "static" and static.static.graph is None
    with caplog.at_level(logging.WARNING, logger="dse.train.graph"):
        failing = Session(NARROW, small, EXACT.replace(step="graph"), cpu, False, capture=True)
        fell_back = _state_after(failing, steps)
    assert failing.step_ran == "eager" and failing.static.eager_steps == GRAPH_WARMUP_STEPS
    assert [r.message for r in caplog.records if "capture failed" in r.message][0].count("\n") == 0
    assert len([r for r in caplog.records if "capture failed" in r.message]) == 1
    assert want.keys() == got.keys() == fell_back.keys() and len(want) > 10
    assert any(k.endswith("running_mean") for k in want) and want["loss_sum"] != 0
    for key in want:
        assert torch.equal(want[key], got[key]), key
        assert torch.equal(want[key], fell_back[key]), key
    assert want["conv1.0.weight"].dtype == torch.float64


@pytest.mark.slow  # three trainings of two epochs (the quick lane runs both steps: test_bench_levers.py)
def test_train_records_the_step_that_ran(flips):
    small = flips
    eager = train(NARROW, small, EXACT.replace(epochs=2, step="eager"), device="cpu")
    static = train(NARROW, small, EXACT.replace(epochs=2, step="graph"), device="cpu")
    auto = train(NARROW, small, EXACT.replace(epochs=2), device="cpu")
    assert (eager.step, static.step, auto.step) == ("eager", "static", "eager")
    assert eager.epoch_top1 == static.epoch_top1 == auto.epoch_top1 and eager.loss == static.loss
    assert eager.dtype == "fp64" and static.recipe.step == "graph" and static.to_dict()["step"] == "static"


def test_time_steps_is_the_public_timer(flips):
    small = flips
    t = time_steps(NARROW, small, Recipe(batch_size=16, step="graph"), device="cpu", steps=2, warmup_steps=0)
    assert t.steps == 2 and t.batch_size == 16 and t.step == "static" and t.seconds > 0
    assert t.images_per_second == pytest.approx(32 / t.seconds)
    failed = time_steps(NARROW, small, Recipe(batch_size=16, step="graph"), device="cpu", steps=1, warmup_steps=0,
                        capture=True)
    assert failed.step == "eager"  # its capture was attempted (after the eager warm-up steps) and failed


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_an_explicit_precision_is_what_runs_and_is_recorded(small, precision):
    result = train(TINY, small, QUICK.replace(precision=precision), device="cpu")
    assert result.dtype == precision and result.recipe.precision == precision
    assert math.isfinite(result.loss) and result.top1 >= 0


def test_auto_precision_follows_the_cpu_and_always_bf16_on_cuda():
    cpu = torch.device("cpu")
    assert autocast_bf16("auto", cpu) is cpu_has_native_bf16()
    assert autocast_bf16("auto", torch.device("cuda")) is True
    assert autocast_bf16("fp32", cpu) is False and autocast_bf16("bf16", cpu) is True
    assert autocast_bf16("fp64", torch.device("cuda")) is False


def test_native_bf16_is_what_the_cpu_flags_say():
    """The one place that reads torch's private CPU queries agrees with the kernel's view of the CPU."""
    from pathlib import Path

    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file() or "flags" not in cpuinfo.read_text():
        pytest.skip("no /proc/cpuinfo flags here")
    flags = set(next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")).split())
    assert cpu_has_native_bf16() == bool(flags & {"avx512_bf16", "amx_bf16"})


def test_evaluate_counts_top1_top5_and_the_mean_loss_over_every_batch():
    """The one evaluation loop, on logits whose ranks are known (6 classes, so top-5 leaves out the lowest)."""
    logits = torch.tensor([[0.0, 5, 1, 2, 3, 4], [9, 0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5], [1, 0, 0, 0, 0, 0]])
    labels = torch.tensor([1, 1, 0, 0])  # right; the lowest (not in the top 5); the lowest; right
    batches = [(logits[:3], labels[:3]), (logits[3:], labels[3:])]
    top1, top5, loss = evaluate(lambda x: x, batches, 6)
    assert top1 == 50.0 and top5 == 50.0
    assert loss == pytest.approx(F.cross_entropy(logits, labels).item())
    assert evaluate(lambda x: x, [(logits[:, :3], labels)], 3)[1] == 100.0  # top-k with k = classes
    top1, _, loss = evaluate(lambda x: x, [], 6)
    assert top1 == 0.0 and math.isnan(loss)
