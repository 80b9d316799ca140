"""The paper's SFT baseline: supervised fine-tuning on the gold answers, with `trl.SFTTrainer`.

Same conventions as `train_gsm8k.py` / `train_arc.py` (every `SFTConfig` and `ModelConfig` field is a flag, `--config`
takes a YAML of the same keys). The data are the loaders' `prompt` (the same prompt LaTRO trains on) and
`completion` columns, in TRL's conversational prompt/completion format, so the loss is on the completion only:

- GSM8K: the gold rationale (calculator annotations removed) followed by `"The answer is 72."`;
- ARC-Challenge: `"The answer is ..."` alone. ARC has no gold rationales; the paper's ARC SFT baseline answers
  directly too.

Usage:

    accelerate launch --config_file deepspeed_configs/accelerate/zero3_1node_8gpu.yaml examples/sft_baseline.py \
        --dataset_name gsm8k --model_name_or_path meta-llama/Llama-3.1-8B-Instruct --dtype bfloat16 \
        --output_dir runs/llama31-8b-sft-gsm8k --num_train_epochs 6 --learning_rate 1e-7 \
        --per_device_train_batch_size 16 --gradient_accumulation_steps 2   # hyper-parameters: see examples/README.md

    # CPU (SFTConfig turns bf16 on by default, which a CPU refuses: pass --bf16 false)
    python examples/sft_baseline.py --dataset_name gsm8k --dataset_path ../shared/data/gsm8k --max_train_samples 16 \
        --max_steps 2 --bf16 false --gradient_checkpointing false --output_dir runs/smollm2-sft-gsm8k

No `--model_name_or_path`: the embedded SmolLM2-135M-Instruct.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from latro_trl.cli.datasets import DatasetArguments


@dataclass
class ScriptArguments(DatasetArguments):
    """What the script adds to `SFTConfig` and `ModelConfig`: `latro train`'s data set flags (`--dataset_name`,
    `--dataset_path`, `--answer_format`: use the same values as the LaTRO run you compare with)."""

    max_train_samples: int | None = field(default=None, metadata={"help": "Train on the first N questions only."})


def make_parser():
    """A `TrlParser` over `(ScriptArguments, SFTConfig, ModelConfig)`; `--config file.yaml` sets their defaults."""
    from trl import ModelConfig, SFTConfig, TrlParser

    return TrlParser((ScriptArguments, SFTConfig, ModelConfig))


def load_sft_dataset(script_args: ScriptArguments):
    """The train split as TRL prompt/completion conversations (the loaders' other columns dropped)."""
    dataset = script_args.load("train", script_args.max_train_samples)
    missing = {"prompt", "completion"} - set(dataset.column_names)
    if missing:
        raise ValueError(f"{script_args.dataset_name} has no {', '.join(sorted(missing))} column for SFT.")
    return dataset.select_columns(["prompt", "completion"])


def main(script_args: ScriptArguments, training_args, model_args) -> None:
    """Load data and model, fine-tune, save. Safe under `accelerate launch`."""
    from accelerate import PartialState
    from trl import SFTTrainer, get_peft_config, get_quantization_config

    from latro_trl.models import model_for_trainer

    state = PartialState()

    # 1. Data: prompt (as LaTRO sees it) and completion (gold rationale + answer template; ARC: the answer alone).
    with state.local_main_process_first():
        train_dataset = load_sft_dataset(script_args)

    # 2. Model: a hub id / path as a string (TRL loads it), or the embedded SmolLM2.
    model, tokenizer = model_for_trainer(model_args, training_args)

    # 3. Train on the completion tokens only (TRL's default for prompt/completion data), save.
    trainer = SFTTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        quantization_config=get_quantization_config(model_args),  # QLoRA: --load_in_4bit
    )
    state.print(
        f"SFT baseline on {script_args.dataset_name}: {len(train_dataset)} examples, {state.num_processes} process(es)"
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    state.print(f"Saved to {training_args.output_dir}")
    trainer.end()


if __name__ == "__main__":
    main(*make_parser().parse_args_and_config())
