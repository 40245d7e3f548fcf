"""The GPU check's first minute: each throughput lever on the anchor, the pick, the sweeps' estimated time, the OOM
check, and (optionally) two trainings in one process on two streams. Run by scripts/gpu_check.sh.

    python scripts/gpu_smoke.py --dataset folder:data/cifar10-jpeg --device cuda --batch 512 --out OUT
    python scripts/gpu_smoke.py --dataset folder:data/cifar10-jpeg --device cpu --tiny --out /tmp/gc   # CPU test

Writes OUT/smoke.json and prints what it found. Exit 0 when the eager step works (the sweeps can run), else 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import threading
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]

PAPER_SWEEPS = ("sr", "pct3x3")  # Figure 3(a) and 3(b)


def _compare_levers():
    spec = importlib.util.spec_from_file_location("compare_levers", REPO / "benchmarks" / "compare_levers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def sweep_points(anchor):
    """The points of the paper's two sweeps as `dse sweep --param sr` and `--param pct3x3` make them: each
    parameter's default grid (`dse.space.PARAMS`), a pct3x3 sweep held at sr 0.5 as the paper's Figure 3(b)."""
    from dse.study.grid import grid_values, paper_fixed

    return {sweep: [anchor.replace(**paper_fixed([sweep]), **{sweep: v}) for v in grid_values(sweep)]
            for sweep in PAPER_SWEEPS}


def estimate(anchor, epoch_seconds: float, setup_seconds: float, epochs: int, seeds: int) -> dict:
    """Seconds per sweep: each trial = setup + epochs x the anchor's measured epoch (training and evaluation),
    scaled by the point's MACs over the anchor's (dse.plan.cost). An estimate: small points pay fixed costs
    that MACs do not see, so they run slower than their share."""
    from dse.plan import cost

    macs = cost(anchor).macs
    return {sweep: seeds * sum(setup_seconds + epochs * epoch_seconds * cost(p).macs / macs for p in points)
            for sweep, points in sweep_points(anchor).items()}


def oom_check(anchor, data, dev, batch: int) -> dict:
    """Force one CUDA OOM (the largest SR point at a batch of the whole split), then train normally."""
    from dse.train import OutOfMemory, Recipe, train

    if dev.type != "cuda":
        return {"checked": False, "why": "no CUDA here: a CPU has no out-of-memory error to force"}
    big = anchor.replace(sr=1.0)
    baseline = torch.cuda.memory_allocated(dev)
    out = {"checked": True, "batch": data.num_train}
    try:
        train(big, data, Recipe(epochs=1, batch_size=data.num_train), device=dev)
        out.update(oom=False, why=f"batch {data.num_train} fitted in memory: no OOM forced")
    except OutOfMemory as exc:
        out.update(oom=True, message=str(exc))
    out["leaked_mb"] = (torch.cuda.memory_allocated(dev) - baseline) / 2**20
    result = train(anchor, data, Recipe(epochs=1, batch_size=batch), device=dev)
    out.update(next_run_top1=result.top1, next_run_step=result.step)
    return out


def concurrent(anchor, recipe, dev, steps: int, warmup: int, threads: int) -> dict:
    """Aggregate images/s of `threads` trainings at once in this process, each on its own stream (eager step:
    a graph capture in one thread would break the other thread's work under the default capture mode)."""
    from dse.train import time_steps
    from dse.train.bench import bench_data

    data = bench_data(anchor, recipe.batch_size)
    one = time_steps(anchor, data, recipe.replace(step="eager"), device=dev, steps=steps, warmup_steps=warmup)
    done: list = []

    def work():
        with torch.cuda.stream(torch.cuda.Stream(dev)):
            done.append(time_steps(anchor, data, recipe.replace(step="eager"), device=dev, steps=steps,
                                   warmup_steps=warmup))

    started = time.perf_counter()
    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - started  # warm-up included: an upper bound on the time of the timed steps
    timed = max(t.seconds for t in done) if len(done) == threads else None
    return {"threads": threads, "one_images_per_second": one.images_per_second,
            "together_images_per_second": (threads * steps * recipe.batch_size / timed) if timed else None,
            "wall_seconds": wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=8, help="of the sweeps (for the estimate)")
    parser.add_argument("--seeds", type=int, default=3, help="of the sweeps (for the estimate)")
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--tiny", action="store_true", help="CPU test: narrow anchor, 1 timed step")
    parser.add_argument("--concurrent", type=int, default=0, help="also time N trainings in this process at once")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    from dse.data import load_dataset
    from dse.train import recipe_for, resolve_device, train

    torch.backends.cudnn.benchmark = True
    dev = resolve_device(args.device)
    cl = _compare_levers()
    steps, warmup = (1, 0) if args.tiny else (30, 10)
    report: dict = {"device": str(dev), "batch": args.batch}

    # 1. each lever, timed (graph twice on a CPU: uncaptured, and with a capture that fails -> eager fallback)
    rows = cl.speed_rows(["anchor"], [args.batch], list(cl.LEVERS), device=str(dev), steps=steps, warmup=warmup,
                         tiny=args.tiny)
    if dev.type != "cuda":
        rows += cl.speed_rows(["anchor"], [args.batch], ["graph"], device=str(dev), steps=steps, warmup=warmup,
                              tiny=args.tiny, capture=True)
    report["levers"] = [r.to_dict() for r in rows]
    cl.print_speed(rows)
    works = {r.lever: r for r in rows if r.images_per_second and r.lever in ("eager", "graph")
             and (r.lever == "eager" or r.step == ("graph" if dev.type == "cuda" else "static"))}
    if "eager" not in works:
        print("smoke: the eager step failed; nothing can train here")
        Path(args.out, "smoke.json").write_text(json.dumps(report, indent=1))
        return 1
    pick = max(works.values(), key=lambda r: r.images_per_second).lever
    report["pick"] = pick
    print(f"\nsmoke: fastest working step for the sweeps: {pick} "
          f"({works[pick].images_per_second:,.0f} images/s at batch {args.batch})")
    if pick != "graph" and dev.type == "cuda":
        print("smoke: note: the sweeps run Recipe.step=auto (graph on CUDA; a failed capture falls back per trial); "
              "no `dse sweep` option selects the step yet")

    # 2. one real epoch of the anchor on the data: epoch time (training + evaluation) and set-up time
    data = load_dataset(args.dataset, subset=args.subset)
    info = data.info
    anchor = cl.points(info.image_size, args.tiny)["anchor"].for_data(info.num_classes, info.in_channels,
                                                                      info.image_size)
    started = time.perf_counter()
    one = train(anchor, data, recipe_for(anchor, epochs=1, batch_size=args.batch), device=dev)
    setup = time.perf_counter() - started - one.train_seconds
    report["epoch"] = {"seconds": one.train_seconds, "setup_seconds": setup, "top1": one.top1, "step": one.step,
                       "images_per_second": one.images_per_second, "train_images": one.train_images}
    print(f"smoke: one epoch of the anchor on {data.info.name}: {one.train_seconds:.1f} s (+{setup:.1f} s set-up), "
          f"top-1 {one.top1:.1f}%, {one.images_per_second:,.0f} images/s in training steps, {one.step} step")
    est = estimate(anchor, one.train_seconds, setup, args.epochs, args.seeds)
    report["estimate_seconds"] = est
    for sweep, seconds in est.items():
        points = len(sweep_points(anchor)[sweep])
        print(f"smoke: estimated {sweep} sweep ({points} points x {args.seeds} seeds x {args.epochs} epochs): "
              f"{seconds / 60:.1f} min")

    # 3. a forced OOM, and a normal run after it in this process
    report["oom"] = oom_check(anchor, data, dev, args.batch)
    print(f"smoke: oom check: {report['oom']}")

    # 4. several trainings in one process (streams): do they add up?
    if args.concurrent > 1 and dev.type == "cuda":
        report["concurrent"] = concurrent(anchor, recipe_for(anchor, batch_size=args.batch, epochs=1), dev,
                                          100, 20, args.concurrent)
        print(f"smoke: concurrent: {report['concurrent']}")
    Path(args.out, "smoke.json").write_text(json.dumps(report, indent=1))
    return 0  # an OOM that could not be forced is reported, not fatal


if __name__ == "__main__":
    sys.exit(main())
