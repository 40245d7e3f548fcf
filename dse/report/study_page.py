"""What one study's page says, in order, as one list of blocks (`dse.report.page`) that becomes both summary.md
and index.html: what the study is and how far it got, what a reader must know before trusting a number, the
figures, the tables of design points, of failures and of unfinished work.

Failed trials are listed with their reasons and unfinished points with their status, so a partial or running
study reads as partial rather than as a finished one with holes.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from dse.fmt import number
from dse.report import page
from dse.report.curves import curves_figure
from dse.report.frame import StudyData
from dse.report.grid import grid_figure
from dse.report.importance import importance_figure
from dse.report.latency import latency_figure, study_latency_warning
from dse.report.page import Figured, Heading, Link, Only, Para, Paragraphs, RawHtml, num
from dse.report.pareto import front_section, pareto_figure
from dse.report.points import point_stats, stat_text
from dse.report.size import reference_section, size_figure
from dse.report.spread import spread_section
from dse.report.steps import steps_section
from dse.report.table3 import BypassTable, bypass_of, table3_figure, table3_section
from dse.report.trust import split_sentence, study_warnings, training_budget
from dse.space import format_value
from dse.stats import STAT_DESCRIPTION, STAT_HEADER


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
    return text + "." + _span_words(f)


def _span_words(frame: pd.DataFrame) -> str:
    """When the trials ran: the first start to the last end, as the study recorded them (the machine's clock)."""
    starts = pd.to_datetime(frame["started"].dropna())
    ends = pd.to_datetime(frame["completed"].dropna())
    if not len(starts) or not len(ends):
        return ""
    first, last = starts.min(), ends.max()
    minutes = (last - first).total_seconds() / 60
    until = last.strftime("%H:%M") if last.date() == first.date() else last.strftime("%Y-%m-%d %H:%M")
    still = "; trials are still running" if (frame["state"] == "RUNNING").any() else ""
    done = frame[frame["state"] == "COMPLETE"].dropna(subset=["started", "completed"])
    spent = (pd.to_datetime(done["completed"]) - pd.to_datetime(done["started"])).dt.total_seconds().sum() / 60
    # the span counts any pause between runs of the command; the sum counts only training, side-by-side trials each
    summed = (f" The {len(done)} complete trials took {number(spent, 0)} minutes summed, each from its start to its "
              "end (trials that ran side by side each count)." if len(done) else "")
    return (f" Trained from {first.strftime('%Y-%m-%d %H:%M')} to {until}: {number(minutes, 0)} minutes from the "
            f"first trial's start to the last finished one's end{still}.{summed}")


def _trust_lines(data: StudyData, stats: pd.DataFrame, shown: Sequence[tuple[str, str]],
                 table: BypassTable | None) -> list[str]:
    """What a reader must know before trusting a number: warnings, which split chose and where each is shown."""
    lines = [f"WARNING: {w}" for w in [*study_warnings(data, stats), study_latency_warning(data)] if w]
    chose = ["the best variant of Table 3 (marked *)"] if table is not None and table.variants["chosen"].any() else []
    lines.append(split_sentence(data, stats, shown, chose))
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
        params = number(r["n_params"], 0, thousands=True)
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


def study_sections(data: StudyData, stats: pd.DataFrame, figures: Sequence[Figured],
                   table: BypassTable | None = None) -> list[page.Block]:
    """The study's page, top to bottom. `table`: the study's `bypass_table`, made here when not given."""
    table = bypass_of(data, stats) if table is None else table
    blocks: list[page.Block] = []
    for f in figures:
        blocks += [Heading(f.title), page.FigureBlock(f), *f.after]
    blocks += reference_section(data) + table3_section(data, table) + front_section(data, stats)
    blocks += [Heading("Design points"), page.table([*data.swept, *POINT_HEADERS], _point_rows(stats, data.swept),
                                                    "points", (("test", "the design points table"),)),
               page.paragraphs([STAT_DESCRIPTION], "note")]
    blocks += spread_section(data) + steps_section(data, stats)
    trust = Paragraphs(tuple(Para(line, "warning" if line.startswith("WARNING") else "note")
                             for line in _trust_lines(data, stats, page.shown(blocks), table)))
    blocks = [Heading(f"{data.name}: dse {data.kind} report", level=1), page.paragraphs(_about(data), "note"),
              page.paragraphs([_counts(data, stats)]), trust, *blocks]
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


def study_figures(data: StudyData, stats: pd.DataFrame | None = None, size: str = "fp32",
                  table: BypassTable | None = None) -> list[Figured]:
    """The figures that apply to this study, in page order: Figure 3's layout for sweeps (Table 3's for a bypass
    sweep), the front for searches, latency where measured, learning curves when epochs were recorded, a heat map
    for grids, importance when enough trials vary. `table`: the study's `bypass_table`, made here when not
    given."""
    stats = point_stats(data) if stats is None else stats
    table = bypass_of(data, stats) if table is None else table
    made = [size_figure(data, stats, size), table3_figure(table), pareto_figure(data, stats),
            latency_figure(data, stats), curves_figure(data), grid_figure(data, stats), importance_figure(data)]
    return [f for f in made if f is not None]
