"""The paper's Table 3 for a bypass sweep: every seed of every variant, the interval its seed count allows, the
size, and the paper's confirmed values beside it (none for the complex bypass, which the reference lacks); drawn
with one mark per seed and each variant labelled at its own position; written into the report."""

from __future__ import annotations

import dataclasses
import math
import statistics

import pytest

from dse.report.frame import study_data
from dse.report.paper import paper
from dse.report.study_page import study_figures
from dse.report.table3 import UNCONFIRMED, bypass_table, draw_bypass_table, is_bypass_sweep
from dse.report.write import write_report
from dse.stats import t_quantile

from .studies import make_sweep

VARIANTS = ("none", "simple", "complex")
PAPER_NAMES = {"none": "vanilla", "simple": "simple bypass", "complex": "complex bypass"}


@pytest.fixture(scope="module")
def three():
    return study_data(make_sweep(None, "bypass3", {"bypass": VARIANTS}, seeds=3))


@pytest.fixture(scope="module")
def two():
    return study_data(make_sweep(None, "bypass2", {"bypass": VARIANTS}, seeds=2))


def _completed(data, variant):
    f = data.frame
    return f[(f["bypass"] == variant) & (f["state"] == "COMPLETE")].sort_values("seed")


@pytest.mark.parametrize("name, n_seeds", [("three", 3), ("two", 2)])
def test_every_seed_of_every_variant_is_there_beside_its_own_point(request, name, n_seeds):
    data = request.getfixturevalue(name)
    table = bypass_table(data)
    assert list(table.variants["variant"]) == list(VARIANTS)  # the paper's order, each at its own position
    assert list(table.variants["x"]) == [0.0, 1.0, 2.0]
    assert list(table.variants["paper_name"]) == [PAPER_NAMES[v] for v in VARIANTS]
    assert len(table.seeds) == 3 * n_seeds
    for i, variant in enumerate(VARIANTS):
        trials = _completed(data, variant)
        mine = table.seeds[table.seeds["variant"] == variant].sort_values("seed")
        assert list(mine["seed"]) == list(trials["seed"]) == list(range(n_seeds))
        assert list(mine["top1"]) == pytest.approx(list(trials["top1"]))
        assert list(mine["top5"]) == pytest.approx(list(trials["top5"]))
        assert all(abs(x - i) < 0.5 and x != i for x in mine["x"])  # beside its own point, not on it
        assert len(set(mine["x"])) == n_seeds  # one mark each
        row = table.variants.set_index("variant").loc[variant]
        assert row["n"] == n_seeds and row["top1_mean"] == pytest.approx(statistics.mean(trials["top1"]))
        assert row["size_mb"] == pytest.approx(trials["size_mb"].iloc[0])
        assert row["imagenet_size_mb"] == pytest.approx(trials["imagenet_size_mb"].iloc[0])
    sizes = table.variants.set_index("variant")["size_mb"]
    assert sizes["none"] == sizes["simple"] < sizes["complex"]  # the 1x1 projections are the only extra weights


def test_three_seeds_give_a_t_interval(three):
    table = bypass_table(three)
    for variant in VARIANTS:
        tops = list(_completed(three, variant)["top1"])
        row = table.variants.set_index("variant").loc[variant]
        half = t_quantile(0.975, 2) * statistics.stdev(tops) / math.sqrt(3)
        assert row["top1_interval"] == "t95"
        assert (row["top1_lo"], row["top1_hi"]) == (pytest.approx(statistics.mean(tops) - half),
                                                    pytest.approx(statistics.mean(tops) + half))
    assert "t-interval" in table.intervals["top1"] and "range" not in table.intervals["top1"]


def test_two_seeds_give_their_range_not_a_t_interval(two):
    table = bypass_table(two)
    for variant in VARIANTS:
        tops = list(_completed(two, variant)["top1"])
        row = table.variants.set_index("variant").loc[variant]
        assert row["top1_interval"] == "range"
        assert (row["top1_lo"], row["top1_hi"]) == (pytest.approx(min(tops)), pytest.approx(max(tops)))
    assert "range" in table.intervals["top1"] and "t-interval" not in table.intervals["top1"]


def test_the_papers_confirmed_values_are_attached_and_the_complex_bypass_has_none(three):
    table = bypass_table(three)
    ref = {r["variant"]: r for r in paper()["table_3_macroarchitecture"]}
    rows = table.paper.set_index("variant")
    for variant in ("none", "simple"):
        expected = ref[PAPER_NAMES[variant]]
        assert rows.loc[variant, "confirmed"]
        assert [rows.loc[variant, k] for k in ("top1", "top5", "size_mb")] == [
            pytest.approx(expected[k]) for k in ("top1", "top5", "size_mb")]
    assert PAPER_NAMES["complex"] not in ref  # if the reference ever confirms it, this test must learn its value
    assert not rows.loc["complex", "confirmed"]
    assert all(math.isnan(rows.loc["complex", k]) for k in ("top1", "top5", "size_mb"))
    assert table.unconfirmed == ["complex"]
    assert table.paper_matches  # the fixture fixes SqueezeNet v1.0's metaparameters, as Table 3 does


def test_validation_chooses_and_test_is_reported(three):
    f = three.frame.copy()
    # validation ranks simple first although complex has the best test top-1
    f["val_top1"] = f["bypass"].map({"none": 50.0, "simple": 70.0, "complex": 60.0}) + f["seed"]
    data = dataclasses.replace(three, frame=f)
    table = bypass_table(data)
    assert table.selection.split == "validation"
    chosen = table.variants[table.variants["chosen"]]
    assert list(chosen["variant"]) == ["simple"]
    assert table.variants.set_index("variant")["top1_mean"].idxmax() == "complex"  # test would have chosen this
    assert list(table.seeds.loc[table.seeds["variant"] == "simple", "val_top1"]) == [70.0, 71.0, 72.0]
    plain = bypass_table(three)  # no validation split: test chooses, and says so
    assert plain.selection.split == "test" and list(plain.variants.loc[plain.variants["chosen"], "variant"]) == [
        plain.variants.set_index("variant")["top1_mean"].idxmax()]


def test_other_swept_params_make_lines_each_within_its_variant():
    data = study_data(make_sweep(None, "bx", {"bypass": VARIANTS, "sr": (0.25, 0.5)}, seeds=2,
                                 fail={("complex", 0.5, 0), ("complex", 0.5, 1)}))
    table = bypass_table(data)
    assert table.groups == ("sr=0.25", "sr=0.5")
    for _, row in table.variants.iterrows():
        i = VARIANTS.index(row["variant"])
        assert abs(row["x"] - i) < 0.5
        mine = table.seeds[table.seeds["label"] == row["label"]]
        assert len(mine) == row["n"] and all(abs(x - i) < 0.5 for x in mine["x"])
    failed = table.variants.set_index("label").loc["bypass=complex, sr=0.5"]
    assert failed["n"] == 0 and failed["status"] == "failed" and not failed["chosen"]
    chosen = table.variants[table.variants["chosen"]]
    assert sorted(chosen["group"]) == ["sr=0.25", "sr=0.5"]  # one best variant per line


def test_only_bypass_sweeps_get_the_table():
    sr = study_data(make_sweep(None, "sr", {"sr": (0.25, 0.5)}, seeds=1))
    assert not is_bypass_sweep(sr)
    with pytest.raises(ValueError, match="not a sweep over bypass"):
        bypass_table(sr)
    assert "bypass_table3" not in [f.name for f in study_figures(sr)]


@pytest.mark.parametrize("name", ["three", "two"])
def test_drawing_has_one_mark_per_seed_and_each_variant_labelled_at_its_position(request, name):
    data = request.getfixturevalue(name)
    table = bypass_table(data)
    fig = draw_bypass_table(table)
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    for metric in ("top1", "top5"):
        ax = panels[f"{metric.replace('top', 'top-')} per bypass variant (this study)"]
        marks = [tuple(p) for c in ax.collections if (c.get_gid() or "").startswith(f"seeds-{metric}")
                 for p in c.get_offsets()]
        assert len(marks) == len(table.seeds)
        assert sorted(marks) == sorted(zip(table.seeds["x"], table.seeds[metric], strict=True))
        ticks = dict(zip(ax.get_xticks(), (t.get_text() for t in ax.get_xticklabels()), strict=True))
        for _, row in table.variants.iterrows():
            assert ticks[row["x"]].split("\n")[0] == row["variant"]
            assert f"{row['size_mb']:.2f} MB" in ticks[row["x"]]
    ax = panels["the paper's Table 3 (ImageNet, full training)"]
    ticks = dict(zip(ax.get_xticks(), (t.get_text() for t in ax.get_xticklabels()), strict=True))
    for i, variant in enumerate(VARIANTS):
        assert ticks[i].split("\n")[0] == PAPER_NAMES[variant]
    marked = {x for line in ax.get_lines() for x in line.get_xdata()}
    assert marked == {0.0, 1.0}  # no mark where the reference has no value
    (words,) = [t for t in ax.texts if t.get_gid() == "unconfirmed-complex"]
    assert UNCONFIRMED in " ".join(words.get_text().split()) and words.get_position()[0] == 2
    caption = " ".join(fig._supxlabel.get_text().split())
    assert UNCONFIRMED in caption


def test_the_report_of_a_bypass_sweep_has_the_figure_and_the_table(tmp_path):
    data = study_data(make_sweep(f"sqlite:///{tmp_path / 'b.db'}", "bypass", {"bypass": VARIANTS}, seeds=3))
    written = {p.name for p in write_report(data, tmp_path / "out")}
    assert {"bypass_table3.png", "bypass_table3.svg"} <= written
    md = (tmp_path / "out" / "summary.md").read_text()
    section = md.split("## Bypass variants against the paper's Table 3")[1].split("\n## ")[0]
    table = bypass_table(data)
    lines = [ln for ln in section.splitlines() if ln.startswith("| ")]
    assert len(lines) == 1 + 3  # header and one row per variant
    complex_row = next(ln for ln in lines if ln.startswith("| complex"))
    assert complex_row.count(UNCONFIRMED) == 3
    for _, seed in table.seeds.iterrows():
        assert f"{seed['top1']:.1f}" in section
    vanilla = next(ln for ln in lines if ln.startswith("| none"))
    ref = {r["variant"]: r for r in paper()["table_3_macroarchitecture"]}["vanilla"]
    assert f"| {ref['top1']:.1f} | {ref['top5']:.1f} | {ref['size_mb']:g} |" in vanilla
    html = (tmp_path / "out" / "index.html").read_text()
    assert 'class="table3"' in html and "Bypass variants against the paper&#x27;s Table 3" in html
    assert 'id="bypass_table3"' in html


