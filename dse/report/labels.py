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
    gids: Sequence[str] | None = None,
) -> list[Bbox]:
    """Annotate each point, tied to it: the annotation's anchor is the point itself and a leader line runs
    from the label to it, and a spot is taken only if no other point is nearer to the label than its own
    (so a label can never be read as its neighbour's). Tries 12 directions at growing distances for a spot
    inside the axes and clear of other labels and of everything in `taken` (markers, bars, lines); a label
    that finds none goes where it hides least, still with its leader (`fit_labels` leaves it out instead).

    `neighbours`: further points (pixels) a label must not sit nearer to, e.g. the other series of the panel.
    Returns the boxes now taken, so labels on a twin axis can avoid these too; `gids`: each label's gid, to find
    it in the figure. Call after `freeze`.
    """
    taken = taken if taken is not None else []
    _place(ax, xs, ys, texts, taken, color, fontsize, transform, neighbours, fit_only=False, gids=gids)
    return taken


def fit_labels(
    ax: Axes,
    xs: Sequence[float],
    ys: Sequence[float],
    texts: Sequence[str],
    *,
    taken: list[Bbox],
    color: str = "black",
    fontsize: float = 7.5,
    transform=None,
    neighbours: Sequence[tuple[float, float]] = (),
    gids: Sequence[str] | None = None,
) -> list[bool]:
    """`place_labels`, but a label that finds no free spot is left out rather than drawn over others: for
    crowded panels (a large grid), whose unlabelled points the page lists in a table. Returns, per point,
    whether it got its label; `gids`: each label's gid, to find it in the figure."""
    return _place(ax, xs, ys, texts, taken, color, fontsize, transform, neighbours, fit_only=True, gids=gids)


_DISTANCES = (6, 11, 17, 24, 32, 42, 54)


def _place(ax, xs, ys, texts, taken: list[Bbox], color, fontsize, transform, neighbours, *, fit_only: bool,
           gids: Sequence[str] | None = None) -> list[bool]:
    """Place each label in turn (see `place_labels`); `taken` grows by each label placed. The spots are tried on
    the label's box moved to each offset (an offset-points annotation moves rigidly with its offset), so each
    label is laid out once per alignment, not once per spot: a grid of hundreds of points takes seconds."""
    renderer = ax.figure.canvas.get_renderer()
    f = ax.get_window_extent(renderer)
    frame = (f.x0, f.y0, f.x1, f.y1)
    transform = transform or ax.transData
    scale = ax.figure.dpi / 72
    pad = 1.5 * scale
    pixels = [tuple(transform.transform((x, y))) if np.isfinite(x) and np.isfinite(y) else None
              for x, y in zip(xs, ys, strict=True)]
    everyone = np.array([p for p in pixels if p is not None] + [tuple(p) for p in neighbours],
                        dtype=float).reshape(-1, 2)
    boxes = _array(taken)
    done: list[bool] = []
    for i, ((x, y), text, own) in enumerate(zip(zip(xs, ys, strict=True), texts, pixels, strict=True)):
        if own is None:
            done.append(False)
            continue
        others = everyone[np.hypot(everyone[:, 0] - own[0], everyone[:, 1] - own[1]) > 0.5]
        shapes: dict[tuple[str, str], np.ndarray] = {}  # (ha, va) -> the label's box at offset 0 (x0, y0, x1, y1)
        placed = None
        best: tuple[float, tuple[float, float], str] | None = None  # least overlap, for a crowded spot
        for distance in _DISTANCES:
            for dx, dy, ha in _DIRECTIONS:
                k = distance * (0.75 if dx and dy else 1)
                offset = (dx * k, dy * k)
                key = (ha, _va(dy))
                if key not in shapes:
                    ann = _annotate(ax, text, (x, y), (0, 0), transform, color, fontsize, ha=ha, va=key[1])
                    b = text_box(ann, renderer)
                    shapes[key] = np.array([b.x0, b.y0, b.x1, b.y1])
                    ann.remove()
                box = shapes[key] + np.array([offset[0], offset[1]] * 2) * scale + np.array([-pad, -pad, pad, pad])
                inside = box[0] >= frame[0] and box[2] <= frame[2] and box[1] >= frame[1] and box[3] <= frame[3]
                mine = _nearest_is_own(box, own, others)
                hits = _overlaps(box, boxes)
                if inside and mine and not hits.any():
                    placed = offset, ha
                    break
                clash = float(_areas(box, boxes).sum()) + (0 if inside else 1e6) + (0 if mine else 1e5)
                if best is None or clash < best[0]:
                    best = (clash, offset, ha)
            if placed is not None:
                break
        if placed is None and fit_only:
            done.append(False)
            continue
        offset, ha = placed if placed is not None else best[1:]
        ann = _annotate(ax, text, (x, y), offset, transform, color, fontsize, ha=ha)
        if gids is not None:
            ann.set_gid(gids[i])
        box = text_box(ann, renderer)
        if placed is not None:  # a label in a free spot keeps its margin clear of the next
            box = box.padded(pad)
        taken.append(box)
        boxes = np.vstack([boxes, _array([box])])
        done.append(True)
    return done


def _array(boxes: Sequence[Bbox]) -> np.ndarray:
    """Boxes as rows (x0, y0, x1, y1), each ordered."""
    if not boxes:
        return np.zeros((0, 4))
    a = np.array([b.extents for b in boxes], dtype=float)
    return np.column_stack([np.minimum(a[:, 0], a[:, 2]), np.minimum(a[:, 1], a[:, 3]),
                            np.maximum(a[:, 0], a[:, 2]), np.maximum(a[:, 1], a[:, 3])])


def _overlaps(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Per row of `boxes`, whether it touches `box` (as `Bbox.overlaps`: edges count)."""
    return ((box[0] <= boxes[:, 2]) & (boxes[:, 0] <= box[2]) & (box[1] <= boxes[:, 3])
            & (boxes[:, 1] <= box[3]))


def _areas(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    w = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    h = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    return np.where((w > 0) & (h > 0), w * h, 0.0)


def text_box(ann, renderer) -> Bbox:
    """The label's text alone: an Annotation's own extent also covers its leader line, which reaches the point."""
    ann.update_positions(renderer)  # places the text in screen space, as Annotation.get_window_extent does
    return Text.get_window_extent(ann, renderer)


def _nearest_is_own(box: np.ndarray, own: tuple[float, float], others: np.ndarray) -> bool:
    """No other point is nearer to the label's box (x0, y0, x1, y1) than its own point."""
    mine = _box_distances(box, np.array([own], dtype=float))[0]
    return bool((_box_distances(box, others) > mine).all())


def _box_distances(box: np.ndarray, points: np.ndarray) -> np.ndarray:
    dx = np.maximum.reduce([box[0] - points[:, 0], np.zeros(len(points)), points[:, 0] - box[2]])
    dy = np.maximum.reduce([box[1] - points[:, 1], np.zeros(len(points)), points[:, 1] - box[3]])
    return np.hypot(dx, dy)


def _va(dy: float) -> str:
    """A label above its point rests on it, one below hangs from it, one beside it is centred on it."""
    return "bottom" if dy > 0 else "top" if dy < 0 else "center"


def _annotate(ax: Axes, text: str, xy, offset, transform, color: str, fontsize: float, ha: str = "center",
              va: str | None = None):
    """A label anchored at its point (`xy`), with a leader line from the label to the point."""
    arrow = {"arrowstyle": "-", "color": MUTED, "lw": 0.6, "shrinkA": 1, "shrinkB": 2.5}
    return ax.annotate(text, xy, xycoords=transform, xytext=offset, textcoords="offset points", ha=ha,
                       va=va or _va(offset[1]), fontsize=fontsize, color=color, annotation_clip=False,
                       arrowprops=arrow)


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
