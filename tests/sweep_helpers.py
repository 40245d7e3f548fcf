"""Shared by the sweep, search, CLI and PostgreSQL tests: tiny runs, a scripted trainer, file fingerprints."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
MAIN = "from dse.cli import main; main()"

# A tiny network on a tiny split: one trial trains in well under a second on 2 CPU cores (after warm-up).
TINY_DEFAULTS = ["--dataset", "synthetic", "--subset", "64", "--epochs", "1", "--batch-size", "32", "--device",
                 "cpu", "--set", "base_e=16", "--set", "incr_e=16"]  # weights and latency as the defaults say
NOTHING_KEPT = ["--latency-runs", "0", "--keep-weights", "none"]  # a test of neither needs neither (a second each)
TINY = TINY_DEFAULTS + NOTHING_KEPT
TINY_DESIGN = {"base_e": 16, "incr_e": 16}
TINY_RECIPE = {"epochs": 1, "batch_size": 32}


@dataclass
class FakeResult:
    top1: float
    epochs: int = 1
    epoch_top1: tuple = ()

    def to_dict(self) -> dict:
        return {"top1": self.top1, "top5": min(100.0, self.top1 + 30), "loss": 1.0, "epochs": self.epochs,
                "train_seconds": 0.01, "images_per_second": 1000.0, "peak_memory_mb": 0.0, "device": "fake",
                "epoch_top1": list(self.epoch_top1 or (self.top1,))}


@dataclass
class ScriptedTrain:
    """A stand-in for dse.train.train: accuracy from the point, or a scripted failure per (sr, seed, call)."""

    behave: Callable | None = None  # (point, recipe, call_index) -> exception to raise or None
    calls: list = field(default_factory=list)
    epochs: int = 1
    curve: Callable | None = None  # (point, epoch) -> top1

    def __call__(self, point, data, recipe, *, device="auto", on_epoch=None):
        index = len(self.calls)
        self.calls.append((point.to_dict(), recipe.seed))
        if self.behave is not None:
            exc = self.behave(point, recipe, index)
            if exc is not None:
                raise exc
        accs = []
        for epoch in range(1, self.epochs + 1):
            top1 = self.curve(point, epoch) if self.curve else 50 + 40 * point.sr + recipe.seed
            accs.append(top1)
            if on_epoch:
                on_epoch(epoch, top1)
        return FakeResult(top1=accs[-1], epochs=self.epochs, epoch_top1=tuple(accs))


def fingerprint(path: Path) -> tuple:
    """Bytes and metadata: 'unchanged' means all of them."""
    st = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), st.st_size, st.st_mtime_ns, st.st_mode


def dse(*args: str, cwd: Path, timeout: float = 240, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real command line in a fresh process (what a user or a second machine runs)."""
    return subprocess.run([PYTHON, "-c", MAIN, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=child_env(env))


def popen(*args: str, cwd: Path, env: dict | None = None, session: bool = False) -> subprocess.Popen:
    """`session`: its own process group, as a terminal's foreground job (os.killpg then plays Ctrl-C).

    The command starts with Ctrl-C's default action, as from a terminal, even when pytest itself runs as a
    background job (which inherits SIGINT ignored, and so would every command it starts)."""
    return subprocess.Popen([PYTHON, "-c", MAIN, *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env(env), start_new_session=session,
                            preexec_fn=_terminal_signals)


def _terminal_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def child_env(extra: dict | None = None) -> dict:
    """One torch thread per process: on 2 shared cores, OpenMP threads spin against other jobs' and a tiny trial
    takes 20 s instead of 0.4 s."""
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("COLUMNS", "160")
    env.update(extra or {})
    return env


def load(path_or_url: str | Path, name: str) -> optuna.Study:
    url = str(path_or_url) if "://" in str(path_or_url) else f"sqlite:///{path_or_url}"
    return optuna.load_study(study_name=name, storage=url)


def completed_once(study: optuna.Study) -> dict:
    """(params with seed) -> number of COMPLETE trials; every value must be 1."""
    counts: dict = {}
    for t in study.get_trials(deepcopy=False):
        if t.state == optuna.trial.TrialState.COMPLETE:
            key = tuple(sorted(t.params.items()))
            counts[key] = counts.get(key, 0) + 1
    return counts


@contextlib.contextmanager
def as_nobody():
    """Root may write anything: check permissions as an ordinary user (effective uid only, restored after)."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


@pytest.fixture
def shared_dir():
    """A folder an ordinary user can reach (pytest's own tmp folders are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="dse-storage-"))
    path.chmod(0o755)
    yield path
    for p in path.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.rmtree(path)


@pytest.fixture
def one_thread():
    """In-process training on one torch thread (see child_env)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
