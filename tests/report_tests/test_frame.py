"""Reading a study into the tidy per-trial table, from paths and URLs, without ever writing."""

from __future__ import annotations

import sqlite3
import uuid

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from dse.errors import StorageError
from dse.plan import cost
from dse.report.frame import grid_points, load_studies, study_data
from dse.space import DesignPoint
from dse.study.storage import open_existing as open_storage

from .conftest import snapshot
from .studies import BASE, SR_VALUES, make_sweep

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def test_one_row_per_trial_with_the_layout_columns(sr_db):
    (data,) = load_studies(str(sr_db))
    f = data.frame
    assert data.name == "sr" and data.kind == "sweep" and data.swept == ("sr",)
    assert len(f) == 14  # 6 points x 2 seeds + the running one + the queued one
    assert f["state"].value_counts().to_dict() == {"COMPLETE": 11, "FAIL": 1, "RUNNING": 1, "WAITING": 1}
    for col in ("number", "state", "sr", "seed", "top1", "top5", "size_mb", "imagenet_size_mb", "n_params", "macs",
                "train_seconds", "device", "fail_reason", "epochs", "label"):
        assert col in f.columns
    assert str(f["seed"].dtype) == "Int64"
    failed = f[f["state"] == "FAIL"].iloc[0]
    assert failed["label"] == "sr=0.5" and failed["seed"] == 1 and "non-finite" in failed["fail_reason"]
    assert f[f["state"] == "FAIL"]["top1"].isna().all()  # a failure has no accuracy, not 0


def test_queued_trial_gets_its_params_and_size_from_the_cost_model(sr_db):
    (data,) = load_studies(str(sr_db))
    queued = data.frame[data.frame["state"] == "WAITING"].iloc[0]
    assert queued["sr"] == 0.875 and queued["seed"] == 1
    expected = cost(BASE.replace(sr=0.875))
    assert queued["size_mb"] == pytest.approx(expected.size_mb)
    assert queued["imagenet_size_mb"] == pytest.approx(expected.imagenet_size_mb)


def test_curves_come_from_intermediate_values(sr_db):
    (data,) = load_studies(str(sr_db))
    c = data.curves
    first = c[c["number"] == 0]
    assert first["epoch"].tolist() == [1, 2, 3, 4]
    assert first["top1"].iloc[-1] == pytest.approx(data.frame.loc[0, "top1"])


def test_reading_changes_no_file(studies_dir, tmp_path):
    before = snapshot(studies_dir)
    for name in ("sr.db", "two.db", "search.db"):
        load_studies(str(studies_dir / name))
    load_studies(f"sqlite:///{studies_dir / 'sr.db'}")
    assert snapshot(studies_dir) == before


def test_a_wal_database_is_read_without_leaving_wal_files(tmp_path):
    path = tmp_path / "wal.db"
    make_sweep(f"sqlite:///{path}", "w", {"sr": (0.25,)}, seeds=1)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    con.close()
    before = snapshot(tmp_path)
    (data,) = load_studies(str(path))
    assert len(data.frame) == 1
    assert snapshot(tmp_path) == before  # no -wal / -shm left behind


def _written(path, content: bytes):
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing.db", "no such file"),
    (lambda p: p, "is a directory"),
    (lambda p: _written(p / "empty.db", b""), "is empty"),
    (lambda p: _written(p / "notes.db", b"hello\n"), "not an Optuna study"),
    (lambda p: _written(p / "data.json", b'{"a": 1}\n'), "not an Optuna study"),
    (lambda p: _other_sqlite(p / "other.db"), "SQLite database but not an Optuna study"),
])
def test_bad_inputs_raise_one_line_and_create_nothing(tmp_path, make, message):
    target = make(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(StorageError, match=message) as info:
        load_studies(str(target))
    assert "\n" not in str(info.value)
    assert snapshot(tmp_path) == before
    with pytest.raises(StorageError):
        load_studies(f"sqlite:///{target}")
    assert snapshot(tmp_path) == before


def _other_sqlite(path):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE songs (title TEXT)")
    con.commit()
    con.close()
    return path


def test_several_studies_in_one_file(studies_dir):
    both = load_studies(str(studies_dir / "two.db"))
    assert sorted(d.name for d in both) == ["sr-a", "sr-b"]
    (one,) = load_studies(str(studies_dir / "two.db"), study_name="sr-b")
    assert one.name == "sr-b"
    with pytest.raises(StorageError, match="no study 'nope'.*sr-a, sr-b"):
        load_studies(str(studies_dir / "two.db"), study_name="nope")


def test_a_plain_optuna_study_without_the_dse_attr():
    study = optuna.create_study(direction="maximize")
    for x, k in ((0.1, 1), (0.5, 2), (0.9, 3)):
        study.enqueue_trial({"x": x, "k": k})
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("k", 1, 3), n_trials=3)
    data = study_data(study)
    assert data.spec == {} and set(data.swept) == {"x", "k"}
    assert data.frame["top1"].notna().all()  # the objective value stands in for top1


def test_journal_file_storage_is_read(tmp_path):
    path = tmp_path / "journal.log"
    storage = JournalStorage(JournalFileBackend(str(path)))
    make_sweep(storage, "j", {"sr": (0.25, 0.5)}, seeds=1)
    before = snapshot(tmp_path)
    (data,) = load_studies(str(path))
    assert data.name == "j" and len(data.frame) == 2
    assert snapshot(tmp_path) == before


def test_grid_forms():
    assert grid_points({"params": ["sr"], "grid": {"sr": [0.25, 0.5]}}) == [{"sr": 0.25}, {"sr": 0.5}]
    assert grid_points({"params": ["sr", "bypass"], "grid": [[0.25, "none"]]}) == [{"sr": 0.25, "bypass": "none"}]
    assert grid_points({"params": ["sr"], "grid": [0.25]}) == [{"sr": 0.25}]
    assert grid_points({"params": ["sr"], "grid": None}) == []


def _postgres_or_skip():
    try:
        open_storage(PG_URL)
    except StorageError as exc:
        if "cannot open" in str(exc):
            pytest.skip(f"PostgreSQL not reachable: {exc}")


def test_postgresql_url():
    _postgres_or_skip()
    name = f"report-test-{uuid.uuid4().hex[:10]}"
    url = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
    make_sweep(url, name, {"sr": SR_VALUES[:3]}, seeds=2)
    try:
        (data,) = load_studies(PG_URL, study_name=name)
        assert len(data.frame) == 6 and data.frame["top1"].notna().all()
        assert data.frame["size_mb"].iloc[0] == pytest.approx(cost(DesignPoint().for_data(10, 3, 32)).size_mb)
    finally:
        optuna.delete_study(study_name=name, storage=url)


def test_unreachable_database_is_one_line():
    with pytest.raises(StorageError, match="cannot open") as info:
        load_studies("postgresql://postgres@127.0.0.1:1/none")
    assert "\n" not in str(info.value)
