"""One declaration of a run (issue #30): every `latro` command parses `LaTROConfig` and TRL's `ModelConfig` with one
`TrlParser` pattern, a flag given once reaches the trainer, the evaluation and the plan, and every shipped recipe
parses. No model is trained here: the trainer and the model loaders are replaced by recorders."""

from __future__ import annotations

import dataclasses
import importlib
import json
from argparse import ArgumentParser
from pathlib import Path

import pytest
from trl import ModelConfig, TrlParser

from latro_trl import LaTROConfig
from latro_trl.cli import demo as demo_cli
from latro_trl.cli import evaluate as eval_cli
from latro_trl.cli import main as latro_main
from latro_trl.cli import plan as plan_cli
from latro_trl.cli import train as train_cli
from latro_trl.evaluation.generation import ANSWER_ROOM
from latro_trl.plan import plan_for_config

# A run given once, as flags: K, L, the batch, beta, the seed.
RUN = ["--num_generations", "4", "--max_completion_length", "48", "--per_device_train_batch_size", "8"]
RUN += ["--beta", "0.0", "--seed", "7", "--max_prompt_length", "64"]
RECIPES = sorted((Path(demo_cli.__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


def _subcommand(name: str) -> TrlParser:
    module = importlib.import_module(latro_main.COMMANDS[name][0])
    subparsers = ArgumentParser(prog="latro").add_subparsers(dest="command", parser_class=TrlParser)
    return module.make_parser(subparsers)


@pytest.mark.parametrize("name", list(latro_main.COMMANDS))
def test_every_command_is_a_trl_subcommand_over_the_runs_config(name):
    parser = _subcommand(name)
    assert isinstance(parser, TrlParser) and parser.prog == f"latro {name}"
    assert LaTROConfig in parser.dataclass_types and ModelConfig in parser.dataclass_types
    own = [t for t in parser.dataclass_types if t not in (LaTROConfig, ModelConfig)]
    assert len(own) == 1  # one small dataclass of the command's own
    config_fields = {f.name for t in (LaTROConfig, ModelConfig) for f in dataclasses.fields(t)}
    assert not {f.name for f in dataclasses.fields(own[0])} & config_fields  # nothing re-declared
    module = importlib.import_module(latro_main.COMMANDS[name][0])
    assert not hasattr(module, "add_parser") and callable(module.main)


def test_main_has_no_special_case():
    source = Path(latro_main.__file__).read_text()
    assert "hasattr" not in source and "add_parser" not in source


def test_train_and_eval_default_to_the_same_data_set():
    (train_args, _, _) = train_cli.make_parser().parse_args_and_config(args=[])
    (eval_args, _, _) = eval_cli.make_parser().parse_args_and_config(args=[])
    assert train_args.dataset_name == eval_args.dataset_name == "synthetic"


def test_a_flag_given_once_reaches_the_trainer_the_evaluation_and_the_plan(monkeypatch, tmp_path):
    import latro_trl
    import latro_trl.evaluation
    import latro_trl.models

    # The trainer: `latro train` hands its parsed config to LaTROTrainer.
    seen = {}

    class RecordingTrainer:
        def __init__(self, args, **kwargs):
            seen["args"] = args

        def train(self, **kwargs):
            pass

        def save_model(self, output_dir):
            pass

        def end(self):
            pass

    monkeypatch.setattr(latro_trl, "LaTROTrainer", RecordingTrainer, raising=False)
    monkeypatch.setattr(latro_trl.models, "model_for_trainer", lambda *a, **k: (None, None))
    train_argv = [*RUN, "--max_train_samples", "8", "--output_dir", str(tmp_path / "train")]
    assert latro_main.main(["train", *train_argv]) == 0
    config = seen["args"]
    assert (config.num_generations, config.max_completion_length, config.beta, config.seed) == (4, 48, 0.0, 7)

    # The evaluation: the reply limit is the run's L + the answer's room, the sampling seed the run's.
    calls = {}

    def recording_evaluate(model, tokenizer, dataset, **kwargs):
        calls.update(kwargs)
        Path(kwargs["output_dir"]).mkdir(parents=True, exist_ok=True)
        return {"num_examples": 0, "max_new_tokens": kwargs["max_new_tokens"]}

    monkeypatch.setattr(latro_trl.evaluation, "evaluate", recording_evaluate, raising=False)
    monkeypatch.setattr(latro_trl.evaluation, "load_model_for_eval", lambda *a, **k: (None, None), raising=False)
    monkeypatch.setattr("latro_trl.cli.datasets.DatasetArguments.load", lambda *a, **k: [])
    assert latro_main.main(["eval", *RUN, "--device", "cpu", "--output_dir", str(tmp_path / "eval")]) == 0
    assert calls["max_new_tokens"] == 48 + ANSWER_ROOM and calls["seed"] == 7
    assert json.loads((tmp_path / "eval" / "arguments.json").read_text())["max_completion_length"] == 48

    # The plan: the same config, planned as plan_for_config plans it.
    _, plan_config, _ = plan_cli.make_parser().parse_args_and_config(args=RUN)
    expected = plan_for_config("Llama-3.1-8B-Instruct", plan_config, num_gpus=1)
    assert dataclasses.asdict(expected) == dataclasses.asdict(
        plan_for_config("Llama-3.1-8B-Instruct", config, num_gpus=1)
    )
    assert expected.reference_gib == 0  # beta 0 reached the plan: no reference model


def _demo_lora_run(monkeypatch, config, model_args) -> dict:
    """What the demo's LaTRO step hands to `lora_latro` (the trainer replaced by a recorder)."""
    calls = {}
    monkeypatch.setattr("latro_trl.warm_start.lora_latro", lambda *a, **k: calls.update(args=a[3], **k))
    demo_cli._latro(None, None, None, config, model_args)
    return calls


def test_a_flag_reaches_the_demos_lora_run(monkeypatch, tmp_path):
    args, config, model_args = demo_cli.make_parser().parse_args_and_config(
        args=[*RUN, "--stop_markers", "The answer is", "So:", "--lora_r", "4", "--output_dir", str(tmp_path)]
    )
    calls = _demo_lora_run(monkeypatch, config, model_args)
    run = calls["args"]
    assert (run.num_generations, run.max_completion_length, run.beta, run.seed) == (4, 48, 0.0, 7)
    assert run.per_device_train_batch_size == 8 and run.stop_markers == ["The answer is", "So:"]
    assert calls["lora_r"] == 4 and run.output_dir == str(tmp_path / "checkpoints")
    assert args.warm_start_problems == 64  # the demo's own default


def test_a_setting_of_a_small_run_can_be_changed_too(monkeypatch):
    _, config, model_args = demo_cli.make_parser().parse_args_and_config(args=["--logging_steps", "5"])
    assert _demo_lora_run(monkeypatch, config, model_args)["args"].logging_steps == 5


def test_the_demos_lora_run_is_the_one_it_trained_before_lora_latro_took_a_config(monkeypatch):
    """Issue #30: lora_latro used to build the config from keywords and fixed settings; with the recipe and no flags,
    the config the demo hands it now is the one that construction gave (every field)."""
    _, config, model_args = demo_cli.make_parser().parse_args_and_config(args=[])
    calls = _demo_lora_run(monkeypatch, config, model_args)
    before = LaTROConfig(
        output_dir="latro-demo/checkpoints",
        max_steps=40,  # the recipe's since issue #27 (24 when lora_latro took keywords)
        learning_rate=5e-5,
        lr_scheduler_type="constant",
        logging_steps=1,
        report_to="none",
        save_strategy="steps",
        save_steps=12,
        gradient_checkpointing=False,
        dataloader_pin_memory=False,
        seed=0,
        num_generations=4,
        per_device_train_batch_size=2 * 4,
        max_completion_length=96,
        beta=0.05,
        save_total_limit=1,  # the one field the demo passed beside those (it differs from LaTROConfig's default)
    )
    assert calls["args"].to_dict() == before.to_dict()
    assert calls["lora_r"] == 16 and calls["progress_metrics"] == demo_cli.LATRO_PROGRESS


def test_the_demo_recipe_is_shipped_and_sets_the_demos_run():
    assert demo_cli.recipe_path() in RECIPES
    args, config, model_args = demo_cli.make_parser().parse_args_and_config(args=[])
    assert (config.num_generations, config.max_completion_length, config.max_steps) == (4, 96, 40)
    assert config.per_device_train_batch_size == 2 * config.num_generations and config.output_dir == "latro-demo"
    # A --config file and flags override the recipe.
    _, config, _ = demo_cli.make_parser().parse_args_and_config(args=["--max_steps", "2"])
    assert config.max_steps == 2


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda recipe: recipe.stem)
def test_each_shipped_recipe_parses(recipe):
    command = {"demo": "demo"}[recipe.stem]  # every packaged recipe names the command it configures
    parsed = _subcommand(command).parse_args_and_config(args=["--config", str(recipe)])
    assert isinstance(parsed[1], LaTROConfig) and isinstance(parsed[2], ModelConfig)


def test_eval_reads_a_training_recipe(tmp_path):
    recipe = tmp_path / "run.yaml"
    recipe.write_text("max_completion_length: 200\nseed: 3\nmodel_name_or_path: some/model\ndtype: bfloat16\n")
    args, config, model_args = eval_cli.make_parser().parse_args_and_config(args=["--config", str(recipe)])
    assert (config.max_completion_length, config.seed, config.output_dir) == (200, 3, eval_cli.DEFAULT_OUTPUT_DIR)
    assert (model_args.model_name_or_path, model_args.dtype) == ("some/model", "bfloat16")


def test_run_parser_reads_a_recipe_and_refuses_keys_no_dataclass_has(tmp_path):
    from dataclasses import dataclass

    from latro_trl.cli.parsing import run_parser

    @dataclass
    class Own:
        seeds: int = 1

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("seeds: 3\nbeta: 0.2\nlora_r: 8\n")
    own, config, model_args = run_parser(Own, recipe=recipe).parse_args_and_config(args=["--beta", "0.3"])
    assert (own.seeds, config.beta, model_args.lora_r) == (3, 0.3, 8)  # the recipe's defaults, a flag over them
    recipe.write_text("seeds: 3\nquestions_per_step: 2\n")
    with pytest.raises(ValueError, match="questions_per_step"):
        run_parser(Own, recipe=recipe)
