import random

import pytest
import torch
import torchvision
from torch import nn

from dse.model import build_model, load_torchvision_state_dict
from dse.plan import cost
from dse.space import Bypass, DesignPoint, Norm, Pooling, Stem, min_input_size, pool_output, preset


@pytest.mark.parametrize("name", ["squeezenet1_0", "squeezenet1_1"])
def test_generated_network_is_torchvisions(name):
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)(num_classes=1000).eval()
    model = build_model(preset(name)).eval()
    load_torchvision_state_dict(model, reference.state_dict())
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        ours, theirs = model(x), reference(x)
    assert ours.shape == (2, 1000)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_torchvision_weights_do_not_fit_a_different_point():
    reference = torchvision.models.squeezenet1_0()
    with pytest.raises(ValueError, match="does not fit"):
        load_torchvision_state_dict(build_model(preset("squeezenet1_0").replace(sr=0.25)), reference.state_dict())


def random_point(rng: random.Random) -> DesignPoint:
    stem = rng.choice(list(Stem))
    return DesignPoint(
        base_e=rng.randint(1, 48),
        incr_e=rng.randint(0, 48),
        freq=rng.randint(1, 9),
        sr=rng.choice([rng.uniform(0.001, 1.0), 1.0]),
        pct3x3=rng.choice([0.0, 1.0, 0.5, rng.random()]),
        bypass=rng.choice(list(Bypass)),
        stem=stem,
        pooling=rng.choice(list(Pooling)),
        norm=rng.choice(list(Norm)),
        num_classes=rng.randint(2, 120),
        in_channels=rng.randint(1, 4),
        input_size=rng.randint(min_input_size(stem), 64),
    )


def test_parameter_count_equals_the_analytic_count_for_random_points():
    rng = random.Random(1234)
    points = [random_point(rng) for _ in range(300)]
    assert {p.bypass for p in points} == set(Bypass) and {p.stem for p in points} == set(Stem)
    for point in points:
        model = build_model(point)
        assert sum(p.numel() for p in model.parameters()) == cost(point).params, point


def test_random_points_run_forward_with_the_right_shape():
    rng = random.Random(99)
    for _ in range(30):
        point = random_point(rng)
        model = build_model(point).eval()
        with torch.no_grad():
            out = model(torch.randn(2, point.in_channels, point.input_size, point.input_size))
        assert out.shape == (2, point.num_classes)


@pytest.mark.parametrize("stem", list(Stem))
@pytest.mark.parametrize("size", ["min", 32, 64])
def test_every_stem_handles_small_and_large_inputs(stem, size):
    side = min_input_size(stem) if size == "min" else max(size, min_input_size(stem))
    point = DesignPoint(stem=stem, base_e=16, incr_e=16, num_classes=7, input_size=side)
    with torch.no_grad():
        assert build_model(point).eval()(torch.randn(1, 3, side, side)).shape == (1, 7)


def test_pool_output_matches_pytorch_ceil_mode():
    pool = nn.MaxPool2d(3, 2, ceil_mode=True)
    for side in range(3, 60):
        assert pool(torch.zeros(1, 1, side, side)).shape[-1] == pool_output(side)


def test_init_follows_torchvision():
    model = build_model(DesignPoint(num_classes=100))
    assert abs(model.conv10[0].weight.std().item() - 0.01) < 0.002
    assert all(not m.bias.detach().any() for m in model.modules() if isinstance(m, nn.Conv2d) and m.bias is not None)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in build_model(preset("squeezenet1_0")).modules())


def test_shortcuts_change_the_function_not_the_size_for_simple_bypass():
    torch.manual_seed(0)
    plain = build_model(preset("squeezenet1_0").replace(num_classes=10, input_size=64)).eval()
    torch.manual_seed(0)
    bypassed = build_model(preset("squeezenet1_0_simple_bypass").replace(num_classes=10, input_size=64)).eval()
    bypassed.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(plain(x), bypassed(x))


def test_a_residual_fire_starts_as_its_shortcut():
    """With BatchNorm a bypassed fire adds before its ReLU and its expand BatchNorms start at scale 0."""
    torch.manual_seed(0)
    model = build_model(DesignPoint(base_e=16, incr_e=16, bypass=Bypass.complex).for_data(10, 3, 32)).train()
    x = torch.randn(4, 3, 32, 32)
    seen = {}
    hooks = [getattr(model, name).register_forward_hook(lambda m, i, o, n=name: seen.update({n: (i[0], o)}))
             for name in ("fire2", "fire3")]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    fire3_in, fire3_out = seen["fire3"]
    assert (fire3_in >= 0).all()
    torch.testing.assert_close(fire3_out, fire3_in)  # identity shortcut, zero branch: relu(x) = x
    fire2_in, fire2_out = seen["fire2"]
    with torch.no_grad():
        torch.testing.assert_close(fire2_out, torch.relu(model.fire2.shortcut(fire2_in)))
    assert isinstance(model.fire2.shortcut[1], nn.BatchNorm2d)  # the projection is normalised


def test_the_papers_projection_has_a_bias_and_starts_at_zero():
    model = build_model(preset("squeezenet1_0_complex_bypass").replace(num_classes=10, input_size=64))
    projection = model.fire2.shortcut[0]
    assert projection.bias is not None and not projection.weight.detach().any()
    assert not model.fire2.residual and not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_the_relu_head_never_gives_negative_logits_and_the_linear_one_does():
    torch.manual_seed(0)
    x = torch.randn(8, 3, 32, 32)
    for head, negative in (("relu", False), ("linear", True)):
        model = build_model(DesignPoint(base_e=16, incr_e=16, head=head).for_data(10, 3, 32)).eval()
        with torch.no_grad():
            assert bool((model(x) < 0).any()) is negative, head
