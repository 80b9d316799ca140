"""CPU smoke test of bench/gpu_check.py (the GPU check of issue #29) on the tiny model: every section runs, and the
JSON and Markdown it writes hold sane numbers (no speed or memory target: those are the GPU's to report)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

LENGTH = 8


@pytest.fixture(scope="module")
def result(bench_script: Callable[[str], ModuleType], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    output = tmp_path_factory.mktemp("gpu_check") / "gpu_check.json"
    bench_script("gpu_check").main(
        [
            "--use_cpu", "true", "--tiny", "--bf16", "true",  # the GPU run's dtypes, on CPU
            "--num_generations", "2", "--per_device_train_batch_size", "2", "--max_completion_length", str(LENGTH),
            "--max_steps", "2", "--warmup", "1", "--rounds", "1", "--precision_length", "16",
            "--memory_runs", "llama-3.1-8b:lora+gc",
            "--output", str(output),
        ]
    )  # fmt: skip
    return {"json": json.loads(output.read_text()), "markdown": output.with_suffix(".md").read_text()}


def test_every_section_ran(result: dict[str, Any]) -> None:
    found = result["json"]
    assert {"environment", "settings", "precision", "runs", "timing", "memory", "skipped", "errors"} <= set(found)
    assert found["complete"] and not found["skipped"] and not found["errors"]
    assert found["environment"]["device"] == "cpu"
    assert len(found["runs"]) == 5  # 2 modes x 2 trainers + 1 memory run


def test_bf16_agrees_with_fp32_on_cpu(result: dict[str, Any]) -> None:
    precision = result["json"]["precision"]
    assert set(precision["variants"]) == {"bf16_autocast", "bf16_weights"}
    for name, found in precision["variants"].items():
        assert found["pass"], (name, found)
        assert 0 <= found["reward_rel"] <= precision["tolerances"]["reward_rel"], name
        assert found["grad_cosine"] >= precision["tolerances"]["grad_cosine_min"], name
    assert precision["pass"] and precision["fp32"]["advantage_std"] > 0 and precision["fp32"]["grad_norm"] > 0


def test_timing_pairs_latro_with_rloo_at_equal_lengths(result: dict[str, Any]) -> None:
    timing = result["json"]["timing"]
    assert set(timing) == {"lora", "full"}
    for mode, entry in timing.items():
        assert set(entry["trainers"]) == {"latro", "rloo"}, mode
        for name, trainer in entry["trainers"].items():
            assert trainer["measured_steps"] == 1 and trainer["median_step_time_s"] > 0, (mode, name)
            assert trainer["generated_lengths"] == {"min": LENGTH, "max": LENGTH}, (mode, name)
            assert trainer["generated_tokens_per_s"] > 0 and trainer["peak_memory_gib"] > 0, (mode, name)
        ratio = entry["latro_over_rloo"]
        assert ratio["equal_generated_lengths"], mode
        paired = ratio["paired_step_time"]
        assert 0 < paired["min"] <= paired["median"] <= paired["max"] < math.inf, mode
        assert ratio["peak_memory"] > 0, mode
    weights = {mode: entry["trainers"]["latro"]["weights"] for mode, entry in timing.items()}
    assert weights == {"lora": "torch.bfloat16", "full": "torch.float32"}  # bf16 LoRA base, fp32 master weights


def test_measured_memory_beside_the_plan(result: dict[str, Any]) -> None:
    rows = {row["run"]: row for row in result["json"]["memory"]}
    assert set(rows) == {"lora_latro_r0", "full_latro_r0", "llama-3.1-8b:lora+gc"}
    for name, row in rows.items():
        assert row["measured_gib"] > 0 and row["total_gib"] > row["without_overhead_gib"] > 0, name
        assert row["measured_over_plan"] == pytest.approx(row["measured_gib"] / row["total_gib"]), name
    assert rows["lora_latro_r0"]["setup"] == "LoRA + DDP" and rows["full_latro_r0"]["setup"] == "DDP"
    assert rows["llama-3.1-8b:lora+gc"]["parts_gib"]["training_activations_gib"] > 0


def test_markdown_has_every_table(result: dict[str, Any]) -> None:
    text = result["markdown"]
    for heading in ("## bf16 against fp32", "## Step time, LaTRO against RLOO", "## Peak memory of LaTRO against"):
        assert heading in text
    assert "| lora | latro |" in text and "| llama-3.1-8b:lora+gc |" in text


def test_budget_skips_runs_and_marks_the_result_incomplete(
    bench_script: Callable[[str], ModuleType], tmp_path: Path
) -> None:
    output = tmp_path / "partial.json"
    bench_script("gpu_check").main(["--use_cpu", "true", "--tiny", "--budget_s", "0", "--output", str(output)])
    found = json.loads(output.read_text())
    assert not found["complete"] and found["skipped"] and not found["runs"]
