"""Smoke tests of the benchmarks in bench/: one measured step per trainer on the tiny model.

Checks the shape of the JSON result and that times are positive; it asserts no speed or memory target (those depend
on the machine and are reported, not tested).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
Loader = Callable[[str], ModuleType]


def test_step_benchmark_writes_expected_json(bench_script: Loader, tmp_path: Path) -> None:
    bench = bench_script("step_cost")
    output = tmp_path / "tiny.json"
    length = 8
    bench.main(
        [
            "--model", "tiny",
            "--dataset_name", "synthetic",
            "--num_generations", "2",
            "--per_device_train_batch_size", "2",
            "--max_completion_length", str(length),
            "--max_steps", "1",
            "--warmup", "0",
            "--threads", "1",
            "--output", str(output),
            "--quiet",
        ]
    )  # fmt: skip
    result = json.loads(output.read_text())

    assert {"environment", "settings", "equal_generated_lengths", "trainers", "comparison", "steps"} <= set(result)
    assert set(result["trainers"]) == {"latro", "latro_separate_scoring", "rloo"}
    assert result["equal_generated_lengths"]["equal"] and result["equal_generated_lengths"]["all_at_limit"]
    for name, summary in result["trainers"].items():
        assert summary["measured_steps"] == 1, name
        assert "loss" in result["steps"][0]["trainer_metrics"], name  # the training loop's own log of the step
        assert summary["step_time_s"]["median"] > 0, name
        split = summary["split_s"]
        for key in ("generation_s", "scoring_s", "training_s", "loss_forward_s", "optimizer_s"):
            assert split[key] > 0, (name, key)
        assert summary["generated_tokens_per_s"] > 0, name
        assert summary["mean_generated_length"] == length, name
        memory = summary["memory"]
        assert memory["absolute_peak_bytes_max"] > 0 and memory["resident_state_bytes"]["total"] > 0, name
        assert set(memory["phase_transient_bytes_median"]) == {"generation", "scoring", "training"}, name

    # Structural facts, not speed: the passes each trainer runs per update.
    passes = {name: s["forward_passes_per_update"] for name, s in result["trainers"].items()}
    assert passes["latro"]["policy_no_grad"] == 0 and passes["latro"]["scoring_and_training_passes"] == 2
    assert passes["latro_separate_scoring"]["scoring_and_training_passes"] == 3
    assert passes["rloo"]["scoring_and_training_passes"] == 3
    assert all(p["policy_generate_decode"] == length for p in passes.values())

    for name in ("latro", "latro_separate_scoring"):
        comparison = result["comparison"][name]
        assert comparison["step_time_ratio_paired_median"] > 0 and comparison["own_peak_memory_ratio_paired_median"] > 0
        assert {"step_time", "peak_memory", "transient_memory"} <= set(comparison["targets"])
    assert "| latro |" in bench.markdown(result)


@pytest.mark.slow
def test_natural_lengths_benchmark_runs_every_trainer_and_reports_ratios(bench_script: Loader, tmp_path: Path) -> None:
    module = bench_script("natural_lengths")
    output = tmp_path / "natural.json"
    module.main(
        ["--model", "tiny", "--max_completion_length", "8", "--max_steps", "2", "--warmup", "1", "--rounds", "1",
         "--threads", "1", "--output", str(output)]
    )  # fmt: skip
    result = json.loads(output.read_text())
    assert set(result["runs"]) == {"latro", "latro_one_pass", "latro_generate", "rloo", "rloo_control"}
    assert set(result["ratios_to_rloo"]) == {"latro", "latro_one_pass", "latro_generate", "rloo_control"}
    for name, run in result["runs"].items():
        assert run["measured_steps"] == 1 and run["median_step_time_s"] > 0, name
        assert 0 < run["mean_generated_tokens_per_row"] <= 8 and run["peak_rss_bytes"] > 0, name
    assert result["runs"]["latro"]["pruned_sampling"] is True  # the default, on plain transformers generation
    assert result["runs"]["latro_generate"]["pruned_sampling"] is False
    assert result["runs"]["latro"]["length_groups"] == 4 and result["runs"]["latro_one_pass"]["length_groups"] == 1
    assert result["runs"]["rloo"]["length_groups"] == 1
    assert result["complete"] is True
    assert module.main(["--summarize", str(output)])["ratios_to_rloo"] == result["ratios_to_rloo"]


def test_natural_lengths_pairs_each_step_with_the_same_step_of_rloo(bench_script: Loader) -> None:
    module = bench_script("natural_lengths")
    runs = {
        "latro": [{"step_time_s": [8.0, 6.0], "generated_tokens_per_row": [1.0], "peak_rss_bytes": 2}],
        "rloo": [{"step_time_s": [10.0, 10.0], "generated_tokens_per_row": [2.0], "peak_rss_bytes": 4}],
        "rloo_control": [{"step_time_s": [12.0, 14.0], "generated_tokens_per_row": [2.0], "peak_rss_bytes": 4}],
    }
    ratios = module.summarize(runs)["ratios_to_rloo"]
    assert ratios["latro"]["paired_step_time"] == {"median": 0.7, "min": 0.6, "max": 0.8, "per_step": [0.8, 0.6]}
    assert ratios["latro"]["step_time"] == 0.7  # 7 / 10
    assert ratios["latro"]["step_time_to_both_rloo_runs"] == 7.0 / 11.0  # median of 10, 10, 12, 14
    assert ratios["rloo_control"]["paired_step_time"]["per_step"] == [1.2, 1.4]


def test_length_groups_benchmark_times_both_settings_on_the_same_batches(bench_script: Loader, tmp_path: Path) -> None:
    module = bench_script("length_groups")
    output = tmp_path / "groups.json"
    module.main(
        ["--model", "tiny", "--max_completion_length", "8", "--batches", "2", "--repeats", "2", "--threads", "1",
         "--output", str(output)]
    )  # fmt: skip
    result = json.loads(output.read_text())
    assert len(result["batches"]) == 2 and all(len(b["completion_lengths"]) == 8 for b in result["batches"])
    assert set(result["by_length_groups"]) == {"1", "4"}
    assert all(len(runs) == 4 for runs in result["measurements"].values())  # 2 batches x 2 repeats
    ratios = result["ratios_4_groups_to_one_pass"]
    assert 0 < ratios["positions"] <= 1  # groups never compute more positions than the padded pass
    assert ratios["training_pass_paired_median"] > 0 and ratios["reference_pass_paired_median"] > 0


def test_no_benchmark_flag_redeclares_a_config_field(bench_script: Loader) -> None:
    """The benchmarks read the run's settings as LaTROConfig's own flags; their dataclasses add only their own."""
    from dataclasses import fields

    from latro_trl import LaTROConfig

    config_fields = {f.name for f in fields(LaTROConfig)}
    scripts = {"step_cost": "StepCostArguments", "natural_lengths": "NaturalLengthsArguments",
               "length_groups": "LengthGroupsArguments", "gpu_check": "GpuCheckArguments"}  # fmt: skip
    assert set(scripts) == {path.stem for path in BENCH.glob("*.py")} - {"common"}  # every script is checked
    for script, name in scripts.items():
        own = {f.name for f in fields(getattr(bench_script(script), name))}
        assert not own & config_fields, (script, own & config_fields)


def test_every_recipe_parses_and_a_jsonl_name_is_a_prompt_answer_file(bench_script: Loader, tmp_path: Path) -> None:
    common = bench_script("common")
    for recipe in sorted((BENCH / "recipes").glob("*.yaml")):
        script = bench_script(recipe.stem)
        dataclass_type = next(v for k, v in vars(script).items() if k.endswith("Arguments") and k != "BenchArguments")
        args, settings = common.parse_run(dataclass_type, ["--config", str(recipe)], recipe.name)
        assert common.latro_config(settings, output_dir=str(tmp_path)).num_generations in (4, 8), recipe.name
    # One meaning per path: a .jsonl given as the data set's name is read as prompt/answer rows (as `latro train`
    # reads it); GSM8K's original files are --dataset_name gsm8k --dataset_path <file or folder>.
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"q{i}", "answer": str(i), "extra": 0}) + "\n" for i in range(3)))
    step_cost = bench_script("step_cost")
    args, _ = common.parse_run(step_cost.StepCostArguments, ["--dataset_name", str(path)], "step_cost.yaml")
    dataset, name = common.load_bench_data(args, 2)
    assert dataset.column_names == ["prompt", "answer"] and dataset["answer"] == ["0", "1"] and str(path) in name
