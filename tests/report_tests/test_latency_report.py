"""Quantized sizes and measured latency in the report: results.csv columns, the --size axis, accuracy vs latency
and the front over (accuracy, fp32 MB, latency)."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from dse.plan import cost
from dse.report import draw
from dse.report.figures import accuracy_vs_latency, accuracy_vs_size_at, point_stats
from dse.report.frame import study_data
from dse.stats import pareto_mask
from dse.study import layout

from .studies import BASE

DISTS = {"sr": FloatDistribution(0.01, 1.0), "seed": IntDistribution(0, 99)}


def _study(rows, *, latency=True):
    """rows: (sr, seed, val_top1, test top1, latency ms)."""
    study = optuna.create_study(direction="maximize")
    study.set_user_attr(layout.DEFINITION_ATTR, {"kind": "sweep", "params": ["sr"], "dataset": "synthetic",
                                                 "point": BASE.to_dict(), "seeds": 2})
    for sr, seed, val, top1, ms in rows:
        point = BASE.replace(sr=sr)
        c = cost(point)
        attrs = {**{name: getattr(c, name) for name in layout.COST_ATTRS}, "point": point.to_dict(),
                 "top1": top1, "val_top1": val, "epochs": 1}
        if latency:
            attrs.update({"latency_ms": ms, "latency_batch_ms": 10 * ms, "latency_batch_size": 32,
                          "latency_threads": 4, "latency_cpu": "Test CPU"})
        study.add_trial(create_trial(state=TrialState.COMPLETE, values=[val], params={"sr": sr, "seed": seed},
                                     distributions=DISTS, user_attrs=attrs))
    return study_data(study)


ROWS = [  # sr 0.25: most accurate, smallest, slowest; 0.5: fast; 0.75: slower, bigger and worse than 0.5
    (0.25, 0, 80.0, 79.0, 6.0), (0.25, 1, 82.0, 81.0, 8.0),
    (0.5, 0, 70.0, 69.0, 2.0), (0.5, 1, 70.0, 69.0, 4.0),
    (0.75, 0, 60.0, 65.0, 5.0), (0.75, 1, 62.0, 66.0, 5.0),
]


def test_results_have_quantized_size_and_latency_columns():
    data = _study(ROWS)
    f = data.frame
    for col in ("size_mb_int8", "size_mb_int4", "latency_ms", "latency_batch_ms", "latency_threads", "latency_cpu"):
        assert col in f.columns
    row = f.iloc[0]
    c = cost(BASE.replace(sr=0.25))
    assert row["size_mb_int8"] == pytest.approx(c.size_mb_int8) and row["size_mb_int4"] == pytest.approx(
        c.size_mb_int4)
    assert row["latency_ms"] == 6.0 and row["latency_cpu"] == "Test CPU"


def test_accuracy_vs_latency_takes_the_median_and_a_three_way_front():
    data = _study(ROWS)
    timed = accuracy_vs_latency(data)
    assert timed is not None and timed.selection.split == "validation"
    pts = timed.points.set_index("short")
    assert pts.loc["0.25", "latency_ms"] == 7.0 and pts.loc["0.5", "latency_ms"] == 3.0
    assert pts.loc["0.25", "val_top1_mean"] == 81.0
    assert pts["on_front"].to_dict() == {"0.25": True, "0.5": True, "0.75": False}
    assert timed.front["short"].tolist() == ["0.5", "0.25"]  # fastest first
    assert timed.cpu == "Test CPU" and timed.threads == "4"
    assert draw.draw_accuracy_vs_latency(timed, "t").axes  # draws from that data


def test_no_latency_no_figure():
    assert accuracy_vs_latency(_study(ROWS, latency=False)) is None


def test_front_mask_over_three_objectives():
    # (acc max, size min, latency min): the last is beaten on all three by the first
    assert pareto_mask([80, 70, 75], [1.0, 2.0, 1.5], [5.0, 1.0, 6.0]) == [True, True, False]
    assert pareto_mask([], [], []) == []


def test_the_size_axis_at_8_and_4_bits():
    data = _study(ROWS)
    stats = point_stats(data)
    fp32 = accuracy_vs_size_at(data, "fp32", stats)
    for size, attr in (("int8", "size_mb_int8"), ("int4", "size_mb_int4")):
        at = accuracy_vs_size_at(data, size, stats)
        for (_, r), (_, r32) in zip(at.points.iterrows(), fp32.points.iterrows(), strict=True):
            assert r["size_mb"] == pytest.approx(getattr(cost(BASE.replace(sr=r32["sr"])), attr))
        assert at.seeds["size_mb"].tolist() == pytest.approx((fp32.seeds["size_mb"] * int(size[3:]) / 32).tolist())
        assert f"{size[3:]} bits" in at.size_label and not math.isnan(at.points["size_mb"].iloc[0])
    assert fp32.size_label == ""


def test_the_report_writes_the_latency_figure_and_columns(tmp_path):
    import pandas as pd

    from dse.report.write import write_report

    written = {p.name for p in write_report(_study(ROWS), tmp_path, "int4")}
    assert {"accuracy_vs_latency.png", "accuracy_vs_size.png", "results.csv"} <= written
    csv = pd.read_csv(tmp_path / "results.csv")
    assert {"size_mb_int8", "size_mb_int4", "latency_ms"} <= set(csv.columns)
    assert (csv["latency_ms"] > 0).all()
