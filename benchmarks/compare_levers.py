"""The throughput levers side by side: the eager step and the CUDA-graph step.

    python benchmarks/compare_levers.py                        # CUDA if present: batch 512 and 1024, anchor + sr 1.0
    python benchmarks/compare_levers.py --accuracy folder:data/cifar10-jpeg      # + 8-epoch top-1 of each lever
    python benchmarks/compare_levers.py --tiny                 # a CPU check of every path: batch 8, 2 steps

One table per device: point, batch, lever, the step that ran (graph falls back to eager when its capture fails;
on a CPU it runs uncaptured, "static"), images/s in steady state and the ratio to the eager row. The accuracy
table trains the anchor with each lever on the same data (seed 0), so a lever never buys speed with accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass

import torch

from dse.errors import DseError
from dse.space import DesignPoint, Norm, preset

LEVERS = ("eager", "graph")


def points(image_size: int = 32, tiny: bool = False) -> dict[str, DesignPoint]:
    """The anchor (squeezenet1_0, cifar stem, BatchNorm) and the largest point of the SR sweep (sr 1.0)."""
    anchor = preset("squeezenet1_0").replace(norm=Norm.batch)
    if tiny:
        anchor = anchor.replace(base_e=16, incr_e=16)
    return {"anchor": anchor.for_data(10, 3, image_size), "sr1.0": anchor.replace(sr=1.0).for_data(10, 3, image_size)}


@dataclass(frozen=True)
class Row:
    point: str
    batch: int
    lever: str
    step: str  # what ran
    images_per_second: float | None  # None: the lever failed
    ratio: float | None  # to the eager row of the same point and batch
    device: str
    note: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def speed_rows(names: list[str], batch_sizes: list[int], levers: list[str], *, device: str, steps: int,
               warmup: int, tiny: bool, capture: bool | None = None) -> list[Row]:
    """Time each lever; a lever that fails (out of memory, say) gives a row with its error and the rest go on."""
    from dse.train import recipe_for, time_steps
    from dse.train.bench import bench_data

    rows: list[Row] = []
    table = points(tiny=tiny)
    for name in names:
        point = table[name]
        for batch in batch_sizes:
            data = bench_data(point, batch)
            recipe = recipe_for(point, batch_size=batch, epochs=1)
            eager = None
            for lever in levers:
                try:
                    t = time_steps(point, data, recipe.replace(step=lever), device=device, steps=steps,
                                   warmup_steps=warmup, capture=capture if lever == "graph" else None)
                except DseError as exc:
                    rows.append(Row(name, batch, lever, "failed", None, None, "", str(exc).splitlines()[0]))
                    continue
                ips = t.images_per_second
                eager = ips if lever == "eager" else eager
                rows.append(Row(name, batch, lever, t.step, ips, ips / eager if eager else None, t.device))
    return rows


def accuracy_rows(dataset: str, levers: list[str], *, device: str, epochs: int, subset: int | None, tiny: bool,
                  batch: int) -> list[dict]:
    """The anchor trained `epochs` epochs with each lever on `dataset`: top-1 and wall time."""
    from dse.data import load_dataset
    from dse.train import recipe_for, resolve_device, train

    data = load_dataset(dataset, subset=subset)
    point = points(data.info.image_size, tiny)["anchor"].for_data(data.info.num_classes, data.info.in_channels,
                                                                   data.info.image_size)
    recipe = recipe_for(point, epochs=epochs, batch_size=batch)
    dev = resolve_device(device)
    out = []
    for lever in levers:
        started = time.perf_counter()
        try:
            r = train(point, data, recipe.replace(step=lever), device=dev)
            row = dict(lever=lever, step=r.step, top1=r.top1, failed=0)
        except DseError as exc:
            row = dict(lever=lever, step="failed", top1=None, failed=1, note=str(exc))
        row.update(seconds=time.perf_counter() - started, epochs=epochs, dataset=dataset)
        out.append(row)
    return out


def print_speed(rows: list[Row]) -> None:
    for device in dict.fromkeys(r.device for r in rows if r.device):
        print(f"\n{device}")
        header = f"{'point':<7} {'batch':>5} {'lever':<11} {'step':<7} {'images/s':>10} {'x eager':>8}"
        print(header + "\n" + "-" * len(header))
        for r in rows:
            if r.device in (device, ""):
                speed = f"{r.images_per_second:>10,.0f}" if r.images_per_second else f"{'failed':>10}"
                ratio = f"{r.ratio:>8.2f}" if r.ratio else f"{'':>8}"
                print(f"{r.point:<7} {r.batch:>5} {r.lever:<11} {r.step:<7} {speed} {ratio} {r.note}".rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--points", default="anchor,sr1.0", help="comma-separated, of anchor, sr1.0")
    parser.add_argument("--levers", default=",".join(LEVERS), help=f"comma-separated, of {', '.join(LEVERS)}")
    parser.add_argument("--batch-sizes", default=None, help="comma-separated [default: 512,1024; --tiny: 8]")
    parser.add_argument("--steps", type=int, default=None, help="timed steps [default: 100; --tiny: 2]")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first [default: 20; --tiny: 1]")
    parser.add_argument("--tiny", action="store_true", help="narrow points, batch 8, 2 steps: a CPU test of the paths")
    parser.add_argument("--capture", action="store_true",
                        help="attempt the graph capture even on a CPU (it fails there: tests the eager fallback)")
    parser.add_argument("--accuracy", metavar="DATASET", help="also train the anchor with each lever on DATASET")
    parser.add_argument("--epochs", type=int, default=8, help="of the accuracy runs")
    parser.add_argument("--subset", type=int, default=None, help="images per split of the accuracy runs")
    parser.add_argument("--json", action="store_true", help="one JSON object per row instead of the tables")
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.points.split(",") if n.strip()]
    levers = [n.strip() for n in args.levers.split(",") if n.strip()]
    if bad := [n for n in names if n not in points()] + [n for n in levers if n not in LEVERS]:
        parser.error(f"unknown point(s) or lever(s): {', '.join(bad)}")
    batch_sizes = [int(b) for b in (args.batch_sizes or ("8" if args.tiny else "512,1024")).split(",")]
    steps = args.steps or (2 if args.tiny else 100)
    warmup = args.warmup if args.warmup is not None else (1 if args.tiny else 20)
    try:
        rows = speed_rows(names, batch_sizes, levers, device=args.device, steps=steps, warmup=warmup,
                          tiny=args.tiny, capture=True if args.capture else None)
        if args.json:
            for r in rows:
                print(json.dumps({"table": "speed", **r.to_dict()}), flush=True)
        else:
            print_speed(rows)
        if args.accuracy:
            batch = batch_sizes[0]
            acc = accuracy_rows(args.accuracy, levers, device=args.device, epochs=args.epochs, subset=args.subset,
                                tiny=args.tiny, batch=batch)
            if args.json:
                for a in acc:
                    print(json.dumps({"table": "accuracy", **a}), flush=True)
            else:
                print(f"\nanchor, {args.epochs} epochs on {args.accuracy}, batch {batch}")
                print(f"{'lever':<11} {'step':<7} {'top-1 %':>8} {'s':>7}")
                for a in acc:
                    top = f"{a['top1']:>8.2f}" if a["top1"] is not None else f"{'failed':>8}"
                    print(f"{a['lever']:<11} {a['step']:<7} {top} {a['seconds']:>7.1f}")
    except DseError as exc:
        print(f"compare_levers: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    torch.backends.cudnn.benchmark = True
    sys.exit(main())
