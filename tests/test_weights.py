import pytest
import torch
from trained_tiny import pack_trained, test_top1, trained_tiny

from dse.model import build_model
from dse.plan import cost
from dse.space import DesignPoint
from dse.weights import WeightsError, WeightsMismatch, check, choose_precision, load, payload_mb, read, save

pytestmark = pytest.mark.slow  # trains the tiny network once per session (about 20 s on one core)


def test_trained_network_learned_something():
    t = trained_tiny()
    assert t.top1 > 100 / t.point.num_classes + 5  # well above chance, so accuracy checks mean something


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_saved_weights_restore_logits_and_test_accuracy(tmp_path, precision):
    t = trained_tiny()
    path = save(pack_trained(t, precision), tmp_path / "w.pt")
    model = load(path)  # rebuilt from the point in the file
    assert model.point == t.point and not model.training
    x = read(path).normalise(t.data.test_images[:16])
    with torch.no_grad():
        restored, trained = model(x), t.model(x)
    if precision == "fp32":
        assert torch.equal(restored, trained)
    else:  # fp16 conv weights: logits within fp16's relative precision
        assert torch.allclose(restored, trained, rtol=1e-2, atol=2e-2)
    assert check(read(path)).agree == 8
    # the whole test split: the restored network scores exactly what was recorded
    assert test_top1(model, t.data) == t.top1


def test_fp16_halves_the_conv_weights_and_is_chosen_only_when_accuracy_is_unchanged(tmp_path):
    t = trained_tiny()
    sizes = {p: save(pack_trained(t, p), tmp_path / f"{p}.pt").stat().st_size for p in ("fp32", "fp16")}
    conv_bytes = sum(v.numel() for v in t.model.state_dict().values() if v.ndim > 1) * 2
    assert sizes["fp32"] - sizes["fp16"] == pytest.approx(conv_bytes, rel=0.05)

    def score(model):
        return test_top1(model, t.data)

    assert choose_precision(t.model, score) == "fp16"  # measured: fp16 weights keep this network's top-1
    # a recorded accuracy the rounded network cannot reach keeps fp32
    assert choose_precision(t.model, score, recorded=t.top1 + 1) == "fp32"


def test_check_refuses_other_weights():
    t = trained_tiny()
    weights = pack_trained(t)
    other = build_model(t.point)  # untrained: same shapes, other logits
    with pytest.raises(WeightsMismatch, match="does not match its record"):
        check(weights, other.eval())


def test_read_refuses_what_is_not_a_weights_file(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"not torch")
    with pytest.raises(WeightsError, match="not a dse weights file"):
        read(tmp_path / "x.pt")
    torch.save({"a": torch.zeros(1)}, tmp_path / "y.pt")
    with pytest.raises(WeightsError, match="no 'dse-weights' header"):
        read(tmp_path / "y.pt")
    with pytest.raises(WeightsError, match="no such"):
        load(tmp_path / "missing.pt")


def test_payload_and_quantized_sizes_follow_the_plan():
    p = DesignPoint()
    c = cost(p)
    assert payload_mb(p, "fp32") == c.size_mb == 4 * c.size_mb_int8 == 8 * c.size_mb_int4
    assert payload_mb(p, "fp16") == 2 * c.size_mb_int8
