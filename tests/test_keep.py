"""What a sweep or search keeps of a trial: weights in the artifact store (restored by `dse export`), measured CPU
latency, quantized sizes; and the latency budget and objective of a search (dse.study.keep)."""

from types import SimpleNamespace

import optuna
import pytest
from sweep_helpers import TINY, TINY_DEFAULTS, TINY_DESIGN, TINY_RECIPE, ScriptedTrain, dse, one_thread  # noqa: F401
from typer.testing import CliRunner

from dse.cli import app
from dse.plan import cost
from dse.space import DesignPoint
from dse.study import layout
from dse.study.artifacts import WEIGHTS_ATTR, ArtifactStoreMissing
from dse.study.grid import build_spec as sweep_spec
from dse.study.keep import KEEP_POLICIES, Keeper, keeps, largest_point, plan, plan_keep, policy_points
from dse.study.runner import RunOptions, run
from dse.study.search import build_spec as search_spec
from dse.weights import WeightsError, payload_mb, read


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def _sweep(values="0.25,0.5"):
    return sweep_spec(params=["sr"], values=[values], dataset="synthetic", subset=64, design=TINY_DESIGN,
                      recipe_options=TINY_RECIPE)


def _search(trials=2, **kw):
    return search_spec(params=["sr=0.25:0.5"], dataset="synthetic", subset=64, design=TINY_DESIGN,
                       recipe_options=TINY_RECIPE, trials=trials, **kw)


def _load(path, name):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{path}")


@pytest.mark.slow  # trains two tiny networks through the real command line, then exports one
def test_a_sweep_keeps_weights_that_dse_export_restores(tmp_path):
    r = dse("sweep", "--param", "sr", "--values", "0.25,0.5", *TINY_DEFAULTS, "--study-name", "t", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    options = RunOptions(storage=None, study_name="t")
    assert plan(_sweep(), options).line() in r.stdout.replace("\n", " ")  # the disk estimate is printed
    study = _load(tmp_path / "studies" / "t.db", "t")
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(done) == 2
    for t in done:
        a = t.user_attrs
        assert a[WEIGHTS_ATTR] and a["weights_precision"] in ("fp16", "fp32") and a["weights_bytes"] > 0
        assert a["latency_ms"] > 0 and a["latency_batch_ms"] > 0 and a["latency_batch_size"] == 32
        assert a["latency_threads"] >= 1 and a["latency_cpu"]
        c = cost(DesignPoint.from_dict(a["point"]))
        assert a["size_mb_int8"] == c.size_mb_int8 and a["size_mb_int4"] == c.size_mb_int4
    best = max(done, key=lambda t: (t.user_attrs["val_top1"], -t.user_attrs["size_mb"], -t.number))

    r = dse("export", "studies/t.db", "--best", "--no-onnx", "--out", "home", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"trial {best.number} of t" in r.stdout and "8/8 probe images agree" in r.stdout
    weights = read(tmp_path / "home" / "model.pt")
    assert weights.record["top1"] == best.user_attrs["top1"] and weights.record["trial"] == best.number
    assert weights.point.to_dict() == best.user_attrs["point"]


@pytest.mark.slow  # trains one tiny network in this process
def test_keep_weights_none_stores_nothing_but_latency_is_measured(tmp_path):
    db = tmp_path / "studies" / "n.db"
    run(_sweep("0.25"), RunOptions(storage=str(db), study_name="n", device="cpu", keep_weights="none",
                                   latency_runs=3), poll=0.05)
    (trial,) = _load(db, "n").trials
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert WEIGHTS_ATTR not in trial.user_attrs
    assert not (tmp_path / "studies" / "n.artifacts").exists()
    assert trial.user_attrs["latency_ms"] > 0 and trial.user_attrs["latency_batch_ms"] > 0


def test_the_keep_plan_counts_every_trial_and_refuses_a_server_study_without_a_store():
    spec = _sweep()
    sqlite = plan(spec, RunOptions(storage=None, study_name="t"))
    assert sqlite.policy == "all"
    assert sqlite.all_mb == pytest.approx(sum(payload_mb(p, "fp16") for p in policy_points(spec)))
    assert [p.sr for p in policy_points(spec)] == [0.25, 0.5]
    assert plan(spec, RunOptions(storage=None, study_name="t", keep_weights="none")).policy == "none"
    server = "postgresql://postgres@127.0.0.1:5432/test"
    assert plan(spec, RunOptions(storage=server, study_name="t")).policy == "none"  # said, not failed
    with pytest.raises(ArtifactStoreMissing, match="--artifacts"):
        plan(spec, RunOptions(storage=server, study_name="t", keep_weights="all"))
    assert plan(spec, RunOptions(storage=server, study_name="t", keep_weights="best", artifacts="/tmp/x")).policy \
        == "best"
    search = _search(trials=3)
    biggest = largest_point(search)
    assert biggest.sr == 0.5 and policy_points(search) == [biggest] * 3


def test_a_server_study_with_keep_weights_and_no_store_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("sweep", "--param", "sr", "--values", "0.25", *TINY, "--storage",
            "postgresql://postgres@127.0.0.1:5432/test", "--study-name", "nostore", "--keep-weights", "all")
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0 and "--artifacts" in r.stderr
    r = cli("sweep", "--param", "sr", "--values", "0.25", *TINY, "--keep-weights", "some")
    assert r.exit_code == 2 and "--keep-weights must be all, best or none" in r.stderr
    assert not (tmp_path / "studies").exists()


def test_a_latency_budget_skips_a_point_measured_before_training():
    study = optuna.create_study()
    point = _search().point
    for budget, skipped in ((1e-9, True), (1e9, False)):
        spec = _search(max_latency_ms=budget)
        keeper = Keeper(SimpleNamespace(spec=spec), None, "none", None, latency_runs=2)
        trial = study.ask()
        reason = keeper.before_training(trial, point)
        assert (reason is not None) == skipped
        if skipped:
            assert reason.startswith("over the latency budget")
        assert trial.user_attrs["latency_ms"] > 0  # recorded either way
    without = Keeper(SimpleNamespace(spec=_search()), None, "none", None)
    trial = study.ask()
    assert without.before_training(trial, point) is None and "latency_ms" not in trial.user_attrs


def test_a_search_under_a_latency_budget_records_latency_before_training(tmp_path):
    db = tmp_path / "s.db"
    handle = run(_search(max_latency_ms=1e9), RunOptions(storage=str(db), study_name="s", latency_runs=2),
                 train_fn=ScriptedTrain(), poll=0.05)
    assert handle.study.user_attrs[layout.DEFINITION_ATTR]["max_latency_ms"] == 1e9
    done = handle.trials([optuna.trial.TrialState.COMPLETE])
    assert len(done) == 2 and all(t.user_attrs["latency_ms"] > 0 for t in done)


def test_latency_as_an_objective(tmp_path):
    handle = run(_search(objective="latency"), RunOptions(storage=str(tmp_path / "l.db"), study_name="l",
                                                          latency_runs=2), train_fn=ScriptedTrain(), poll=0.05)
    assert [d.name for d in handle.study.directions] == ["MAXIMIZE", "MINIMIZE", "MINIMIZE"]
    done = handle.trials([optuna.trial.TrialState.COMPLETE])
    assert len(done) == 2
    for t in done:
        assert t.values[2] == t.user_attrs["latency_ms"] > 0


def test_latency_options_are_checked():
    from dse.errors import SweepError

    with pytest.raises(SweepError, match="--max-latency-ms must be a positive finite number"):
        _search(max_latency_ms=0)
    with pytest.raises(SweepError, match="--objective must be one of size, latency"):
        _search(objective="speed")


def test_bench_latency_times_a_point_without_training():
    import json

    r = cli("bench", "--latency", "--dataset", "synthetic", "--set", "base_e=16", "--set", "incr_e=16", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["single_ms"] > 0 and out["batch_ms"] > 0 and out["batch_size"] == 32 and out["threads"] >= 1
    assert out["point"]["base_e"] == 16 and out["point"]["input_size"] == 32


def test_report_size_axis_is_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("report", "nothing.db", "--size", "int3")
    assert r.exit_code == 2 and "--size must be one of fp32, int8, int4" in r.stderr


def test_the_readme_disk_estimate_is_the_computed_one():
    """README "Take a network home" quotes what the two Figure 3 sweeps keep; the numbers must be plan_keep's."""
    import re

    from sweep_helpers import ROOT

    from dse.train.latency import RUNS, WARMUP

    points = {}
    for param, rng in (("sr", "0.125:1.0"), ("pct3x3", "0.01:0.99")):
        spec = sweep_spec(params=[param], ranges=[rng], dataset="cifar10", seeds=3)
        points[param] = policy_points(spec)
    both = plan_keep(points["sr"] + points["pct3x3"])
    sr = plan_keep(points["sr"])
    text = " ".join((ROOT / "README.md").read_text().split())
    found = re.search(r"\((\w+)-10, 3 seeds, (\d+) trials\) that is ([\d.]+) MB in fp16 \(([\d.]+) MB for the SR", text)
    assert found, "README lost its disk estimate"
    assert int(found[2]) == len(points["sr"]) + len(points["pct3x3"])
    assert found[3] == f"{both.all_mb:.1f}" and found[4] == f"{sr.all_mb:.1f}"
    assert f"median of {RUNS} timed runs after {WARMUP} warm-up runs" in text


@pytest.mark.parametrize("val_fraction, split", [(0.1, "validation"), (0.0, "test")])
def test_the_precision_check_scores_the_choosing_split_where_the_data_lives(val_fraction, split):
    """The top-1 that chooses a kept network's precision: every validation image (test only where the data has no
    validation split, as every choice then falls back to test), normalised as in training, counted where the data
    lives; the network itself stays where and as it was."""
    import torch

    from dse.data import DeviceData, load_dataset
    from dse.model import build_model
    from dse.study.keep import top1_on_choosing_split

    data = load_dataset("synthetic", subset=64, val_fraction=val_fraction)
    point = DesignPoint(**TINY_DESIGN).for_data(data.info.num_classes, data.info.in_channels, data.info.image_size)
    torch.manual_seed(0)
    model = build_model(point).train()
    device_data = DeviceData(data, "cpu")
    assert (device_data.mean, device_data.std) == (data.mean, data.std)  # what a kept network records
    images, labels = ((data.val_images, data.val_labels) if split == "validation" else
                      (data.test_images, data.test_labels))
    assert len(labels) and (split == "test") == (data.val_labels is None or not len(data.val_labels))
    with torch.no_grad():
        logits = model.eval()(device_data.normalise(images.to(device_data.device)))
    model.train()
    counted = 100 * float((logits.argmax(1) == labels).float().mean())
    chosen_on, top1 = top1_on_choosing_split(device_data)
    assert chosen_on == split and top1(model) == pytest.approx(counted) and model.training


def test_latency_runs_0_and_keep_weights_none_measure_and_store_nothing(tmp_path, monkeypatch, one_thread):  # noqa: F811
    """What a GPU sweep passes (scripts/gpu_check.sh): no CPU latency and no weights, only the training."""
    monkeypatch.chdir(tmp_path)
    r = cli("sweep", "--param", "sr", "--values", "0.25", *TINY, "--study-name", "g", "--keep-weights", "none",
            "--latency-runs", "0")
    assert r.exit_code == 0, r.output
    (trial,) = _load(tmp_path / "studies" / "g.db", "g").trials
    assert trial.state == optuna.trial.TrialState.COMPLETE and trial.user_attrs["top1"] >= 0
    assert not any(name in trial.user_attrs for name in (*layout.LATENCY_ATTRS, WEIGHTS_ATTR))
    assert not (tmp_path / "studies" / "g.artifacts").exists()


def test_keep_policy():
    finished = [(60.0, 1.0), (70.0, 3.0)]
    assert keeps("all", (10.0, 9.0), finished) and not keeps("none", (99.0, 0.1), finished)
    assert keeps("best", (65.0, 2.0), finished)  # between the two: on the front
    assert keeps("best", (80.0, 5.0), finished)  # most accurate so far
    assert keeps("best", (50.0, 0.5), finished)  # smallest so far
    assert not keeps("best", (55.0, 2.0), finished)  # (60, 1) is more accurate and smaller
    assert keeps("best", (60.0, 1.0), finished)  # a tie dominates nothing
    assert keeps("best", (1.0, 1.0), [])
    with pytest.raises(WeightsError, match="all, best, none"):
        keeps("some", (1.0, 1.0), [])
    assert set(KEEP_POLICIES) == {"all", "best", "none"}


def test_keep_plan_sizes_come_from_the_plan():
    points = [DesignPoint(sr=sr / 8).for_data(10, 3, 32) for sr in range(1, 9)] * 3  # the SR sweep, 3 seeds
    total = sum(payload_mb(p, "fp16") for p in points)
    auto = plan_keep(points)
    assert auto.policy == "all" and auto.all_mb == pytest.approx(total) and f"{total:.1f} MB" in auto.line()
    tight = plan_keep(points, budget_mb=total / 2)
    assert tight.policy == "best" and "over" in tight.line()
    assert plan_keep(points, "none").policy == "none"
    assert plan_keep(points, precision="fp32").all_mb == pytest.approx(2 * total)
