"""One row per design point, all its seeds together: the table every figure and page table starts from.

Failed trials never enter a mean; points without a completed trial stay in the table with their status, so
figures can show them as missing rather than as zeros.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from optuna.trial import TrialState

from dse.report.frame import StudyData, design_point, expected_seeds, grid_points, point_key, point_label, value_key
from dse.stats import format_stat, seed_stat

COMPLETE = TrialState.COMPLETE.name
STATUS_ORDER = ("complete", "partial", "running", "queued", "failed", "pruned", "skipped", "missing")
"""`skipped`: not trained on purpose (a search's point over its size budget)."""


def point_stats(data: StudyData) -> pd.DataFrame:
    """One row per design point (all seeds together): mean and interval of top-1 and top-5 (`seed_stat`: a
    t-interval from 3 seeds, the range for 2), validation top-1 where recorded, sizes, and how far the point got
    (`status`).

    Points of the sweep's grid without any trial appear as `missing`; a point whose trials all failed is
    `failed` with NaN accuracy, never 0.
    """
    frame, swept = data.frame, data.swept
    expected = expected_seeds(data.spec)
    groups: dict[tuple, pd.DataFrame] = {}
    for key, rows in frame.groupby([frame[n].map(value_key) if n in frame else _na(frame) for n in swept],
                                   sort=False, dropna=False):
        groups[key if isinstance(key, tuple) else (key,)] = rows
    order: list[tuple[tuple, dict[str, Any]]] = []
    seen = set()
    for values in grid_points(data.spec):
        key = point_key(swept, values)
        if key not in seen:
            seen.add(key)
            order.append((key, values))
    trial_points = []
    for key, rows in groups.items():
        if key not in seen:
            seen.add(key)
            trial_points.append((key, {n: rows.iloc[0][n] if n in rows else None for n in swept}))
    order.extend(sorted(trial_points, key=lambda kv: tuple(sort_key(v) for v in kv[0])))
    records = [_point_record(data, values, groups.get(key), expected) for key, values in order]
    columns = ["label", "short", *swept, "size_mb", "imagenet_size_mb", "n_params", "n", "expected",
               *STAT_COLUMNS, "val_top1_mean", "val_top1_n", "train_seconds", "n_failed", "n_running", "n_waiting",
               "n_pruned", "status", "trials"]
    return pd.DataFrame(records, columns=columns)


STAT_COLUMNS = [f"{m}_{k}" for m in ("top1", "top5") for k in ("mean", "sd", "lo", "hi", "interval", "clipped")]
"""Per metric: mean over seeds, sd, the interval (lo, hi; clipped to 0-100), its kind (`interval`, a key of
`dse.stats.INTERVAL_NAMES`) and whether it was clipped."""


def _stat_fields(stat) -> dict[str, Any]:
    return {"mean": stat.mean, "sd": stat.sd, "lo": stat.lo, "hi": stat.hi, "interval": stat.kind,
            "clipped": stat.clipped}


def _na(frame: pd.DataFrame) -> pd.Series:
    return pd.Series([None] * len(frame), index=frame.index)


def sort_key(value: Any) -> tuple:
    if isinstance(value, (int, float, np.integer, np.floating)) and not pd.isna(value):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _point_record(data: StudyData, values: dict[str, Any], rows: pd.DataFrame | None,
                  expected: int | None) -> dict[str, Any]:
    swept = data.swept
    rows = rows if rows is not None else data.frame.iloc[0:0]
    done = rows[(rows["state"] == COMPLETE) & rows["top1"].notna()]
    states = rows["state"].value_counts()
    n_failed = int(states.get("FAIL", 0))
    n_running = int(states.get("RUNNING", 0))
    n_waiting = int(states.get("WAITING", 0))
    n_pruned = int(states.get("PRUNED", 0))
    n_skipped = int(((rows["state"] == "PRUNED") & rows["skip_reason"].notna()).sum())
    n = len(done)
    stats = {f"{m}_{k}": v for m in ("top1", "top5") for k, v in _stat_fields(seed_stat(done[m].tolist())).items()}
    val = done["val_top1"].dropna() if "val_top1" in done else done["top1"].iloc[0:0]
    size, inet, n_params = _point_size(data, values, rows)
    if n and (expected is None or n >= expected) and not (expected is None and (n_running or n_waiting)):
        status = "complete"
    elif n:
        status = "partial"
    elif n_running:
        status = "running"
    elif n_waiting:
        status = "queued"
    elif n_failed:
        status = "failed"
    elif n_pruned:
        status = "skipped" if n_skipped == n_pruned else "pruned"
    else:
        status = "missing"
    return {
        "label": point_label(swept, values), "short": point_label(swept, values, short=True),
        **{k: values.get(k) for k in swept},
        "size_mb": size, "imagenet_size_mb": inet, "n_params": n_params, "n": n, "expected": expected,
        **stats, "val_top1_mean": float(val.mean()) if len(val) else math.nan, "val_top1_n": len(val),
        "train_seconds": float(done["train_seconds"].mean()) if n and done["train_seconds"].notna().any()
        else math.nan,
        "n_failed": n_failed, "n_running": n_running, "n_waiting": n_waiting, "n_pruned": n_pruned,
        "status": status, "trials": len(rows),
    }


def _point_size(data: StudyData, values: dict[str, Any], rows: pd.DataFrame) -> tuple[float, float, Any]:
    """Size as recorded by the trials, else from the cost model (a point not started yet still has one)."""
    sizes = rows["size_mb"].dropna()
    inet = rows["imagenet_size_mb"].dropna()
    params = rows["n_params"].dropna()
    if len(sizes):
        return (float(sizes.iloc[0]), float(inet.iloc[0]) if len(inet) else math.nan,
                params.iloc[0] if len(params) else None)
    point = design_point(data.spec, values)
    if point is not None:
        from dse.plan import cost
        from dse.space import DesignPoint

        try:
            c = cost(DesignPoint.from_dict(point))
            return c.size_mb, c.imagenet_size_mb, c.params
        except Exception:
            pass
    return math.nan, math.nan, None


def stat_text(row: pd.Series, metric: str) -> str:
    """`format_stat` of a point_stats row: the one way a mean and its interval are written."""
    return format_stat(float(row[f"{metric}_mean"]), float(row[f"{metric}_lo"]), float(row[f"{metric}_hi"]),
                       str(row[f"{metric}_interval"]), bool(row[f"{metric}_clipped"]))
