"""`dse check`: the trainability check as a command (dse.train.check): chosen points, one row each, as they train."""

from __future__ import annotations

import json

import pytest
from sweep_helpers import one_thread  # noqa: F401
from typer.testing import CliRunner

from dse.cli import app
from dse.space import PRESETS

TINY = ["--dataset", "synthetic", "--subset", "64", "--test-images", "50", "--epochs", "1", "--batch-size", "16",
        "--base-e", "16", "--incr-e", "16", "--device", "cpu"]


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_an_unknown_point_is_one_line_naming_the_known_ones():
    result = cli("check", *TINY, "--point", "bypass=simple", "--point", "alexnet")
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: unknown --point alexnet; known: ")
    assert all(name in line for name in PRESETS) and "sr=0.125" in line and "bypass=complex" in line


@pytest.mark.slow  # trains two tiny networks
def test_the_chosen_points_train_and_each_gets_its_row(one_thread):  # noqa: F811
    result = cli("check", *TINY, "--point", "squeezenet1_1+bn", "--point", "bypass=simple", "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["name"] for r in rows] == ["squeezenet1_1+bn", "bypass=simple"]
    for r in rows:
        assert r["chance"] == 10.0 and r["diverged"] is False and 0 <= r["top1"] <= 100 and r["seconds"] > 0
        assert isinstance(r["trains"], bool) and r["first_loss"] > 0 and r["last_loss"] > 0
    assert "of 2 points train" in result.stderr

    table = cli("check", *TINY, "--point", "bypass=simple")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[1].startswith("| point | trains |") and lines[3].startswith("| bypass=simple | ")
