"""Report files: figures (PNG + SVG), results.csv (one tidy row per trial), points.csv, summary.md and a
self-contained index.html (figures embedded), for one study or a comparison of several.

Failed trials are listed with their reasons and unfinished points with their status, so a partial or running
study reads as partial rather than as a finished one with holes.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from dse.report import draw
from dse.report.figures import (
    UNCONFIRMED,
    BypassTable,
    accuracy_vs_latency,
    accuracy_vs_size_at,
    bypass_table,
    error_edf,
    grid_panels,
    is_bypass_sweep,
    learning_curves,
    paper_reference,
    param_importance,
    pareto_front,
    point_spread,
    point_stats,
    selection,
    study_warnings,
    training_budget,
)
from dse.report.frame import StudyData, format_value
from dse.report.style import DPI
from dse.stats import STAT_DESCRIPTION, STAT_HEADER, SeedSpread, format_stat, interval_name

FIGURE_NAMES = ("accuracy_vs_size", "bypass_table3", "pareto", "accuracy_vs_latency", "learning_curves", "grid",
                "importance", "error_edf")


@dataclass
class Figured:
    """A drawn figure and the words that go with it in the HTML and Markdown."""

    name: str
    title: str
    about: str
    figure: Figure
    png: bytes | None = field(default=None, repr=False)  # rendered once, written and embedded

    def png_bytes(self) -> bytes:
        if self.png is None:
            buf = io.BytesIO()
            self.figure.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
            self.png = buf.getvalue()
        return self.png


def study_figures(data: StudyData, stats: pd.DataFrame | None = None, size: str = "fp32",
                  table: BypassTable | None = None) -> list[Figured]:
    """The figures that apply to this study: Figure 3's layout for sweeps, the front for searches, learning
    curves when epochs were recorded, a heat map for grids, importance when enough trials vary. `table`: the
    study's `bypass_table`, made here when not given."""
    stats = point_stats(data) if stats is None else stats
    out: list[Figured] = []
    budget = training_budget(data)
    if data.kind == "sweep" and len(stats):
        sa = accuracy_vs_size_at(data, size, stats)  # --size: the x axis at fp32, 8 or 4 bits per weight
        about = ("Accuracy against model size per design point, the layout of the paper's Figure 3"
                 + (f"; the paper's {sa.reference.figure} is shown on its own axis (ImageNet top-5)."
                    if sa.reference else "."))
        out.append(Figured("accuracy_vs_size", "Accuracy vs model size", about, draw.draw_accuracy_vs_size(sa)))
    table = _bypass_of(data, stats) if table is None else table
    if table is not None:
        out.append(_bypass_figure(table))
    if data.kind == "search" or len(data.directions) > 1:
        pareto = pareto_front(data, stats)
        if len(pareto.points):
            limit = data.spec.get("max_size_mb")
            out.append(Figured("pareto", "Pareto front", "Top-1 accuracy against size; the non-dominated design "
                               "points are numbered and listed, the dominated ones faint.",
                               draw.draw_pareto(pareto, f"{data.name}: Pareto front", data.swept,
                                                float(limit) if isinstance(limit, (int, float)) else None,
                                                int(data.frame["skip_reason"].notna().sum()))))
    timed = accuracy_vs_latency(data, stats)
    if timed is not None and len(timed.points):
        out.append(Figured("accuracy_vs_latency", "Accuracy vs latency", "Accuracy against CPU latency measured "
                           "after training; the front over accuracy, size and latency is drawn and labelled.",
                           draw.draw_accuracy_vs_latency(timed, f"{data.name}: accuracy vs latency")))
    curves = learning_curves(data)
    if len(curves.lines):
        out.append(Figured("learning_curves", "Learning curves", _curves_about(curves.splits),
                           draw.draw_learning_curves(curves, f"{data.name}: learning curves")))
    panels = grid_panels(data, stats)
    if panels:
        out.append(Figured("grid", "Grid", "Mean top-1 over the grid of the first two swept parameters.",
                           draw.draw_grid(panels, f"{data.name}: top-1 over the grid", budget.text)))
    importance = param_importance(data)
    if importance is not None:
        out.append(Figured("importance", "Parameter importance",
                           f"How much each parameter matters for top-1 ({importance.evaluator}).",
                           draw.draw_importance(importance, f"{data.name}: parameter importance", budget.text,
                                                _spread_text(data))))
    return out


def _curves_about(splits: list[str]) -> str:
    if splits == ["validation", "test"]:
        return ("Top-1 after each epoch, per design point: validation (which chose: pruning, best) beside test "
                "(measured only).")
    if splits == ["validation"]:
        return "Validation top-1 after each epoch, per design point (what pruning and every choice read)."
    return "Test top-1 after each epoch, per design point (this study has no validation split)."


def _bypass_of(data: StudyData, stats: pd.DataFrame) -> BypassTable | None:
    """The study's Table 3 data, None where it has none (not a bypass sweep, or no points)."""
    return bypass_table(data, stats) if is_bypass_sweep(data) and len(stats) else None


def _bypass_figure(table: BypassTable) -> Figured:
    about = ("Accuracy per bypass variant, the paper's Table 3: each seed's test result, the mean and its interval, "
             "and the paper's ImageNet values beside them where the confirmed reference has them.")
    return Figured("bypass_table3", "Bypass variants (the paper's Table 3)", about, draw.draw_bypass_table(table))


def _spread_text(data: StudyData) -> str:
    spread = point_spread(data)
    return spread.sentence("test top-1") if spread is not None else ""


def write_report(data: StudyData, out: Path | str, size: str = "fp32") -> list[Path]:
    """Write every file of one study's report into `out` (created); returns the paths written. `size`: the
    accuracy-vs-size axis (fp32, int8, int4)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stats = point_stats(data)
    table = _bypass_of(data, stats)  # made once: the figure, summary.md and index.html all show it
    figures = study_figures(data, stats, size, table)
    written = _save_figures(figures, out)
    written.append(_write_text(out / "results.csv", data.frame.to_csv(index=False)))
    written.append(_write_text(out / "points.csv", _points_csv(stats, data).to_csv(index=False)))
    written.append(_write_text(out / "summary.md", summary_markdown(data, stats, figures, table)))
    written.append(_write_text(out / "index.html", index_html(data, stats, figures, table)))
    return written


def write_comparison(datas: Sequence[StudyData], out: Path | str, links: dict[str, str] | None = None) -> list[Path]:
    """Compare design spaces: error EDFs over the points of each study, and a table of each."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    edf = error_edf(datas)
    names = " vs ".join(d.name for d in datas)
    fig = Figured("error_edf", "Error EDFs", "Empirical distribution of top-1 error over each study's design "
                  "points (Radosavovic et al.).", draw.draw_edf(edf, f"Design spaces compared: {names}"))
    written = _save_figures([fig], out)
    written.append(_write_text(out / "edf.csv", edf.curves.to_csv(index=False)))
    links = links or {}
    headers = ["study", "points", "best: test error % (chosen on)", "median test error %", "mean test error %",
               "training"]
    rows = [[r.study, str(int(r.n)), f"{_num(r.best)} ({r.chosen_on})", _num(r.median), _num(r.mean),
             edf.budgets[r.study]] for r in edf.summary.itertuples()]
    md = [f"# Design spaces compared: {names}", "", "![Error EDFs](error_edf.png)", "",
          "Error EDF: for each design space, the share of its design points (seed means) with top-1 error at most "
          "x (Radosavovic et al., *On Network Design Spaces for Visual Recognition*). The best point is the one "
          "with the highest validation top-1, reported with its test error: the test split never chooses "
          "(a study without a validation split falls back to its lowest test error, marked 'test').", "",
          _md_table(headers, [[_link_md(r[0], links.get(r[0])), *r[1:]] for r in rows]), ""]
    written.append(_write_text(out / "summary.md", "\n".join(md)))
    table = _html_table(headers, [[_link_html(r[0], links.get(r[0])), *(html.escape(c) for c in r[1:])]
                                  for r in rows], escape=False)
    body = [f"<h1>Design spaces compared: {html.escape(names)}</h1>", _figure_html(fig), table]
    written.append(_write_text(out / "index.html", _page(f"dse: {names}", body)))
    return written


# ---------------------------------------------------------------------------------------------- figures


def _save_figures(figures: Sequence[Figured], out: Path) -> list[Path]:
    made = {f.name for f in figures}
    for name in FIGURE_NAMES:  # a figure that no longer applies must not linger from an earlier run
        if name not in made:
            for ext in ("png", "svg"):
                (out / f"{name}.{ext}").unlink(missing_ok=True)
    written = []
    with matplotlib.rc_context({"svg.hashsalt": "dse", "svg.fonttype": "path"}):
        for f in figures:
            png = out / f"{f.name}.png"
            png.write_bytes(f.png_bytes())
            svg = out / f"{f.name}.svg"
            f.figure.savefig(svg, dpi=DPI, metadata={"Date": None, "Creator": None})
            written += [png, svg]
    return written


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------- tables


def _num(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "—"
    return f"{float(value):.{digits}f}"


def _acc(row: pd.Series, metric: str) -> str:
    """`format_stat` of a point_stats row: the one way a mean and its interval are written."""
    return format_stat(float(row[f"{metric}_mean"]), float(row[f"{metric}_lo"]), float(row[f"{metric}_hi"]),
                       str(row[f"{metric}_interval"]), bool(row[f"{metric}_clipped"]))


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
        rows.append([*(format_value(n, r[n]) for n in swept), _num(r["size_mb"], 2), _num(r["imagenet_size_mb"], 2),
                     params, str(r["n"]), _acc(r, "top1"), _acc(r, "top5"), _num(r["train_seconds"], 0),
                     _status(r)])
    return rows


def _points_csv(stats: pd.DataFrame, data: StudyData) -> pd.DataFrame:
    """points.csv: the interval's kind written by its name, as the tables and figures name it."""
    out = stats.drop(columns=["short"]).assign(study=data.name)
    for metric in ("top1", "top5"):
        out[f"{metric}_interval"] = out[f"{metric}_interval"].map(interval_name)
    return out


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


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(headers: list[str], rows: list[list[str]], *, escape: bool = True, cls: str = "") -> str:
    def cell(text: str) -> str:
        return html.escape(str(text)) if escape else str(text)

    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _link_md(name: str, href: str | None) -> str:
    return f"[{name}]({href})" if href else name


def _link_html(name: str, href: str | None) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(name)}</a>' if href else html.escape(name)


def _about(data: StudyData) -> list[str]:
    what = " x ".join(data.swept) or "—"
    return [f"Source: {data.source or '—'}, study {data.name} ({data.kind} over {what}).",
            f"Training: {training_budget(data).text}."]


def _trust_lines(data: StudyData, stats: pd.DataFrame) -> list[str]:
    """What a reader must know before trusting a number: warnings, which split chose and which measured."""
    lines = [f"WARNING: {w}" for w in study_warnings(data, stats)]
    lines.append(split_sentence(data, stats))
    return lines


def split_sentence(data: StudyData, stats: pd.DataFrame) -> str:
    """Which split chose what in this study, and which one every shown accuracy is measured on."""
    chosen = selection(stats)
    if chosen.split != "validation":
        return chosen.text
    f = data.frame

    def images(column: str) -> str:
        known = pd.to_numeric(f[column], errors="coerce").dropna() if column in f else pd.Series(dtype=float)
        return f"{int(known.max()):,} images" if len(known) else "size not recorded"

    if data.kind == "search":
        choices = "the search's sampler, the Pareto front and its numbering"
    else:
        prune = data.spec.get("prune")
        choices = (f"pruning (--prune {prune}) and " if prune and prune != "none" else "") + \
            "the best point in a comparison of studies (error EDF)"
    return (f"Which split chose and which measured: validation top-1 (a held-out part of the training data, "
            f"{images('val_images')}) chose {choices}; test top-1 ({images('test_images')}) is every accuracy "
            "shown in this report's figures and tables, and chose nothing.")


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
    return [["between seeds of one point", _num(spread.within_sd, 2),
             f"pooled sd over the {spread.n_pooled} points with 2+ seeds"],
            ["between design points", _num(spread.between_sd, 2), f"sd of the {spread.n_points} point means"]]


def _reference_lines(data: StudyData) -> list[str]:
    ref = paper_reference(data.swept, data.spec) if data.kind == "sweep" else None
    if ref is None:
        return []
    points = "; ".join(f"{ref.param}={lab}: {t:.1f}% at {s:g} MB" for lab, t, s in
                       zip(ref.points["label"], ref.points["top5"], ref.points["size_mb"], strict=True))
    return [f"Paper reference ({ref.figure}, ImageNet top-5 after full training, ImageNet sizes): {points}. "
            f"{ref.text[0].upper() + ref.text[1:]}."]


# ---------------------------------------------------------------------------------------------- markdown


def summary_markdown(data: StudyData, stats: pd.DataFrame, figures: Sequence[Figured],
                     table: BypassTable | None = None) -> str:
    """summary.md. `table`: the study's `bypass_table`, made here when not given."""
    table = _bypass_of(data, stats) if table is None else table
    lines = [f"# {data.name}: dse {data.kind} report", "", *_about(data), "", _counts(data, stats), ""]
    lines += [f"**{line}**" if line.startswith("WARNING") else line for line in _trust_lines(data, stats)] + [""]
    for f in figures:
        lines += [f"## {f.title}", "", f"![{f.title}]({f.name}.png)", "", f.about, ""]
    reference = _reference_lines(data)
    lines += reference + [""] if reference else []
    lines += _bypass_markdown(data, table)
    front = front_rows(data, stats)
    if front:
        lines += ["## Points on the Pareto front", "", _md_table(FRONT_HEADERS + list(data.swept), front), ""]
    lines += ["## Design points", "", _md_table([*data.swept, *POINT_HEADERS], _point_rows(stats, data.swept)), "",
              STAT_DESCRIPTION, ""]
    spread = _sweep_spread(data)
    spread_rows = _spread_rows(spread)
    if spread_rows:
        lines += ["## Seed noise against differences between points", "", _md_table(SPREAD_HEADERS, spread_rows),
                  "", *_spread_lines(spread), ""]
    failed = _failed_rows(data)
    lines += ["## Failed trials", "", _md_table(FAILED_HEADERS, failed) if failed else "None.", ""]
    unfinished = _unfinished_rows(data)
    if unfinished:
        lines += ["## Not trained or not finished", "", _md_table(UNFINISHED_HEADERS, unfinished), ""]
    lines += ["Per-trial results: [results.csv](results.csv); per design point: [points.csv](points.csv).", ""]
    return "\n".join(lines)


FRONT_HEADERS = ["#", "chosen on: top-1 %", "test top-1 %", "size (MB)", "trials"]


def front_rows(data: StudyData, stats: pd.DataFrame) -> list[list[str]]:
    """The non-dominated points of a search, smallest first, numbered as in the figure."""
    if not (data.kind == "search" or len(data.directions) > 1):
        return []
    pareto = pareto_front(data, stats)
    front, col = pareto.front, pareto.column
    return [[str(i), f"{_num(r[col])} ({pareto.selection.split})", _acc(r, "top1"), _num(r["size_mb"], 3),
             str(r["trials"]),
             *(format_value(n, r[n]) for n in data.swept)] for i, (_, r) in enumerate(front.iterrows(), start=1)]


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


# ---------------------------------------------------------------------------------------------- html

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;
padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9rem;color:#555}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}th{background:#f5f5f5}
td:first-child,th:first-child{text-align:left}.note{color:#555;font-size:.9rem}
.status-failed{color:#b00}.warning{color:#8a4b00;font-weight:600}details{margin:1rem 0}summary{cursor:pointer}
"""


def _page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _figure_html(f: Figured) -> str:
    return (f'<figure id="{f.name}"><img alt="{html.escape(f.title)}" '
            f'src="data:image/png;base64,{base64.b64encode(f.png_bytes()).decode("ascii")}">'
            f"<figcaption>{html.escape(f.about)} (<a href=\"{f.name}.svg\">SVG</a>)</figcaption></figure>")


def index_html(data: StudyData, stats: pd.DataFrame, figures: Sequence[Figured],
               table: BypassTable | None = None) -> str:
    """index.html. `table`: the study's `bypass_table`, made here when not given."""
    table = _bypass_of(data, stats) if table is None else table
    body = [f"<h1>{html.escape(data.name)}: dse {html.escape(data.kind)} report</h1>"]
    body += [f'<p class="note">{html.escape(line)}</p>' for line in _about(data)]
    body.append(f"<p>{html.escape(_counts(data, stats))}</p>")
    body += [f'<p class="{"warning" if line.startswith("WARNING") else "note"}">{html.escape(line)}</p>'
             for line in _trust_lines(data, stats)]
    for f in figures:
        body += [f"<h2>{html.escape(f.title)}</h2>", _figure_html(f)]
    body += [f'<p class="note">{html.escape(line)}</p>' for line in _reference_lines(data)]
    body += _bypass_html(data, table)
    front = front_rows(data, stats)
    if front:
        body += ["<h2>Points on the Pareto front</h2>", _html_table(FRONT_HEADERS + list(data.swept), front,
                                                                     cls="front")]
    body += ["<h2>Design points</h2>", _html_table([*data.swept, *POINT_HEADERS], _point_rows(stats, data.swept),
                                                   cls="points"),
             f'<p class="note">{html.escape(STAT_DESCRIPTION)}</p>']
    spread = _sweep_spread(data)
    spread_rows = _spread_rows(spread)
    if spread_rows:
        body += ["<h2>Seed noise against differences between points</h2>",
                 _html_table(SPREAD_HEADERS, spread_rows, cls="spread"),
                 *(f"<p>{html.escape(line)}</p>" for line in _spread_lines(spread))]
    failed = _failed_rows(data)
    body += ["<h2>Failed trials</h2>", _html_table(FAILED_HEADERS, failed, cls="failed") if failed
             else "<p>None.</p>"]
    unfinished = _unfinished_rows(data)
    if unfinished:
        body += ["<h2>Not trained or not finished</h2>", _html_table(UNFINISHED_HEADERS, unfinished,
                                                                     cls="unfinished")]
    trials = data.frame.drop(columns=["study"]).astype(object)
    trials = trials.where(trials.notna(), "—")
    body.append(f"<details><summary>All {len(trials)} trials (as in results.csv)</summary>"
                + trials.to_html(index=False, classes="trials", border=0) + "</details>")
    body.append('<p class="note">Files: <a href="results.csv">results.csv</a> (one row per trial), '
                '<a href="points.csv">points.csv</a> (one row per design point), '
                '<a href="summary.md">summary.md</a>.</p>')
    return _page(f"dse report: {data.name}", body)


# ---------------------------------------------------------------------------------------------- bypass (Table 3)


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
        cells = [_num(ref[k], 1) if confirmed else UNCONFIRMED for k in ("top1", "top5")]
        cells.append(f"{ref['size_mb']:g}" if confirmed else UNCONFIRMED)
        rows.append([r["variant"] + (" *" if r["chosen"] else ""), r["paper_name"],
                     *(format_value(n, r[n]) for n in others), f"{r['n']}", _acc(r, "top1"),
                     ", ".join(_num(v) for v in mine["top1"]) or "—", _acc(r, "top5"),
                     *([_num(r["val_top1_mean"])] if val else []), _num(r["size_mb"], 2),
                     _num(r["imagenet_size_mb"], 2), *cells])
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


def _bypass_markdown(data: StudyData, table: BypassTable | None) -> list[str]:
    headers, rows, notes = _bypass_table_rows(data, table)
    if not rows:
        return []
    return [f"## {BYPASS_TITLE}", "", _md_table(headers, rows), "",
            *(line for note in notes for line in (note, "")), ""]


def _bypass_html(data: StudyData, table: BypassTable | None) -> list[str]:
    headers, rows, notes = _bypass_table_rows(data, table)
    if not rows:
        return []
    return [f"<h2>{html.escape(BYPASS_TITLE)}</h2>", _html_table(headers, rows, cls="table3"),
            *(f'<p class="note">{html.escape(note)}</p>' for note in notes)]
