import math

import pytest

from dse.errors import DesignError
from dse.space import (
    PRESETS,
    Bypass,
    DesignPoint,
    Head,
    Norm,
    Stem,
    fire_widths,
    min_input_size,
    preset,
)


def test_v1_0_widths_follow_the_papers_formulas():
    widths = fire_widths(preset("squeezenet1_0"))
    assert [(w.squeeze, w.expand1x1, w.expand3x3) for w in widths] == [
        (16, 64, 64), (16, 64, 64), (32, 128, 128), (32, 128, 128),
        (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256),
    ]


@pytest.mark.parametrize("base_e,incr_e,freq,sr,pct", [(96, 32, 1, 0.3, 0.37), (10, 7, 3, 0.01, 0.99)])
def test_widths_formula_for_any_point(base_e, incr_e, freq, sr, pct):
    point = DesignPoint(base_e=base_e, incr_e=incr_e, freq=freq, sr=sr, pct3x3=pct)
    for i, w in enumerate(fire_widths(point)):
        e = base_e + incr_e * math.floor(i / freq)
        assert w.expand == e
        assert w.expand3x3 == round(pct * e)
        assert w.squeeze == max(1, round(sr * e))


@pytest.mark.parametrize("pct,empty", [(0.0, "expand3x3"), (1.0, "expand1x1")])
def test_extreme_pct3x3_drops_one_expand_branch(pct, empty):
    assert all(getattr(w, empty) == 0 for w in fire_widths(DesignPoint(pct3x3=pct)))


def test_tiny_squeeze_ratio_keeps_one_filter():
    assert min(w.squeeze for w in fire_widths(DesignPoint(base_e=8, incr_e=0, sr=0.001))) == 1


@pytest.mark.parametrize(
    "field,value,words",
    [
        ("sr", 0.0, "sr (squeeze ratio) must be in (0, 1]"),
        ("sr", 1.5, "sr (squeeze ratio) must be in (0, 1]"),
        ("pct3x3", -0.1, "pct3x3 must be in [0, 1]"),
        ("pct3x3", 1.01, "pct3x3 must be in [0, 1]"),
        ("base_e", 0, "base_e must be >= 1"),
        ("incr_e", -1, "incr_e must be >= 0"),
        ("freq", 0, "freq must be >= 1"),
        ("bypass", "sideways", "bypass must be one of none, simple, complex"),
        ("stem", "huge", "stem must be one of"),
        ("norm", "layer", "norm must be one of batch, none"),
        ("head", "softmax", "head must be one of relu, linear"),
        ("pooling", "v2", "pooling must be one of"),
        ("base_e", 1.5, "base_e must be an integer"),
        ("num_classes", 1, "num_classes must be >= 2"),
        ("input_size", 8, "too small for the imagenet stem"),
    ],
)
def test_invalid_fields_are_named_in_one_line(field, value, words):
    with pytest.raises(DesignError) as excinfo:
        DesignPoint(**{field: value})
    assert words in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_strings_become_enums_and_round_trip_through_dicts():
    point = DesignPoint(bypass="simple", stem="cifar", norm="none", head="relu", input_size=32)
    assert point.bypass is Bypass.simple and point.stem is Stem.cifar and point.norm is Norm.none
    assert point.head is Head.relu and point.to_dict()["head"] == "relu"
    assert DesignPoint.from_dict(point.to_dict()) == point
    legacy = {k: v for k, v in DesignPoint().to_dict().items() if k != "head"}  # a record from before `head`
    assert DesignPoint.from_dict(legacy).head is Head.relu and DesignPoint().head is Head.linear
    with pytest.raises(DesignError, match="unknown design field"):
        DesignPoint.from_dict({"sr": 0.5, "width": 3})


def test_presets_are_the_papers_networks():
    assert PRESETS["squeezenet1_0"].norm is Norm.none
    assert {p.head for p in PRESETS.values()} == {Head.relu} and DesignPoint().head is Head.linear
    assert PRESETS["squeezenet1_1"].stem is Stem.v1_1
    assert PRESETS["squeezenet1_0_simple_bypass"].bypass is Bypass.simple
    with pytest.raises(DesignError, match="unknown preset"):
        preset("alexnet")


def test_small_inputs_get_the_cifar_stem_and_imagenet_equivalent_undoes_it():
    small = DesignPoint().for_data(num_classes=10, in_channels=1, input_size=28)
    assert small.stem is Stem.cifar and small.num_classes == 10 and small.in_channels == 1
    big = small.imagenet_equivalent()
    assert (big.stem, big.num_classes, big.in_channels, big.input_size, big.norm) == (
        Stem.imagenet, 1000, 3, 224, Norm.none)


@pytest.mark.parametrize("stem", list(Stem))
def test_min_input_size_is_the_smallest_that_validates(stem):
    smallest = min_input_size(stem)
    DesignPoint(stem=stem, input_size=smallest)
    with pytest.raises(DesignError):
        DesignPoint(stem=stem, input_size=smallest - 1)
