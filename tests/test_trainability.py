"""Every part of the design space trains: tiny networks, synthetic images, a few dozen steps, one thread.

The recipe is the default one for the point's norm (`recipe_for`), with a small batch; a point trains when no
step's loss is non-finite and the mean loss of the last steps is below that of the first ones and below ln 10
(where a network whose ReLU head died stays).

Not slow: each bypass at the default head and norm, the paper's ReLU head, and the paper's complex shortcut
without BatchNorm (about 3 s of CPU each). Slow: the other bypass/head/norm combinations and the sweep over every
preset and corner. A run is a pure function of its point (fixed seed, data and recipe, one thread), so each
distinct point trains once per session and the corner sweep reuses the runs of the points it shares.
"""

import functools
import itertools
import math

import pytest
import torch

from dse.data import load_dataset, take_subset
from dse.space import PARAMS, Bypass, DesignPoint, Head, Norm, Stem
from dse.study.search import build_spec
from dse.train import recipe_for
from dse.train.check import check, check_points, corner_points, preset_points, step_losses

NARROW = {"base_e": 32, "incr_e": 32}  # the lower end of base_e's domain; narrower, SR 0.125 leaves 2 squeeze filters
BASE = DesignPoint(**NARROW).for_data(10, 3, 16)  # cifar stem, 16 px: a 2x2 map at conv10
STEPS, BATCH, WINDOW = 40, 32, 8


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.cache
def data_for(size: int):
    data = load_dataset("synthetic", image_size=size, subset=STEPS * BATCH, val_fraction=0)
    return take_subset(data, STEPS * BATCH, test=100)


def quick(point):
    """fp32 whatever the CPU: the verdicts (thresholds fitted to 40 steps) must not depend on whether this CPU
    trains in bf16 (`precision="auto"`)."""
    return recipe_for(point, epochs=1, batch_size=BATCH, precision="fp32")


@functools.cache
def trained(point):
    [row] = check({"": point}, data_for, quick, window=WINDOW)
    return row


def assert_trains(name, point):
    row = trained(point)
    assert not row.diverged, (name, row)
    assert row.trains, (name, row)


def test_the_corners_are_the_ends_of_a_default_search():
    search = dict(build_spec(dataset="synthetic").bounds)
    numbers = [name for name, p in PARAMS.items() if p.kind == "number"]
    assert {f"{n}={v}" for n in numbers for v in search[n][:2]} <= set(corner_points(BASE))


def test_the_check_covers_every_value_of_every_categorical_field_and_each_domain_end():
    corners = corner_points(BASE)
    for field, enum in (("bypass", Bypass), ("stem", Stem), ("norm", Norm), ("head", Head)):
        assert {getattr(p, field) for p in corners.values()} == set(enum)
    for name in ("base_e", "incr_e", "freq", "sr", "pct3x3"):
        for value in PARAMS[name].range:
            assert corners[f"{name}={value}"] == BASE.replace(**{name: value})  # one field changed
    presets = preset_points(10, 3, 16, **NARROW)
    assert len(presets) == 12 and {p.norm for p in presets.values()} == set(Norm)
    assert {p.head for name, p in presets.items()} == {Head.relu}  # the paper's head, even with BatchNorm


def test_per_step_losses_are_recovered_from_the_running_means():
    point = BASE.replace(bypass=Bypass.simple)
    recipe = quick(point).replace(epochs=2)
    data = take_subset(load_dataset("synthetic", image_size=16, subset=128, val_fraction=0), 128, test=50)
    result, losses = step_losses(point, data, recipe)
    assert len(losses) == 2 * 4 and all(math.isfinite(v) for v in losses)
    # the first step's loss is the first running mean; each loss is a cross-entropy of 10 classes (~ln 10 early)
    assert 1.0 < losses[0] < 4.0 and result.epochs == 2


FAST = {(Bypass.none, Head.linear), (Bypass.simple, Head.linear), (Bypass.complex, Head.linear),
        (Bypass.none, Head.relu), (Bypass.complex, Norm.none)}


def _cases(*values):
    """Each combination as a param, `slow` unless it is in FAST."""
    return [pytest.param(*combo, id="-".join(v.value for v in combo),
                         marks=() if combo in FAST else pytest.mark.slow)
            for combo in itertools.product(*values)]


@pytest.mark.parametrize("bypass, head", _cases(Bypass, Head))
def test_each_bypass_and_head_trains_at_the_default_recipe(bypass, head):
    assert_trains(f"{bypass.value}/{head.value}", BASE.replace(bypass=bypass, head=head))


@pytest.mark.parametrize("bypass, norm", _cases(Bypass, [Norm.none]))
def test_the_papers_shortcuts_train_without_batchnorm(bypass, norm):
    assert_trains(f"{bypass.value}/none", BASE.replace(bypass=bypass, norm=norm))


PAPERS = pytest.mark.xfail(reason="the paper's exact networks (presets: no BatchNorm, ReLU head) die to ln 10 in this "
                           "brief check: their ReLU head, not the recipe (squeezenet1_0 under NO_NORM_RECIPE and 8 "
                           "variants of it, lr 0.005-0.08, 3 seeds each: 1 run in 30 clearly above chance; all six "
                           "presets still at ln 10 after 160 steps; docs/training.md). Their BatchNorm variants train.",
                           strict=True)


def _marked(name, point):
    """The paper's exact presets are expected to stay at chance here (strict: the day one learns, this fails)."""
    return pytest.param(name, marks=PAPERS) if name.startswith("squeezenet") and point.norm is Norm.none else name


@pytest.mark.slow
@pytest.mark.parametrize("name", [_marked(name, point) for name, point in check_points(BASE, narrow=NARROW).items()])
def test_every_preset_and_corner_of_the_domain_trains(name):
    assert_trains(name, check_points(BASE, narrow=NARROW)[name])
