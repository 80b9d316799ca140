"""Generation alone: transformers' ``generate`` against ``latro_trl.sampling.sample_pruned``, on the same prompts.

    python bench/generation_paths.py --model embedded --max_completion_length 128 --repeats 3 \\
        --output bench/results/generation_paths_l128.json

Each repeat runs every mode once, in an order rotated by the repeat, all with the same seed, on P synthetic
questions x K rows, the way ``LaTROTrainer`` samples them (chat template, left padding, temperature 1, the model's own
generation config hidden, stop markers as a stopping criterion):

- ``generate_forced`` / ``sampler_forced``: every row forced to the limit (no end token, no marker): the per-step cost
  of each loop at equal decode steps;
- ``generate``: stop at end of turn or a marker; finished rows are decoded as padding until the longest one ends;
- ``sampler_kept``: ``sample_pruned(prune=False)``: the same loop without dropping rows (isolates the loop's cost);
- ``sampler_pruned``: ``sample_pruned``, what ``LaTROTrainer`` uses by default: finished rows leave the batch.

Reports each mode's median seconds, decode steps, generated tokens per row and ms per decode step, and the cost of
one bare decoding step (the model's forward on one new token per row, KV cache of the prompt) at 1, 2, 4 and P x K
rows: what dropping rows can save at most on the machine at hand.

Settings: ``LaTROConfig``'s ``num_generations`` (K), ``per_device_train_batch_size`` (the P x K rows) and
``max_completion_length`` (the limit), and the benchmark's own (``GenerationPathsArguments``), parsed by TRL's
``TrlParser``; defaults in ``bench/recipes/generation_paths.yaml``.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from common import (
    BenchArguments,
    load_bench_data,
    load_bench_model,
    parse_run,
    prompts_per_step,
    script_settings,
    write_json,
)

MODES = ("generate_forced", "sampler_forced", "generate", "sampler_kept", "sampler_pruned")


@dataclass
class GenerationPathsArguments(BenchArguments):
    """What the generation benchmark adds to the run's settings: how many repeats of every mode."""

    repeats: int = field(default=3, metadata={"help": "Calls of every mode, in an order rotated by the repeat."})


def decode_step_ms(model, input_ids, attention_mask, steps: int = 24) -> dict[int, float]:
    """Milliseconds of one decoding step (greedy, with KV cache) at 1, 2, 4, ... rows of the batch."""
    import torch
    from transformers import DynamicCache

    result = {}
    sizes = sorted({1, 2, 4, input_ids.size(0)} & set(range(1, input_ids.size(0) + 1)))
    with torch.no_grad():
        for rows in sizes:
            ids, mask = input_ids[:rows], attention_mask[:rows]
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            cache = DynamicCache(config=model.config)
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache).logits
            token, position = logits[:, -1].argmax(-1, keepdim=True), positions[:, -1:] + 1
            start = time.perf_counter()
            for _ in range(steps):
                mask = torch.cat([mask, mask.new_ones(rows, 1)], dim=1)
                logits = model(
                    input_ids=token, attention_mask=mask, position_ids=position, past_key_values=cache
                ).logits
                token, position = logits[:, -1].argmax(-1, keepdim=True), position + 1
            result[rows] = 1000 * (time.perf_counter() - start) / steps
    return result


def main(argv=None) -> dict:
    import torch
    from transformers import GenerationConfig, StoppingCriteriaList, StopStringCriteria
    from trl.trainer.utils import pad

    from latro_trl.markers import STOP_MARKERS
    from latro_trl.sampling import hide_model_generation_config, sample_pruned

    args, settings = parse_run(GenerationPathsArguments, argv, "generation_paths.yaml")
    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer, _ = load_bench_model(args.model, args.tiny_hidden_size, args.tiny_layers)
    model.eval()
    questions = load_bench_data(args, prompts_per_step(settings))[0]["prompt"]
    rows = [
        torch.tensor(tokenizer.apply_chat_template(q, add_generation_prompt=True, return_dict=True)["input_ids"])
        for q in questions
        for _ in range(settings["num_generations"])
    ]
    # Left-padded as the trainer pads its prompts (TRL's pad).
    input_ids = pad(rows, padding_value=tokenizer.pad_token_id, padding_side="left")
    attention_mask = pad([torch.ones_like(t) for t in rows], padding_value=0, padding_side="left")
    markers = StoppingCriteriaList([StopStringCriteria(tokenizer, list(STOP_MARKERS))])
    ends = [tokenizer.eos_token_id]  # the end of a chat turn for the models here (<|im_end|>)
    limit = settings["max_completion_length"]

    def config(forced: bool) -> GenerationConfig:
        return GenerationConfig(
            do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=limit,
            min_new_tokens=limit if forced else 0, eos_token_id=None if forced else ends,
            pad_token_id=tokenizer.pad_token_id,
        )  # fmt: skip

    def generated(output: torch.Tensor, forced: bool) -> list[list[int]]:
        # Up to the first end token; a row that stopped at a marker is padded with pad = EOS here, so it counts one
        # token more than it generated (one decode step too few to change a median).
        completions = []
        for row in output[:, input_ids.size(1) :].tolist():
            end = len(row) if forced else next((i + 1 for i, t in enumerate(row) if t in ends), len(row))
            completions.append(row[:end])
        return completions

    def generate(forced: bool) -> list[list[int]]:
        criteria = StoppingCriteriaList([]) if forced else markers
        output = model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            generation_config=config(forced),
            stopping_criteria=criteria,
        )
        return generated(output, forced)

    def sample(forced: bool, prune: bool) -> list[list[int]]:
        return sample_pruned(
            model, input_ids, attention_mask, max_new_tokens=limit, end_token_ids=[] if forced else ends,
            stopping_criteria=[] if forced else list(markers), prune=prune,
        )  # fmt: skip

    runs = {
        "generate_forced": lambda: generate(forced=True),
        "sampler_forced": lambda: sample(forced=True, prune=False),
        "generate": lambda: generate(forced=False),
        "sampler_kept": lambda: sample(forced=False, prune=False),
        "sampler_pruned": lambda: sample(forced=False, prune=True),
    }
    measured: dict[str, list[dict]] = {mode: [] for mode in MODES}
    with torch.no_grad(), hide_model_generation_config(model):
        runs["sampler_kept"]()  # warm-up
        for repeat in range(args.repeats):
            for mode in MODES[repeat % len(MODES) :] + MODES[: repeat % len(MODES)]:
                torch.manual_seed(repeat)
                start = time.perf_counter()
                completions = runs[mode]()
                seconds = time.perf_counter() - start
                lengths = [len(c) for c in completions]
                measured[mode].append({"seconds": seconds, "decode_steps": max(lengths), "lengths": lengths})
                print(f"repeat {repeat + 1}/{args.repeats} {mode}: {seconds:.2f} s, {max(lengths)} steps", flush=True)
    summary = {}
    for mode, results in measured.items():
        seconds = statistics.median(r["seconds"] for r in results)
        steps = statistics.median(r["decode_steps"] for r in results)
        summary[mode] = {
            "median_seconds": seconds,
            "median_decode_steps": steps,
            "mean_generated_tokens_per_row": statistics.fmean(t for r in results for t in r["lengths"]),
            "ms_per_decode_step": 1000 * statistics.fmean(r["seconds"] / r["decode_steps"] for r in results),
        }
    shared = {name: settings[name] for name in ("num_generations", "per_device_train_batch_size")}
    result = {
        "settings": {**script_settings(args), **shared, "max_new_tokens": limit},
        "modes": summary,
        "decode_step_ms_by_rows": decode_step_ms(model, input_ids, attention_mask),
        "runs": measured,
    }
    write_json(args.output, result, indent=1)
    print("bare decode step, ms by rows:", result["decode_step_ms_by_rows"])
    for mode, row in summary.items():
        print(
            f"{mode:>16}: {row['median_seconds']:.2f} s, {row['median_decode_steps']:.0f} decode steps, "
            f"{row['mean_generated_tokens_per_row']:.1f} tokens/row, {row['ms_per_decode_step']:.1f} ms/step"
        )
    return result


if __name__ == "__main__":
    main()
