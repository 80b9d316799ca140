"""LaTRO on ARC-Challenge (science multiple choice), TRL-script style.

The twin of `train_gsm8k.py` (same flags, same `--config` YAML convention); only the data differ: each prompt lists
the options as `A) ...` lines, and the gold answer `y` the model is trained to find likely after its rationale is
`"The answer is {answer}."` with `answer` the option's text (the paper's choice, `--answer_format text`), its label
(`label`, the loader's default) or both (`label_text`).

Usage:

    # 8 GPUs, the paper's settings for Llama-3.1-8B-Instruct (see examples/README.md for the other models)
    accelerate launch --config_file deepspeed_configs/accelerate/zero3_1node_8gpu.yaml \
        examples/train_arc.py --config examples/recipes/llama31_8b_arc.yaml

    # CPU, the embedded SmolLM2-135M-Instruct, local data in AI2's layout, a few steps
    python examples/train_arc.py --config examples/recipes/smollm2_cpu_demo.yaml \
        --dataset_path ../shared/data/arc_challenge --output_dir runs/smollm2-latro-arc-cpu

What it does, top to bottom: load the ARC-Challenge train split (`latro_trl.data.load_arc`, AI2's original layout or
the hub's flat one), pick the model (a hub id or path as a string: TRL loads it and its reference; none: the
embedded SmolLM2), optionally LoRA (`--use_peft`), optionally greedy accuracy on the dev split during training,
train (resuming with `--resume_from_checkpoint`), save.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ANSWER_FORMATS = ("label", "label_text", "text")


@dataclass
class ScriptArguments:
    """What the script adds to `LaTROConfig` and `ModelConfig`.

    Args:
        dataset_path: folder holding ARC-Challenge's `train.jsonl` / `dev.jsonl` / `test.jsonl` (AI2's layout or the
            hub's), or one such file. Unset: download `allenai/ai2_arc` (ARC-Challenge) from the Hugging Face Hub.
        answer_format: how the gold answer is written in `"The answer is {answer}."`: `text` (the option's text, as
            in the paper), `label` (`B`) or `label_text` (`B) blue`).
        max_train_samples: train on the first N questions only (smoke runs).
        eval_accuracy_steps: measure greedy accuracy on `eval_split` every N optimizer steps (0: never).
        eval_split: the split of that measurement; `validation` (AI2's dev set) keeps `test` for the final number.
        max_eval_samples: the first N questions of `eval_split`.
        eval_max_new_tokens: reply limit of that measurement.
    """

    dataset_path: str | None = field(
        default=None,
        metadata={
            "help": "Folder (or file) with ARC-Challenge's train/dev/test.jsonl; unset: download allenai/ai2_arc."
        },
    )
    answer_format: str = field(
        default="label",
        metadata={"help": "Gold answer in the template: 'text' (the paper's), 'label' or 'label_text'."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Train on the first N questions only."})
    eval_accuracy_steps: int = field(
        default=0, metadata={"help": "Greedy accuracy on eval_split every N optimizer steps (0 = off)."}
    )
    eval_split: str = field(default="validation", metadata={"help": "Split for the accuracy measurement."})
    max_eval_samples: int = field(default=200, metadata={"help": "Questions used for the accuracy measurement."})
    eval_max_new_tokens: int = field(default=512, metadata={"help": "Reply limit of the accuracy measurement."})

    def __post_init__(self) -> None:
        if self.answer_format not in ANSWER_FORMATS:
            raise ValueError(
                f"--answer_format {self.answer_format!r} is not one of {', '.join(ANSWER_FORMATS)}; use 'text' for "
                "the paper's setting."
            )


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
    from latro_trl.data import load_arc
    from latro_trl.models import model_for_trainer

    state = PartialState()
    data = {"path": script_args.dataset_path, "answer_format": script_args.answer_format}

    # 1. Data: prompt (question, options "A) ..." one per line, trigger) and answer (as --answer_format says).
    with state.local_main_process_first():  # one download when reading from the Hub; the others hit the cache
        train_dataset = load_arc("train", limit=script_args.max_train_samples, **data)
        eval_dataset = None
        if script_args.eval_accuracy_steps > 0:
            eval_dataset = load_arc(script_args.eval_split, limit=script_args.max_eval_samples, **data)

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
            task="choice",  # scored against the label; the option's text is accepted too
        ).attach(trainer)

    # 4. Train, save.
    state.print(
        f"LaTRO on ARC-Challenge: {len(train_dataset)} questions, answers as {script_args.answer_format}, "
        f"K={training_args.num_generations}, beta={training_args.beta}, lambda={training_args.answer_loss_coef}, "
        f"{state.num_processes} process(es)"
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    state.print(f"Saved to {training_args.output_dir}")
    trainer.end()  # finish the trackers, destroy the process group


if __name__ == "__main__":
    main(*make_parser().parse_args_and_config())
