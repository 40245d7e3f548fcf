"""A study's page: which split chose and which measured, failed trials with what became of their work."""

from __future__ import annotations

import re

import pytest

from dse.report.frame import study_data
from dse.report.points import point_stats
from dse.report.study_page import failed_trials

from .studies import TIMED_ROWS, make_search, make_sweep, timed_study, val_sweep


def test_failed_trials_say_what_became_of_the_work():
    study = make_sweep(None, "r", {"sr": (0.25, 0.5)}, seeds=1, fail={(0.25, 0), (0.5, 0)})
    from optuna.distributions import FloatDistribution, IntDistribution
    from optuna.trial import create_trial

    params = dict(study.trials[0].params)
    study.add_trial(create_trial(value=70.0, params=params, distributions={
        k: (FloatDistribution(0.0, 1.0) if isinstance(v, float) else IntDistribution(0, 1024))
        for k, v in params.items() if k != "bypass"} | {"bypass": study.trials[0].distributions["bypass"]}))
    fates = dict(zip(failed_trials(study_data(study).frame)["label"],
                     failed_trials(study_data(study).frame)["fate"], strict=True))
    assert fates == {"sr=0.25": "completed by trial 2", "sr=0.5": "final: no result for this seed"}


def test_summary_says_which_split_chose_and_which_measured():
    from dse.report.study_page import summary_markdown



    data = val_sweep([(0.25, 0, 70.0, 60.0), (0.5, 0, 65.0, 80.0)])
    data.frame["val_images"], data.frame["test_images"] = 500, 1000
    text = summary_markdown(data, point_stats(data), [])
    assert "validation top-1 (a held-out part of the training data, 500 images) chose" in text
    assert "Test top-1 (1,000 images) chose nothing" in text
    old = study_data(make_sweep(None, "old", {"sr": (0.25, 0.5)}, seeds=1))
    assert "fall back to test top-1" in summary_markdown(old, point_stats(old), [])


def test_summary_and_html_hold_the_same_sections_in_the_same_order(studies_dir, tmp_path):
    import re

    from dse.report.frame import load_studies
    from dse.report.write import write_report

    for name in ("sr", "search"):
        (data,) = load_studies(str(studies_dir / f"{name}.db"))
        write_report(data, tmp_path / name)
        md = (tmp_path / name / "summary.md").read_text()
        html = (tmp_path / name / "index.html").read_text()
        md_headings = re.findall(r"^#{1,2} (.+)$", md, flags=re.M)
        html_headings = [h.replace("&#x27;", "'") for h in re.findall(r"<h[12]>(.+?)</h[12]>", html)]
        assert len(md_headings) >= 5 and md_headings == html_headings


def test_summary_and_html_carry_the_warnings_the_split_and_the_spread(tmp_path):
    from dse.report.write import write_report

    data = study_data(make_sweep(None, "low", {"sr": (0.25, 0.5, 1.0)}, seeds=2, shift=-62.0))
    write_report(data, tmp_path)
    md = (tmp_path / "summary.md").read_text()
    html = (tmp_path / "index.html").read_text()
    for text in (md, html):
        assert "WARNING: " in text and "within 5 points of chance" in text
        assert "no validation split" in text and "Seed noise against differences between points" in text
        assert "[" in text and " range" in text  # two seeds: ranges, named as such
    assert "test top-1 % (mean [interval])" in md
    import pandas as pd

    points = pd.read_csv(tmp_path / "points.csv")
    assert set(points["top1_interval"]) == {"min-max range of the seeds"}
    assert not (tmp_path / "importance.png").exists()  # a 1-D sweep asks no importance question


def _axis_words(fig) -> str:
    """What a figure's panels say about their accuracies: axis labels, panel titles, texts in the axes (not the
    figure's title or caption, which speak of choices too)."""
    words = []
    for ax in fig.axes:
        words += [ax.get_xlabel(), ax.get_ylabel(), ax.get_title(), *(t.get_text() for t in ax.texts)]
    return " ".join(words)


@pytest.mark.parametrize("make", ["curves", "latency", "search", "bypass"])
def test_each_figure_declares_the_splits_it_draws_and_the_split_sentence_lists_them(make):
    """The split sentence is made of what each figure and table declares (`shows`); each figure's declaration
    is what its panels say they draw, so the sentence cannot claim a split a figure does not show."""
    from dse.report import page
    from dse.report.study_page import study_figures, study_sections

    data = {"curves": lambda: val_sweep([(0.25, 0, 70.0, 60.0), (0.5, 0, 65.0, 80.0), (0.25, 1, 71.0, 61.0),
                                         (0.5, 1, 66.0, 79.0)]),
            "latency": lambda: timed_study(TIMED_ROWS),
            "search": lambda: study_data(make_search(None, n=12)),
            "bypass": lambda: study_data(make_sweep(None, "b", {"bypass": ("none", "simple")}, seeds=2))}[make]()
    stats = point_stats(data)
    figures = study_figures(data, stats)
    assert figures
    for f in figures:
        said = _axis_words(f.figure)
        declared = {split for split, _ in f.shows}
        assert declared, f"{f.name} declares no split"
        assert declared == {s for s in ("validation", "test") if s in said}, f.name
    blocks = study_sections(data, stats, figures)
    sentence = next(p.text for b in blocks if isinstance(b, page.Paragraphs) for p in b.lines
                    if "chose" in str(p.text) and "top-1" in str(p.text))
    # each split's clause of the sentence names the places that show it, and no other split's
    clauses = {re.search(r"validation|test", part, flags=re.I).group().lower(): part
               for part in re.split(r"(?=\b(?:Test|Validation) top-1\b)", sentence)}
    for split, where in page.shown(blocks):
        assert where in clauses[split], (split, where, sentence)
    if make == "latency":  # the latency figure plots the split its front is chosen on, and says why
        (latency,) = [f for f in figures if f.name == "accuracy_vs_latency"]
        assert latency.shows == (("validation", "accuracy vs latency"),)
        assert "the front is chosen on it" in latency.about


def test_the_page_says_when_the_trials_ran():
    import pandas as pd

    from dse.report.study_page import _span_words

    frame = pd.DataFrame({"state": ["COMPLETE", "COMPLETE", "FAIL"],
                          "started": ["2026-11-30T09:59:24", "2026-11-30T10:01:00", "2026-11-30T10:02:00"],
                          "completed": ["2026-11-30T10:05:00", "2026-11-30T10:18:25", None]})
    summed = (" The 2 complete trials took 23 minutes summed, each from its start to its end (trials that ran side by "
              "side each count).")  # 5.6 + 17.4 minutes
    assert _span_words(frame) == (" Trained from 2026-11-30 09:59 to 10:18: 19 minutes from the first trial's start "
                                  "to the last finished one's end." + summed)
    running = frame.assign(state=["COMPLETE", "COMPLETE", "RUNNING"])
    assert _span_words(running).endswith("end; trials are still running." + summed)
    resumed = frame.assign(started=["2026-11-30T09:59:24", "2026-12-01T10:01:00", "2026-12-01T10:02:00"],
                           completed=["2026-11-30T10:05:00", "2026-12-01T10:18:25", None])
    words = _span_words(resumed)  # resumed the next day: the span counts the pause, the sum does not
    assert "to 2026-12-01 10:18: 1459 minutes" in words and "took 23 minutes summed" in words
    assert _span_words(frame.assign(completed=None)) == ""
