import json

import pytest
from typer.testing import CliRunner

from dse.cli import app
from dse.space import format_value

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_v1_0_table_shows_the_papers_parameters_and_size():
    result = run("arch", "--preset", "squeezenet1_0", "--num-classes", "1000", "--input-size", "224")
    assert result.exit_code == 0, result.output
    assert "1,248,424" in result.output and "4.8 MB" in result.output
    for layer in ("conv1", "fire2", "fire9", "conv10", "avgpool10"):
        assert layer in result.output


def test_v1_1_and_sr_half():
    assert "1,235,496" in run("arch", "--preset", "squeezenet1_1").output
    assert "13.0 MB" in run("arch", "--preset", "squeezenet1_0", "--sr", "0.5").output


def test_the_table_title_spells_values_as_the_report_does():
    text = " ".join(run("arch", "--sr", "1", "--pct3x3", "0.25").output.split())
    assert f"SR {format_value('sr', 1.0)}, pct3x3 {format_value('pct3x3', 0.25)}," in text  # SR 1.0, pct3x3 25%
    assert "SR 1.0, pct3x3 25%," in text


def test_json_carries_the_cost_and_layers():
    result = run("arch", "--sr", "0.5", "--pct3x3", "0.25", "--dataset", "synthetic", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"params", "size_mb", "macs", "imagenet_size_mb", "layers"} <= set(data)
    assert data["point"]["stem"] == "cifar" and data["point"]["sr"] == 0.5
    assert sum(layer["params"] for layer in data["layers"]) == data["params"]
    assert data["layers"][2]["s1x1"] == 64 and data["layers"][2]["e3x3"] == 32


def test_dataset_sets_classes_channels_and_input(tmp_path):
    data = json.loads(run("arch", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path), "--json").output)
    assert (data["point"]["num_classes"], data["point"]["in_channels"], data["point"]["input_size"]) == (10, 1, 28)


def test_help_says_what_arch_describes_without_a_dataset():
    """Without --dataset, arch describes the ImageNet-shaped point, and its help says so with those numbers."""
    help_text = " ".join(runner.invoke(app, ["arch", "--help"], env={"COLUMNS": "200"}).stdout.replace("│", "").split())
    data = json.loads(run("arch", "--json").output)["point"]
    size = data["input_size"]
    shape = f"ImageNet's shape, {data['num_classes']} classes, {data['in_channels']}x{size}x{size} input"
    assert f"[default: none: {shape}]" in help_text, help_text
    assert (data["num_classes"], data["input_size"], data["stem"]) == (1000, 224, "imagenet")


@pytest.mark.parametrize(
    "args,words",
    [
        (["--sr", "0"], "sr (squeeze ratio) must be in (0, 1]"),
        (["--pct3x3", "2"], "pct3x3 must be in [0, 1]"),
        (["--freq", "0"], "freq must be >= 1"),
        (["--preset", "resnet50"], "unknown preset"),
        (["--input-size", "5", "--stem", "imagenet"], "too small"),
        (["--dataset", "imagenet22k"], "unknown dataset"),
    ],
)
def test_bad_values_exit_non_zero_with_one_line(args, words):
    result = run("arch", *args)
    assert result.exit_code == 2
    assert words in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_bad_choice_is_rejected_by_the_parser():
    result = run("arch", "--bypass", "sideways")
    assert result.exit_code == 2 and "sideways" in result.output
