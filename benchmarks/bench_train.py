"""Training throughput table: point x batch size on one device, steady state after warm-up.

    .venv/bin/python benchmarks/bench_train.py                       # CUDA if present, else CPU
    .venv/bin/python benchmarks/bench_train.py --device cpu --batch-sizes 64,128 --steps 10
    .venv/bin/python benchmarks/bench_train.py --points anchor --batch-sizes 512,1024 --compile

Each row times the step `dse train` runs (device-resident synthetic batches, augmentation, bf16 autocast on
CUDA, channels_last, SGD); "epoch s" is a 50,000-image epoch at that rate, without evaluation. The anchor
row is squeezenet1_0 with the cifar stem and BatchNorm, the network of the ~39,000 img/s H200 reference.
Record results with the device name in docs/training.md.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from dse.errors import DseError
from dse.space import Norm, preset
from dse.train.bench import bench, bench_data

POINTS = {
    "anchor": preset("squeezenet1_0").replace(norm=Norm.batch),  # cifar stem, BatchNorm
    "v1_0-none": preset("squeezenet1_0"),  # the paper's network: no BatchNorm
    "v1_1": preset("squeezenet1_1").replace(norm=Norm.batch),
    "v1_0-sr0.75": preset("squeezenet1_0").replace(norm=Norm.batch, sr=0.75),
    "v1_0-complex": preset("squeezenet1_0_complex_bypass").replace(norm=Norm.batch),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--points", default=",".join(POINTS), help=f"comma-separated, of {', '.join(POINTS)}")
    parser.add_argument("--batch-sizes", default=None, help="comma-separated [default: 512 on CUDA, 128 on CPU]")
    parser.add_argument("--steps", type=int, default=None, help="timed steps [default: 100 on CUDA, 10 on CPU]")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first [default: 20 / 3]")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--json", action="store_true", help="one JSON object per row instead of the table")
    args = parser.parse_args(argv)

    cuda = args.device.startswith("cuda") or (args.device == "auto" and torch.cuda.is_available())
    batch_sizes = [int(b) for b in (args.batch_sizes or ("512" if cuda else "128")).split(",")]
    steps = args.steps or (100 if cuda else 10)
    warmup = args.warmup if args.warmup is not None else (20 if cuda else 3)
    names = [n.strip() for n in args.points.split(",") if n.strip()]
    unknown = [n for n in names if n not in POINTS]
    if unknown:
        parser.error(f"unknown point(s) {', '.join(unknown)}; known: {', '.join(POINTS)}")

    header = f"{'point':<14} {'device':<34} {'batch':>5} {'dtype':>6} {'images/s':>10} {'step ms':>8} {'epoch s':>8}"
    if not args.json:
        print(header)
        print("-" * len(header))
    for name in names:
        point = POINTS[name].for_data(10, 3, args.image_size)
        for batch in batch_sizes:
            try:
                r = bench(point, bench_data(point, batch), device=args.device, batch_size=batch, steps=steps,
                          warmup_steps=warmup, compile=args.compile)
            except DseError as exc:  # out of memory at a big batch, diverged: report the row and go on
                print(f"{name:<14} {'':<34} {batch:>5} failed: {exc}", file=sys.stderr)
                continue
            if args.json:
                print(json.dumps({"point": name, **r.to_dict()}), flush=True)
            else:
                dtype = r.dtype + ("+c" if r.compiled else "")
                print(f"{name:<14} {r.device[:34]:<34} {r.batch_size:>5} {dtype:>6} {r.images_per_second:>10,.0f} "
                      f"{r.step_ms:>8.1f} {r.epoch_seconds:>8.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
