"""The examples: every recipe parses with its own script's parser and holds the paper's settings; each script runs
one step in a subprocess on a tiny random model with small fixture files (GSM8K and ARC in their original layouts).

The subprocess tests take a few seconds each on 2 CPU cores (the whole file well under a minute and a half).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
RECIPES = sorted((EXAMPLES / "recipes").glob("*.yaml"))
PAPER_RECIPES = [recipe for recipe in RECIPES if recipe.stem != "smollm2_cpu_demo"]
MODEL_IDS = {
    "llama31_8b": "meta-llama/Llama-3.1-8B-Instruct",
    "mistral7b": "mistralai/Mistral-7B-Instruct-v0.3",
    "phi35_mini": "microsoft/Phi-3.5-mini-instruct",
}
PAPER = {"gsm8k": {"beta": 0.05, "epochs": 6}, "arc": {"beta": 0.25, "epochs": 12}}
NUM_GPUS = 8

GSM8K_ROWS = [
    {
        "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
        "How many clips did Natalia sell altogether in April and May?",
        "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips "
        "altogether in April and May.\n#### 72",
    },
    {
        "question": "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. "
        "How much did she earn?",
        "answer": "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\nWorking 50 minutes, she earned 0.2 x 50 = "
        "$<<0.2*50=10>>10.\n#### 10",
    },
    {
        "question": "Tom has 3 apples and buys 5 more. How many apples does he have?",
        "answer": "Tom has 3 + 5 = <<3+5=8>>8 apples.\n#### 8",
    },
]
ARC_ROWS = [  # AI2's original layout; labels A-D and, in the last row, 1-4
    {
        "id": "Mercury_1",
        "question": {
            "stem": "Which skin surface will produce the most heat when rubbed together?",
            "choices": [
                {"text": "dry palms", "label": "A"},
                {"text": "wet palms", "label": "B"},
                {"text": "palms covered with oil", "label": "C"},
                {"text": "palms covered with lotion", "label": "D"},
            ],
        },
        "answerKey": "A",
    },
    {
        "id": "MCAS_2",
        "question": {
            "stem": "Why do magnets usually stick to a refrigerator door?",
            "choices": [
                {"text": "The door is smooth.", "label": "A"},
                {"text": "The door contains iron.", "label": "B"},
                {"text": "The door is cold.", "label": "C"},
                {"text": "The door is painted.", "label": "D"},
            ],
        },
        "answerKey": "B",
    },
    {
        "id": "NYSEDREGENTS_3",
        "question": {
            "stem": "Which of these is a source of light?",
            "choices": [
                {"text": "the Moon", "label": "1"},
                {"text": "the Sun", "label": "2"},
                {"text": "a mirror", "label": "3"},
                {"text": "a window", "label": "4"},
            ],
        },
        "answerKey": "2",
    },
]


# ---------------------------------------------------------------- helpers


def load_example(name: str) -> ModuleType:
    """Import `examples/{name}.py` as a module (the folder is not a package)."""
    module_name = f"latro_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses resolve their string annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def script_for(recipe: Path) -> str:
    return "train_arc" if recipe.stem.endswith("_arc") else "train_gsm8k"


def parse_recipe(recipe: Path):
    # The paper recipes set bf16, which TrainingArguments refuses on a machine without a bf16 GPU unless use_cpu.
    return load_example(script_for(recipe)).parse_args(["--config", str(recipe), "--use_cpu", "true"])


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def run_example(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "PYTHONWARNINGS": "ignore",
    }
    command = [sys.executable, str(EXAMPLES / script), *args]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


def log_history(output_dir: Path) -> list[dict]:
    return json.loads((output_dir / "checkpoint-1" / "trainer_state.json").read_text())["log_history"]


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    from latro_trl.testing import make_tiny_model, make_tiny_tokenizer

    path = tmp_path_factory.mktemp("tiny-model")
    tokenizer = make_tiny_tokenizer()
    make_tiny_model(tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def gsm8k_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gsm8k")
    write_jsonl(path / "train.jsonl", GSM8K_ROWS)
    write_jsonl(path / "test.jsonl", GSM8K_ROWS[::-1])
    return path


@pytest.fixture(scope="module")
def arc_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("arc_challenge")
    for split in ("train", "dev", "test"):
        write_jsonl(path / f"{split}.jsonl", ARC_ROWS)
    return path


def tiny_latro_args(model_dir: Path, output_dir: Path) -> list[str]:
    """K = 2, one question per step, 8-token rationales, one step, a checkpoint at step 1 (for its log history)."""
    return [
        "--model_name_or_path", str(model_dir),
        "--num_generations", "2",
        "--per_device_train_batch_size", "2",
        "--max_completion_length", "8",
        "--max_steps", "1",
        "--learning_rate", "1e-3",
        "--logging_steps", "1",
        "--save_strategy", "steps",
        "--save_steps", "1",
        "--report_to", "none",
        "--gradient_checkpointing", "false",
        "--bf16", "false",
        "--output_dir", str(output_dir),
    ]  # fmt: skip


# ---------------------------------------------------------------- recipes


def test_every_paper_recipe_is_there():
    names = {recipe.stem for recipe in PAPER_RECIPES}
    assert names == {f"{model}_{task}" for model in MODEL_IDS for task in PAPER}


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda recipe: recipe.stem)
def test_recipe_parses_with_its_script(recipe):
    from trl import ModelConfig

    from latro_trl import LaTROConfig

    script_args, training_args, model_args = parse_recipe(recipe)
    assert isinstance(training_args, LaTROConfig) and isinstance(model_args, ModelConfig)
    assert script_args.dataset_name == {"train_arc": "arc_challenge", "train_gsm8k": "gsm8k"}[script_for(recipe)]


@pytest.mark.parametrize("recipe", PAPER_RECIPES, ids=lambda recipe: recipe.stem)
def test_paper_recipe_holds_the_paper_settings(recipe):
    model_key, task = recipe.stem.rsplit("_", 1)
    script_args, args, model_args = parse_recipe(recipe)

    assert model_args.model_name_or_path == MODEL_IDS[model_key]
    assert model_args.dtype == "bfloat16" and not model_args.use_peft
    assert args.num_generations == 16
    assert args.learning_rate == 5e-7
    assert args.beta == PAPER[task]["beta"]
    assert args.num_train_epochs == PAPER[task]["epochs"]
    assert args.max_completion_length == 500
    assert (args.temperature, args.top_k, args.top_p) == (1.0, 0, 1.0)
    assert args.lr_scheduler_type == "linear" and args.warmup_steps == 0
    assert args.answer_loss_coef == 1.0 and args.unfinished_penalty_factor == 2.0
    assert args.bf16 and args.gradient_checkpointing
    # 8 GPUs: 3 questions x K rationales per GPU per update (the reference code's loader batch), and the generation
    # batch holds whole groups of K.
    per_gpu = args.per_device_train_batch_size * args.gradient_accumulation_steps
    assert per_gpu == 3 * args.num_generations
    assert (per_gpu * NUM_GPUS) % args.num_generations == 0
    if task == "arc":
        assert script_args.answer_format == "text"  # the paper writes the option's text


@pytest.mark.parametrize("recipe", PAPER_RECIPES, ids=lambda recipe: recipe.stem)
def test_recipe_header_names_hardware_and_a_launch_command_that_exists(recipe):
    text = recipe.read_text()
    assert "8 x H100 80GB" in text and "NOT run by us" in text
    launch = re.search(r"accelerate launch --config_file (\S+) \\\n#\s+examples/(\S+)\.py --config (\S+)\n", text)
    assert launch, f"{recipe.name}: no launch command in the header"
    assert (ROOT / launch[1]).is_file(), f"{launch[1]} does not exist"
    assert launch[2] == script_for(recipe)
    assert launch[3] == f"examples/recipes/{recipe.name}"


@pytest.mark.parametrize("recipe", PAPER_RECIPES, ids=lambda recipe: recipe.stem)
def test_recipe_says_which_lambda_it_uses_and_why(recipe):
    # The paper's gradient has lambda = 1; the public reference script trains with 0. A recipe labelled "paper
    # settings" must say which one it uses, why, and how to get the other.
    text = recipe.read_text()
    _, args, _ = parse_recipe(recipe)
    comment = text[: text.index(f"answer_loss_coef: {args.answer_loss_coef}")].rsplit("\n\n", 1)[-1]
    assert f"We use {args.answer_loss_coef}" in comment
    assert "sft_penalty" in comment and "0.0" in comment
    other = 0.0 if args.answer_loss_coef == 1.0 else 1.0
    assert f"--answer_loss_coef {other}" in comment


# ---------------------------------------------------------------- one step of each script


def test_train_gsm8k_runs_one_step(tiny_model_dir, gsm8k_dir, tmp_path):
    output_dir = tmp_path / "out"
    result = run_example(
        "train_gsm8k.py", *tiny_latro_args(tiny_model_dir, output_dir), "--dataset_path", str(gsm8k_dir)
    )
    assert "LaTRO on gsm8k: 3 questions" in result.stdout
    assert (output_dir / "model.safetensors").is_file()
    logs = log_history(output_dir)[0]
    assert all(key in logs for key in ("loss", "reward", "answer_logp", "kl", "rationale/marker_rate"))


def test_train_arc_runs_one_step_with_accuracy_on_the_dev_split(tiny_model_dir, arc_dir, tmp_path):
    output_dir = tmp_path / "out"
    run_example(
        "train_arc.py",
        *tiny_latro_args(tiny_model_dir, output_dir),
        "--dataset_path", str(arc_dir),
        "--answer_format", "text",
        "--eval_accuracy_steps", "1",
        "--max_eval_samples", "2",
        "--eval_max_new_tokens", "4",
    )  # fmt: skip
    assert (output_dir / "model.safetensors").is_file()
    assert any("eval/accuracy" in entry for entry in log_history(output_dir))


@pytest.mark.parametrize("task", ["gsm8k", "arc_challenge"])
def test_sft_baseline_runs_one_step(task, tiny_model_dir, gsm8k_dir, arc_dir, tmp_path):
    output_dir = tmp_path / "out"
    run_example(
        "sft_baseline.py",
        "--dataset_name", task,
        "--dataset_path", str(gsm8k_dir if task == "gsm8k" else arc_dir),
        "--model_name_or_path", str(tiny_model_dir),
        "--per_device_train_batch_size", "2",
        "--max_steps", "1",
        "--logging_steps", "1",
        "--save_strategy", "steps",
        "--save_steps", "1",
        "--report_to", "none",
        "--gradient_checkpointing", "false",
        "--bf16", "false",
        "--output_dir", str(output_dir),
    )  # fmt: skip
    assert (output_dir / "model.safetensors").is_file()
    assert "loss" in log_history(output_dir)[0]


def test_evaluate_writes_greedy_and_majority_results(tiny_model_dir, gsm8k_dir, tmp_path):
    output_dir = tmp_path / "eval"
    result = run_example(
        "evaluate.py",
        "--model_name_or_path", str(tiny_model_dir),
        "--dataset_name", "gsm8k",
        "--dataset_path", str(gsm8k_dir),
        "--max_samples", "2",
        "--num_samples", "2",
        "--max_new_tokens", "8",
        "--output_dir", str(output_dir),
    )  # fmt: skip
    records = [json.loads(line) for line in (output_dir / "predictions.jsonl").read_text().splitlines()]
    summary = json.loads((output_dir / "summary.json").read_text())
    assert [record["gold"] for record in records] == ["8", "10"]  # the test split's first two questions
    assert all(len(record["sample_answers"]) == 2 for record in records)
    assert summary["num_examples"] == 2 and {"greedy", "maj@2"} <= set(summary)
    assert "greedy:" in result.stdout


def test_latro_minimal_runs_one_step_on_a_tiny_model():
    result = run_example("latro_minimal.py", "--model", "tiny", "--steps", "1", "--max_completion_length", "8")
    assert re.search(r"step 1/1 \| loss -?\d", result.stdout), result.stdout


def test_latro_minimal_update_agrees_with_the_package_objective():
    """The single-file re-derivation of rewards, RLOO and the loss matches latro_trl.objective on the same batch."""
    import torch
    from torch.testing import assert_close

    from latro_trl.objective import latro_loss, latro_rewards, penalize_unfinished, rloo_advantages
    from latro_trl.testing import make_tiny_model, make_tiny_tokenizer

    minimal = load_example("latro_minimal")
    cfg = minimal.Args(num_generations=2, beta=0.1, answer_loss_coef=1.0, learning_rate=0.0)
    tokenizer = make_tiny_tokenizer()
    policy = make_tiny_model(tokenizer)
    reference = make_tiny_model(tokenizer, seed=1)  # a different network, so the KL term is not zero
    optimizer = torch.optim.AdamW(policy.parameters(), lr=0.0)
    ids = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    prompts = [ids("Tom has 3 apples and buys 5 more.")] * 2 + [ids("What is 2 + 2?")] * 2
    rationales = [ids("3 + 5 = 8."), ids("He buys 5"), ids("2 + 2 = 4"), ids("First, half")]
    answers = [minimal.make_answer_ids(tokenizer, a, z, cfg) for a, z in zip("8844", rationales, strict=True)]
    finished = torch.tensor([True, False, True, True])
    rollout = minimal.Rollout(prompts, rationales, answers, finished)

    out = minimal.latro_update(policy, reference, optimizer, rollout, cfg, tokenizer.pad_token_id)
    with torch.no_grad():
        ref_z, _ = minimal.sequence_logps(reference, rollout, tokenizer.pad_token_id)
    answer_rewards = penalize_unfinished(out.answer_logps, finished, cfg.unfinished_penalty_factor)
    rewards = latro_rewards(answer_rewards, out.rationale_logps, ref_z, cfg.beta)
    advantages = rloo_advantages(rewards, cfg.num_generations)
    expected = latro_loss(out.rationale_logps, out.answer_logps, advantages, cfg.answer_loss_coef)
    assert_close(out.rewards, rewards)
    assert_close(out.advantages, advantages)
    assert_close(out.loss, expected.loss)
