"""benchmarks/compare_levers.py in its tiny CPU mode: every lever's path runs, the table holds what ran."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_levers.py"


@pytest.fixture(scope="module")
def levers():
    spec = importlib.util.spec_from_file_location("compare_levers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _rows(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_tiny_speed_and_accuracy_tables(levers, capsys):
    args = ["--tiny", "--device", "cpu", "--points", "anchor", "--steps", "1", "--warmup", "0"]
    assert levers.main([*args, "--json", "--accuracy", "synthetic", "--subset", "32", "--epochs", "1"]) == 0
    rows = _rows(capsys)
    speed = [r for r in rows if r["table"] == "speed"]
    assert [(r["lever"], r["step"]) for r in speed] == [("eager", "eager"), ("graph", "static")]
    assert speed[0]["ratio"] == 1.0 and all(r["images_per_second"] > 0 and r["ratio"] > 0 for r in speed)
    acc = [r for r in rows if r["table"] == "accuracy"]
    assert [(r["lever"], r["step"], r["failed"]) for r in acc] == [("eager", "eager", 0), ("graph", "static", 0)]
    assert acc[0]["top1"] == acc[1]["top1"]  # on a CPU the graph's step is the eager step, bit for bit
    assert all(0 <= r["top1"] <= 100 for r in acc)

    assert levers.main([*args, "--levers", "eager,graph"]) == 0
    table = capsys.readouterr().out
    assert "images/s" in table and "x eager" in table and "static" in table and "cpu" in table


def test_a_failed_capture_falls_back_to_the_eager_step(levers, capsys):
    assert levers.main(["--tiny", "--device", "cpu", "--points", "anchor", "--levers", "graph", "--capture",
                        "--steps", "1", "--warmup", "0", "--json"]) == 0
    (row,) = _rows(capsys)
    assert row["lever"] == "graph" and row["step"] == "eager" and row["images_per_second"] > 0


def test_unknown_lever_is_refused(levers):
    with pytest.raises(SystemExit) as exit_:
        levers.main(["--levers", "warp"])
    assert exit_.value.code == 2
