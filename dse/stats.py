"""Small pure statistics of a study's results, named once so every output says the same thing.

Seeds are few (1 to 5). A t-interval from 2 seeds is 12.7 sd wide and says nothing, so an interval is
shown only where it means something: with 3 or more seeds the 95% t-interval of the mean; with 2 the min-max
range of the seeds, called a range; with 1 nothing. Accuracies live in [0, 100] %, and an interval that
passes either end is clipped there, with the clipping said.

Also here: chance level and the warnings for results near it or trained in too few steps, the spread
between seeds against the spread between design points, and the one Pareto (non-dominance) rule every front is
drawn and chosen with. No Optuna, no pandas: the study layer and the report both read these.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from dse.fmt import number

CONFIDENCE = 0.95
MIN_SEEDS_FOR_CI = 3
METRIC_RANGE = (0.0, 100.0)  # accuracies, %
CHANCE_MARGIN = 5.0  # percentage points: a mean closer than this to chance is "near chance"
MIN_STEPS_PER_EPOCH = 20

# kind -> what it is, in words; the only place these names are written
INTERVAL_NAMES = {
    "t95": "95% t-interval of the mean",
    "range": "min-max range of the seeds",
    "single": "one seed, no interval",
    "none": "no result",
}
STAT_HEADER = "mean [interval]"
@dataclass(frozen=True)
class SeedStat:
    """Mean over seeds and the interval that fits their number (see the module doc)."""

    n: int
    mean: float
    sd: float  # sample sd (NaN for fewer than 2)
    lo: float  # interval, clipped to the metric's range; NaN when there is none
    hi: float
    kind: str  # a key of INTERVAL_NAMES
    clipped: bool  # the interval passed 0 or 100 and was cut there

    @property
    def name(self) -> str:
        return interval_name(self.kind)


def interval_name(kind: str) -> str:
    """How an interval kind is named in tables, CSVs, figures and the CLI."""
    return INTERVAL_NAMES.get(kind, kind)


def interval_label(kind: str) -> str:
    """An interval kind with the number of seeds that gives it, as figure legends name its bars."""
    return interval_name(kind) + (" (3+ seeds)" if kind == "t95" else " (2 seeds)")


def seed_stat(values: Iterable[float | None], *, bounds: tuple[float, float] | None = METRIC_RANGE) -> SeedStat:
    """Mean, sd and the interval for this many seeds (None and non-finite values are left out)."""
    x = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(x)
    if n == 0:
        return SeedStat(0, math.nan, math.nan, math.nan, math.nan, "none", False)
    mean, sd, t_lo, t_hi = mean_interval(x)
    if n == 1:
        return SeedStat(1, mean, math.nan, math.nan, math.nan, "single", False)
    if n >= MIN_SEEDS_FOR_CI:
        lo, hi, kind = t_lo, t_hi, "t95"
    else:
        lo, hi, kind = min(x), max(x), "range"
    clipped = False
    if bounds is not None:
        clipped = lo < bounds[0] or hi > bounds[1]
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return SeedStat(n, mean, sd, lo, hi, kind, clipped)


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float, float, float]:
    """Mean, sample sd, and the two-sided t-interval of the mean, unclipped; the interval is NaN for fewer than 2
    values. What a reader sees goes through `seed_stat`, which shows a t-interval only from 3 seeds."""
    x = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not x:
        return (math.nan,) * 4
    mean = sum(x) / len(x)
    if len(x) < 2:
        return mean, math.nan, math.nan, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in x) / (len(x) - 1))
    half = t_quantile(0.5 + confidence / 2, len(x) - 1) * sd / math.sqrt(len(x))
    return mean, sd, mean - half, mean + half


def format_stat(mean: float, lo: float, hi: float, kind: str, clipped: bool = False, digits: int = 1) -> str:
    """`30.8 [20.2, 41.4]`, `30.6 [28.0, 33.2] range`, `30.6 (1 seed)`, `74.3 [33.3, 100.0] clipped` (rounded half
    up, `dse.fmt.number`)."""
    if mean is None or not math.isfinite(mean):
        return "—"
    if kind == "single" or lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{number(mean, digits)} (1 seed)" if kind == "single" else number(mean, digits)
    text = f"{number(mean, digits)} [{number(lo, digits)}, {number(hi, digits)}]"
    if kind == "range":
        text += " range"
    if clipped:
        text += " clipped"
    return text


def interval_legend(kinds: Iterable[str], clipped: bool = False) -> str:
    """The words for the bars of a figure that holds these kinds of interval."""
    present = [k for k in ("t95", "range") if k in set(kinds)]
    if not present:
        return "no interval (one seed per point)"
    text = "; ".join(
        ("bars: " if i == 0 else "") + interval_label(k)
        for i, k in enumerate(present))
    return text + ("; clipped to 0-100%" if clipped else "")


# ---------------------------------------------------------------------------------------------- Student's t


def t_quantile(p: float, df: int) -> float:
    """Quantile of Student's t (no scipy here): bisection on the CDF from the incomplete beta function."""
    if not 0 < p < 1 or df < 1:
        raise ValueError("t_quantile needs 0 < p < 1 and df >= 1")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1 - p, df)
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < p:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if _t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2


@dataclass(frozen=True)
class Welch:
    """Welch's two-sample t-test of mean(a) - mean(b): no equal-variance assumption, as seeds of two design points
    (or two precisions) need not share one."""

    diff: float  # mean(a) - mean(b)
    t: float
    df: float  # Welch-Satterthwaite degrees of freedom
    p: float  # two-sided

    def differs(self, level: float = 1 - CONFIDENCE) -> bool:
        return math.isfinite(self.p) and self.p < level


def welch(a: Sequence[float], b: Sequence[float]) -> Welch:
    """Welch's t-test; NaN t, df and p with fewer than 2 values on a side. Two samples without any spread are told
    apart (p 0) when their means differ, and not (p 1) when they are equal."""
    x = [float(v) for v in a if v is not None and math.isfinite(v)]
    y = [float(v) for v in b if v is not None and math.isfinite(v)]
    if not x or not y:
        return Welch(math.nan, math.nan, math.nan, math.nan)
    mx, my = sum(x) / len(x), sum(y) / len(y)
    if len(x) < 2 or len(y) < 2:
        return Welch(mx - my, math.nan, math.nan, math.nan)
    vx = sum((v - mx) ** 2 for v in x) / (len(x) - 1) / len(x)  # squared standard errors
    vy = sum((v - my) ** 2 for v in y) / (len(y) - 1) / len(y)
    if vx + vy == 0:
        return Welch(mx - my, math.inf if mx != my else 0.0, math.inf, 0.0 if mx != my else 1.0)
    t = (mx - my) / math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    return Welch(mx - my, t, df, 2 * _t_cdf(-abs(t), df))


def _t_cdf(t: float, df: float) -> float:
    x = df / (df + t * t)
    tail = 0.5 * _betai(df / 2, 0.5, x)
    return 1 - tail if t > 0 else tail


def _betai(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) (continued fraction, Numerical Recipes 6.4)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1 + aa * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h


def two_seed_t_width(confidence: float = CONFIDENCE) -> tuple[float, float]:
    """How wide a t-interval from 2 seeds would be: (the half-width in standard errors, t(0.975, 1) = 12.706; the
    full width in sample standard deviations, 2 x 12.706 / sqrt(2) = 17.97)."""
    t = t_quantile(0.5 + confidence / 2, 1)
    return t, 2 * t / math.sqrt(2)


STAT_DESCRIPTION = (
    "Each accuracy is the mean over the point's seeds. The interval in brackets is the 95% t-interval of the "
    "mean where the point has 3 or more seeds, and the min-max range of the seeds where it has 2 (marked "
    "'range': a t-interval from 2 seeds would reach {} standard errors either side of the mean, {} sample "
    "standard deviations in all); one seed has no interval. Intervals are clipped to the 0-100% an accuracy can "
    "take, and marked 'clipped' where that happened."
).format(*(number(v, 1) for v in two_seed_t_width()))


# ---------------------------------------------------------------------------------------------- chance


def chance_level(num_classes: int, k: int = 1) -> float:
    """Top-k accuracy (%) of guessing uniformly among `num_classes`."""
    if num_classes < 1:
        raise ValueError("num_classes must be >= 1")
    return 100.0 * min(k, num_classes) / num_classes


def steps_per_epoch(train_images: int, batch_size: int) -> int:
    """Optimizer steps in one epoch as dse trains (dse.data.DeviceData): a batch larger than the split
    shrinks to it, the last partial batch is dropped."""
    if train_images < 1 or batch_size < 1:
        return 0
    return train_images // min(batch_size, train_images)


def chance_warnings(
    points: Iterable[tuple[str, float]],
    num_classes: int | None,
    *,
    train_images: int | None = None,
    batch_size: int | None = None,
    margin: float = CHANCE_MARGIN,
    min_steps: int = MIN_STEPS_PER_EPOCH,
) -> list[str]:
    """Warnings, one line each, for results that cannot be read as learning: (label, mean top-1 %) pairs
    within `margin` points of chance, and an epoch of fewer than `min_steps` optimizer steps.

    `train_images` is the number of images trained on per epoch (after any subset and validation hold-out);
    the step warning is left out when it or `batch_size` is unknown.
    """
    points = list(points)
    out = []
    if num_classes:
        chance = chance_level(num_classes)
        near = [(label, top1) for label, top1 in points
                if top1 is not None and math.isfinite(top1) and top1 < chance + margin]
        if near:
            listed = ", ".join(f"{label} ({number(top1, percent=True)})" for label, top1 in near)
            out.append(f"{len(near)} point{'s are' if len(near) != 1 else ' is'} within "
                       f"{number(margin, 6, significant=True)} points of chance ({number(chance, percent=True)} "
                       f"top-1 for {num_classes} classes), so "
                       f"{'their' if len(near) != 1 else 'its'} differences say little: {listed}.")
    few = few_steps_warning(train_images, batch_size, compared=len(points) > 1, min_steps=min_steps)
    return out + ([few] if few else [])


def few_steps_warning(train_images: int | None, batch_size: int | None, *, compared: bool = False,
                      min_steps: int = MIN_STEPS_PER_EPOCH) -> str | None:
    """One line when an epoch is fewer than `min_steps` optimizer steps (None when it is not, or either number is
    unknown), naming a batch size that gives enough: `dse train` before it trains, sweeps and reports beside their
    results (`compared`: several points, whose ranking that makes noise)."""
    if not train_images or not batch_size:
        return None
    images, batch = int(train_images), int(batch_size)
    steps = steps_per_epoch(images, batch)
    if steps >= min_steps:
        return None
    learn = ("the networks have barely started to learn, so the ranking of points is mostly noise" if compared
             else "the network has barely started to learn")
    smaller = next((b for b in (2 ** k for k in range(batch.bit_length() - 1, 2, -1))
                    if b < batch and steps_per_epoch(images, b) >= min_steps), None)
    hint = f" (--batch-size {smaller} gives {steps_per_epoch(images, smaller)} steps an epoch)" if smaller else ""
    return (f"An epoch is only {steps} optimizer step{'s' if steps != 1 else ''} ({images} training images, batch "
            f"size {batch}; fewer than {min_steps}): {learn}{hint}.")


# ---------------------------------------------------------------------------------------------- timings

BUSY_SPREAD = 0.25
"""A timing whose middle half of runs (first to third quartile) spans more than this share of its median was
disturbed: on an idle CPU repeated forward passes of one network differ by a few percent."""


def relative_spread(median: float | None, q1: float | None, q3: float | None) -> float:
    """(third quartile - first quartile) / median of a set of timed runs; NaN where any is unknown."""
    values = [median, q1, q3]
    if any(v is None or not math.isfinite(v) for v in values) or median <= 0:
        return math.nan
    return (q3 - q1) / median


def busy_warning(spreads: Iterable[float], what: str = "latencies", limit: float = BUSY_SPREAD) -> str:
    """One line when any timing's `relative_spread` says the machine was busy while it was measured, else ""."""
    known = [s for s in spreads if s is not None and math.isfinite(s)]
    busy = [s for s in known if s > limit]
    if not busy:
        return ""
    return (f"The machine was busy while the {what} were measured: in {len(busy)} of {len(known)} measurements the "
            f"middle half of the timed runs spread over more than {number(100 * limit, 0)}% of their median "
            f"(widest: {number(100 * max(busy), 0)}%), so these {what} include other work's time; read them as "
            "upper bounds, and measure again on an idle machine (dse bench --latency) before choosing by them.")


# ---------------------------------------------------------------------------------------------- seed noise


@dataclass(frozen=True)
class SeedSpread:
    """Seed-to-seed spread within points against the spread of the point means."""

    within_sd: float  # pooled within-point sd over points with 2+ seeds
    between_sd: float  # sd of the point means
    n_points: int  # points with a mean
    n_pooled: int  # points with 2+ seeds, pooled into within_sd
    seeds_per_point: float = math.nan  # mean number of seeds behind a point mean

    @property
    def null_between_sd(self) -> float:
        """How far the point means would spread from seed noise alone, were the points all alike."""
        return self.within_sd / math.sqrt(self.seeds_per_point) if self.seeds_per_point > 0 else math.nan

    @property
    def seeds_dominate(self) -> bool:
        return math.isfinite(self.within_sd) and math.isfinite(self.between_sd) and self.within_sd >= self.between_sd

    def sentence(self, metric: str = "top-1") -> str:
        """The two spreads side by side. A statement about the sweep taken together: one end point far from
        the rest makes the means spread, however alike the others are, so it never says that each step between
        points is real (`dse.report.steps` tests the steps)."""
        if not (math.isfinite(self.within_sd) and math.isfinite(self.between_sd)):
            return ""
        verdict = ("the seeds of one point spread as much as the point means do: taken together, the points "
                   "differ no more than seed noise" if self.seeds_dominate else
                   "taken together, the point means spread more than the seeds of one point do; that is the sweep "
                   "as a whole, not each step between points")
        text = (f"Spread of {metric}: {number(self.within_sd, 2)} points between seeds of one point (pooled sd "
                f"over {self.n_pooled} points) against {number(self.between_sd, 2)} points between the "
                f"{self.n_points} point means (sd): {verdict}.")
        if math.isfinite(self.null_between_sd):
            text += (f" Were the points all alike, seed noise alone would spread their means by about "
                     f"{number(self.null_between_sd, 2)} (sd between seeds / sqrt("
                     f"{number(self.seeds_per_point, 3, significant=True)} seeds)).")
        return text


def seed_spread(groups: Sequence[Sequence[float]]) -> SeedSpread:
    """Pooled within-group sd (sqrt of sum (n_i - 1) s_i^2 / sum (n_i - 1)) and the sd of group means."""
    clean = [[float(v) for v in g if v is not None and math.isfinite(v)] for g in groups]
    clean = [g for g in clean if g]
    means = [sum(g) / len(g) for g in clean]
    num = den = 0.0
    pooled = 0
    for g, m in zip(clean, means, strict=True):
        if len(g) >= 2:
            num += sum((v - m) ** 2 for v in g)
            den += len(g) - 1
            pooled += 1
    within = math.sqrt(num / den) if den else math.nan
    if len(means) >= 2:
        mu = sum(means) / len(means)
        between = math.sqrt(sum((m - mu) ** 2 for m in means) / (len(means) - 1))
    else:
        between = math.nan
    per_point = sum(len(g) for g in clean) / len(clean) if clean else math.nan
    return SeedSpread(within, between, len(means), pooled, per_point)


# ---------------------------------------------------------------------------------------------- Pareto


def pareto_mask(maximize: Sequence[float], *minimize: Sequence[float]) -> list[bool]:
    """On the front: no other point is at least as good on every objective (one to maximize, any number to
    minimize) and strictly better on one. Ties stay on the front together; a point with a NaN objective can
    neither be dominated nor dominate (NaN compares false), so it is never silently dropped from a front."""
    columns = [-np.asarray(maximize, dtype=float), *(np.asarray(m, dtype=float) for m in minimize)]
    values = np.stack(columns, axis=1) if len(columns[0]) else np.zeros((0, len(columns)))
    out = []
    for row in values:
        at_least_as_good = (values <= row).all(axis=1)
        better_in_one = (values < row).any(axis=1)
        out.append(not bool((at_least_as_good & better_in_one).any()))
    return out
