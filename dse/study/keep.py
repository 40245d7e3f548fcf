"""What a sweep or search keeps of each trained trial besides its accuracy: the weights (`--keep-weights`) and
the network's CPU latency (docs: README "Take a network home").

The policy: `plan` (what this run keeps, and the line the CLI prints: all while the analytic total of the
study's weights fits `KEEP_BUDGET_MB`, else best), `keeps` (whether a trial that just finished keeps its weights).
Optuna offers no public way to delete an artifact, so the ``best`` policy decides at upload time: a trial's
weights are kept when no finished trial beats it on both accuracy and size (it is on the accuracy-size Pareto
front when it ends, by `dse.stats.pareto_mask`, the rule the front itself is drawn with). The final
front is always among the kept trials.

The runner calls a `Keeper` at two moments of a trial, both while the trial is still running (Optuna refuses
attrs on finished trials):

* `before_training`: a search with a latency budget or a latency objective measures the point's latency on an
  untrained network (dense convolutions take the same time whatever the weights, `dse.train.latency`), records it,
  and skips a point over the budget as the size budget does;
* `after_training`: the trained network's latency is measured (unless it was measured before) and its weights
  are stored in the study's artifact store (`dse.study.artifacts`) when the policy keeps them. The stored file is fp16
  where the fp16 network scores exactly what the fp32 one does on the validation split (`dse.weights.
  choose_precision`): a choice, so made on the split that chooses, never on test (test only for data without a
  validation split, as every choice of such a study falls back to it).

A train function that hands back no network (`RunResult.model` None) has nothing to keep or time.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from optuna.trial import TrialState

from dse.data import DeviceData
from dse.fmt import number
from dse.model import build_model
from dse.space import DesignPoint
from dse.stats import pareto_mask
from dse.study import layout
from dse.study.artifacts import ArtifactStoreMissing, check_store, default_location, store_for, store_weights
from dse.study.search import size_corner
from dse.study.storage import resolve
from dse.train import evaluate
from dse.train.latency import RUNS, Latency, measure
from dse.weights import WeightsError, choose_precision, pack, payload_mb

LATENCY_OBJECTIVE = "latency"
KEEP_POLICIES = ("all", "best", "none")
KEEP_BUDGET_MB = 1024.0  # the default policy keeps all weights of a sweep whose estimate stays under this


def policy_points(spec) -> list:
    """One design point per trial the study will train, for the disk estimate: the sweep's grid x seeds; for a
    search, its largest point within the bounds once per --trials (an upper bound)."""
    if spec.kind == "sweep":
        return [spec.point.replace(**{k: v for k, v in params.items() if k != "seed"})
                for params in spec.initial_params()]
    return [largest_point(spec)] * spec.target()


def largest_point(spec):
    """The bounds' largest corner (`dse.study.search.size_corner`), over the bypass choices."""
    return size_corner(spec, largest=True)


def plan(spec, options):
    """The `KeepPlan` of this run (the policy the workers apply and the line the CLI prints).

    Without --keep-weights: all when the study's weights fit `KEEP_BUDGET_MB`, else best; a study in a
    database server without --artifacts keeps none (said in the line). An explicit all/best there is refused.
    """
    if options.artifacts is not None:
        check_store(options.artifacts)  # before any study is written
    server = default_location(resolve(options.storage, options.study_name)) is None and options.artifacts is None
    if server and options.keep_weights in ("all", "best"):
        raise ArtifactStoreMissing(f"--keep-weights {options.keep_weights}: a study in a database server keeps "
                                   "its weights in a store named with --artifacts (a shared directory, s3://bucket "
                                   "or gs://bucket)")
    if server and options.keep_weights is None:
        return KeepPlan("none", 0.0, 0.0, "keeping no weights: a study in a database server needs --artifacts "
                        "DIR|s3://bucket|gs://bucket to keep them")
    return plan_keep(policy_points(spec), options.keep_weights)


@dataclass
class Keeper:
    """One worker's keeping: the policy, the store (opened once), how many latency runs."""

    handle: Any  # dse.study.handle.StudyHandle
    data: Any  # the worker's DeviceData (test split, normalisation); a host Dataset is put on the CPU
    policy: str
    store: Any  # an optuna.artifacts store, or None when nothing is kept
    latency_runs: int | None = None  # None: dse.train.latency.RUNS; 0: no latency measured

    @classmethod
    def for_worker(cls, handle, data) -> Keeper:
        options = handle.options
        policy = plan(handle.spec, options).policy
        store = None
        if policy != "none":
            store = store_for(resolve(options.storage, options.study_name), options.artifacts, create=True)
        if not isinstance(data, DeviceData):
            data = DeviceData(data, "cpu")
        return cls(handle, data, policy, store, options.latency_runs)

    # -- latency

    def _wanted_before(self) -> bool:
        return getattr(self.handle.spec, "max_latency_ms", None) is not None

    def _measure(self, trial, model, point) -> Latency:
        runs = RUNS if self.latency_runs is None else self.latency_runs
        latency = measure(model, (point.in_channels, point.input_size, point.input_size), runs=runs)
        layout.record_latency(trial, latency.attrs())
        return latency

    def before_training(self, trial, point) -> str | None:
        """A skip reason for a point over the latency budget (measured now), else None."""
        if not self._wanted_before() or self.latency_runs == 0:
            return None
        latency = self._measure(trial, build_model(point), point)
        budget = getattr(self.handle.spec, "max_latency_ms", None)
        if budget is not None and latency.single_ms > budget:
            return over_latency_budget(latency, budget)
        return None

    # -- after training

    def after_training(self, trial, point, result, on_phase: Callable[[str], None] | None = None) -> list[float]:
        """Latency and weights of the trained network; the extra objective values the spec asks for. `on_phase`
        hears each step as it starts (`measuring latency`, `storing weights`), for the live display."""
        on_phase = on_phase or (lambda phase: None)
        model = getattr(result, "model", None)
        wanted = getattr(self.handle.spec, "objective", "") == LATENCY_OBJECTIVE
        latency = trial.user_attrs.get("latency_ms")  # measured before training under a latency budget
        if latency is None and self.latency_runs != 0 and (model is not None or wanted):
            if model is None:  # a trainer that hands back no network: an untrained one times the same
                model = build_model(point)
            on_phase("measuring latency")
            latency = self._measure(trial, model, point).single_ms
        if getattr(result, "model", None) is not None:
            self._store(trial, point, result, on_phase)
        return [math.nan if latency is None else float(latency)] if wanted else []

    def _store(self, trial, point, result, on_phase: Callable[[str], None]) -> None:
        finished = self._finished() if self.policy == "best" else []  # only "best" compares (a read of the study)
        # this trial and those finished before it are the candidates; one split ranks them all
        split = layout.choosing_split([result.val_top1, *(val for val, _, _ in finished)])

        def chosen(val, test):
            return val if split == layout.VALIDATION else test

        if not keeps(self.policy, (chosen(result.val_top1, result.top1), result.size_mb),
                     [(chosen(val, test), mb) for val, test, mb in finished]):
            return
        on_phase("storing weights")
        cpu = copy.deepcopy(result.model).to("cpu", torch.float32, memory_format=torch.contiguous_format).eval()
        precision = choose_precision(cpu, top1_on_choosing_split(self.data)[1])
        record = {"dataset": self.data.info.name, "top1": result.top1, "val_top1": result.val_top1,
                  "study": self.handle.study.study_name, "trial": trial.number}
        weights = pack(cpu, point, precision=precision, mean=self.data.mean, std=self.data.std,
                       probe_images=self.data.test_images.cpu(), probe_labels=self.data.test_labels.cpu(),
                       record=record)
        store_weights(trial, weights, self.store)

    def _finished(self) -> list[tuple[float | None, float, float]]:
        """(validation top-1 or None, test top-1, size MB) of the completed trials so far."""
        out = []
        for t in self.handle.trials([TrialState.COMPLETE]):
            a = t.user_attrs
            if a.get(layout.TEST_TOP1) is not None and a.get("size_mb") is not None:
                out.append((a.get(layout.VAL_TOP1), float(a[layout.TEST_TOP1]), float(a["size_mb"])))
        return out


def over_latency_budget(latency: Latency, budget: float) -> str:
    """The skip reason of a point over the latency budget: its median with the spread of its runs, and whether
    that spread says the machine was busy (then the point may well fit on an idle one)."""
    text = (f"over the latency budget: {number(latency.single_ms, 3)} ms (median; middle half of the runs "
            f"{number(latency.single_q1_ms, 3)}-{number(latency.single_q3_ms, 3)} ms) > "
            f"{number(budget, 6, significant=True)} ms per image on this CPU; not trained")
    if latency.busy:
        text += (f"; the runs spread over {number(100 * latency.spread, 0)}% of their median: the machine was busy, "
                 "so the point may fit on an idle one")
    return text


def top1_on_choosing_split(data) -> tuple[str, Callable[[torch.nn.Module], float]]:
    """The split a kept network's precision is chosen on, and model -> top-1 % on it: validation where the
    DeviceData holds one (`layout.VALIDATION`: what chooses everywhere in dse), else test (`layout.TEST`: data
    without a validation split, whose every choice falls back to test). Evaluated where the data lives (a GPU
    sweep's stays on the GPU), in fp32, by training's own evaluation loop (`dse.train.evaluate`); the model itself
    is not moved."""
    split = layout.VALIDATION if data.num_val else layout.TEST

    def top1(model) -> float:
        net = copy.deepcopy(model).to(data.device).eval()
        batches = data.eval_batches("val" if split == layout.VALIDATION else "test", 500)
        return evaluate(net, batches, data.info.num_classes)[0]

    return split, top1


# ------------------------------------------------------------------------------------------------ policy


def keeps(policy: str, candidate: tuple[float, float], finished: Iterable[tuple[float, float]]) -> bool:
    """Whether a trial that just finished with (top-1 %, size MB) keeps its weights, given those finished
    before it: all, none, or best (on the accuracy-size Pareto front of the trials so far)."""
    if policy not in KEEP_POLICIES:
        raise WeightsError(f"--keep-weights must be one of {', '.join(KEEP_POLICIES)}; got {policy!r}")
    if policy == "all":
        return True
    if policy == "none":
        return False
    finished = list(finished)
    return pareto_mask([*(acc for acc, _ in finished), candidate[0]], [*(mb for _, mb in finished), candidate[1]])[-1]


@dataclass(frozen=True)
class KeepPlan:
    policy: str  # all | best | none
    all_mb: float  # analytic size of every trial's weights (parameters at `precision`)
    budget_mb: float
    reason: str  # one line for the user: what is kept and why

    def line(self) -> str:
        return self.reason


def plan_keep(points: Sequence[DesignPoint], policy: str | None = None, *, precision: str = "fp16",
              budget_mb: float = KEEP_BUDGET_MB) -> KeepPlan:
    """What a study of these trials (one point per trial, seeds repeated) keeps. No policy: all when the
    analytic total stays within `budget_mb`, else best."""
    total = sum(payload_mb(p, precision) for p in points)
    n = len(points)
    if policy is None:
        policy = "all" if total <= budget_mb else "best"
        why = "within" if policy == "all" else "over"
        return KeepPlan(policy, total, budget_mb, f"keeping {policy} weights: {n} trials x their {precision} "
                        f"weights = {total:.1f} MB, {why} the {budget_mb:g} MB budget")
    if policy not in KEEP_POLICIES:
        raise WeightsError(f"--keep-weights must be one of {', '.join(KEEP_POLICIES)}; got {policy!r}")
    detail = {"all": f"{total:.1f} MB for {n} trials", "none": "no weights kept",
              "best": f"at most {total:.1f} MB (the trials on the accuracy-size front as they finish)"}[policy]
    return KeepPlan(policy, total, budget_mb, f"keeping {policy} weights: {detail} ({precision})")
