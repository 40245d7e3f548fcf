"""What one study's page says, in order, as one list of blocks (`dse.report.page`) that becomes both summary.md
and index.html: what the study is and how far it got, what a reader must know before trusting a number, the
figures, the tables of design points, of failures and of unfinished work.

Failed trials are listed with their reasons and unfinished points with their status, so a partial or running
study reads as partial rather than as a finished one with holes.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from dse.report import page
from dse.report.figures import (
    UNCONFIRMED,
    BypassTable,
    bypass_table,
    is_bypass_sweep,
    paper_reference,
    pareto_front,
    point_spread,
    study_warnings,
    training_budget,
)
from dse.report.frame import StudyData, format_value
from dse.report.page import Figured, Heading, Link, Only, Para, Paragraphs, RawHtml, num
from dse.report.points import stat_text
from dse.report.trust import split_sentence
from dse.stats import STAT_DESCRIPTION, STAT_HEADER, SeedSpread


def _about(data: StudyData) -> list[str]:
    what = " x ".join(data.swept) or "—"
    return [f"Source: {data.source or '—'}, study {data.name} ({data.kind} over {what}).",
            f"Training: {training_budget(data).text}."]


def _counts(data: StudyData, stats: pd.DataFrame) -> str:
    """How far the study got, in words: trials by state, then points of the grid without a result."""
    f = data.frame
    skipped = f["skip_reason"].notna() & (f["state"] == "PRUNED")
    states = f.loc[~skipped, "state"].value_counts()
    words = {"COMPLETE": "complete", "FAIL": "failed", "RUNNING": "running", "WAITING": "queued", "PRUNED": "pruned"}
    parts = [f"{int(states[k])} {w}" for k, w in words.items() if k in states]
    if skipped.any():
        parts.append(f"{int(skipped.sum())} skipped untrained (over the size budget)")
    text = f"{len(f)} trials: " + (", ".join(parts) if parts else "none")
    expected = stats["expected"].dropna()
    if data.kind == "sweep" and len(expected):
        seeds = int(expected.iloc[0])
        text += f". The sweep asks for {len(stats)} design points x {seeds} seed{'s' if seeds != 1 else ''}"
        n_missing = int((stats["n"] == 0).sum())
        if n_missing:
            text += f"; {n_missing} of {len(stats)} points have no result yet"
    return text + "."


def _trust_lines(data: StudyData, stats: pd.DataFrame) -> list[str]:
    """What a reader must know before trusting a number: warnings, which split chose and which measured."""
    lines = [f"WARNING: {w}" for w in study_warnings(data, stats)]
    lines.append(split_sentence(data, stats))
    return lines


def _status(row: pd.Series) -> str:
    parts = [row["status"]]
    if row["expected"] and not pd.isna(row["expected"]):
        parts.append(f"{row['n']}/{int(row['expected'])} seeds")
    for key, word in (("n_running", "running"), ("n_waiting", "queued"), ("n_failed", "failed"),
                      ("n_pruned", "pruned")):
        if row[key]:
            parts.append(f"{row[key]} {word}")
    return ", ".join(parts)


POINT_HEADERS = ["size (MB)", "ImageNet size (MB)", "params", "seeds", f"test top-1 % ({STAT_HEADER})",
                 f"test top-5 % ({STAT_HEADER})", "train s", "status"]


def _point_rows(stats: pd.DataFrame, swept: tuple[str, ...]) -> list[list[str]]:
    rows = []
    for _, r in stats.iterrows():
        params = "—" if r["n_params"] is None or pd.isna(r["n_params"]) else f"{int(r['n_params']):,}"
        rows.append([*(format_value(n, r[n]) for n in swept), num(r["size_mb"], 2), num(r["imagenet_size_mb"], 2),
                     params, str(r["n"]), stat_text(r, "top1"), stat_text(r, "top5"), num(r["train_seconds"], 0),
                     _status(r)])
    return rows


def failed_trials(frame: pd.DataFrame) -> pd.DataFrame:
    """Failed trials with their reason and what became of their work: a retry may have completed it since.

    Duplicates (the same work enqueued twice, closed untrained) are not failures and are left out.
    """
    failed = frame[(frame["state"] == "FAIL") & (frame["fail_kind"] != "duplicate")]
    rows = []
    for r in failed.itertuples():
        same = frame[(frame["label"] == r.label) & (frame["seed"].astype(object) == r.seed)
                     & (frame["number"] != r.number)] if not pd.isna(r.seed) else frame.iloc[0:0]
        done = same[same["state"] == "COMPLETE"]
        later = same[same["state"].isin(["RUNNING", "WAITING"])]
        if len(done):
            fate = f"completed by trial {int(done['number'].iloc[0])}"
        elif len(later):
            fate = f"retry {'running' if (later['state'] == 'RUNNING').any() else 'queued'}"
        elif (same["state"] == "FAIL").any() and same["number"].max() > r.number:
            fate = f"failed again (trial {int(same['number'].max())})"
        else:
            fate = "final: no result for this seed"
        rows.append({"number": r.number, "label": r.label, "seed": r.seed, "reason": r.fail_reason, "fate": fate})
    return pd.DataFrame(rows, columns=["number", "label", "seed", "reason", "fate"])


def _unfinished(data: StudyData) -> pd.DataFrame:
    f = data.frame
    rows = f[f["state"].isin(["RUNNING", "WAITING", "PRUNED"])]
    skipped = rows["skip_reason"].map(lambda r: isinstance(r, str) and bool(r))
    state = rows["state"].where(~skipped, "SKIPPED")
    return rows.assign(state=state, note=rows["skip_reason"].where(skipped, ""))[
        ["number", "label", "seed", "state", "started", "note"]]


FAILED_HEADERS = ["trial", "point", "seed", "reason", "since then"]


UNFINISHED_HEADERS = ["trial", "point", "seed", "state", "started", "note"]


def _failed_rows(data: StudyData) -> list[list[str]]:
    return [[str(r.number), r.label, _seed(r.seed), str(r.reason), r.fate]
            for r in failed_trials(data.frame).itertuples()]


def _unfinished_rows(data: StudyData) -> list[list[str]]:
    return [[str(r.number), r.label, _seed(r.seed), {"WAITING": "queued"}.get(r.state, r.state.lower()),
             str(r.started) if isinstance(r.started, str) else "—", r.note]
            for r in _unfinished(data).itertuples()]


def _seed(seed) -> str:
    return "—" if seed is None or pd.isna(seed) else str(int(seed))


def _sweep_spread(data: StudyData) -> SeedSpread | None:
    """`point_spread` where the report shows it: sweeps with several seeds."""
    return point_spread(data) if data.kind == "sweep" else None


def _spread_lines(spread: SeedSpread | None) -> list[str]:
    """Seed-to-seed spread next to the spread between points (`_sweep_spread`)."""
    if spread is None:
        return []
    return [spread.sentence("test top-1")]


SPREAD_HEADERS = ["spread of test top-1", "sd (points)", "what it is"]


def _spread_rows(spread: SeedSpread | None) -> list[list[str]]:
    if spread is None:
        return []
    return [["between seeds of one point", num(spread.within_sd, 2),
             f"pooled sd over the {spread.n_pooled} points with 2+ seeds"],
            ["between design points", num(spread.between_sd, 2), f"sd of the {spread.n_points} point means"]]


def _reference_lines(data: StudyData) -> list[str]:
    ref = paper_reference(data.swept, data.spec) if data.kind == "sweep" else None
    if ref is None:
        return []
    points = "; ".join(f"{ref.param}={lab}: {t:.1f}% at {s:g} MB" for lab, t, s in
                       zip(ref.points["label"], ref.points["top5"], ref.points["size_mb"], strict=True))
    return [f"Paper reference ({ref.figure}, ImageNet top-5 after full training, ImageNet sizes): {points}. "
            f"{ref.text[0].upper() + ref.text[1:]}."]


FRONT_HEADERS = ["#", "chosen on: top-1 %", "test top-1 %", "size (MB)", "trials"]


def front_rows(data: StudyData, stats: pd.DataFrame) -> list[list[str]]:
    """The non-dominated points of a search, smallest first, numbered as in the figure."""
    if not (data.kind == "search" or len(data.directions) > 1):
        return []
    pareto = pareto_front(data, stats)
    front, col = pareto.front, pareto.column
    return [[str(i), f"{num(r[col])} ({pareto.selection.split})", stat_text(r, "top1"), num(r["size_mb"], 3),
             str(r["trials"]),
             *(format_value(n, r[n]) for n in data.swept)] for i, (_, r) in enumerate(front.iterrows(), start=1)]


BYPASS_TITLE = "Bypass variants against the paper's Table 3"


def _bypass_table_rows(data: StudyData, table: BypassTable | None) -> tuple[list[str], list[list[str]], list[str]]:
    """Headers, one row per design point of a bypass sweep (variant order), and the notes under the table
    (`_bypass_of`; none without it)."""
    if table is None:
        return [], [], []
    others = [n for n in data.swept if n != "bypass"]
    val = table.selection.split == "validation"
    headers = ["bypass", "the paper's name", *others, "seeds", f"test top-1 % ({STAT_HEADER})",
               "test top-1 % per seed", f"test top-5 % ({STAT_HEADER})", *(["validation top-1 %"] if val else []),
               "size (MB)", "ImageNet size (MB)", "paper top-1 %", "paper top-5 %", "paper size (MB)"]
    paper = table.paper.set_index("variant")
    rows = []
    for _, r in table.variants.iterrows():
        mine = table.seeds[table.seeds["label"] == r["label"]]
        ref = paper.loc[r["variant"]] if r["variant"] in paper.index else None
        confirmed = ref is not None and bool(ref["confirmed"])
        cells = [num(ref[k], 1) if confirmed else UNCONFIRMED for k in ("top1", "top5")]
        cells.append(f"{ref['size_mb']:g}" if confirmed else UNCONFIRMED)
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
                 + ("" if table.paper_matches else " This study fixes other metaparameters than the paper's."))
    notes.append(f"Training: {table.budget.text}. {STAT_DESCRIPTION}")
    return headers, rows, notes


def study_sections(data: StudyData, stats: pd.DataFrame, figures: Sequence[Figured],
                   table: BypassTable | None = None) -> list[page.Block]:
    """The study's page, top to bottom. `table`: the study's `bypass_table`, made here when not given."""
    table = _bypass_of(data, stats) if table is None else table
    blocks: list[page.Block] = [
        Heading(f"{data.name}: dse {data.kind} report", level=1), page.paragraphs(_about(data), "note"),
        page.paragraphs([_counts(data, stats)]),
        Paragraphs(tuple(Para(line, "warning" if line.startswith("WARNING") else "note")
                         for line in _trust_lines(data, stats)))]
    for f in figures:
        blocks += [Heading(f.title), page.FigureBlock(f)]
    reference = _reference_lines(data)
    blocks += [page.paragraphs(reference, "note")] if reference else []
    blocks += _table3_section(data, table)
    front = front_rows(data, stats)
    if front:
        blocks += [Heading("Points on the Pareto front"), page.table(FRONT_HEADERS + list(data.swept), front, "front")]
    blocks += [Heading("Design points"), page.table([*data.swept, *POINT_HEADERS], _point_rows(stats, data.swept),
                                                    "points"),
               page.paragraphs([STAT_DESCRIPTION], "note")]
    spread = _sweep_spread(data)
    spread_rows = _spread_rows(spread)
    if spread_rows:
        blocks += [Heading("Seed noise against differences between points"),
                   page.table(SPREAD_HEADERS, spread_rows, "spread"), page.paragraphs(_spread_lines(spread))]
    failed = _failed_rows(data)
    blocks += [Heading("Failed trials"), page.table(FAILED_HEADERS, failed, "failed") if failed
               else page.paragraphs(["None."])]
    unfinished = _unfinished_rows(data)
    if unfinished:
        blocks += [Heading("Not trained or not finished"), page.table(UNFINISHED_HEADERS, unfinished, "unfinished")]
    trials = data.frame.drop(columns=["study"]).astype(object)
    trials = trials.where(trials.notna(), "—")
    blocks += [
        Only(page.MARKDOWN, page.paragraphs([(
            "Per-trial results: ", Link("results.csv", "results.csv"), "; per design point: ",
            Link("points.csv", "points.csv"), ".")])),
        RawHtml(f"<details><summary>All {len(trials)} trials (as in results.csv)</summary>"
                + trials.to_html(index=False, classes="trials", border=0) + "</details>"),
        Only(page.HTML, page.paragraphs([(
            "Files: ", Link("results.csv", "results.csv"), " (one row per trial), ", Link("points.csv", "points.csv"),
            " (one row per design point), ", Link("summary.md", "summary.md"), ".")], "note"))]
    return blocks


def summary_markdown(data: StudyData, stats: pd.DataFrame, figures: Sequence[Figured],
                     table: BypassTable | None = None) -> str:
    """summary.md (`study_sections` in Markdown)."""
    return page.markdown(study_sections(data, stats, figures, table))


def index_html(data: StudyData, stats: pd.DataFrame, figures: Sequence[Figured],
               table: BypassTable | None = None) -> str:
    """index.html (`study_sections` as a self-contained page)."""
    return page.html_page(f"dse report: {data.name}", study_sections(data, stats, figures, table))


def _table3_section(data: StudyData, table: BypassTable | None) -> list[page.Block]:
    headers, rows, notes = _bypass_table_rows(data, table)
    if not rows:
        return []
    return [Heading(BYPASS_TITLE), page.table(headers, rows, "table3"), *(page.paragraphs([n], "note") for n in notes)]


def _bypass_of(data: StudyData, stats: pd.DataFrame) -> BypassTable | None:
    """The study's Table 3 data, None where it has none (not a bypass sweep, or no points)."""
    return bypass_table(data, stats) if is_bypass_sweep(data) and len(stats) else None
