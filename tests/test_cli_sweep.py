"""`dse sweep` and `dse search` end to end: a real CPU sweep on synthetic data, resume, bad input (one line, files
untouched), and the faults of a real run: Ctrl-C, kill -9 of a worker, divergence, four workers on one SQLite file."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import wsgiref.util
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from sweep_helpers import (  # noqa: F401
    MAIN,
    NOTHING_KEPT,
    TINY,
    TINY_DESIGN,
    ScriptedTrain,
    as_nobody,
    child_env,
    completed_once,
    dse,
    fingerprint,
    load,
    one_thread,
    popen,
    shared_dir,
)
from typer.testing import CliRunner

from dse.cli import app
from dse.train import cpu_has_native_bf16

ATTRS = ("params", "size_mb", "imagenet_size_mb", "macs", "top1", "top5", "loss", "epochs", "train_seconds",
         "images_per_second", "peak_memory_mb", "device", "diverged", "point", "epoch_top1")
SR3 = ["sweep", "--param", "sr", "--range", "0.125:1.0", "--points", "3", *TINY]


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def here(tmp_path, monkeypatch, one_thread):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_three_point_sweep_on_cpu_then_a_rerun_trains_nothing(here):
    result = cli(*SR3)
    assert result.exit_code == 0, result.output
    assert "3 of 3 done" in result.stdout and "per point" in result.stdout
    study = load(here / "studies" / "sr-synthetic.db", "sr-synthetic")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert [t.params["sr"] for t in study.trials] == [0.125, 0.5625, 1.0]
    for t in study.trials:
        # intermediate values are what pruning reads: validation top-1 (phase 2 of issue 10 records it as an attr)
        assert all(a in t.user_attrs for a in ATTRS) and set(t.intermediate_values) == {1}
        assert t.user_attrs["device"].startswith("cpu") and t.user_attrs["diverged"] is False
        assert t.user_attrs["dtype"] == ("bf16" if cpu_has_native_bf16() else "fp32")  # the precision that ran
    assert study.user_attrs["dse"]["grid"] == {"sr": [0.125, 0.5625, 1.0]}
    dtype = "bf16" if cpu_has_native_bf16() else "fp32"
    assert f"lr 0.1, {dtype};" in " ".join(result.stdout.split())  # the budget line names it before training
    before = [(t.number, t.datetime_complete) for t in study.trials]

    again = cli(*SR3)
    assert again.exit_code == 0 and "3 of 3 done" in again.stdout
    study = load(here / "studies" / "sr-synthetic.db", "sr-synthetic")
    assert [(t.number, t.datetime_complete) for t in study.trials] == before

    # optuna-dashboard reads the study as it is
    from optuna_dashboard import wsgi

    body = _get(wsgi("sqlite:///studies/sr-synthetic.db"), "/api/studies")
    assert [s["study_name"] for s in body["study_summaries"]] == ["sr-synthetic"]
    detail = _get(wsgi("sqlite:///studies/sr-synthetic.db"), f"/api/studies/{body['study_summaries'][0]['study_id']}")
    assert len(detail["trials"]) == 3


def _get(app, path: str) -> dict:
    environ: dict = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    wsgiref.util.setup_testing_defaults(environ)
    status = []
    chunks = app(environ, lambda s, h, exc=None: status.append(s))
    assert status[0].startswith("200"), status
    return json.loads(b"".join(chunks))


def _other_app_db(path: Path) -> Path:
    with contextlib.closing(sqlite3.connect(path)) as con:
        con.execute("CREATE TABLE notes (body TEXT)")
        con.commit()
    return path


BAD = [
    (["--param", "width"], "unknown --param 'width'"),
    (["--param", "sr", "--range", "1.0:0.125"], "reversed"),
    (["--param", "sr", "--range", "0.5:0.5"], "empty"),
    (["--param", "sr", "--values", "0.5,1.5"], "outside its domain"),
    (["--param", "freq", "--values", "0,2"], "outside its domain"),
    (["--param", "sr", "--seeds", "0"], "Invalid value for '--seeds'"),
    (["--param", "sr", "--workers", "0"], "Invalid value for '--workers'"),
    (["--param", "sr", "--prune", "sometimes"], "--prune must be one of"),
    (["--param", "sr", "--storage", "{dir}"], "is a directory"),
    (["--param", "sr", "--storage", "{text}"], "not an SQLite database"),
    (["--param", "sr", "--storage", "{other}"], "another application"),
    (["--param", "sr", "--storage", "postgresql://postgres@127.0.0.1:1/test"], "cannot open storage"),
    (["--param", "sr", "--device", "cuda:7"], "cuda:7"),
    (["--param", "sr", "--set", "sr=0.5"], "sr is both swept (--param) and set (--set sr=0.5)"),
    (["--param", "sr", "--sr", "0.5"], "sr is both swept (--param) and set (--sr 0.5)"),
    (["--param", "freq", "--set", "freq=2", "--freq", "2"], "(--freq 2 and --set freq=2)"),
    (["--param", "sr", "--workers", "100000000000000000000"], "less than or equal to 1024"),
    (["--param", "sr", "--seed", "100000000000000000000"], "--seed must be in 0..4294967295"),
    (["--param", "sr", "--seed", "4294967295", "--seeds", "2"], "goes past the largest seed"),
    (["--param", "sr", "--lr", "1e308"], "lr must be a positive number at most 3.4e+38"),
    (["--param", "sr", "--range", "0.125:inf"], "sr: 'inf' is not a finite number"),
    (["--param", "sr", "--range", "nan:1"], "sr: 'nan' is not a finite number"),
    (["--param", "sr", "--artifacts", "{text}"], "is a file, not a folder for the artifact store"),
    (["--param", "sr", "--artifacts", "{text}/store"], "is a file"),
    ((["--param", "sr", "--artifacts", "s3://bucket"], "--artifacts s3://bucket needs boto3")
     if importlib.util.find_spec("boto3") is None else
     (["--param", "sr", "--artifacts", "s3://bucket/prefix"], "give a bucket only")),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_input_is_one_line_and_changes_no_file(here, args, message):
    (here / "adir").mkdir()
    (here / "notes.txt").write_text("not a database\n" * 50)
    _other_app_db(here / "other.db")
    files = {p: fingerprint(p) for p in here.iterdir() if p.is_file()}
    args = [a.format(dir=here / "adir", text=here / "notes.txt", other=here / "other.db") for a in args]
    result = cli("sweep", *TINY, *args)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "--set" in " ".join(args) or "--set" not in result.stderr  # names what was typed, nothing else
    assert {p: fingerprint(p) for p in here.iterdir() if p.is_file()} == files
    assert not (here / "studies").exists() and list((here / "adir").iterdir()) == []


@pytest.mark.parametrize("args", [["--max-size-mb", "nan"], ["--max-size-mb", "inf"], ["--max-size-mb", "-1"],
                                  ["--max-latency-ms", "nan"], ["--max-latency-ms", "inf"]])
def test_a_search_budget_that_is_no_finite_positive_number_is_refused_before_any_study(here, args):
    """`--max-size-mb nan` once made a study that every later run refused (NaN (study) vs NaN (this command))."""
    result = cli("search", *TINY, "--trials", "2", *args)
    assert result.exit_code == 2
    assert "must be a positive finite number" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (here / "studies").exists()


def test_an_unwritable_study_file_is_one_line_and_untouched(shared_dir):  # noqa: F811
    path = shared_dir / "sr.db"
    optuna.create_study(study_name="x", storage=f"sqlite:///{path}")
    path.chmod(0o444)
    before = fingerprint(path)
    # the same refusal path as root first (a folder is refused at the same check), so every module it imports
    # lazily is loaded: an ordinary user may not read a Python installed under /root
    assert "a directory" in cli("sweep", "--param", "sr", "--storage", str(shared_dir), *TINY).stderr
    with as_nobody():
        result = cli("sweep", "--param", "sr", "--storage", str(path), *TINY)
    assert result.exit_code != 0 and "not writable" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and fingerprint(path) == before


def test_another_definition_against_an_existing_study_is_refused_untouched(here):
    from dse.study.grid import build_spec
    from dse.study.runner import RunOptions, run

    spec = build_spec(params=["sr"], values=["0.25,0.5"], dataset="synthetic", subset=64, design=TINY_DESIGN,
                      recipe_options={"epochs": 1, "batch_size": 32})
    run(spec, RunOptions(storage=None, study_name="sr-synthetic", device="cpu"), train_fn=ScriptedTrain(), poll=0.05)
    before = fingerprint(here / "studies" / "sr-synthetic.db")
    result = cli("sweep", "--param", "sr", "--values", "0.25,0.75", *TINY)
    assert result.exit_code != 0 and "another sweep definition (grid" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert fingerprint(here / "studies" / "sr-synthetic.db") == before
    assert cli("sweep", "--param", "sr", "--values", "0.25,0.5", *TINY).exit_code == 0  # the same one resumes


def test_divergence_is_recorded_as_failed_and_the_sweep_goes_on(here):
    result = cli("sweep", "--param", "sr", "--values", "0.25,0.5", *TINY, "--lr", "1e12")
    assert result.exit_code == 0, result.output
    assert "2 failed" in result.stdout and "diverged" in result.stdout
    study = load(here / "studies" / "sr-synthetic.db", "sr-synthetic")
    assert len(study.trials) == 2 and all(t.state == TrialState.FAIL for t in study.trials)
    assert all(t.user_attrs["diverged"] and "non-finite loss" in t.user_attrs["fail_reason"] for t in study.trials)


@pytest.mark.slow  # trains through the real command (the search itself: tests/test_search.py, scripted)
def test_search_on_cpu_under_a_budget(here):
    result = cli("search", "--trials", "2", "--max-size-mb", "0.1", "--param", "base_e=16:32:16",
                 "--param", "incr_e=0:16:16", "--param", "sr=0.125:0.5", "--dataset", "synthetic", "--subset", "64",
                 "--epochs", "1", "--batch-size", "32", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "Pareto front" in result.stdout
    study = load(here / "studies" / "search-synthetic.db", "search-synthetic")
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 2 and all(t.values[1] <= 0.1 for t in complete)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]


# ------------------------------------------------------------------------------------------------ real faults

SLOW = ["sweep", "--param", "sr", "--values", "0.25,0.5,1.0", "--dataset", "synthetic", "--subset", "192",
        "--epochs", "2", "--batch-size", "32", "--device", "cpu", "--set", "base_e=16", "--set", "incr_e=16",
        *NOTHING_KEPT]


def _states(db: Path) -> list[tuple[int, str, dict]]:
    """(number, state, worker) of every trial, read-only while the sweep writes."""
    if not db.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as con:
            rows = con.execute("SELECT trial_id, number, state FROM trials ORDER BY number").fetchall()
            workers = dict(con.execute(
                "SELECT trial_id, value_json FROM trial_user_attributes WHERE key = 'worker'").fetchall())
    except sqlite3.OperationalError:
        return []  # tables not created yet
    return [(n, s, json.loads(workers[i]) if i in workers else {}) for i, n, s in rows]


def _wait_running(db: Path, proc, timeout: float = 180) -> tuple[int, str, dict]:
    """The first trial RUNNING with its worker known (the sweep is in the middle of training it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        for row in _states(db):
            if row[1] == "RUNNING" and row[2]:
                return row
        time.sleep(0.05)
    raise AssertionError("no trial started")


def _check_complete(db: Path, name: str, n: int) -> optuna.Study:
    study = load(db, name)
    counts = completed_once(study)
    assert len(counts) == n and set(counts.values()) == {1}, counts
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    return study


@pytest.mark.slow
def test_ctrl_c_exits_130_leaves_nothing_running_and_a_rerun_resumes(here):
    proc = popen(*SLOW, cwd=here)
    _wait_running(here / "studies" / "sr-synthetic.db", proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    rows = _states(here / "studies" / "sr-synthetic.db")
    assert rows and "RUNNING" not in [s for _, s, _ in rows]
    rerun = dse(*SLOW, cwd=here)
    assert rerun.returncode == 0, rerun.stderr
    study = _check_complete(here / "studies" / "sr-synthetic.db", "sr-synthetic", 3)
    interrupted = [t for t in study.trials if t.user_attrs.get("fail_kind") == "interrupted"]
    assert len(interrupted) <= 1


@pytest.mark.slow
def test_ctrl_c_in_a_terminal_with_two_workers(here):
    """A terminal's Ctrl-C reaches the whole foreground group: the command and both workers."""
    proc = popen(*SLOW, "--workers", "2", cwd=here, session=True)
    _wait_running(here / "studies" / "sr-synthetic.db", proc)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "RUNNING" not in [s for _, s, _ in _states(here / "studies" / "sr-synthetic.db")]


@pytest.mark.slow
def test_sigterm_stops_a_background_job_with_two_workers_cleanly(here):
    """A scheduler stops a job started in the background (Ctrl-C ignored, as a shell's `&` leaves it) with SIGTERM
    to the command alone: its workers are told to stop by a signal they take, close their trials, and the
    command exits 130 with nothing left running."""
    proc = subprocess.Popen([sys.executable, "-c", MAIN, *SLOW, "--workers", "2"], cwd=here, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    _wait_running(here / "studies" / "sr-synthetic.db", proc)
    proc.send_signal(signal.SIGINT)  # ignored, as in a background job
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "RUNNING" not in [s for _, s, _ in _states(here / "studies" / "sr-synthetic.db")]


@pytest.mark.slow
def test_sigterm_is_recorded_as_sigterm_on_the_trial_it_stops(here):
    proc = popen(*SLOW, cwd=here)
    number, _, _ = _wait_running(here / "studies" / "sr-synthetic.db", proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    trial = load(here / "studies" / "sr-synthetic.db", "sr-synthetic").trials[number]
    assert trial.user_attrs["fail_kind"] == "interrupted"
    assert trial.user_attrs["fail_reason"] == "interrupted (SIGTERM); queued again"


@pytest.mark.slow
def test_kill_9_mid_trial_then_the_same_command_completes_each_point_once(here):
    proc = popen(*SLOW, cwd=here)
    number, _, worker = _wait_running(here / "studies" / "sr-synthetic.db", proc)
    assert worker["pid"] == proc.pid  # one worker: it trains in the command's own process
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    rerun = dse(*SLOW, cwd=here)
    assert rerun.returncode == 0, rerun.stderr
    study = _check_complete(here / "studies" / "sr-synthetic.db", "sr-synthetic", 3)
    lost = study.trials[number]
    assert lost.state == TrialState.FAIL and lost.user_attrs["fail_kind"] == "lost"
    assert f"process {proc.pid}" in lost.user_attrs["fail_reason"]


@pytest.mark.slow
def test_kill_9_of_one_of_two_workers_is_recovered_within_the_run(here):
    proc = popen(*SLOW, "--workers", "2", cwd=here)
    number, _, worker = _wait_running(here / "studies" / "sr-synthetic.db", proc)
    assert worker["pid"] != proc.pid
    os.kill(worker["pid"], signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "killed by SIGKILL" in err
    study = _check_complete(here / "studies" / "sr-synthetic.db", "sr-synthetic", 3)
    assert study.trials[number].user_attrs["fail_kind"] == "lost"
    again = dse(*SLOW, "--workers", "2", cwd=here)
    assert again.returncode == 0
    assert len(load(here / "studies" / "sr-synthetic.db", "sr-synthetic").trials) == len(study.trials)


@pytest.mark.slow
def test_four_workers_share_one_sqlite_study(here):
    result = dse("sweep", "--param", "sr", "--range", "0.125:1.0", *TINY, "--workers", "4", cwd=here)
    assert result.returncode == 0, result.stderr
    assert "locked" not in result.stderr and "Traceback" not in result.stderr
    study = _check_complete(here / "studies" / "sr-synthetic.db", "sr-synthetic", 8)
    assert len(study.trials) == 8
    assert len({t.user_attrs["worker"]["pid"] for t in study.trials}) >= 2


def test_help_lists_the_options():
    out = io.StringIO()
    result = cli("sweep", "--help")
    out.write(result.stdout)
    for option in ("--param", "--range", "--points", "--values", "--set", "--seeds", "--workers", "--storage",
                   "--study-name", "--prune", "--dataset", "--data-dir", "--subset", "--epochs", "--batch-size",
                   "--lr", "--seed", "--device", "--retries"):
        assert option in out.getvalue(), option
    assert "--max-size-mb" in cli("search", "--help").stdout


@pytest.mark.slow
def test_without_workers_a_cpu_sweep_runs_a_worker_per_core(here, monkeypatch):
    from dse.study.processes import default_workers

    monkeypatch.delenv("DSE_WORKERS")
    expected = default_workers("cpu")
    result = cli("sweep", "--param", "sr", "--values", "0.25,1.0", *TINY)
    assert result.exit_code == 0, result.output
    header = " ".join(result.stdout.split())
    assert (f"{expected} workers on cpu" in header) if expected > 1 else ("workers on" not in header)
    study = load(here / "studies" / "sr-synthetic.db", "sr-synthetic")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
