"""Point labels that do not overlap each other, the points or the error bars, each tied to its own point by a
leader line and never nearer to a neighbour than to it (the paper's 8- and 9-point grids need this).

Labels are placed in screen space, so a figure's layout is frozen first (`style.freeze`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from dse.report.style import MUTED

# (dx, dy, horizontal alignment): above and below also start or end at the point, for crowded edges
_DIRECTIONS = ((0, 1, "center"), (0, -1, "center"), (1, 0, "left"), (-1, 0, "right"), (1, 1, "left"),
               (-1, 1, "right"), (1, -1, "left"), (-1, -1, "right"), (0, 1, "left"), (0, -1, "left"),
               (0, 1, "right"), (0, -1, "right"))


def place_labels(
    ax: Axes,
    xs: Sequence[float],
    ys: Sequence[float],
    texts: Sequence[str],
    *,
    taken: list[Bbox] | None = None,
    color: str = "black",
    fontsize: float = 7.5,
    transform=None,
    neighbours: Sequence[tuple[float, float]] = (),
) -> list[Bbox]:
    """Annotate each point, tied to it: the annotation's anchor is the point itself and a leader line runs
    from the label to it, and a spot is taken only if no other point is nearer to the label than its own
    (so a label can never be read as its neighbour's). Tries 12 directions at growing distances for a spot
    inside the axes and clear of other labels and of everything in `taken` (markers, bars, lines); a label
    that finds none goes where it hides least, still with its leader.

    `neighbours`: further points (pixels) a label must not sit nearer to, e.g. the other series of the panel.
    Returns the boxes now taken, so labels on a twin axis can avoid these too. Call after `freeze`.
    """
    renderer = ax.figure.canvas.get_renderer()
    taken = taken if taken is not None else []
    frame = ax.get_window_extent(renderer)
    transform = transform or ax.transData
    scale = ax.figure.dpi / 72
    pixels = [tuple(transform.transform((x, y))) if np.isfinite(x) and np.isfinite(y) else None
              for x, y in zip(xs, ys, strict=True)]
    others_all = [p for p in pixels if p is not None] + [tuple(p) for p in neighbours]
    for (x, y), text, own in zip(zip(xs, ys, strict=True), texts, pixels, strict=True):
        if own is None:
            continue
        others = [p for p in others_all if p is not own and math.dist(p, own) > 0.5]
        placed = None
        best: tuple[float, tuple[float, float], str] | None = None  # least overlap, for a crowded spot
        for distance in (6, 11, 17, 24, 32, 42, 54):
            for dx, dy, ha in _DIRECTIONS:
                k = distance * (0.75 if dx and dy else 1)
                ann = _annotate(ax, text, (x, y), (dx * k, dy * k), transform, color, fontsize, ha=ha)
                box = text_box(ann, renderer).padded(1.5 * scale)
                inside = box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0 and box.y1 <= frame.y1
                mine = _nearest_is_own(box, own, others)
                if inside and mine and not any(box.overlaps(other) for other in taken):
                    placed = box
                    break
                clash = (sum(_overlap(box, other) for other in taken) + (0 if inside else 1e6)
                         + (0 if mine else 1e5))
                if best is None or clash < best[0]:
                    best = (clash, (dx * k, dy * k), ha)
                ann.remove()
            if placed is not None:
                break
        if placed is None:  # crowded: the spot that hides least, rather than dropping the label
            _, offset, ha = best
            ann = _annotate(ax, text, (x, y), offset, transform, color, fontsize, ha=ha)
            placed = text_box(ann, renderer)
        taken.append(placed)
    return taken


def text_box(ann, renderer) -> Bbox:
    """The label's text alone: an Annotation's own extent also covers its leader line, which reaches the point."""
    ann.update_positions(renderer)  # places the text in screen space, as Annotation.get_window_extent does
    return Text.get_window_extent(ann, renderer)


def _nearest_is_own(box: Bbox, own: tuple[float, float], others: Sequence[tuple[float, float]]) -> bool:
    """No other point is nearer to the label's box than its own point."""
    mine = _box_distance(box, own)
    return all(_box_distance(box, p) > mine for p in others)


def _box_distance(box: Bbox, p: tuple[float, float]) -> float:
    dx = max(box.x0 - p[0], 0.0, p[0] - box.x1)
    dy = max(box.y0 - p[1], 0.0, p[1] - box.y1)
    return math.hypot(dx, dy)


def _overlap(a: Bbox, b: Bbox) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _annotate(ax: Axes, text: str, xy, offset, transform, color: str, fontsize: float, ha: str = "center"):
    """A label anchored at its point (`xy`), with a leader line from the label to the point."""
    _, dy = offset
    arrow = {"arrowstyle": "-", "color": MUTED, "lw": 0.6, "shrinkA": 1, "shrinkB": 2.5}
    return ax.annotate(text, xy, xycoords=transform, xytext=offset, textcoords="offset points", ha=ha,
                       va="bottom" if dy > 0 else "top" if dy < 0 else "center",
                       fontsize=fontsize, color=color, annotation_clip=False, arrowprops=arrow)


def marker_boxes(ax: Axes, xs, ys, radius_pt: float = 4.5, transform=None) -> list[Bbox]:
    transform = transform or ax.transData
    r = radius_pt * ax.figure.dpi / 72
    boxes = []
    for x, y in zip(xs, ys, strict=True):
        if np.isfinite(x) and np.isfinite(y):
            px, py = transform.transform((x, y))
            boxes.append(Bbox([[px - r, py - r], [px + r, py + r]]))
    return boxes


def segment_boxes(ax: Axes, xs, ys, transform=None) -> list[Bbox]:
    """Small boxes along a polyline, so labels do not sit on the line between points."""
    transform = transform or ax.transData
    pts = [transform.transform((x, y)) for x, y in zip(xs, ys, strict=True) if np.isfinite(x) and np.isfinite(y)]
    boxes = []
    r = 1.5 * ax.figure.dpi / 72
    for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
        steps = max(2, int(math.hypot(x1 - x0, y1 - y0) / (4 * r)))
        for t in np.linspace(0, 1, steps):
            x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
            boxes.append(Bbox([[x - r, y - r], [x + r, y + r]]))
    return boxes


def bar_boxes(ax: Axes, xs, lo, hi) -> list[Bbox]:
    r = 3 * ax.figure.dpi / 72
    boxes = []
    for x, a, b in zip(xs, lo, hi, strict=True):
        if np.isfinite(x) and np.isfinite(a) and np.isfinite(b):
            (px, pa), (_, pb) = ax.transData.transform((x, a)), ax.transData.transform((x, b))
            boxes.append(Bbox([[px - r, min(pa, pb)], [px + r, max(pa, pb)]]))
    return boxes
