import json

import pytest
import torch
from trained_tiny import pack_trained, trained_tiny

from dse.export import export, onnx_missing
from dse.outdir import OutputFolderError
from dse.weights import WeightsMismatch, check, load

pytestmark = pytest.mark.slow  # trains the tiny network once per session, exports it (about a minute)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """fp16 weights exported once (torch.export and ONNX take most of a minute on one core)."""
    weights = pack_trained(trained_tiny(), "fp16")
    return weights, export(weights, tmp_path_factory.mktemp("export") / "out")


def test_export_writes_checked_files_that_give_the_trained_logits(exported):
    t = trained_tiny()
    weights, result = exported
    out = result.directory
    expected = {"pt", "json", "pt2"} | ({"onnx"} if onnx_missing() is None else set())
    assert set(result.files) == expected and set(result.checks) == expected - {"json"}
    assert all(path.parent == out and path.stat().st_size > 0 for path in result.files.values())
    if onnx_missing() is not None:
        assert "pip install" in result.skipped["onnx"]

    x = weights.normalise(t.data.test_images[:5])  # a batch size the export never saw
    reference = load(result.files["pt"])(x).detach()
    program = torch.export.load(result.files["pt2"]).module()
    assert torch.allclose(program(x), reference, atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(reference, t.model(x), rtol=1e-2, atol=2e-2)  # fp16 weights: the trained logits

    meta = json.loads(result.files["json"].read_text())
    assert meta["point"] == t.point.to_dict() and meta["record"]["top1"] == t.top1
    assert meta["input"]["mean"] == pytest.approx(list(t.data.mean))


@pytest.mark.skipif(onnx_missing() is not None, reason="onnx and onnxscript not installed")
def test_onnx_file_runs_with_the_restored_logits(exported):
    from dse.export import onnx_runner

    t = trained_tiny()
    weights, result = exported
    x = weights.normalise(t.data.test_images[8:11])
    got = onnx_runner(result.files["onnx"])(x)
    assert torch.allclose(got, weights.model()(x).detach(), atol=1e-4)


def test_export_refuses_weights_whose_probe_disagrees(tmp_path):
    t = trained_tiny()
    weights = pack_trained(t)
    weights.probe.logits[0, 0] += 1.0  # a record the weights do not reproduce
    with pytest.raises(WeightsMismatch):
        export(weights, tmp_path, onnx=False)
    with pytest.raises(WeightsMismatch):
        check(weights)


def test_export_to_an_unwritable_place(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputFolderError, match="file is a file, not a folder"):
        export(pack_trained(trained_tiny()), tmp_path / "file" / "out")


def test_export_rewrites_its_own_folder_and_refuses_a_users(tmp_path):
    weights = pack_trained(trained_tiny())
    first = export(weights, tmp_path / "out", onnx=False)
    (tmp_path / "out" / "readme.txt").write_text("mine\n")
    again = export(weights, tmp_path / "out", onnx=False)
    assert again.files == first.files and (tmp_path / "out" / "readme.txt").read_text() == "mine\n"
    user = tmp_path / "mine"
    user.mkdir()
    (user / "point.json").write_text("mine\n")
    with pytest.raises(OutputFolderError, match="--force"):
        export(weights, user, onnx=False)
    assert [p.name for p in user.iterdir()] == ["point.json"] and (user / "point.json").read_text() == "mine\n"
    forced = export(weights, user, onnx=False, force=True)
    assert json.loads((user / "point.json").read_text()) == json.loads(json.dumps(weights.metadata()))
    assert set(forced.files) == {"pt", "json", "pt2"}


def test_onnx_missing_names_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    hidden = {"onnx", "onnxscript"}  # neither installed, whatever this machine has
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in hidden else real(name, *a))
    assert onnx_missing() == "ONNX skipped: onnx and onnxscript not installed (pip install 'dse[onnx]')"
    hidden = {"onnxscript"}
    if real("onnx") is not None:
        assert onnx_missing() == "ONNX skipped: onnxscript not installed (pip install 'dse[onnx]')"
