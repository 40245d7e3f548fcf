"""One list of blocks, two formats: each block as Markdown and as HTML, a block for one format only, escaping."""

from __future__ import annotations

from dse.report import page
from dse.report.page import Em, Heading, Link, Only, Para, Paragraphs, RawHtml


def _blocks():
    return [Heading("A <study>", level=1), page.paragraphs(["first", "second"], "note"),
            Paragraphs((Para("careful", "warning"), Para(("see ", Link("x.csv", "x.csv"), " and ", Em("this"))))),
            Heading("Table"), page.table(["a|b", "c"], [["1", Link("n", None)], ["x\ny", "<&>"]], "points"),
            Only(page.MARKDOWN, page.paragraphs(["md only"])), RawHtml("<details>raw</details>"),
            Only(page.HTML, page.paragraphs(["html only"]))]


def test_markdown_puts_a_blank_line_after_each_block():
    assert page.markdown(_blocks()).split("\n") == [
        "# A <study>", "", "first", "second", "", "**careful**", "see [x.csv](x.csv) and *this*", "",
        "## Table", "", "| a\\|b | c |", "|---|---|", "| 1 | n |", "| x y | <&> |", "", "md only", ""]


def test_html_gives_each_line_its_paragraph_and_escapes_text():
    text = page.html_page("t & u", _blocks())
    assert text.startswith("<!DOCTYPE html>") and "<title>t &amp; u</title>" in text
    body = text.split("</style></head><body>\n")[1].removesuffix("\n</body></html>\n")
    assert body == "\n".join([
        "<h1>A &lt;study&gt;</h1>", '<p class="note">first</p>', '<p class="note">second</p>',
        '<p class="warning">careful</p>', '<p>see <a href="x.csv">x.csv</a> and <em>this</em></p>', "<h2>Table</h2>",
        '<table class="points"><thead><tr><th>a|b</th><th>c</th></tr></thead><tbody><tr><td>1</td><td>n</td></tr>'
        "<tr><td>x\ny</td><td>&lt;&amp;&gt;</td></tr></tbody></table>",
        "<details>raw</details>", "<p>html only</p>"])


def test_a_link_without_a_target_is_its_text_and_a_target_is_escaped():
    assert page.markdown([page.paragraphs([Link("plain", None)])]) == "plain\n"
    assert '<a href="a?b=1&amp;c=2">q</a>' in page.html_page("t", [page.paragraphs([Link("q", "a?b=1&c=2")])])
