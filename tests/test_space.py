import math
import typing
from enum import Enum

import pytest

from dse.errors import DesignError
from dse.space import (
    METAPARAMETERS,
    PARAMS,
    PRESETS,
    SWEEPABLE,
    Bypass,
    DesignPoint,
    Head,
    Norm,
    Stem,
    fire_widths,
    format_value,
    label,
    min_input_size,
    param,
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


# ------------------------------------------------------------------------------------------------ parameter table


def test_the_table_holds_the_sweepable_fields_with_the_dataclass_types():
    types = typing.get_type_hints(DesignPoint)
    assert SWEEPABLE == (*METAPARAMETERS, "bypass")
    for name, p in PARAMS.items():
        assert p.name == name and name in types
        assert p.integer == (types[name] is int)
        assert (p.kind == "choice") == issubclass(types[name], Enum)
    assert PARAMS["bypass"].choices == tuple(b.value for b in Bypass)


@pytest.mark.parametrize("name", [n for n, p in PARAMS.items() if p.kind == "number"])
def test_each_number_range_is_valid_at_both_ends_and_its_steps_fit(name):
    p = PARAMS[name]
    assert p.low < p.high
    for value in p.range:
        DesignPoint(**{name: value})  # the ends are valid points (the trainability check trains them)
    assert p.sweep_step > 0 and (p.search_step is None or (p.high - p.low) / p.search_step == int(
        (p.high - p.low) / p.search_step))
    low, high, step = p.search_bounds
    assert (low, high) == p.range and (step == 1 if p.integer and p.search_step is None else step == p.search_step)


def test_values_read_as_the_paper_writes_them():
    assert format_value("pct3x3", 0.125) == "12.5%" and format_value("pct3x3", 0.99) == "99%"
    assert format_value("sr", 0.125) == "0.125" and format_value("base_e", 64.0) == "64.0"
    assert format_value("bypass", "simple") == "simple" and format_value("sr", None) == "?"
    assert format_value("not_in_the_table", 1 / 3) == "0.3333"  # a study dse did not make
    assert format_value("sr", 1.0) == "1.0" and format_value("pct3x3", 0.5) == "50%"  # the CLI and the report alike
    assert format_value("sr", 0.12345) == "0.1235"  # rounded half up, as dse.fmt.number rounds (binary: 0.1234)
    assert label("sr") == "SR" and label("pct3x3") == "pct3x3" and label("other") == "other"


def test_the_papers_panels_and_what_they_hold():
    assert PARAMS["sr"].paper.figure == "Figure 3(a)" and PARAMS["pct3x3"].paper.held == (("sr", 0.5),)
    assert [n for n, p in PARAMS.items() if p.paper] == ["sr", "pct3x3"]


def test_an_unknown_parameter_is_named_with_the_known_ones():
    with pytest.raises(DesignError, match="sweepable: base_e, incr_e, freq, sr, pct3x3, bypass"):
        param("width")
    assert param("sr") is PARAMS["sr"]
