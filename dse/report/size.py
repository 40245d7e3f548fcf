"""Accuracy against model size, the layout of the paper's Figure 3: one point per design point (every seed, the
mean and its interval), the chance line, points without a result on the size axis, and the paper's own series on
its own panel and axes (ImageNet top-5 after full training, at ImageNet sizes), so neither scale squeezes the
other and brief training on CIFAR-10 is never read as the paper's.

A large grid stays readable: more lines than there are colours to tell them apart (`MAX_LINES`) are drawn as
unjoined means in one colour, each labelled with all its swept values; a label goes only where it fits, and the
points left without one are listed in a table under the figure (`unlabelled_section`); the caption names at most
`CAPTION_ITEMS` points and leaves the rest to the page's tables.

Data (`accuracy_vs_size`, `accuracy_vs_size_at`), drawing (`draw_accuracy_vs_size`) and words (`size_figure`,
`reference_section`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import Bbox, blended_transform_factory

from dse.fmt import number
from dse.report import page
from dse.report.dodge import axis_span, dodge, shared_sizes
from dse.report.frame import StudyData, point_label
from dse.report.labels import bar_boxes, fit_labels, marker_boxes, place_labels, segment_boxes
from dse.report.page import Figured
from dse.report.paper import fixed_note, fixes_the_papers, paper
from dse.report.points import COMPLETE, point_stats, stat_text
from dse.report.steps import sweep_steps
from dse.report.style import (
    MUTED,
    OURS,
    PAPER,
    SIZE_LABEL,
    TOP5,
    chance_line,
    clamp_accuracy_axis,
    freeze,
    interval_bars,
    merged_legend,
    new_figure,
    styled,
    titles,
)
from dse.report.trust import Budget, chance_levels, dataset_label, interval_words, study_warnings, training_budget
from dse.space import format_value
from dse.stats import interval_legend


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
    note: str = ""  # the study's fixed metaparameters beside the paper's (`paper.fixed_note`)


@dataclass(frozen=True)
class SizeAccuracy:
    """Figure 3's layout: one point per design point, labelled with its swept value. Points of equal size are drawn
    side by side (`x`, `dodge`), their true size in their label and the caption."""

    points: pd.DataFrame  # `point_stats`, plus x: where the point is drawn (its size, dodged where sizes are equal)
    swept: tuple[str, ...]
    title: str
    budget: Budget
    reference: Reference | None
    missing: pd.DataFrame = field(repr=False)  # points with no completed trial (status, size if known)
    seeds: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)  # label, short, size_mb, x, seed, top1, top5
    chance: dict[str, float] = field(default_factory=dict)  # metric -> accuracy of guessing (%)
    warnings: tuple[str, ...] = ()  # `study_warnings`
    intervals: dict[str, str] = field(default_factory=dict)  # metric -> `interval_legend` of its bars
    dataset_words: str = ""  # the dataset in plain words (`dataset_label`): "CIFAR-10 (JPEG folder)"
    size_label: str = ""  # the x axis when it is not fp32 MB (`accuracy_vs_size_at`)
    steps: tuple[str, ...] = ()  # which neighbouring points the seeds tell apart (`steps.sweep_steps`)


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
                     paper()["source"], fixed_note(spec or {}, fixed, swept, figure))


def accuracy_vs_size(data: StudyData, stats: pd.DataFrame | None = None) -> SizeAccuracy:
    """Accuracy (every seed, the mean and its interval) against model size per design point, the chance level,
    the warnings, and the paper's series."""
    stats = dodge(point_stats(data) if stats is None else stats)
    what = " x ".join(data.swept) if data.swept else "design point"
    seeds = seed_results(data)
    seeds.insert(3, "x", seeds["label"].map(stats.set_index("label")["x"]).astype(float) if len(seeds) else [])
    return SizeAccuracy(
        points=stats,
        swept=data.swept,
        title=f"{data.name}: accuracy vs model size ({what} {data.kind})",
        budget=training_budget(data),
        reference=paper_reference(data.swept, data.spec) if data.kind == "sweep" else None,
        missing=stats[stats["n"] == 0][["label", "short", "status", "size_mb", "imagenet_size_mb"]],
        seeds=seeds,
        chance=chance_levels(data),
        warnings=tuple(study_warnings(data, stats)),
        intervals=interval_words(stats[stats["n"] > 0]),
        dataset_words=dataset_label(data.spec.get("dataset")),
        steps=_steps_words(data, stats),
    )


def _steps_words(data: StudyData, stats: pd.DataFrame) -> tuple[str, ...]:
    steps = sweep_steps(data, stats)
    return steps.sentences if steps is not None else ()


def seed_results(data: StudyData) -> pd.DataFrame:
    """Every completed trial's own result, to draw beside the mean: label, short, size_mb, imagenet_size_mb,
    seed, top1, top5."""
    f = data.frame
    done = f[(f["state"] == COMPLETE) & f["top1"].notna()]
    out = done[["label", "size_mb", "imagenet_size_mb", "seed", "top1", "top5"]].copy()
    out.insert(1, "short", [point_label(data.swept, r, short=True) for r in done.to_dict("records")])
    return out.reset_index(drop=True)


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
    seeds = out.seeds.assign(size_mb=out.seeds["size_mb"] * factor) if len(out.seeds) else out.seeds  # x: dodged
    from dataclasses import replace

    return replace(out, seeds=seeds, size_label=size_label(size),
                   title=out.title.replace("model size", f"{size} model size"))


MAX_LINES = 10
"""The most lines a panel joins, each in its own colour (tab10 has ten): beyond, colours repeat and lines cross
unread, so a larger grid's means are drawn unjoined in one colour and labelled with every swept value."""
CAPTION_ITEMS = 6
"""The most points a caption names (points without results, points of one size); the page's tables list all."""
ALWAYS_LABELLED = 24
"""Up to this many points a panel labels every point, a crowded one where it hides least (the paper's grids have
3 to 9, and bypass none and simple sit side by side); beyond, a label goes only where it fits."""
MAX_CAPTION_STEPS = 3
"""The most step sentences a caption holds (one per line of the sweep); more are left to the steps section."""
LABEL_GID = "label"  # a point's label in the figure: gid "label-<metric>-<point label>"


def many_lines(data: SizeAccuracy) -> bool:
    return len(_groups(data.points, data.swept)) > MAX_LINES


def _groups(points: pd.DataFrame, swept: tuple[str, ...]) -> list[tuple[str, pd.DataFrame]]:
    """Lines of a multi-parameter sweep: one per combination of all swept values but the first."""
    if len(swept) <= 1:
        return [("", points)]
    rest = list(swept[1:])
    out = []
    for key, rows in points.groupby(rest, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        out.append((", ".join(f"{n}={format_value(n, v)}" for n, v in zip(rest, key, strict=True)), rows))
    return out


def _point_text(row: pd.Series, swept: tuple[str, ...], shared: bool = False, every: bool = False) -> str:
    """A point's label: its swept value (`every`: each swept value, in order), its size where it shares one (drawn
    beside its true x), its seeds when fewer than asked."""
    if every and swept:
        text = ", ".join(format_value(n, row[n]) for n in swept)
    else:
        text = format_value(swept[0], row[swept[0]]) if swept else row["label"]
    if shared:
        text += f", {number(row['size_mb'], 2)} MB"
    if row["expected"] and not pd.isna(row["expected"]) and row["n"] < row["expected"]:
        text += f" ({row['n']}/{int(row['expected'])} seeds)"
    return text


@styled
def draw_accuracy_vs_size(data: SizeAccuracy) -> Figure:
    """Top-1 over top-5 against this study's model size (an axis fitted to its points); the paper's points on
    their own panel and axes, so neither scale squeezes the other."""
    pts = data.points
    has_top5 = bool(pts["top5_mean"].notna().any())
    ref = data.reference
    left = [["top1"], ["top5"]] if has_top5 else [["top1"]]
    mosaic = [row + ["paper"] for row in left] if ref is not None else left
    mosaic = [["legend"] * len(mosaic[0]), *mosaic]  # a row of its own: see the legend below
    fig = new_figure(12.0 if ref is not None else 7.5, 8.4 if has_top5 else 5.8)
    legend_rows = 0.24 if ref is not None else 0.5  # alone, the study's panels are narrow: one legend column
    axd = fig.subplot_mosaic(mosaic, height_ratios=[legend_rows, 1.35, 1] if has_top5 else [legend_rows + 0.04, 1],
                             width_ratios=[1.6, 1] if ref is not None else None)
    if has_top5:
        axd["top5"].sharex(axd["top1"])
    words = data.dataset_words or data.budget.dataset
    specs = [("top1", f"top-1 on {words}, test (%)", OURS)] + (
        [("top5", f"top-5 on {words}, test (%)", TOP5)] if has_top5 else [])
    for metric, ylabel, color in specs:
        _size_panel(axd[metric], data, metric, ylabel, color)
    if has_top5:
        axd["top1"].set_xlabel("")
        axd["top1"].tick_params(labelbottom=True)
    handles, labels = merged_legend([axd[metric] for metric, _, _ in specs])
    if ref is not None:
        _paper_panel(axd["paper"], data)
        handles.append(Line2D([], [], color=PAPER, marker="s", ms=6, ls="none"))
        labels.append(f"the paper: top-5 on ImageNet after full training ({ref.figure})")
    # Outside the axes: a legend inside would compete with the point labels for the free space.
    axd["legend"].axis("off")
    axd["legend"].legend(handles, labels, loc="center", ncols=2 if ref is not None else 1, frameon=False)
    many = many_lines(data)
    label_name = (", ".join(data.swept) if many else data.swept[0]) if data.swept else "point"
    n_done = int((pts["n"] > 0).sum())
    caption = ""
    if data.warnings:
        caption += "WARNING: " + " ".join(data.warnings) + " "
    caption += (f"Each labelled point is one design point (label: its {label_name}, joined to it by a line): small "
                f"dots = each seed's result, large dot = the mean over seeds; {_interval_words(data)}. "
                f"{n_done} of {len(pts)} points have results.")
    if many:
        rest = ", ".join(data.swept[1:])
        caption += (f" The {len(_groups(pts, data.swept))} combinations of {rest} are too many lines to tell apart "
                    f"(over {MAX_LINES}): means are not joined.")
    if len(pts) > ALWAYS_LABELLED:
        caption += (" A point is labelled only where its label fits; a table under the figure lists any left "
                    "without one.")
    if data.steps and len(data.steps) <= MAX_CAPTION_STEPS:
        caption += " " + " ".join(data.steps)
    elif data.steps:
        caption += (f" Which neighbouring points the seeds tell apart, for each of the {len(data.steps)} lines: "
                    "the section of that name.")
    if data.chance:
        caption += (f" Dashed grey: chance ({number(data.chance['top1'], 0, percent=True)} top-1, "
                    f"{number(data.chance['top5'], 0, percent=True)} top-5).")
    shared = shared_sizes(pts)
    for size, shorts in shared[:CAPTION_ITEMS]:
        caption += (f" {_and(shorts)} share one size ({number(size, 2)} MB) and are drawn side by side at it, "
                    "each label giving the true size.")
    if len(shared) > CAPTION_ITEMS:
        caption += (f" {len(shared) - CAPTION_ITEMS} more sizes are shared by several points (the table of design "
                    "points gives each size).")
    missing = pts[pts["n"] == 0]
    if len(missing):
        caption += " No result yet (x on the size axis): " + ", ".join(
            f"{r['short']} ({r['status']})" for _, r in missing.head(CAPTION_ITEMS).iterrows())
        caption += (f" and {len(missing) - CAPTION_ITEMS} more (the table of design points)."
                    if len(missing) > CAPTION_ITEMS else ".")
    if ref is not None:
        caption += (f" Right: the paper's {ref.figure} on its own axes (ImageNet top-5 after full training, at "
                    f"ImageNet model sizes); the paper: {ref.text}.")
        inet = pts["imagenet_size_mb"].dropna()
        if len(inet):
            caption += (f" This study's networks would be {number(inet.min(), 2, significant=True)}-"
                        f"{number(inet.max(), 2, significant=True)} MB at ImageNet's "
                        "input and 1000 classes.")
        caption += " " + ref.note
    titles(fig, data.title, data.budget.text, caption)
    freeze(fig)
    for metric, _, _ in specs:
        _label_size_panel(axd[metric], data, metric)
    if ref is not None:
        _label_paper_panel(axd["paper"], data)
    return fig


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _interval_words(data: SizeAccuracy) -> str:
    done = data.points[data.points["n"] > 0]
    kinds = list(done["top1_interval"]) + list(done["top5_interval"])
    clipped = bool(done["top1_clipped"].any() or done["top5_clipped"].any())
    return interval_legend(kinds, clipped)


def _intervals(done: pd.DataFrame, metric: str) -> tuple[pd.Series, pd.Series]:
    """The interval to draw per point (NaN where there is none); already clipped by `seed_stat`."""
    return done[f"{metric}_lo"], done[f"{metric}_hi"]


def _size_panel(ax: Axes, data: SizeAccuracy, metric: str, ylabel: str, color: str) -> None:
    """One metric's panel: per line, the means joined, their intervals, every seed at its point's x, chance."""
    pts = data.points
    groups = _groups(pts, data.swept)
    many = len(groups) > MAX_LINES
    cmap = colormaps["tab10"]
    name = metric.replace("top", "top-")
    seeds = data.seeds
    for g, (group, rows) in enumerate(groups):
        c = color if len(groups) == 1 or many else cmap(g % 10)
        done = rows[rows["n"] > 0].sort_values(["size_mb", "x"], kind="stable")
        mean = done[f"{metric}_mean"]
        if done.empty or mean.isna().all():
            continue
        if not many:
            ax.plot(done["x"], mean, "-", color=c, lw=1.2, alpha=0.6, zorder=2, gid=f"line-{metric}-{g}")
        lo, hi = _intervals(done, metric)
        interval_bars(ax, done["x"], mean, lo, hi, done[f"{metric}_interval"], c, legend=g == 0, capsize=3,
                      range_width=2.2)
        if len(seeds) and metric in seeds:
            mine = seeds[seeds["label"].isin(done["label"])]
            ax.scatter(mine["x"], mine[metric], s=9, facecolor="white", edgecolor=c, lw=0.7, zorder=3.5,
                       label="one seed" if g == 0 else None, gid=f"seeds-{metric}-{g}")
        full = done["n"] >= done["expected"].fillna(0)
        own = f"this study: {name} on {data.dataset_words or data.budget.dataset}, mean over seeds"
        ax.scatter(done.loc[full, "x"], mean[full], s=30 if not many else 18, color=c, zorder=4,
                   gid=f"means-{metric}-{g}", label=(own if g == 0 else None) if many else group or own)
        if (~full).any():
            ax.scatter(done.loc[~full, "x"], mean[~full], s=30, facecolor="white", edgecolor=c, zorder=4,
                       label="fewer seeds than asked" if g == 0 else None, gid=f"partial-{metric}-{g}")
    chance_line(ax, data.chance, metric)
    missing = pts[(pts["n"] == 0) & pts["size_mb"].notna()]
    if len(missing):
        trans = blended_transform_factory(ax.transData, ax.transAxes)
        ax.scatter(missing["x"], [0.04] * len(missing), marker="x", color=MUTED, s=30, transform=trans,
                   zorder=4, label="no result yet", clip_on=False)
    sizes = pts["size_mb"].dropna()
    if len(sizes):
        span = axis_span(sizes)
        ax.set_xlim(max(0.0, float(sizes.min()) - 0.1 * span), float(sizes.max()) + 0.1 * span)
    ax.set_xlabel(data.size_label or SIZE_LABEL)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{name} vs size (this study)")
    ax.grid(True, alpha=0.25)
    ax.margins(y=0.25)
    clamp_accuracy_axis(ax)


def _label_size_panel(ax: Axes, data: SizeAccuracy, metric: str) -> None:
    """Each point's label where it fits (gid `LABEL_GID-<metric>-<point label>`), clear of every mark."""
    pts = data.points
    taken: list[Bbox] = []
    groups = _groups(pts, data.swept)
    many = len(groups) > MAX_LINES
    shared = {label for _, shorts in shared_sizes(pts) for label in shorts}
    labels = []
    every = []  # all means of the panel: a label must sit nearer its own than any of these
    for g, (_, rows) in enumerate(groups):
        done = rows[(rows["n"] > 0) & rows[f"{metric}_mean"].notna()].sort_values(["size_mb", "x"], kind="stable")
        taken += marker_boxes(ax, done["x"], done[f"{metric}_mean"])
        lo, hi = _intervals(done, metric)
        taken += bar_boxes(ax, done["x"], lo, hi)
        if not many:
            taken += segment_boxes(ax, done["x"], done[f"{metric}_mean"])
        every += [tuple(ax.transData.transform((x, y))) for x, y in zip(done["x"], done[f"{metric}_mean"],
                                                                         strict=True)]
        color = "#222222" if len(groups) == 1 or many else colormaps["tab10"](g % 10)
        labels.append((done, color))
    if len(data.seeds) and metric in data.seeds:
        taken += marker_boxes(ax, data.seeds["x"], data.seeds[metric], radius_pt=2.5)
    missing = pts[(pts["n"] == 0) & pts["size_mb"].notna()]
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    taken += marker_boxes(ax, missing["x"], [0.04] * len(missing), transform=trans)
    label = fit_labels if len(pts) > ALWAYS_LABELLED else place_labels
    for done, color in labels:  # every obstacle is known before the first label goes down
        label(ax, done["x"], done[f"{metric}_mean"],
              [_point_text(r, data.swept, str(r["short"]) in shared, many) for _, r in done.iterrows()],
              taken=taken, color=color, neighbours=every,
              gids=[f"{LABEL_GID}-{metric}-{name}" for name in done["label"]])
    if len(missing):
        label(ax, missing["x"], [0.04] * len(missing),
              [f"{r['short']} {r['status']}" for _, r in missing.iterrows()], taken=taken, color=MUTED,
              transform=trans, fontsize=7)


def _paper_panel(ax: Axes, data: SizeAccuracy) -> None:
    """The paper's confirmed points alone, on axes fitted to them (ImageNet sizes, ImageNet top-5)."""
    ref = data.reference
    ax.plot(ref.points["size_mb"], ref.points["top5"], "s", color=PAPER, ms=7, gid="paper-top5")
    ax.set_xlabel("model size on ImageNet (MB, fp32), the paper's")
    ax.set_ylabel("ImageNet top-5 (%), the paper's", color=PAPER)
    ax.tick_params(axis="y", colors=PAPER)
    ax.grid(True, alpha=0.25)
    lo, hi = float(ref.points["top5"].min()), float(ref.points["top5"].max())
    ax.set_ylim(lo - max(3.0, (hi - lo) * 0.6), hi + max(3.0, (hi - lo) * 0.6))
    sizes = ref.points["size_mb"]
    span = float(sizes.max() - sizes.min()) or 1.0
    ax.set_xlim(max(0.0, float(sizes.min()) - 0.35 * span), float(sizes.max()) + 0.35 * span)
    ax.set_title(f"the paper's {ref.figure} (ImageNet, full training)")


def _label_paper_panel(ax: Axes, data: SizeAccuracy) -> None:
    ref = data.reference
    taken = marker_boxes(ax, ref.points["size_mb"], ref.points["top5"], radius_pt=5)
    name = "SR" if ref.param == "sr" else ref.param
    place_labels(ax, ref.points["size_mb"], ref.points["top5"],
                 [f"{name} {lab}\n{number(t, percent=True)}"
                  for lab, t in zip(ref.points["label"], ref.points["top5"], strict=True)],
                 taken=taken, color=PAPER)


def size_figure(data: StudyData, stats: pd.DataFrame, size: str = "fp32") -> Figured | None:
    """Figure 3's layout for a sweep with points; `size`: the x axis at fp32, 8 or 4 bits per weight."""
    if not (data.kind == "sweep" and len(stats)):
        return None
    sa = accuracy_vs_size_at(data, size, stats)
    about = ("Accuracy against model size per design point, the layout of the paper's Figure 3"
             + (f"; the paper's {sa.reference.figure} is shown on its own axis (ImageNet top-5)."
                if sa.reference else "."))
    fig = draw_accuracy_vs_size(sa)
    return Figured("accuracy_vs_size", "Accuracy vs model size", about, fig, (("test", "accuracy vs model size"),),
                   after=tuple(unlabelled_section(sa, labelled(fig))))


def labelled(fig: Figure) -> dict[str, set[str]]:
    """The points each panel labels, read back from the drawn figure: metric -> point labels."""
    out: dict[str, set[str]] = {}
    prefix = LABEL_GID + "-"
    for ax in fig.axes:
        for text in ax.texts:
            gid = text.get_gid() or ""
            if gid.startswith(prefix):
                metric, _, label = gid[len(prefix):].partition("-")
                out.setdefault(metric, set()).add(label)
    return out


def unlabelled_section(data: SizeAccuracy, shown: dict[str, set[str]]) -> list[page.Block]:
    """The points with results that a panel of the figure left without a label (no free spot): a table, so every
    point can be found."""
    pts = data.points
    metrics = [m for m in ("top1", "top5") if pts[f"{m}_mean"].notna().any()]
    rows = []
    for _, r in pts.iterrows():
        missing = [m.replace("top", "top-") for m in metrics
                   if not pd.isna(r[f"{m}_mean"]) and r["label"] not in shown.get(m, set())]
        if missing:
            rows.append([*(format_value(n, r[n]) for n in data.swept), number(r["size_mb"], 2),
                         *(stat_text(r, m) for m in metrics), " and ".join(missing) + " panel"])
    if not rows:
        return []
    n_done = int(pts[[f"{m}_mean" for m in metrics]].notna().any(axis=1).sum())
    headers = [*data.swept, "size (MB)", *(f"test {m.replace('top', 'top-')} %" for m in metrics), "no label in"]
    return [page.paragraphs([f"{len(rows)} of the {n_done} points with results have no label in a panel of the "
                             "figure above (no free spot for one):"], "note"),
            page.table(headers, rows, "unlabelled", (("test", "the table of unlabelled points"),))]


def reference_section(data: StudyData) -> list[page.Block]:
    """The paper's series in words, under the figures of a sweep the paper drew."""
    ref = paper_reference(data.swept, data.spec) if data.kind == "sweep" else None
    if ref is None:
        return []
    points = "; ".join(f"{ref.param}={lab}: {number(t, percent=True)} at {number(s, 6, significant=True)} MB"
                       for lab, t, s in
                       zip(ref.points["label"], ref.points["top5"], ref.points["size_mb"], strict=True))
    return [page.paragraphs([f"Paper reference ({ref.figure}, ImageNet top-5 after full training, ImageNet sizes): "
                             f"{points}. {ref.text[0].upper() + ref.text[1:]}. {ref.note}"], "note")]
