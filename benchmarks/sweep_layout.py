"""Trials per hour of a CPU sweep laid out as W workers x T threads each (issue: 1 x 2 against 2 x 1 on 2 cores).

Each layout runs the same small `dse sweep` (a fresh study in a temporary folder) in alternating rounds (A B A B ..),
so a machine whose speed drifts affects every layout alike. Trials per hour is counted two ways: over the wall time
of the whole command (start-up, data loading, the speed estimate, training, evaluation and the study's writes), and
over the trials' own span (first trial started to last finished: the steady state of a long sweep).

    python benchmarks/sweep_layout.py --rounds 2 -- --dataset folder:data/cifar10-jpeg --subset 5000 --epochs 1 \\
        --batch-size 128 --base-e 64 --incr-e 64 --param sr --values 0.125,0.5,1.0 --seeds 2

Layouts are `W` (workers; threads = cores // W, which is what `dse sweep --workers W` gives each worker on a CPU).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(workers: int, sweep_args: list[str], folder: Path, tag: str) -> tuple[float, float, int]:
    study = folder / f"{tag}.db"
    cmd = [str(Path(sys.executable).parent / "dse"), "sweep", *sweep_args, "--device", "cpu", "--workers", str(workers),
           "--storage", str(study), "--study-name", tag, "--keep-weights", "none", "--latency-runs", "0"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = optuna.load_study(study_name=tag, storage=f"sqlite:///{study}").get_trials(deepcopy=False)
    done = [t for t in trials if t.state.name == "COMPLETE"]
    span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds()
    return seconds, span, len(done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layouts", default="1,2", help="worker counts to compare (comma-separated)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("sweep_args", nargs=argparse.REMAINDER, help="after --: the dse sweep arguments")
    args = parser.parse_args()
    sweep_args = [a for a in args.sweep_args if a != "--"]
    layouts = [int(w) for w in args.layouts.split(",")]
    cores = os.cpu_count() or 1
    whole: dict[int, list[float]] = {w: [] for w in layouts}
    steady: dict[int, list[float]] = {w: [] for w in layouts}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for w in layouts:
                seconds, span, done = run_once(w, sweep_args, Path(tmp), f"layout-{w}-{r}")
                whole[w].append(3600 * done / seconds)
                steady[w].append(3600 * done / span)
                print(f"round {r + 1}: {w} worker(s) x {max(1, cores // w)} thread(s): {done} trials, command "
                      f"{seconds:.0f} s ({whole[w][-1]:.1f} trials/h), trials' span {span:.0f} s "
                      f"({steady[w][-1]:.1f} trials/h)", flush=True)
    first = statistics.median(steady[layouts[0]])
    for w in layouts:
        med = statistics.median(steady[w])
        print(f"{w} worker(s) x {max(1, cores // w)} thread(s): median {med:.1f} trials/h over the trials' span "
              f"({med / first:.2f}x), {statistics.median(whole[w]):.1f} over the whole command")
    print(f"machine: {cores} cores; sweep: dse sweep {' '.join(sweep_args)}")


if __name__ == "__main__":
    main()
