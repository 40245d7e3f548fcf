"""`dse report` from the command line: where files go, several studies, bad inputs, and a real sweep."""

from __future__ import annotations

import uuid

import optuna
import pandas as pd
import pytest
from typer.testing import CliRunner

from dse.cli import app
from dse.cli.report import unique_names
from dse.report.frame import StudyData

from .conftest import snapshot
from .studies import SR_VALUES, make_sweep

runner = CliRunner()


def test_report_one_study_to_out(sr_db, tmp_path):
    out = tmp_path / "r"
    result = runner.invoke(app, ["report", str(sr_db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "index.html").is_file() and (out / "accuracy_vs_size.png").is_file()
    assert "sr" in result.output and "index.html" in result.output


def test_default_folder_is_reports_study(sr_db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["report", str(sr_db)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "reports" / "sr" / "summary.md").is_file()


def test_several_studies_are_compared(studies_dir, tmp_path):
    result = runner.invoke(app, ["report", str(studies_dir / "two.db"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in tmp_path.iterdir()} == {"sr-a", "sr-b", "compare-sr-a-sr-b"}
    compare = tmp_path / "compare-sr-a-sr-b"
    assert (compare / "error_edf.png").is_file() and (tmp_path / "sr-b" / "accuracy_vs_size.png").is_file()
    assert 'href="../sr-a/index.html"' in (compare / "index.html").read_text()


def test_study_name_picks_one(studies_dir, tmp_path):
    result = runner.invoke(app, ["report", str(studies_dir / "two.db"), "--study-name", "sr-b", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "index.html").is_file() and "sr-b" in (tmp_path / "index.html").read_text()


def test_same_study_name_in_two_files_gets_distinct_folders(tmp_path):
    def named(name, source):
        return StudyData(name, source, {}, ("maximize",), pd.DataFrame(), pd.DataFrame(), ())

    datas = [named("sr", "a/sr.db"), named("sr", "b/other.db"), named("pct", "b/other.db")]
    unique_names(datas, [])
    assert [d.name for d in datas] == ["sr-sr", "other-sr", "pct"]
    datas = [named("sr", str(tmp_path / "x" / "sr.db")), named("sr", str(tmp_path / "y" / "sr.db"))]
    unique_names(datas, [])
    assert [d.name for d in datas] == ["x-sr", "y-sr"]


@pytest.mark.parametrize("args, message", [
    (["missing.db"], "no such file"),
    (["."], "is a directory"),
    (["notes.txt"], "not an Optuna study"),
    (["sqlite:///missing.db"], "no such file"),
    (["postgresql://postgres@127.0.0.1:1/none"], "cannot open"),
    (["STUDY", "--study-name", "nope"], "no study 'nope'"),
    (["STUDY", "--out", "notes.txt"], "is a file"),
    (["STUDY", "missing.db"], "no such file"),  # one bad input among good ones: nothing is written
])
def test_bad_inputs_exit_nonzero_with_one_line_and_write_nothing(args, message, sr_db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not a study\n")
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["report", *[str(sr_db) if a == "STUDY" else a for a in args]])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("error:"), result.output
    assert snapshot(tmp_path) == before and not (tmp_path / "reports").exists()


def test_a_users_folder_is_refused_in_one_line_and_kept(sr_db, tmp_path):
    """issue 19 item 7: `--out userdir` overwrote the user's files and deleted their pareto.png."""
    (tmp_path / "pareto.png").write_bytes(b"mine")
    (tmp_path / "index.html").write_text("mine\n")
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["report", str(sr_db), "--out", str(tmp_path)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "--force" in lines[0], result.output
    assert snapshot(tmp_path) == before


def test_force_writes_into_a_users_folder_and_deletes_none_of_its_files(sr_db, tmp_path):
    (tmp_path / "pareto.png").write_bytes(b"mine")
    (tmp_path / "index.html").write_text("mine\n")
    result = runner.invoke(app, ["report", str(sr_db), "--out", str(tmp_path), "--force"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "pareto.png").read_bytes() == b"mine"  # the sweep draws no Pareto figure: not deleted
    assert "dse report: sr" in (tmp_path / "index.html").read_text()  # forced: overwritten


def test_dse_report_reruns_on_its_own_folders(studies_dir, sr_db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        result = runner.invoke(app, ["report", str(sr_db)])
        assert result.exit_code == 0, result.output
    for _ in range(2):
        result = runner.invoke(app, ["report", str(studies_dir / "two.db"), "--out", "cmp"])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "reports" / "sr" / ".dse-output").is_file()
    assert (tmp_path / "cmp" / "compare-sr-a-sr-b" / "index.html").is_file()


def test_several_studies_refuse_before_writing_any(studies_dir, tmp_path):
    """The comparison's folder is the user's: neither study's report is written."""
    (tmp_path / "compare-sr-a-sr-b").mkdir()
    (tmp_path / "compare-sr-a-sr-b" / "summary.md").write_text("mine\n")
    result = runner.invoke(app, ["report", str(studies_dir / "two.db"), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--force" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compare-sr-a-sr-b"]


@pytest.mark.slow
def test_the_report_of_a_216_point_grid_prints_no_warnings(tmp_path):
    """issue 19 item 12: `dse report` of 216 points over three parameters printed three matplotlib warnings."""
    from sweep_helpers import dse

    from .test_size import LARGE

    make_sweep(f"sqlite:///{tmp_path / 'large.db'}", "large", LARGE, seeds=1)
    result = dse("report", "large.db", "--out", "out", cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "216 of 216 trials complete" in result.stdout
    assert '<table class="unlabelled">' in (tmp_path / "out" / "index.html").read_text()


def test_report_from_a_postgresql_url(tmp_path):
    url = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
    name = f"report-cli-{uuid.uuid4().hex[:10]}"
    try:
        make_sweep(url, name, {"sr": SR_VALUES[:3]}, seeds=2, fail={(0.375, 1)})
    except Exception as exc:  # noqa: BLE001 - no server here
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    try:
        result = runner.invoke(app, ["report", "postgresql://postgres@127.0.0.1:5432/test", "--study-name", name,
                                     "--out", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert "non-finite" in (tmp_path / "summary.md").read_text()
    finally:
        optuna.delete_study(study_name=name, storage=url)


# ------------------------------------------------------------------------------------- with dse.study.grid


def _sweep_spec(subset: int = 64):
    from dse.study.grid import build_spec

    return build_spec(params=["sr"], ranges=["0.125:1.0"], points=3, dataset="synthetic", seeds=2, subset=subset,
                      design={"base_e": 16, "incr_e": 16},
                      recipe_options={"epochs": 1, "batch_size": 32, "eval_batch_size": 256})


def _report(db, out):
    result = runner.invoke(app, ["report", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_a_sweep_run_by_dse_worker_reports(tmp_path):
    """The real worker loop and storage, with training replaced by a stub: the layout is what report reads."""
    from dse.study.runner import RunOptions, run
    from dse.train import Diverged, RunResult

    spec = _sweep_spec()

    def fake_train(point, data, recipe, *, device="cpu", on_epoch=None):
        if point.sr == 1.0 and recipe.seed == 1:
            raise Diverged(1)
        top1 = 40 + 20 * point.sr + recipe.seed
        if on_epoch:
            on_epoch(1, top1)
        from dse.plan import cost

        c = cost(point)
        return RunResult(top1=top1, top5=90.0, loss=1.0, epochs=1, train_seconds=0.1, eval_seconds=0.01,
                         images_per_second=1000.0, peak_memory_mb=0.0, device="cpu", dtype="fp32",
                         epoch_top1=(top1,), params=c.params, size_mb=c.size_mb, macs=c.macs,
                         imagenet_size_mb=c.imagenet_size_mb, dataset="synthetic", train_images=64, test_images=64,
                         point=point, recipe=recipe)

    db = tmp_path / "sr.db"
    run(spec, RunOptions(storage=str(db), study_name="sr", device="cpu", retries=0), train_fn=fake_train)
    out = _report(db, tmp_path / "report")
    md = (out / "summary.md").read_text()
    assert "| 0.125 |" in md and "| 0.5625 |" in md and "| 1.0 |" in md
    assert "diverged" in md and "synthetic data subset: 64 training and 64 test images; 1 epoch per trial" in md
    import pandas as pd

    results = pd.read_csv(out / "results.csv")
    assert (results["state"] == "COMPLETE").sum() == 5 and (results["state"] == "FAIL").sum() == 1
    done = results[results["state"] == "COMPLETE"]
    assert done["size_mb"].notna().all() and done["imagenet_size_mb"].notna().all() and (done["device"] == "cpu").all()


@pytest.mark.slow
def test_a_tiny_real_sweep_reports(tmp_path):
    """3 points x 2 seeds of a 16-filter network on 64 synthetic images, really trained on the CPU."""
    from dse.study.runner import RunOptions, run

    db = tmp_path / "sr.db"
    run(_sweep_spec(), RunOptions(storage=str(db), study_name="sr", device="cpu", keep_weights="none",
                                  latency_runs=0))
    out = _report(db, tmp_path / "report")
    for name in ("accuracy_vs_size.png", "learning_curves.png", "index.html", "results.csv", "summary.md"):
        assert (out / name).is_file()
    html = (out / "index.html").read_text()
    assert "6 trials: 6 complete" in html and "synthetic data subset: " in html and "; 1 epoch per trial" in html
