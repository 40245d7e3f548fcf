"""Read a drawn figure back from its matplotlib objects, so tests compare what is drawn with the data it was drawn
from: panels by title, error bars as (x, low end, high end), marks of a collection by gid, horizontal lines, and
text annotations with the point they label."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure


def panel(fig: Figure, title: str) -> Axes:
    (ax,) = [ax for ax in fig.axes if ax.get_title() == title]
    return ax


def errorbars(ax: Axes) -> list[tuple[float, float, float]]:
    """Every error bar of the panel as (x, low end, high end), read from the bar segments matplotlib drew."""
    out = []
    for container in ax.containers:
        if isinstance(container, ErrorbarContainer):
            _, _, barlines = container.lines
            for collection in barlines:
                for (x0, y0), (x1, y1) in collection.get_segments():
                    assert x0 == x1, "a vertical bar"
                    out.append((float(x0), float(min(y0, y1)), float(max(y0, y1))))
    return sorted(out)


def marks(ax: Axes, gid: str) -> list[tuple[float, float]]:
    """The (x, y) of every mark in the panel's collections whose gid starts with `gid`."""
    return sorted((float(x), float(y)) for c in ax.collections if (c.get_gid() or "").startswith(gid)
                  for x, y in c.get_offsets())


def horizontal_lines(ax: Axes) -> list[tuple[float, str]]:
    """(y, linestyle) of every horizontal line across the panel (axhline: the chance level)."""
    out = []
    for line in ax.get_lines():
        ys = list(line.get_ydata())
        if len(ys) == 2 and ys[0] == ys[1] and list(line.get_xdata()) == [0, 1]:
            out.append((float(ys[0]), line.get_linestyle()))
    return out


def annotations(ax: Axes) -> list[tuple[str, float, float]]:
    """(text, x, y of the point it labels) of every annotation in the panel."""
    return sorted((a.get_text(), float(a.xy[0]), float(a.xy[1])) for a in ax.texts if hasattr(a, "xy"))


def line_points(ax: Axes, gid: str) -> list[tuple[float, float]]:
    """The (x, y) of the Line2D marks whose gid starts with `gid`."""
    return sorted((float(x), float(y)) for line in ax.get_lines() if (line.get_gid() or "").startswith(gid)
                  for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True))


def approx_points(points) -> list:
    """Sorted (x, y, ...) tuples, each compared approximately: `marks(...) == approx_points(expected)`."""
    import pytest

    return [pytest.approx(tuple(float(v) for v in p)) for p in sorted(points)]
