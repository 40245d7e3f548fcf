"""The study a command works on: what to run (`Spec`), how (`RunOptions`), and opening it with its definition
checked (`open_study`).

The definition is written before any trial is queued, so a study with trials and no definition was not made by
dse, and a start that died before queueing leaves a study any rerun completes (`dse.study.queue`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from dse.errors import SweepError
from dse.space import DesignPoint
from dse.study import layout
from dse.study.storage import (
    GRACE_PERIOD_S,
    HEARTBEAT_INTERVAL_S,
    check_sqlite_file,
    describe,
    open_storage,
    resolve,
    sqlite_path,
)


class Spec(Protocol):
    """What the runner needs of a sweep (`dse.study.grid.SweepSpec`) or a search (`dse.study.search.SearchSpec`)."""

    kind: str
    dataset: str
    data_dir: str | None
    subset: int | None
    point: DesignPoint
    prune: str
    val_fraction: float

    @property
    def recipe(self) -> Any: ...

    def definition(self) -> dict: ...
    def directions(self) -> list[str]: ...
    def distributions(self) -> dict[str, BaseDistribution]: ...
    def sampler(self) -> optuna.samplers.BaseSampler: ...
    def initial_params(self) -> list[dict]: ...
    def target(self) -> int: ...
    def skip_reason(self, size_mb: float) -> str | None: ...
    def constraint(self, size_mb: float) -> float | None: ...
    def values(self, top1: float, size_mb: float, *extra: float) -> list[float]: ...


@dataclass(frozen=True)
class RunOptions:
    """How to run (not what): where the study lives, how many workers, on which device."""

    storage: str | None  # path or URL; None: studies/<study>.db
    study_name: str
    workers: int = 1
    device: str = "auto"
    retries: int = 2
    heartbeat_interval: int = HEARTBEAT_INTERVAL_S
    grace_period: int = GRACE_PERIOD_S
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])  # tells this command's trials apart
    keep_weights: str | None = None  # all | best | none; None: all within a disk budget (dse.study.keep.plan)
    artifacts: str | None = None  # the artifact store; None: beside an SQLite study
    latency_runs: int | None = None  # timed runs per latency; None: dse.train.latency's default; 0: none

    def __post_init__(self) -> None:
        if self.keep_weights not in (None, "all", "best", "none"):
            raise SweepError(f"--keep-weights must be all, best or none; got {self.keep_weights!r}")
        if self.workers < 1:
            raise SweepError(f"--workers must be >= 1; got {self.workers}")
        if self.retries < 0:
            raise SweepError(f"--retries must be >= 0; got {self.retries}")


@dataclass
class StudyHandle:
    study: optuna.Study
    storage: optuna.storages.RDBStorage
    spec: Spec
    options: RunOptions

    @property
    def where(self) -> str:
        return describe(self.storage.url)

    def trials(self, states=None) -> list[FrozenTrial]:
        return self.study.get_trials(deepcopy=False, states=tuple(states) if states else None)

    def trial_id(self, number: int) -> int:
        """The storage's id of a trial, through BaseStorage's public lookups."""
        study_id = self.storage.get_study_id_from_name(self.study.study_name)
        return self.storage.get_trial_id_from_study_id_trial_number(study_id, number)


def open_study(spec: Spec, options: RunOptions, *, create: bool = True, check: bool = True) -> StudyHandle | None:
    """Load the study and check its definition, or create it and write the definition (before any trial).

    With create=False a missing study gives None and nothing is written.
    """
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    path = sqlite_path(resolve(options.storage, options.study_name))
    if not create and path is not None and not path.exists():
        if check:
            check_sqlite_file(path)
        return None
    storage = open_storage(options.storage, options.study_name, heartbeat_interval=options.heartbeat_interval,
                           grace_period=options.grace_period, check=check,
                           on_stale=lambda study, trial: layout.requeue(study, trial, options.retries))
    name, sampler = options.study_name, spec.sampler()
    if name not in optuna.get_all_study_names(storage):
        if not create:
            return None
        study = optuna.create_study(storage=storage, study_name=name, directions=spec.directions(), sampler=sampler,
                                    pruner=_pruner(spec), load_if_exists=True)
    else:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=_pruner(spec))
    handle = StudyHandle(study, storage, spec, options)
    _check_definition(handle)
    return handle


def _pruner(spec: Spec) -> optuna.pruners.BasePruner:
    if spec.prune == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if spec.prune == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(spec.recipe.epochs, 2))
    return optuna.pruners.NopPruner()


def _check_definition(handle: StudyHandle) -> None:
    study, spec = handle.study, handle.spec
    where = f"study {study.study_name!r} in {handle.where}"
    stored, wanted = layout.read_definition(study), spec.definition()
    if [d.name.lower() for d in study.directions] != spec.directions():
        kind = (stored or {}).get("kind", "non-dse")
        raise SweepError(f"{where} optimizes other objectives (a {kind} study); choose another --study-name")
    if stored is None:
        # Adopted only when every trial is a (point, seed) dse queued (an older dse killed while queueing); a plain
        # Optuna study's queued trials carry no queued_params and stay the user's, untouched.
        if any(t.state != TrialState.WAITING or layout.QUEUED_ATTR not in t.user_attrs for t in handle.trials()):
            raise SweepError(f"{where} was not made by dse (it has no sweep definition); choose another "
                             "--study-name")
        layout.write_definition(study, wanted)  # new, or made by a start that died before writing it
        stored = layout.read_definition(study)  # read fresh from storage: another start may have written its own
    differ = layout.difference_lines(stored, wanted)
    if differ:
        raise SweepError(f"{where} holds another {stored.get('kind', 'study')} definition ({'; '.join(differ)}); "
                         "run it with the same options to resume, or choose another --study-name")
