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

Settings: ``LaTROConfig``'s fields (``--length_groups`` is the setting compared with 1; ``per_device_train_batch_size``
the rows of a generation batch) and the benchmark's own (``LengthGroupsArguments``), parsed by TRL's ``TrlParser``;
defaults in ``bench/recipes/length_groups.yaml``.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from common import (
    BenchArguments,
    latro_config,
    load_bench_data,
    load_bench_model,
    parse_run,
    prompts_per_step,
    script_settings,
    write_json,
)


@dataclass
class LengthGroupsArguments(BenchArguments):
    """What the length-groups benchmark adds to the run's settings: how many batches and repeats."""

    batches: int = field(default=3, metadata={"help": "Generation batches sampled."})
    repeats: int = field(default=3, metadata={"help": "Timings of both settings per batch."})


def build_trainer(args: LengthGroupsArguments, settings: dict[str, Any], output_dir: str):
    from latro_trl import LaTROTrainer

    model, tokenizer, description = load_bench_model(args.model, args.tiny_hidden_size, args.tiny_layers)
    dataset, _ = load_bench_data(args, prompts_per_step(settings) * args.batches)
    config = latro_config(settings, output_dir=output_dir)
    trainer = LaTROTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
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


def run(args: LengthGroupsArguments, settings: dict[str, Any]) -> dict:
    import tempfile

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    trainer, dataset, description = build_trainer(args, settings, tempfile.mkdtemp(prefix="bench_groups_"))
    prompts, groups, k = prompts_per_step(settings), settings["length_groups"], settings["num_generations"]
    counted: list[int] = []
    forward = trainer._get_per_token_logps_and_entropies

    def counting(model, input_ids, *rest, **kwargs):
        counted.append(input_ids.numel())
        return forward(model, input_ids, *rest, **kwargs)

    trainer._get_per_token_logps_and_entropies = counting
    trainer.model.train()
    compared = (1, groups)
    measured = {setting: [] for setting in compared}
    batches = []
    for index in range(args.batches):
        rows = [dataset[index * prompts + q] for q in range(prompts) for _ in range(k)]
        torch.manual_seed(index)
        batch = trainer._generate_and_score_completions([{"prompt": r["prompt"], "answer": r["answer"]} for r in rows])
        completion = batch["completion_mask"].sum(1)
        batches.append(
            {"completion_lengths": completion.tolist(), "padded_width": int(batch["completion_ids"].size(1))}
        )
        for repeat in range(args.repeats):
            for setting in compared if repeat % 2 == 0 else reversed(compared):
                measured[setting].append({"batch": index, **time_passes(trainer, batch, setting, counted)})
            print(f"batch {index + 1}/{args.batches} repeat {repeat + 1}/{args.repeats}", flush=True)
    shared = {name: settings[name] for name in ("num_generations", "per_device_train_batch_size",
                                                 "max_completion_length", "length_groups", "beta")}  # fmt: skip
    result_settings = {**script_settings(args), **shared}
    return {"model": description, "settings": result_settings, "batches": batches, **summarize(measured, groups)}


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
    args, settings = parse_run(LengthGroupsArguments, argv, "length_groups.yaml")
    if not settings["length_groups"] or settings["length_groups"] < 2:
        raise ValueError("--length_groups is the setting compared with one padded pass: set it to 2 or more.")
    result = run(args, settings)
    write_json(args.output, result, indent=1)
    groups = settings["length_groups"]
    for name, value in result[f"ratios_{groups}_groups_to_one_pass"].items():
        print(f"{groups} groups / one pass, {name}: {value:.3f}")
    return result


if __name__ == "__main__":
    main()
