#!/usr/bin/env python
"""Per-update cost of LaTROTrainer against TRL's RLOOTrainer, at equal generated tokens, through ``trainer.train()``.

What one run does (``--model tiny|embedded|<path>``):

1. Builds the model once and saves it to a temporary folder. Every trainer gets that folder as its ``model``, so each
   loads its own policy and its own frozen reference (``beta > 0``) from the same weights the same way (TRL 1.16's
   RLOOTrainer can only build its reference by re-loading the policy from a path).
2. Trains, one after the other, ``latro`` (rewards from the training pass, the default), optionally
   ``latro_separate_scoring`` (``score_with_training_pass=False``: a separate no-gradient policy pass) and ``rloo``
   (TRL's RLOOTrainer with a constant reward of 0 and the same ``beta``), each built fresh and run by its own
   ``trainer.train()`` for ``--max_steps`` optimizer steps, on identical settings (model, K, prompts per step,
   ``max_completion_length`` L, seed, learning rate, plain transformers ``generate``). Every sequence is forced to
   exactly L new tokens: ``generation_kwargs={"min_new_tokens": L}`` and, for LaTRO, ``stop_generation_at_markers=
   False``. ``--rounds`` repeats this, round r in an order rotated by r. Each trainer seeds itself when it is built,
   so step i of every run sees the same prompts and, for a given trainer, samples the same completions.
3. Measures per step, from the training loop's callbacks (``common.StepClock``): the wall time from
   ``on_step_begin`` to ``on_step_end`` and its split (generation = ``_generate``; scoring = the rest of
   ``_prepare_inputs``: no-gradient passes, rewards, advantages; training = loss forward (a forward hook), backward
   and gradient clipping (up to ``on_pre_optimizer_step``), optimizer and scheduler steps); forward calls of the
   policy and the reference (forward hooks: decode steps inside ``generate``, no-gradient passes, passes with
   gradient); generated tokens; the step's logged loss and metrics; and peak memory. On CPU a background thread
   samples the resident set size every 2 ms; the step's transient working set is its peak RSS minus the RSS just
   before it (after ``gc.collect()`` and ``malloc_trim(0)``). On CUDA it is ``torch.cuda.max_memory_allocated()``
   (reset per phase) minus the memory allocated before the step. Each trainer's own peak is estimated as its
   resident state (policy, reference and optimizer tensors) plus its transient peak.

Pairs: a LaTRO step and the RLOO step of the same round and index saw the same prompts, a few minutes apart (the
training loop runs one trainer at a time, so steps of two trainers cannot alternate; ``--rounds`` > 1 shows how far
a pair moves with the machine).

Settings: ``LaTROConfig``'s fields (``--max_steps``: optimizer steps per run, the first ``--warmup`` of them left
out of the summaries) and the benchmark's own (``StepCostArguments``), parsed by TRL's ``TrlParser``; defaults in
``bench/recipes/step_cost.yaml`` (used when no ``--config`` is given). Example::

    python bench/step_cost.py --model embedded --max_steps 7 --warmup 1 --output bench/results/embedded.json --markdown

See docs/performance.md for the results and how to read them.
"""

from __future__ import annotations

import copy
import statistics
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from common import (
    RSS_INTERVAL_S,
    BenchArguments,
    MemoryMonitor,
    StepClock,
    environment,
    latro_config,
    load_bench_data,
    median,
    mib,
    parse_run,
    prompts_per_step,
    release_free_memory,
    rloo_config,
    run_and_report,
    save_bench_model,
    table,
)

LATRO_MODES = {"train-pass": "latro", "separate": "latro_separate_scoring"}
STEP_TIME_TARGET = 1.10  # LaTRO step time <= 1.10 x RLOO (issue 6)
MEMORY_TARGET = 1.05  # LaTRO peak memory <= 1.05 x RLOO (issue 6)
PHASES = ("generation", "scoring", "training")
SPLITS = ("generation_s", "scoring_s", "scoring_forward_s", "training_s", "loss_forward_s", "backward_s", "optimizer_s")
PASSES = ("policy/no_grad", "reference/no_grad", "policy/grad")

# The fields both trainers take from the run's settings (the rest: each trainer's own default); the script sets the
# forced lengths and the output folders, and bf16 where it is unset.
SHARED_WITH_RLOO = (
    "bf16",
    "use_cpu",
    "num_generations",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_completion_length",
    "max_steps",
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


@dataclass
class StepCostArguments(BenchArguments):
    """What the step benchmark adds to the run's settings: the steps left out, rounds, which trainers."""

    warmup: int = field(default=1, metadata={"help": "Steps of each run left out of the summaries."})
    rounds: int = field(default=1, metadata={"help": "Runs of every trainer, in an order rotated by the round."})
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
        if self.warmup < 0 or self.rounds < 1:
            raise ValueError("--warmup must be >= 0 and --rounds >= 1")


# ---------------------------------------------------------------------------------------------------- trainers


def zero_reward(completions: list, **kwargs: Any) -> list[float]:
    """Constant reward for RLOO: the benchmark measures cost, not learning."""
    return [0.0] * len(completions)


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


def forced_trainer(name: str, model: Any, settings: dict[str, Any], dataset: Any, tokenizer: Any,
                   peft_config: Any = None, **overrides: Any) -> Any:  # fmt: skip
    """``latro``, ``latro_separate_scoring`` or ``rloo`` on ``settings`` (``LaTROConfig`` fields; RLOO takes those in
    ``SHARED_WITH_RLOO``), every row forced to ``max_completion_length`` tokens; ``overrides`` (output folder, bf16,
    ...) go to both configs. ``gpu_check.py`` builds its trainers here too."""
    from trl import RLOOTrainer

    from latro_trl import LaTROTrainer

    data = {"train_dataset": dataset, "processing_class": copy.deepcopy(tokenizer), "peft_config": peft_config}
    run = {**forced_length(settings), **overrides}
    if name == "rloo":
        config = rloo_config(settings, SHARED_WITH_RLOO, **run)
        return RLOOTrainer(model=model, reward_funcs=zero_reward, args=config, **data)
    mode = {"latro": True, "latro_separate_scoring": False}[name]
    config = latro_config(settings, **run, stop_generation_at_markers=False, score_with_training_pass=mode)
    return LaTROTrainer(model=model, args=config, **data)


def tensor_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Total storage of distinct tensors (shared storages counted once)."""
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values())


def resident_state_bytes(trainer: Any) -> dict[str, int]:
    """Bytes held between steps by one trainer: policy and reference parameters, optimizer state."""
    policy = tensor_bytes(trainer.model.parameters())
    reference = tensor_bytes(trainer.ref_model.parameters()) if getattr(trainer, "ref_model", None) else 0
    states = trainer.optimizer.state.values()
    optimizer = tensor_bytes(v for state in states for v in state.values() if isinstance(v, torch.Tensor))
    return {"policy": policy, "reference": reference, "optimizer": optimizer, "total": policy + reference + optimizer}


def step_record(name: str, round_index: int, measured: dict[str, Any], logs: dict[str, Any], warmup: int) -> dict:
    """One step's measurements from :class:`common.StepClock` and the training loop's log of that step."""
    probe, step = measured["probe"], measured["step"] - 1
    loss_forward = probe.forward_s.get("policy/grad", 0.0)
    backward = max(measured["wall_s"] - measured["optimizer_s"] - probe.prepare_s - loss_forward, 0.0)
    lengths = probe.completion_lengths
    return {
        "trainer": name,
        "round": round_index,
        "step": step,
        "warmup": step < warmup,
        "wall_s": measured["wall_s"],
        "generation_s": probe.generation_s,
        "scoring_s": probe.prepare_s - probe.generation_s,
        "scoring_forward_s": probe.forward_s.get("policy/no_grad", 0.0) + probe.forward_s.get("reference/no_grad", 0),
        "loss_forward_s": loss_forward,
        "backward_s": backward,
        "optimizer_s": measured["optimizer_s"],
        "training_s": loss_forward + backward + measured["optimizer_s"],
        "forward_s": dict(probe.forward_s),
        "forward_calls": dict(probe.forward_calls),
        "forward_tokens": dict(probe.forward_tokens),
        "generate_calls": probe.generate_calls,
        "sequences": len(lengths),
        "generated_tokens": sum(lengths),
        "mean_generated_length": statistics.fmean(lengths) if lengths else 0.0,
        "min_generated_length": min(lengths, default=0),
        "max_generated_length": max(lengths, default=0),
        "mean_prompt_length": statistics.fmean(probe.prompt_lengths) if probe.prompt_lengths else 0.0,
        "memory": measured["memory"],
        "trainer_metrics": {k: v for k, v in logs.items() if k not in ("step", "epoch")},
    }


def train_and_measure(name: str, round_index: int, build: dict[str, Any], folder: Path, memory: MemoryMonitor,
                      args: StepCostArguments) -> tuple[list[dict], dict[str, int]]:  # fmt: skip
    """Build one trainer (``build``: :func:`forced_trainer`'s arguments), ``train()`` it with a
    :class:`common.StepClock`; its step records and resident state."""
    from transformers.trainer_callback import PrinterCallback

    def report(measured: dict[str, Any]) -> None:
        probe = measured["probe"]
        print(
            f"[round {round_index} step {measured['step'] - 1}] {name:<24} {measured['wall_s']:7.2f} s "
            f"(gen {probe.generation_s:.2f}, score {probe.prepare_s - probe.generation_s:.2f}) "
            f"tokens {sum(probe.completion_lengths)} transient {measured['memory']['transient_bytes'] / 2**20:.0f} MiB",
            file=sys.stderr,
            flush=True,
        )

    trainer = forced_trainer(name, **build, output_dir=str(folder / name), disable_tqdm=True)
    clock = StepClock(trainer, memory, per_step_memory=True, count_passes=True, report=None if args.quiet else report)
    trainer.add_callback(clock)
    trainer.remove_callback(PrinterCallback)  # the logged dicts; the script prints its own line per step
    trainer.train()
    logs = {entry["step"]: entry for entry in trainer.state.log_history if "loss" in entry}
    records = [step_record(name, round_index, m, logs.get(m["step"], {}), args.warmup) for m in clock.records]
    state = resident_state_bytes(trainer)
    trainer.accelerator.free_memory()
    del trainer, clock
    release_free_memory()
    return records, state


# ---------------------------------------------------------------------------------------------------- summaries


def summarize_trainer(records: list[dict], state: dict[str, int]) -> dict[str, Any]:
    """Medians over the measured (non-warm-up) steps of one trainer, all rounds."""
    measured = [r for r in records if not r["warmup"]]
    wall = [r["wall_s"] for r in measured]
    generated = sum(r["generated_tokens"] for r in measured)
    generation_time = sum(r["generation_s"] for r in measured)
    last = measured[-1]["forward_calls"]
    calls = {
        "policy_generate_decode": last.get("policy/generate", 0),
        "policy_no_grad": last.get("policy/no_grad", 0),
        "reference_no_grad": last.get("reference/no_grad", 0),
        "policy_grad": last.get("policy/grad", 0),
        "generate_calls": measured[-1]["generate_calls"],
    }
    calls["scoring_and_training_passes"] = calls["policy_no_grad"] + calls["reference_no_grad"] + calls["policy_grad"]
    counted = [key for key in PASSES if last.get(key)]
    transient = [r["memory"]["transient_bytes"] for r in measured]
    return {
        "measured_steps": len(measured),
        "step_time_s": {"median": median(wall), "mean": statistics.fmean(wall), "min": min(wall), "max": max(wall)}
        | {"all": wall},
        "split_s": {key: median([r[key] for r in measured]) for key in SPLITS},
        "per_pass_s": {
            k: median([r["forward_s"].get(k, 0.0) / r["forward_calls"][k] for r in measured]) for k in counted
        },
        "generated_tokens_per_step": generated / len(measured),
        "generated_tokens_per_s": generated / sum(wall),
        "generation_tokens_per_s": generated / generation_time if generation_time else float("nan"),
        "mean_generated_length": statistics.fmean(r["mean_generated_length"] for r in measured),
        "min_generated_length": min(r["min_generated_length"] for r in measured),
        "max_generated_length": max(r["max_generated_length"] for r in measured),
        "mean_prompt_length": statistics.fmean(r["mean_prompt_length"] for r in measured),
        "forward_passes_per_update": calls,
        "tokens_per_pass": {
            k: median([r["forward_tokens"][k] / r["forward_calls"][k] for r in measured]) for k in counted
        },
        "memory": {
            "kind": measured[-1]["memory"]["kind"],
            "transient_peak_bytes_median": median(transient),
            "transient_peak_bytes_max": max(transient),
            "phase_transient_bytes_median": {
                phase: median([r["memory"]["phase_transient_bytes"].get(phase, 0) for r in measured])
                for phase in PHASES
            },
            "absolute_peak_bytes_max": max(r["memory"]["peak_bytes"] for r in measured),
            "resident_state_bytes": state,
            "estimated_own_peak_bytes_median": state["total"] + median(transient),
            "estimated_own_peak_bytes_max": state["total"] + max(transient),
        },
    }


def compare(summaries: dict[str, dict[str, Any]], records: dict[str, list[dict]]) -> dict[str, Any]:
    """LaTRO / RLOO ratios and the issue's targets, for every LaTRO mode that ran.

    Steps of the same round and index saw the same prompts, so the ratios are taken per step pair and their median
    reported ("paired"); the ratio of the two medians is reported as well. Memory: "own peak" = the trainer's
    resident state + the step's transient peak, i.e. what the trainer would peak at alone in a process (on a GPU:
    what ``max_memory_allocated`` would show).
    """
    if "rloo" not in summaries:
        return {}
    rloo = summaries["rloo"]
    rloo_state = rloo["memory"]["resident_state_bytes"]["total"]
    rloo_steps = {(r["round"], r["step"]): r for r in records["rloo"] if not r["warmup"]}
    out: dict[str, Any] = {}
    for name in (n for n in summaries if n != "rloo"):
        mine, state = summaries[name], summaries[name]["memory"]["resident_state_bytes"]["total"]
        pairs = [(r, rloo_steps[r["round"], r["step"]]) for r in records[name] if (r["round"], r["step"]) in rloo_steps]
        transient = [(a["memory"]["transient_bytes"], b["memory"]["transient_bytes"]) for a, b in pairs]
        ratios = {
            "step_time": [a["wall_s"] / b["wall_s"] for a, b in pairs],
            "transient_memory": [a / b for a, b in transient if b > 0],
            "own_peak_memory": [(state + a) / (rloo_state + b) for a, b in transient],
        }
        value = {key: median(values) for key, values in ratios.items()}
        split, rloo_split = mine["split_s"], rloo["split_s"]
        out[name] = {
            "step_time_ratio_paired_median": value["step_time"],
            "step_time_ratios_paired": ratios["step_time"],
            "step_time_ratio_of_medians": mine["step_time_s"]["median"] / rloo["step_time_s"]["median"],
            **{f"{phase}_time_ratio": split[f"{phase}_s"] / rloo_split[f"{phase}_s"] for phase in PHASES},
            "transient_memory_ratio_paired_median": value["transient_memory"],
            "transient_memory_ratios_paired": ratios["transient_memory"],
            "own_peak_memory_ratio_paired_median": value["own_peak_memory"],
            "own_peak_memory_ratios_paired": ratios["own_peak_memory"],
            "tokens_per_training_pass_ratio": mine["tokens_per_pass"]["policy/grad"]
            / rloo["tokens_per_pass"]["policy/grad"],
            "targets": {
                "step_time": target(STEP_TIME_TARGET, value["step_time"]),
                "peak_memory": target(MEMORY_TARGET, value["own_peak_memory"])
                | {"measure": "own peak: resident state + transient peak of the step"},
                "transient_memory": target(MEMORY_TARGET, value["transient_memory"])
                | {"measure": "transient: peak during the step minus memory before it"},
            },
        }
    return out


def target(limit: float, value: float) -> dict[str, Any]:
    return {"target": limit, "value": value, "met": value <= limit}


def reference_scheme_estimate(summaries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Step time of the reference code's five-pass scheme, estimated from measured per-pass times (not run).

    Reference scheme: generate to the limit (our forced-L generation already does), then policy on x+z, reference on
    x+z, policy on x+z+y without gradient, then policy on x+z and on x+z+y with gradient (two forwards, two backwards).
    The per-pass times come from ``latro_separate_scoring`` (which has every kind of pass), else from ``rloo``.
    """
    source = next((n for n in ("latro_separate_scoring", "rloo") if n in summaries), None)
    if source is None or not set(PASSES) <= set(summaries[source]["per_pass_s"]):
        return {}
    passes, split = summaries[source]["per_pass_s"], summaries[source]["split_s"]
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


# ---------------------------------------------------------------------------------------------------- the run


def run(args: StepCostArguments, settings: dict[str, Any]) -> dict[str, Any]:
    """Train every trainer ``--rounds`` times, one after the other, and summarise."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    bf16 = resolve_bf16(settings, device)
    prompts, length = prompts_per_step(settings), settings["max_completion_length"]
    if settings["max_steps"] <= args.warmup:
        raise ValueError(f"--max_steps ({settings['max_steps']}) must exceed --warmup ({args.warmup})")
    names = [LATRO_MODES[mode] for mode in args.modes] + ([] if args.skip_rloo else ["rloo"])
    records: dict[str, list[dict]] = {name: [] for name in names}
    states: dict[str, dict[str, int]] = {}
    memory = MemoryMonitor(device)
    with tempfile.TemporaryDirectory(prefix="latro-bench-") as tmp:
        model_path, tokenizer, model_facts = save_bench_model(
            args.model, Path(tmp) / "model", tiny_hidden_size=args.tiny_hidden_size, tiny_layers=args.tiny_layers
        )
        dataset, data_name = load_bench_data(args, max(prompts * settings["max_steps"], 8))
        build = {"model": model_path, "settings": settings | {"bf16": bf16}, "dataset": dataset, "tokenizer": tokenizer}
        for round_index in range(args.rounds):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                steps, states[name] = train_and_measure(name, round_index, build, Path(tmp), memory, args)
                records[name] += steps
    summaries = {name: summarize_trainer(records[name], states[name]) for name in names}
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
            "max_steps": settings["max_steps"],
            "warmup": args.warmup,
            "rounds": args.rounds,
            "beta": settings["beta"],
            "learning_rate": settings["learning_rate"],
            "seed": settings["seed"],
            "bf16": bf16,
            "generation_backend": "transformers generate (no vLLM, no continuous batching)",
            "loop": "trainer.train() per trainer, measured by callbacks",
            "rss_interval_s": RSS_INTERVAL_S,
        },
        "equal_generated_lengths": {
            "mean_lengths": lengths,
            "equal": len(set(lengths.values())) == 1,
            "all_at_limit": all(
                s["min_generated_length"] == s["max_generated_length"] == length for s in summaries.values()
            ),
        },
        "trainers": summaries,
        "comparison": compare(summaries, records),
        "reference_scheme_estimate": reference_scheme_estimate(summaries),
        "steps": [r for name in names for r in records[name]],
    }


def markdown(result: dict[str, Any]) -> str:
    """The step benchmark as Markdown tables."""
    settings, trainers = result["settings"], result["trainers"]
    lines = [
        f"Model: {settings['model_facts']['name']}; data: {settings['data']}; K={settings['num_generations']}, "
        f"{settings['prompts_per_step']} prompts/step ({settings['sequences_per_step']} sequences), "
        f"L={settings['max_completion_length']} generated tokens per sequence (forced), beta={settings['beta']}, "
        f"{settings['rounds']} round(s) of {settings['max_steps']} steps, the first {settings['warmup']} left out; "
        f"device {result['environment']['device']}, {result['environment']['torch_threads']} torch thread(s).",
        "",
    ]
    rows = []
    for name, s in trainers.items():
        split, wall = s["split_s"], s["step_time_s"]
        training = f"{split['training_s']:.2f} ({split['loss_forward_s']:.2f} / {split['backward_s']:.2f} / "
        rows.append([name, f"{wall['median']:.2f}", f"{wall['min']:.2f}-{wall['max']:.2f}"]
                    + [f"{split[k]:.2f}" for k in ("generation_s", "scoring_s")]
                    + [training + f"{split['optimizer_s']:.2f})", f"{s['generated_tokens_per_step']:.0f}"]
                    + [f"{s['generated_tokens_per_s']:.1f}", f"{s['mean_generated_length']:.1f}"])  # fmt: skip
    header = ["Trainer", "Step s (median)", "min-max", "Generation s", "Scoring s", "Training s (fwd / bwd / opt)"]
    lines += table([*header, "Gen. tokens/step", "Tokens/s (step)", "Mean gen. length"], rows)
    unit = "RSS" if next(iter(trainers.values()))["memory"]["kind"] == "rss" else "CUDA allocated"
    lines += [
        "",
        f"Memory ({unit}, MiB): transient = peak during the step minus memory before it; state = policy + reference + "
        "optimizer tensors held between steps; own peak = state + transient (medians); absolute peak: the process.",
        "",
    ]
    rows = []
    for name, s in trainers.items():
        m = s["memory"]
        phases = " / ".join(mib(m["phase_transient_bytes_median"][phase]) for phase in PHASES)
        rows.append([name, mib(m["transient_peak_bytes_median"]), phases, mib(m["resident_state_bytes"]["total"])]
                    + [mib(m["estimated_own_peak_bytes_median"]), mib(m["absolute_peak_bytes_max"])])  # fmt: skip
    header = ["Trainer", "Transient (median)", "Transient gen / score / train", "State", "Own peak (est.)"]
    lines += table([*header, "Absolute peak"], rows) + [""]
    rows = []
    for name, s in trainers.items():
        c, tokens = s["forward_passes_per_update"], ", ".join(f"{k}: {v:.0f}" for k, v in s["tokens_per_pass"].items())
        counts = ("policy_generate_decode", "policy_no_grad", "reference_no_grad", "policy_grad")
        rows.append([name, *(c[k] for k in counts), c["scoring_and_training_passes"], tokens])
    header = ["Trainer", "Decode forwards (generate)", "Policy no-grad", "Reference no-grad", "Policy with grad"]
    lines += table([*header, "Passes per update", "Tokens per pass"], rows)
    if result["comparison"]:
        lines += ["", "Ratios LaTRO / RLOO: median over step pairs (same round and step = same prompts); targets from "
                  "issue 6: step time <= 1.10, peak memory <= 1.05.", ""]  # fmt: skip
        rows = []
        for name, c in result["comparison"].items():
            met = {key: "met" if t["met"] else "MISSED" for key, t in c["targets"].items()}
            rows.append([name, f"{c['step_time_ratio_paired_median']:.3f}", f"{c['step_time_ratio_of_medians']:.3f}"]
                        + [met["step_time"], f"{c['own_peak_memory_ratio_paired_median']:.3f}", met["peak_memory"]]
                        + [f"{c['transient_memory_ratio_paired_median']:.3f} ({met['transient_memory']})"]
                        + [f"{c['tokens_per_training_pass_ratio']:.3f}"])  # fmt: skip
        header = ["LaTRO mode", "Step time (paired)", "Ratio of medians", "Step target", "Own peak memory"]
        lines += table([*header, "Peak target", "Transient only", "Tokens per training pass"], rows)
    equal = result["equal_generated_lengths"]
    means = ", ".join(f"{k} {v:.1f}" for k, v in equal["mean_lengths"].items())
    lines += ["", f"Equal generated lengths: {equal['equal']} (all at the limit: {equal['all_at_limit']}; {means})."]
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


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; write JSON to ``--output`` and print Markdown with ``--markdown``. Returns the result."""
    args, settings = parse_run(StepCostArguments, argv, "step_cost.yaml")
    return run_and_report(args, settings, run, markdown)


if __name__ == "__main__":
    main()
