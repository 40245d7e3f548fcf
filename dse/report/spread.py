"""Seed noise against the differences between design points: the pooled sd between seeds of one point beside the
sd of the point means (`dse.stats.seed_spread`), as a table and a sentence on a sweep's page and in the importance
figure's caption.
"""

from __future__ import annotations

from dse.report import page
from dse.report.frame import StudyData
from dse.report.page import Heading, num
from dse.report.points import COMPLETE
from dse.stats import SeedSpread, seed_spread


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


def spread_text(data: StudyData) -> str:
    """The sentence alone, for the importance figure's caption (a search's too)."""
    spread = point_spread(data)
    return spread.sentence("test top-1") if spread is not None else ""


def spread_section(data: StudyData) -> list[page.Block]:
    """The table and the sentence, on a sweep's page where several points have several seeds."""
    spread = _sweep_spread(data)
    rows = _spread_rows(spread)
    if not rows:
        return []
    return [Heading("Seed noise against differences between points"), page.table(SPREAD_HEADERS, rows, "spread"),
            page.paragraphs(_spread_lines(spread))]
