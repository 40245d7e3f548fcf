"""SQLite's rollback journal (dse's mode) against WAL, under 3 writers and 10 readers on one study file.

    .venv/bin/python benchmarks/sqlite_journal_modes.py                  # 20 s per mode
    .venv/bin/python benchmarks/sqlite_journal_modes.py --seconds 10 --out benchmarks/results/sqlite_journal_modes.txt

Writers do what sweep workers do to a study (through dse.study.storage.open_storage: BEGIN IMMEDIATE, the busy
timeout): ask a trial, record a user attr, tell it. Readers do what a report or the dashboard does (through
dse.study.storage.open_existing: read-only): read every trial of the study. All processes start together and run
for the same time, readers paced (a dashboard polls); each mode starts from a copy of the same study of 500
trials. Printed per mode: trials written per second and the latency of each (ask, attr, tell), study reads per
second and their latency, errors.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
import optuna, warnings
warnings.filterwarnings("ignore", message="Heartbeat of storage")
optuna.logging.set_verbosity(optuna.logging.ERROR)
from dse.study.storage import open_existing, open_storage
role, path, seconds, pace = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
if role == "writer":
    study = optuna.load_study(study_name="bench", storage=open_storage(path, "bench"))
else:
    storage, _ = open_existing(path)
    study = optuna.load_study(study_name="bench", storage=storage)
print("ready", flush=True)
sys.stdin.readline()
latencies, errors, end = [], 0, time.perf_counter() + seconds
next_start = time.perf_counter()
while time.perf_counter() < end:
    if role == "reader":  # a dashboard or report polls; it does not spin
        time.sleep(max(0.0, next_start - time.perf_counter()))
        next_start += pace
    start = time.perf_counter()
    try:
        if role == "writer":
            trial = study.ask()
            trial.set_user_attr("note", "x" * 200)
            study.tell(trial, 1.0)
        else:
            study.get_trials(deepcopy=False)
    except Exception:
        errors += 1
        continue
    latencies.append(time.perf_counter() - start)
print(json.dumps({"role": role, "latencies": latencies, "errors": errors}), flush=True)
"""


def make_study(path: Path, trials: int) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(study_name="bench", storage=f"sqlite:///{path}")
    for _ in range(trials):
        trial = study.ask()
        trial.set_user_attr("note", "x" * 200)
        study.tell(trial, 1.0)


def run_mode(template: Path, mode: str, writers: int, readers: int, seconds: float, pace: float,
             folder: Path) -> dict:
    import sqlite3

    path = folder / f"{mode.lower()}.db"
    shutil.copy(template, path)
    with sqlite3.connect(path) as con:
        assert con.execute(f"PRAGMA journal_mode={mode}").fetchone()[0].upper() == mode
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, role, str(path), str(seconds), str(pace)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
             for role in ["writer"] * writers + ["reader"] * readers]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:  # all at once
        p.stdin.write("go\n")
        p.stdin.flush()
    results = [json.loads(p.stdout.readline()) for p in procs]
    for p in procs:
        p.wait()
    out = {}
    for role in ("writer", "reader"):
        lat = sorted(x for r in results if r["role"] == role for x in r["latencies"])
        out[role] = {"ops": len(lat), "per_s": len(lat) / seconds, "errors": sum(r["errors"] for r in results
                                                                                 if r["role"] == role),
                     "p50_ms": 1000 * statistics.median(lat) if lat else float("nan"),
                     "p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))] if lat else float("nan"),
                     "max_ms": 1000 * lat[-1] if lat else float("nan")}
    return out


def main() -> None:
    import warnings

    warnings.filterwarnings("ignore", message="Heartbeat of storage")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--writers", type=int, default=3)
    parser.add_argument("--readers", type=int, default=10)
    parser.add_argument("--trials", type=int, default=500, help="trials in the study before the run")
    parser.add_argument("--read-every", type=float, default=0.5, help="seconds between one reader's reads")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        template = folder / "template.db"
        make_study(template, args.trials)
        rows = {mode: run_mode(template, mode, args.writers, args.readers, args.seconds, args.read_every, folder)
                for mode in ("DELETE", "WAL")}
    load = os.getloadavg()[0]
    lines = [f"# {args.writers} writers (as fast as they can), {args.readers} readers (each reading every "
             f"{args.read_every:g} s), {args.seconds:g} s per mode, a study of "
             f"{args.trials} trials; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load "
             f"average {load:.1f} at the end; python {platform.python_version()}",
             f"{'mode':<7} {'writes/s':>9} {'w p50 ms':>9} {'w p95 ms':>9} {'w max ms':>9} {'w err':>6} "
             f"{'reads/s':>8} {'r p50 ms':>9} {'r p95 ms':>9} {'r max ms':>9} {'r err':>6}"]
    for mode, r in rows.items():
        w, d = r["writer"], r["reader"]
        lines.append(f"{mode:<7} {w['per_s']:9.1f} {w['p50_ms']:9.1f} {w['p95_ms']:9.1f} {w['max_ms']:9.1f} "
                     f"{w['errors']:6d} {d['per_s']:8.1f} {d['p50_ms']:9.1f} {d['p95_ms']:9.1f} {d['max_ms']:9.1f} "
                     f"{d['errors']:6d}")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
