"""Fixtures of the integration tests: the benchmark scripts in bench/, imported as modules."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load_bench_script(name: str) -> ModuleType:
    """``bench/{name}.py`` as the module ``name``, its sibling modules first.

    A script imports its siblings by their bare names (``from common import ...``), which Python finds because it
    puts a script's own folder on the path when it runs one; here each sibling is registered in ``sys.modules``
    under that name instead, so that nothing is added to ``sys.path``.
    """
    path = BENCH / f"{name}.py"
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    for sibling in re.findall(r"^from (\w+) import", path.read_text(), flags=re.MULTILINE):
        if (BENCH / f"{sibling}.py").exists():
            _load_bench_script(sibling)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def bench_script() -> Callable[[str], ModuleType]:
    """``bench_script("step_cost")``: a script of bench/ as a module."""
    return _load_bench_script
