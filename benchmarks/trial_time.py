"""What the committed CPU reproduction costs on an idle machine: dse's whole-trial speed test
(`dse.train.bench.trial_speed`: training steps, evaluation batches, the new network's cold start) run on every grid
point of the three studies at the workers' thread count, counted for the run's images (`trial_images`: 45,000
trained x 4 epochs, 5,000 + 10,000 evaluated each epoch, latency runs, the kept weights' check), summed over 3 seeds
and shared by the workers. Beside each point, what a sweep's first estimate assumed before it timed three of the
grid's points (`dse.cli.watch.prior_times`): the base point's time scaled by the point's MACs.

    python benchmarks/trial_time.py > benchmarks/results/trial_time_cpu.txt     # on an idle machine

Each point is timed once, for a few steps: expect a tenth either way between runs.
"""

from __future__ import annotations

import argparse

import torch

from dse.data import images_planned
from dse.plan import cost
from dse.study.grid import build_spec
from dse.train.bench import trial_images, trial_seconds, trial_speed
from dse.train.device import device_name, threads

GRIDS = {  # the grids of scripts/cpu_reproduction.sh's three commands, as `dse sweep` reads them
    "sr": {"ranges": ["0.125:1.0"]},
    "pct3x3": {"ranges": ["0.01:0.99"]},
    "bypass": {"values": ["none,simple,complex"]},
}
DATASET = "cifar10"  # the script's JPEG copy has CIFAR-10's splits and image size; this needs no files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="threads per worker (dse's default on a CPU: 1)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=6, help="timed training steps per point")
    args = ap.parse_args()
    specs = {name: build_spec(params=[name], **grid, seeds=args.seeds, dataset=DATASET,
                              design={"base_e": 64, "incr_e": 64}, recipe_options={"epochs": 4, "batch_size": 128})
             for name, grid in GRIDS.items()}
    sizes = images_planned(DATASET, None, specs["sr"].val_fraction)

    def minutes(spec, point) -> float:
        speed = trial_speed(point, spec.recipe, device="cpu", threads=args.threads, steps=args.steps)
        return trial_seconds(speed, trial_images(spec.recipe.epochs, *sizes, True)) / 60

    with threads(args.threads):
        device = device_name(torch.device("cpu"))
    print(f"# {device}, {args.workers} workers x {args.threads} thread(s), base_e = incr_e = 64, 4 epochs, "
          f"batch 128, bf16 where the CPU has it; minutes per trial; study minutes = sum over {args.seeds} seeds "
          f"/ {args.workers} workers")
    print("| study | point | timed (min/trial) | MAC-scaled from the base point (min/trial) |")
    print("|---|---|---|---|")
    total = total_scaled = 0.0
    for name, spec in specs.items():
        base_minutes, base_macs = minutes(spec, spec.point), cost(spec.point).macs
        study = scaled = 0.0
        for point in spec.points():
            timed = minutes(spec, point)
            by_macs = base_minutes * cost(point).macs / base_macs
            study, scaled = study + timed, scaled + by_macs
            print(f"| {name} | {point.to_dict()[name]} | {timed:.1f} | {by_macs:.1f} |", flush=True)
        study, scaled = study * args.seeds / args.workers, scaled * args.seeds / args.workers
        total, total_scaled = total + study, total_scaled + scaled
        print(f"| **{name}** | study | **{study:.0f} min** | {scaled:.0f} min |", flush=True)
    print(f"| **all three** | | **{total:.0f} min** | {total_scaled:.0f} min |")


if __name__ == "__main__":
    main()
