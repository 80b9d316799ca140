"""`latro eval`: greedy accuracy and maj@k of a base model, a trained checkpoint or a LoRA adapter."""

from __future__ import annotations

import argparse
import json

from .datasets import TASKS


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("eval", help="Evaluate a model: greedy accuracy and maj@k, JSONL out.")
    parser.add_argument("--model", default=None, help="Hub id or local folder; default: the embedded SmolLM2-135M.")
    parser.add_argument("--adapter", default=None, help="A PEFT adapter folder to apply on top of --model.")
    parser.add_argument("--dataset_name", default="gsm8k", help=f"One of {', '.join(TASKS)} or a .jsonl file.")
    parser.add_argument("--dataset_path", default=None, help="Local folder with the original-format split files.")
    parser.add_argument("--split", default="test")
    parser.add_argument("--num_examples", type=int, default=200, help="Evaluate the first N questions.")
    parser.add_argument("--num_samples", type=int, default=8, help="k of maj@k (1 = greedy only).")
    parser.add_argument(
        "--max_new_tokens",
        type=int,
        default=None,
        help="Reply limit in tokens. Default: the training rationale limit (LaTROConfig's max_completion_length "
        "default) + 32 for the answer sentence, so a model trained at that limit is not cut short; for a run "
        "trained with a longer --max_completion_length, pass it + 32. summary.json records the limit used.",
    )
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--output_dir",
        default="latro-eval",
        help="Where predictions.jsonl and summary.json go. A stopped evaluation logs its finished batches "
        "there and the same command resumes it.",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from latro_trl.cli.datasets import DatasetArguments, load_split, task_type
    from latro_trl.evaluation import evaluate, load_model_for_eval

    data_args = DatasetArguments(dataset_name=args.dataset_name, dataset_path=args.dataset_path)
    dataset = load_split(data_args, args.split, args.num_examples)
    model, tokenizer = load_model_for_eval(args.model, adapter=args.adapter)
    summary = evaluate(
        model,
        tokenizer,
        dataset,
        task=task_type(args.dataset_name),
        num_samples=args.num_samples,
        greedy=True,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        output_dir=args.output_dir,
        seed=args.seed,
    )
    print(json.dumps(summary, indent=2))
    return 0
