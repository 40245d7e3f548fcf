"""A study's page: which split chose and which measured, failed trials with what became of their work."""

from __future__ import annotations

from dse.report.frame import study_data
from dse.report.points import point_stats
from dse.report.study_page import failed_trials

from .studies import make_sweep, val_sweep


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
    assert ("validation top-1 (a held-out part of the training data, 500 images) chose" in text
            and "test top-1 (1,000 images) is every accuracy shown" in text)
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
