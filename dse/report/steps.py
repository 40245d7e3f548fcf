"""Which neighbouring points of a sweep the seeds tell apart, and where its curve stops rising as far as that
supports: Welch's t-test (`dse.stats.welch`) on the seeds of each pair of neighbouring points, two-sided, at the
5% level, each step on its own. The seed-spread comparison (`spread`) speaks of the sweep as a whole, where one
end point far from the rest can carry it; these sentences speak of each step, so a flat middle is said to be
flat.

Data (`sweep_steps`), words (`Steps.sentences`, `steps_section`); the accuracy-vs-size and Table 3 captions carry
the sentences too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from dse.fmt import number
from dse.report import page
from dse.report.frame import StudyData
from dse.report.page import Heading, num
from dse.report.points import COMPLETE, point_stats, sort_key
from dse.space import Bypass, format_value
from dse.stats import welch

LEVEL = 0.05
METHOD = ("Welch's t-test on the seeds of each pair of neighbouring points (two-sided, 5% level, each step on its "
          "own, no correction for testing several)")
PARAM_WORDS = {"sr": "SR"}  # how the paper names a swept param in a sentence; others by their own name

METHOD_SHORT = "Welch's t-test at the 5% level"

UP, DOWN, FLAT, UNTESTED = "rises", "falls", "not told apart", "too few seeds"


@dataclass(frozen=True)
class Steps:
    """Per line of a sweep (one per combination of the swept params after the first), each step between
    neighbouring values of the first swept param: the difference of the means, Welch's t-test, its verdict."""

    metric: str  # "top1"
    param: str  # the swept param along which the steps run
    steps: pd.DataFrame  # line, from, to, n_from, n_to, mean_from, mean_to, diff, t, df, p, verdict
    spans: pd.DataFrame  # a run of 2+ steps not told apart: line, from, to, diff, p, apart (its ends tested too)
    sentences: tuple[str, ...] = field(default=())  # one per line, quotable

    @property
    def told_apart(self) -> pd.DataFrame:
        return self.steps[self.steps["verdict"].isin([UP, DOWN])]


STEP_COLUMNS = ["line", "from", "to", "n_from", "n_to", "mean_from", "mean_to", "diff", "t", "df", "p", "verdict"]
SPAN_COLUMNS = ["line", "from", "to", "diff", "p", "apart"]


def sweep_steps(data: StudyData, stats: pd.DataFrame | None = None, metric: str = "top1",
                along: str | None = None) -> Steps | None:
    """The steps of a sweep with two or more points that have results, along `along` (the first swept param by
    default; numbers in their order, variants in the sweep's), one line per value of the others; None for a
    search or a lone point."""
    if data.kind != "sweep" or not data.swept:
        return None
    stats = point_stats(data) if stats is None else stats
    param = along if along in data.swept else data.swept[0]
    rest = [n for n in data.swept if n != param]
    f = data.frame
    done = f[(f["state"] == COMPLETE) & f[metric].notna()]
    seeds = {label: rows[metric].tolist() for label, rows in done.groupby("label", sort=False)}
    points = stats[stats["n"] > 0]
    step_rows, span_rows, sentences = [], [], []
    lines = points.groupby(rest, sort=False, dropna=False) if rest else [((), points)]
    for key, rows in lines:
        key = key if isinstance(key, tuple) else (key,)
        line = ", ".join(f"{n}={format_value(n, v)}" for n, v in zip(rest, key, strict=True))
        rows = rows.sort_values(param, key=lambda s: s.map(_order), kind="stable")
        if len(rows) < 2:
            continue
        values = [format_value(param, v) for v in rows[param]]
        samples = [seeds.get(label, []) for label in rows["label"]]
        mine = []
        for i in range(len(rows) - 1):
            a, b = samples[i], samples[i + 1]
            test = welch(b, a)
            verdict = (UNTESTED if len(a) < 2 or len(b) < 2 else
                       (UP if test.diff > 0 else DOWN) if test.differs(LEVEL) else FLAT)
            mine.append({"line": line, "from": values[i], "to": values[i + 1], "n_from": len(a), "n_to": len(b),
                         "mean_from": _mean(a), "mean_to": _mean(b), "diff": test.diff, "t": test.t, "df": test.df,
                         "p": test.p, "verdict": verdict})
        spans = []
        for start, end in _runs([r["verdict"] for r in mine], FLAT):
            if end - start >= 2:  # the run's ends too: small steps may add up to a difference
                test = welch(samples[end], samples[start])
                spans.append({"line": line, "from": values[start], "to": values[end], "diff": test.diff,
                              "p": test.p, "apart": test.differs(LEVEL)})
        step_rows += mine
        span_rows += spans
        sentences.append(_sentence(metric, param, line, values, mine, spans))
    if not step_rows:
        return None
    return Steps(metric, param, pd.DataFrame(step_rows, columns=STEP_COLUMNS),
                 pd.DataFrame(span_rows, columns=SPAN_COLUMNS), tuple(sentences))


_VARIANTS = [b.value for b in Bypass]


def _order(value) -> tuple:
    """Numbers in their order, bypass variants in the paper's (none, simple, complex, as Table 3 draws them)."""
    return (0, _VARIANTS.index(value), "") if value in _VARIANTS else sort_key(value)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _runs(verdicts: list[str], kind: str) -> list[tuple[int, int]]:
    """(first point, last point) of each maximal run of steps with this verdict: steps i..j-1 join points i..j."""
    out, start = [], None
    for i, v in enumerate([*verdicts, None]):
        if v == kind and start is None:
            start = i
        elif v != kind and start is not None:
            out.append((start, i))
            start = None
    return out


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {number(p, 2, significant=True)}"


def _sentence(metric: str, param: str, line: str, values: list[str], steps: list[dict], spans: list[dict]) -> str:
    """One line's verdict: its runs of rising, falling and untold steps in order, and where it stops rising."""
    what = metric.replace("top", "test top-")
    name = PARAM_WORDS.get(param, param)
    if param == "bypass":  # variants: no direction along an axis, so higher or lower, or not told apart
        head = f"{what[0].upper()}{what[1:]} per bypass variant" + (f" ({line})" if line else "")
        return (f"{head}, neighbouring variants compared by {METHOD_SHORT}: "
                + "; ".join(_categorical(s) for s in steps) + ".")
    head = f"{what[0].upper()}{what[1:]}" + (f" ({line})" if line else "")
    runs: list[tuple[str, int, int]] = []  # (verdict, first point, last point)
    for i, s in enumerate(steps):
        if runs and runs[-1][0] == s["verdict"]:
            runs[-1] = (s["verdict"], runs[-1][1], i + 1)
        else:
            runs.append((s["verdict"], i, i + 1))
    span_at = {(s["from"], s["to"]): s for s in spans}
    parts, seen = [], set()
    for k, (verdict, a, b) in enumerate(runs):
        first = f"{name} {values[a]}" if k == 0 else values[a]
        to_end = b == len(values) - 1
        if verdict in (UP, DOWN):
            ps = ", ".join(_p(s["p"]) for s in steps[a:b])
            parts.append(f"{verdict}{' again' if verdict in seen else ''} from {first} to {values[b]} ({ps})")
            seen.add(verdict)
        elif verdict == FLAT:
            if a == 0 and to_end:
                text = f"no step from {first} to {values[b]} is told apart from seed noise"
            elif b - a == 1:
                text = f"the step from {first} to {values[b]} is not told apart from seed noise ({_p(steps[a]['p'])})"
            else:
                text = (f"from {first} on, " if to_end else f"from {first} to {values[b]} ") + \
                    "no step is told apart from seed noise"
            span = span_at.get((values[a], values[b]))
            if span is not None:
                text += (f", though {values[a]} and {values[b]} are ({_p(span['p'])})" if span["apart"] else
                         f", nor {values[a]} from {values[b]} ({_p(span['p'])})")
            parts.append(text)
        else:
            parts.append(f"from {first} to {values[b]} too few seeds to test (fewer than 2 a point)")
    tail = ", still rising at the sweep's end" if runs[-1][0] == UP else ""
    return f"{head}, neighbouring points compared by {METHOD_SHORT}: " + "; ".join(parts) + tail + "."


def _categorical(step: dict) -> str:
    """A step between two variants: higher or lower, or not told apart."""
    if step["verdict"] == UNTESTED:
        return f"{step['to']} against {step['from']}: too few seeds to test"
    if step["verdict"] == FLAT:
        return f"{step['to']} is not told apart from {step['from']} ({_p(step['p'])})"
    word = "higher" if step["diff"] > 0 else "lower"
    return f"{step['to']} is {word} than {step['from']} by {number(abs(step['diff']))} points ({_p(step['p'])})"


STEP_HEADERS = ["from", "to", "seeds", "test top-1 % (from → to)", "difference (points)", "Welch's t", "df", "p",
                "at the 5% level"]


def _step_rows(steps: Steps) -> list[list[str]]:
    lined = steps.steps["line"].ne("").any()
    return [[*([r["line"]] if lined else []), r["from"], r["to"], f"{r['n_from']}, {r['n_to']}",
             f"{num(r['mean_from'])} → {num(r['mean_to'])}", number(r["diff"], 1, sign=True), num(r["t"], 2),
             num(r["df"], 1), number(r["p"], 2, significant=True), VERDICT_WORDS[r["verdict"]]]
            for r in steps.steps.to_dict("records")]


VERDICT_WORDS = {UP: "told apart: higher", DOWN: "told apart: lower", FLAT: "not told apart",
                 UNTESTED: "not tested (fewer than 2 seeds)"}


def steps_section(data: StudyData, stats: pd.DataFrame) -> list[page.Block]:
    """The steps as a table, the sentences, and the method, on a sweep's page."""
    steps = sweep_steps(data, stats)
    if steps is None:
        return []
    lined = steps.steps["line"].ne("").any()
    headers = (["line"] if lined else []) + STEP_HEADERS
    return [Heading("Which neighbouring points the seeds tell apart"),
            page.table(headers, _step_rows(steps), "steps", (("test", "the steps table"),)),
            page.paragraphs(list(steps.sentences)),
            page.paragraphs([f"Method: {METHOD}. A step not told apart may still be a real difference too small "
                             "for this many seeds to show."], "note")]
