"""A study, read without changing it, as a tidy table: one row per trial, one column per fact.

Reading must never create or alter a file: Optuna's RDBStorage creates its tables in whatever SQLite file it is
given, so a mistyped path would leave an empty study behind. Storages are therefore opened through
`dse.study.storage.open_existing`, which checks them first and opens SQLite read-only.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from dse.errors import DseError, StorageError, first_line
from dse.space import format_value
from dse.study import layout
from dse.study.storage import open_existing

PARAM_NAMES = ("base_e", "incr_e", "freq", "sr", "pct3x3", "bypass")
"""The params of the study layout (docs/design.md), besides `seed`."""

# user attr -> column; `params` (a parameter count) is renamed so it cannot be mistaken for Optuna's params.
ATTR_COLUMNS = {
    "top1": "top1", "top5": "top5", "val_top1": "val_top1", "val_top5": "val_top5", "loss": "loss",
    "size_mb": "size_mb", "imagenet_size_mb": "imagenet_size_mb",
    "params": "n_params", "macs": "macs", "epochs": "epochs", "train_seconds": "train_seconds",
    "images_per_second": "images_per_second", "peak_memory_mb": "peak_memory_mb", "device": "device",
    "diverged": "diverged", "fail_kind": "fail_kind", "fail_reason": "fail_reason", "skip_reason": "skip_reason",
    "retry_of": "retry_of", "train_images": "train_images", "val_images": "val_images",
}
# whatever the runner records becomes a column: quantized sizes, CPU latency, kept weights too
for _attr in (*layout.COST_ATTRS, *layout.RESULT_ATTRS, *layout.LATENCY_ATTRS, *layout.WEIGHTS_ATTRS):
    if _attr != layout.EPOCH_TOP1:
        ATTR_COLUMNS.setdefault(_attr, _attr)


@dataclass
class StudyData:
    """Everything a report needs from one study, read once."""

    name: str
    source: str  # what to print: the path or the URL without its password
    spec: dict[str, Any]  # the study's `dse` user attr ({} for a study dse did not make)
    directions: tuple[str, ...]  # "maximize" / "minimize" per objective
    frame: pd.DataFrame  # one row per trial (see `study_frame`)
    curves: pd.DataFrame  # one row per (trial, split, epoch): study, number, state, split, epoch, top1
    swept: tuple[str, ...]  # the params that define a design point here
    study: optuna.Study | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        """"sweep" or "search"; a study without the dse attr counts as a search when it has two objectives."""
        kind = self.spec.get("kind")
        if kind in ("sweep", "search"):
            return kind
        return "search" if len(self.directions) > 1 else "sweep"


# ---------------------------------------------------------------------------------------------- opening


def load_studies(source: str, study_name: str | None = None) -> list[StudyData]:
    """Every study in the storage, or the one named."""
    storage, display = open_existing(source)
    try:
        names = optuna.get_all_study_names(storage)
    except Exception as exc:
        raise StorageError(f"cannot list the studies in {display}: {first_line(exc)}") from None
    if not names:
        raise StorageError(f"{display} holds no studies")
    if study_name is not None:
        if study_name not in names:
            raise StorageError(f"no study {study_name!r} in {display}; it holds: {', '.join(sorted(names))}")
        names = [study_name]
    return [study_data(optuna.load_study(study_name=n, storage=storage), source=display) for n in names]


# ---------------------------------------------------------------------------------------------- tables


def study_data(study: optuna.Study, source: str = "") -> StudyData:
    """Read a study's trials once into the tables every figure is computed from."""
    trials = study.get_trials(deepcopy=False)
    spec = layout.read_definition(study) or {}
    swept = swept_params(spec, trials)
    return StudyData(
        name=study.study_name,
        source=source,
        spec=spec,
        directions=tuple(d.name.lower() for d in study.directions),
        frame=study_frame(study, trials=trials, spec=spec, swept=swept),
        curves=curve_frame(study, trials=trials, spec=spec),
        swept=swept,
        study=study,
    )


def swept_params(spec: dict[str, Any], trials: list[FrozenTrial]) -> tuple[str, ...]:
    """The params that tell design points apart: the sweep's own list, else those that vary (seed aside)."""
    named = spec.get("params")
    if isinstance(named, (list, tuple)) and named:
        return tuple(str(n) for n in named)
    values: dict[str, set] = {}
    for t in trials:
        for k, v in _trial_params(t).items():
            values.setdefault(k, set()).add(value_key(v))
    varying = tuple(k for k, vs in values.items() if k != "seed" and len(vs) > 1)
    return varying or tuple(k for k in values if k != "seed")


def _trial_params(t: FrozenTrial) -> dict[str, Any]:
    """Params, or for a trial still WAITING in the queue the params it was queued with (`layout.QUEUED_ATTR`)."""
    return dict(t.params) if t.params else layout.work_params(t)


def value_key(value: Any) -> Any:
    """Compare floats from JSON and from Optuna without tripping over the last bit."""
    if isinstance(value, float):
        return round(value, 9)
    return value


def point_label(swept: tuple[str, ...], values: dict[str, Any], *, short: bool = False) -> str:
    """`sr=0.125`, or `0.125` when only one value is swept and the axis says which."""
    if short and len(swept) == 1:
        return format_value(swept[0], values.get(swept[0]))
    return ", ".join(f"{n}={format_value(n, values.get(n))}" for n in swept)


def study_frame(
    study: optuna.Study,
    *,
    trials: list[FrozenTrial] | None = None,
    spec: dict[str, Any] | None = None,
    swept: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """One row per trial: number, state, params, seed, label, accuracies, sizes, costs, time, device, failure.

    Failed, running and waiting trials keep their row (with NaN accuracy) so reports can list them; figures
    filter on `state`. Sizes missing from a trial's attrs (queued trials) come from the cost model.
    """
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    spec = (layout.read_definition(study) or {}) if spec is None else spec
    swept = swept_params(spec, trials) if swept is None else swept
    rows = [_trial_row(study.study_name, t, spec, swept) for t in trials]
    columns = ["study", "number", "state", *_param_columns(rows, swept), "label", *ATTR_COLUMNS.values(),
               "started", "completed", "duration_s"]
    frame = pd.DataFrame(rows, columns=columns)
    for col in ("top1", "top5", "val_top1", "val_top5", "loss", "size_mb", "imagenet_size_mb", "train_seconds",
                "images_per_second", "peak_memory_mb", "duration_s", "size_mb_int8", "size_mb_int4", "latency_ms",
                "latency_q1_ms", "latency_q3_ms", "latency_batch_ms"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    for col in ("seed", "number", "n_params", "macs", "epochs", "retry_of", "train_images", "val_images",
                *(c for c in ("base_e", "incr_e", "freq") if c in frame)):
        frame[col] = _integers(frame[col])
    return frame


def _integers(column: pd.Series) -> pd.Series:
    """Whole numbers as a nullable integer column (a seed reads 1, not 1.0); anything else unchanged."""
    numbers = pd.to_numeric(column, errors="coerce")
    if numbers.notna().sum() != column.notna().sum():
        return column
    whole = numbers.dropna()
    if not (whole == whole.round()).all():
        return column
    return numbers.astype("Int64")


def _param_columns(rows: list[dict], swept: tuple[str, ...]) -> list[str]:
    seen = [*swept, *PARAM_NAMES]
    for row in rows:
        seen.extend(row["_params"])
    ordered = list(dict.fromkeys(seen))
    ordered = [c for c in ordered if c != "seed" and any(c in row for row in rows)] + ["seed"]
    for row in rows:
        row.pop("_params")
    return ordered


def _trial_row(study_name: str, t: FrozenTrial, spec: dict[str, Any], swept: tuple[str, ...]) -> dict[str, Any]:
    params = _trial_params(t)
    attrs = t.user_attrs
    row: dict[str, Any] = {"study": study_name, "number": t.number, "state": t.state.name, "_params": list(params)}
    row.update(params)
    row.setdefault("seed", None)
    row["label"] = point_label(swept, params)
    for attr, col in ATTR_COLUMNS.items():
        value = attrs.get(attr)
        row[col] = value if not isinstance(value, (list, dict)) else json.dumps(value)
    if t.state == TrialState.COMPLETE and t.values:
        if row["top1"] is None:
            row["top1"] = t.values[0]
        if row["size_mb"] is None and len(t.values) > 1:
            row["size_mb"] = t.values[1]
    if row["size_mb"] is None or row["imagenet_size_mb"] is None:
        cost = _cost(spec, attrs.get("point"), params)
        if cost is not None:
            row["size_mb"] = cost.size_mb if row["size_mb"] is None else row["size_mb"]
            row["imagenet_size_mb"] = (cost.imagenet_size_mb if row["imagenet_size_mb"] is None
                                       else row["imagenet_size_mb"])
            row["n_params"] = cost.params if row["n_params"] is None else row["n_params"]
            row["macs"] = cost.macs if row["macs"] is None else row["macs"]
    if t.state == TrialState.FAIL:
        row["fail_kind"], row["fail_reason"] = layout.failure(t)
    if t.state != TrialState.FAIL:
        row["fail_reason"] = row["fail_kind"] = None
    row["started"] = t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else None
    row["completed"] = t.datetime_complete.isoformat(timespec="seconds") if t.datetime_complete else None
    row["duration_s"] = (t.datetime_complete - t.datetime_start).total_seconds() if (
        t.datetime_start and t.datetime_complete) else None
    return row


def design_point(spec: dict[str, Any], values: dict[str, Any]) -> dict[str, Any] | None:
    """The full design point of a grid point: the sweep's base point, its fixed values, then the swept ones."""
    base = spec.get("point")
    if not isinstance(base, dict):
        return None
    fixed = spec.get("fixed") if isinstance(spec.get("fixed"), dict) else {}
    return {**base, **fixed, **{k: v for k, v in values.items() if k != "seed" and k in base}}


def _cost(spec: dict[str, Any], point: Any, params: dict[str, Any]):
    """Analytic size of a point (None when it cannot be rebuilt): queued trials have no attrs yet."""
    from dse.plan import cost
    from dse.space import DesignPoint

    values = point if isinstance(point, dict) else design_point(spec, params)
    if values is None:
        return None
    try:
        return cost(DesignPoint.from_dict(values))
    except (DseError, TypeError, ValueError):
        return None


CURVE_SPLITS = ("validation", "test")


def curve_frame(study: optuna.Study, *, trials: list[FrozenTrial] | None = None,
                spec: dict[str, Any] | None = None) -> pd.DataFrame:
    """Per-epoch top-1 of every trial, one row per (trial, split, epoch), the split named: `epoch_val_top1`
    (validation: what chose) and `epoch_top1` (test: measured) as recorded; a trial with neither falls back to
    its intermediate values, which are validation top-1 where the study holds a validation split (the
    definition's `val_fraction`, or the trial's `val_top1`) and test top-1 in studies from before it."""
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    spec = (layout.read_definition(study) or {}) if spec is None else spec
    rows = []
    for t in trials:
        series: dict[str, dict[int, float]] = {}
        for split, attr in (("validation", layout.EPOCH_VAL_TOP1), ("test", layout.EPOCH_TOP1)):
            values = t.user_attrs.get(attr)
            if isinstance(values, list) and values:
                series[split] = {i + 1: v for i, v in enumerate(values)}
        if not series and t.intermediate_values:
            has_val = bool(spec.get("val_fraction")) or t.user_attrs.get("val_top1") is not None
            series["validation" if has_val else "test"] = dict(t.intermediate_values)
        for split, steps in series.items():
            for epoch, value in sorted(steps.items()):
                if isinstance(value, (int, float)) and math.isfinite(value):
                    rows.append({"study": study.study_name, "number": t.number, "state": t.state.name,
                                 "split": split, "epoch": int(epoch), "top1": float(value)})
    return pd.DataFrame(rows, columns=["study", "number", "state", "split", "epoch", "top1"])


def grid_points(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The design points a sweep asked for, in its order; [] when the study does not say.

    Accepts the grid as {name: [values]} (the full product), [{name: value}], or [[values]] / [value] aligned
    with `params`, so reports keep working whichever the sweep writes.
    """
    params = spec.get("params")
    grid = spec.get("grid")
    if not isinstance(params, (list, tuple)) or not params or grid is None:
        return []
    names = [str(p) for p in params]
    if isinstance(grid, dict):
        if all(isinstance(grid.get(n), (list, tuple)) for n in names):
            return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(grid[n] for n in names))]
        if isinstance(grid.get("points"), list):
            grid = grid["points"]
        else:
            return []
    if not isinstance(grid, (list, tuple)):
        return []
    points = []
    for item in grid:
        if isinstance(item, dict):
            points.append({n: item.get(n) for n in names})
        elif isinstance(item, (list, tuple)) and len(item) == len(names):
            points.append(dict(zip(names, item, strict=True)))
        elif len(names) == 1 and not isinstance(item, (list, tuple, dict)):
            points.append({names[0]: item})
    return points


def expected_seeds(spec: dict[str, Any]) -> int | None:
    """How many seeds each point should have (the sweep's `seeds`: a count or a list)."""
    seeds = spec.get("seeds")
    if isinstance(seeds, bool):
        return None
    if isinstance(seeds, int) and seeds > 0:
        return seeds
    if isinstance(seeds, (list, tuple)) and seeds:
        return len(seeds)
    return None


def point_key(swept: tuple[str, ...], values: dict[str, Any]) -> tuple:
    return tuple(value_key(values.get(n)) for n in swept)
