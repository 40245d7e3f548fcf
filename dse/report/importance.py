"""How much of top-1's variation each parameter explains (optuna.importance), seed included: a large seed share
means the differences between points are mostly noise.

Data (`param_importance`), drawing (`draw_importance`) and words (`importance_figure`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd
from matplotlib.figure import Figure
from optuna.trial import TrialState

from dse.report.frame import StudyData, value_key
from dse.report.page import Figured
from dse.report.spread import spread_text
from dse.report.style import OURS, new_figure, styled, titles
from dse.report.trust import training_budget


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


@styled
def draw_importance(importance: Importance, title: str, budget: str, spread_text: str = "") -> Figure:
    """Horizontal bars, most important on top."""
    values = importance.values.iloc[::-1]
    fig = new_figure(6.4, 1.6 + 0.38 * len(values))
    ax = fig.subplots()
    bars = ax.barh(values["param"], values["importance"], color=OURS)
    ax.bar_label(bars, labels=[f"{v:.2f}" for v in values["importance"]], padding=3, fontsize=7.5)
    ax.set_xlim(0, max(1.0, float(values["importance"].max()) * 1.15))
    ax.set_xlabel(f"importance for top-1 ({importance.evaluator}, normalised to sum to 1)")
    ax.grid(True, axis="x", alpha=0.25)
    caption = f"{importance.n_trials} completed trials, optuna.importance with {importance.evaluator}."
    if "seed" in set(values["param"]):
        caption += " A large share for seed means the differences between points are within seed noise."
    if spread_text:
        caption += " " + spread_text
    titles(fig, title, budget, caption)
    return fig


def importance_figure(data: StudyData) -> Figured | None:
    """Parameter importance, where enough trials vary in two or more parameters."""
    importance = param_importance(data)
    if importance is None:
        return None
    return Figured("importance", "Parameter importance",
                   f"How much each parameter matters for top-1 ({importance.evaluator}).",
                   draw_importance(importance, f"{data.name}: parameter importance",
                                        training_budget(data).text, spread_text(data)))
