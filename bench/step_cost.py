#!/usr/bin/env python
"""Per-update cost of LaTROTrainer against TRL's RLOOTrainer, at equal generated tokens, in one process.

What one run does (``--model tiny|embedded|<path>``):

1. Builds the model once and saves it to a temporary folder. Every trainer gets that folder as its ``model``, so each
   loads its own policy and its own frozen reference (``beta > 0``) from the same weights the same way (TRL 1.16's
   RLOOTrainer can only build its reference by re-loading the policy from a path).
2. Builds the trainers on identical settings (model, K, prompts per step, ``max_completion_length`` L, seed, learning
   rate, plain transformers ``generate``): ``latro`` (rewards from the training pass, the default), optionally
   ``latro_separate_scoring`` (``score_with_training_pass=False``: a separate no-gradient policy pass) and ``rloo``
   (TRL's RLOOTrainer with a constant reward of 0 and the same ``beta``). Every sequence is forced to exactly L new
   tokens: ``generation_kwargs={"min_new_tokens": L}`` and, for LaTRO, ``stop_generation_at_markers=False``.
3. Drives the optimizer steps itself, alternating trainers (round r runs them in an order rotated by r): for each
   step it takes the next generation batch from ``trainer.get_train_dataloader()``, calls ``trainer.training_step``
   (generation, scoring, loss forward and backward, exactly as ``Trainer.train`` does), then clips the gradient
   norm, steps the optimizer and the scheduler and zeroes the gradients, as ``Trainer._run_epoch`` does. Logging,
   callbacks and checkpointing are left out, so the wall time is the update itself. ``trainer.train()`` cannot
   interleave two trainers step by step, and the interleaving is what makes the paired ratio fair on a machine
   whose speed drifts; ``natural_lengths.py`` is the benchmark that goes through ``trainer.train()``.
4. Measures per step: wall time and its split (generation = ``_generate``; scoring = the rest of ``_prepare_inputs``:
   no-gradient passes, rewards, advantages; training = loss forward + backward + optimizer), forward calls of the
   policy and the reference (forward hooks, split into generation decode steps, no-gradient passes and passes with
   gradient), generated tokens, and peak memory. On CPU a background thread samples the resident set size
   (``/proc/self/statm``) every 2 ms; the step's transient working set is its peak RSS minus the RSS just before it
   (after ``gc.collect()`` and ``malloc_trim(0)``), reported alongside the absolute peak. On CUDA it is
   ``torch.cuda.max_memory_allocated()`` (reset per phase) minus the memory allocated before the step. Since all
   trainers live in one process, the absolute numbers include every trainer; each trainer's own peak is estimated
   as its resident state (policy, reference and optimizer tensors) plus its transient peak.

Settings: ``LaTROConfig``'s fields and the benchmark's own (``StepCostArguments``), parsed by TRL's ``TrlParser``;
defaults in ``bench/recipes/step_cost.yaml`` (used when no ``--config`` is given). Example::

    python bench/step_cost.py --model embedded --steps 6 --warmup 1 --output bench/results/embedded.json --markdown

See docs/performance.md for the results and how to read them.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from common import (
    RECIPES,
    RSS_INTERVAL_S,
    BenchArguments,
    MemoryMonitor,
    TrainerProbe,
    environment,
    latro_config,
    load_bench_data,
    median,
    mib,
    parse_run,
    prompts_per_step,
    rloo_config,
    run_and_report,
    save_bench_model,
)

LATRO_MODES = {"train-pass": "latro", "separate": "latro_separate_scoring"}
STEP_TIME_TARGET = 1.10  # LaTRO step time <= 1.10 x RLOO (issue 6)
MEMORY_TARGET = 1.05  # LaTRO peak memory <= 1.05 x RLOO (issue 6)
PHASES = ("generation", "scoring", "training")


def tensor_bytes(tensors: Iterator[torch.Tensor]) -> int:
    """Total storage of distinct tensors (shared storages counted once)."""
    seen: set[int] = set()
    total = 0
    for tensor in tensors:
        storage = tensor.untyped_storage()
        if storage.data_ptr() in seen:
            continue
        seen.add(storage.data_ptr())
        total += storage.nbytes()
    return total


def resident_state_bytes(trainer: Any) -> dict[str, int]:
    """Bytes held between steps by one trainer: policy and reference parameters, optimizer state."""
    policy = tensor_bytes(iter(list(trainer.model.parameters())))
    reference = tensor_bytes(iter(list(trainer.ref_model.parameters()))) if trainer.ref_model is not None else 0
    optimizer_tensors = [
        value
        for state in trainer.optimizer.state.values()
        for value in state.values()
        if isinstance(value, torch.Tensor)
    ]
    optimizer = tensor_bytes(iter(optimizer_tensors))
    return {"policy": policy, "reference": reference, "optimizer": optimizer, "total": policy + reference + optimizer}


def zero_reward(completions: list, **kwargs: Any) -> list[float]:
    """Constant reward for RLOO: the benchmark measures cost, not learning."""
    return [0.0] * len(completions)


# The fields both trainers take from the run's settings (the rest: each trainer's own default); the script sets
# max_steps (warmup + steps), bf16, the forced lengths and the output folders.
SHARED_WITH_RLOO = (
    "num_generations",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_completion_length",
    "beta",
    "learning_rate",
    "seed",
    "temperature",
    "disable_dropout",
    "gradient_checkpointing",
    "report_to",
    "save_strategy",
    "logging_steps",
    "use_vllm",
)


def forced_length(settings: dict[str, Any]) -> dict[str, Any]:
    """Every row generates exactly ``max_completion_length`` tokens (for LaTRO, with its marker stop off too)."""
    kwargs = dict(settings.get("generation_kwargs") or {})
    return {"generation_kwargs": {**kwargs, "min_new_tokens": settings["max_completion_length"]}}


def resolve_bf16(settings: dict[str, Any], device: torch.device) -> bool:
    """``bf16`` as set, or (unset) on a CUDA device that has it; one value for both trainers (RLOOConfig's own
    default would turn it on wherever fp16 is off, a CPU included)."""
    if settings.get("bf16") is not None:
        return bool(settings["bf16"])
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def common_config(args: argparse.Namespace, output_dir: Path, bf16: bool) -> dict[str, Any]:
    """Settings shared by every trainer, from an argparse namespace (``num_generations``, ``prompts_per_step``,
    ``max_completion_length``, ``beta``, ``learning_rate``, ``seed``, ``warmup``, ``steps``): this benchmark's
    recipe with those values, forced lengths included. Kept for ``gpu_check.py``, which parses its own flags."""
    recipe = yaml.safe_load((RECIPES / "step_cost.yaml").read_text())
    settings = {name: recipe[name] for name in SHARED_WITH_RLOO if name in recipe}
    settings |= {
        "num_generations": args.num_generations,
        "per_device_train_batch_size": args.prompts_per_step * args.num_generations,
        "max_completion_length": args.max_completion_length,
        "beta": args.beta,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
    }
    return {
        "output_dir": str(output_dir),
        **settings,
        **forced_length(settings),
        "max_steps": args.warmup + args.steps,
        "bf16": bf16,
    }


def build_trainers(
    args: StepCostArguments,
    settings: dict[str, Any],
    model_path: str,
    tokenizer: Any,
    dataset: Any,
    workdir: Path,
    bf16: bool,
) -> dict[str, Any]:
    """The trainers to compare, keyed ``latro``, ``latro_separate_scoring`` and ``rloo``."""
    from trl import RLOOTrainer

    from latro_trl import LaTROTrainer

    run = {**forced_length(settings), "max_steps": args.warmup + args.steps, "bf16": bf16}
    trainers: dict[str, Any] = {}
    for mode in args.modes:
        name = LATRO_MODES[mode]
        config = latro_config(
            settings,
            **run,
            output_dir=str(workdir / name),
            stop_generation_at_markers=False,
            score_with_training_pass=mode == "train-pass",
        )
        trainers[name] = LaTROTrainer(
            model=model_path, args=config, train_dataset=dataset, processing_class=copy.deepcopy(tokenizer)
        )
    if not args.skip_rloo:
        config = rloo_config(settings, SHARED_WITH_RLOO, **run, output_dir=str(workdir / "rloo"))
        trainers["rloo"] = RLOOTrainer(
            model=model_path,
            reward_funcs=zero_reward,
            args=config,
            train_dataset=dataset,
            processing_class=copy.deepcopy(tokenizer),
        )
    return trainers


class StepDriver:
    """One trainer's optimizer steps, done the way ``Trainer._run_epoch`` does them, minus logging and callbacks."""

    def __init__(self, name: str, trainer: Any, memory: MemoryMonitor) -> None:
        self.name = name
        self.trainer = trainer
        self.memory = memory
        total = trainer.args.max_steps
        trainer.create_optimizer()
        model, trainer.optimizer = trainer.accelerator.prepare(trainer.model, trainer.optimizer)
        trainer.model_wrapped = model
        trainer.create_scheduler(num_training_steps=total, optimizer=trainer.optimizer)
        trainer.current_gradient_accumulation_steps = 1
        self.model = model
        self.probe = TrainerProbe(trainer, memory)
        self._loader = trainer.get_train_dataloader()
        self._batches = iter(self._loader)
        self.records: list[dict[str, Any]] = []

    def _next_batch(self) -> Any:
        try:
            return next(self._batches)
        except StopIteration:  # more steps than prompts: start another epoch
            self._batches = iter(self._loader)
            return next(self._batches)

    def step(self, index: int, warmup: bool) -> dict[str, Any]:
        """One update; returns its measurements."""
        trainer, model = self.trainer, self.model
        batch = self._next_batch()
        self.probe.reset()
        self.memory.start_step()
        cuda = trainer.accelerator.device.type == "cuda"
        start = time.perf_counter()
        model.train()
        trainer.training_step(model, batch, None)
        if cuda:
            torch.cuda.synchronize()
        after_backward = time.perf_counter()
        if trainer.args.max_grad_norm and trainer.args.max_grad_norm > 0:
            trainer.accelerator.clip_grad_norm_(model.parameters(), trainer.args.max_grad_norm)
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
        model.zero_grad()
        if cuda:
            torch.cuda.synchronize()
        end = time.perf_counter()
        memory = self.memory.end_step()
        trainer.state.global_step += 1
        metrics = {key: list(values) for key, values in trainer._metrics["train"].items()}
        trainer._metrics["train"].clear()

        probe = self.probe.step
        loss_forward = probe.forward_s.get("policy/grad", 0.0)
        backward = max(after_backward - start - probe.prepare_s - loss_forward, 0.0)
        optimizer = end - after_backward
        record = {
            "trainer": self.name,
            "step": index,
            "warmup": warmup,
            "wall_s": end - start,
            "generation_s": probe.generation_s,
            "scoring_s": probe.prepare_s - probe.generation_s,
            "scoring_forward_s": probe.forward_s.get("policy/no_grad", 0.0)
            + probe.forward_s.get("reference/no_grad", 0.0),
            "loss_forward_s": loss_forward,
            "backward_s": backward,
            "optimizer_s": optimizer,
            "training_s": loss_forward + backward + optimizer,
            "forward_s": dict(probe.forward_s),
            "forward_calls": dict(probe.forward_calls),
            "forward_tokens": dict(probe.forward_tokens),
            "generate_calls": probe.generate_calls,
            "sequences": len(probe.completion_lengths),
            "generated_tokens": sum(probe.completion_lengths),
            "mean_generated_length": statistics.fmean(probe.completion_lengths) if probe.completion_lengths else 0.0,
            "min_generated_length": min(probe.completion_lengths, default=0),
            "max_generated_length": max(probe.completion_lengths, default=0),
            "mean_prompt_length": statistics.fmean(probe.prompt_lengths) if probe.prompt_lengths else 0.0,
            "memory": memory,
            "trainer_metrics": {key: values[-1] for key, values in metrics.items() if values},
        }
        self.records.append(record)
        return record


def summarize_trainer(driver: StepDriver) -> dict[str, Any]:
    """Medians over the measured (non-warm-up) steps of one trainer."""
    measured = [r for r in driver.records if not r["warmup"]]
    wall = [r["wall_s"] for r in measured]
    generated = sum(r["generated_tokens"] for r in measured)
    generation_time = sum(r["generation_s"] for r in measured)
    last = measured[-1]
    calls = {
        "policy_generate_decode": last["forward_calls"].get("policy/generate", 0),
        "policy_no_grad": last["forward_calls"].get("policy/no_grad", 0),
        "reference_no_grad": last["forward_calls"].get("reference/no_grad", 0),
        "policy_grad": last["forward_calls"].get("policy/grad", 0),
        "generate_calls": last["generate_calls"],
    }
    calls["scoring_and_training_passes"] = calls["policy_no_grad"] + calls["reference_no_grad"] + calls["policy_grad"]
    tokens_per_pass = {
        key: median([r["forward_tokens"][key] / r["forward_calls"][key] for r in measured])
        for key in ("policy/no_grad", "reference/no_grad", "policy/grad")
        if last["forward_calls"].get(key)
    }
    per_pass_s = {
        key: median([r["forward_s"].get(key, 0.0) / r["forward_calls"][key] for r in measured])
        for key in ("policy/no_grad", "reference/no_grad", "policy/grad")
        if last["forward_calls"].get(key)
    }
    state = resident_state_bytes(driver.trainer)
    transient = [r["memory"]["transient_bytes"] for r in measured]
    phase_transient = {
        phase: median([r["memory"]["phase_transient_bytes"].get(phase, 0) for r in measured]) for phase in PHASES
    }
    return {
        "measured_steps": len(measured),
        "step_time_s": {
            "median": median(wall),
            "mean": statistics.fmean(wall),
            "min": min(wall),
            "max": max(wall),
            "all": wall,
        },
        "split_s": {
            key: median([r[key] for r in measured])
            for key in (
                "generation_s",
                "scoring_s",
                "scoring_forward_s",
                "training_s",
                "loss_forward_s",
                "backward_s",
                "optimizer_s",
            )
        },
        "per_pass_s": per_pass_s,
        "generated_tokens_per_step": generated / len(measured),
        "generated_tokens_per_s": generated / sum(wall),
        "generation_tokens_per_s": generated / generation_time if generation_time else float("nan"),
        "mean_generated_length": statistics.fmean(r["mean_generated_length"] for r in measured),
        "min_generated_length": min(r["min_generated_length"] for r in measured),
        "max_generated_length": max(r["max_generated_length"] for r in measured),
        "mean_prompt_length": statistics.fmean(r["mean_prompt_length"] for r in measured),
        "forward_passes_per_update": calls,
        "tokens_per_pass": tokens_per_pass,
        "memory": {
            "kind": measured[-1]["memory"]["kind"],
            "transient_peak_bytes_median": median(transient),
            "transient_peak_bytes_max": max(transient),
            "phase_transient_bytes_median": phase_transient,
            "absolute_peak_bytes_max": max(r["memory"]["peak_bytes"] for r in measured),
            "resident_state_bytes": state,
            "estimated_own_peak_bytes_median": state["total"] + median(transient),
            "estimated_own_peak_bytes_max": state["total"] + max(transient),
        },
    }


def compare(summaries: dict[str, dict[str, Any]], drivers: dict[str, StepDriver]) -> dict[str, Any]:
    """LaTRO / RLOO ratios and the issue's targets, for every LaTRO mode that ran.

    Steps with the same index saw the same prompts (same sampler seed) at about the same time, so the ratios are
    taken per step pair and their median reported ("paired"); the ratio of the two medians is reported as well.
    Memory: "own peak" = the trainer's resident state + the step's transient peak, i.e. what the trainer would peak
    at alone in a process (on a GPU: what ``max_memory_allocated`` would show).
    """
    if "rloo" not in summaries:
        return {}
    rloo = summaries["rloo"]
    rloo_state = rloo["memory"]["resident_state_bytes"]["total"]
    rloo_steps = {r["step"]: r for r in drivers["rloo"].records if not r["warmup"]}
    out: dict[str, Any] = {}
    for name in (n for n in summaries if n != "rloo"):
        mine = summaries[name]
        state = mine["memory"]["resident_state_bytes"]["total"]
        pairs = [
            (r, rloo_steps[r["step"]]) for r in drivers[name].records if not r["warmup"] and r["step"] in rloo_steps
        ]
        time_ratios = [a["wall_s"] / b["wall_s"] for a, b in pairs]
        transient_ratios = [
            a["memory"]["transient_bytes"] / b["memory"]["transient_bytes"]
            for a, b in pairs
            if b["memory"]["transient_bytes"] > 0
        ]
        peak_ratios = [
            (state + a["memory"]["transient_bytes"]) / (rloo_state + b["memory"]["transient_bytes"]) for a, b in pairs
        ]
        step_ratio = median(time_ratios)
        transient_ratio = median(transient_ratios)
        peak_ratio = median(peak_ratios)
        out[name] = {
            "step_time_ratio_paired_median": step_ratio,
            "step_time_ratios_paired": time_ratios,
            "step_time_ratio_of_medians": mine["step_time_s"]["median"] / rloo["step_time_s"]["median"],
            "generation_time_ratio": mine["split_s"]["generation_s"] / rloo["split_s"]["generation_s"],
            "scoring_time_ratio": mine["split_s"]["scoring_s"] / rloo["split_s"]["scoring_s"],
            "training_time_ratio": mine["split_s"]["training_s"] / rloo["split_s"]["training_s"],
            "transient_memory_ratio_paired_median": transient_ratio,
            "transient_memory_ratios_paired": transient_ratios,
            "own_peak_memory_ratio_paired_median": peak_ratio,
            "own_peak_memory_ratios_paired": peak_ratios,
            "tokens_per_training_pass_ratio": mine["tokens_per_pass"]["policy/grad"]
            / rloo["tokens_per_pass"]["policy/grad"],
            "targets": {
                "step_time": {"target": STEP_TIME_TARGET, "value": step_ratio, "met": step_ratio <= STEP_TIME_TARGET},
                "peak_memory": {
                    "target": MEMORY_TARGET,
                    "value": peak_ratio,
                    "met": peak_ratio <= MEMORY_TARGET,
                    "measure": "own peak: resident state + transient peak of the step",
                },
                "transient_memory": {
                    "target": MEMORY_TARGET,
                    "value": transient_ratio,
                    "met": transient_ratio <= MEMORY_TARGET,
                    "measure": "transient: peak during the step minus memory before it",
                },
            },
        }
    return out


def reference_scheme_estimate(summaries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Step time of the reference code's five-pass scheme, estimated from measured per-pass times (not run).

    Reference scheme: generate to the limit (our forced-L generation already does), then policy on x+z, reference on
    x+z, policy on x+z+y without gradient, then policy on x+z and on x+z+y with gradient (two forwards, two backwards).
    The per-pass times come from ``latro_separate_scoring`` (which has every kind of pass), else from ``rloo``.
    """
    source = next((n for n in ("latro_separate_scoring", "rloo") if n in summaries), None)
    if source is None:
        return {}
    mine = summaries[source]
    passes = mine["per_pass_s"]
    split = mine["split_s"]
    if not {"policy/no_grad", "reference/no_grad", "policy/grad"} <= set(passes):
        return {}
    estimate = (
        split["generation_s"]
        + 2 * passes["policy/no_grad"]
        + passes["reference/no_grad"]
        + 2 * (passes["policy/grad"] + split["backward_s"])
        + split["optimizer_s"]
    )
    out = {"source": source, "estimated_step_s": estimate, "forward_passes": 5, "backward_passes": 2}
    if "latro" in summaries:
        out["latro_over_reference"] = summaries["latro"]["step_time_s"]["median"] / estimate
    return out


def run(args: StepCostArguments, settings: dict[str, Any]) -> dict[str, Any]:
    """Build the trainers, alternate their steps, and summarise."""
    from transformers import set_seed

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    bf16 = resolve_bf16(settings, device)
    set_seed(settings["seed"])
    prompts = prompts_per_step(settings)
    length = settings["max_completion_length"]
    with tempfile.TemporaryDirectory(prefix="latro-bench-") as tmp:
        workdir = Path(tmp)
        model_path, tokenizer, model_facts = save_bench_model(
            args.model, workdir / "model", tiny_hidden_size=args.tiny_hidden_size, tiny_layers=args.tiny_layers
        )
        dataset, data_name = load_bench_data(args, max(prompts * (args.steps + args.warmup), 8))
        start = time.perf_counter()
        trainers = build_trainers(args, settings, model_path, tokenizer, dataset, workdir, bf16)
        build_s = time.perf_counter() - start
        memory = MemoryMonitor(device)
        drivers = {name: StepDriver(name, trainer, memory) for name, trainer in trainers.items()}
        names = list(drivers)
        for index in range(args.warmup + args.steps):
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                record = drivers[name].step(index, warmup=index < args.warmup)
                if not args.quiet:
                    print(
                        f"[step {index}{' warm-up' if record['warmup'] else ''}] {name:<24} "
                        f"{record['wall_s']:7.2f} s (gen {record['generation_s']:.2f}, "
                        f"score {record['scoring_s']:.2f}, train {record['training_s']:.2f}) "
                        f"tokens {record['generated_tokens']} "
                        f"transient {record['memory']['transient_bytes'] / 2**20:.0f} MiB",
                        file=sys.stderr,
                        flush=True,
                    )
        summaries = {name: summarize_trainer(driver) for name, driver in drivers.items()}
    lengths = {name: s["mean_generated_length"] for name, s in summaries.items()}
    return {
        "benchmark": "step",
        "environment": environment(device),
        "settings": {
            "model": args.model,
            "model_facts": model_facts,
            "data": data_name,
            "num_generations": settings["num_generations"],
            "prompts_per_step": prompts,
            "sequences_per_step": settings["per_device_train_batch_size"],
            "max_completion_length": length,
            "forced_generated_length": length,
            "steps": args.steps,
            "warmup": args.warmup,
            "beta": settings["beta"],
            "learning_rate": settings["learning_rate"],
            "seed": settings["seed"],
            "bf16": bf16,
            "generation_backend": "transformers generate (no vLLM, no continuous batching)",
            "rss_interval_s": RSS_INTERVAL_S,
            "trainer_build_s": build_s,
        },
        "equal_generated_lengths": {
            "mean_lengths": lengths,
            "equal": len(set(lengths.values())) == 1,
            "all_at_limit": all(
                s["min_generated_length"] == s["max_generated_length"] == length for s in summaries.values()
            ),
        },
        "trainers": summaries,
        "comparison": compare(summaries, drivers),
        "reference_scheme_estimate": reference_scheme_estimate(summaries),
        "steps": [r for driver in drivers.values() for r in driver.records],
    }


def markdown(result: dict[str, Any]) -> str:
    """The step benchmark as Markdown tables."""
    settings, trainers = result["settings"], result["trainers"]
    lines = [
        f"Model: {settings['model_facts']['name']}; data: {settings['data']}; K={settings['num_generations']}, "
        f"{settings['prompts_per_step']} prompts/step ({settings['sequences_per_step']} sequences), "
        f"L={settings['max_completion_length']} generated tokens per sequence (forced), beta={settings['beta']}, "
        f"{settings['steps']} measured steps after {settings['warmup']} warm-up; "
        f"device {result['environment']['device']}, {result['environment']['torch_threads']} torch thread(s).",
        "",
        "| Trainer | Step s (median) | min-max | Generation s | Scoring s | Training s (fwd / bwd / opt) "
        "| Gen. tokens/step | Tokens/s (step) | Mean gen. length |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in trainers.items():
        split = s["split_s"]
        lines.append(
            f"| {name} | {s['step_time_s']['median']:.2f} "
            f"| {s['step_time_s']['min']:.2f}-{s['step_time_s']['max']:.2f} "
            f"| {split['generation_s']:.2f} | {split['scoring_s']:.2f} | {split['training_s']:.2f} "
            f"({split['loss_forward_s']:.2f} / {split['backward_s']:.2f} / {split['optimizer_s']:.2f}) "
            f"| {s['generated_tokens_per_step']:.0f} | {s['generated_tokens_per_s']:.1f} "
            f"| {s['mean_generated_length']:.1f} |"
        )
    kind = next(iter(trainers.values()))["memory"]["kind"]
    unit = "RSS" if kind == "rss" else "CUDA allocated"
    lines += [
        "",
        f"Memory ({unit}, MiB): transient = peak during the step minus memory before it; state = policy + reference + "
        "optimizer tensors held between steps; own peak = state + transient (medians). Absolute peak is the whole "
        "process (all trainers).",
        "",
        "| Trainer | Transient (median) | Transient gen / score / train | State | Own peak (est.) | Absolute peak |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in trainers.items():
        m = s["memory"]
        phases = m["phase_transient_bytes_median"]
        lines.append(
            f"| {name} | {mib(m['transient_peak_bytes_median'])} "
            f"| {mib(phases['generation'])} / {mib(phases['scoring'])} / {mib(phases['training'])} "
            f"| {mib(m['resident_state_bytes']['total'])} | {mib(m['estimated_own_peak_bytes_median'])} "
            f"| {mib(m['absolute_peak_bytes_max'])} |"
        )
    lines += [
        "",
        "| Trainer | Decode forwards (generate) | Policy no-grad | Reference no-grad | Policy with grad "
        "| Passes per update | Tokens per pass |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in trainers.items():
        c = s["forward_passes_per_update"]
        tokens = ", ".join(f"{k}: {v:.0f}" for k, v in s["tokens_per_pass"].items())
        lines.append(
            f"| {name} | {c['policy_generate_decode']} | {c['policy_no_grad']} | {c['reference_no_grad']} "
            f"| {c['policy_grad']} | {c['scoring_and_training_passes']} | {tokens} |"
        )
    if result["comparison"]:
        lines += [
            "",
            "Ratios LaTRO / RLOO: median over step pairs (same step index = same prompts, adjacent in time); "
            "targets from issue 6: step time <= 1.10, peak memory <= 1.05.",
            "",
            "| LaTRO mode | Step time (paired) | Ratio of medians | Step target | Own peak memory | Peak target "
            "| Transient only | Tokens per training pass |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, c in result["comparison"].items():
            t = c["targets"]
            lines.append(
                f"| {name} | {c['step_time_ratio_paired_median']:.3f} | {c['step_time_ratio_of_medians']:.3f} "
                f"| {'met' if t['step_time']['met'] else 'MISSED'} | {c['own_peak_memory_ratio_paired_median']:.3f} "
                f"| {'met' if t['peak_memory']['met'] else 'MISSED'} | {c['transient_memory_ratio_paired_median']:.3f} "
                f"({'<=' if t['transient_memory']['met'] else '>'} 1.05) | {c['tokens_per_training_pass_ratio']:.3f} |"
            )
    equal = result["equal_generated_lengths"]
    lines += [
        "",
        f"Equal generated lengths: {equal['equal']} (all at the limit: {equal['all_at_limit']}; "
        + ", ".join(f"{k} {v:.1f}" for k, v in equal["mean_lengths"].items())
        + ").",
    ]
    estimate = result.get("reference_scheme_estimate")
    if estimate:
        line = (
            f"Reference-code scheme (5 passes, estimated from {estimate['source']}'s per-pass times, not run): "
            f"{estimate['estimated_step_s']:.2f} s/step"
        )
        if "latro_over_reference" in estimate:
            line += f"; LaTRO (ours) / reference = {estimate['latro_over_reference']:.2f}"
        lines.append(line + ".")
    return "\n".join(lines)


@dataclass
class StepCostArguments(BenchArguments):
    """What the step benchmark adds to the run's settings: how many steps, which trainers."""

    steps: int = field(default=6, metadata={"help": "Measured steps per trainer."})
    warmup: int = field(default=1, metadata={"help": "Warm-up steps per trainer (not measured)."})
    latro_modes: str = field(
        default="train-pass,separate",
        metadata={"help": "Comma-separated: train-pass (score_with_training_pass=True), separate (False)."},
    )
    skip_rloo: bool = field(default=False, metadata={"help": "Run LaTRO only."})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.modes = [mode.strip() for mode in self.latro_modes.split(",") if mode.strip()]
        unknown = set(self.modes) - set(LATRO_MODES)
        if unknown:
            raise ValueError(f"unknown --latro_modes {sorted(unknown)}; choose from {sorted(LATRO_MODES)}")
        if self.steps < 1 or self.warmup < 0:
            raise ValueError("--steps must be >= 1 and --warmup >= 0")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; write JSON to ``--output`` and print Markdown with ``--markdown``. Returns the result."""
    args, settings = parse_run(StepCostArguments, argv, "step_cost.yaml")
    return run_and_report(args, settings, run, markdown)


if __name__ == "__main__":
    main()
