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
   callbacks and checkpointing are left out, so the wall time is the update itself.
4. Measures per step: wall time and its split (generation = ``_generate``; scoring = the rest of ``_prepare_inputs``:
   no-gradient passes, rewards, advantages; training = loss forward + backward + optimizer), forward calls of the
   policy and the reference (forward hooks, split into generation decode steps, no-gradient passes and passes with
   gradient), generated tokens, and peak memory. On CPU a background thread samples the resident set size
   (``/proc/self/statm``) every 2 ms; the step's transient working set is its peak RSS minus the RSS just before it
   (after ``gc.collect()`` and ``malloc_trim(0)``), reported alongside the absolute peak. On CUDA it is
   ``torch.cuda.max_memory_allocated()`` (reset per phase) minus the memory allocated before the step. Since all
   trainers live in one process, the absolute numbers include every trainer; each trainer's own peak is estimated
   as its resident state (policy, reference and optimizer tensors) plus its transient peak.

``--marker_savings`` instead measures generation alone on GSM8K-style prompts: stopping at the answer marker
(``stop_generation_at_markers=True``), stopping at EOS only, and generating to the limit (as the reference code does).

Examples::

    python bench/bench_step.py --model tiny --steps 8 --warmup 1 --output bench/results/tiny.json --markdown
    python bench/bench_step.py --model embedded --steps 6 --warmup 1 --output bench/results/embedded.json --markdown
    python bench/bench_step.py --model embedded --marker_savings --prompts_per_step 8 --max_completion_length 256 \\
        --output bench/results/marker_savings_embedded.json --markdown

See docs/performance.md for the results and how to read them.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

DEFAULT_GSM8K = Path("/work/shared/data/gsm8k/test.jsonl")
LATRO_MODES = {"train-pass": "latro", "separate": "latro_separate_scoring"}
STEP_TIME_TARGET = 1.10  # LaTRO step time <= 1.10 x RLOO (issue 6)
MEMORY_TARGET = 1.05  # LaTRO peak memory <= 1.05 x RLOO (issue 6)
RSS_INTERVAL_S = 0.002
PHASES = ("generation", "scoring", "training")


# ---------------------------------------------------------------------------------------------------- measurement


def rss_bytes() -> int:
    """Resident set size of this process, from ``/proc/self/statm`` (second field, in pages)."""
    with open("/proc/self/statm", "rb") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def release_free_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS, so that the RSS before a step is its live memory."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class MemoryMonitor:
    """Peak memory of one step, overall and per phase (generation / scoring / training).

    CPU: a daemon thread samples RSS every ``interval_s`` seconds and keeps the maximum per phase. CUDA:
    ``torch.cuda.max_memory_allocated`` is read and reset at every phase change.
    """

    def __init__(self, device: torch.device, interval_s: float = RSS_INTERVAL_S) -> None:
        self.cuda = device.type == "cuda"
        self.interval_s = interval_s
        self._phase = "scoring"
        self._peaks: dict[str, int] = {}
        self._baseline = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples = 0

    def start_step(self) -> None:
        """Mark the memory before the step and start sampling; the first phase is ``scoring`` (``_prepare_inputs``)."""
        release_free_memory()
        self._peaks = {}
        self._phase = "scoring"
        self.samples = 0
        if self.cuda:
            torch.cuda.synchronize()
            self._baseline = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            return
        self._baseline = rss_bytes()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._thread.start()

    def phase(self, name: str) -> None:
        """Switch the phase that later samples are charged to."""
        if self.cuda:
            torch.cuda.synchronize()
            self._record(self._phase, torch.cuda.max_memory_allocated())
            torch.cuda.reset_peak_memory_stats()
        else:
            self._record(self._phase, rss_bytes())
        self._phase = name

    def end_step(self) -> dict[str, Any]:
        """Stop sampling; peak, baseline and transient (peak - baseline) bytes, overall and per phase."""
        if self.cuda:
            self.phase(self._phase)
        else:
            self._record(self._phase, rss_bytes())
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
        peak = max(self._peaks.values(), default=self._baseline)
        return {
            "kind": "cuda_allocated" if self.cuda else "rss",
            "baseline_bytes": self._baseline,
            "peak_bytes": peak,
            "transient_bytes": peak - self._baseline,
            "phase_transient_bytes": {name: value - self._baseline for name, value in self._peaks.items()},
            "samples": self.samples,
        }

    def _record(self, phase: str, value: int) -> None:
        if value > self._peaks.get(phase, -1):
            self._peaks[phase] = value

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._record(self._phase, rss_bytes())
            self.samples += 1
            time.sleep(self.interval_s)


@dataclass
class StepProbe:
    """Counters of one step: phase times, forward calls and tokens, generated lengths."""

    generation_s: float = 0.0
    prepare_s: float = 0.0
    forward_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    forward_calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    forward_tokens: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    generate_calls: int = 0
    completion_lengths: list[int] = field(default_factory=list)
    prompt_lengths: list[int] = field(default_factory=list)


class TrainerProbe:
    """Instruments one trainer without changing what it computes.

    Wraps ``trainer._generate`` and ``trainer._prepare_inputs`` (instance attributes shadowing the methods) to time
    generation and the whole scoring phase, and puts forward pre/post hooks on the policy and the reference model to
    count and time their forward calls: ``<model>/generate`` (decode steps inside ``generate``), ``<model>/no_grad``
    and ``<model>/grad``.
    """

    def __init__(self, trainer: Any, memory: MemoryMonitor) -> None:
        self.trainer = trainer
        self.memory = memory
        self.step = StepProbe()
        self._in_generation = False
        self._cuda = trainer.accelerator.device.type == "cuda"
        self._starts: dict[int, tuple[str, float]] = {}
        self._wrap("_generate", self._timed_generate)
        self._wrap("_prepare_inputs", self._timed_prepare)
        self._hooks = [*self._hook(trainer.model, "policy")]
        if getattr(trainer, "ref_model", None) is not None:
            self._hooks += self._hook(trainer.ref_model, "reference")

    def reset(self) -> None:
        self.step = StepProbe()

    def _sync(self) -> None:
        if self._cuda:
            torch.cuda.synchronize()

    def _wrap(self, name: str, wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
        setattr(self.trainer, name, wrapper(getattr(self.trainer, name)))

    def _timed_generate(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def generate(prompts: list) -> Any:
            self.memory.phase("generation")
            self._sync()
            start = time.perf_counter()
            self._in_generation = True
            try:
                output = original(prompts)
            finally:
                self._in_generation = False
                self._sync()
                self.step.generation_s += time.perf_counter() - start
                self.memory.phase("scoring")
            self.step.generate_calls += 1
            self.step.prompt_lengths.extend(len(ids) for ids in output[0])
            self.step.completion_lengths.extend(len(ids) for ids in output[1])
            return output

        return generate

    def _timed_prepare(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def prepare(batch: Any) -> Any:
            self.memory.phase("scoring")
            self._sync()
            start = time.perf_counter()
            output = original(batch)
            self._sync()
            self.step.prepare_s += time.perf_counter() - start
            self.memory.phase("training")
            return output

        return prepare

    def _hook(self, module: torch.nn.Module, role: str) -> list[Any]:
        def before(mod: torch.nn.Module, args: tuple, kwargs: dict) -> None:
            if self._in_generation:
                kind = "generate"
            else:
                kind = "grad" if torch.is_grad_enabled() else "no_grad"
            key = f"{role}/{kind}"
            ids = kwargs.get("input_ids", args[0] if args else None)
            self.step.forward_calls[key] += 1
            if isinstance(ids, torch.Tensor):
                self.step.forward_tokens[key] += int(ids.numel())
            self._sync()
            self._starts[id(mod)] = (key, time.perf_counter())

        def after(mod: torch.nn.Module, args: tuple, output: Any) -> None:
            key, start = self._starts.pop(id(mod), ("", 0.0))
            if key:
                self._sync()
                self.step.forward_s[key] += time.perf_counter() - start

        return [
            module.register_forward_pre_hook(before, with_kwargs=True),
            module.register_forward_hook(after),
        ]


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


# ---------------------------------------------------------------------------------------------------- set-up


def resolve_data(args: argparse.Namespace) -> tuple[Any, str]:
    """The prompt/answer data set and a description of it."""
    from latro_trl.data import load_gsm8k, load_synthetic

    wanted = args.data
    if wanted is None:
        wanted = str(DEFAULT_GSM8K) if DEFAULT_GSM8K.is_file() else "synthetic"
    if wanted == "synthetic":
        dataset, name = load_synthetic("train", n=args.num_prompts, seed=args.seed), "synthetic arithmetic (offline)"
    else:
        path = Path(wanted)
        split = path.stem if path.suffix == ".jsonl" else "test"
        dataset, name = load_gsm8k(split, path=path, limit=args.num_prompts), f"GSM8K {path}"
    return dataset.select_columns(["prompt", "answer"]), name


def prepare_model(args: argparse.Namespace, workdir: Path) -> tuple[str, Any, dict[str, Any]]:
    """Save the chosen model to ``workdir`` (or use a given folder); return its path, the tokenizer and facts."""
    from latro_trl.models import EMBEDDED_MODEL_NAME, load_model_and_tokenizer, load_tokenizer
    from latro_trl.testing import make_tiny_model, make_tiny_tokenizer

    start = time.perf_counter()
    if args.model == "tiny":
        tokenizer = make_tiny_tokenizer()
        model = make_tiny_model(tokenizer, hidden_size=args.tiny_hidden_size, num_layers=args.tiny_layers)
        name = f"tiny random Llama (hidden {args.tiny_hidden_size}, {args.tiny_layers} layers)"
    elif args.model == "embedded":
        model, tokenizer = load_model_and_tokenizer(EMBEDDED_MODEL_NAME)
        name = "SmolLM2-135M-Instruct (embedded GGUF Q4_1, dequantized to float32)"
    else:
        tokenizer = load_tokenizer(args.model)
        return args.model, tokenizer, {"name": args.model, "load_s": time.perf_counter() - start}
    folder = workdir / "model"
    model.save_pretrained(folder)
    facts = {
        "name": name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": str(next(model.parameters()).dtype),
        "load_s": round(time.perf_counter() - start, 2),
    }
    del model
    return str(folder), tokenizer, facts


def zero_reward(completions: list, **kwargs: Any) -> list[float]:
    """Constant reward for RLOO: the benchmark measures cost, not learning."""
    return [0.0] * len(completions)


def common_config(args: argparse.Namespace, output_dir: Path, bf16: bool) -> dict[str, Any]:
    """Settings shared by every trainer of a run."""
    length = args.max_completion_length
    return {
        "output_dir": str(output_dir),
        "num_generations": args.num_generations,
        "per_device_train_batch_size": args.prompts_per_step * args.num_generations,
        "gradient_accumulation_steps": 1,
        "max_completion_length": length,
        "generation_kwargs": {"min_new_tokens": length},
        "beta": args.beta,
        "learning_rate": args.learning_rate,
        "max_steps": args.warmup + args.steps,
        "seed": args.seed,
        "temperature": 1.0,
        "disable_dropout": True,
        "gradient_checkpointing": False,
        "bf16": bf16,
        "report_to": "none",
        "save_strategy": "no",
        "logging_steps": 1,
        "use_vllm": False,
    }


def build_trainers(
    args: argparse.Namespace, model_path: str, tokenizer: Any, dataset: Any, workdir: Path, bf16: bool
) -> dict[str, Any]:
    """The trainers to compare, keyed ``latro``, ``latro_separate_scoring`` and ``rloo``."""
    from trl import RLOOConfig, RLOOTrainer

    from latro_trl import LaTROConfig, LaTROTrainer

    trainers: dict[str, Any] = {}
    for mode in args.latro_modes:
        name = LATRO_MODES[mode]
        config = LaTROConfig(
            **common_config(args, workdir / name, bf16),
            stop_generation_at_markers=False,
            score_with_training_pass=mode == "train-pass",
        )
        trainers[name] = LaTROTrainer(
            model=model_path, args=config, train_dataset=dataset, processing_class=copy.deepcopy(tokenizer)
        )
    if not args.skip_rloo:
        config = RLOOConfig(**common_config(args, workdir / "rloo", bf16))
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


# ---------------------------------------------------------------------------------------------------- summaries


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


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
        key: _median([r["forward_tokens"][key] / r["forward_calls"][key] for r in measured])
        for key in ("policy/no_grad", "reference/no_grad", "policy/grad")
        if last["forward_calls"].get(key)
    }
    per_pass_s = {
        key: _median([r["forward_s"].get(key, 0.0) / r["forward_calls"][key] for r in measured])
        for key in ("policy/no_grad", "reference/no_grad", "policy/grad")
        if last["forward_calls"].get(key)
    }
    state = resident_state_bytes(driver.trainer)
    transient = [r["memory"]["transient_bytes"] for r in measured]
    phase_transient = {
        phase: _median([r["memory"]["phase_transient_bytes"].get(phase, 0) for r in measured]) for phase in PHASES
    }
    return {
        "measured_steps": len(measured),
        "step_time_s": {
            "median": _median(wall),
            "mean": statistics.fmean(wall),
            "min": min(wall),
            "max": max(wall),
            "all": wall,
        },
        "split_s": {
            key: _median([r[key] for r in measured])
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
            "transient_peak_bytes_median": _median(transient),
            "transient_peak_bytes_max": max(transient),
            "phase_transient_bytes_median": phase_transient,
            "absolute_peak_bytes_max": max(r["memory"]["peak_bytes"] for r in measured),
            "resident_state_bytes": state,
            "estimated_own_peak_bytes_median": state["total"] + _median(transient),
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
        step_ratio = _median(time_ratios)
        transient_ratio = _median(transient_ratios)
        peak_ratio = _median(peak_ratios)
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


# ---------------------------------------------------------------------------------------------------- environment


def environment(device: torch.device) -> dict[str, Any]:
    """Versions, hardware and the git state of the checkout."""
    import accelerate
    import peft
    import transformers
    import trl

    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    total_kib: int | None = None
    with contextlib.suppress(OSError, IndexError, ValueError):
        total_kib = int(Path("/proc/meminfo").read_text().split()[1])
    commit = ""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        repo = Path(__file__).resolve().parent.parent
        commit = subprocess.check_output(["git", "-C", str(repo), "rev-parse", "HEAD"], text=True).strip()
        dirty = subprocess.check_output(["git", "-C", str(repo), "status", "--porcelain", "src"], text=True).strip()
        commit += " (src modified)" if dirty else ""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "git_commit": commit,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(total_kib / 2**20, 1) if total_kib is not None else None,
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "trl": trl.__version__,
            "accelerate": accelerate.__version__,
            "peft": peft.__version__,
        },
    }


# ---------------------------------------------------------------------------------------------------- runs


def run_step_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Build the trainers, alternate their steps, and summarise."""
    from transformers import set_seed

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    bf16 = args.bf16 == "true" or (args.bf16 == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported())
    set_seed(args.seed)
    with tempfile.TemporaryDirectory(prefix="latro-bench-") as tmp:
        workdir = Path(tmp)
        model_path, tokenizer, model_facts = prepare_model(args, workdir)
        dataset, data_name = resolve_data(args)
        start = time.perf_counter()
        trainers = build_trainers(args, model_path, tokenizer, dataset, workdir, bf16)
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
            "num_generations": args.num_generations,
            "prompts_per_step": args.prompts_per_step,
            "sequences_per_step": args.num_generations * args.prompts_per_step,
            "max_completion_length": args.max_completion_length,
            "forced_generated_length": args.max_completion_length,
            "steps": args.steps,
            "warmup": args.warmup,
            "beta": args.beta,
            "learning_rate": args.learning_rate,
            "seed": args.seed,
            "bf16": bf16,
            "generation_backend": "transformers generate (no vLLM, no continuous batching)",
            "rss_interval_s": RSS_INTERVAL_S,
            "trainer_build_s": build_s,
        },
        "equal_generated_lengths": {
            "mean_lengths": lengths,
            "equal": len(set(lengths.values())) == 1,
            "all_at_limit": all(
                s["min_generated_length"] == s["max_generated_length"] == args.max_completion_length
                for s in summaries.values()
            ),
        },
        "trainers": summaries,
        "comparison": compare(summaries, drivers),
        "reference_scheme_estimate": reference_scheme_estimate(summaries),
        "steps": [r for driver in drivers.values() for r in driver.records],
    }


def run_marker_savings(args: argparse.Namespace) -> dict[str, Any]:
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
        model_path, tokenizer, model_facts = prepare_model(args, workdir)
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
            key: (_median if key == "wall_s" else statistics.fmean)([r[key] for r in records])
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
        savings[f"wall_saved_vs_{label}_fraction"] = _median([1 - ours / theirs for ours, theirs in walls])
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


# ---------------------------------------------------------------------------------------------------- markdown


def _mib(value: float) -> str:
    return f"{value / 2**20:,.0f}"


def markdown_step(result: dict[str, Any]) -> str:
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
            f"| {name} | {_mib(m['transient_peak_bytes_median'])} "
            f"| {_mib(phases['generation'])} / {_mib(phases['scoring'])} / {_mib(phases['training'])} "
            f"| {_mib(m['resident_state_bytes']['total'])} | {_mib(m['estimated_own_peak_bytes_median'])} "
            f"| {_mib(m['absolute_peak_bytes_max'])} |"
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


def markdown_markers(result: dict[str, Any]) -> str:
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


# ---------------------------------------------------------------------------------------------------- CLI


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model", default="tiny", help="tiny | embedded | a local model folder")
    parser.add_argument(
        "--data",
        default=None,
        help=f"'synthetic' (offline arithmetic) or a GSM8K JSONL file; default {DEFAULT_GSM8K} when present",
    )
    parser.add_argument("--num_generations", type=int, default=4, help="K, rationales per prompt")
    parser.add_argument("--prompts_per_step", type=int, default=2, help="prompts per optimizer step (questions)")
    parser.add_argument("--max_completion_length", type=int, default=64, help="L, generated tokens per sequence")
    parser.add_argument("--steps", type=int, default=6, help="measured steps per trainer")
    parser.add_argument(
        "--warmup", type=int, default=1, help="warm-up steps per trainer (not measured); --marker_savings: 0 or 1 call"
    )
    parser.add_argument("--beta", type=float, default=0.05, help="KL coefficient, the same for both (> 0: reference)")
    parser.add_argument("--learning_rate", type=float, default=1e-6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--latro_modes",
        default="train-pass,separate",
        help="comma-separated: train-pass (score_with_training_pass=True), separate (False)",
    )
    parser.add_argument("--skip_rloo", action="store_true", help="run LaTRO only")
    parser.add_argument("--bf16", choices=("auto", "true", "false"), default="auto", help="auto: on CUDA with bf16")
    parser.add_argument("--tiny_hidden_size", type=int, default=32)
    parser.add_argument("--tiny_layers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--marker_savings", action="store_true", help="measure generation with and without stopping")
    parser.add_argument("--repeats", type=int, default=1, help="--marker_savings: generate calls per mode")
    parser.add_argument("--output", type=Path, default=None, help="write the JSON result here")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables to stdout")
    parser.add_argument("--quiet", action="store_true", help="no per-step progress on stderr")
    args = parser.parse_args(argv)
    args.latro_modes = [mode.strip() for mode in args.latro_modes.split(",") if mode.strip()]
    unknown = set(args.latro_modes) - set(LATRO_MODES)
    if unknown:
        parser.error(f"unknown --latro_modes {sorted(unknown)}; choose from {sorted(LATRO_MODES)}")
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")
    args.num_prompts = max(args.prompts_per_step * (args.steps + args.warmup), args.prompts_per_step, 8)
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; write JSON to ``--output`` and print Markdown with ``--markdown``. Returns the result."""
    args = parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run_marker_savings(args) if args.marker_savings else run_step_benchmark(args)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")
    if args.markdown:
        print(markdown_markers(result) if args.marker_savings else markdown_step(result))
    return result


if __name__ == "__main__":
    main()
