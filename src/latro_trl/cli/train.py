"""`latro train`: the one training entry. LaTRO on a named data set, every LaTROConfig field settable by flag or YAML.

The example scripts (`examples/train_gsm8k.py`, `examples/train_arc.py`) are this entry with the data set chosen
(the demo and the experiments, which train small LoRA runs on data they build in memory, use
`latro_trl.warm_start.lora_latro` instead), and `accelerate launch` runs it as a module or through those scripts:

    accelerate launch --config_file deepspeed_configs/accelerate/zero3_1node_8gpu.yaml \
        -m latro_trl.cli.train --dataset_name gsm8k --config examples/recipes/llama31_8b_gsm8k.yaml

What it does, top to bottom: load the training split (and, with `--eval_accuracy_steps`, a selection split), pick the
model (a hub id or path goes to the trainer as a string, so TRL loads it, under ZeRO-3 sharded from the start, and
builds the frozen reference the same way; no `--model_name_or_path` means the embedded SmolLM2 GGUF, loaded here),
optionally LoRA (`--use_peft`) or QLoRA (`--load_in_4bit`), train (resuming with `--resume_from_checkpoint`), save.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from .datasets import DatasetArguments


@dataclass
class TrainArguments(DatasetArguments):
    """What `latro train` adds to the data set choice.

    Args:
        dataset_train_split: the training split.
        max_train_samples: train on the first N questions only (smoke runs).
        eval_accuracy_steps: measure greedy accuracy on `eval_split` every N optimizer steps (0: never).
        eval_split: the split of that measurement; unset: the data set's selection split (`validation` where there
            is one; GSM8K has none, so `test`: hold part of `train` out if checkpoint selection matters).
        max_eval_samples: the first N questions of `eval_split` (default 100).
        eval_max_new_tokens: reply limit for that evaluation (``None``: the run's ``max_completion_length`` + 32).
        init_adapter: a PEFT adapter merged into the model before training (a warm start).
    """

    dataset_train_split: str = field(default="train", metadata={"help": "Training split."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Train on the first N questions only."})
    eval_accuracy_steps: int = field(
        default=0, metadata={"help": "Greedy accuracy on eval_split every N optimizer steps (0 = off)."}
    )
    eval_split: str | None = field(
        default=None, metadata={"help": "Split of the accuracy measurement (default: validation, GSM8K: test)."}
    )
    max_eval_samples: int = field(default=100, metadata={"help": "Questions used for the accuracy measurement."})
    eval_max_new_tokens: int | None = field(
        default=None,
        metadata={"help": "Reply limit of the accuracy evaluation (default: max_completion_length + 32)."},
    )
    init_adapter: str | None = field(
        default=None,
        metadata={
            "help": "Warm start: a PEFT adapter folder (e.g. from examples/sft_baseline.py) merged into the model "
            "before LaTRO. The frozen reference is then the warm-started model. For a merged SFT checkpoint, pass "
            "its folder as --model_name_or_path instead; under ZeRO-3, merge first (latro_trl.models.save_merged) "
            "and pass that folder, so that the reference is loaded sharded too."
        },
    )


def make_parser(subparsers: Any = None, prog: str | None = None) -> Any:
    """A `TrlParser` over `(TrainArguments, LaTROConfig, ModelConfig)`; `--config file.yaml` sets their defaults. As a
    `latro` subcommand when `subparsers` (from `add_subparsers(parser_class=TrlParser)`) is given."""
    from .parsing import run_parser

    return run_parser(TrainArguments, command="train", subparsers=subparsers, help="Train with LaTRO.", prog=prog)


def main(script_args: TrainArguments, training_args: Any, model_args: Any) -> int:
    """Load data and model, train, save. Safe under `accelerate launch` (every process runs it). Heavy imports
    live here so that `latro --help` stays fast."""
    from accelerate import PartialState
    from trl import get_peft_config, get_quantization_config

    from latro_trl import LaTROTrainer
    from latro_trl.data.registry import selection_split, task_type
    from latro_trl.models import model_for_trainer

    state = PartialState()
    name = script_args.dataset_name

    # 1. Data: prompt (a conversation: question + "think step by step" trigger) and answer (the gold answer).
    with state.local_main_process_first():  # one download when reading from the Hub; the others hit the cache
        train_dataset = script_args.load(script_args.dataset_train_split, script_args.max_train_samples)
        eval_dataset = None
        if script_args.eval_accuracy_steps > 0:
            split = script_args.eval_split or selection_split(name)
            eval_dataset = script_args.load(split, script_args.max_eval_samples)

    # 2. Model: a hub id / path as a string (TRL loads policy and reference, ZeRO-3 aware), or the embedded SmolLM2.
    model, tokenizer = model_for_trainer(model_args, training_args, init_adapter=script_args.init_adapter)

    # 3. Trainer (LoRA when --use_peft: the reference is then the model with the adapter switched off).
    trainer = LaTROTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        quantization_config=get_quantization_config(model_args),  # QLoRA: --load_in_4bit
    )
    if eval_dataset is not None:
        from latro_trl.evaluation import AccuracyCallback

        AccuracyCallback(
            eval_dataset,
            every_n_steps=script_args.eval_accuracy_steps,
            max_new_tokens=script_args.eval_max_new_tokens,
            task=task_type(name),
        ).attach(trainer)

    # 4. Train, save.
    state.print(
        f"LaTRO on {name}: {len(train_dataset)} questions, K={training_args.num_generations}, "
        f"beta={training_args.beta}, lambda={training_args.answer_loss_coef}, {state.num_processes} process(es)"
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    state.print(f"Saved to {training_args.output_dir}")
    trainer.end()  # finish the trackers, destroy the process group
    return 0


def parse_args_for(dataset_name: str, argv: list[str] | None = None) -> tuple[Any, ...]:
    """`latro train`'s arguments with the data set chosen (a later `--dataset_name` in ``argv`` still wins): what
    `examples/train_gsm8k.py` and `examples/train_arc.py` parse."""
    argv = sys.argv[1:] if argv is None else argv
    return make_parser().parse_args_and_config(args=["--dataset_name", dataset_name, *argv])


def run(argv: list[str] | None = None) -> int:
    """`python -m latro_trl.cli.train ...`: the same as `latro train ...`."""
    return main(*make_parser(prog="latro train").parse_args_and_config(args=argv))


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
