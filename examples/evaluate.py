"""Zero-shot accuracy of a model, a checkpoint or a LoRA adapter on GSM8K or ARC-Challenge: greedy and maj@k.

A thin script over `latro_trl.evaluation` (the same prompts as training, the same answer extraction). Writes, under
`--output_dir`: `predictions.jsonl` (one line per question: prompt, gold, greedy reply and answer, the k sampled
replies, their answers and the majority), `summary.json` (accuracy with a 95% Wilson interval per decoding mode,
unanswered and unfinished rates) and `arguments.json`.

Usage:

    # a trained checkpoint (full fine-tuning) on the GSM8K test split, greedy + maj@8 as in the paper
    python examples/evaluate.py --model_name_or_path runs/llama31-8b-latro-gsm8k/checkpoint-311 --task gsm8k \
        --dtype bfloat16 --output_dir runs/eval/llama31-gsm8k-epoch1

    # a LoRA adapter (its adapter_config.json names the base model) on the ARC dev split
    python examples/evaluate.py --model_name_or_path runs/smollm2-latro-arc-cpu --task arc_challenge \
        --split validation --dataset_path ../shared/data/arc_challenge --max_samples 100

    # the embedded SmolLM2-135M-Instruct, 20 GSM8K questions on a CPU
    python examples/evaluate.py --task gsm8k --dataset_path ../shared/data/gsm8k --max_samples 20 --num_samples 4

One process: `python`, not `accelerate launch` (the questions are not sharded over processes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

TASKS = {"gsm8k": "number", "arc_challenge": "choice"}


@dataclass
class EvalArguments:
    """What to evaluate, on what, and how.

    Args:
        model_name_or_path: a hub id, a local checkpoint, or a LoRA adapter folder (its base is read from
            `adapter_config.json`). Unset: the embedded SmolLM2-135M-Instruct.
        adapter: a LoRA adapter to apply on top of `model_name_or_path`.
        task: `gsm8k` (numeric answers) or `arc_challenge` (multiple choice, scored by label; the option's text is
            accepted too).
        dataset_path: folder with the task's split files in their original format, or one such file. Unset: the Hub.
        split: `test`, `train`, or for ARC `validation` (AI2's dev set: select checkpoints there, report `test`).
        max_samples: the first N questions (unset: all).
        num_samples: k of maj@k, sampled at temperature 1 without top-k/top-p (1: greedy only).
        greedy: also decode greedily.
        max_new_tokens: reply limit in tokens.
        batch_size: sequences per `generate` call.
        dtype: `float32`, `bfloat16` or `float16` (unset: the checkpoint's default loading, float32).
        device: `cuda`, `cpu`, ...; unset: `cuda` when available.
        seed: sampling seed.
        output_dir: where the files go.
    """

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Hub id, checkpoint or LoRA adapter folder; unset: the embedded SmolLM2."}
    )
    adapter: str | None = field(default=None, metadata={"help": "LoRA adapter applied on top of the model."})
    task: str = field(default="gsm8k", metadata={"help": "gsm8k or arc_challenge."})
    dataset_path: str | None = field(
        default=None, metadata={"help": "Folder (or file) with the task's original-format splits; unset: the Hub."}
    )
    split: str = field(default="test", metadata={"help": "test, train, or (ARC) validation."})
    max_samples: int | None = field(default=None, metadata={"help": "Evaluate the first N questions (unset: all)."})
    num_samples: int = field(default=8, metadata={"help": "k of maj@k at temperature 1 (1 = greedy only)."})
    greedy: bool = field(default=True, metadata={"help": "Also decode greedily."})
    max_new_tokens: int = field(default=512, metadata={"help": "Reply limit in tokens."})
    batch_size: int = field(default=16, metadata={"help": "Sequences per generate call."})
    dtype: str | None = field(default=None, metadata={"help": "float32, bfloat16 or float16."})
    device: str | None = field(default=None, metadata={"help": "cuda, cpu, ...; unset: cuda when available."})
    seed: int = field(default=0, metadata={"help": "Sampling seed."})
    output_dir: str = field(default="runs/eval", metadata={"help": "Where predictions.jsonl and summary.json go."})

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"--task {self.task!r} is not one of {', '.join(TASKS)}.")
        if self.dtype not in (None, "float32", "bfloat16", "float16"):
            raise ValueError(f"--dtype {self.dtype!r}: use float32, bfloat16 or float16.")
        if self.num_samples < 1:
            raise ValueError(f"--num_samples {self.num_samples}: use 1 (greedy only) or more (maj@k).")
        if not self.greedy and self.num_samples == 1:
            raise ValueError("--greedy false with --num_samples 1 measures nothing useful; use --num_samples 8.")


def make_parser():
    """A `TrlParser` over `EvalArguments` (so `--config file.yaml` works as for the training scripts)."""
    from trl import TrlParser

    return TrlParser((EvalArguments,))


def load_split(args: EvalArguments):
    """The questions to evaluate, in the columns the evaluator reads."""
    from latro_trl.data import load_arc, load_gsm8k

    if args.task == "gsm8k":
        return load_gsm8k(args.split, path=args.dataset_path, limit=args.max_samples)
    return load_arc(args.split, path=args.dataset_path, limit=args.max_samples)


def main(args: EvalArguments) -> dict:
    """Load, evaluate, write the files; returns the summary."""
    import json
    from pathlib import Path

    import torch

    from latro_trl.evaluation import evaluate, load_model_for_eval

    dataset = load_split(args)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = getattr(torch, args.dtype) if args.dtype else None
    model, tokenizer = load_model_for_eval(args.model_name_or_path, adapter=args.adapter, dtype=dtype, device=device)

    summary = evaluate(
        model,
        tokenizer,
        dataset,
        task=TASKS[args.task],
        num_samples=args.num_samples,
        greedy=args.greedy,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        output_dir=args.output_dir,
        seed=args.seed,
    )
    Path(args.output_dir, "arguments.json").write_text(json.dumps(asdict(args), indent=2) + "\n")

    name = args.model_name_or_path or "embedded SmolLM2-135M-Instruct"
    print(f"{name} on {args.task} {args.split} ({summary['num_examples']} questions):")
    for mode in ("greedy", f"maj@{args.num_samples}"):
        if mode in summary:
            block = summary[mode]
            print(
                f"  {mode:>8}: {100 * block['accuracy']:.1f}% [{100 * block['ci_low']:.1f}, {100 * block['ci_high']:.1f}]"
                f"  no answer {100 * block['no_answer_rate']:.0f}%  unfinished {100 * (1 - block['finished_rate']):.0f}%"
            )
    print(f"Wrote {args.output_dir}/predictions.jsonl and summary.json")
    return summary


if __name__ == "__main__":
    (eval_args,) = make_parser().parse_args_and_config()
    main(eval_args)
