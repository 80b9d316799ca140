"""`latro eval`: the one evaluation entry. Greedy accuracy and maj@k of a model, a checkpoint or a LoRA adapter.

Writes, under `--output_dir`: `predictions.jsonl` (one line per question: prompt, gold, greedy reply and answer, the k
sampled replies, their answers and the majority), `summary.json` (accuracy with a 95% Wilson interval per decoding
mode, unanswered and unfinished rates, the reply limit used) and `arguments.json`. A stopped evaluation logs its
finished batches there, and the same command resumes it. `examples/evaluate.py` is this entry as a script.

    latro eval --model_name_or_path runs/llama31-8b-latro-gsm8k/checkpoint-311 --dataset_name gsm8k \\
        --dtype bfloat16 --output_dir runs/eval/llama31-gsm8k-epoch1

One process: `python`, not `accelerate launch` (the questions are not sharded over processes).
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field

from .datasets import DATASET_NAME_HELP, DatasetArguments


@dataclass
class EvalArguments(DatasetArguments):
    """What to evaluate, on what, and how (the data set flags are `DatasetArguments`').

    Args:
        model_name_or_path: a hub id, a local checkpoint, or a LoRA adapter folder (its base is read from
            `adapter_config.json`). Unset: the embedded SmolLM2-135M-Instruct.
        adapter: a LoRA adapter to apply on top of `model_name_or_path`.
        split: `test`, `train`, or (ARC, synthetic) `validation`: select checkpoints there, report `test`.
        max_samples: the first N questions (unset: all).
        num_samples: k of maj@k, sampled at temperature 1 without top-k/top-p (1: greedy only).
        greedy: also decode greedily.
        max_new_tokens: reply limit in tokens. Unset: LaTROConfig's default rationale limit + 32 for the answer
            sentence, so a model trained at that limit is not cut short; for a run trained with a longer
            `--max_completion_length`, pass it + 32.
        batch_size: sequences per `generate` call.
        dtype: `float32`, `bfloat16` or `float16` (unset: the checkpoint's default loading, float32).
        device: `cuda`, `cpu`, ...; unset: `cuda` when available.
        seed: sampling seed.
        output_dir: where the files go.
    """

    dataset_name: str = field(default="gsm8k", metadata={"help": DATASET_NAME_HELP})
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Hub id, checkpoint or LoRA adapter folder; unset: the embedded SmolLM2."}
    )
    adapter: str | None = field(default=None, metadata={"help": "LoRA adapter applied on top of the model."})
    split: str = field(default="test", metadata={"help": "test, train, or (ARC, synthetic) validation."})
    max_samples: int | None = field(default=None, metadata={"help": "Evaluate the first N questions (unset: all)."})
    num_samples: int = field(default=8, metadata={"help": "k of maj@k at temperature 1 (1 = greedy only)."})
    greedy: bool = field(default=True, metadata={"help": "Also decode greedily."})
    max_new_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Reply limit in tokens. Default: the training rationale limit (LaTROConfig's "
            "max_completion_length default) + 32 for the answer sentence, so a model trained at that limit is not "
            "cut short; for a run trained with a longer --max_completion_length, pass it + 32. summary.json "
            "records the limit used."
        },
    )
    batch_size: int = field(default=16, metadata={"help": "Sequences per generate call."})
    dtype: str | None = field(default=None, metadata={"help": "float32, bfloat16 or float16."})
    device: str | None = field(default=None, metadata={"help": "cuda, cpu, ...; unset: cuda when available."})
    seed: int = field(default=0, metadata={"help": "Sampling seed."})
    output_dir: str = field(
        default="latro-eval",
        metadata={
            "help": "Where predictions.jsonl and summary.json go. A stopped evaluation logs its finished batches "
            "there and the same command resumes it."
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dtype not in (None, "float32", "bfloat16", "float16"):
            raise ValueError(f"--dtype {self.dtype!r}: use float32, bfloat16 or float16.")
        if self.num_samples < 1:
            raise ValueError(f"--num_samples {self.num_samples}: use 1 (greedy only) or more (maj@k).")
        if not self.greedy and self.num_samples == 1:
            raise ValueError("--greedy false with --num_samples 1 measures nothing useful; use --num_samples 8.")


def make_parser():
    """A `TrlParser` over `EvalArguments` (so `--config file.yaml` works as for training)."""
    from trl import TrlParser

    return TrlParser((EvalArguments,))


def main(args: EvalArguments) -> dict:
    """Load, evaluate, write the files; returns the summary."""
    import json
    from pathlib import Path

    import torch

    from latro_trl.data.registry import task_type
    from latro_trl.evaluation import evaluate, load_model_for_eval

    dataset = args.load(args.split, args.max_samples)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = getattr(torch, args.dtype) if args.dtype else None
    model, tokenizer = load_model_for_eval(args.model_name_or_path, adapter=args.adapter, dtype=dtype, device=device)

    summary = evaluate(
        model,
        tokenizer,
        dataset,
        task=task_type(args.dataset_name),
        num_samples=args.num_samples,
        greedy=args.greedy,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        output_dir=args.output_dir,
        seed=args.seed,
    )
    Path(args.output_dir, "arguments.json").write_text(json.dumps(asdict(args), indent=2) + "\n")

    name = args.model_name_or_path or "embedded SmolLM2-135M-Instruct"
    print(f"{name} on {args.dataset_name} {args.split} ({summary['num_examples']} questions):")
    for mode in ("greedy", f"maj@{args.num_samples}"):
        if mode in summary:
            block = summary[mode]
            print(
                f"  {mode:>8}: {100 * block['accuracy']:.1f}% [{100 * block['ci_low']:.1f}, {100 * block['ci_high']:.1f}]"
                f"  no answer {100 * block['no_answer_rate']:.0f}%  unfinished {100 * (1 - block['finished_rate']):.0f}%"
            )
    print(f"Wrote {args.output_dir}/predictions.jsonl and summary.json (reply limit {summary['max_new_tokens']})")
    return summary


def run(argv: list[str]) -> int:
    (args,) = make_parser().parse_args_and_config(args=argv)
    main(args)
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
