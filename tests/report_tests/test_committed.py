"""The committed reports are what `dse report` makes of the committed studies today: each reports/<name>/ whose
study studies/<name>.db is in the repository is regenerated from it and must come out the same (text files byte
for byte, PNGs pixel for pixel, SVGs but for matplotlib's clip-path ids, every file and no other). A report left
behind by a change of the report code, or a study replaced without its report, fails here."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dse.report.frame import load_studies
from dse.report.write import write_report

ROOT = Path(__file__).resolve().parents[2]
REPORTS, STUDIES = ROOT / "reports", ROOT / "studies"


def committed_pairs() -> list[str]:
    """The names with both a report folder and its study."""
    if not REPORTS.is_dir():
        return []
    return sorted(d.name for d in REPORTS.iterdir() if d.is_dir() and (STUDIES / f"{d.name}.db").is_file())


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


_CLIP_ID = re.compile(r'(id="|url\(#)p[0-9a-f]{10}')
_EMBEDDED = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def same_svg(a: str, b: str) -> bool:
    """Equal but for the ids matplotlib gives clip paths (a hash that may differ between its versions)."""
    return _CLIP_ID.sub(r"\1p", a) == _CLIP_ID.sub(r"\1p", b)


def same_html(a: str, b: str) -> bool:
    """Equal text, and each embedded figure equal pixel for pixel."""
    if _EMBEDDED.sub("", a) != _EMBEDDED.sub("", b):
        return False
    images_a, images_b = _EMBEDDED.findall(a), _EMBEDDED.findall(b)
    return len(images_a) == len(images_b) and all(
        np.array_equal(pixels(base64.b64decode(x)), pixels(base64.b64decode(y)))
        for x, y in zip(images_a, images_b, strict=True))


def test_the_comparisons_see_a_difference():
    """The comparisons are not blind: a moved pixel, a changed clip-path reference or text differs."""
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    buf_a, buf_b = io.BytesIO(), io.BytesIO()
    Image.fromarray(image).save(buf_a, format="png")
    image[1, 2] = 255
    Image.fromarray(image).save(buf_b, format="png")
    a, b = buf_a.getvalue(), buf_b.getvalue()
    assert not np.array_equal(pixels(a), pixels(b))
    page = '<p>x</p><img src="data:image/png;base64,{}">'
    assert same_html(page.format(base64.b64encode(a).decode()), page.format(base64.b64encode(a).decode()))
    assert not same_html(page.format(base64.b64encode(a).decode()), page.format(base64.b64encode(b).decode()))
    svg = '<clipPath id="p0123456789"/><g clip-path="url(#p0123456789)">{}</g>'
    assert same_svg(svg.format(1), svg.replace("0123456789", "abcdef0123").format(1))
    assert not same_svg(svg.format(1), svg.format(2))


@pytest.mark.parametrize("name", committed_pairs())
def test_each_committed_report_is_what_its_committed_study_gives(name, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the report names its study as the command was given it: studies/<name>.db
    (data,) = load_studies(f"studies/{name}.db")
    fresh = tmp_path / name
    write_report(data, fresh)
    committed = REPORTS / name
    assert sorted(p.name for p in fresh.iterdir()) == sorted(p.name for p in committed.iterdir())
    for path in sorted(committed.iterdir()):
        new, old = (fresh / path.name).read_bytes(), path.read_bytes()
        if path.suffix == ".png":
            assert np.array_equal(pixels(new), pixels(old)), path.name
        elif path.suffix == ".svg":
            assert same_svg(new.decode(), old.decode()), path.name
        elif path.suffix == ".html":
            assert same_html(new.decode(), old.decode()), path.name
        else:
            assert new.decode() == old.decode(), path.name
