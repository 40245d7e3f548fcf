"""Live progress for long runs: a display redrawn on a timer in a terminal, plain lines everywhere else.

The runner (a sweep, a search, `dse train`, `dse bench`) hands the display plain, immutable state: a `Snapshot`
of a study's trials, or a `RunView` of one training run. Pure functions turn state into lines (`sweep_lines`,
`run_lines`, and the `SweepLog` / `RunLog` for non-terminals), so what a person sees is tested without a
terminal; `LiveDisplay` only decides when to draw. Because the terminal view is redrawn on a timer from the
last state and the time elapsed since it was taken, elapsed time and ETA keep moving between events.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from rich.console import Group
from rich.live import Live
from rich.text import Text

from dse.space import DATA_FIELDS, format_value

FINISHED = ("done", "pruned", "failed")
STATES = ("queued", "running", *FINISHED, "skipped")
SEP = " · "


# ------------------------------------------------------------------------------------------------ formatting


def duration(seconds: float) -> str:
    """8s, 3m05s, 2h07m: short enough for a status line."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def clip(text: str, width: int) -> str:
    """One line no wider than `width` (an ellipsis marks a cut)."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def fit(parts: Iterable[tuple[int, str]], width: int, sep: str = SEP) -> str:
    """Join (priority, text) parts in order, leaving out the least important (highest priority number, the
    later first) until the line fits `width`; a line that still does not fit is clipped."""
    kept = [(i, p, t) for i, (p, t) in enumerate(parts) if t]
    while len(sep.join(t for _, _, t in kept)) > width and len({p for _, p, _ in kept}) > 1:
        worst = max(p for _, p, _ in kept)
        drop = max(i for i, p, _ in kept if p == worst)
        kept = [k for k in kept if k[0] != drop]
    return clip(sep.join(t for _, _, t in kept), width)


def bar(fraction: float, width: int) -> str:
    fraction = min(1.0, max(0.0, fraction))
    done = int(round(fraction * width))
    return "━" * done + "─" * (width - done)


def describe_point(point: Any) -> str:
    """A design point's own fields (not those the data decides), e.g. `base_e 128, ..., norm batch`."""
    return ", ".join(f"{k} {format_value(k, v)}" for k, v in point.to_dict().items() if k not in DATA_FIELDS)


# ------------------------------------------------------------------------------------------------ a study


@dataclass(frozen=True)
class TrialView:
    """One trial as the display needs it."""

    number: int
    label: str  # what tells it apart from the others, e.g. "sr=0.25 seed=1"
    state: str  # one of STATES
    work: float = 0.0  # analytic cost of the whole trial: MACs per image x training images x epochs
    seconds: float = 0.0  # running: time so far (when the snapshot was taken); finished: the whole trial's duration
    train_seconds: float | None = None  # done: its training run (epochs and evaluations; "train s"), within `seconds`
    finished_at: float = 0.0  # finished: seconds into the run (orders the recent list)
    epoch: int = 0  # running: the epoch in progress, 1-based; 0 before its first step
    epochs: int = 0
    step: int = 0  # running: steps done in this epoch
    steps: int = 0  # steps per epoch
    epoch_top1: tuple[float, ...] = ()  # top-1 % after each finished epoch
    top1: float | None = None  # done: the result
    images_per_second: float | None = None
    note: str = ""  # failed or pruned: why
    phase: str = ""  # running: what it does ("training", "evaluating epoch 2", "measuring latency", ...)

    def fraction(self) -> float:
        """Share of the trial's training done (running trials; finished ones count as 1)."""
        if self.state in FINISHED:
            return 1.0
        if self.state != "running" or not self.epochs or not self.steps or self.epoch < 1:
            return 0.0
        return min(1.0, ((self.epoch - 1) * self.steps + self.step) / (self.epochs * self.steps))


@dataclass(frozen=True)
class Snapshot:
    """A study's run at one moment (built by the runner from the study and the workers' progress)."""

    total: int  # trials this run is to finish: a sweep's points x seeds, a search's --trials
    trials: tuple[TrialView, ...] = ()  # the trials known so far
    elapsed: float = 0.0  # seconds since the run started, at `taken_at`
    taken_at: float = field(default_factory=time.monotonic)
    workers: int = 1
    phase: str = ""  # before training, e.g. "decoding 60,000 images (once)"
    rate: float | None = None  # work per second of one worker, if known before any trial has run
    metric: str = "top-1"  # what the trials' top-1 is: "val top-1" where a validation split chooses
    elsewhere: tuple[tuple[float, float], ...] = ()  # (work, seconds) of the same runs in other studies, this device
    planned_work: tuple[float, ...] = ()  # work of each trial a sweep is to run, before the queue holds them all
    prior: tuple[tuple[float, float], ...] = ()  # (work, seconds) of the speed test's whole trial, per point timed

    def count(self, *states: str) -> int:
        return sum(1 for t in self.trials if t.state in states)

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.count(*FINISHED))

    @property
    def queued(self) -> int:
        return max(0, self.remaining - self.count("running"))

    def best(self) -> TrialView | None:
        done = [t for t in self.trials if t.state == "done" and t.top1 is not None]
        return max(done, key=lambda t: t.top1) if done else None


def finished_rates(snap: Snapshot) -> list[float]:
    """Work per second of each trial finished with a result: its whole time (loading, training, every evaluation,
    latency, weights), so an estimate from them counts all a trial does."""
    return [t.work / t.seconds for t in snap.trials if t.state == "done" and t.work > 0 and t.seconds > 0]


def timed_trials(snap: Snapshot) -> list[tuple[float, float]]:
    """(work, seconds) of this run's finished trials, else of the same runs in other studies on this device."""
    own = [(t.work, t.seconds) for t in snap.trials if t.state == "done" and t.work > 0 and t.seconds > 0]
    return own or list(snap.elsewhere)


def trial_time_model(snap: Snapshot) -> tuple[float, float] | None:
    """(seconds every trial takes whatever its size, seconds per unit of work), fitted by least squares to the
    finished trials' whole times: a small network's trial is mostly evaluation, latency and weights, which do
    not scale with its MACs. One size seen (or one trial): the speed test's time for the work and the rest fixed,
    or without a speed test no fixed part. None before any."""
    done = timed_trials(snap)
    if not done:
        return None
    n = len(done)
    mw, ms = sum(w for w, _ in done) / n, sum(s for _, s in done) / n
    var = sum((w - mw) ** 2 for w, _ in done)
    if var <= 1e-12 * mw * mw * n:
        if snap.rate and ms > mw / snap.rate:  # the speed test times the work; the rest of the trial is fixed
            return ms - mw / snap.rate, 1 / snap.rate
        return 0.0, ms / mw
    slope = sum((w - mw) * (s - ms) for w, s in done) / var
    fixed = ms - slope * mw
    if slope <= 0:  # times that do not grow with the work: all of it is fixed
        return ms, 0.0
    if fixed < 0:  # no negative start-up: through the origin
        return 0.0, sum(w * s for w, s in done) / sum(w * w for w, _ in done)
    return fixed, slope


def prior_seconds(snap: Snapshot, work: float) -> float | None:
    """A trial's seconds for its work read off the speed tests of a grid's points (`snap.prior`: its lightest,
    middle and heaviest by MACs), joined by straight lines and extended from the end ones. A trial's time grows
    more slowly than its MACs and not always smoothly (the stem, pooling and evaluation do not grow with a wider
    squeeze; on a CPU pct3x3 1% trained slower than 12.5%), so one point's speed scaled by MACs misreads a grid's
    other points (2.2x on the SR grid of docs/training.md). None with fewer than two sizes timed."""
    curve = _curve(snap)
    return None if curve is None else _on_curve(curve, work)


def _curve(snap: Snapshot) -> list[tuple[float, float]] | None:
    """The speed tests' (work, seconds), by work, where they timed two sizes or more."""
    known = sorted(dict(snap.prior).items())
    return known if len(known) > 1 else None


def _on_curve(curve: list[tuple[float, float]], work: float) -> float:
    i = 1
    while i < len(curve) - 1 and work > curve[i][0]:
        i += 1
    (w0, s0), (w1, s1) = curve[i - 1], curve[i]
    return max(0.0, s0 + (s1 - s0) * (work - w0) / (w1 - w0))


def _prior_pace(snap: Snapshot, curve: list[tuple[float, float]]) -> float:
    """How this run keeps to the speed tests: the finished trials' time over what the tests give them, else that
    of the running trials past their first epoch (cold start and first evaluation behind them), else 1."""
    done = timed_trials(snap)
    if done:
        expected = sum(_on_curve(curve, w) for w, _ in done)
        return sum(s for _, s in done) / expected if expected > 0 else 1.0
    running = [t for t in snap.trials if t.state == "running" and t.work > 0 and t.seconds > 0 and t.epoch >= 2]
    expected = sum(_on_curve(curve, t.work) * t.fraction() for t in running)
    return sum(t.seconds for t in running) / expected if expected > 0 else 1.0


def work_left(snap: Snapshot) -> float:
    """Analytic work of what is left: the unfinished share of running trials, queued ones, and trials not created
    yet (a search) at the mean work of the known ones."""
    return sum(w * share for w, share in _pending(snap))


def _pending(snap: Snapshot) -> list[tuple[float, float]]:
    """(work, share left) of each trial still to finish; those not created yet at the mean work of the grid (a
    sweep whose queue is still being written) or of the trials seen (a search)."""
    out = [(t.work, 1 - t.fraction()) for t in snap.trials if t.state in ("queued", "running")]
    known = list(snap.planned_work) or [t.work for t in snap.trials if t.work > 0 and t.state != "skipped"]
    unseen = max(0, snap.remaining - len(out))
    if unseen and known:
        out += [(sum(known) / len(known), 1.0)] * unseen
    return out


def eta_seconds(snap: Snapshot, now: float | None = None) -> float | None:
    """Seconds left: each trial still to finish at the time the finished ones took for their work
    (`trial_time_model`: evaluation, latency and weights included). A sweep whose grid's speed tests gave a curve
    (`prior_seconds`) reads each trial off it, at the pace the run keeps to it, until finished trials of two sizes
    give their own line. Otherwise, before any finished, the analytic work left
    over the speed of the running ones' finished share, else over the runner's prior `rate` (the speed test:
    which stands until a running trial is past its first epoch, so the first seconds' cold steps do not swing
    the ETA; without it, a trial's speed counts from its first reported step).
    """
    age = 0.0 if now is None else max(0.0, now - snap.taken_at)
    parallel = max(1, min(snap.workers, snap.remaining))
    curve = _curve(snap)
    if curve is not None and len({w for w, _ in timed_trials(snap)}) < 2:
        pending = _pending(snap)  # the speed tests' curve until finished trials of two sizes give their own line
        if len(pending) < snap.remaining:
            return None
        left = sum(_on_curve(curve, w) * share for w, share in pending)
        return max(0.0, left * _prior_pace(snap, curve) / parallel - age)
    model = trial_time_model(snap)
    if model is not None:
        fixed, per_work = model
        pending = _pending(snap)
        if len(pending) < snap.remaining:  # trials whose work nothing tells yet
            return None
        return max(0.0, sum((fixed + per_work * w) * share for w, share in pending) / parallel - age)
    counted = [t for t in snap.trials if t.state == "running" and t.work > 0 and t.seconds > 0]
    if snap.rate:  # the speed test counts evaluation and a cold start too: a trial's own speed replaces it once
        counted = [t for t in counted if t.epoch >= 2]  # its first epoch, cold start and evaluation are behind it
    work_done = sum(t.work * t.fraction() for t in counted)
    seconds = sum(t.seconds for t in counted if t.fraction() > 0)
    rate = work_done / seconds if work_done > 0 and seconds > 0 else snap.rate
    if not rate:
        return None
    return max(0.0, work_left(snap) / rate / parallel - age)


def eta_bounds(snap: Snapshot) -> tuple[float, float] | None:
    """How far the estimate may be off: the ETA scaled by the smallest and largest ratio of a finished trial's
    time to what the model gives it. None until two trials have finished."""
    model, eta, done = trial_time_model(snap), eta_seconds(snap), timed_trials(snap)
    if model is None or eta is None or len(done) < 2:
        return None
    ratios = [seconds / max(1e-9, model[0] + model[1] * work) for work, seconds in done]
    return eta * min(ratios), eta * max(ratios)


def status_line(snap: Snapshot, now: float, width: int = 80) -> str:
    """done, running, queued, failed, elapsed, ETA: the least important parts give way on narrow terminals."""
    age = max(0.0, now - snap.taken_at)
    eta = eta_seconds(snap, now)
    failed = snap.count("failed")
    skipped = snap.count("skipped")
    parts = [
        (0, f"{snap.count('done', 'pruned')}/{snap.total} done"),
        (1, f"{snap.count('running')} running"),
        (2, f"{snap.queued} queued"),
        (1, f"{failed} failed" if failed else ""),
        (3, f"{skipped} over budget" if skipped else ""),
        (0, f"elapsed {duration(snap.elapsed + age)}"),
        (0, f"ETA {duration(eta)}" if eta is not None else "ETA after the first steps"),
    ]
    return fit(parts, width)


def _trial_line(t: TrialView, age: float, width: int, metric: str = "top-1") -> str:
    if t.state == "running":
        if t.epoch < 1:
            where = "starting"
        elif t.phase not in ("", "training", "finishing"):
            where = t.phase  # its steps are done for now: say what it waits for
        else:
            where = f"epoch {t.epoch}/{t.epochs} step {t.step}/{t.steps}"
        parts = [(0, f"  #{t.number} {t.label}"), (0, where),
                 (2, f"{t.images_per_second:,.0f} img/s" if t.images_per_second else ""),
                 (1, f"{metric} {t.epoch_top1[-1]:.1f}%" if t.epoch_top1 else ""),
                 (1, duration(t.seconds + age))]
    elif t.state == "done":
        parts = [(0, f"  #{t.number} {t.label}"), (0, f"{metric} {t.top1:.2f}%" if t.top1 is not None else "done"),
                 (1, duration(t.seconds))]
    else:
        parts = [(0, f"  #{t.number} {t.label}"), (0, t.state + (f": {t.note}" if t.note else ""))]
    return fit(parts, width, sep="  ")


def sweep_lines(snap: Snapshot, now: float, width: int = 80, recent: int = 4) -> list[str]:
    """The terminal view: a bar, the status line, the best so far, each running trial, the last finished."""
    age = max(0.0, now - snap.taken_at)
    finished = snap.count(*FINISHED)
    count = f" {finished}/{snap.total}"
    lines = [bar(finished / max(1, snap.total), max(10, min(40, width - len(count) - 1))) + " " + count.strip()]
    if snap.phase and not snap.count("running"):
        lines.append(clip(f"{snap.phase} · elapsed {duration(snap.elapsed + age)}", width))
    lines.append(status_line(snap, now, width))
    best = snap.best()
    if best is not None:
        lines.append(clip(f"best {snap.metric} {best.top1:.2f}%  #{best.number} {best.label}", width))
    for t in sorted((t for t in snap.trials if t.state == "running"), key=lambda t: t.number):
        lines.append(_trial_line(t, age, width, snap.metric))
    done = sorted((t for t in snap.trials if t.state in FINISHED), key=lambda t: t.finished_at, reverse=True)
    for t in done[:recent]:
        lines.append(_trial_line(t, age, width, snap.metric))
    return lines


class SweepLog:
    """Plain mode: one line per event (phase, a trial started, an epoch finished, a trial finished)."""

    def __init__(self) -> None:
        self.phase = ""
        self.seen: dict[int, tuple[str, int]] = {}  # trial number -> (state, epochs reported)
        self.phases: dict[int, str] = {}  # trial number -> the last phase reported

    def __call__(self, snap: Snapshot, now: float) -> list[str]:
        stamp = f"[{duration(snap.elapsed + max(0.0, now - snap.taken_at)):>6}]"
        out = []
        if snap.phase and snap.phase != self.phase:
            out.append(f"{stamp} {snap.phase}")
        self.phase = snap.phase
        earlier = [t for t in snap.trials if t.state in FINISHED and t.finished_at < 0 and t.number not in self.seen]
        if earlier:  # a resumed study: what was finished before this run is one line, not a replay of its events
            out.append(f"{stamp} {resumed_line(earlier, snap)}")
            self.seen.update((t.number, (t.state, len(t.epoch_top1))) for t in earlier)
        eta: float | None = None
        eta_known = False  # the ETA is the same for every trial of this call: computed at the first that finished
        for t in sorted(snap.trials, key=lambda t: (t.finished_at, t.number)):
            state, epochs = self.seen.get(t.number, ("queued", 0))
            name = f"#{t.number} {t.label}"
            if t.state == "running" and state != "running":
                out.append(f"{stamp} {name}: started")
            for e in range(epochs, len(t.epoch_top1)):
                rate = f", {t.images_per_second:,.0f} img/s" if t.images_per_second else ""
                out.append(f"{stamp} {name}: epoch {e + 1}/{t.epochs} {snap.metric} {t.epoch_top1[e]:.1f}%{rate}")
            if t.state == "running" and t.phase and t.phase != self.phases.get(t.number):
                self.phases[t.number] = t.phase
                if t.phase not in ("training", "finishing"):  # the epoch lines say the training
                    out.append(f"{stamp} {name}: {t.phase}")
            if t.state in FINISHED and state not in FINISHED:
                if not eta_known:
                    eta, eta_known = eta_seconds(snap, now), True
                tail = (f" · {snap.count(*FINISHED)}/{snap.total} done"
                        f"{f' · ETA {duration(eta)}' if eta is not None and snap.remaining else ''}")
                if t.state == "done":
                    result = f"{snap.metric} {t.top1:.2f}%" if t.top1 is not None else "done"
                    trained = f" (training {duration(t.train_seconds)})" if t.train_seconds is not None else ""
                    out.append(f"{stamp} {name}: {result} in {duration(t.seconds)}{trained}{tail}")
                else:
                    out.append(f"{stamp} {name}: {t.state}{f' ({t.note})' if t.note else ''}{tail}")
            self.seen[t.number] = (t.state, len(t.epoch_top1))
        return out


def resumed_line(earlier: list[TrialView], snap: Snapshot) -> str:
    """What a resumed study had finished before this run, e.g. `already finished before this run: 2 of 8 (2 done);
    best val top-1 61.25% #1 sr=0.25`."""
    counts = ", ".join(f"{n} {state}" for state in FINISHED if (n := sum(1 for t in earlier if t.state == state)))
    done = [t for t in earlier if t.state == "done" and t.top1 is not None]
    best = max(done, key=lambda t: t.top1) if done else None
    tail = f"; best {snap.metric} {best.top1:.2f}% #{best.number} {best.label}" if best else ""
    return f"already finished before this run: {len(earlier)} of {snap.total} ({counts}){tail}"


# ------------------------------------------------------------------------------------------------ one run


@dataclass(frozen=True)
class RunView:
    """One training run (`dse train`) or benchmark (`dse bench`)."""

    label: str  # what runs, shown on top
    phase: str = ""  # before or between the steps: "loading cifar10", "warm-up"
    epoch: int = 0  # 1-based; 0 when the run has no epochs (bench)
    epochs: int = 0
    step: int = 0  # steps done in this epoch (bench: in all)
    steps: int = 0  # steps per epoch (bench: in all)
    images_per_second: float | None = None
    loss: float | None = None
    top1: float | None = None  # test top-1 after epoch `evaluated`
    elapsed: float = 0.0  # since the command started, at taken_at
    busy: float = 0.0  # since the steps started, at taken_at (the ETA's clock)
    taken_at: float = field(default_factory=time.monotonic)
    val_top1: float | None = None  # validation top-1 after epoch `evaluated`; None without the split
    evaluated: int = 0  # the last epoch evaluated: top1 and val_top1 are its own

    def fraction(self) -> float:
        if not self.steps:
            return 0.0
        epochs = max(1, self.epochs)
        return min(1.0, (max(0, self.epoch - 1) * self.steps + self.step) / (epochs * self.steps))


def accuracy(view: RunView) -> str:
    """The last evaluated epoch's accuracy, each split named: `test top-1 56.1%, val top-1 54.0%`."""
    if view.top1 is None:
        return ""
    text = f"test top-1 {view.top1:.1f}%"
    if view.val_top1 is not None:
        text += f", val top-1 {view.val_top1:.1f}%"
    return text


def run_eta(view: RunView, now: float) -> float | None:
    f = view.fraction()
    if f <= 0 or view.busy <= 0:
        return None
    return max(0.0, view.busy * (1 - f) / f - max(0.0, now - view.taken_at))


def run_lines(view: RunView, now: float, width: int = 80) -> list[str]:
    age = max(0.0, now - view.taken_at)
    lines = [clip(view.label, width)]
    where = (f"epoch {view.epoch}/{view.epochs} · step {view.step}/{view.steps}" if view.epochs
             else f"step {view.step}/{view.steps}" if view.steps else "")
    if view.steps:
        room = width - len(where) - 2
        lines.append(bar(view.fraction(), max(10, min(40, room))) + "  " + where if room >= 10 else clip(where, width))
    eta = run_eta(view, now)
    parts = [(0, view.phase), (1, f"{view.images_per_second:,.0f} img/s" if view.images_per_second else ""),
             (2, f"loss {view.loss:.3f}" if view.loss is not None else ""),
             (1, accuracy(view)),
             (0, f"elapsed {duration(view.elapsed + age)}"),
             (0, f"ETA {duration(eta)}" if eta is not None else "")]
    lines.append(fit(parts, width))
    return lines


class RunLog:
    """Plain mode for one run: a line per phase and per finished epoch."""

    def __init__(self) -> None:
        self.phases: set[str] = set()  # each phase is said once (training resumes after every evaluation)
        self.epochs_reported = 0

    def __call__(self, view: RunView, now: float) -> list[str]:
        stamp = f"[{duration(view.elapsed + max(0.0, now - view.taken_at)):>6}]"
        out = []
        if view.phase and view.phase not in self.phases:
            out.append(f"{stamp} {view.phase}")
            self.phases.add(view.phase)
        finished = view.evaluated if view.top1 is not None else 0
        if finished > self.epochs_reported:
            self.epochs_reported = finished
            parts = [f"epoch {finished}/{view.epochs}", f"loss {view.loss:.3f}" if view.loss is not None else "",
                     accuracy(view), f"{view.images_per_second:,.0f} img/s" if view.images_per_second else ""]
            eta = run_eta(view, now)
            if eta is not None and finished < view.epochs:
                parts.append(f"ETA {duration(eta)}")
            out.append(f"{stamp} " + ", ".join(p for p in parts if p))
        return out


# ------------------------------------------------------------------------------------------------ drawing

S = TypeVar("S")


class LiveDisplay(Generic[S]):
    """Shows the latest state: in a terminal a rich Live redrawn on a timer (so the clock moves between
    events); otherwise (CI, logs, `| tee`) the plain log's new lines, printed as `show` is called."""

    def __init__(self, console, render: Callable[[S, float, int], list[str]], log: Callable[[S, float], list[str]],
                 *, refresh_per_second: float = 2, transient: bool = False, plain: bool | None = None) -> None:
        self.console, self.render, self.log = console, render, log
        self.plain = (not console.is_terminal) if plain is None else plain
        self.refresh_per_second, self.transient = refresh_per_second, transient
        self.state: S | None = None
        self.live = None

    def _renderable(self):
        if self.state is None:
            return Text("")
        lines = self.render(self.state, time.monotonic(), self.console.width)
        return Group(*(Text(line, no_wrap=True, overflow="ellipsis", style="bold" if i == 0 else "")
                       for i, line in enumerate(lines)))

    def show(self, state: S) -> None:
        self.state = state
        if self.plain:
            for line in self.log(state, time.monotonic()):
                self.console.print(line, highlight=False, markup=False, soft_wrap=True)

    def __enter__(self) -> LiveDisplay[S]:
        if not self.plain:
            self.live = Live(console=self.console, get_renderable=self._renderable, transient=self.transient,
                             refresh_per_second=self.refresh_per_second, redirect_stdout=False,
                             redirect_stderr=False)
            self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
