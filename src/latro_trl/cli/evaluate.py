"""`latro eval`: the one evaluation entry. Greedy accuracy and maj@k of a model, a checkpoint or a LoRA adapter.

Writes, under `--output_dir`: `predictions.jsonl` (one line per question: prompt, gold, greedy reply and answer, the k
sampled replies, their answers and the majority), `summary.json` (accuracy with a 95% Wilson interval per decoding
mode, unanswered and unfinished rates, the reply limit used) and `arguments.json`. A stopped evaluation logs its
finished batches there, and the same command resumes it. `examples/evaluate.py` is this entry as a script.

    latro eval --model_name_or_path runs/llama31-8b-latro-gsm8k/checkpoint-311 --dataset_name gsm8k \\
        --dtype bfloat16 --output_dir runs/eval/llama31-gsm8k-epoch1

The run's settings are `latro train`'s (`LaTROConfig` and TRL's `ModelConfig`, as flags or `--config recipe.yaml`):
the rationale limit `--max_completion_length` sets the reply limit, the gold answer is read from `--answer_column`
and a reply's answer after the run's `--stop_markers` and `--answer_template`, and `--model_name_or_path`, `--dtype`,
`--seed`, `--output_dir` and `--per_device_eval_batch_size` are the run's own fields. One process: `python`, not `accelerate
launch` (the questions are not sharded over processes).
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from .datasets import DatasetArguments


@dataclass
class EvalArguments(DatasetArguments):
    """What `latro eval` adds to the run's config: what to evaluate, on what, and how.

    The model is `ModelConfig`'s `--model_name_or_path` (a hub id, a local checkpoint, or a LoRA adapter folder whose
    base is read from `adapter_config.json`; unset: the embedded SmolLM2-135M-Instruct) loaded in its `--dtype`; the
    output folder is `--output_dir`, the sampling seed `--seed` and the batch `--per_device_eval_batch_size`, all the
    run's own settings, and `--max_completion_length` (the run's rationale limit L) sets the reply limit. The data set
    flags are `DatasetArguments`'.

    Args:
        adapter: a LoRA adapter to apply on top of `model_name_or_path`.
        split: `test`, `train`, or (ARC, synthetic) `validation`: select checkpoints there, report `test`.
        max_samples: the first N questions (unset: all).
        num_samples: k of maj@k, sampled at temperature 1 without top-k/top-p (1: greedy only).
        greedy: also decode greedily.
        max_new_tokens: reply limit in tokens. Unset: the run's `max_completion_length` + 32 for the answer sentence,
            so a model trained at that limit is not cut short.
        device: `cuda`, `cpu`, ...; unset: `cuda` when available.
    """

    adapter: str | None = field(default=None, metadata={"help": "LoRA adapter applied on top of the model."})
    split: str = field(default="test", metadata={"help": "test, train, or (ARC, synthetic) validation."})
    max_samples: int | None = field(default=None, metadata={"help": "Evaluate the first N questions (unset: all)."})
    num_samples: int = field(default=8, metadata={"help": "k of maj@k at temperature 1 (1 = greedy only)."})
    greedy: bool = field(default=True, metadata={"help": "Also decode greedily."})
    max_new_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Reply limit in tokens. Default: the run's rationale limit (--max_completion_length, "
            "LaTROConfig's default unless given) + 32 for the answer sentence, so a model trained at that limit is "
            "not cut short. summary.json records the limit used."
        },
    )
    device: str | None = field(default=None, metadata={"help": "cuda, cpu, ...; unset: cuda when available."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_samples < 1:
            raise ValueError(f"--num_samples {self.num_samples}: use 1 (greedy only) or more (maj@k).")
        if not self.greedy and self.num_samples == 1:
            raise ValueError("--greedy false with --num_samples 1 measures nothing useful; use --num_samples 8.")


# The evaluation's output folder when no --output_dir (or recipe) names one; TrainingArguments' own default is a
# training folder.
DEFAULT_OUTPUT_DIR = "latro-eval"


def make_parser(subparsers: Any = None, prog: str | None = None) -> Any:
    """A `TrlParser` over `(EvalArguments, LaTROConfig, ModelConfig)` (so `--config file.yaml` works as for training,
    and a training recipe's `max_completion_length` sets the reply limit); as a `latro` subcommand when `subparsers`
    is given."""
    from .parsing import run_parser

    return run_parser(
        EvalArguments,
        command="eval",
        subparsers=subparsers,
        help="Greedy accuracy and maj@k of a model or adapter.",
        prog=prog,
        defaults={"output_dir": DEFAULT_OUTPUT_DIR},
    )


def main(args: EvalArguments, config: Any, model_args: Any) -> int:
    """Load, evaluate, write the files, print the summary."""
    evaluate_run(args, config, model_args)
    return 0


def evaluate_run(args: EvalArguments, config: Any, model_args: Any) -> dict:
    """Load, evaluate, write the files; returns the summary."""
    import json
    from pathlib import Path

    import torch

    from latro_trl.data.registry import task_type
    from latro_trl.evaluation import evaluate, load_model_for_eval, run_settings

    dataset = args.load(args.split, args.max_samples)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = None if model_args.dtype in (None, "auto") else getattr(torch, model_args.dtype)
    model, tokenizer = load_model_for_eval(
        model_args.model_name_or_path, adapter=args.adapter, dtype=dtype, device=device
    )

    run = run_settings(config)  # the run's answer column, stop markers, answer template and reply limit
    if args.max_new_tokens:
        run["max_new_tokens"] = args.max_new_tokens
    summary = evaluate(
        model,
        tokenizer,
        dataset,
        task=task_type(args.dataset_name),
        num_samples=args.num_samples,
        greedy=args.greedy,
        batch_size=config.per_device_eval_batch_size,
        output_dir=config.output_dir,
        seed=config.seed,
        **run,
    )
    settings = asdict(args) | {
        "model_name_or_path": model_args.model_name_or_path,
        "dtype": model_args.dtype,
        "max_completion_length": config.max_completion_length,
        "answer_column": config.answer_column,
        "stop_markers": list(config.stop_markers),
        "answer_template": config.answer_template,
        "per_device_eval_batch_size": config.per_device_eval_batch_size,
        "seed": config.seed,
        "output_dir": config.output_dir,
    }
    Path(config.output_dir, "arguments.json").write_text(json.dumps(settings, indent=2) + "\n")

    name = model_args.model_name_or_path or "embedded SmolLM2-135M-Instruct"
    print(f"{name} on {args.dataset_name} {args.split} ({summary['num_examples']} questions):")
    for mode in ("greedy", f"maj@{args.num_samples}"):
        if mode in summary:
            block = summary[mode]
            print(
                f"  {mode:>8}: {100 * block['accuracy']:.1f}% [{100 * block['ci_low']:.1f}, {100 * block['ci_high']:.1f}]"
                f"  no answer {100 * block['no_answer_rate']:.0f}%  unfinished {100 * (1 - block['finished_rate']):.0f}%"
            )
    print(f"Wrote {config.output_dir}/predictions.jsonl and summary.json (reply limit {summary['max_new_tokens']})")
    return summary


def run(argv: list[str] | None = None) -> int:
    """`python -m latro_trl.cli.evaluate ...` and `examples/evaluate.py`: the same as `latro eval ...`."""
    return main(*make_parser(prog="latro eval").parse_args_and_config(args=argv))


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
