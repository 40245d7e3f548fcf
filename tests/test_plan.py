import json
from importlib import resources

import pytest

from dse.plan import Kind, Shortcut, cost, layer_plan, param_count
from dse.space import DesignPoint, preset

PAPER = json.loads(resources.files("dse").joinpath("reference/squeezenet-paper.json").read_text())


def test_v1_0_matches_the_papers_table_1_layer_by_layer():
    plan = {layer.name: layer.params for layer in layer_plan(preset("squeezenet1_0"))}
    for name, params in PAPER["table_1_parameters"].items():
        if name != "total":
            assert plan[name] == params, name
    assert cost(preset("squeezenet1_0")).params == PAPER["table_1_parameters"]["total"]


@pytest.mark.parametrize("name", ["squeezenet1_0", "squeezenet1_1"])
def test_totals_match_torchvision(name):
    assert cost(preset(name)).params == PAPER["torchvision"][name]["params"]


def test_sizes_match_the_papers_figure_3():
    """The paper labels its sizes roughly (4.8, 13, 19 MB); 4.8 and 13 agree to their digits, 19 to 3%."""
    base = preset("squeezenet1_0")
    assert round(cost(base).size_mb, 1) == 4.8
    assert round(cost(base.replace(sr=0.5)).size_mb) == 13
    points = PAPER["figure_3a_sr_sweep"]["points"] + [{"sr": 0.5, **PAPER["figure_3b_pct3x3_sweep"]["points"][0]}]
    for point in points:
        size = cost(base.replace(sr=point["sr"], pct3x3=point.get("pct3x3", 0.5))).size_mb
        assert size == pytest.approx(point["size_mb"], rel=0.03)


def test_simple_bypass_costs_nothing_and_complex_adds_1x1_convolutions():
    vanilla, simple, complex_ = (cost(preset(f"squeezenet1_0{v}")) for v in ("", "_simple_bypass", "_complex_bypass"))
    assert simple.params == vanilla.params
    assert complex_.params > vanilla.params
    shortcuts = {layer.name: layer.shortcut for layer in layer_plan(preset("squeezenet1_0_simple_bypass"))}
    assert [n for n, s in shortcuts.items() if s is Shortcut.identity] == ["fire3", "fire5", "fire7", "fire9"]
    complex_plan = layer_plan(preset("squeezenet1_0_complex_bypass"))
    assert [layer.name for layer in complex_plan if layer.shortcut is Shortcut.conv] == [
        "fire2", "fire4", "fire6", "fire8"]


def test_macs_match_torchvisions_published_flops():
    for name in ("squeezenet1_0", "squeezenet1_1"):
        assert round(cost(preset(name)).macs / 1e9, 2) == PAPER["torchvision"][name]["gflops"]


def test_pooling_layouts_place_max_pools_where_the_versions_do():
    def pools(point):
        return [layer.name for layer in layer_plan(point) if layer.kind is Kind.maxpool]

    assert pools(preset("squeezenet1_0")) == ["maxpool1", "maxpool4", "maxpool8"]
    assert pools(preset("squeezenet1_1")) == ["maxpool1", "maxpool3", "maxpool5"]


def test_cifar_stem_keeps_a_4x4_map_for_32_pixel_inputs():
    plan = layer_plan(DesignPoint().for_data(10, 3, 32))
    assert plan[0].out_size == 32
    assert [layer.out_size for layer in plan if layer.name == "conv10"] == [4]


def test_imagenet_equivalent_size_ignores_dataset_and_norm():
    base = DesignPoint(sr=0.5)
    assert cost(base.for_data(10, 1, 28)).imagenet_size_mb == cost(base.replace(norm="none")).size_mb
    assert cost(base.for_data(10, 1, 28)).size_mb < cost(base).size_mb  # 10 classes: a much smaller conv10


@pytest.mark.parametrize("norm", ["none", "batch"])
@pytest.mark.parametrize("version", ["squeezenet1_0", "squeezenet1_1"])
def test_each_bypass_layout_costs_what_its_shortcuts_add(version, norm):
    """Identity shortcuts are free; a 1x1 projection costs in x out weights plus a bias, or BatchNorm's scale and
    shift, and only where the plan puts one."""
    vanilla = preset(version).replace(norm=norm)
    plans = {b: layer_plan(vanilla.replace(bypass=b)) for b in ("none", "simple", "complex")}
    per_output = 2 if norm == "batch" else 1
    projections = [layer for layer in plans["complex"] if layer.shortcut is Shortcut.conv]
    assert [layer.in_channels != layer.out_channels for layer in projections] == [True] * 4
    extra = sum(layer.in_channels * layer.out_channels + per_output * layer.out_channels for layer in projections)
    assert cost(vanilla.replace(bypass="simple")).params == cost(vanilla).params
    assert cost(vanilla.replace(bypass="complex")).params == cost(vanilla).params + extra
    for bypass, plan in plans.items():
        identity = [layer.name for layer in plan if layer.shortcut is Shortcut.identity]
        assert identity == ([] if bypass == "none" else ["fire3", "fire5", "fire7", "fire9"])
        # BatchNorm fires with a shortcut are residual (add before the ReLU); the paper's are not
        assert [layer.name for layer in plan if layer.residual] == (
            [layer.name for layer in plan if layer.shortcut is not Shortcut.none] if norm == "batch" else [])


def test_head_is_part_of_the_plan_and_costs_nothing():
    relu, linear = (layer_plan(DesignPoint(head=h)) for h in ("relu", "linear"))
    assert [layer.relu for layer in relu if layer.name == "conv10"] == [True]
    assert [layer.relu for layer in linear if layer.name == "conv10"] == [False]
    assert param_count(relu) == param_count(linear)
    assert preset("squeezenet1_0").head.value == "relu" and DesignPoint().head.value == "linear"
