"""The `latro` command: parsing (flags and YAML) and short real runs of train / eval / demo on a tiny model."""

import json
import subprocess
import sys

import pytest
import torch

from latro_trl.testing import make_tiny_model, make_tiny_tokenizer


def _latro(*args, timeout=300):
    result = subprocess.run(
        [sys.executable, "-m", "latro_trl.cli.main", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout + result.stderr  # the console as a user sees it (progress bars go to stderr)


@pytest.fixture
def tiny_model_dir(tmp_path):
    tokenizer = make_tiny_tokenizer()
    make_tiny_model(tokenizer).save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def test_help_lists_the_commands():
    out = _latro("--help")
    for command in ("train", "eval", "demo", "plan"):
        assert command in out


def test_unknown_command_fails_with_usage():
    result = subprocess.run([sys.executable, "-m", "latro_trl.cli.main", "trian"], capture_output=True, text=True)
    assert result.returncode == 2 and "unknown command 'trian'" in result.stderr


def test_train_parser_takes_every_config_field_from_flags_and_yaml(tmp_path):
    from latro_trl.cli.train import make_parser

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("num_generations: 8\nbeta: 0.25\nanswer_loss_coef: 0.0\ndataset_name: gsm8k\nuse_peft: true\n")
    script_args, config, model_args = make_parser().parse_args_and_config(
        args=[
            "--config",
            str(recipe),
            "--output_dir",
            str(tmp_path),
            "--stop_markers",
            "Answer:",
            "So:",
            "--per_device_train_batch_size",
            "8",
            "--max_completion_length",
            "64",
        ]
    )
    assert (config.num_generations, config.beta, config.answer_loss_coef) == (8, 0.25, 0.0)
    assert config.stop_markers == ["Answer:", "So:"] and config.max_completion_length == 64
    assert script_args.dataset_name == "gsm8k" and model_args.use_peft


def test_train_one_step_on_a_tiny_model(tiny_model_dir, tmp_path):
    _latro(
        "train",
        "--model_name_or_path",
        tiny_model_dir,
        "--dataset_name",
        "synthetic",
        "--max_train_samples",
        8,
        "--num_generations",
        4,
        "--per_device_train_batch_size",
        8,
        "--max_completion_length",
        12,
        "--max_steps",
        1,
        "--output_dir",
        tmp_path / "out",
        "--report_to",
        "none",
        "--gradient_checkpointing",
        "false",
        "--dtype",
        "float32",
        "--logging_steps",
        1,
    )
    state = json.loads((tmp_path / "out" / "checkpoint-1" / "trainer_state.json").read_text())
    assert state["global_step"] == 1 and "reward" in state["log_history"][0]
    assert (tmp_path / "out" / "model.safetensors").exists()


def test_eval_writes_predictions_and_summary(tiny_model_dir, tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps({"prompt": f"What is {i} + 1?", "answer": str(i + 1)}) for i in range(3)))
    out = _latro(
        "eval",
        "--model_name_or_path",
        tiny_model_dir,
        "--dataset_name",
        data,
        "--max_samples",
        3,
        "--num_samples",
        2,
        "--max_new_tokens",
        8,
        "--output_dir",
        tmp_path / "eval",
    )
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["greedy"]["n"] == 3 and "maj@2" in summary and "greedy:" in out
    assert len((tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()) == 3


def test_demo_runs_end_to_end_on_a_tiny_model(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = _latro(
        "demo",
        "--model_name_or_path",
        tiny_model_dir,
        "--output_dir",
        tmp_path / "demo",
        "--warm_start_problems",
        4,
        "--max_steps",
        2,
        "--num_eval",
        4,
        "--num_reworded",
        4,
        "--max_completion_length",
        8,
    )
    assert "worded like training (n=4)" in out and "worded differently (n=4)" in out and "p = " in out
    assert "{'loss'" not in out and "FutureWarning" not in out  # a readable console: no per-step dicts, no notices
    assert "Setting accelerator to CPU" not in out  # DeepSpeed's no-GPU notice
    results = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert {"worded like training", "worded differently", "reward"} <= set(results["rows"])
    assert 0.0 <= results["rows"]["worded differently"]["mcnemar"]["p_value"] <= 1.0
    for folder in ("start", "final"):  # plain model folders other tools load as they are
        model = AutoModelForCausalLM.from_pretrained(tmp_path / "demo" / folder)
        AutoTokenizer.from_pretrained(tmp_path / "demo" / folder)
        assert not hasattr(model, "peft_config")
    start = AutoModelForCausalLM.from_pretrained(tmp_path / "demo" / "start").state_dict()
    final = AutoModelForCausalLM.from_pretrained(tmp_path / "demo" / "final").state_dict()
    assert any(not torch.equal(start[name], final[name]) for name in start)  # LaTRO changed the merged weights
    assert (tmp_path / "demo" / "training_curves.png").exists()
    history = json.loads((tmp_path / "demo" / "log_history.json").read_text())
    assert sum("reward" in entry for entry in history) == 2


def test_demo_silences_library_notices_but_not_other_warnings():
    import warnings

    from latro_trl.cli.demo import _quiet_libraries

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _quiet_libraries()
        notice = "Could not find a config file in /some/folder - will assume the vocabulary was not modified."
        warnings.warn(notice, UserWarning, stacklevel=1)  # peft's, on each checkpoint of the embedded model
        warnings.warn("old API", FutureWarning, stacklevel=1)
        warnings.warn("something the user must see", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something the user must see"]


def test_plan_through_the_latro_command_reads_the_runs_flags():
    out = _latro("plan", "--model_name_or_path", "Llama-3.1-8B-Instruct", "--beta", "0", "--gpus", "8", "--zero", "2")
    assert "Llama-3.1-8B-Instruct" in out and "ZeRO-2" in out
    assert "reference model (bf16)                                   0.00 GiB" in out  # --beta 0 reached the plan


def test_eval_reads_the_gold_answer_from_the_runs_answer_column(tiny_model_dir, tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps({"prompt": f"What is {i} + 1?", "solution": str(i + 1)}) for i in range(3)))
    _latro(
        "eval",
        "--model_name_or_path",
        tiny_model_dir,
        "--dataset_name",
        data,
        "--answer_column",
        "solution",
        "--num_samples",
        1,
        "--max_new_tokens",
        4,
        "--output_dir",
        tmp_path / "eval",
    )
    records = (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line)["gold"] for line in records] == ["1", "2", "3"]
    assert json.loads((tmp_path / "eval" / "arguments.json").read_text())["answer_column"] == "solution"
