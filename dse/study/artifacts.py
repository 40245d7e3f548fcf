"""Trained weights kept with their study, through Optuna's artifact API (public functions only).

Each kept trial's dse weights file (`dse.weights`) is uploaded with `optuna.artifacts.upload_artifact` while
the trial runs, so Optuna links it to the trial (optuna-dashboard lists it) and the trial's user attr
``weights_artifact_id`` names it. The store sits beside an SQLite study (``studies/sr.db`` ->
``studies/sr.artifacts/``); a PostgreSQL study names its store explicitly: a directory every machine of the
sweep can reach (NFS), ``s3://bucket`` or ``gs://bucket``.

Which trials keep their weights (`--keep-weights`) is `dse.study.keep`'s decision; this module only stores and
fetches them.

Checked against optuna 4.0 .. 5.0 (`download_artifact` and `get_all_artifact_meta` are 4.0's).
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

import optuna
from optuna.artifacts import (
    Boto3ArtifactStore,
    FileSystemArtifactStore,
    GCSArtifactStore,
    download_artifact,
    upload_artifact,
)
from optuna.artifacts.exceptions import ArtifactNotFound

from dse.study.storage import sqlite_path
from dse.weights import Weights, WeightsError, read, to_bytes

WEIGHTS_ATTR = "weights_artifact_id"  # trial user attr: the artifact id of its weights file
PRECISION_ATTR = "weights_precision"  # fp16 | fp32
BYTES_ATTR = "weights_bytes"  # the file's size
ARTIFACTS_SUFFIX = ".artifacts"
WEIGHTS_MIMETYPE = "application/x-dse-weights"


class ArtifactStoreMissing(WeightsError):
    """No artifact store where the study's weights should be."""


class NoWeights(WeightsError):
    """The trial kept no weights."""


# ------------------------------------------------------------------------------------------- the store


def default_location(storage: str | os.PathLike) -> Path | None:
    """``studies/sr.artifacts`` for ``studies/sr.db`` or ``sqlite:///studies/sr.db``; None for a server database."""
    text = os.fspath(storage)
    path = sqlite_path(text) if "://" in text else Path(text)
    return None if path is None else path.with_name(path.stem + ARTIFACTS_SUFFIX)


def open_store(location: str | os.PathLike, *, create: bool = False):
    """An Optuna artifact store: a directory (made when `create`), ``s3://bucket`` (boto3) or ``gs://bucket``
    (google-cloud-storage)."""
    text = os.fspath(location)
    if text.startswith("s3://"):
        return Boto3ArtifactStore(_bucket(text))
    if text.startswith("gs://"):
        return GCSArtifactStore(_bucket(text))
    path = Path(text).expanduser()
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArtifactStoreMissing(f"cannot create the artifact store {path}: {exc.strerror}") from None
    elif not path.is_dir():
        raise ArtifactStoreMissing(f"no artifact store at {path}: the study kept no weights there (sweep with "
                                   "--keep-weights all|best, or pass --artifacts PATH where they are)")
    return FileSystemArtifactStore(str(path))


def check_store(location: str | os.PathLike) -> None:
    """Refuse, before anything is written, a store `open_store(location, create=True)` could not open: a path that
    is a file or under one, a folder that cannot be made, a bucket store without its client library."""
    text = os.fspath(location)
    for scheme, module, package in (("s3://", "boto3", "boto3"), ("gs://", "google.cloud.storage",
                                                                   "google-cloud-storage")):
        if text.startswith(scheme):
            _bucket(text)
            try:
                found = importlib.util.find_spec(module) is not None
            except ModuleNotFoundError:  # google.cloud itself missing
                found = False
            if not found:
                raise ArtifactStoreMissing(f"--artifacts {text} needs {package} (pip install {package})")
            return
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ArtifactStoreMissing(f"--artifacts {path} is a file, not a folder for the artifact store")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ArtifactStoreMissing(f"--artifacts {path} is not writable")
        return
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ArtifactStoreMissing(f"cannot create the artifact store {path}: {parent} is a file")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ArtifactStoreMissing(f"cannot create the artifact store {path}: {parent} is not writable")
            return


def _bucket(url: str) -> str:
    bucket = url.split("://", 1)[1].strip("/")
    if not bucket or "/" in bucket:
        raise ArtifactStoreMissing(f"{url}: give a bucket only (s3://bucket, gs://bucket); Optuna's stores take "
                                   "no prefix")
    return bucket


def store_for(storage: str | os.PathLike, artifacts: str | os.PathLike | None = None, *, create: bool = False):
    """The artifact store of a study: `artifacts` when given, else the directory beside its SQLite file."""
    location = artifacts if artifacts is not None else default_location(storage)
    if location is None:
        raise ArtifactStoreMissing("a study in a database server keeps its weights in a store named with "
                                   "--artifacts (a shared directory, s3://bucket or gs://bucket)")
    return open_store(location, create=create)


# ------------------------------------------------------------------------------------------- keep, fetch


def store_weights(trial: optuna.Trial, weights: Weights, store) -> str:
    """Upload a running trial's weights file and record its artifact id, precision and size on the trial.

    The trial must still be running (Optuna refuses attrs on finished trials): a sweep stores before `tell`.
    """
    data = to_bytes(weights)
    with tempfile.TemporaryDirectory(prefix="dse-weights-") as tmp:
        path = Path(tmp) / f"trial-{trial.number}-weights.pt"
        path.write_bytes(data)
        artifact_id = upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial,
                                      mimetype=WEIGHTS_MIMETYPE)
    trial.set_user_attr(WEIGHTS_ATTR, artifact_id)
    trial.set_user_attr(PRECISION_ATTR, weights.precision)
    trial.set_user_attr(BYTES_ATTR, len(data))
    return artifact_id


def find_trial(study: optuna.Study, number: int) -> optuna.trial.FrozenTrial:
    for trial in study.get_trials(deepcopy=False):
        if trial.number == number:
            return trial
    raise NoWeights(f"study {study.study_name!r} has no trial {number}")


def weights_id(trial: optuna.trial.FrozenTrial, study_name: str = "") -> str:
    """The artifact id of a trial's weights; NoWeights when it kept none."""
    artifact_id = trial.user_attrs.get(WEIGHTS_ATTR)
    if not artifact_id:
        of = f" of {study_name!r}" if study_name else ""
        raise NoWeights(f"trial {trial.number}{of} has no stored weights (it ran with --keep-weights none or best, "
                        "did not complete, or predates kept weights)")
    return artifact_id


def fetch_weights(study: optuna.Study, number: int, store) -> Weights:
    """The weights file kept for trial `number`."""
    artifact_id = weights_id(find_trial(study, number), study.study_name)
    with tempfile.TemporaryDirectory(prefix="dse-weights-") as tmp:
        path = Path(tmp) / "weights.pt"
        try:
            download_artifact(artifact_store=store, file_path=str(path), artifact_id=artifact_id)
        except ArtifactNotFound:
            raise NoWeights(f"trial {number}'s weights (artifact {artifact_id}) are not in the artifact store; "
                            "was the study moved without its .artifacts directory?") from None
        return read(path)
