"""Design spaces compared by error EDFs (Radosavovic et al., On Network Design Spaces for Visual Recognition): per
study, the share of its design points with top-1 error at most x; and the comparison page.

Data (`error_edf`), drawing (`draw_edf`) and words (`edf_figure`, `comparison_sections`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from dse.report import page
from dse.report.frame import StudyData
from dse.report.page import Em, FigureBlock, Figured, Heading, Link, num
from dse.report.points import point_stats
from dse.report.style import new_figure, styled, titles
from dse.report.trust import selection, training_budget


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


def _chosen_note(summary_row) -> str:
    """How an EDF's best was chosen, when not on validation."""
    return " lowest test" if summary_row.get("chosen_on", "validation") != "validation" else ""


@styled
def draw_edf(edf: ErrorEdf, title: str) -> Figure:
    """Cumulative share of design points under each error, one step line per study (Radosavovic et al.)."""
    fig = new_figure(7.2, 4.8)
    ax = fig.subplots()
    cmap = colormaps["tab10"]
    for i, (_, s) in enumerate(edf.summary.iterrows()):
        curve = edf.curves[edf.curves["study"] == s["study"]]
        if curve.empty:
            continue
        xs = np.concatenate([[curve["error"].iloc[0]], curve["error"].to_numpy()])
        ys = np.concatenate([[0.0], curve["fraction"].to_numpy()])
        ax.step(xs, ys, where="post", color=cmap(i % 10), lw=1.8,
                label=f"{s['study']} (n={int(s['n'])}, best {s['best']:.1f}%{_chosen_note(s)}, "
                      f"median {s['median']:.1f}%)")
    ax.set_xlabel("top-1 test error (%)")
    ax.set_ylabel("cumulative fraction of design points")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.25)
    ax.legend(loc="lower right", frameon=False)
    budgets = set(edf.budgets.values())
    budget = next(iter(budgets)) if len(budgets) == 1 else (
        "trained differently, so the spaces are not compared on equal terms — " + "; ".join(
            f"{k}: {v}" for k, v in (edf.short_budgets or edf.budgets).items()))
    caption = ("Error EDF (Radosavovic et al., On Network Design Spaces for Visual Recognition): for each design "
               "space, the share of its models (seed means) with error at most x. Higher and further left is a "
               "better space. 'best': the test error of the point with the highest validation top-1 (the "
               "test split never chooses); 'lowest test' where a study has no validation split.")
    if len(budgets) > 1 and any("proxy" in b for b in budgets):
        caption += " Brief-training proxies, not the paper's full ImageNet training."
    titles(fig, title, budget, caption)
    return fig


EDF_ABOUT = ("Error EDF: for each design space, the share of its design points (seed means) with top-1 error at "
             "most x (Radosavovic et al., ", Em("On Network Design Spaces for Visual Recognition"), "). The best point "
             "is the one with the highest validation top-1, reported with its test error: the test split never "
             "chooses (a study without a validation split falls back to its lowest test error, marked 'test').")


def edf_figure(edf: ErrorEdf, names: str) -> Figured:
    """The error EDFs of several studies, with the words the comparison page gives them."""
    return Figured("error_edf", "Error EDFs", EDF_ABOUT, draw_edf(edf, f"Design spaces compared: {names}"))


COMPARISON_HEADERS = ["study", "points", "best: test error % (chosen on)", "median test error %", "mean test error %",
                      "training"]


def comparison_sections(edf: ErrorEdf, fig: Figured, names: str, links: dict[str, str]) -> list[page.Block]:
    """The comparison page: the EDFs, then one row per study (its name linked to its own report)."""
    rows = [[Link(r.study, links.get(r.study)), str(int(r.n)), f"{num(r.best)} ({r.chosen_on})", num(r.median),
             num(r.mean), edf.budgets[r.study]] for r in edf.summary.itertuples()]
    return [Heading(f"Design spaces compared: {names}", level=1), FigureBlock(fig),
            page.table(COMPARISON_HEADERS, rows)]
