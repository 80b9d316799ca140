#!/usr/bin/env python
"""What stopping at the answer marker saves in generation alone, on GSM8K-style prompts.

Three LaTROTrainer generation modes on the same prompts and the same seed: stopping at the answer marker
(``stop_generation_at_markers=True``), stopping at EOS only, and generating to the limit (as the reference code
does). Reports generated tokens, decode steps, wall time, and whether the marker-stopped rows are prefixes of the
EOS-only ones (the same draws, cut earlier).

Example::

    python bench/marker_savings.py --model embedded --prompts_per_step 8 --max_completion_length 256 \\
        --output bench/results/marker_savings_embedded.json --markdown

See docs/performance.md for the results.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from common import (
    MemoryMonitor,
    TrainerProbe,
    base_parser,
    environment,
    median,
    resolve_data,
    run_and_report,
    save_bench_model,
)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Generation only: stop at the answer marker vs stop at EOS vs generate to the limit (reference code)."""
    from transformers import set_seed

    from latro_trl import LaTROConfig, LaTROTrainer

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    set_seed(args.seed)
    length = args.max_completion_length
    modes = {
        "stop_at_markers": {"stop_generation_at_markers": True},
        "stop_at_eos": {"stop_generation_at_markers": False},
        "full_limit": {"stop_generation_at_markers": False, "generation_kwargs": {"min_new_tokens": length}},
    }
    with tempfile.TemporaryDirectory(prefix="latro-bench-") as tmp:
        workdir = Path(tmp)
        model_path, tokenizer, model_facts = save_bench_model(args.model, workdir / "model")
        dataset, data_name = resolve_data(args)
        rows = [dataset[i] for i in range(args.prompts_per_step)]
        prompts = [row["prompt"] for row in rows for _ in range(args.num_generations)]
        trainers: dict[str, Any] = {}
        for name, overrides in modes.items():
            config = LaTROConfig(
                output_dir=str(workdir / name),
                num_generations=args.num_generations,
                per_device_train_batch_size=len(prompts),
                max_completion_length=length,
                beta=0.0,
                seed=args.seed,
                bf16=False,
                report_to="none",
                save_strategy="no",
                **overrides,
            )
            trainers[name] = LaTROTrainer(
                model=model_path, args=config, train_dataset=dataset, processing_class=copy.deepcopy(tokenizer)
            )
        memory = MemoryMonitor(device)
        probes = {name: TrainerProbe(trainer, memory) for name, trainer in trainers.items()}
        runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
        stop_criteria_build_s = _time_stop_string_criteria(trainers["stop_at_markers"])
        if args.warmup > 0:  # one unmeasured call warms the process up (allocator, kernels); one question's K rows
            first = trainers[next(iter(trainers))]
            first.model.train()
            first._generate(prompts[: args.num_generations])
        completions: dict[str, list[list[int]]] = {}
        names = list(trainers)
        for repeat in range(args.repeats):
            shift = repeat % len(names)
            for name in names[shift:] + names[:shift]:
                trainer, probe = trainers[name], probes[name]
                probe.reset()
                trainer.model.train()
                torch.manual_seed(args.seed + repeat)  # same draws in every mode: marker-stopped rows are prefixes
                start = time.perf_counter()
                _, completion_ids, _ = trainer._generate(prompts)
                wall = time.perf_counter() - start
                cuts = trainer._cut_rationales(completion_ids)
                lengths = [len(ids) for ids in completion_ids]
                runs[name].append(
                    {
                        "repeat": repeat,
                        "wall_s": wall,
                        "generated_tokens": sum(lengths),
                        "mean_generated_tokens": statistics.fmean(lengths),
                        "max_generated_tokens": max(lengths),
                        "decode_forwards": probe.step.forward_calls.get("policy/generate", 0),
                        "mean_rationale_tokens": statistics.fmean(len(cut.ids) for cut in cuts),
                        "marker_rate": statistics.fmean(cut.hit_marker for cut in cuts),
                        "finished_rate": statistics.fmean(cut.finished for cut in cuts),
                    }
                )
                if repeat == 0:
                    completions[name] = completion_ids
                if not args.quiet:
                    print(
                        f"[repeat {repeat}] {name:<16} {wall:7.2f} s, mean {statistics.fmean(lengths):.1f} tokens, "
                        f"max {max(lengths)}",
                        file=sys.stderr,
                        flush=True,
                    )
    summary, savings = summarize_marker_runs(runs)
    prefixes = _prefix_agreement(completions["stop_at_markers"], completions["stop_at_eos"], tokenizer)
    return {
        "benchmark": "marker_savings",
        "environment": environment(device),
        "settings": {
            "model": args.model,
            "model_facts": model_facts,
            "data": data_name,
            "questions": args.prompts_per_step,
            "num_generations": args.num_generations,
            "sequences": len(prompts),
            "max_completion_length": length,
            "repeats": args.repeats,
            "seed": args.seed,
            "stop_markers": trainers["stop_at_markers"].args.stop_markers,
            "warmup_generate_calls": 1 if args.warmup > 0 else 0,
        },
        "stop_string_criteria_build_s": stop_criteria_build_s,
        "modes": summary,
        "runs": dict(runs),
        "savings": {
            **savings,
            "marker_rows_are_prefixes_of_eos_rows": prefixes,
        },
    }


def summarize_marker_runs(runs: dict[str, list[dict[str, Any]]]) -> tuple[dict[str, Any], dict[str, float]]:
    """Per-mode summary and savings of the marker-savings runs.

    Repeat ``r`` uses the same seed in every mode, so token counts are compared per repeat and averaged (they are
    deterministic given the seed); wall times are medians over repeats, and the wall-time savings medians of the
    per-repeat ratios.
    """
    summary: dict[str, Any] = {}
    for name, records in runs.items():
        summary[name] = {
            key: (median if key == "wall_s" else statistics.fmean)([r[key] for r in records])
            for key in records[0]
            if key != "repeat"
        }
        summary[name]["generation_tokens_per_s"] = sum(r["generated_tokens"] for r in records) / sum(
            r["wall_s"] for r in records
        )

    def paired(mode: str, key: str) -> list[tuple[float, float]]:
        other = {r["repeat"]: r[key] for r in runs[mode]}
        return [(r[key], other[r["repeat"]]) for r in runs["stop_at_markers"] if r["repeat"] in other]

    savings: dict[str, float] = {}
    for mode, label in (("stop_at_eos", "eos_only"), ("full_limit", "full_limit")):
        tokens = paired(mode, "mean_generated_tokens")
        walls = paired(mode, "wall_s")
        savings[f"tokens_saved_vs_{label}"] = statistics.fmean(theirs - ours for ours, theirs in tokens)
        savings[f"tokens_saved_vs_{label}_fraction"] = 1 - sum(o for o, _ in tokens) / sum(t for _, t in tokens)
        savings[f"wall_saved_vs_{label}_fraction"] = median([1 - ours / theirs for ours, theirs in walls])
    return summary, savings


def _time_stop_string_criteria(trainer: Any, builds: int = 2) -> list[float]:
    """Seconds to build transformers' ``StopStringCriteria`` for the trainer's markers, ``builds`` times in a row.

    ``generate(stop_strings=..., tokenizer=...)`` builds one per call. Its module-level cache is keyed on the
    vocabulary as a tuple in ``get_vocab()`` order; when that order changes from call to call (it does for the
    embedded SmolLM2 tokenizer), every build starts from scratch, which these repeated timings show.
    """
    from transformers.generation.stopping_criteria import StopStringCriteria

    times = []
    for _ in range(builds):
        start = time.perf_counter()
        StopStringCriteria(trainer._tokenizer, list(trainer.args.stop_markers))
        times.append(time.perf_counter() - start)
    return times


def _prefix_agreement(short: list[list[int]], long: list[list[int]], tokenizer: Any) -> float:
    """Fraction of rows whose marker-stopped completion (trailing pad/EOS dropped) starts the EOS-only one."""
    pad = {tokenizer.pad_token_id, tokenizer.eos_token_id}
    agree = 0
    for a, b in zip(short, long, strict=True):
        a = list(a)
        while a and a[-1] in pad:
            a.pop()
        agree += list(b[: len(a)]) == a
    return agree / len(short)


def markdown(result: dict[str, Any]) -> str:
    """The marker-savings measurement as a Markdown table."""
    settings = result["settings"]
    lines = [
        f"Model: {settings['model_facts']['name']}; data: {settings['data']}; {settings['questions']} questions x "
        f"K={settings['num_generations']} = {settings['sequences']} sequences in one generate call, limit "
        f"{settings['max_completion_length']} tokens; {settings['repeats']} repeat(s), seed shared by the modes "
        "within a repeat: token counts are means over repeats, wall times medians.",
        "",
        "| Generation mode | Mean generated tokens | Max (decode steps) | Mean rationale tokens (after cut) "
        "| Marker rate | Finished rate | Generation wall s | Tokens/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in result["modes"].items():
        lines.append(
            f"| {name} | {s['mean_generated_tokens']:.1f} | {s['max_generated_tokens']:.0f} "
            f"| {s['mean_rationale_tokens']:.1f} | {s['marker_rate']:.2f} | {s['finished_rate']:.2f} "
            f"| {s['wall_s']:.1f} | {s['generation_tokens_per_s']:.1f} |"
        )
    saved = result["savings"]
    lines += [
        "",
        f"Stopping at markers vs EOS only: {saved['tokens_saved_vs_eos_only']:.1f} tokens/sequence saved "
        f"({saved['tokens_saved_vs_eos_only_fraction']:.0%}), wall time saved "
        f"{saved['wall_saved_vs_eos_only_fraction']:.0%}; vs the full limit: {saved['tokens_saved_vs_full_limit']:.1f} "
        f"tokens/sequence ({saved['tokens_saved_vs_full_limit_fraction']:.0%}), "
        f"{saved['wall_saved_vs_full_limit_fraction']:.0%} wall time. Marker-stopped rows that are prefixes of the "
        f"EOS-only rows (same seed): {saved['marker_rows_are_prefixes_of_eos_rows']:.0%}.",
        "",
        "transformers StopStringCriteria build time per generate call with stop strings (two builds in a row): "
        + ", ".join(f"{value:.2f} s" for value in result["stop_string_criteria_build_s"])
        + ".",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=1, help="generate calls per mode")
    parser.add_argument("--warmup", type=int, default=1, help="0 or 1 unmeasured generate call first")
    args = parser.parse_args(argv)
    args.num_prompts = max(args.prompts_per_step, 8)
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the measurement; write JSON to ``--output`` and print Markdown with ``--markdown``. Returns the result."""
    return run_and_report(parse_args(argv), run, markdown)


if __name__ == "__main__":
    main()
