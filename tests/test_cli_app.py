"""The command line as a whole: one-line usage errors on every command, help in workflow order with the
library's defaults, one set of design flags everywhere, and help that never loads torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dse.cli import app
from dse.cli.app import ORDER
from dse.cli.options import flag
from dse.space import CIFAR_STEM_BELOW, DesignPoint

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def assert_one_line_usage_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output and "╭" not in result.output, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stdout == "", result.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


PARSE_ERRORS = [
    (["arch", "--sr", "abc"], ["--sr"]),
    (["arch", "--bypass", "foo"], ["--bypass", "foo"]),
    (["arch", "--no-such-option"], ["--no-such-option"]),
    (["arch", "--base-e"], ["--base-e"]),
    (["arch", "--set"], ["--set"]),
    (["train", "--epochs", "-1"], ["--epochs"]),
    (["train", "--batch-size", "0"], ["--batch-size"]),
    (["train", "--sr", "abc"], ["--sr"]),
    (["train", "--bypass", "foo"], ["--bypass"]),
    (["train", "--subset", "0"], ["--subset"]),
    (["bench", "--batch-size", "0"], ["--batch-size"]),
    (["bench", "--steps", "x"], ["--steps"]),
    (["bench", "--stem", "round"], ["--stem"]),
    (["sweep", "--epochs", "-1"], ["--epochs"]),
    (["sweep", "--batch-size", "0"], ["--batch-size"]),
    (["sweep", "--sr", "abc"], ["--sr"]),
    (["sweep", "--bypass", "foo"], ["--bypass"]),
    (["sweep", "--unknown"], ["--unknown"]),
    (["search", "--trials", "x"], ["--trials"]),
    (["search", "--norm", "layer"], ["--norm"]),
    (["search", "--unknown"], ["--unknown"]),
    (["report"], ["STUDY"]),
    (["report", "x.db", "--unknown"], ["--unknown"]),
    (["dashboard"], ["STUDY"]),
    (["dashboard", "x.db", "--port", "http"], ["--port"]),
    (["no-such-command"], ["no-such-command"]),
]


@pytest.mark.parametrize(("args", "fragments"), PARSE_ERRORS, ids=[" ".join(a) for a, _ in PARSE_ERRORS])
def test_parse_errors_are_one_line_on_stderr_with_exit_2(args, fragments):
    assert_one_line_usage_error(run(*args), *fragments)


def test_a_parse_error_names_the_help_of_its_command():
    result = run("train", "--epochs", "-1")
    assert "dse train --help" in result.stderr


@pytest.mark.parametrize("args", [["arch", "--sr", "2"], ["arch", "--preset", "alexnet"],
                                  ["arch", "--set", "base_e=x"], ["arch", "--set", "width=3"],
                                  ["arch", "--set", "base_e"], ["arch", "--base-e", "32", "--set", "base_e=64"],
                                  ["bench", "--set", "num_classes=3"]])
def test_dse_own_checks_look_the_same(args):
    assert_one_line_usage_error(run(*args))


def test_help_lists_the_commands_in_workflow_order():
    result = run("--help")
    assert result.exit_code == 0
    listed = [line.strip("│ ").split()[0] for line in result.stdout.splitlines()
              if line.startswith("│ ") and line.strip("│ ").split()[0] in ORDER]
    assert listed == list(ORDER)


def test_bare_dse_shows_its_help():
    result = run()
    assert result.exit_code == 0 and "arch" in result.stdout and "Usage" in result.stdout


@pytest.mark.parametrize("command", ORDER)
def test_help_shows_no_bool_metavar(command):
    result = run(command, "--help")
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.stdout and "[default: (" not in result.stdout


def _squeezed(text: str) -> str:
    """Text without whitespace and box lines, so help wrapped into a panel compares with the text it came from."""
    return "".join(ch for ch in text if not ch.isspace() and ch not in "│")


def _all_commands():
    import typer

    return typer.main.get_command(app).commands


@pytest.mark.parametrize("columns", [80, 200])
@pytest.mark.parametrize("command", [None, *sorted(_all_commands())])
def test_help_loses_no_text_to_markup(command, columns):
    """Every help text (the command's, each option's) is shown whole, in an 80-column terminal too: rich markup
    would eat `[default: x]`, a narrow help column cut a long word with an ellipsis."""
    group = _all_commands()
    shown = _squeezed(runner.invoke(app, [command, "--help"] if command else ["--help"],
                                    env={"COLUMNS": str(columns)}).stdout)
    assert "…" not in shown
    if columns < 200:  # a narrow terminal wraps the option column beside the help too: only the ellipsis tells
        return
    texts = ([c.help.split("\n\n")[0] for c in group.values()] if command is None
             else [group[command].help.partition("\f")[0]] + [p.help for p in group[command].params if p.help])
    assert texts
    for text in texts:
        assert _squeezed(text) in shown, text


def test_help_text_that_reads_as_markup_is_shown_as_written():
    import typer

    from dse.cli.app import DseCommand, DseGroup

    demo = typer.Typer(cls=DseGroup)

    @demo.command(cls=DseCommand, help="Colours [red] and [default: here].")
    def one(x: int = typer.Option(0, help="Into [bold]dir[/bold] [default: exports/<study>].")) -> None:
        """Not shown: help= wins."""

    @demo.command(cls=DseCommand)
    def two() -> None:
        """A [link=x]second[/link] command."""

    listed = runner.invoke(demo, ["--help"], env={"COLUMNS": "200"}).stdout
    assert "Colours [red] and [default: here]." in listed and "A [link=x]second[/link] command." in listed
    shown = runner.invoke(demo, ["one", "--help"], env={"COLUMNS": "200"}).stdout
    assert "Into [bold]dir[/bold] [default: exports/<study>]." in shown, shown


def test_export_help_shows_its_default_directory():
    block = _option_block(runner.invoke(app, ["export", "--help"], env={"COLUMNS": "200"}).stdout, "--out")
    assert "[default: exports/<study>/trial-<N>]" in block, block


def _option_block(help_text: str, option: str) -> str:
    """The help text of one option: its row and the rows that continue it."""
    rows = [line.strip("│ ") for line in help_text.splitlines()]
    start = next(i for i, row in enumerate(rows) if row.startswith(f"{option} "))
    end = next((i for i in range(start + 1, len(rows)) if rows[i].startswith("-") or not rows[i]
                or rows[i].startswith(("╭", "╰"))), len(rows))
    return " ".join(" ".join(rows[start:end]).split())


@pytest.mark.parametrize("command", ["arch", "train", "bench", "check", "sweep", "search"])
def test_every_command_takes_the_same_design_flags_with_the_dataclass_defaults(command):
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for f in fields(DesignPoint):
        if f.name in ("num_classes", "in_channels", "input_size"):
            continue
        block = _option_block(result.stdout, flag(f.name))
        default = f.default.value if hasattr(f.default, "value") else f.default
        if f.name == "stem":  # the stem follows the input size (test_stem_help_says_what_runs)
            default = f"by input size: cifar under {CIFAR_STEM_BELOW} px (CIFAR-10's 32), else {default}"
        assert f"[default: {default}]" in block, block
    assert "--set" in result.stdout and "--preset" in result.stdout


@pytest.mark.parametrize("command", ["arch", "train", "sweep"])
def test_stem_help_says_what_runs(command):
    """The stem's default in help is the rule DesignPoint.for_data applies: what a CIFAR-sized input and an
    ImageNet-sized one actually get."""
    block = _option_block(runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).stdout, "--stem")
    assert f"cifar under {CIFAR_STEM_BELOW} px" in block and "else imagenet" in block, block
    stems = {size: json.loads(run("arch", "--input-size", str(size), "--json").stdout)["point"]["stem"]
             for size in (32, CIFAR_STEM_BELOW - 1, CIFAR_STEM_BELOW, 224)}
    assert stems == {32: "cifar", CIFAR_STEM_BELOW - 1: "cifar", CIFAR_STEM_BELOW: "imagenet", 224: "imagenet"}
    assert json.loads(run("arch", "--dataset", "synthetic", "--json").stdout)["point"]["stem"] == "cifar"


def test_training_help_shows_the_recipes_defaults():
    from dse.train import NO_NORM_RECIPE, Recipe

    text = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).stdout
    assert f"[default: {Recipe.epochs}]" in _option_block(text, "--epochs")
    assert f"[default: {Recipe.batch_size}]" in _option_block(text, "--batch-size")
    assert f"{NO_NORM_RECIPE.lr} with --norm none" in _option_block(text, "--lr")


def test_set_is_the_flag_by_another_name():
    by_flag = json.loads(run("arch", "--base-e", "64", "--bypass", "simple", "--input-size", "32", "--json").stdout)
    by_set = json.loads(run("arch", "--set", "base_e=64", "--set", "bypass=simple", "--set", "input_size=32",
                            "--json").stdout)
    assert by_flag == by_set and by_flag["point"]["base_e"] == 64 and by_flag["point"]["stem"] == "cifar"
    both = json.loads(run("arch", "--base-e", "64", "--set", "base_e=64", "--json").stdout)
    assert both["point"]["base_e"] == 64


def test_explicit_flags_override_a_preset_even_at_the_default_value():
    data = json.loads(run("arch", "--preset", "squeezenet1_0", "--norm", "batch", "--json").stdout)
    assert data["point"]["norm"] == "batch"
    assert json.loads(run("arch", "--preset", "squeezenet1_0", "--json").stdout)["point"]["norm"] == "none"


HEAVY = ("torch", "optuna", "pandas", "matplotlib", "sqlalchemy")


@pytest.mark.slow  # a fresh Python process each: the only way to see what an import of dse.cli loads
@pytest.mark.parametrize("args", [["--help"], ["arch"], ["arch", "--help"], ["report", "--help"]])
def test_help_and_arch_do_not_import_heavy_libraries(args):
    code = ("import sys; from dse.cli import app\n"
            "try:\n    app(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
            f"print('LOADED', [m for m in {HEAVY!r} if m in sys.modules], code)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                         cwd=ROOT, timeout=120)
    assert "LOADED [] 0" in out.stdout, out.stdout[-500:] + out.stderr
