"""A report page as one list of blocks, rendered to Markdown (summary.md) and to a self-contained HTML page
(index.html), so the two files cannot drift apart: what a page holds is written once, how each format shows a
block is written once here.

A block that belongs to one format says so (`Only`): the HTML page also embeds every trial as a table, which
summary.md leaves to results.csv, and each file names the others in its own words.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from matplotlib.figure import Figure

from dse.fmt import number
from dse.report.style import DPI

MARKDOWN, HTML = "markdown", "html"


# ---------------------------------------------------------------------------------------------- inline text


@dataclass(frozen=True)
class Link:
    text: str
    href: str | None  # None: the text alone


@dataclass(frozen=True)
class Em:
    text: str


Text = str | Link | Em | tuple  # a tuple of these, run together


def _md_inline(text: Text) -> str:
    if isinstance(text, tuple):
        return "".join(_md_inline(t) for t in text)
    if isinstance(text, Link):
        return f"[{text.text}]({text.href})" if text.href else text.text
    if isinstance(text, Em):
        return f"*{text.text}*"
    return str(text)


def _html_inline(text: Text) -> str:
    if isinstance(text, tuple):
        return "".join(_html_inline(t) for t in text)
    if isinstance(text, Link):
        return (f'<a href="{html.escape(text.href)}">{html.escape(text.text)}</a>' if text.href
                else html.escape(text.text))
    if isinstance(text, Em):
        return f"<em>{html.escape(text.text)}</em>"
    return html.escape(str(text))


# ---------------------------------------------------------------------------------------------- figures


Shows = tuple[tuple[str, str], ...]
"""What a figure or table draws, per split: ("test", "accuracy vs model size"), ("validation", "the learning
curves' left panel"); the page's split sentence is made of these (`trust.split_sentence`)."""


@dataclass
class Figured:
    """A drawn figure and the words that go with it on the page."""

    name: str  # its files: <name>.png, <name>.svg
    title: str
    about: Text
    figure: Figure
    shows: Shows = ()
    png: bytes | None = field(default=None, repr=False)  # rendered once, written and embedded
    after: tuple = ()  # blocks the page puts right under the figure (a table of what it could not label)

    def png_bytes(self) -> bytes:
        if self.png is None:
            buf = io.BytesIO()
            self.figure.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
            self.png = buf.getvalue()
        return self.png


# ---------------------------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    text: Text
    style: str = ""  # "" plain, "note" (quieter), "warning" (bold in Markdown)


@dataclass(frozen=True)
class Paragraphs:
    """Lines that read as a group: one line each in Markdown with a blank line after the group, a <p> each in
    HTML."""

    lines: tuple[Para, ...]


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[Text, ...], ...]
    name: str = ""  # the HTML table's class
    shows: Shows = ()  # the accuracies its columns hold, per split


@dataclass(frozen=True)
class FigureBlock:
    figure: Figured


@dataclass(frozen=True)
class RawHtml:
    """Markup only the HTML page holds (Markdown has no place for it)."""

    html: str


@dataclass(frozen=True)
class Only:
    """A block for one format only (`MARKDOWN` or `HTML`)."""

    format: str
    block: object


Block = Heading | Paragraphs | Table | FigureBlock | RawHtml | Only


def paragraphs(lines: Sequence[Text], style: str = "") -> Paragraphs:
    """Lines of one style as a group."""
    return Paragraphs(tuple(Para(line, style) for line in lines))


def table(headers: Sequence[str], rows: Sequence[Sequence[Text]], name: str = "", shows: Shows = ()) -> Table:
    return Table(tuple(headers), tuple(tuple(r) for r in rows), name, tuple(shows))


def shown(blocks: Sequence[Block]) -> list[tuple[str, str]]:
    """Every (split, where) the page's figures and tables declare, in page order."""
    out: list[tuple[str, str]] = []
    for block in blocks:
        block = block.block if isinstance(block, Only) else block
        if isinstance(block, FigureBlock):
            out += block.figure.shows
        elif isinstance(block, Table):
            out += block.shows
    return out


# ---------------------------------------------------------------------------------------------- rendering


def markdown(blocks: Sequence[Block]) -> str:
    """summary.md: each block and a blank line after it."""
    lines: list[str] = []
    for block in blocks:
        lines += _md_block(block)
    return "\n".join(lines)


def _md_block(block: Block) -> list[str]:
    if isinstance(block, Only):
        return _md_block(block.block) if block.format == MARKDOWN else []
    if isinstance(block, Heading):
        return ["#" * block.level + " " + block.text, ""]
    if isinstance(block, Paragraphs):
        return [f"**{_md_inline(p.text)}**" if p.style == "warning" else _md_inline(p.text)
                for p in block.lines] + [""]
    if isinstance(block, Table):
        return [md_table(block.headers, block.rows), ""]
    if isinstance(block, FigureBlock):
        f = block.figure
        return [f"![{f.title}]({f.name}.png)", "", _md_inline(f.about), ""]
    if isinstance(block, RawHtml):
        return []
    raise TypeError(f"not a page block: {block!r}")


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Text]]) -> str:
    def cell(text: Text) -> str:
        return _md_inline(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def html_page(title: str, blocks: Sequence[Block]) -> str:
    """index.html: self-contained (styles inline, figures embedded as PNG)."""
    body = [part for block in blocks for part in _html_block(block)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _html_block(block: Block) -> list[str]:
    if isinstance(block, Only):
        return _html_block(block.block) if block.format == HTML else []
    if isinstance(block, Heading):
        return [f"<h{block.level}>{html.escape(block.text)}</h{block.level}>"]
    if isinstance(block, Paragraphs):
        return [f'<p class="{p.style}">{_html_inline(p.text)}</p>' if p.style else f"<p>{_html_inline(p.text)}</p>"
                for p in block.lines]
    if isinstance(block, Table):
        return [html_table(block.headers, block.rows, block.name)]
    if isinstance(block, FigureBlock):
        return [_figure_html(block.figure)]
    if isinstance(block, RawHtml):
        return [block.html]
    raise TypeError(f"not a page block: {block!r}")


def html_table(headers: Sequence[str], rows: Sequence[Sequence[Text]], name: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_html_inline(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{name}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _figure_html(f: Figured) -> str:
    return (f'<figure id="{f.name}"><img alt="{html.escape(f.title)}" '
            f'src="data:image/png;base64,{base64.b64encode(f.png_bytes()).decode("ascii")}">'
            f"<figcaption>{_html_inline(f.about)} (<a href=\"{f.name}.svg\">SVG</a>)</figcaption></figure>")


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;
padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9rem;color:#555}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}th{background:#f5f5f5}
td:first-child,th:first-child{text-align:left}.note{color:#555;font-size:.9rem}
.status-failed{color:#b00}.warning{color:#8a4b00;font-weight:600}details{margin:1rem 0}summary{cursor:pointer}
"""


# ---------------------------------------------------------------------------------------------- numbers


def num(value, digits: int = 1) -> str:
    """A number in a table cell, rounded half up (`dse.fmt.number`); a dash where there is none."""
    return number(value, digits)
