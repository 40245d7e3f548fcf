import optuna
import pytest
import torch
from test_cli_train import one_line_error
from trained_tiny import dse_study, pack_trained, trained_tiny
from typer.testing import CliRunner

from dse.cli import app
from dse.cli.export import FILE_ROLES
from dse.weights import load

pytestmark = pytest.mark.slow  # trains the tiny network and exports it (a minute or two on one core)
runner = CliRunner()


@pytest.fixture(scope="module")
def study_path(tmp_path_factory):
    path, _ = dse_study(tmp_path_factory.mktemp("cli-export"))
    return path


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_export_best_writes_files_that_give_the_trial_logits(study_path, tmp_path):
    t = trained_tiny()
    result = run("export", study_path, "--best", "--max-size-mb", "1", "--out", tmp_path / "net", "--no-onnx")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "trial 0 of demo" in text and "chosen by test top-1 (no validation split recorded)" in text
    assert f"top-1 {t.top1:.2f}% on test" in text and "base_e 16" in text
    assert "model.pt2" in text and "8/8 probe images agree" in text
    model = load(tmp_path / "net" / "model.pt")
    x = pack_trained(t).normalise(t.data.test_images[:16])
    with torch.no_grad():
        assert torch.allclose(model(x), t.model(x), rtol=1e-2, atol=2e-2)  # fp16 conv weights
        assert (model(x).argmax(1) == t.model(x).argmax(1)).all()


def test_export_out_twice_and_never_over_a_users_model(study_path, tmp_path):
    """issue 19 item 7: `dse export --out` overwrote a model.pt silently."""
    out = tmp_path / "net"
    for _ in range(2):  # the second run writes into the folder the first made
        assert run("export", study_path, "--trial", "0", "--out", out, "--no-onnx").exit_code == 0
    user = tmp_path / "mine"
    user.mkdir()
    (user / "model.pt").write_bytes(b"my model")
    one_line_error(run("export", study_path, "--trial", "0", "--out", user, "--no-onnx"), "model.pt", "--force")
    assert sorted(p.name for p in user.iterdir()) == ["model.pt"] and (user / "model.pt").read_bytes() == b"my model"
    result = run("export", study_path, "--trial", "0", "--out", user, "--no-onnx", "--force")
    assert result.exit_code == 0, result.output
    assert load(user / "model.pt") is not None
def test_export_trial_says_the_user_chose_it_in_whole_lines(study_path, tmp_path):
    out = tmp_path / "a-folder-name-long-enough-that-each-file-line-passes-120-columns" / "net"
    result = run("export", study_path, "--trial", "0", "--out", out, "--no-onnx")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("trial 0 of demo (") and lines[0].endswith("), chosen by --trial 0"), lines
    assert f"top-1 {trained_tiny().top1:.2f}% on test (no validation split recorded)" in lines
    assert "the split that chose" not in result.stdout
    # piped, every line whole (no wrap at the console's 120 columns): each starts as the command starts one
    assert all(line.startswith(("trial ", "point: ", "top-1 ", "size ", "latency ", f"  {out}")) for line in lines)
    written = {path.name: path for path in out.iterdir()}
    for name, role in (("model.pt", FILE_ROLES["pt"]), ("model.pt2", FILE_ROLES["pt2"])):
        line = next(line for line in lines if line.startswith(f"  {written[name]} ("))
        assert f"MB)  {role}" in line and len(line) > 120, line
    assert lines[1].startswith("point: base_e ") and lines[1].endswith(f"input_size {trained_tiny().point.input_size}")


def test_export_trial_without_weights(study_path):
    one_line_error(run("export", study_path, "--trial", "1"), "trial 1 of 'demo' has no stored weights")


def test_export_best_with_an_impossible_budget(study_path):
    one_line_error(run("export", study_path, "--best", "--max-size-mb", "0.001"),
                   "no trial with kept weights fits --max-size-mb 0.001")
    one_line_error(run("export", study_path, "--best", "--max-latency-ms", "5"), "recorded its latency")


def test_export_without_the_artifact_store(study_path, tmp_path):
    one_line_error(run("export", study_path, "--trial", "0", "--artifacts", tmp_path / "nowhere"),
                   "no artifact store at")


def test_export_a_study_of_another_tool(tmp_path):
    path = tmp_path / "other.db"
    study = optuna.create_study(storage=f"sqlite:///{path}", study_name="other")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    one_line_error(run("export", path, "--best"), "was not made by dse")


def test_export_needs_one_choice(study_path):
    one_line_error(run("export", study_path), "give either --trial N or --best")
    one_line_error(run("export", study_path, "--trial", "0", "--best"), "give either --trial N or --best")
    one_line_error(run("export", study_path, "--trial", "0", "--max-size-mb", "1"), "use them with --best")
    one_line_error(run("export", study_path, "--trial", "9"), "no trial 9")


def test_export_from_a_postgresql_study_names_its_store(tmp_path):
    import os
    import uuid

    url = os.environ.get("DSE_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
    try:
        optuna.get_all_study_names(url)
    except Exception as exc:  # noqa: BLE001 - no server or no driver: nothing to test here
        pytest.skip(f"no PostgreSQL server for this test: {exc}")
    name = f"dse-export-test-{uuid.uuid4().hex[:12]}"
    try:
        dse_study(tmp_path, name, url=url, artifacts=tmp_path / "shared")
        one_line_error(run("export", url, "--study-name", name, "--trial", "0"), "--artifacts")
        result = run("export", url, "--study-name", name, "--trial", "0", "--artifacts", tmp_path / "shared",
                     "--out", tmp_path / "net", "--no-onnx")
        assert result.exit_code == 0, result.output
        assert load(tmp_path / "net" / "model.pt").point == trained_tiny().point
    finally:
        optuna.delete_study(study_name=name, storage=url)


def test_export_best_of_a_study_named_like_a_path_writes_nothing_there(tmp_path, monkeypatch):
    escape = tmp_path / "outside"
    path = tmp_path / "named.db"
    dse_study(tmp_path, str(escape), url=f"sqlite:///{path}", artifacts=tmp_path / "store")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    one_line_error(run("export", path, "--best", "--artifacts", tmp_path / "store", "--no-onnx"),
                   "holds a path separator, so it cannot name a file", "--out FOLDER")
    assert not escape.exists() and list(work.iterdir()) == []
