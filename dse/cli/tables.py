"""The tables a sweep and a search end with: one row per point (swept values, sizes, validation and test top-1 as
mean [interval] over seeds) kept whole at 80 columns, and a search's Pareto front."""

from __future__ import annotations

import math
from typing import Any

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from dse.cli.app import console
from dse.space import SWEEPABLE, format_value
from dse.stats import STAT_HEADER, chance_warnings, format_stat, interval_name, seed_stat

TRAIN_SECONDS = "train s"
"""The end tables' time column: the training run's seconds (its epochs and their evaluations, `train_seconds`; a
point's mean over its seeds), as the log's "(training 46s)" says it; the log's "in 48s" is the whole trial (loading
the data, measuring latency and storing weights too)."""


def point_rows(trials, spec, retries: int) -> list[dict]:
    """Per grid point of a sweep: its values, size, and validation and test top-1 over its completed seeds as
    `dse.stats` names them (t-interval from 3 seeds, range from 2)."""
    from optuna.trial import TrialState

    from dse.study.layout import key_of, params_key
    from dse.study.progress import summarize

    complete: dict[tuple, Any] = {}
    for t in trials:
        if t.state == TrialState.COMPLETE:
            complete.setdefault(key_of(t), t)
    keys_of: dict[tuple, list[tuple]] = {}
    for params in spec.initial_params():
        keys_of.setdefault(tuple(params_key({n: params[n] for n in spec.params})), []).append(params_key(params))
    rows = []
    for row in summarize(trials, spec, retries):
        done = [complete[k] for k in keys_of.get(tuple(params_key(row.values)), []) if k in complete]
        val = seed_stat(t.user_attrs.get("val_top1") for t in done)
        test = seed_stat(t.user_attrs.get("top1", t.value) for t in done)
        rows.append({
            "values": row.values, "size_mb": row.size_mb, "imagenet_size_mb": row.imagenet_size_mb,
            "val": format_stat(val.mean, val.lo, val.hi, val.kind, val.clipped) if val.n else "",
            "test": format_stat(test.mean, test.lo, test.hi, test.kind, test.clipped) if test.n else "",
            "test_mean": test.mean if test.n else None, "seeds": f"{row.seeds_done}/{row.seeds_total}",
            "seconds": row.seconds_mean,
            "status": "; ".join(row.failed) if row.failed else (
                "done" if row.seeds_done == row.seeds_total else "missing")})
    return rows


def print_sweep_table(trials, spec, retries: int) -> None:
    from dse.study.layout import VALIDATION
    from dse.study.progress import chosen_split

    rows = point_rows(trials, spec, retries)
    has_val = chosen_split(trials) == VALIDATION
    chose = "validation top-1 chose, test top-1 measured" if has_val else "no validation split: test top-1 chose"
    console.print(f"per point · top-1 % as {STAT_HEADER} over seeds · {chose}", highlight=False, markup=False,
                  soft_wrap=not console.is_terminal)
    table, dropped = sweep_table(rows, spec.params, has_val, console.width)
    console.print(table)
    if dropped:
        console.print(f"left out at {console.width} columns: {', '.join(dropped)} (a wider terminal shows "
                      f"{'it' if len(dropped) == 1 else 'them'})", style="dim", highlight=False, markup=False)
    if any("[" in r["test"] for r in rows):
        console.print(f"[interval]: {interval_name('t95')} with 3 or more seeds, {interval_name('range')} with 2 "
                      "(marked range)", style="dim", highlight=False, markup=False, soft_wrap=not console.is_terminal)
    trained = next((t.user_attrs.get("train_images") for t in trials if t.user_attrs.get("train_images")), None)
    labelled = [(", ".join(f"{n}={format_value(n, r['values'][n])}" for n in spec.params), r["test_mean"]) for r in rows
                if r["test_mean"] is not None]
    for line in chance_warnings(labelled, spec.point.num_classes, train_images=trained,
                                batch_size=spec.recipe.batch_size):
        console.print(f"warning: {line}", style="yellow", highlight=False, soft_wrap=not console.is_terminal)


# the columns a narrow terminal leaves out first, in order: the swept values and test top-1 are always kept whole,
# and status (the reasons of failures) wraps instead
DROP_ORDER = ("ImageNet MB", TRAIN_SECONDS, "seeds", "size MB", "val top-1 %")


def sweep_table(rows: list[dict], params, has_val: bool, width: int) -> tuple[Table, list[str]]:
    """The end table of a sweep (`point_rows`) no wider than `width`: rather than cut every cell to `0.…`, whole
    columns are left out (`DROP_ORDER`) until the rest fits; returns the table and the names left out."""
    status = any(r["status"] != "done" for r in rows)  # all done: the closing line says so
    columns: dict[str, list[str]] = {name: [format_value(name, r["values"][name]) for r in rows] for name in params}
    columns["size MB"] = [f"{r['size_mb']:.3f}" for r in rows]
    columns["ImageNet MB"] = [f"{r['imagenet_size_mb']:.3f}" for r in rows]
    if has_val:
        columns["val top-1 %"] = [r["val"] for r in rows]
    columns["test top-1 %"] = [r["test"] for r in rows]
    columns["seeds"] = [r["seeds"] for r in rows]
    columns[TRAIN_SECONDS] = ["" if math.isnan(r["seconds"]) else f"{r['seconds']:.1f}" for r in rows]
    if status:
        columns["status"] = [r["status"] for r in rows]

    def build(measuring: bool = False) -> Table:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for name in columns:
            table.add_column(name, justify="left" if name == "status" else "right", no_wrap=name != "status")
        for i in range(len(rows)):  # measured, status counts at its longest word: it wraps between words
            table.add_row(*(max(cells[i].split() or [""], key=len) if measuring and name == "status" else cells[i]
                            for name, cells in columns.items()))
        return table

    measure = Console(width=10_000)

    def fits() -> bool:
        return Measurement.get(measure, measure.options, build(measuring=True)).maximum <= width

    dropped: list[str] = []
    for name in DROP_ORDER:
        if fits():
            break
        if name in columns:
            del columns[name]
            dropped.append(name)
    table = build()
    return table, dropped


def print_search_table(trials) -> None:
    from dse.study.layout import VALIDATION
    from dse.study.progress import chosen_split, pareto_front

    front = pareto_front(trials)
    has_val = chosen_split(trials) == VALIDATION  # the split the front was chosen on
    chose = "on validation top-1; test top-1 measured" if has_val else "on test top-1 (no validation split)"
    console.print(f"Pareto front {chose} ({len(front)} of {sum(1 for t in trials if t.values)} trained points)",
                  highlight=False, soft_wrap=not console.is_terminal)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    cols = ("#", *SWEEPABLE, "size MB", *(("val top-1 %",) if has_val else ()), "test top-1 %", TRAIN_SECONDS)
    for col in cols:
        table.add_column(col, justify="right")
    for t in front:
        p = t.params
        test = t.user_attrs.get("top1", t.values[0])
        table.add_row(str(t.number), *(format_value(k, p[k]) if k in p else "" for k in SWEEPABLE),
                      f"{t.values[1]:.3f}", *((f"{t.values[0]:.2f}",) if has_val else ()), f"{test:.2f}",
                      f"{t.user_attrs.get('train_seconds', 0):.1f}")
    console.print(table)
