import dataclasses

import pytest
import torch

from dse.data import load_dataset, take_subset
from dse.errors import DesignError
from dse.space import DesignPoint, Norm
from dse.train import Diverged, Recipe, RunResult, Session, train
from dse.train_batched import SeedBatch, time_seed_steps, train_seeds

# BatchNorm, dropout (0.5 before conv10), flips, clipping (per model), weight decay, Nesterov
NARROW = DesignPoint(base_e=16, incr_e=16, norm=Norm.batch).for_data(10, 3, 32)
EXACT = Recipe(epochs=2, batch_size=16, lr=0.05, grad_clip=0.5, precision="fp64", warmup=0.5)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def data():
    data = take_subset(load_dataset("synthetic", subset=96), 48, test=32)
    return dataclasses.replace(data, info=dataclasses.replace(data.info, hflip=True))


def test_each_stacked_model_is_its_separate_run(data):
    """After steps across an epoch boundary, model k's parameters, BatchNorm statistics and momenta are those of
    a separate run with seed k: float64, so the 1e-9 tolerance only covers summation order (fp32 rounding alone would
    be 1e-7; a wrong mask, order or init is O(1e-2))."""
    seeds, steps = (0, 3), 7
    batch = SeedBatch(NARROW, data, EXACT, seeds, CPU)
    batch.build()
    assert batch.dropouts and batch.dropouts[0][1] == 0.5
    orders = batch.index_batches()
    for i in range(steps):
        batch.advance(next(orders), batch.sessions[0].lr_at(i))
    momenta = [batch.optimizer.state[p]["momentum_buffer"] for p in batch.params.values()]
    for k, seed in enumerate(seeds):
        alone = Session(NARROW, data, EXACT.replace(seed=seed), CPU, False)
        with alone.seeded():
            alone.build()
            indices = alone.index_batches()
            for i in range(steps):
                alone.advance(next(indices), alone.lr_at(i))
        state = alone.model.state_dict()
        assert set(state) == set(batch.params) | set(batch.buffers)
        for name, value in state.items():
            stacked = (batch.params.get(name) if name in batch.params else batch.buffers[name])[k]
            torch.testing.assert_close(stacked.detach(), value, rtol=1e-9, atol=1e-11, msg=name)
        for stacked, p in zip(momenta, alone.params, strict=True):
            torch.testing.assert_close(stacked[k], alone.optimizer.state[p]["momentum_buffer"], rtol=1e-9,
                                       atol=1e-11)
        assert batch.loss_sum[k].item() == pytest.approx(alone.loss_sum.item(), rel=1e-10)
    # the seeds really differ (init, order, augmentation, dropout)
    assert not torch.allclose(batch.params["conv10.0.weight"][0], batch.params["conv10.0.weight"][1])


def test_train_seeds_returns_the_separate_runs_results(data):
    """Test and validation metrics of each seed, and what on_epoch is given (validation top-1, which chooses),
    are those of its separate run."""
    assert data.val_labels is not None and len(data.val_labels) > 0  # the fixture holds a validation split
    seen = []
    results = train_seeds(NARROW, data, EXACT, (0, 1), device="cpu",
                          on_epoch=lambda k, e, t: seen.append((k, e, t)))
    assert [(k, e) for k, e, _ in seen] == [(0, 1), (1, 1), (0, 2), (1, 2)]
    for k, (seed, r) in enumerate(zip((0, 1), results, strict=True)):
        told = []
        alone = train(NARROW, data, EXACT.replace(seed=seed), device="cpu",
                      on_epoch=lambda e, t, told=told: told.append(t))
        assert isinstance(r, RunResult) and r.step == "batched" and r.recipe.seed == seed
        assert r.loss == pytest.approx(alone.loss, rel=1e-10) and r.epoch_top1 == alone.epoch_top1
        assert (r.top5, r.params, r.macs, r.train_images) == (alone.top5, alone.params, alone.macs,
                                                               alone.train_images)
        assert r.val_loss == pytest.approx(alone.val_loss, rel=1e-10)
        assert (r.val_top1, r.val_top5, r.epoch_val_top1, r.val_images) == (
            alone.val_top1, alone.val_top5, alone.epoch_val_top1, alone.val_images)
        assert r.val_images == len(data.val_labels) and len(r.epoch_val_top1) == EXACT.epochs
        assert [t for j, _, t in seen if j == k] == told == list(alone.epoch_val_top1)


def test_without_a_validation_split_on_epoch_gets_test_top1(data):
    bare = dataclasses.replace(data, val_images=None, val_labels=None, val_source="")
    seen = []
    (r,) = train_seeds(NARROW, bare, EXACT.replace(epochs=1), (0,), device="cpu",
                       on_epoch=lambda k, e, t: seen.append(t))
    assert r.val_top1 is None and r.epoch_val_top1 == () and r.val_images == 0 and seen == list(r.epoch_top1)


def test_diverged_seeds_are_reported_in_place_and_bad_seeds_refused(data):
    results = train_seeds(NARROW, data, Recipe(epochs=1, batch_size=16, lr=1e9), (0, 1), device="cpu",
                          check_every=1)
    assert all(isinstance(r, Diverged) for r in results) and "seed 1" in str(results[1])
    for bad in ((), (1, 1)):
        with pytest.raises(DesignError, match="seeds"):
            train_seeds(NARROW, data, EXACT, bad, device="cpu")


def test_time_seed_steps_counts_every_model(data):
    t = time_seed_steps(NARROW, data, Recipe(batch_size=8), (0, 1, 2), device="cpu", steps=2, warmup_steps=0)
    assert (t.models, t.batch_size, t.step, t.steps) == (3, 8, "batched", 2)
    assert t.images_per_second == pytest.approx(3 * 8 * 2 / t.seconds)
