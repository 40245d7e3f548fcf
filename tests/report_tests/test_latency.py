"""Quantized sizes and measured latency in the report: results.csv columns, the --size axis, accuracy vs latency
and the front over (accuracy, fp32 MB, latency)."""

from __future__ import annotations

import pytest

from dse.plan import cost
from dse.report.latency import accuracy_vs_latency, draw_accuracy_vs_latency

from .studies import BASE, TIMED_ROWS, timed_study


def test_results_have_quantized_size_and_latency_columns():
    data = timed_study(TIMED_ROWS)
    f = data.frame
    for col in ("size_mb_int8", "size_mb_int4", "latency_ms", "latency_batch_ms", "latency_threads", "latency_cpu"):
        assert col in f.columns
    row = f.iloc[0]
    c = cost(BASE.replace(sr=0.25))
    assert row["size_mb_int8"] == pytest.approx(c.size_mb_int8) and row["size_mb_int4"] == pytest.approx(
        c.size_mb_int4)
    assert row["latency_ms"] == 6.0 and row["latency_cpu"] == "Test CPU"


def test_accuracy_vs_latency_takes_the_median_and_a_three_way_front():
    data = timed_study(TIMED_ROWS)
    timed = accuracy_vs_latency(data)
    assert timed is not None and timed.selection.split == "validation"
    pts = timed.points.set_index("short")
    assert pts.loc["0.25", "latency_ms"] == 7.0 and pts.loc["0.5", "latency_ms"] == 3.0
    assert pts.loc["0.25", "val_top1_mean"] == 81.0
    assert pts["on_front"].to_dict() == {"0.25": True, "0.5": True, "0.75": False}
    assert timed.front["short"].tolist() == ["0.5", "0.25"]  # fastest first
    assert timed.cpu == "Test CPU" and timed.threads == "4"
    assert draw_accuracy_vs_latency(timed, "t").axes  # draws from that data


def test_no_latency_no_figure():
    assert accuracy_vs_latency(timed_study(TIMED_ROWS, latency=False)) is None


def test_the_report_writes_the_latency_figure_and_columns(tmp_path):
    import pandas as pd

    from dse.report.write import write_report

    written = {p.name for p in write_report(timed_study(TIMED_ROWS), tmp_path, "int4")}
    assert {"accuracy_vs_latency.png", "accuracy_vs_size.png", "results.csv"} <= written
    csv = pd.read_csv(tmp_path / "results.csv")
    assert {"size_mb_int8", "size_mb_int4", "latency_ms"} <= set(csv.columns)
    assert (csv["latency_ms"] > 0).all()
