"""`dse.report`'s public face: every name it lists resolves to its module's object, and importing the package
alone loads neither matplotlib nor pandas (the CLI imports it for `dse dashboard`)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import dse.report


@pytest.mark.parametrize("name", dse.report.__all__)
def test_every_public_name_is_its_module_s(name):
    module = importlib.import_module(f"dse.report.{dse.report._WHERE[name]}")
    assert getattr(dse.report, name) is getattr(module, name)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'figures'"):
        dse.report.figures  # noqa: B018 - the old module of figure data is gone


def test_importing_the_package_stays_light():
    code = "import sys, dse.report; print(sorted(m for m in ('matplotlib', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
