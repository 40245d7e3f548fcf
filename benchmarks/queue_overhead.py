"""The study as a queue: start-up of a large grid, and what dse's own bookkeeping costs per trial as a study grows.

Start-up: a fresh study of PAIRS (point, seed) pairs, timed from the start of queueing (`dse.study.queue.Queueing`)
to the first pair queued (when a command can start training) and to the whole grid queued; then two and three
processes queueing the same grid at once (`queue_missing` under the queue lock): how long the last one took and
how many trials the study holds (it must be PAIRS).

Per-trial overhead: a study already holding N completed trials (N = 100, 1,000, 10,000, with the user attrs a
real trial records), then K more pairs queued and trained by one worker (`dse.study.runner.work`) with a trainer
that returns at once: seconds per trial is everything but training (taking the trial, the duplicate check, the
records, telling it).

    python benchmarks/queue_overhead.py --backends sqlite,postgresql --sizes 100,1000,10000 \\
        | tee benchmarks/results/queue_overhead.txt

PostgreSQL: --pg-url (default the test server, postgresql://postgres@127.0.0.1:5432/test); its studies are
deleted after.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState, create_trial

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dse.study import layout  # noqa: E402
from dse.study.grid import build_spec  # noqa: E402
from dse.study.handle import RunOptions, open_study  # noqa: E402
from dse.study.processes import load_data  # noqa: E402
from dse.study.queue import Queueing, queue_missing  # noqa: E402
from dse.study.runner import work  # noqa: E402

DESIGN = {"base_e": 16, "incr_e": 16}
RECIPE = {"epochs": 1, "batch_size": 32}
K = 20  # trials trained per measurement
PREFIX = f"bench-{uuid.uuid4().hex[:8]}-"  # study names (PostgreSQL: beside other studies)


def spec_for(points: int, seeds: int):
    values = ",".join(str(round((i + 1) / points, 6)) for i in range(points))
    return build_spec(params=["sr"], values=[values], seeds=seeds, dataset="synthetic", subset=32, design=DESIGN,
                      recipe_options=RECIPE)


def options(storage: str, name: str) -> RunOptions:
    return RunOptions(storage=storage, study_name=name, device="cpu", keep_weights="none", latency_runs=0)


# ------------------------------------------------------------------------------------------------ start-up


def startup(storage: str, pairs: int) -> tuple[float, float]:
    spec = spec_for(pairs // 10, 10)
    handle = open_study(spec, options(storage, PREFIX + "startup"))
    started = time.perf_counter()
    queueing = Queueing(handle).start()
    queueing.first.wait()
    first = time.perf_counter() - started
    queueing.close()
    assert queueing.count == pairs, queueing.count
    return first, time.perf_counter() - started


def _queue_child(storage: str, name: str, pairs: int, barrier, seconds) -> None:
    handle = open_study(spec_for(pairs // 10, 10), options(storage, name))
    barrier.wait()
    started = time.perf_counter()
    queue_missing(handle)
    seconds.put(time.perf_counter() - started)


def together(storage: str, pairs: int, processes: int) -> tuple[float, int]:
    name = f"{PREFIX}together-{processes}"
    open_study(spec_for(pairs // 10, 10), options(storage, name))
    ctx = multiprocessing.get_context("spawn")
    barrier, seconds = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_queue_child, args=(storage, name, pairs, barrier, seconds)) for _ in range(processes)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    longest = max(seconds.get() for _ in procs)
    return longest, len(optuna.load_study(study_name=name, storage=url_of(storage)).get_trials(deepcopy=False))


# ------------------------------------------------------------------------------------------------ per trial


@dataclass
class Result:
    top1: float

    def to_dict(self) -> dict:
        return {"top1": self.top1, "top5": 99.0, "loss": 1.0, "epochs": 1, "train_seconds": 0.0,
                "images_per_second": 0.0, "peak_memory_mb": 0.0, "device": "none", "epoch_top1": [self.top1]}


def instant(point, data, recipe, *, device="auto", on_epoch=None):
    if on_epoch:
        on_epoch(1, 50.0)
    return Result(50.0)


def completed(params: dict, distributions: dict, number: int) -> optuna.trial.FrozenTrial:
    """A COMPLETE trial with the attrs a real one records (sizes as in a 10-epoch run)."""
    epochs = [40.0 + i for i in range(10)]
    attrs = {layout.QUEUED_ATTR: params, "worker": {"host": "h", "machine": "m", "pid": 1, "start": 0.0,
                                                      "device": "cpu", "run": "r"},
             "point": {"sr": params["sr"], "base_e": 16, "incr_e": 16}, "params": 1000, "size_mb": 0.01,
             "imagenet_size_mb": 1.0, "macs": 100000, "size_mb_int8": 0.003, "size_mb_int4": 0.002,
             "top1": 50.0, "top5": 90.0, "loss": 1.0, "epochs": 10, "train_seconds": 1.0,
             "images_per_second": 100.0, "peak_memory_mb": 0.0, "device": "cpu", "epoch_top1": epochs,
             "val_top1": 49.0, "epoch_val_top1": epochs, "train_images": 29, "val_images": 3, "diverged": False}
    return create_trial(state=TrialState.COMPLETE, value=50.0 + number % 7, params=params,
                        distributions=distributions, user_attrs=attrs)


def per_trial(storage: str, build_at: str, n: int) -> tuple[float, float]:
    """(seconds to start a command on a study of n trials, seconds per trial of dse's bookkeeping)."""
    points = 20
    spec = spec_for(points, (n + K) // points)
    handle = open_study(spec, options(build_at, PREFIX + f"size-{n}"))
    dists = spec.distributions()
    todo = spec.initial_params()
    for i, params in enumerate(todo[:n]):
        handle.study.add_trial(completed(layout.jsonable(params), dists, i))
    if build_at != storage:  # built on a RAM disk (fast), measured on the real one
        shutil.copy(build_at.removeprefix("sqlite:///") if "://" in build_at else build_at, storage)
    handle = open_study(spec, options(storage, PREFIX + f"size-{n}"))
    started = time.perf_counter()
    assert queue_missing(handle) == K
    start_s = time.perf_counter() - started
    data = load_data(spec)
    started = time.perf_counter()
    work(handle, data, "cpu", train_fn=instant, poll=0.05)
    seconds = (time.perf_counter() - started) / K
    done = handle.trials([TrialState.COMPLETE])
    assert len(done) == n + K, len(done)
    return start_s, seconds


def url_of(storage: str) -> str:
    from dse.study.storage import normalize_url

    return normalize_url(storage) if "://" in storage else f"sqlite:///{storage}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--pairs", type=int, default=1000)
    ap.add_argument("--pg-url", default=os.environ.get("DSE_TEST_POSTGRES_URL",
                                                       "postgresql://postgres@127.0.0.1:5432/test"))
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    print(f"optuna {optuna.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    for backend in args.backends.split(","):
        folder = Path(tempfile.mkdtemp(prefix="dse-queue-bench-"))
        ram = Path(tempfile.mkdtemp(prefix="dse-queue-bench-", dir="/dev/shm")) if Path("/dev/shm").is_dir() else folder
        try:
            bench_backend(backend, args, folder, ram)
        finally:
            if backend != "sqlite":
                for name in optuna.get_all_study_names(url_of(args.pg_url)):
                    if name.startswith(PREFIX):
                        optuna.delete_study(study_name=name, storage=url_of(args.pg_url))
            shutil.rmtree(folder, ignore_errors=True)
            shutil.rmtree(ram, ignore_errors=True)


def bench_backend(backend: str, args, folder: Path, ram: Path) -> None:
    def storage_for(tag: str, at: Path = folder) -> str:
        return str(at / f"{tag}.db") if backend == "sqlite" else args.pg_url

    first, whole = startup(storage_for("startup"), args.pairs)
    print(f"{backend}: start-up of {args.pairs:,} pairs: first pair queued after {first:.2f} s (training can "
          f"start), whole grid queued after {whole:.1f} s ({whole / args.pairs * 1000:.1f} ms a pair)", flush=True)
    for processes in (2, 3):
        longest, count = together(storage_for(f"together-{processes}"), args.pairs, processes)
        print(f"{backend}: {processes} processes queueing {args.pairs:,} pairs at once: {count:,} trials "
              f"(one per pair: {count == args.pairs}), the last done after {longest:.1f} s", flush=True)
    for n in (int(s) for s in args.sizes.split(",")):
        start_s, seconds = per_trial(storage_for(f"size-{n}"), storage_for(f"size-{n}", ram), n)
        print(f"{backend}: study of {n:,} trials: a start reads it and queues {K} in {start_s:.2f} s; "
              f"{seconds * 1000:.0f} ms of bookkeeping per trial (mean over {K})", flush=True)

if __name__ == "__main__":
    main()
