"""Reports on dse studies, one module per figure, as `optuna.visualization` keeps them (`_edf.py` and
`matplotlib/_edf.py`): each figure's module holds a pure function for its data (a small frozen dataclass that
tests check without pixels), a function that only draws that data, and its words on the page.

    frame        a study, read once without changing it, as tidy tables (one row per trial)
    points       one row per design point, its seeds pooled: what every figure starts from
    trust        the training budget, warnings, and which split chose and which measured
    paper        the paper's published values, shipped with the package
    size         accuracy vs model size (the paper's Figure 3)
    table3       accuracy per bypass variant (the paper's Table 3)
    curves       learning curves, validation beside test
    pareto       the accuracy-size front of a search
    latency      accuracy vs measured CPU latency, the three-way front
    grid         heat maps over two swept parameters
    importance   parameter importance (optuna.importance)
    spread       seed noise against the differences between points
    edf          error EDFs comparing design spaces, and the comparison page
    style, labels  the shared look; label placement
    page         one list of blocks, rendered to summary.md and to index.html
    study_page   a study's page: its figures and sections in order
    write        the files: figures, CSVs, summary.md, index.html
    dashboard    optuna-dashboard on a study

The names below are the public face; they are imported on first use, so `import dse.report` stays light (matplotlib
and pandas load when a figure or a table is asked for).
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "frame": ("StudyData", "load_studies", "study_data"),
    "points": ("point_stats",),
    "trust": ("Budget", "Selection", "selection", "training_budget"),
    "size": ("SizeAccuracy", "accuracy_vs_size", "accuracy_vs_size_at", "draw_accuracy_vs_size"),
    "table3": ("BypassTable", "bypass_table", "draw_bypass_table"),
    "curves": ("Curves", "learning_curves", "draw_learning_curves"),
    "pareto": ("Pareto", "pareto_front", "draw_pareto"),
    "latency": ("LatencyAccuracy", "accuracy_vs_latency", "draw_accuracy_vs_latency"),
    "grid": ("GridPanel", "grid_panels", "draw_grid"),
    "importance": ("Importance", "param_importance", "draw_importance"),
    "edf": ("ErrorEdf", "error_edf", "draw_edf"),
    "write": ("write_comparison", "write_report"),
    "dashboard": ("serve",),
}
_WHERE = {name: module for module, names in _PUBLIC.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
