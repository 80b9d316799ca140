"""The run-once stages of experiments/compare.py: reuse a result made with the same settings, refuse other ones."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

COMPARE = Path(__file__).resolve().parents[2] / "experiments" / "compare.py"


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("compare_experiment", COMPARE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_stage_runs_once_and_records_its_settings(compare, tmp_path):
    stage = compare.Stages(tmp_path)
    calls = []

    def work():
        calls.append(1)
        return {"accuracy": 0.25}

    first = stage("base_eval", work, {"test_n": 300})
    again = stage("base_eval", work, {"test_n": 300})
    assert calls == [1]
    assert first["accuracy"] == again["accuracy"] == 0.25
    saved = json.loads((tmp_path / "base_eval.json").read_text())
    assert saved["settings"] == {"test_n": 300}
    assert saved["wall_seconds"] >= 0


def test_a_stage_made_with_other_settings_stops_the_run(compare, tmp_path):
    stage = compare.Stages(tmp_path)
    stage("base_eval", lambda: {"accuracy": 0.25}, {"test_n": 300, "maj_n": 60})
    with pytest.raises(SystemExit, match=r"maj_n: 60 -> 300.*new --out"):
        stage("base_eval", lambda: pytest.fail("must not recompute"), {"test_n": 300, "maj_n": 300})


def test_a_stage_saved_without_settings_is_not_reused(compare, tmp_path):
    (tmp_path / "sft_train.json").write_text(json.dumps({"optimizer_steps": 10}))
    with pytest.raises(SystemExit, match="train_steps: None -> 60"):
        compare.Stages(tmp_path)("sft_train", dict, {"train_steps": 60})
