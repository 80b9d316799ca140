"""The scoring and training passes over length groups against one padded pass, on the same sampled batches.

    python bench/length_groups.py --model embedded --max_completion_length 128 --batches 3 --repeats 3 \\
        --output bench/results/length_groups_l128.json

A ``LaTROTrainer`` with its defaults samples ``--batches`` generation batches (P synthetic questions x K rationales,
the way training does). On each batch, every repeat times the two passes LaTRO runs per update with
``length_groups=1`` (one forward padded to the longest row) and with ``--groups`` (the default), in an order rotated
by the repeat:

- the reference pass: no gradient, the frozen reference on ``x + z + y``;
- the training pass: the policy on ``x + z + y``, the LaTRO loss and its backward.

It reports the positions each setting computes (rows x width, summed over its forward passes), the median seconds of
each pass and the paired ratios (groups / one pass, same batch, adjacent in time). Same weights and the same batches
for both settings, so only the grouping differs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded", help="embedded, tiny, or a model folder")
    parser.add_argument("--num_generations", type=int, default=4)
    parser.add_argument("--prompts", type=int, default=2, help="questions per generation batch")
    parser.add_argument("--max_completion_length", type=int, default=128)
    parser.add_argument("--groups", type=int, default=4, help="length_groups to compare with 1")
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=None)
    return parser.parse_args(argv)


def build_trainer(args: argparse.Namespace, output_dir: str):
    from common import load_bench_model

    from latro_trl import LaTROConfig, LaTROTrainer
    from latro_trl.data import load_synthetic

    model, tokenizer, description = load_bench_model(args.model)
    per_batch = args.prompts * args.num_generations
    dataset = load_synthetic("train", n=args.prompts * args.batches, seed=0, min_steps=1, max_steps=2)
    config = LaTROConfig(
        output_dir=output_dir,
        num_generations=args.num_generations,
        per_device_train_batch_size=per_batch,
        max_completion_length=args.max_completion_length,
        beta=0.05,
        report_to="none",
        bf16=False,
    )
    trainer = LaTROTrainer(
        model=model, args=config, train_dataset=dataset.select_columns(["prompt", "answer"]), processing_class=tokenizer
    )
    return trainer, dataset, description


def time_passes(trainer, batch: dict, groups: int, counted: list[int]) -> dict:
    """Seconds of the reference pass and of the training pass (forward, loss, backward) with ``groups``."""
    import torch

    trainer._length_groups = trainer._training_pass_groups = groups
    counted.clear()
    start = time.perf_counter()
    with torch.no_grad():
        trainer._completion_logps(trainer.ref_model, batch, max_groups=groups)
    reference_s = time.perf_counter() - start
    reference_positions = sum(counted)
    start = time.perf_counter()
    trainer._compute_loss(trainer.model, batch).backward()
    training_s = time.perf_counter() - start
    trainer.model.zero_grad(set_to_none=True)
    return {"reference_s": reference_s, "training_s": training_s, "positions": reference_positions}


def run(args: argparse.Namespace) -> dict:
    import tempfile

    import torch

    torch.set_num_threads(args.threads)
    trainer, dataset, description = build_trainer(args, tempfile.mkdtemp(prefix="bench_groups_"))
    counted: list[int] = []
    forward = trainer._get_per_token_logps_and_entropies

    def counting(model, input_ids, *rest, **kwargs):
        counted.append(input_ids.numel())
        return forward(model, input_ids, *rest, **kwargs)

    trainer._get_per_token_logps_and_entropies = counting
    trainer.model.train()
    settings = (1, args.groups)
    measured = {groups: [] for groups in settings}
    batches = []
    for index in range(args.batches):
        rows = [dataset[index * args.prompts + q] for q in range(args.prompts) for _ in range(args.num_generations)]
        torch.manual_seed(index)
        batch = trainer._generate_and_score_completions([{"prompt": r["prompt"], "answer": r["answer"]} for r in rows])
        completion = batch["completion_mask"].sum(1)
        batches.append(
            {"completion_lengths": completion.tolist(), "padded_width": int(batch["completion_ids"].size(1))}
        )
        for repeat in range(args.repeats):
            for groups in settings if repeat % 2 == 0 else reversed(settings):
                measured[groups].append({"batch": index, **time_passes(trainer, batch, groups, counted)})
            print(f"batch {index + 1}/{args.batches} repeat {repeat + 1}/{args.repeats}", flush=True)
    return {"model": description, "settings": vars(args), "batches": batches, **summarize(measured, args.groups)}


def summarize(measured: dict[int, list[dict]], groups: int) -> dict:
    one, grouped = measured[1], measured[groups]
    summary = {
        str(setting): {
            "median_reference_s": statistics.median(m["reference_s"] for m in runs),
            "median_training_s": statistics.median(m["training_s"] for m in runs),
            "mean_positions_per_pass": statistics.fmean(m["positions"] for m in runs),
        }
        for setting, runs in measured.items()
    }
    pairs = list(zip(one, grouped, strict=True))
    ratios = {
        "positions": statistics.fmean(g["positions"] / o["positions"] for o, g in pairs),
        "reference_pass_paired_median": statistics.median(g["reference_s"] / o["reference_s"] for o, g in pairs),
        "training_pass_paired_median": statistics.median(g["training_s"] / o["training_s"] for o, g in pairs),
        "both_passes_paired_median": statistics.median(
            (g["reference_s"] + g["training_s"]) / (o["reference_s"] + o["training_s"]) for o, g in pairs
        ),
    }
    return {"by_length_groups": summary, f"ratios_{groups}_groups_to_one_pass": ratios, "measurements": measured}


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = run(args)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(result, indent=1))
    for name, value in result[f"ratios_{args.groups}_groups_to_one_pass"].items():
        print(f"{args.groups} groups / one pass, {name}: {value:.3f}")
    return result


if __name__ == "__main__":
    main()
