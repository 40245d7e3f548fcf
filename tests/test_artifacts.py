import optuna
import pytest
import torch
from optuna.artifacts import get_all_artifact_meta
from trained_tiny import dse_study, pack_trained, trained_tiny

from dse.study.artifacts import (
    WEIGHTS_ATTR,
    ArtifactStoreMissing,
    NoWeights,
    default_location,
    fetch_weights,
    store_for,
)
from dse.weights import check


@pytest.mark.slow  # trains the tiny network (about 20 s on one core)
def test_weights_kept_with_a_sqlite_study_restore_the_trained_network(tmp_path):
    t = trained_tiny()
    path, _ = dse_study(tmp_path)
    assert (tmp_path / "studies" / "demo.artifacts").is_dir()
    storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
    study = optuna.load_study(study_name="demo", storage=storage)
    kept = study.trials[0]
    assert kept.user_attrs["weights_precision"] == "fp16" and kept.user_attrs["weights_bytes"] > 0
    # linked through Optuna's artifact API, so optuna-dashboard lists it with the trial
    metas = get_all_artifact_meta(kept, storage=storage)
    assert [m.artifact_id for m in metas] == [kept.user_attrs[WEIGHTS_ATTR]]

    store = store_for(path)
    weights = fetch_weights(study, 0, store)
    model = weights.model()
    assert weights.point == t.point and not model.training
    x = pack_trained(t).normalise(t.data.test_images[:16])
    with torch.no_grad():
        restored, trained = model(x), t.model(x)
    # fp16 conv weights: logits within fp16's relative precision, the same predicted classes
    assert torch.allclose(restored, trained, rtol=1e-2, atol=2e-2)
    assert torch.equal(restored.argmax(1), trained.argmax(1))
    assert weights.record["top1"] == kept.user_attrs["top1"] and check(weights).agree == 8

    with pytest.raises(NoWeights, match="trial 1 of 'demo' has no stored weights"):
        fetch_weights(study, 1, store)
    with pytest.raises(NoWeights, match="no trial 7"):
        fetch_weights(study, 7, store)
    (tmp_path / "studies" / "demo.artifacts").rename(tmp_path / "moved")
    with pytest.raises(ArtifactStoreMissing, match="no artifact store"):
        store_for(path)
    with pytest.raises(NoWeights, match="not in the artifact store"):
        fetch_weights(study, 0, store_for(path, tmp_path / "empty", create=True))
    assert fetch_weights(study, 0, store_for(path, tmp_path / "moved")).point == t.point


def test_store_location():
    assert str(default_location("studies/sr.db")) == "studies/sr.artifacts"
    assert str(default_location("sqlite:///studies/sr.db")) == "studies/sr.artifacts"
    assert default_location("postgresql://u@h/db") is None
    with pytest.raises(ArtifactStoreMissing, match="--artifacts"):
        store_for("postgresql://u@h/db")
    with pytest.raises(ArtifactStoreMissing, match="bucket only"):
        store_for("postgresql://u@h/db", "s3://bucket/prefix")
