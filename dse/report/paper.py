"""The paper's published figures (Iandola et al. 2016), shipped with the package in
dse/reference/squeezenet-paper.json, and whether a study fixes the metaparameters the paper trained with: the
figures that set a study beside the paper (Figure 3, Table 3) read them here, and nothing is typed in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

from dse.report.frame import PARAM_NAMES, value_key


@cache
def paper() -> dict[str, Any]:
    """The paper's published figures, shipped with the package."""
    text = resources.files("dse").joinpath("reference", "squeezenet-paper.json").read_text(encoding="utf-8")
    return json.loads(text)


def fixes_the_papers(spec: dict[str, Any], fixed: dict[str, Any], swept: Sequence[str] = ()) -> bool:
    """The study fixes the paper's values `fixed` (or leaves them unsaid), the swept params aside."""
    ours = study_values(spec)
    return all(ours.get(k) is None or value_key(ours[k]) == value_key(v) for k, v in fixed.items() if k not in swept)


def study_values(spec: dict[str, Any]) -> dict[str, Any]:
    """The metaparameters a study's definition fixes: its base point's, then its `fixed` ones."""
    values: dict[str, Any] = {}
    if isinstance(spec.get("point"), dict):
        values.update({k: v for k, v in spec["point"].items() if k in PARAM_NAMES})
    if isinstance(spec.get("fixed"), dict):
        values.update(spec["fixed"])
    return values
