"""The paper's Table 3 for a sweep over `bypass`: accuracy per variant (every seed, the mean and the interval its
seed count allows), its size, and the paper's ImageNet values beside it from the shipped reference (all three rows
of the paper's Table 3); a variant the reference lacked would get words, never a typed-in number.

Data (`bypass_table`), drawing (`draw_bypass_table`) and words (`table3_figure`, `table3_section`).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from dse.fmt import number
from dse.report import page
from dse.report.frame import StudyData, point_label
from dse.report.page import Figured, Heading, num
from dse.report.paper import fixed_note, fixes_the_papers, paper
from dse.report.points import COMPLETE, point_stats, stat_text
from dse.report.steps import sweep_steps
from dse.report.style import (
    MUTED,
    OURS,
    PAPER,
    chance_line,
    clamp_accuracy_axis,
    interval_bars,
    merged_legend,
    new_figure,
    styled,
    titles,
)
from dse.report.trust import (
    Budget,
    Selection,
    chance_levels,
    dataset_label,
    interval_words,
    selection,
    study_warnings,
    training_budget,
)
from dse.space import format_value
from dse.stats import STAT_DESCRIPTION, STAT_HEADER

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
    paper_note: str = ""  # this study's fixed metaparameters beside the paper's (`paper.fixed_note`)
    chance: dict[str, float] = field(default_factory=dict)  # metric -> accuracy of guessing (%)
    warnings: tuple[str, ...] = ()
    intervals: dict[str, str] = field(default_factory=dict)  # metric -> `interval_legend` of its bars
    dataset_words: str = ""
    steps: tuple[str, ...] = ()  # which neighbouring variants the seeds tell apart (`steps.sweep_steps`)

    @property
    def unconfirmed(self) -> list[str]:
        """Variants of this study whose Table 3 values the confirmed reference does not hold."""
        return [v for v, ok in zip(self.paper["variant"], self.paper["confirmed"], strict=True) if not ok]


def is_bypass_sweep(data: StudyData) -> bool:
    """A sweep with `bypass` among its swept params: the one study Table 3's layout applies to."""
    return data.kind == "sweep" and "bypass" in data.swept


def paper_table3(variants: Sequence[str]) -> pd.DataFrame:
    """The paper's Table 3 row of each variant (ImageNet, full training); NaN and `confirmed` False for a
    variant the reference lacks, so no number is ever typed in for it."""
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
        paper_note=fixed_note(data.spec, fixed, data.swept, "Table 3 (SqueezeNet v1.0)"),
        chance=chance_levels(data), warnings=tuple(study_warnings(data, stats)),
        intervals=interval_words(pts[pts["n"] > 0]),
        dataset_words=dataset_label(data.spec.get("dataset")),
        steps=steps.sentences if (steps := sweep_steps(data, stats, along="bypass")) is not None else (),
    )


def bypass_of(data: StudyData, stats: pd.DataFrame) -> BypassTable | None:
    """The study's Table 3 data, None where it has none (not a bypass sweep, or no points)."""
    return bypass_table(data, stats) if is_bypass_sweep(data) and len(stats) else None


def _variant_ticks(table: BypassTable, paper: bool = False) -> tuple[list[float], list[str]]:
    """One tick per variant at its own position: its name (the paper's, on the paper's panel) and its size."""
    pts = table.variants
    ref = table.paper.set_index("variant")
    positions, labels = [], []
    for i, variant in enumerate(ref.index):
        rows = pts[pts["variant"] == variant]
        positions.append(float(i))
        if paper:
            r = ref.loc[variant]
            labels.append(f"{r['paper_name']}\n{number(r['size_mb'], 6, significant=True)} MB" if r["confirmed"]
                          else f"{r['paper_name']}\nno confirmed value")
            continue
        sizes = rows["size_mb"].dropna()
        inet = rows["imagenet_size_mb"].dropna()
        text = variant
        if len(table.groups) == 1 and len(sizes):
            text += f"\n{number(sizes.iloc[0], 2)} MB"
            text += f"\n(ImageNet {number(inet.iloc[0], 2)})" if len(inet) else ""
        labels.append(text)
    return positions, labels


@styled
def draw_bypass_table(table: BypassTable) -> Figure:
    """The paper's Table 3 as a figure: per bypass variant, each seed's test accuracy (one mark each), the mean
    and its interval; the paper's ImageNet values on their own panel at the same positions, and for a variant the
    confirmed reference lacks, words instead of a number."""
    pts, seeds = table.variants, table.seeds
    has_top5 = bool(pts["top5_mean"].notna().any())
    metrics = ["top1", "top5"] if has_top5 else ["top1"]
    fig = new_figure(4.0 * len(metrics) + 4.2, 6.2)
    axd = fig.subplot_mosaic([["legend"] * (len(metrics) + 1), [*metrics, "paper"]], height_ratios=[0.18, 1])
    words = table.dataset_words or table.budget.dataset
    cmap = colormaps["tab10"]
    positions, labels = _variant_ticks(table)
    for metric in metrics:
        ax = axd[metric]
        for g, group in enumerate(table.groups):
            c = OURS if len(table.groups) == 1 else cmap(g % 10)
            rows = pts[(pts["group"] == group) & (pts["n"] > 0)]
            mine = seeds[seeds["group"] == group]
            ax.scatter(mine["x"], mine[metric], s=16, facecolor="white", edgecolor=c, lw=0.8, zorder=3.5,
                       gid=f"seeds-{metric}-{g}", label="one seed (its test result)" if g == 0 else None)
            mean = rows[f"{metric}_mean"]
            interval_bars(ax, rows["x"], mean, rows[f"{metric}_lo"], rows[f"{metric}_hi"],
                          rows[f"{metric}_interval"], c, legend=g == 0, capsize=4, range_width=2.4)
            ax.scatter(rows["x"], mean, s=44, marker="D", color=c, zorder=4, gid=f"means-{metric}-{g}",
                       label=(group or f"this study: test {metric.replace('top', 'top-')} on {words}, mean over "
                              "seeds"))
            for _, r in rows.iterrows():
                ax.annotate(number(r[f"{metric}_mean"]) + (" *" if r["chosen"] else ""), (r["x"], r[f"{metric}_mean"]),
                            xytext=(7, 0), textcoords="offset points", va="center", fontsize=7.5, color=c)
        chance_line(ax, table.chance, metric)
        ax.set_xticks(positions, labels)
        ax.set_xlim(-0.6, len(positions) - 0.4)
        ax.set_ylabel(f"test {metric.replace('top', 'top-')} on {words} (%)")
        ax.set_title(f"{metric.replace('top', 'top-')} per bypass variant (this study)")
        ax.grid(True, axis="y", alpha=0.25)
        ax.margins(y=0.2)
        clamp_accuracy_axis(ax)
    _paper_table3_panel(axd["paper"], table)
    handles, names = merged_legend([axd[metric] for metric in [*metrics, "paper"]])
    axd["legend"].axis("off")
    axd["legend"].legend(handles, names, loc="center", ncols=2, frameon=False)
    caption = ("WARNING: " + " ".join(table.warnings) + " ") if table.warnings else ""
    caption += (f"Each variant at its own position: open circles = each seed's test result, diamond = the mean "
                f"over seeds; {table.intervals.get('top1', '')}.")
    if table.steps:
        caption += " " + " ".join(table.steps)
    if len(table.groups) == 1:
        caption += (" Under each variant: its model size here and (in brackets) at ImageNet's input and 1000 "
                    "classes, the sizes the paper gives.")
    caption += " " + table.selection.text
    chosen = pts[pts["chosen"]]
    if len(chosen):
        caption += " * = the best variant by " + table.selection.split + " top-1" + (
            " (per line)" if len(table.groups) > 1 else "") + ": " + ", ".join(
            f"{r['variant']}" + (f" ({r['group']})" if r["group"] else "") for _, r in chosen.iterrows()) + "."
    missing = pts[pts["n"] == 0]
    if len(missing):
        caption += " No result: " + ", ".join(f"{r['label']} ({r['status']})" for _, r in missing.iterrows()) + "."
    caption += (" Right: the paper's Table 3 on its own axis (ImageNet top-1 and top-5 after full training, "
                "ImageNet model sizes)")
    if table.unconfirmed:
        caption += "; " + ", ".join(table.paper.set_index("variant").loc[table.unconfirmed, "paper_name"]) + (
            f": {UNCONFIRMED}, so no value is shown")
    caption += ". " + table.paper_note + _complex_size_words(table)
    titles(fig, table.title, table.budget.text, caption)
    return fig


def _paper_table3_panel(ax: Axes, table: BypassTable) -> None:
    """The paper's top-1 and top-5 per variant; a variant without a confirmed value gets words, not a mark."""
    ref = table.paper.reset_index(drop=True)
    xs = np.arange(len(ref), dtype=float)
    ok = ref["confirmed"].to_numpy(dtype=bool)
    for metric, marker, name in (("top1", "s", "top-1"), ("top5", "^", "top-5")):
        ax.plot(xs[ok], ref.loc[ok, metric], marker, color=PAPER, ms=7, ls="none", gid=f"paper-{metric}",
                label=f"the paper: ImageNet {name} after full training (Table 3)")
        for x, v in zip(xs[ok], ref.loc[ok, metric], strict=True):
            ax.annotate(number(v), (x, v), xytext=(7, 0), textcoords="offset points", va="center", fontsize=7.5,
                        color=PAPER)
    positions, labels = _variant_ticks(table, paper=True)
    ax.set_xticks(positions, labels)
    ax.set_xlim(-0.6, len(positions) - 0.4)
    values = pd.concat([ref.loc[ok, "top1"], ref.loc[ok, "top5"]])
    if len(values):
        ax.set_ylim(float(values.min()) - 8, float(values.max()) + 8)
    for x, r in zip(xs[~ok], ref[~ok].itertuples(), strict=True):
        ax.text(x, 0.5, f"{r.paper_name}:\n" + textwrap.fill(UNCONFIRMED, 12),
                transform=blended_transform_factory(ax.transData, ax.transAxes), ha="center", va="center",
                fontsize=7.5, color=MUTED, gid=f"unconfirmed-{r.variant}")
    ax.set_ylabel("ImageNet accuracy (%), the paper's", color=PAPER)
    ax.tick_params(axis="y", colors=PAPER)
    ax.grid(True, axis="y", alpha=0.25)
    ax.set_title("the paper's Table 3 (ImageNet, full training)")


def table3_figure(table: BypassTable | None) -> Figured | None:
    """Table 3's figure for a bypass sweep (`bypass_of`); None for any other study."""
    if table is None:
        return None
    about = ("Accuracy per bypass variant, the paper's Table 3: each seed's test result, the mean and its interval, "
             "and the paper's ImageNet values beside them.")
    return Figured("bypass_table3", "Bypass variants (the paper's Table 3)", about, draw_bypass_table(table),
                   (("test", "the Table 3 figure"),))


BYPASS_TITLE = "Bypass variants against the paper's Table 3"
PAPER_HEADERS = ("paper: ImageNet top-1 %", "paper: ImageNet top-5 %", "paper: ImageNet size (MB)")
"""The columns that hold the paper's numbers: ImageNet in each, beside this study's CIFAR-10 ones."""


def complex_layout_mb() -> float:
    """fp32 MB of SqueezeNet v1.0 with the complex bypass the paper's text and Figure 2 describe (the plan's
    `squeezenet1_0_complex_bypass`), against the 7.7 MB its Table 3 prints (docs/design.md)."""
    from dse.plan import cost
    from dse.space import preset

    return cost(preset("squeezenet1_0_complex_bypass")).size_mb


def _complex_size_words(table: BypassTable) -> str:
    """Where the paper's complex-bypass size is shown: the size its own described layout has."""
    ref = table.paper.set_index("variant")
    if "complex" not in ref.index or not ref.loc["complex", "confirmed"]:
        return ""
    return (f" The paper's {number(ref.loc['complex', 'size_mb'], 6, significant=True)} MB for complex bypass is "
            f"not what the layout it describes gives: {number(complex_layout_mb(), 2)} MB at SqueezeNet v1.0's "
            "metaparameters (dse arch --preset squeezenet1_0_complex_bypass; docs/design.md).")


def _table3_rows(data: StudyData, table: BypassTable | None) -> tuple[list[str], list[list[str]], list[str]]:
    """Headers, one row per design point of a bypass sweep (variant order), and the notes under the table
    (`bypass_of`; none without it)."""
    if table is None:
        return [], [], []
    others = [n for n in data.swept if n != "bypass"]
    val = table.selection.split == "validation"
    headers = ["bypass", "the paper's name", *others, "seeds", f"test top-1 % ({STAT_HEADER})",
               "test top-1 % per seed", f"test top-5 % ({STAT_HEADER})", *(["validation top-1 %"] if val else []),
               "size (MB)", "ImageNet size (MB)", *PAPER_HEADERS]
    paper = table.paper.set_index("variant")
    rows = []
    for _, r in table.variants.iterrows():
        mine = table.seeds[table.seeds["label"] == r["label"]]
        ref = paper.loc[r["variant"]] if r["variant"] in paper.index else None
        confirmed = ref is not None and bool(ref["confirmed"])
        cells = [num(ref[k], 1) if confirmed else UNCONFIRMED for k in ("top1", "top5")]
        cells.append(number(ref["size_mb"], 6, significant=True) if confirmed else UNCONFIRMED)
        rows.append([r["variant"] + (" *" if r["chosen"] else ""), r["paper_name"],
                     *(format_value(n, r[n]) for n in others), f"{r['n']}", stat_text(r, "top1"),
                     ", ".join(num(v) for v in mine["top1"]) or "—", stat_text(r, "top5"),
                     *([num(r["val_top1_mean"])] if val else []), num(r["size_mb"], 2),
                     num(r["imagenet_size_mb"], 2), *cells])
    chosen = table.variants[table.variants["chosen"]]
    notes = []
    if len(chosen):
        notes.append(f"* the best variant{' of each line' if len(table.groups) > 1 else ''} by "
                     f"{table.selection.split} top-1. {table.selection.text}")
    notes.append(f"Paper: Table 3 of {table.source} (ImageNet top-1/top-5 after full training, SqueezeNet v1.0's "
                 "metaparameters, ImageNet model sizes)."
                 + (" " + ", ".join(paper.loc[table.unconfirmed, "paper_name"]) + f": {UNCONFIRMED}, so no value "
                    "is given." if table.unconfirmed else "")
                 + " " + table.paper_note + _complex_size_words(table))
    notes.append(f"Training: {table.budget.text}. {STAT_DESCRIPTION}")
    return headers, rows, notes


def table3_section(data: StudyData, table: BypassTable | None) -> list[page.Block]:
    headers, rows, notes = _table3_rows(data, table)
    if not rows:
        return []
    shows = [("test", "the Table 3 table")]
    if table.selection.split == "validation":
        shows.append(("validation", "the Table 3 table's validation column"))
    return [Heading(BYPASS_TITLE), page.table(headers, rows, "table3", shows),
            *(page.paragraphs([n], "note") for n in notes)]
