"""The README's results are the committed reports' numbers: every number between the markers `<!-- results -->`
and `<!-- /results -->` must appear, as written, in a committed reports/*/summary.md. Commands (indented code) and
link targets are inputs and paths, not results, and are left out; a number is a run of digits (with thousands
commas and decimals) that is not part of a name (top-1, CIFAR-10, fp32 and 3x3 are names)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- results -->", "<!-- /results -->"
NUMBER = re.compile(r"(?<![\w.,/-])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.,/-])\d+(?:\.\d+)?(?![A-Za-z_]|\.\d)")


def numbers(text: str) -> list[str]:
    """The numbers of a text as written ("2,000", "31.7", "0.0017"), a trailing % or sentence dot aside."""
    return NUMBER.findall(text)


def results_section(readme: str) -> str:
    """The text between the markers, without indented or fenced code and without link targets."""
    assert readme.count(START) == 1 and readme.count(END) == 1, "the README marks its results section once"
    section = readme.split(START, 1)[1].split(END, 1)[0]
    section = re.sub(r"^```.*?^```", "", section, flags=re.M | re.S)
    lines = [line for line in section.splitlines() if not line.startswith("    ")]
    return re.sub(r"\]\([^)]*\)", "]", "\n".join(lines))


def test_numbers_are_read_as_written():
    text = ("test top-1 rises from 27.2% at SR 0.125 to 31.7% (p = 0.0017); 2,000-image CIFAR-10 subset, fp32, "
            "pct3x3 from 1% to 99%, Figure 3(a), 19, 7 and 4 minutes. 1.0.")
    assert numbers(text) == ["27.2", "0.125", "31.7", "0.0017", "2,000", "1", "99", "3", "19", "7", "4", "1.0"]
    assert numbers("[a](reports/cpu-sr/x.png) v0.1") == []
    section = results_section(f"x 5\n{START}\nseen 12\n\n    dse sweep --seeds 3\n![fig](reports/a1/b.png)\n{END} 6")
    assert numbers(section) == ["12"]


def test_every_number_in_the_readme_results_is_in_a_committed_summary():
    summaries = sorted((ROOT / "reports").glob("*/summary.md"))
    if not summaries:
        pytest.skip("no committed reports")
    known = {n for path in summaries for n in numbers(path.read_text(encoding="utf-8"))}
    section = results_section((ROOT / "README.md").read_text(encoding="utf-8"))
    found = numbers(section)
    assert found, "the results section holds no numbers: the markers are misplaced"
    missing = sorted({n for n in found if n not in known})
    assert not missing, f"README results numbers in no committed summary.md: {missing}"
