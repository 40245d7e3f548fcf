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


def test_each_latency_is_drawn_with_the_spread_of_its_runs():
    data = timed_study(TIMED_ROWS, spread=0.1)
    timed = accuracy_vs_latency(data)
    f = data.frame
    for label, rows in f.groupby("label"):
        row = timed.points.set_index("label").loc[label]
        assert row["latency_lo"] == pytest.approx(rows["latency_q1_ms"].min())
        assert row["latency_hi"] == pytest.approx(rows["latency_q3_ms"].max())
    assert timed.warning == ""  # runs within 10% of their median: a calm machine
    fig = draw_accuracy_vs_latency(timed, "t")
    (ax,) = [ax for ax in fig.axes if ax.get_title().startswith("accuracy (max) vs CPU latency")]
    bars = []
    for container in ax.containers:
        for collection in container.lines[2]:
            bars += [(float(y0), float(min(x0, x1)), float(max(x0, x1))) for (x0, y0), (x1, _) in
                     collection.get_segments()]
    col = timed.selection.column
    expected = zip(timed.points[col], timed.points["latency_lo"], timed.points["latency_hi"], strict=True)
    assert sorted(bars) == [pytest.approx(e) for e in sorted(expected)]
    assert "WARNING" not in fig._supxlabel.get_text()


def test_a_busy_machine_is_said_on_the_figure_and_the_page(tmp_path):
    from dse.report.write import write_report
    from dse.stats import BUSY_SPREAD

    busy = timed_study(TIMED_ROWS, spread=2 * BUSY_SPREAD)
    timed = accuracy_vs_latency(busy)
    assert timed.warning.startswith("The machine was busy while the latencies were measured: in 6 of 6 ")
    assert "WARNING: " + timed.warning in " ".join(draw_accuracy_vs_latency(timed, "t")._supxlabel.get_text().split())
    write_report(busy, tmp_path)
    assert f"**WARNING: {timed.warning}**" in (tmp_path / "summary.md").read_text()
    old = timed_study(TIMED_ROWS)  # no quartiles recorded: no spread drawn, nothing said
    assert accuracy_vs_latency(old).warning == "" and accuracy_vs_latency(old).points["latency_lo"].isna().all()


def test_the_legend_covers_no_point_nor_its_bar():
    """The slowest, least accurate point sits in the lower right corner (seen: cpu-bypass's vanilla point, whose
    bar ran under a legend fixed there): the legend goes where no marker or bar is."""
    rows = [(0.25, 0, 80.0, 79.0, 1.5), (0.25, 1, 81.0, 80.0, 1.6), (0.5, 0, 82.0, 81.0, 2.0),
            (0.5, 1, 83.0, 82.0, 2.1), (0.75, 0, 60.0, 59.0, 3.0), (0.75, 1, 61.0, 60.0, 3.2)]
    timed = accuracy_vs_latency(timed_study(rows, spread=0.5))
    fig = draw_accuracy_vs_latency(timed, "t")
    (ax,) = [ax for ax in fig.axes if ax.get_title().startswith("accuracy (max) vs CPU latency")]
    fig.canvas.draw()
    box = ax.get_legend().get_window_extent(fig.canvas.get_renderer())
    col = timed.selection.column
    for x, y, lo, hi in zip(timed.points["latency_ms"], timed.points[col], timed.points["latency_lo"],
                            timed.points["latency_hi"], strict=True):
        (x0, py), (x1, _) = ax.transData.transform([(lo, y), (hi, y)])
        assert not (box.y0 <= py <= box.y1 and x0 <= box.x1 and x1 >= box.x0), (x, y)  # its bar, marker within
