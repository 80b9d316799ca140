"""LaTRO next to TRL's RLOOTrainer at natural lengths, each with its defaults, through the public API (issue #15).

Every run is a fresh process that builds one trainer on the same saved weights, prompts (synthetic arithmetic, 1-2
steps), K, L and beta, calls ``trainer.train()`` for ``--steps`` optimizer steps, and reports TRL's own per-step
``step_time``, the generated tokens per row (``completions/mean_length``) and the process's peak RSS. Rows stop where
each trainer stops them by default: LaTRO at its stop markers or end of turn, RLOO at end of turn or L.

    python bench/natural_lengths.py --model embedded --max_completion_length 128 --rounds 3 --max_steps 4 \\
        --output bench/results/natural_l128.json

Settings: ``LaTROConfig``'s fields (``--max_steps`` is the optimizer steps per process) and the benchmark's own
(``NaturalLengthsArguments``), parsed by TRL's ``TrlParser``; defaults in ``bench/recipes/natural_lengths.yaml``.
RLOO takes the fields in ``SHARED_WITH_RLOO`` from them and keeps its own defaults for the rest.

Runs:
- ``latro``: LaTROTrainer, defaults (which sample with ``latro_trl.sampling.sample_pruned``: finished rows leave the
  batch);
- ``latro_one_pass``: the same with ``length_groups=1``: each scoring and training pass is one forward padded to the
  longest row (TRL's way) instead of one per group of rows of similar length;
- ``latro_generate``: the same with ``prune_finished_rows=False``: transformers' ``generate``, which decodes every row
  until the longest one ends;
- ``rloo`` and ``rloo_control``: RLOOTrainer, defaults, a correctness reward; the same run twice, so their ratio shows
  the noise of the machine.

``--runs`` picks some of them (``rloo`` is always run: the ratios are to it). Rounds run them in an order rotated
by the round number, so that a slow phase of the machine hits each alike.
The report gives each run's median step time over its measured steps (the first ``--warmup`` steps of every process
are left out) and the ratios to ``rloo``. Numbers belong in docs/performance.md only with the command that made them.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    BenchArguments,
    latro_config,
    load_bench_data,
    paired_step_ratios,
    parse_run,
    prompts_per_step,
    rloo_config,
    save_bench_model,
    script_settings,
    write_json,
)

# Each LaTRO run: its config changes from the defaults.
LATRO_RUNS = {"latro": {}, "latro_one_pass": {"length_groups": 1}, "latro_generate": {"prune_finished_rows": False}}
RUNS = (*LATRO_RUNS, "rloo", "rloo_control")


# The fields both trainers take from the run's settings; every other field keeps each trainer's own default.
SHARED_WITH_RLOO = (
    "num_generations",
    "per_device_train_batch_size",
    "max_completion_length",
    "beta",
    "max_steps",
    "logging_steps",
    "report_to",
    "save_strategy",
    "seed",
    "shuffle_dataset",
    "bf16",
)
HIDDEN = ("worker", "model_dir", "summarize")


@dataclass
class NaturalLengthsArguments(BenchArguments):
    """What the natural-length benchmark adds to the run's settings: rounds, which runs, the steps left out."""

    warmup: int = field(default=1, metadata={"help": "Steps left out of each process's median."})
    rounds: int = field(default=3, metadata={"help": "Processes per run, in an order rotated by the round."})
    runs: list[str] = field(
        default_factory=lambda: list(RUNS), metadata={"help": "Which runs (rloo always).", "choices": RUNS}
    )
    summarize: str | None = field(
        default=None, metadata={"help": "Recompute the summary of a saved JSON result (into --output if given)."}
    )
    worker: str | None = field(default=None, metadata={"help": "(internal) run one process of this run."})
    model_dir: str | None = field(default=None, metadata={"help": "(internal) the saved model."})


def correct_answer(completions, answer, **kwargs) -> list[float]:
    """RLOO's reward: 1 when the reply's parsed number equals the gold answer."""
    from latro_trl.data import extract_number, numbers_match

    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [float(numbers_match(str(extract_number(text)), gold)) for text, gold in zip(texts, answer, strict=True)]


def run_worker(args: NaturalLengthsArguments, settings: dict[str, Any]) -> dict:
    import torch
    from transformers import AutoTokenizer

    from latro_trl import LaTROTrainer

    torch.set_num_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    dataset, _ = load_bench_data(args, prompts_per_step(settings) * settings["max_steps"])
    output_dir = tempfile.mkdtemp(prefix=f"bench_{args.worker}_")
    if args.worker in LATRO_RUNS:
        config = latro_config(settings, output_dir=output_dir, **LATRO_RUNS[args.worker])
        trainer = LaTROTrainer(model=args.model_dir, args=config, train_dataset=dataset, processing_class=tokenizer)
    else:
        from trl import RLOOTrainer

        trainer = RLOOTrainer(
            model=args.model_dir, reward_funcs=correct_answer,
            args=rloo_config(settings, SHARED_WITH_RLOO, output_dir=output_dir), train_dataset=dataset,
            processing_class=tokenizer,
        )  # fmt: skip
    generation_s = _time_generation(trainer)
    trainer.train()
    steps = [entry for entry in trainer.state.log_history if "step_time" in entry][args.warmup :]
    return {
        "step_time_s": [entry["step_time"] for entry in steps],
        "generation_s": generation_s[args.warmup :],
        "pruned": getattr(trainer, "_prune_finished_rows", False),
        "length_groups": getattr(trainer, "_length_groups", 1),
        "generated_tokens_per_row": [entry["completions/mean_length"] for entry in steps],
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def _time_generation(trainer) -> list[float]:
    """Seconds of each generation call (one per step here): the one private hook, for where the time goes."""
    import time

    seconds, generate = [], trainer._generate

    def timed(*args, **kwargs):
        start = time.perf_counter()
        result = generate(*args, **kwargs)
        seconds.append(time.perf_counter() - start)
        return result

    trainer._generate = timed
    return seconds


def summarize(runs: dict[str, list[dict]]) -> dict:
    summary = {}
    for name, results in runs.items():
        times = [t for result in results for t in result["step_time_s"]]
        tokens = [t for result in results for t in result["generated_tokens_per_row"]]
        generation = [t for result in results for t in result.get("generation_s", [])]
        summary[name] = {
            "median_step_time_s": statistics.median(times),
            "median_generation_s": statistics.median(generation) if generation else None,
            "pruned_sampling": results[0].get("pruned", False),
            "length_groups": results[0].get("length_groups", 1),
            "measured_steps": len(times),
            "mean_generated_tokens_per_row": statistics.fmean(tokens),
            "peak_rss_bytes": max(result["peak_rss_bytes"] for result in results),
        }
    base = summary["rloo"]
    # Both RLOO runs together: the same work measured twice, so neither run's luck sets the denominator alone.
    rloo_steps = [
        t for name in ("rloo", "rloo_control") for result in runs.get(name, []) for t in result["step_time_s"]
    ]
    ratios = {
        name: {
            "step_time": s["median_step_time_s"] / base["median_step_time_s"],
            "step_time_to_both_rloo_runs": s["median_step_time_s"] / statistics.median(rloo_steps),
            "paired_step_time": paired_step_ratios(runs[name], runs["rloo"]),
            "peak_rss": s["peak_rss_bytes"] / base["peak_rss_bytes"],
            "generated_tokens": s["mean_generated_tokens_per_row"] / base["mean_generated_tokens_per_row"],
        }
        for name, s in summary.items()
        if name != "rloo"
    }
    return {"runs": summary, "ratios_to_rloo": ratios}


def _write(path: str | None, result: dict) -> None:
    """Save after every process too, so that an interrupted run keeps what it measured."""
    write_json(path, result, indent=1)


def main(argv=None) -> dict:
    args, config = parse_run(NaturalLengthsArguments, argv, "natural_lengths.yaml")
    if args.worker:
        print(json.dumps(run_worker(args, config)))
        return {}
    if args.summarize:
        saved = json.loads(Path(args.summarize).read_text())
        result = {**saved, **summarize(saved["per_process"])}
        _write(args.output, result)
        _report(result)
        return result
    shared = {name: config[name] for name in SHARED_WITH_RLOO if name != "seed"}  # seed: the round's number
    settings = {**script_settings(args, HIDDEN), **shared}
    names = [name for name in RUNS if name in args.runs or name == "rloo"]
    runs: dict[str, list[dict]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="bench_natural_") as workdir:
        model_dir, _, _ = save_bench_model(args.model, Path(workdir) / "model")
        for round_index in range(args.rounds):
            order = names[round_index % len(names) :] + names[: round_index % len(names)]
            for name in order:
                command = [sys.executable, __file__, *(argv or sys.argv[1:]), "--worker", name]
                command += ["--model_dir", model_dir, "--seed", str(round_index)]
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
                runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(f"round {round_index + 1}/{args.rounds} {name}: {runs[name][-1]['step_time_s']}", flush=True)
                _write(args.output, {"settings": settings, "complete": False, "per_process": runs})
    result = {"settings": settings, "complete": True, **summarize(runs), "per_process": runs}
    _write(args.output, result)
    _report(result)
    return result


def _report(result: dict) -> None:
    for name, ratio in result["ratios_to_rloo"].items():
        paired = ratio["paired_step_time"]
        print(
            f"{name:>14} / rloo: step time {ratio['step_time']:.3f} ({ratio['step_time_to_both_rloo_runs']:.3f} to "
            f"both RLOO runs; paired steps median {paired['median']:.3f}, range {paired['min']:.3f}-"
            f"{paired['max']:.3f}), peak RSS {ratio['peak_rss']:.3f}, generated tokens {ratio['generated_tokens']:.3f}"
        )


if __name__ == "__main__":
    main()
