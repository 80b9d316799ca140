"""LaTRO on GSM8K (grade-school math), TRL-script style.

Every `LaTROConfig` / `TrainingArguments` field and every `trl.ModelConfig` field is a flag, and a YAML file of the
same keys can be passed with `--config` (flags given after it win). The recipes in `examples/recipes/` hold the
paper's settings.

Usage:

    # 8 GPUs, the paper's settings for Llama-3.1-8B-Instruct (see examples/README.md for the other models)
    accelerate launch --config_file deepspeed_configs/accelerate/zero3_1node_8gpu.yaml \
        examples/train_gsm8k.py --config examples/recipes/llama31_8b_gsm8k.yaml

    # CPU, the embedded SmolLM2-135M-Instruct (no --model_name_or_path), local data, a few steps
    python examples/train_gsm8k.py --config examples/recipes/smollm2_cpu_demo.yaml \
        --dataset_path ../shared/data/gsm8k

What it does, top to bottom: load the GSM8K train split (`latro_trl.data.load_gsm8k`: a conversational prompt with a
"think step by step" trigger and the gold number as `answer`), pick the model (a hub id or path goes to the trainer
as a string, so TRL loads it, under ZeRO-3 sharded from the start, and builds the frozen reference the same way; no
`--model_name_or_path` means the embedded SmolLM2 GGUF, loaded here as an object), optionally LoRA
(`--use_peft`), optionally greedy accuracy on a held-out split during training, train (resuming with
`--resume_from_checkpoint`), save.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ScriptArguments:
    """What the script adds to `LaTROConfig` and `ModelConfig`.

    Args:
        dataset_path: folder holding GSM8K's `train.jsonl` / `test.jsonl` in the original format (`question`, `answer`
            ending in `#### n`), or one such file. Unset: download `openai/gsm8k` from the Hugging Face Hub.
        max_train_samples: train on the first N questions only (smoke runs).
        eval_accuracy_steps: measure greedy accuracy on `eval_split` every N optimizer steps (0: never).
        eval_split: the split of that measurement. GSM8K has no validation split; selecting a checkpoint on `test`
            (as the paper did) overstates its accuracy, so hold out part of `train` for selection if it matters.
        max_eval_samples: the first N questions of `eval_split`.
        eval_max_new_tokens: reply limit of that measurement.
    """

    dataset_path: str | None = field(
        default=None,
        metadata={"help": "Folder (or file) with GSM8K's train.jsonl/test.jsonl; unset: download openai/gsm8k."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Train on the first N questions only."})
    eval_accuracy_steps: int = field(
        default=0, metadata={"help": "Greedy accuracy on eval_split every N optimizer steps (0 = off)."}
    )
    eval_split: str = field(default="test", metadata={"help": "Split for the accuracy measurement."})
    max_eval_samples: int = field(default=200, metadata={"help": "Questions used for the accuracy measurement."})
    eval_max_new_tokens: int = field(default=512, metadata={"help": "Reply limit of the accuracy measurement."})


def make_parser():
    """A `TrlParser` over `(ScriptArguments, LaTROConfig, ModelConfig)`; `--config file.yaml` sets their defaults."""
    from trl import ModelConfig, TrlParser

    from latro_trl import LaTROConfig

    return TrlParser((ScriptArguments, LaTROConfig, ModelConfig))


def main(script_args: ScriptArguments, training_args, model_args) -> None:
    """Load data and model, train with LaTRO, save. Safe under `accelerate launch` (every process runs it)."""
    from accelerate import PartialState
    from trl import get_peft_config, get_quantization_config

    from latro_trl import LaTROTrainer
    from latro_trl.data import load_gsm8k
    from latro_trl.models import model_for_trainer

    state = PartialState()

    # 1. Data: prompt (conversation: question + trigger) and answer (the gold number, e.g. "72").
    with state.local_main_process_first():  # one download when reading from the Hub; the others hit the cache
        train_dataset = load_gsm8k("train", path=script_args.dataset_path, limit=script_args.max_train_samples)
        eval_dataset = None
        if script_args.eval_accuracy_steps > 0:
            eval_dataset = load_gsm8k(
                script_args.eval_split, path=script_args.dataset_path, limit=script_args.max_eval_samples
            )

    # 2. Model: a hub id / path as a string (TRL loads policy and reference, ZeRO-3 aware), or the embedded SmolLM2.
    model, tokenizer = model_for_trainer(model_args, training_args)

    # 3. Trainer (LoRA when --use_peft; then the reference is the base model with the adapter switched off).
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
            task="number",
        ).attach(trainer)

    # 4. Train, save.
    state.print(
        f"LaTRO on GSM8K: {len(train_dataset)} questions, K={training_args.num_generations}, "
        f"beta={training_args.beta}, lambda={training_args.answer_loss_coef}, {state.num_processes} process(es)"
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    state.print(f"Saved to {training_args.output_dir}")
    trainer.end()  # finish the trackers, destroy the process group


if __name__ == "__main__":
    main(*make_parser().parse_args_and_config())
