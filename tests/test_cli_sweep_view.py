"""What `dse sweep` and `dse search` show: the header (study, file, device, trials, estimate), default study names
per dataset, the refusal naming both values, plain lines when stdout is not a terminal, the end table, and each
running trial's epoch and step as the workers report it."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from sweep_helpers import TINY, TINY_DESIGN, TINY_RECIPE, ScriptedTrain, fingerprint, load, one_thread  # noqa: F401
from typer.testing import CliRunner

from dse.cli import app
from dse.cli.live import duration
from dse.cli.sweep import default_name
from dse.space import format_value


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def here(tmp_path, monkeypatch, one_thread):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(("dataset", "name"), [
    ("cifar10", "sr"), ("fashion-mnist", "sr-fashion-mnist"), ("synthetic", "sr-synthetic"),
    ("cifar100", "sr-cifar100"), ("folder:/data/cifar10-jpeg", "sr-cifar10-jpeg"),
    ("folder:/data/My Photos/", "sr-my-photos")])
def test_default_study_names_differ_per_dataset_and_cifar10_keeps_the_bare_name(dataset, name):
    assert default_name("sr", dataset) == name


def _existing(here, name: str, subset: int = 64) -> None:
    """A finished sweep of sr on synthetic data, made through the runner (a scripted trainer)."""
    from dse.study.grid import build_spec
    from dse.study.runner import RunOptions, run

    spec = build_spec(params=["sr"], values=["0.25,0.5"], dataset="synthetic", subset=subset, design=TINY_DESIGN,
                      recipe_options={"epochs": 1, "batch_size": 32})
    run(spec, RunOptions(storage=None, study_name=name, device="cpu"), train_fn=ScriptedTrain(), poll=0.05)


def test_the_mission_sweep_on_cifar10_uses_studies_sr_db_and_a_refusal_names_both_values(here):
    _existing(here, "sr")  # as if someone had swept synthetic data under the bare name
    before = fingerprint(here / "studies" / "sr.db")
    result = cli("sweep", "--param", "sr", "--values", "0.25,0.5", "--subset", "64", "--epochs", "1",
                 "--batch-size", "32", "--device", "cpu", "--base-e", "16", "--incr-e", "16")
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "study 'sr' in studies/sr.db" in line  # the CIFAR-10 default is the bare name
    assert "dataset synthetic (study) vs cifar10 (this command)" in line, line
    assert fingerprint(here / "studies" / "sr.db") == before
    assert "sr.db" not in result.stdout  # the header names a file only once the study is open and matched


def test_a_refused_definition_names_each_differing_field_with_both_values(here):
    _existing(here, "sr-synthetic", subset=64)
    result = cli("sweep", "--param", "sr", "--values", "0.25,0.5", *TINY[:2], "--subset", "96", *TINY[4:],
                 "--lr", "0.05")
    assert result.exit_code == 2, result.output
    assert "subset 64 (study) vs 96 (this command)" in result.stderr
    assert "recipe.lr" in result.stderr and "0.05 (this command)" in result.stderr
    assert "study sr-synthetic in" not in result.stdout


def test_header_table_and_plain_lines_of_a_tiny_sweep(here):
    result = cli("sweep", "--param", "sr", "--values", "0.25,1.0", "--seeds", "2", *TINY)
    assert result.exit_code == 0, result.output
    out = result.stdout
    header = next(line for line in out.splitlines() if line.startswith("sweep sr:"))
    assert "4 trials (2 points x 2 seeds)" in header
    assert "study sr-synthetic in studies/sr-synthetic.db" in header
    assert " · cpu" in header and "4 to train, about " in header and "(estimate from a speed test" in header
    # not a terminal: one plain line per event, no bar, no cursor movement
    progress = out.split("per point")[0]
    assert "━" not in progress and "\x1b[" not in out
    assert "#0 sr=0.25, seed=0: started" in out and "decoding" not in out
    # every trial is reported done (a start can fall between two looks of the display on a fast trial)
    assert all(f"#{n} " in out for n in range(4)) and out.count("% in ") == 4 and "4/4 done" in out
    # the end table: validation chose, test measured, the statistic named as dse.stats names it
    assert "per point · top-1 % as mean [interval] over seeds · validation top-1 chose, test top-1 measured" in out
    assert "val top-1 %" in out and "test top-1 %" in out and "] range" in out
    assert "min-max range of the seeds with 2" in out
    assert "warning: An epoch is only 1 optimizer step" in out  # dse.stats.chance_warnings, one line each
    study = load(here / "studies" / "sr-synthetic.db", "sr-synthetic")
    assert all("val_top1" in t.user_attrs for t in study.trials)
    # one spelling of a value (dse.space.format_value, as the report writes it) and time columns that say what
    # they count: the log's "in Ns" is the whole trial, "(training Ms)" and the table's "train s" the training run
    assert "sr=1.0, seed=" in out and "sr=1," not in out and "sr=1 " not in out
    for t in study.trials:
        assert f"#{t.number} sr={format_value('sr', t.params['sr'])}, seed={t.params['seed']}: " in out
        assert f" (training {duration(t.user_attrs['train_seconds'])}) · " in out
    table = out[out.index("per point"):].splitlines()
    assert "train s" in next(line for line in table if "size MB" in line)
    for sr in (0.25, 1.0):
        row = next(line.split() for line in table if line.split()[:1] == [format_value("sr", sr)])
        seconds = [t.user_attrs["train_seconds"] for t in study.trials if t.params["sr"] == sr]
        assert row[-1] == f"{sum(seconds) / len(seconds):.1f}", row

    again = cli("sweep", "--param", "sr", "--values", "0.25,1.0", "--seeds", "2", *TINY)
    assert again.exit_code == 0
    assert "nothing left to train" in next(line for line in again.stdout.splitlines() if line.startswith("sweep sr:"))


def test_val_fraction_zero_lets_the_test_split_choose(here):
    result = cli("sweep", "--param", "sr", "--values", "0.5", "--val-fraction", "0", *TINY)
    assert result.exit_code == 0, result.output
    assert "no validation split: the test split chooses" in result.stdout
    assert "no validation split: test top-1 chose" in result.stdout and "val top-1 %" not in result.stdout
    assert "#0 sr=0.5: test top-1 " in result.stdout  # the log names the split its accuracy is on
    study = load(here / "studies" / "sr-synthetic.db", "sr-synthetic")
    assert study.user_attrs["dse"]["val_fraction"] == 0


@pytest.mark.parametrize("args", [["sweep", "--param", "sr", "--val-fraction", "1.5"],
                                  ["search", "--seeds", "2"], ["search", "--val-fraction", "x"]])
def test_usage_errors_are_one_line(here, args):
    result = cli(*args)
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")
    assert not (here / "studies").exists()


def test_search_help_lists_only_its_own_options():
    out = CliRunner().invoke(app, ["search", "--help"], env={"COLUMNS": "200"}).stdout
    assert "--seeds" not in out and "--trials" in out and "--val-fraction" in out and "--base-e" in out
    assert "--val-fraction" in CliRunner().invoke(app, ["train", "--help"]).stdout


def test_running_trials_report_their_epoch_and_step(tmp_path, one_thread):  # noqa: F811
    """The worker writes the trainer's progress on the trial; the display's view of the study shows it."""
    from dse.cli.watch import Watch, trial_views
    from dse.study import layout
    from dse.study.grid import build_spec
    from dse.study.runner import RunOptions, run

    spec = build_spec(params=["sr"], values=["0.5"], dataset="synthetic", subset=96, design=TINY_DESIGN,
                      recipe_options={"epochs": 2, "batch_size": 32})
    options = RunOptions(storage=str(tmp_path / "s.db"), study_name="s", device="cpu")
    watch = Watch(spec, options, 0.0)
    seen = []

    def opened(handle, data) -> None:
        watch.train_images = data.num_train

    def event(handle) -> None:
        running = [v for v in trial_views(handle.trials(), watch) if v.state == "running" and v.steps]
        seen.extend((v.epoch, v.step, v.steps, v.epochs) for v in running)

    run(spec, options, on_event=event, on_open=opened)
    ends = {(epoch, epochs) for epoch, step, steps, epochs in seen if step == steps > 0}  # each epoch's last step
    assert ends == {(1, 2), (2, 2)}, seen
    trial = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 's.db'}").trials[0]
    assert trial.user_attrs[layout.PROGRESS_ATTR]["epochs"] == 2


def test_header_estimates_from_the_prior_speed_and_says_when_nothing_is_left():
    from dse.cli.live import Snapshot, TrialView
    from dse.cli.watch import estimate, header_line

    def header(title, study, where, device, snap, base_work=0.0):  # as the command prints it, once the study opened
        return header_line(title, study, where, device, snap.remaining, estimate(snap, base_work))

    queued = tuple(TrialView(n, f"sr={n}", "queued", work=600.0) for n in range(3))
    line = header("sweep sr: 3 trials", "sr", "studies/sr.db", "cpu", Snapshot(total=3, trials=queued, rate=10.0))
    assert line == "sweep sr: 3 trials · study sr in studies/sr.db · cpu · 3 to train, about 3m00s (estimate)"
    search = Snapshot(total=4, rate=10.0, workers=2)  # a new search: nothing sampled yet, the base point's work
    assert "4 to train, about 1m00s" in header("search", "search", "s.db", "cpu", search, base_work=300.0)
    assert header("search", "search", "s.db", "cpu", Snapshot(total=4)).endswith("· 4 to train")  # no speed yet
    done = tuple(TrialView(n, "x", "done", work=1.0, seconds=1.0, top1=50.0) for n in range(3))
    assert header("t", "sr", "f.db", "cpu", Snapshot(total=3, trials=done)).endswith("nothing left to train")


def test_a_folder_seen_the_first_time_is_named_as_decoding(tmp_path):
    """The display says why the first start waits: the folder's images are decoded once, then read from the cache."""
    from dse_testdata import image_tree

    from dse.cli.watch import loading_phase
    from dse.data import images_to_decode, load_dataset
    from dse.study.grid import build_spec

    root = image_tree(tmp_path / "pets")  # 3 classes: 6 train and 2 test images each
    name, cache = f"folder:{root}", tmp_path / "cache"
    spec = build_spec(params=["sr"], values=["0.5"], dataset=name, data_dir=str(cache), design=TINY_DESIGN)
    assert images_to_decode(name, cache) == 24
    assert loading_phase(spec) == "decoding 24 images (once, into the cache)"
    load_dataset(name, cache)
    assert images_to_decode(name, cache) == 0 and loading_phase(spec) == f"loading {name}"
    assert images_to_decode("synthetic") == 0


def test_the_end_table_keeps_swept_values_and_accuracy_whole_at_80_columns(here):
    """With intervals on both splits the table is over 100 columns: at 80, whole columns give way (ImageNet MB
    first) and every swept value and accuracy is printed in full, never cut to `0.…`."""
    import io

    from rich.console import Console

    from dse.cli.tables import point_rows, sweep_table
    from dse.study.grid import build_spec
    from dse.study.layout import VALIDATION
    from dse.study.progress import chosen_split
    from dse.study.runner import RunOptions, run

    class WithValidation(ScriptedTrain):
        def __call__(self, point, data, recipe, **kw):
            result = super().__call__(point, data, recipe, **kw)
            recorded = result.to_dict()
            return type("R", (), {"top1": result.top1, "to_dict": lambda _: {**recorded,
                                                                             "val_top1": result.top1 - 1.5}})()

    spec = build_spec(params=["sr"], values=["0.0625,0.3125,0.5625,0.8125"], seeds=3, dataset="synthetic",
                      subset=64, design=TINY_DESIGN, recipe_options={"epochs": 1, "batch_size": 32})
    handle = run(spec, RunOptions(storage=None, study_name="wide", device="cpu"), train_fn=WithValidation(),
                 poll=0.05)
    trials = handle.trials()
    rows = point_rows(trials, spec, 2)
    has_val = chosen_split(trials) == VALIDATION
    assert has_val and all("[" in r["test"] and "[" in r["val"] for r in rows)  # intervals on both splits

    def drawn(width: int) -> tuple[str, list[str]]:
        out = io.StringIO()
        table, dropped = sweep_table(rows, spec.params, has_val, width)
        Console(file=out, width=width, force_terminal=False).print(table)
        return out.getvalue(), dropped

    wide, none_dropped = drawn(160)
    assert none_dropped == [] and "ImageNet MB" in wide and "…" not in wide
    narrow, dropped = drawn(80)
    assert "…" not in narrow and max(len(line) for line in narrow.splitlines()) <= 80
    assert dropped and dropped[0] == "ImageNet MB" and "ImageNet MB" not in narrow
    for r in rows:
        line = next(line for line in narrow.splitlines() if line.lstrip().startswith(f"{r['values']['sr']:g} "))
        assert r["test"] in line and r["val"] in line, narrow


def _files(root) -> list:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_dry_run_prints_the_grid_and_its_cost_and_creates_nothing(here):
    result = cli("sweep", "--param", "sr", "--values", "0.25,0.5,0.75", "--seeds", "2", "--dry-run", *TINY)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "sweep sr: 6 trials (3 points x 2 seeds) · dry run" in out
    assert "grid: sr = 0.25, 0.5, 0.75 (3 values)" in out and "seeds: 0, 1" in out
    assert "study sr-synthetic in studies/sr-synthetic.db: new" in out
    assert "6 trials to train on cpu" in out and "about " in out and "speed test" in out
    assert "no weights kept" in out  # TINY says --keep-weights none
    assert _files(here) == []  # no study, no folder, no cache

    search = cli("search", "--param", "sr", "--param", "bypass", "--trials", "3", "--dry-run", *TINY)
    assert search.exit_code == 0, search.output
    assert "search sr, bypass: 3 trials · dry run" in search.stdout
    assert "space: sr from " in search.stdout and "space: bypass one of none, simple, complex" in search.stdout
    assert _files(here) == []


def _partly_done(here, name: str = "sr-synthetic") -> None:
    """A sweep of sr over 0.25, 0.5, 0.75 on synthetic data (TINY's definition) interrupted in its third trial:
    two trials done, one queued again, as Ctrl-C leaves it."""
    from dse.study.grid import build_spec
    from dse.study.runner import RunOptions, run

    spec = build_spec(params=["sr"], values=["0.25,0.5,0.75"], dataset="synthetic", subset=64, design=TINY_DESIGN,
                      recipe_options={"epochs": 1, "batch_size": 32})
    stop = ScriptedTrain(behave=lambda point, recipe, i: KeyboardInterrupt() if i == 2 else None)
    with pytest.raises(KeyboardInterrupt):
        run(spec, RunOptions(storage=None, study_name=name, device="cpu"), train_fn=stop, poll=0.05)


def test_dry_run_of_a_study_with_finished_trials_estimates_from_them_and_changes_nothing(here):
    _partly_done(here)
    before = {p: fingerprint(here / p) for p in _files(here) if (here / p).is_file()}
    result = cli("sweep", "--param", "sr", "--values", "0.25,0.5,0.75", "--dry-run", *TINY)
    assert result.exit_code == 0, result.output
    assert "exists, 2 trials done (the run resumes it)" in result.stdout
    assert "1 trial to train on cpu" in result.stdout and "from the times of the 2 finished trials" in result.stdout
    assert "speed test" not in result.stdout
    assert {p: fingerprint(here / p) for p in _files(here) if (here / p).is_file()} == before


def test_a_resumed_sweep_skips_the_speed_test_and_estimates_from_its_finished_trials(here):
    _partly_done(here)
    result = cli("sweep", "--param", "sr", "--values", "0.25,0.5,0.75", *TINY)
    assert result.exit_code == 0, result.output
    assert "measuring speed" not in result.stdout
    header = next(line for line in result.stdout.splitlines() if line.startswith("sweep sr:"))
    assert "1 to train, about " in header and "from the times of the 2 finished trials)" in header, header
    assert "3 of 3 done" in result.stdout


def test_the_log_names_each_phase_of_a_trial_in_order(here):
    """After its steps a trial evaluates, measures its latency and stores its weights: each is a line of the log,
    so a display never sits at its last step without saying what it waits for."""
    from sweep_helpers import TINY_DEFAULTS

    result = cli("sweep", "--param", "sr", "--values", "0.5", *TINY_DEFAULTS)
    assert result.exit_code == 0, result.output
    lines = [line.split("] ", 1)[1] for line in result.stdout.splitlines() if line.startswith("[")]
    mine = [line.split(": ", 1)[1] for line in lines if line.startswith("#0 sr=0.5: ")]
    steps = ["started", "evaluating epoch 1", "epoch 1/1", "measuring latency", "storing weights", "val top-1"]
    at = [next(i for i, line in enumerate(mine) if line.startswith(step)) for step in steps]
    assert at == sorted(at) and len(set(at)) == len(at), mine


def test_a_resumed_sweep_summarizes_what_was_done_instead_of_replaying_it(here):
    _partly_done(here)
    result = cli("sweep", "--param", "sr", "--values", "0.25,0.5,0.75", *TINY)
    assert result.exit_code == 0, result.output
    logged = [line.split("] ", 1)[1] for line in result.stdout.splitlines() if line.startswith("[")]
    assert sum(line.startswith("already finished before this run: 2 of 3 (2 done)") for line in logged) == 1
    assert not any(line.startswith(("#0 ", "#1 ")) for line in logged), logged  # trained before this run
    assert any(" sr=0.75: val top-1" in line and "3/3 done" in line for line in logged), logged  # its retry


def test_a_new_sweep_estimates_from_the_same_points_in_another_study_on_this_device(here):
    """Another study of the default folder trained two of these points with this data and recipe on this device:
    their times are the estimate, and no speed test runs. With another recipe they say nothing."""
    import torch

    from dse.study.grid import build_spec
    from dse.study.runner import RunOptions, run
    from dse.train import device_name

    class OnThisDevice(ScriptedTrain):
        def __call__(self, point, data, recipe, **kw):
            result = super().__call__(point, data, recipe, **kw)
            recorded = {**result.to_dict(), "device": device_name(torch.device("cpu")), "train_images": data.num_train}
            return type("R", (), {"top1": result.top1, "to_dict": lambda _: recorded})()

    spec = build_spec(params=["sr"], values=["0.25,0.5"], dataset="synthetic", subset=64, design=TINY_DESIGN,
                      recipe_options={"epochs": 1, "batch_size": 32})
    run(spec, RunOptions(storage=None, study_name="earlier", device="cpu"), train_fn=OnThisDevice(), poll=0.05)
    result = cli("sweep", "--param", "sr", "--values", "0.25,0.5,0.75", "--dry-run", *TINY)
    assert result.exit_code == 0, result.output
    assert "from the times of 2 trials of the same points in other studies on this device" in result.stdout
    assert "speed test" not in result.stdout
    other = cli("sweep", "--param", "sr", "--values", "0.25,0.5,0.75", "--dry-run", "--lr", "0.05", *TINY)
    assert other.exit_code == 0 and "speed test" in other.stdout and "other studies" not in other.stdout
def test_a_sweep_with_its_own_file_estimates_from_the_studies_beside_it_and_never_writes_to_them(here):
    """--storage in another folder: that folder's studies are the ones beside it. One a killed writer left with a
    hot journal is passed over as it is (its journal stays for the commands that use it, no line is printed)."""
    import torch
    from test_sqlite_recovery import hot_journal

    from dse.study.grid import build_spec
    from dse.study.runner import RunOptions, run
    from dse.train import device_name

    class OnThisDevice(ScriptedTrain):
        def __call__(self, point, data, recipe, **kw):
            result = super().__call__(point, data, recipe, **kw)
            recorded = {**result.to_dict(), "device": device_name(torch.device("cpu")), "train_images": data.num_train}
            return type("R", (), {"top1": result.top1, "to_dict": lambda _: recorded})()

    (here / "lab").mkdir()
    spec = build_spec(params=["sr"], values=["0.25,0.5"], dataset="synthetic", subset=64, design=TINY_DESIGN,
                      recipe_options={"epochs": 1, "batch_size": 32})
    earlier = here / "lab" / "earlier.db"
    run(spec, RunOptions(storage=str(earlier), study_name="earlier", device="cpu"), train_fn=OnThisDevice(),
        poll=0.05)
    args = ("sweep", "--param", "sr", "--values", "0.25,0.5,0.75", "--dry-run", "--storage", "lab/new.db", *TINY)
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert "from the times of 2 trials of the same points in other studies on this device" in result.stdout
    hot_journal(earlier)
    before = fingerprint(earlier), fingerprint(Path(f"{earlier}-journal"))
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert "speed test of 3 of the grid's points, lightest to heaviest" in result.stdout
    assert "other studies" not in result.stdout
    assert result.stderr == ""
    assert (fingerprint(earlier), fingerprint(Path(f"{earlier}-journal"))) == before
    assert not (here / "lab" / "new.db").exists()


def test_the_first_estimate_counts_the_workers_start_up_once_and_only_while_trials_are_left():
    from dse.cli.live import Snapshot, TrialView
    from dse.cli.watch import estimate

    queued = tuple(TrialView(n, f"sr={n}", "queued", work=600.0) for n in range(4))
    snap = Snapshot(total=4, trials=queued, rate=10.0, workers=2)
    assert estimate(snap) == 120.0  # 4 trials of 60 s on 2 workers
    assert estimate(snap, startup=5.0) == 125.0  # the workers start side by side: once
    done = tuple(TrialView(n, "x", "done", work=600.0, seconds=60.0, top1=50.0) for n in range(4))
    assert estimate(Snapshot(total=4, trials=done), startup=5.0) == 0.0


def test_a_new_sweep_whose_queue_is_not_written_yet_counts_its_grid_at_the_times_seen_elsewhere():
    """Before the queue holds a trial, the grid's own work is what is left: other studies' times give the time per
    unit of work (two sizes: a fixed part and a slope)."""
    from dse.cli.live import Snapshot
    from dse.cli.watch import estimate

    elsewhere = ((100.0, 20.0), (200.0, 30.0))  # 10 s fixed + 0.1 s per unit of work
    snap = Snapshot(total=3, workers=1, elsewhere=elsewhere, planned_work=(100.0, 200.0, 300.0))
    assert estimate(snap) == pytest.approx(20 + 30 + 40)
    assert estimate(Snapshot(total=3, workers=1, elsewhere=elsewhere)) is None  # no work known: no estimate
    # from the speed test: 2 points x 2 seeds at the grid's mean work, not at the base point's (the smallest)
    grid = Snapshot(total=4, workers=1, rate=10.0, planned_work=(100.0, 300.0))
    assert estimate(grid, base_work=100.0) == pytest.approx(4 * 200 / 10)


def test_the_long_run_hint_suggests_only_what_the_command_does_not_already_set():
    from dse.cli.watch import quick_hint
    from dse.study.grid import build_spec

    full = quick_hint(600, build_spec(params=["sr"], values=["0.25,0.5"], dataset="cifar10",
                                      recipe_options={"epochs": 8}))
    assert "about 10m00s; for a quick run add --dataset synthetic --subset 2000 --epochs 1 --base-e 16 --incr-e 16 " \
           "(or --subset with your data), and run the real job on a GPU" in full
    given = quick_hint(600, build_spec(params=["base_e"], values=["32,64"], dataset="synthetic", subset=5000,
                                       recipe_options={"epochs": 1}))
    assert "--dataset" not in given and "--epochs" not in given and "your data" not in given
    assert "add --subset 2000 --incr-e 16, and" in given  # base_e is swept: no --base-e either
    small = quick_hint(600, build_spec(params=["sr"], values=["0.5"], dataset="synthetic", subset=64,
                                       design=TINY_DESIGN, recipe_options=TINY_RECIPE))
    assert small == "on this CPU that is about 10m00s; run the real job on a GPU"


def test_the_first_estimate_times_a_grids_lightest_middle_and_heaviest_points(one_thread):  # noqa: F811
    """Real speed tests, one at each end of the grid by MACs and one in the middle, each with its own work; a
    one-point sweep times its one point."""
    import torch

    from dse.cli.watch import prior_rate, prior_times, timed_points
    from dse.plan import cost
    from dse.study.grid import build_spec

    def spec(values: str):
        return build_spec(params=["sr"], values=[values], dataset="synthetic", subset=64, design=TINY_DESIGN,
                          recipe_options={"epochs": 1, "batch_size": 32})

    grid = spec("0.5,1.0,0.25,0.75")
    assert [p.sr for p in timed_points(grid)] == [0.25, 0.75, 1.0]
    assert [p.sr for p in timed_points(spec("0.5"))] == [0.5]
    assert [p.sr for p in timed_points(spec("0.5,0.25"))] == [0.25, 0.5]
    times = prior_times(grid, torch.device("cpu"), 1, (4096, 512, 512), "none")
    macs = [cost(p).macs for p in timed_points(grid)]
    assert [w / times[0][0] for w, _ in times] == pytest.approx([m / macs[0] for m in macs])  # MACs x images
    assert all(seconds > 0 for _, seconds in times)  # each its own speed test (how long: a timing, not asserted)
    assert prior_rate(times) == pytest.approx(sum(w for w, _ in times) / sum(s for _, s in times))
    assert prior_rate(()) is None


def test_a_sweeps_dry_run_says_its_estimate_rests_on_points_across_its_grid(here):
    result = cli("sweep", "--param", "sr", "--values", "0.25,0.5,0.75", "--dry-run", *TINY)
    assert result.exit_code == 0, result.output
    assert "speed test of 3 of the grid's points, lightest to heaviest" in result.stdout
    single = cli("sweep", "--param", "sr", "--values", "0.5", "--dry-run", *TINY)
    assert single.exit_code == 0, single.output
    assert "speed test of training and evaluation steps" in single.stdout
