"""Does bf16 autocast cost accuracy? The same point, data and recipe trained in fp32 and in bf16, several seeds each:
the difference of the mean test top-1 against the seed-to-seed noise (Welch's t-test, dse.stats.welch).

    python benchmarks/precision_parity.py --dataset folder:data/cifar10-jpeg --subset 20000 --epochs 3 \\
        --batch-size 128 --base-e 64 --incr-e 64 --seeds 3

Runs go in alternating order (fp32 seed 0, bf16 seed 0, fp32 seed 1, ...), one intra-op thread each unless
--threads says otherwise; with --jobs 2 two runs train at once (one per core). Each run prints one line as it ends
and, with --json FILE, is saved there at once; run again with the same arguments, the runs already in FILE are
reused, so an interrupted measurement resumes.
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor


def one_run(args: argparse.Namespace, precision: str, seed: int) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from dse.data import load_dataset
    from dse.space import DesignPoint
    from dse.train import recipe_for, train

    data = load_dataset(args.dataset, subset=args.subset)
    info = data.info
    point = DesignPoint(base_e=args.base_e, incr_e=args.incr_e, sr=args.sr).for_data(
        info.num_classes, info.in_channels, info.image_size)
    recipe = recipe_for(point, epochs=args.epochs, batch_size=args.batch_size, precision=precision, seed=seed)
    r = train(point, data, recipe, device="cpu")
    return {"precision": precision, "dtype": r.dtype, "seed": seed, "top1": r.top1, "val_top1": r.val_top1,
            "seconds": r.train_seconds, "images_per_second": r.images_per_second, "train_images": r.train_images,
            "test_images": r.test_images, "device": r.device}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="folder:data/cifar10-jpeg")
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--base-e", type=int, default=64)
    parser.add_argument("--incr-e", type=int, default=64)
    parser.add_argument("--sr", type=float, default=0.125)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--json", help="also write every run to this file")
    args = parser.parse_args()
    from dse.stats import mean_interval, welch

    settings = {k: v for k, v in vars(args).items() if k not in ("jobs", "json", "seeds")}
    runs = [r for r in _saved_runs(args.json, settings) if r["seed"] < args.seeds]
    order = [(p, s) for s in range(args.seeds) for p in ("fp32", "bf16")
             if not any(r["precision"] == p and r["seed"] == s for r in runs)]
    for run in runs:
        _print_run(run, "(saved) ")
    with ProcessPoolExecutor(args.jobs) as pool:
        for run in pool.map(one_run, [args] * len(order), *zip(*order, strict=True)) if order else ():
            runs.append(run)
            _print_run(run)
            if args.json:
                with open(args.json, "w") as f:
                    json.dump({"settings": settings, "runs": runs}, f, indent=1)
    top1 = {p: [r["top1"] for r in runs if r["precision"] == p] for p in ("fp32", "bf16")}
    for p, values in top1.items():
        mean, sd, lo, hi = mean_interval(values)
        print(f"{p}: mean {mean:.2f}%, sd {sd:.2f}, 95% t-interval [{lo:.2f}, {hi:.2f}] over {len(values)} seeds")
    w = welch(top1["bf16"], top1["fp32"])
    print(f"bf16 - fp32: {w.diff:+.2f} points; Welch t {w.t:.2f}, df {w.df:.1f}, p {w.p:.2f}: "
          f"{'differs' if w.differs() else 'not told apart from seed noise'} at the 5% level")
    print(f"{runs[0]['train_images']:,} training and {runs[0]['test_images']:,} test images, {args.epochs} epochs, "
          f"batch {args.batch_size}, base_e=incr_e={args.base_e}, sr {args.sr}, {runs[0]['device']}")


def _print_run(run: dict, prefix: str = "") -> None:
    print(f"{prefix}{run['precision']} seed {run['seed']}: test top-1 {run['top1']:.2f}% (validation "
          f"{run['val_top1']:.2f}%), {run['seconds']:.0f} s, {run['images_per_second']:.0f} img/s, ran {run['dtype']}",
          flush=True)


def _saved_runs(path: str | None, settings: dict) -> list[dict]:
    """The runs of an earlier, interrupted measurement with the same settings (none if they differ)."""
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        saved = json.load(f)
    return saved["runs"] if saved.get("settings") == settings else []


if __name__ == "__main__":
    main()
