"""pyproject.toml uses the current packaging metadata forms (no setuptools deprecation warning at install time)."""

import re
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11; the package itself supports 3.10
    return tomllib.loads(PYPROJECT.read_text())


def test_license_is_an_spdx_string():
    # `license = { text = ... }` (a TOML table) is deprecated by setuptools; the SPDX expression is the PEP 639 form.
    project = _pyproject()["project"]
    assert project["license"] == "Apache-2.0"
    # PEP 639: with a license expression, License :: classifiers are an error in setuptools >= 77.
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]


def test_build_requires_a_setuptools_that_reads_spdx_license_strings():
    requires = _pyproject()["build-system"]["requires"]
    (setuptools,) = [r for r in requires if re.match(r"setuptools\b", r)]
    minimum = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", setuptools.replace(" ", ""))
    assert minimum and int(minimum.group(1)) >= 77, setuptools
