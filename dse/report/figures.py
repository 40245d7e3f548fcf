"""The data of every report figure, as pure functions of a study's tables.

Nothing here draws: tests check the numbers (means, intervals, fronts, EDFs), `dse.report.draw` turns them into
pictures. Failed trials never enter a mean; points without a completed trial stay in the tables with their
status so figures can show them as missing rather than as zeros.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from dse.report.frame import (
    CURVE_SPLITS,
    StudyData,
    format_value,
    point_label,
    value_key,
)
from dse.report.paper import fixes_the_papers, paper
from dse.report.points import COMPLETE, point_stats, sort_key
from dse.report.trust import (
    Budget,
    Selection,
    chance_levels,
    dataset_label,
    interval_words,
    selection,
    study_num_classes,
    study_warnings,
    training_budget,
)
from dse.stats import (
    SeedSpread,
    chance_level,
    pareto_mask,
    seed_spread,
)

# ---------------------------------------------------------------------------------------------- budget


# ---------------------------------------------------------------------------------------------- trust


# ---------------------------------------------------------------------------------------------- per point


# ---------------------------------------------------------------------------------------------- accuracy vs size


@dataclass(frozen=True)
class Reference:
    """The paper's published points for the same one-parameter sweep (ImageNet top-5, full training)."""

    figure: str  # "Figure 3(a)"
    param: str
    points: pd.DataFrame  # value, label, size_mb (ImageNet), top5
    fixed: dict[str, Any]  # the paper's fixed metaparameters
    matches: bool  # the study fixes the same values
    text: str  # the paper's own words about the curve
    source: str


@dataclass(frozen=True)
class SizeAccuracy:
    """Figure 3's layout: one point per design point, labelled with its swept value."""

    points: pd.DataFrame  # `point_stats`
    swept: tuple[str, ...]
    title: str
    budget: Budget
    reference: Reference | None
    missing: pd.DataFrame = field(repr=False)  # points with no completed trial (status, size if known)
    seeds: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)  # label, short, size_mb, seed, top1, top5
    chance: dict[str, float] = field(default_factory=dict)  # metric -> accuracy of guessing (%)
    warnings: tuple[str, ...] = ()  # `study_warnings`
    intervals: dict[str, str] = field(default_factory=dict)  # metric -> `interval_legend` of its bars
    dataset_words: str = ""  # the dataset in plain words (`dataset_label`): "CIFAR-10 (JPEG folder)"
    size_label: str = ""  # the x axis when it is not fp32 MB (`accuracy_vs_size_at`)


_REFERENCE_KEYS = {"sr": ("figure_3a_sr_sweep", "Figure 3(a)"), "pct3x3": ("figure_3b_pct3x3_sweep", "Figure 3(b)")}


def paper_reference(swept: Sequence[str], spec: dict[str, Any] | None = None) -> Reference | None:
    """The paper's series for an sr or pct3x3 sweep, None for any other sweep (the paper has no such figure)."""
    if len(swept) != 1 or swept[0] not in _REFERENCE_KEYS:
        return None
    param = swept[0]
    key, figure = _REFERENCE_KEYS[param]
    ref = paper()[key]
    points = pd.DataFrame(
        [{"value": p[param], "label": format_value(param, p[param]), "size_mb": float(p["size_mb"]),
          "top5": float(p["top5"])} for p in ref["points"]],
        columns=["value", "label", "size_mb", "top5"],
    )
    fixed = dict(ref["fixed"])
    return Reference(figure, param, points, fixed, fixes_the_papers(spec or {}, fixed), ref.get("text", ""),
                     paper()["source"])


def accuracy_vs_size(data: StudyData, stats: pd.DataFrame | None = None) -> SizeAccuracy:
    """Accuracy (every seed, the mean and its interval) against model size per design point, the chance level,
    the warnings, and the paper's series."""
    stats = point_stats(data) if stats is None else stats
    what = " x ".join(data.swept) if data.swept else "design point"
    return SizeAccuracy(
        points=stats,
        swept=data.swept,
        title=f"{data.name}: accuracy vs model size ({what} {data.kind})",
        budget=training_budget(data),
        reference=paper_reference(data.swept, data.spec) if data.kind == "sweep" else None,
        missing=stats[stats["n"] == 0][["label", "short", "status", "size_mb", "imagenet_size_mb"]],
        seeds=seed_results(data),
        chance=chance_levels(data),
        warnings=tuple(study_warnings(data, stats)),
        intervals=interval_words(stats[stats["n"] > 0]),
        dataset_words=dataset_label(data.spec.get("dataset")),
    )


def seed_results(data: StudyData) -> pd.DataFrame:
    """Every completed trial's own result, to draw beside the mean: label, short, size_mb, imagenet_size_mb,
    seed, top1, top5."""
    f = data.frame
    done = f[(f["state"] == COMPLETE) & f["top1"].notna()]
    out = done[["label", "size_mb", "imagenet_size_mb", "seed", "top1", "top5"]].copy()
    out.insert(1, "short", [point_label(data.swept, r, short=True) for r in done.to_dict("records")])
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- learning curves


@dataclass(frozen=True)
class Curves:
    """Per-epoch top-1 per design point and split (validation: what chose; test: measured), mean and range over
    the seeds that reached each epoch (the range, not a t-interval: with two seeds the interval is so wide the
    curves disappear under it)."""

    lines: pd.DataFrame  # split, label, short, size_mb, epoch, n, mean, lo (min), hi (max), running
    swept: tuple[str, ...]
    budget: Budget
    chance: float | None = None  # top-1 of guessing (%)

    @property
    def splits(self) -> list[str]:
        """The splits present, validation first (the order of the panels)."""
        have = set(self.lines["split"]) if "split" in self.lines else set()
        return [s for s in CURVE_SPLITS if s in have]


def learning_curves(data: StudyData) -> Curves:
    """Curves of completed, pruned and running trials; a failed trial's epochs are left out, as its result is."""
    frame, curves = data.frame, data.curves
    columns = ["split", "label", "short", "size_mb", "epoch", "n", "mean", "lo", "hi", "running"]
    if curves.empty:
        return Curves(pd.DataFrame(columns=columns), data.swept, training_budget(data))
    keep = curves[curves["state"].isin([COMPLETE, "PRUNED", "RUNNING"])]
    if "split" not in keep:  # a curve table made before splits were named: its values are test top-1
        keep = keep.assign(split="test")
    info = frame.set_index("number")[["label", "size_mb"]]
    keep = keep.join(info, on="number")
    shorts = {}
    for _, row in frame.iterrows():
        shorts[row["label"]] = point_label(data.swept, row.to_dict(), short=True)
    records = []
    for (split, label, epoch), rows in keep.groupby(["split", "label", "epoch"], sort=False):
        mean, lo, hi = float(rows["top1"].mean()), float(rows["top1"].min()), float(rows["top1"].max())
        records.append({"split": split, "label": label, "short": shorts.get(label, label),
                        "size_mb": rows["size_mb"].iloc[0], "epoch": int(epoch), "n": len(rows), "mean": mean,
                        "lo": lo, "hi": hi, "running": bool((rows["state"] == "RUNNING").any())})
    lines = pd.DataFrame(records, columns=columns)
    if not lines.empty:
        order = {s: i for i, s in enumerate(CURVE_SPLITS)}
        lines = lines.assign(_split=lines["split"].map(order)).sort_values(
            ["_split", "size_mb", "label", "epoch"], na_position="last", kind="stable").drop(columns="_split")
    n_classes = study_num_classes(data)
    return Curves(lines.reset_index(drop=True), data.swept, training_budget(data),
                  chance_level(n_classes) if n_classes else None)


# ---------------------------------------------------------------------------------------------- Pareto front


@dataclass(frozen=True)
class Pareto:
    """Accuracy (max) against size (min): the non-dominated points form the front."""

    points: pd.DataFrame  # point_stats rows with a result, plus `on_front`
    front: pd.DataFrame  # the front, by size
    budget: Budget
    selection: Selection | None = None  # the accuracy the front is chosen on (validation where recorded)

    @property
    def column(self) -> str:
        return self.selection.column if self.selection else "top1_mean"


def pareto_front(data: StudyData, stats: pd.DataFrame | None = None) -> Pareto:
    """The front over design points (seed means): a point is on it if no other is at least as accurate and at
    most as large, and strictly better in one. Accuracy here is validation top-1 where the study recorded it
    (`selection`), so the test split never chooses."""
    stats = point_stats(data) if stats is None else stats
    chosen = selection(stats)
    pts = stats[(stats["n"] > 0) & stats["size_mb"].notna() & stats[chosen.column].notna()].copy()
    acc = pts[chosen.column].to_numpy()
    size = pts["size_mb"].to_numpy()
    on_front = pareto_mask(acc.tolist(), size.tolist())
    pts["on_front"] = pd.Series(on_front, index=pts.index, dtype=bool)
    front = pts.loc[pts["on_front"]].sort_values("size_mb", kind="stable")
    return Pareto(pts.reset_index(drop=True), front.reset_index(drop=True), training_budget(data), chosen)


# ---------------------------------------------------------------------------------------------- grids


@dataclass(frozen=True)
class GridPanel:
    """Mean top-1 over a two-parameter grid (rows = y values, columns = x values); NaN where no result."""

    title: str
    x: str
    y: str
    x_values: list[Any]
    y_values: list[Any]
    top1: np.ndarray
    size_mb: np.ndarray
    status: np.ndarray


def grid_panels(data: StudyData, stats: pd.DataFrame | None = None) -> list[GridPanel]:
    """Heat maps for grids of two or more swept parameters: the first two are the axes, one panel per
    combination of the others (small multiples). [] for one-parameter sweeps and searches."""
    if data.kind != "sweep" or len(data.swept) < 2:
        return []
    stats = point_stats(data) if stats is None else stats
    x, y, rest = data.swept[0], data.swept[1], data.swept[2:]

    def levels(name: str) -> list[Any]:
        return sorted({value_key(v) for v in stats[name] if v is not None and not pd.isna(v)}, key=sort_key)

    xs, ys = levels(x), levels(y)
    panels = []
    for combo in itertools.product(*(levels(r) for r in rest)) if rest else [()]:
        sel = stats
        for name, value in zip(rest, combo, strict=True):
            sel = sel[sel[name].map(value_key) == value]
        top1 = np.full((len(ys), len(xs)), np.nan)
        size = np.full((len(ys), len(xs)), np.nan)
        status = np.full((len(ys), len(xs)), "missing", dtype=object)
        for _, row in sel.iterrows():
            i, j = ys.index(value_key(row[y])), xs.index(value_key(row[x]))
            top1[i, j], size[i, j], status[i, j] = row["top1_mean"], row["size_mb"], row["status"]
        title = ", ".join(f"{n}={format_value(n, v)}" for n, v in zip(rest, combo, strict=True)) or f"{y} x {x}"
        panels.append(GridPanel(title, x, y, xs, ys, top1, size, status))
    return panels


# ---------------------------------------------------------------------------------------------- importance


@dataclass(frozen=True)
class Importance:
    """How much of top-1's variation each parameter explains (optuna.importance), seed included: a large
    seed share means the sweep's differences are mostly noise."""

    values: pd.DataFrame  # param, importance (sums to 1)
    evaluator: str
    n_trials: int


MIN_IMPORTANCE_TRIALS = 8


def varied_params(trials: Sequence[Any]) -> list[str]:
    """Params that take more than one value over these trials (and that every trial has)."""
    names = {k for t in trials for k in t.params}
    return sorted(p for p in names
                  if all(p in t.params for t in trials) and len({value_key(t.params.get(p)) for t in trials}) > 1)


def param_importance(data: StudyData, min_trials: int = MIN_IMPORTANCE_TRIALS) -> Importance | None:
    """None when there are too few completed trials or fewer than two design parameters (seed aside) that vary:
    importance answers "which of these matters", a question a 1-D sweep does not ask."""
    study = data.study
    if study is None:
        return None
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values]
    if len(done) < min_trials:
        return None
    varying = varied_params(done)
    if len([p for p in varying if p != "seed"]) < 2:  # a 1-D sweep: its one figure already answers it
        return None
    try:
        import sklearn  # noqa: F401

        evaluator: optuna.importance.BaseImportanceEvaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    except ImportError:  # fANOVA needs scikit-learn; PED-ANOVA does not
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = optuna.importance.get_param_importances(
                study, evaluator=evaluator, params=sorted(varying), target=lambda t: t.values[0])
    except Exception:  # too degenerate a study for the evaluator: no figure rather than a crash
        return None
    frame = pd.DataFrame({"param": list(scores), "importance": [float(v) for v in scores.values()]})
    name = "fANOVA" if isinstance(evaluator, optuna.importance.FanovaImportanceEvaluator) else "PED-ANOVA"
    return Importance(frame, name, len(done))


# ---------------------------------------------------------------------------------------------- seed noise


def point_spread(data: StudyData, metric: str = "top1") -> SeedSpread | None:
    """Seed-to-seed spread (pooled within-point sd) against the spread of the point means, for a study with
    several seeds per point and several points; None otherwise."""
    f = data.frame
    done = f[(f["state"] == COMPLETE) & f[metric].notna()]
    if done.empty:
        return None
    groups = [rows[metric].tolist() for _, rows in done.groupby("label", sort=False)]
    spread = seed_spread(groups)
    if spread.n_pooled == 0 or spread.n_points < 2:
        return None
    return spread


# ---------------------------------------------------------------------------------------------- EDFs


@dataclass(frozen=True)
class ErrorEdf:
    """Empirical distribution of top-1 error over the design points of each study (Radosavovic et al.)."""

    curves: pd.DataFrame  # study, error, fraction: F(error) = share of points with error <= this one
    summary: pd.DataFrame  # study, n, best, chosen_on, median, mean (test) error
    budgets: dict[str, str]
    short_budgets: dict[str, str] = field(default_factory=dict)


def error_edf(datas: Sequence[StudyData]) -> ErrorEdf:
    """One EDF per study over its design points (seed means of test top-1), so a design space with more good
    models sits up and to the left; failed and unfinished points are not models and are left out.

    The summary's `best` is the test error of the point chosen on validation top-1 (`selection`), not the lowest
    test error: picking the minimum of the test errors would choose on test and overstate the best model. Only a
    study without a validation split falls back to the lowest test error (`chosen_on` says which)."""
    rows, summary, budgets, shorts = [], [], {}, {}
    for data in datas:
        stats = point_stats(data)
        done = stats[(stats["n"] > 0) & stats["top1_mean"].notna()]
        errors = np.sort(100.0 - done["top1_mean"].to_numpy(dtype=float))
        n = len(errors)
        for i, e in enumerate(errors):
            rows.append({"study": data.name, "error": float(e), "fraction": (i + 1) / n})
        chosen = selection(stats)
        best = (100.0 - float(done.loc[done[chosen.column].idxmax(), "top1_mean"])) if n else math.nan
        summary.append({"study": data.name, "n": n, "best": best, "chosen_on": chosen.split,
                        "median": float(np.median(errors)) if n else math.nan,
                        "mean": float(errors.mean()) if n else math.nan})
        budget = training_budget(data)
        budgets[data.name], shorts[data.name] = budget.text, budget.short
    return ErrorEdf(pd.DataFrame(rows, columns=["study", "error", "fraction"]),
                    pd.DataFrame(summary, columns=["study", "n", "best", "chosen_on", "median", "mean"]), budgets,
                    shorts)


def edf_value(edf: ErrorEdf, study: str, error: float) -> float:
    """F(error) for one study: the share of its points with an error at most `error`."""
    curve = edf.curves[edf.curves["study"] == study]
    n = len(curve)
    return float((curve["error"] <= error).sum() / n) if n else math.nan


# ---------------------------------------------------------------------------------------------- other size axes

SIZES = {"fp32": 32, "int8": 8, "int4": 4}  # bits per weight of the report's size axis (dse report --size)


def size_label(size: str) -> str:
    if size == "fp32":
        return "model size (MB, fp32 weights)"
    return f"model size (MB, every weight at {SIZES[size]} bits; quantization scales not counted)"


def accuracy_vs_size_at(data: StudyData, size: str = "fp32", stats: pd.DataFrame | None = None) -> SizeAccuracy:
    """`accuracy_vs_size` on another size axis: the analytic size at 8 or 4 bits per weight (`Cost.size_mb_int8`,
    `size_mb_int4`: parameters x bits), the axis on which the paper states Deep Compression's 0.47 MB."""
    if size not in SIZES:
        from dse.errors import ReportError

        raise ReportError(f"--size must be one of {', '.join(SIZES)}; got {size!r}")
    stats = point_stats(data) if stats is None else stats
    if size == "fp32":
        return accuracy_vs_size(data, stats)
    factor = SIZES[size] / 32  # size_mb is parameters x 32 bits, so every point scales alike (missing ones too)
    scaled = stats.assign(size_mb=stats["size_mb"] * factor)
    out = accuracy_vs_size(data, scaled)
    # the seeds come from the trials, not from `scaled`; `out.missing` already is from `scaled`
    seeds = out.seeds.assign(size_mb=out.seeds["size_mb"] * factor) if len(out.seeds) else out.seeds
    from dataclasses import replace

    return replace(out, seeds=seeds, size_label=size_label(size),
                   title=out.title.replace("model size", f"{size} model size"))


# ---------------------------------------------------------------------------------------------- latency


@dataclass(frozen=True)
class LatencyAccuracy:
    """Accuracy against measured CPU latency per design point, and the Pareto front over (accuracy, fp32 MB,
    latency): a point is on it when no other is at least as good on all three and better on one."""

    points: pd.DataFrame  # label, short, size_mb, latency_ms (median over the point's trials), n, top1_mean,
    #                       val_top1_mean, on_front
    front: pd.DataFrame  # the front, fastest first
    selection: Selection
    budget: Budget
    cpu: str  # the CPU(s) the latencies were measured on
    threads: str


def accuracy_vs_latency(data: StudyData, stats: pd.DataFrame | None = None) -> LatencyAccuracy | None:
    """None when no completed trial recorded its latency (a study from before latencies, or a fake trainer)."""
    f = data.frame
    if "latency_ms" not in f:
        return None
    done = f[(f["state"] == COMPLETE) & pd.to_numeric(f["latency_ms"], errors="coerce").notna()]
    if done.empty:
        return None
    stats = point_stats(data) if stats is None else stats
    chosen = selection(stats)
    latency = done.assign(latency_ms=pd.to_numeric(done["latency_ms"])).groupby("label")["latency_ms"].median()
    pts = stats[(stats["n"] > 0) & stats["label"].isin(latency.index) & stats[chosen.column].notna()].copy()
    pts["latency_ms"] = pts["label"].map(latency).astype(float)
    pts = pts[["label", "short", "size_mb", "latency_ms", "n", "top1_mean", "val_top1_mean"]].reset_index(drop=True)
    pts["on_front"] = pareto_mask(pts[chosen.column].to_numpy(), pts["size_mb"].to_numpy(),
                                 pts["latency_ms"].to_numpy())
    front = pts[pts["on_front"]].sort_values("latency_ms", kind="stable").reset_index(drop=True)
    cpus = sorted({str(c) for c in done.get("latency_cpu", pd.Series(dtype=object)).dropna()})
    threads = sorted({str(int(t)) for t in pd.to_numeric(done.get("latency_threads", pd.Series(dtype=float)),
                                                            errors="coerce").dropna()})
    return LatencyAccuracy(pts, front, chosen, training_budget(data), ", ".join(cpus) or "unknown CPU",
                           ", ".join(threads) or "?")


# ---------------------------------------------------------------------------------------------- bypass (Table 3)

BYPASS_VARIANTS = ("none", "simple", "complex")
PAPER_BYPASS_NAMES = {"none": "vanilla", "simple": "simple bypass", "complex": "complex bypass"}
"""dse's `bypass` values -> the rows of the paper's Table 3."""
UNCONFIRMED = "not in the confirmed reference"


@dataclass(frozen=True)
class BypassTable:
    """The paper's Table 3 for a sweep over `bypass`: accuracy per variant (every seed, the mean and the interval
    `seed_stat` gives for that many seeds), its size, and the paper's values beside it where the confirmed
    reference (dse/reference/squeezenet-paper.json) has them: a variant it lacks gets no number, only
    `UNCONFIRMED`."""

    variants: pd.DataFrame  # `point_stats` rows in variant order, plus variant, paper_name, group, x, chosen
    seeds: pd.DataFrame  # one row per completed trial: variant, group, label, seed, x, top1, top5, val_top1
    paper: pd.DataFrame  # variant, paper_name, confirmed, top1, top5, size_mb (NaN where not confirmed)
    groups: tuple[str, ...]  # the other swept params' values, one entry per line ("" when only bypass is swept)
    selection: Selection  # the split that chooses the best variant (validation where recorded)
    budget: Budget
    title: str
    paper_fixed: dict[str, Any]  # the metaparameters Table 3 was trained with (SqueezeNet v1.0's)
    paper_matches: bool  # this study fixes the same ones
    source: str
    chance: dict[str, float] = field(default_factory=dict)  # metric -> accuracy of guessing (%)
    warnings: tuple[str, ...] = ()
    intervals: dict[str, str] = field(default_factory=dict)  # metric -> `interval_legend` of its bars
    dataset_words: str = ""

    @property
    def unconfirmed(self) -> list[str]:
        """Variants of this study whose Table 3 values the confirmed reference does not hold."""
        return [v for v, ok in zip(self.paper["variant"], self.paper["confirmed"], strict=True) if not ok]


def is_bypass_sweep(data: StudyData) -> bool:
    """A sweep with `bypass` among its swept params: the one study Table 3's layout applies to."""
    return data.kind == "sweep" and "bypass" in data.swept


def paper_table3(variants: Sequence[str]) -> pd.DataFrame:
    """The paper's Table 3 row of each variant (ImageNet, full training); NaN and `confirmed` False for a
    variant the confirmed reference lacks (the complex bypass), so no number is ever typed in for it."""
    rows = {r["variant"]: r for r in paper()["table_3_macroarchitecture"]}
    out = []
    for v in variants:
        name = PAPER_BYPASS_NAMES.get(v, str(v))
        r = rows.get(name)
        out.append({"variant": v, "paper_name": name, "confirmed": r is not None,
                    "top1": float(r["top1"]) if r else math.nan, "top5": float(r["top5"]) if r else math.nan,
                    "size_mb": float(r["size_mb"]) if r else math.nan})
    return pd.DataFrame(out, columns=["variant", "paper_name", "confirmed", "top1", "top5", "size_mb"])


def _variant_order(values: Sequence[Any]) -> list[str]:
    present = list(dict.fromkeys(str(v) for v in values if v is not None and not pd.isna(v)))
    return [v for v in BYPASS_VARIANTS if v in present] + [v for v in present if v not in BYPASS_VARIANTS]


def bypass_table(data: StudyData, stats: pd.DataFrame | None = None) -> BypassTable:
    """Table 3's data for a bypass sweep. Points are placed at x = the variant's index (offset per group when
    other params are swept too); each seed sits beside its point. `chosen` marks the best variant per group by
    the selecting split (`selection`); the test split is what is reported."""
    if not is_bypass_sweep(data):
        raise ValueError(f"{data.name} is not a sweep over bypass (swept: {', '.join(data.swept) or 'nothing'})")
    stats = point_stats(data) if stats is None else stats
    others = tuple(n for n in data.swept if n != "bypass")
    pts = stats.copy()
    pts["variant"] = pts["bypass"].map(lambda v: str(v) if v is not None and not pd.isna(v) else "?")
    pts["paper_name"] = pts["variant"].map(lambda v: PAPER_BYPASS_NAMES.get(v, v))
    pts["group"] = [point_label(others, r) if others else "" for r in pts.to_dict("records")]
    order = _variant_order(pts["variant"])
    groups = tuple(dict.fromkeys(pts["group"]))
    width = 0.7 / len(groups)
    place = {(v, g): i + (j - (len(groups) - 1) / 2) * width for i, v in enumerate(order)
             for j, g in enumerate(groups)}
    pts["x"] = [place.get((v, g), math.nan) for v, g in zip(pts["variant"], pts["group"], strict=True)]
    pts["_rank"] = pts["variant"].map(order.index)
    pts = pts.sort_values(["_rank", "x"], kind="stable").drop(columns="_rank").reset_index(drop=True)
    chosen = selection(stats)
    pts["chosen"] = False
    for _, rows in pts[(pts["n"] > 0) & pts[chosen.column].notna()].groupby("group", sort=False):
        pts.loc[rows[chosen.column].idxmax(), "chosen"] = True

    f = data.frame
    done = f[(f["state"] == COMPLETE) & f["top1"].notna()].copy()
    seeds = pd.DataFrame(columns=["variant", "group", "label", "seed", "x", "top1", "top5", "val_top1"])
    if len(done):
        at = pts.set_index("label")
        done = done[done["label"].isin(at.index)]
        done = done.assign(variant=done["label"].map(at["variant"]), group=done["label"].map(at["group"]),
                           val_top1=done["val_top1"] if "val_top1" in done else math.nan)
        done = done.sort_values(["label", "seed"], kind="stable")
        # a column of seed marks just left of the point's mean, so neither hides the other
        spread = min(0.04, 0.25 * width / max(1, int(done.groupby("label").size().max())))
        xs = []
        for label, rows in done.groupby("label", sort=False):
            k = len(rows)
            xs += [(label, at.loc[label, "x"] - 0.2 * width + (i - (k - 1) / 2) * spread) for i in range(k)]
        done["x"] = [x for _, x in xs] if xs else []
        done = done.assign(_rank=done["variant"].map(order.index)).sort_values(["_rank", "x"], kind="stable")
        seeds = done[list(seeds.columns)].reset_index(drop=True)

    fixed = dict(paper()["metaparameters_v1_0"])
    return BypassTable(
        variants=pts, seeds=seeds, paper=paper_table3(order), groups=groups, selection=chosen,
        budget=training_budget(data), title=f"{data.name}: accuracy per bypass variant (the paper's Table 3)",
        paper_fixed=fixed, paper_matches=fixes_the_papers(data.spec, fixed, data.swept), source=paper()["source"],
        chance=chance_levels(data), warnings=tuple(study_warnings(data, stats)),
        intervals=interval_words(pts[pts["n"] > 0]),
        dataset_words=dataset_label(data.spec.get("dataset")),
    )
