"""What a sweep's header and live display are shown: the study's trials as views (`Watch`, `trial_views`), the
time left and what that estimate rests on (`estimate`, `estimate_basis`), before any trial finished from a speed
test of the whole trial (`prior_times`) or from other studies' times (`times_elsewhere`)."""

from __future__ import annotations

import time

from dse.cli.live import (
    Snapshot,
    TrialView,
    duration,
    eta_bounds,
    eta_seconds,
    finished_rates,
)
from dse.cli.options import (
    flag,
)
from dse.errors import DesignError, DseError
from dse.plan import cost
from dse.space import format_value

QUICK_HINT_AFTER_S = 600  # a CPU estimate longer than this gets the line on how to make a quick run


class Watch:
    """What the live display is shown: the study's trials turned into a `Snapshot`, with the phase the run is in
    and the prior speed until trials measure their own."""

    def __init__(self, spec, options, started: float) -> None:
        self.spec, self.options, self.started = spec, options, started
        self.started_wall = time.time() - (time.monotonic() - started)
        self.phase, self.rate, self.train_images = "", None, 0
        self.startup = 0.0  # seconds a worker takes to be ready (this process's own start-up, measured)
        self.elsewhere: tuple[tuple[float, float], ...] = ()  # `dse.study.progress.times_elsewhere`
        self.prior: tuple[tuple[float, float], ...] = ()  # `prior_times`
        self.has_val = bool(spec.val_fraction)  # the live top-1's split (a folder's val/ too, once loaded)
        self.names = (*spec.params, "seed") if spec.kind == "sweep" and len(spec.seeds) > 1 else tuple(spec.params)
        self.total = spec.target()  # fixed for the run; a sweep's builds every grid point, too slow for each tick
        self._macs: dict[tuple, float] = {}
        self._planned: tuple[float, ...] | None = None

    def macs(self, params: dict) -> float:
        key = tuple(sorted((k, v) for k, v in params.items() if k != "seed"))
        if key not in self._macs:
            try:
                self._macs[key] = float(cost(self.spec.point.replace(**dict(key))).macs)
            except (DesignError, TypeError):
                self._macs[key] = 0.0
        return self._macs[key]

    def work(self, params: dict) -> float:
        """Analytic work of one trial (`dse.study.progress.work`), as the estimates from other studies count it."""
        from dse.study.progress import work

        return work(self.macs(params), self.train_images, self.spec.recipe.epochs)

    def planned_work(self) -> tuple[float, ...]:
        """Each grid point's work, once the training images are known (a search's points are not known)."""
        if self.spec.kind != "sweep" or not self.train_images:
            return ()
        if self._planned is None:
            self._planned = tuple(self.work(p.to_dict()) for p in self.spec.points())
        return self._planned

    def snapshot(self, trials) -> Snapshot:
        now = time.monotonic()
        return Snapshot(total=self.total, trials=tuple(trial_views(trials, self)), elapsed=now - self.started,
                        taken_at=now, workers=self.options.workers, phase=self.phase, rate=self.rate, prior=self.prior,
                        metric="val top-1" if self.has_val else "test top-1", elsewhere=self.elsewhere,
                        planned_work=self.planned_work())


def trial_views(trials, watch: Watch) -> list[TrialView]:
    """Each trial as the display shows it: retried failures, duplicates and unused asks are left out (a retry
    stands for its failure), so the counts add up to the trials the run is to finish."""
    from optuna.trial import TrialState

    from dse.study import layout

    final = {t.number for t in layout.final_failures(trials, watch.options.retries)}
    now = time.time()
    out = []
    for t in trials:
        params = layout.work_params(t)
        label = ", ".join(f"{k}={format_value(k, params[k])}" for k in watch.names if k in params)
        started = t.datetime_start.timestamp() if t.datetime_start else now
        ended = t.datetime_complete.timestamp() if t.datetime_complete else now
        common = dict(number=t.number, label=label, work=watch.work(params), seconds=max(0.0, ended - started),
                      epochs=watch.spec.recipe.epochs,
                      finished_at=ended - watch.started_wall,
                      epoch_top1=tuple(t.user_attrs.get(layout.EPOCH_VAL_TOP1) or t.user_attrs.get(layout.EPOCH_TOP1)
                                       or ()))
        if t.state == TrialState.WAITING:
            out.append(TrialView(**{**common, "seconds": 0.0}, state="queued"))
        elif t.state == TrialState.RUNNING:
            p = t.user_attrs.get(layout.PROGRESS_ATTR) or {}
            out.append(TrialView(**common, state="running", epoch=int(p.get("epoch", 0)), step=int(p.get("step", 0)),
                                 steps=int(p.get("steps", 0)), images_per_second=p.get("images_per_second"),
                                 phase=str(p.get("phase", ""))))
        elif t.state == TrialState.COMPLETE:
            out.append(TrialView(**common, state="done", top1=t.values[0] if t.values else None,
                                 images_per_second=t.user_attrs.get("images_per_second"),
                                 train_seconds=t.user_attrs.get(layout.RESULT_SECONDS)))
        elif t.state == TrialState.PRUNED:
            skip = t.user_attrs.get(layout.SKIP_REASON_ATTR)
            out.append(TrialView(**common, state="skipped" if skip else "pruned", note=skip or ""))
        elif t.state == TrialState.FAIL and t.number in final:
            out.append(TrialView(**common, state="failed", note=layout.failure(t)[1]))
    return out


def header_line(title: str, study: str, where: str, device: str, left: int, eta: float | None,
                basis: str = "") -> str:
    """One line: what runs, the study and its file, the device, and the trials left with the estimate of their time
    (`estimate`; None: not known yet) and what it rests on (`estimate_basis`)."""
    if not left:
        plan = "nothing left to train"
    elif eta is None:
        plan = f"{left} to train"
    else:
        plan = f"{left} to train, about {duration(eta)} ({basis or 'estimate'})"
    return f"{title} · study {study} in {where} · {device} · {plan}"


def estimate_basis(snap: Snapshot) -> str:
    """What the estimate rests on, and so how far it may be off: the finished trials (their times against the
    model's, `eta_bounds`), one trial, or the speed test (training steps alone: evaluation, latency and weights
    come on top)."""
    rates, bounds = finished_rates(snap), eta_bounds(snap)
    if bounds is not None:
        source = (f"the {len(rates)} finished trials" if rates
                  else f"{len(snap.elsewhere)} trials of the same points in other studies on this device")
        return f"estimate: {duration(bounds[0])} to {duration(bounds[1])}, from the times of {source}"
    if rates:
        return "estimate from 1 finished trial"
    if snap.elsewhere:
        return "estimate from 1 trial of the same point in another study on this device"
    if len(snap.prior) > 1:
        return f"estimate from a speed test of {len(snap.prior)} of the grid's points, lightest to heaviest"
    if snap.rate:
        return "estimate from a speed test of training and evaluation steps"
    return "estimate"


def estimate(snap: Snapshot, base_work: float = 0.0, startup: float = 0.0) -> float | None:
    """Seconds left before the workers start: their `startup` (they start side by side), then the trials
    (`dse.cli.live.eta_seconds`: a sweep's trials not queued yet at its grid's mean work); a new search's, with no
    trial to compare them with, at `base_work` each."""
    known = bool(snap.planned_work) or any(t.work > 0 and t.state != "skipped" for t in snap.trials)
    if known or not base_work or not snap.rate:
        left = eta_seconds(snap)
    else:
        left = snap.remaining * base_work / snap.rate / max(1, min(snap.workers, snap.remaining))
    return None if left is None else left + (startup if snap.remaining else 0.0)


QUICK_RUN = {"dataset": "synthetic", "subset": 2000, "epochs": 1, "base_e": 16, "incr_e": 16}
"""What the long-run hint suggests for a quick CPU run."""


def quick_hint(eta: float, spec) -> str:
    """The long-run hint: only the QUICK_RUN flags that would make this run smaller (none it already has, nor a
    flag for what it varies)."""
    varied = set(getattr(spec, "params", ())) | {name for name, _ in getattr(spec, "bounds", ())}
    now = {"subset": spec.subset, "epochs": spec.recipe.epochs, "base_e": spec.point.base_e,
           "incr_e": spec.point.incr_e}
    add = ["--dataset synthetic"] if spec.dataset != QUICK_RUN["dataset"] else []
    add += [f"{flag(name)} {QUICK_RUN[name]}" for name, value in now.items()
            if name not in varied and (value is None or value > QUICK_RUN[name])]
    mine = " (or --subset with your data)" if add[:1] == ["--dataset synthetic"] and "--subset 2000" in add else ""
    quick = f"for a quick run add {' '.join(add)}{mine}, and " if add else ""
    return f"on this CPU that is about {duration(eta)}; {quick}run the real job on a GPU"


def loading_phase(spec) -> str:
    from dse.data import images_to_decode

    n = images_to_decode(spec.dataset, spec.data_dir, spec.point.input_size)
    return f"decoding {n:,} images (once, into the cache)" if n else f"loading {spec.dataset}"


def times_elsewhere_here(spec, options, dev) -> tuple[tuple[float, float], ...]:
    """The same runs' times in other studies beside this one on this device (`times_elsewhere`), the device named
    as this run's workers will record it (their thread count)."""
    from dse.study.progress import times_elsewhere
    from dse.train import device_name
    from dse.train.device import threads, worker_threads

    with threads(worker_threads(options.workers) if dev.type == "cpu" else None):
        name = device_name(dev)
    return tuple(times_elsewhere(spec, options, name))


def timed_points(spec) -> list:
    """The points the first estimate times: a sweep's lightest, middle and heaviest grid points by MACs (a trial's
    time does not grow as its MACs do, `dse.cli.live.prior_seconds`), else the base point."""
    if spec.kind != "sweep":
        return [spec.point]
    by_macs = {cost(point).macs: point for point in reversed(spec.points())}  # a checked grid: each builds
    macs = sorted(by_macs)
    return [by_macs[m] for m in sorted({macs[0], macs[len(macs) // 2], macs[-1]})]


def prior_times(spec, dev, workers: int, sizes: tuple[int, int, int],
                keep_policy: str) -> tuple[tuple[float, float], ...]:
    """(work, seconds) of one worker's whole trial at each of `timed_points` (`dse.study.progress.work`): its
    training steps, every epoch's evaluation, the latency runs and the weights' check, each kind of pass timed for
    a few steps under the workers' own thread count (`dse.train.bench.trial_speed`) and counted for the `sizes`
    (train, validation, test images) of this run. The ETA before the first trial has finished; start-up is not
    in it. On a CPU a batch of at most 128 keeps this to seconds a point. Empty where a point cannot be timed."""
    from dse.study.progress import work
    from dse.train import TrainingFailed
    from dse.train.bench import trial_images, trial_seconds, trial_speed
    from dse.train.device import worker_threads

    recipe = spec.recipe if dev.type == "cuda" else spec.recipe.replace(batch_size=min(spec.recipe.batch_size, 128))
    train, val, test = sizes
    images = trial_images(spec.recipe.epochs, train, val, test, keep_policy != "none")
    out = []
    for point in timed_points(spec):
        try:
            speed = trial_speed(point, recipe, device=dev,
                                threads=worker_threads(workers) if dev.type == "cpu" else None)
        except (TrainingFailed, RuntimeError, DseError):
            return ()  # no prior: the ETA appears after the first steps
        out.append((work(cost(point).macs, train, spec.recipe.epochs), trial_seconds(speed, images)))
    return tuple(out)


def prior_rate(times: tuple[tuple[float, float], ...]) -> float | None:
    """Work per second of the timed points together: what a search's untried points are counted at."""
    return sum(w for w, _ in times) / sum(s for _, s in times) if times else None
