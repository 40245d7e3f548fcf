"""`dse dashboard` serves optuna-dashboard for a study file on loopback; bad inputs start nothing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from typer.testing import CliRunner

from dse.cli import app
from dse.errors import ReportError, StorageError
from dse.report.dashboard import make_dashboard_server

from .conftest import snapshot


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def test_dashboard_serves_the_study_list(studies_dir):
    before = snapshot(studies_dir)
    server, display = make_dashboard_server(str(studies_dir / "two.db"), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        studies = _get_json(f"http://127.0.0.1:{server.server_port}/api/studies")["study_summaries"]
        assert sorted(s["study_name"] for s in studies) == ["sr-a", "sr-b"]
        one = next(s for s in studies if s["study_name"] == "sr-a")
        detail = _get_json(f"http://127.0.0.1:{server.server_port}/api/studies/{one['study_id']}")
        assert {"sr", "seed"} <= {p["name"] for p in detail["union_search_space"]}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert snapshot(studies_dir) == before


def test_dashboard_refuses_what_is_not_a_study(tmp_path):
    with pytest.raises(StorageError, match="no such file"):
        make_dashboard_server(str(tmp_path / "typo.db"), "127.0.0.1", 0)
    assert list(tmp_path.iterdir()) == []
    result = CliRunner().invoke(app, ["dashboard", str(tmp_path / "typo.db"), "--port", "0"])
    assert result.exit_code != 0 and "no such file" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # starts the real command (a server process)
def test_dse_dashboard_command_starts_and_stops(sr_db):
    """The real command in its own process, as a user starts it: a free port on loopback, then SIGTERM."""
    code = "import sys; from dse.cli import main; sys.argv = ['dse'] + sys.argv[1:]; main()"
    proc = subprocess.Popen([sys.executable, "-c", code, "dashboard", str(sr_db), "--host", "127.0.0.1",
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "http://" not in line:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, f"no URL printed: {line!r}"
        studies = _get_json(f"http://127.0.0.1:{match.group(1)}/api/studies")["study_summaries"]
        assert [s["study_name"] for s in studies] == ["sr"]
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
    assert proc.returncode is not None


def test_port_in_use_is_one_line(sr_db):
    server, _ = make_dashboard_server(str(sr_db), "127.0.0.1", 0)
    try:
        with pytest.raises(ReportError, match="cannot listen on 127.0.0.1"):
            make_dashboard_server(str(sr_db), "127.0.0.1", server.server_port)
    finally:
        server.server_close()


def test_dashboard_serves_the_weights_kept_beside_the_study(tmp_path):
    """The store beside an SQLite study goes to optuna-dashboard, which then serves each trial's file."""
    import optuna
    from optuna.artifacts import upload_artifact

    from dse.study.artifacts import ArtifactStoreMissing, open_store

    db = tmp_path / "studies" / "k.db"
    db.parent.mkdir()
    storage = optuna.storages.RDBStorage(f"sqlite:///{db}")
    study = optuna.create_study(study_name="k", storage=storage)
    trial = study.ask()
    payload = tmp_path / "weights.pt"
    payload.write_bytes(b"dse weights stand-in")
    artifact_id = upload_artifact(artifact_store=open_store(tmp_path / "studies" / "k.artifacts", create=True),
                                  file_path=str(payload), study_or_trial=trial)
    study.tell(trial, 1.0)
    study_id = storage.get_study_id_from_name("k")
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, 0)
    for artifacts, status in ((None, 200), (str(tmp_path / "elsewhere"), None)):
        if status is None:
            with pytest.raises(ArtifactStoreMissing, match="no artifact store"):
                make_dashboard_server(str(db), "127.0.0.1", 0, artifacts)
            continue
        server, _ = make_dashboard_server(str(db), "127.0.0.1", 0, artifacts)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_port}/artifacts/{study_id}/{trial_id}/{artifact_id}"
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.status == status and response.read() == b"dse weights stand-in"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)


@pytest.fixture(scope="module")
def real_sweep(tmp_path_factory):
    """A tiny sweep trained for real (synthetic data, 1 epoch, tiny widths) with bypass fixed, as `dse sweep`
    writes it: the study the dashboard is checked on."""
    from sweep_helpers import TINY_RECIPE

    from dse.study.grid import build_spec
    from dse.study.runner import RunOptions, run

    path = tmp_path_factory.mktemp("dash") / "real.db"
    spec = build_spec(params=["sr"], values=["0.125,0.5,1.0"], seeds=3, dataset="synthetic", subset=200,
                      design={"base_e": 16, "incr_e": 16, "bypass": "simple"},
                      recipe_options={**TINY_RECIPE, "batch_size": 16})
    run(spec, RunOptions(storage=str(path), study_name="sr", device="cpu", keep_weights="none", latency_runs=0),
        poll=0.05)
    return path


@pytest.mark.slow
def test_dashboard_reads_like_the_report(real_sweep):
    """Through optuna-dashboard's own JSON API: the metric is named (validation top-1, what chose), the fixed
    bypass has a one-value distribution, the definition is one readable attr per field, the dashboard's best
    trial is the validation best, and importance gives fixed params nothing."""
    from optuna.trial import TrialState

    from dse.study.progress import snapshot

    server, _ = make_dashboard_server(str(real_sweep), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}/api/studies"
    try:
        (summary,) = _get_json(base)["study_summaries"]
        detail = _get_json(f"{base}/{summary['study_id']}")
        importances = _get_json(f"{base}/{summary['study_id']}/param_importances")["param_importances"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert detail["objective_names"] == ["validation top-1 (%)"]
    attrs = {a["key"]: a["value"] for a in detail["user_attrs"]}
    assert attrs["dse.kind"] == "sweep" and attrs["dse.val_fraction"] == "0.1" and "dse.recipe" in attrs
    trials = detail["trials"]
    assert len(trials) == 9 and all(t["state"] == "Complete" for t in trials)
    for t in trials:
        params = {p["name"]: p for p in t["params"]}
        bypass = params["bypass"]["distribution"]
        assert [c["value"] for c in bypass["choices"]] == ["simple"], bypass
        assert params["sr"]["distribution"]["type"] in ("FloatDistribution", "CategoricalDistribution")
    # the dashboard's best trial is chosen on validation, as dse chooses
    import optuna

    study = optuna.load_study(study_name="sr", storage=f"sqlite:///{real_sweep}")
    best = snapshot(study.get_trials(deepcopy=False), 9, 2, 1).best
    assert [t["number"] for t in detail["best_trials"]] == [best.number]
    assert all(t.user_attrs["val_top1"] == t.value for t in study.get_trials(states=(TrialState.COMPLETE,)))
    # importance: nothing for what was fixed (bypass, base_e, ... hold one value each). With too few distinct
    # results PED-ANOVA finds nothing and the dashboard then shares 1/n over every param: not that case here.
    (scores,) = importances
    given = {s["name"]: s["importance"] for s in scores}
    assert len(set(given.values())) > 1, f"the dashboard fell back to equal shares: {given}"
    fixed = {"bypass", "base_e", "incr_e", "freq", "pct3x3"}
    assert not fixed & {name for name, value in given.items() if value > 0}, given
