#!/usr/bin/env python
"""Zero-shot baseline of a model (default: the embedded SmolLM2-135M-Instruct) on GSM8K and the synthetic set.

Measures greedy accuracy and maj@k (k samples at temperature 1) on the first N test questions of each task (any
name of ``latro_trl.data.registry``: gsm8k, arc_challenge, synthetic), with the prompt trigger used in training. Writes, under --output_dir,
``{task}/predictions.jsonl``, ``{task}/summary.json`` and ``results.json`` (all summaries plus the arguments).

Example (the full baseline; hours on 2 CPU cores):

    python scripts/baseline_eval.py --dataset_path ../shared/data/gsm8k --max_samples 200 \\
        --num_samples 8 --max_new_tokens 256 --output_dir outputs/baseline
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    model = parser.add_argument_group("model")
    model.add_argument("--model", default=None, help="hub id or directory; default: the embedded SmolLM2-135M GGUF")
    model.add_argument("--adapter", default=None, help="a PEFT adapter directory to apply on --model")
    data = parser.add_argument_group("data")
    data.add_argument(
        "--tasks", default="gsm8k,synthetic", help="comma-separated data set names (latro_trl.data.registry)"
    )
    data.add_argument(
        "--dataset_path",
        default=None,
        help="folder (or file) with the original-format test split, for the tasks that read files (gsm8k, "
        "arc_challenge); default: the Hugging Face Hub",
    )
    data.add_argument("--max_samples", type=int, default=200, help="the first N test questions of each task")
    data.add_argument("--answer_format", default=None, help="arc_challenge only: label, label_text or text")
    data.add_argument("--synthetic_seed", type=int, default=0, help="seed of the synthetic generator")
    data.add_argument("--synthetic_min_steps", type=int, default=2, help="fewest operations per synthetic problem")
    data.add_argument("--synthetic_max_steps", type=int, default=3, help="most operations per synthetic problem")
    data.add_argument("--synthetic_max_value", type=int, default=20, help="largest synthetic operand")
    gen = parser.add_argument_group("generation")
    gen.add_argument("--num_samples", type=int, default=8, help="k of maj@k (1 disables sampling)")
    gen.add_argument("--no_greedy", action="store_true", help="skip greedy decoding")
    gen.add_argument(
        "--max_new_tokens",
        type=int,
        default=None,
        help="reply length limit (default: LaTROConfig's max_completion_length default + 32, as `latro eval`)",
    )
    gen.add_argument("--batch_size", type=int, default=16, help="sequences per generate call")
    gen.add_argument("--seed", type=int, default=0, help="sampling seed")
    run = parser.add_argument_group("run")
    run.add_argument("--output_dir", default="outputs/baseline", help="where results go")
    run.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    run.add_argument("--device", default=None, help="e.g. cuda; default: CPU")
    run.add_argument("--no_progress", action="store_true", help="hide progress bars")
    return parser


def _datasets(args: argparse.Namespace) -> dict[str, Any]:
    """Each task's test split, loaded through the registry with the options its loader declares."""
    from latro_trl.data.registry import load_named, source

    tasks = [task.strip() for task in args.tasks.split(",") if task.strip()]
    flags = {
        "answer_format": args.answer_format,
        "seed": args.synthetic_seed,
        "min_steps": args.synthetic_min_steps,
        "max_steps": args.synthetic_max_steps,
        "max_value": args.synthetic_max_value,
    }
    datasets = {}
    for task in tasks:
        entry = source(task)  # an unknown name fails here, with the choices
        path = args.dataset_path if entry.reads_files else None
        datasets[task] = load_named(task, "test", path=path, limit=args.max_samples, **entry.pick_options(flags))
    return datasets


def _line(name: str, block: dict[str, Any]) -> str:
    return (
        f"{name:>8}: {block['accuracy']:6.1%}  [{block['ci_low']:.1%}, {block['ci_high']:.1%}]  "
        f"no answer {block['no_answer_rate']:.0%}  finished {block['finished_rate']:.0%}"
    )


def main(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from latro_trl.data.registry import task_type
    from latro_trl.evaluation import evaluate, load_model_for_eval
    from latro_trl.evaluation.generation import default_max_new_tokens

    if args.max_new_tokens is None:
        args.max_new_tokens = default_max_new_tokens()  # recorded in results.json as the number used
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    output_dir = Path(args.output_dir)
    datasets = _datasets(args)
    started = time.perf_counter()
    model, tokenizer = load_model_for_eval(args.model, args.adapter, device=args.device)
    results: dict[str, Any] = {"args": vars(args), "load_s": round(time.perf_counter() - started, 1)}
    for name, dataset in datasets.items():
        summary = evaluate(
            model,
            tokenizer,
            dataset,
            task=task_type(name),
            num_samples=args.num_samples,
            greedy=not args.no_greedy,
            max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size,
            output_dir=output_dir / name,
            seed=args.seed,
            progress=not args.no_progress,
        )
        results[name] = summary
        print(f"{name} ({summary['num_examples']} questions, {summary['elapsed_s']:.0f} s)")
        for key in ("greedy", f"maj@{args.num_samples}"):
            if key in summary:
                print(_line(key, summary[key]))
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {output_dir / 'results.json'}")
    return results


if __name__ == "__main__":
    main(make_parser().parse_args())
