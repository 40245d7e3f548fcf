import json
import re

import pytest
import torch
from dse_testdata import image_tree
from typer.testing import CliRunner

from dse.cli import app
from dse.stats import MIN_STEPS_PER_EPOCH
from dse.train import cpu_has_native_bf16

runner = CliRunner()
AUTO_CPU_DTYPE = "bf16" if cpu_has_native_bf16() else "fp32"
TINY = ("--base-e", "32", "--incr-e", "32")


def run(*args: str, **env: str):
    return runner.invoke(app, list(args), env=env or None)


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    text = " ".join(result.stderr.split())  # rich wraps long lines on narrow terminals
    assert text.startswith("error:") and text.count("error:") == 1, result.stderr
    for fragment in fragments:
        assert fragment in text, result.output


def test_train_json_on_synthetic_data():
    result = run("train", "--dataset", "synthetic", "--subset", "300", "--epochs", "1", "--batch-size", "50",
                 "--lr", "0.1", "--seed", "3", "--device", "cpu", "--json", *TINY)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["epochs"] == 1 and data["recipe"]["seed"] == 3 and data["recipe"]["batch_size"] == 50
    assert data["point"]["base_e"] == 32 and data["point"]["num_classes"] == 10 and data["point"]["norm"] == "batch"
    assert data["train_images"] == 270 and data["val_images"] == 30  # 10% held out for validation
    assert 0 <= data["top1"] <= 100 and len(data["epoch_top1"]) == 1 and len(data["epoch_val_top1"]) == 1


def test_train_warns_before_training_when_an_epoch_is_few_steps():
    """The warning sweeps and reports give (dse.stats.few_steps_warning), on stderr beside the progress, before
    the first epoch, with a batch size that gives enough steps; a run with enough steps gets none."""
    few = run("train", "--dataset", "synthetic", "--subset", "300", "--epochs", "1", "--batch-size", "50",
              "--device", "cpu", "--json", *TINY)
    assert few.exit_code == 0, few.output
    data = json.loads(few.stdout.strip().splitlines()[-1])
    steps = data["train_images"] // 50
    text = " ".join(few.stderr.split())
    assert (f"warning: An epoch is only {steps} optimizer steps ({data['train_images']} training images, batch "
            f"size 50; fewer than {MIN_STEPS_PER_EPOCH})") in text, text
    suggested = int(text.split("(--batch-size ")[1].split()[0])
    assert data["train_images"] // suggested >= MIN_STEPS_PER_EPOCH > data["train_images"] // (2 * suggested)
    assert text.index("warning:") < text.index("epoch 1/1")
    enough = run("train", "--dataset", "synthetic", "--subset", "300", "--epochs", "1", "--batch-size",
                 str(suggested), "--device", "cpu", *TINY)
    assert enough.exit_code == 0 and "warning" not in enough.output, enough.output


def test_train_summary_on_a_folder_dataset(tmp_path):
    root = image_tree(tmp_path / "tree")
    result = run("train", "--dataset", f"folder:{root}", "--data-dir", str(tmp_path), "--image-size", "24",
                 "--epochs", "2", "--batch-size", "9", "--device", "cpu", *TINY)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for fragment in ("top-1", "top-5", "chance 33.3%", "MB", "img/s", "epoch 2/2", "recipe: lr"):
        assert fragment in text, result.output


def test_piped_epoch_lines_show_each_epochs_own_accuracy():
    """Piped, each epoch's line carries that epoch's test top-1 (named as such), the list the summary closes with."""
    result = run("train", "--dataset", "synthetic", "--subset", "300", "--epochs", "3", "--batch-size", "50",
                 "--device", "cpu", *TINY)
    assert result.exit_code == 0, result.output
    shown = [float(m) for m in re.findall(r"\] epoch \d/3, .*?test top-1 ([\d.]+)%, val top-1", result.stdout)]
    listed = re.search(r"per epoch top-1: (.*)", result.stdout).group(1)
    assert len(shown) == 3 and ", ".join(f"{a:.1f}" for a in shown) == listed, result.stdout
    phases = [line.split("] ", 1)[1] for line in result.stdout.splitlines() if line.startswith("[")]
    assert [p for p in phases if p.startswith("evaluating")] == [f"evaluating epoch {e}" for e in (1, 2, 3)]


def test_offline_missing_cifar10_is_one_clear_line(tmp_path):
    result = run("train", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--device", "cpu",
                 DSE_OFFLINE="1")
    one_line_error(result, "cifar10 is not in", "cifar-10-batches-py", "--dataset folder:PATH")


@pytest.mark.parametrize("args, fragments", [
    (("--dataset", "imagenet"), ("unknown dataset",)),
    (("--dataset", "folder:/nonexistent/x"), ("does not exist",)),
    (("--dataset", "synthetic", "--sr", "2"), ("sr (squeeze ratio)",)),
    (("--dataset", "synthetic", "--device", "tpu"), ("device",)),
    (("--dataset", "synthetic", "--epochs", "0"), ("--epochs",)),
    (("--dataset", "synthetic", "--set", "base_e=x"), ("--set base_e takes an integer",)),
    (("--dataset", "synthetic", "--set", "sr=nan"), ("--set sr takes a finite number; got 'nan'",)),
    (("--dataset", "synthetic", "--lr", "1e308"), ("lr must be a positive number at most 3.4e+38",)),
    (("--dataset", "synthetic", "--seed", "100000000000000000000"), ("seed must be in 0..4294967295",)),
    (("--dataset", "synthetic", "--set", "pct3x3=inf"), ("--set pct3x3 takes a finite number; got 'inf'",)),
])
def test_bad_input_is_one_line(args, fragments):
    one_line_error(run("train", *args), *fragments)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_requested_without_a_gpu():
    one_line_error(run("train", "--dataset", "synthetic", "--device", "cuda"), "CUDA is not available")


def test_divergence_is_one_line():
    result = run("train", "--dataset", "synthetic", "--subset", "128", "--epochs", "1", "--batch-size", "32",
                 "--lr", "1e9", "--device", "cpu", *TINY)
    one_line_error(result, "diverged", "epoch 1")


def test_bench_json():
    result = run("bench", "--device", "cpu", "--batch-size", "16", "--steps", "2", "--warmup", "1", "--json", *TINY)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["images_per_second"] > 0 and data["batch_size"] == 16 and data["dtype"] == AUTO_CPU_DTYPE
    assert data["point"]["stem"] == "cifar" and data["point"]["base_e"] == 32


def test_bench_table_line():
    result = run("bench", "--device", "cpu", "--batch-size", "16", "--steps", "2", "--warmup", "0", *TINY)
    assert result.exit_code == 0, result.output
    assert "images/s" in result.output and AUTO_CPU_DTYPE in result.output


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_train_precision_flag_is_what_runs(precision):
    result = run("train", "--dataset", "synthetic", "--subset", "200", "--epochs", "1", "--batch-size", "50",
                 "--precision", precision, "--device", "cpu", "--json", *TINY)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["dtype"] == precision and data["recipe"]["precision"] == precision
    assert f", {precision} · cpu" in " ".join(result.stderr.split())  # the header line says what will run


def test_an_unknown_precision_is_one_line():
    one_line_error(run("train", "--precision", "fp8", "--dataset", "synthetic"), "fp8")


def test_bench_compares_precisions_side_by_side():
    result = run("bench", "--device", "cpu", "--batch-size", "16", "--steps", "2", "--warmup", "1", "--rounds", "2",
                 "--precision", "fp32", "--precision", "bf16", "--json", *TINY)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    rows = data["variants"]
    assert [(r["precision"], r["dtype"]) for r in rows] == [("fp32", "fp32"), ("bf16", "bf16")]
    assert rows[0]["ratio"] == 1.0 and all(len(r["rounds"]) == 2 for r in rows)
    assert rows[1]["ratio"] == pytest.approx(rows[1]["images_per_second"] / rows[0]["images_per_second"])


def test_bench_comparison_table():
    result = run("bench", "--device", "cpu", "--batch-size", "16", "--steps", "2", "--warmup", "0", "--rounds", "1",
                 "--precision", "fp32", "--step", "eager", "--step", "graph", *TINY)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("asked"))
    assert lines[header + 1].split()[:4] == ["fp32,", "eager", "fp32,", "eager"]
    assert lines[header + 2].split()[:4] == ["fp32,", "graph", "fp32,", "static"]
    assert "1.00x" in lines[header + 1]
