"""Front ends outside the package load through the data registry: scripts/baseline_eval.py's tasks are registry
names, each loaded with the options its source declares."""

import argparse
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _baseline_eval():
    spec = importlib.util.spec_from_file_location("baseline_eval", ROOT / "scripts" / "baseline_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(module, *argv: str) -> argparse.Namespace:
    return module.make_parser().parse_args(list(argv))


def test_baseline_eval_loads_registry_names_with_their_own_options():
    module = _baseline_eval()
    args = _args(module, "--tasks", "synthetic", "--max_samples", "3", "--synthetic_max_steps", "2",
                 "--dataset_path", "ignored/by/a/generated/set")  # fmt: skip
    rows = module._datasets(args)["synthetic"]
    assert len(rows) == 3 and max(rows["num_steps"]) <= 2
    with pytest.raises(ValueError, match="Unknown data set 'gsm9k'"):
        module._datasets(_args(module, "--tasks", "gsm9k"))
