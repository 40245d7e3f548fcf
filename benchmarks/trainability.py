"""Train every preset and corner of the design space briefly on real images; print a table.

    PYTHONPATH=. python benchmarks/trainability.py /work/data/cifar10-jpeg --subset 2000 --epochs 2

Each point is trained with its default recipe (`dse.train.recipe_for`) at the batch size given, on the first
`--subset` training images of the folder (classes balanced) and evaluated on the first `--test` test images.
Presets and corners come from `dse.trainability` (presets at `--base-e`/`--incr-e` widths so the table stays
cheap; the corners vary one field of DesignPoint(base_e, incr_e) at a time). Columns: point, test top-1 %, chance
%, diverged?, mean training loss of the first and last steps, seconds.
"""

from __future__ import annotations

import argparse
import functools
import math

import torch

from dse.data import load_dataset, take_subset
from dse.space import DesignPoint
from dse.train import recipe_for
from dse.trainability import CheckRow, check, check_points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="an ImageFolder tree with train/ and test/ (e.g. the CIFAR-10 JPEG copy)")
    parser.add_argument("--data-dir", default=None, help="where the decoded cache lives (default ./data or "
                        "$DSE_DATA_DIR)")
    parser.add_argument("--subset", type=int, default=2000, help="training images")
    parser.add_argument("--test", type=int, default=1000, help="test images")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--base-e", type=int, default=32)
    parser.add_argument("--incr-e", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--points", default="", help="comma-separated names (default: all)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    full = load_dataset(f"folder:{args.folder}", args.data_dir, val_fraction=0)
    data = take_subset(full, args.subset, test=args.test)
    widths = {"base_e": args.base_e, "incr_e": args.incr_e}
    base = DesignPoint(**widths).for_data(data.info.num_classes, data.info.in_channels, data.info.image_size)
    points = check_points(base, narrow=widths)
    if args.points:
        wanted = [name.strip() for name in args.points.split(",") if name.strip()]
        unknown = [name for name in wanted if name not in points]
        if unknown:
            parser.error(f"unknown point(s) {', '.join(unknown)}; known: {', '.join(points)}")
        points = {name: points[name] for name in wanted}

    @functools.cache
    def data_for(size: int):
        if size == data.info.image_size:
            return data
        full = load_dataset(f"folder:{args.folder}", args.data_dir, image_size=size, val_fraction=0)
        return take_subset(full, args.subset,
                           test=args.test)

    def recipe_of(point):
        return recipe_for(point, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)

    print(f"{data.info.name}: {data.num_train} train / {data.num_test} test images, {args.epochs} epochs, batch "
          f"{args.batch_size}, seed {args.seed}, widths base_e {args.base_e} incr_e {args.incr_e}, "
          f"{torch.get_num_threads()} threads\n")
    print("| point | top-1 % | chance % | diverged? | loss first -> last steps | s |")
    print("|---|---|---|---|---|---|")
    check(points, data_for, recipe_of, on_row=lambda row: print(_line(row), flush=True))


def _line(row: CheckRow) -> str:
    top1 = "" if row.top1 is None else f"{row.top1:.1f}"
    loss = "" if not math.isfinite(row.first_loss) else f"{row.first_loss:.3f} -> {row.last_loss:.3f}"
    return (f"| {row.name} | {top1} | {row.chance:.1f} | {'yes' if row.diverged else 'no'} | {loss} | "
            f"{row.seconds:.0f} |")


if __name__ == "__main__":
    main()
