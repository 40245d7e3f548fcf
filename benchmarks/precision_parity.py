"""Does bf16 autocast cost accuracy? The same point, data and recipe trained in fp32 and in bf16, several seeds each:
the difference of the mean test top-1 against the seed-to-seed noise (Welch's t-test, dse.stats.welch).

    python benchmarks/precision_parity.py --dataset folder:data/cifar10-jpeg --subset 20000 --epochs 3 \\
        --batch-size 128 --base-e 64 --incr-e 64 --seeds 3

Runs go in alternating order (fp32 seed 0, bf16 seed 0, fp32 seed 1, ...), one intra-op thread each unless
--threads says otherwise; with --jobs 2 two runs train at once (one per core). Each run prints one line as it ends.
"""

from __future__ import annotations

import argparse
import json
import statistics
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
    from dse.stats import welch

    order = [(p, s) for s in range(args.seeds) for p in ("fp32", "bf16")]
    runs = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for run in pool.map(one_run, [args] * len(order), *zip(*order, strict=True)):
            runs.append(run)
            print(f"{run['precision']} seed {run['seed']}: test top-1 {run['top1']:.2f}% (validation "
                  f"{run['val_top1']:.2f}%), {run['seconds']:.0f} s, {run['images_per_second']:.0f} img/s, "
                  f"ran {run['dtype']}", flush=True)
    top1 = {p: [r["top1"] for r in runs if r["precision"] == p] for p in ("fp32", "bf16")}
    for p, values in top1.items():
        print(f"{p}: mean {statistics.mean(values):.2f}%, sd {statistics.stdev(values):.2f} over {len(values)} seeds")
    w = welch(top1["bf16"], top1["fp32"])
    print(f"bf16 - fp32: {w.diff:+.2f} points; Welch t {w.t:.2f}, df {w.df:.1f}, p {w.p:.2f}: "
          f"{'differs' if w.differs() else 'not told apart from seed noise'} at the 5% level")
    print(f"{runs[0]['train_images']:,} training and {runs[0]['test_images']:,} test images, {args.epochs} epochs, "
          f"batch {args.batch_size}, base_e=incr_e={args.base_e}, sr {args.sr}, {runs[0]['device']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
