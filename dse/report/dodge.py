"""Points of one size drawn side by side (bypass none and simple share a size): an x for each point, and the
shared sizes said in words, so no mark hides another."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dse.report.frame import value_key

DODGE = 0.025
"""The offset between two points of equal size, as a share of the size axis's span: enough to tell their marks,
bars and seeds apart, small beside the distance to a point of another size."""


def dodge(points: pd.DataFrame) -> pd.DataFrame:
    """`points` with `x`: each point's size, spread side by side (in the points' order) where several share one
    size (bypass none and simple do), so no mark hides another; their true size stays in `size_mb`."""
    sizes = points["size_mb"]
    known = sizes.dropna()
    span = axis_span(known)
    x = sizes.astype(float).copy()
    for _, same in points[sizes.notna()].groupby(sizes.map(value_key), sort=False):
        k = len(same)
        if k > 1:
            x[same.index] = same["size_mb"].to_numpy(dtype=float) + (np.arange(k) - (k - 1) / 2) * DODGE * span
    return points.assign(x=x)


def axis_span(sizes: pd.Series) -> float:
    """The extent the size axis is fitted to: the spread of the sizes, or the size itself when all are equal."""
    if not len(sizes):
        return 1.0
    return float(sizes.max() - sizes.min()) or max(1.0, float(sizes.max()))


def shared_sizes(points: pd.DataFrame) -> list[tuple[float, list[str]]]:
    """(size, short labels) of each size several points share: drawn side by side, said in words."""
    out = []
    for _, same in points[points["size_mb"].notna()].groupby(points["size_mb"].map(value_key), sort=False):
        if len(same) > 1:
            out.append((float(same["size_mb"].iloc[0]), [str(s) for s in same["short"]]))
    return out
