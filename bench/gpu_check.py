#!/usr/bin/env python
"""First numbers on a GPU (issue #29): LaTRO against RLOO in bf16, measured memory against `latro plan`, bf16 vs fp32.

One prepared script for one CUDA device. Jobs run in this order while ``--budget_s`` lasts (``--sections`` picks):

1. ``precision``: on a small random Llama (the real 128k vocabulary) and one sampled batch, the pure estimator
   (``sequences``, then ``objective``: rewards, RLOO advantages, the loss and its gradient; log-probs from TRL's
   fused LM head, as the trainers get them) in fp32, in bf16 autocast over fp32 weights (``bf16=True``) and with
   bf16 weights (a LoRA base), each against fp32 within ``TOLERANCES``.
2. ``timing`` round 0, then ``memory``, then the later ``timing`` rounds. Timing: ``LaTROTrainer`` and TRL's
   ``RLOOTrainer`` (constant reward 0), each through ``trainer.train()`` in its own run, alternating (the order
   flips every round and mode), on a random Llama-3.2-1B, LoRA and full fine-tuning, at forced equal completion
   lengths (``step_cost.forced_trainer``: ``min_new_tokens = L``; LaTRO's marker stop off), K=8, L=256, beta=0.05.
   Per step the wall time from ``on_step_begin`` to ``on_step_end`` (``common.StepClock``, CUDA synchronised);
   per run the peak of ``torch.cuda.max_memory_allocated`` (reset before the trainer is built). Reported:
   LaTRO/RLOO step-time ratios paired step by step within a round (median, range), generated tokens/s and peak
   memory of each.
   Memory: one LaTRO step at larger sizes (default Llama-3.2-3B LoRA, Llama-3.1-8B LoRA with gradient
   checkpointing), the model built on the device in bf16 inside the measured window. Every LaTRO run (the 1B timing
   runs of round 0 too) is set beside ``latro_trl.plan.plan_for_config`` for its own config on one GPU without
   DeepSpeed, as a ratio.

Models are random (no hub): the architectures are the published ``config.json`` fields, written below as dicts.
Weights: fp32 for full fine-tuning (TRL's default; bf16 autocast), bf16 for a LoRA base (``--bf16 false``: fp32
throughout). A job in flight when the budget runs out finishes; one that raises (say, out of memory) is recorded in
``errors``. ``--output`` (JSON) and the Markdown table beside it (``.md``) are rewritten after every job, so a
timeout keeps what was measured (``"complete": false``).

On a GPU machine without network (``bench/gpu_check.sh``; the default budget aims at 7-8 minutes on one H100)::

    bash bench/gpu_check.sh download   # here: wheels into .whl/ (git-ignored), total checked < 64 MiB
    bash bench/gpu_check.sh device     # there, with .whl/: install to /tmp/site, run, write to $OUT

Settings: ``LaTROConfig``'s fields (``--max_steps``: steps of a timing run; ``--use_cpu true`` for a CPU) and the
check's own (``GpuCheckArguments``), parsed by TRL's ``TrlParser``; defaults in ``bench/recipes/gpu_check.yaml``.
CPU smoke run (tests/integration/test_gpu_check.py)::

    python bench/gpu_check.py --use_cpu true --tiny --num_generations 2 --per_device_train_batch_size 2 \\
        --max_completion_length 8 --max_steps 2 --warmup 1 --rounds 1 --output /tmp/gpu_check.json
"""

from __future__ import annotations

import copy
import gc
import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

import torch
from common import (
    MemoryMonitor,
    StepClock,
    environment,
    median,
    paired_step_ratios,
    parse_run,
    prompts_per_step,
    table,
)
from step_cost import forced_trainer, resolve_bf16
from transformers.trainer_callback import PrinterCallback

_LLAMA = {"hidden_act": "silu", "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "vocab_size": 128256}
_ROPE = {
    "rope_type": "llama3",
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
}
ARCHS: dict[str, dict[str, Any]] = {
    "llama-3.2-1b": _LLAMA
    | {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32}
    | {"num_key_value_heads": 8, "head_dim": 64, "tie_word_embeddings": True, "max_position_embeddings": 131072}
    | {"rope_scaling": _ROPE | {"factor": 32.0}},
    "llama-3.2-3b": _LLAMA
    | {"hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 28, "num_attention_heads": 24}
    | {"num_key_value_heads": 8, "head_dim": 128, "tie_word_embeddings": True, "max_position_embeddings": 131072}
    | {"rope_scaling": _ROPE | {"factor": 32.0}},
    "llama-3.1-8b": _LLAMA
    | {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32}
    | {"num_key_value_heads": 8, "head_dim": 128, "tie_word_embeddings": False, "max_position_embeddings": 131072}
    | {"rope_scaling": _ROPE | {"factor": 8.0}},
    "llama-small": _LLAMA  # the precision check's model
    | {"hidden_size": 512, "intermediate_size": 1536, "num_hidden_layers": 4, "num_attention_heads": 8}
    | {"num_key_value_heads": 2, "tie_word_embeddings": True, "max_position_embeddings": 4096},
    "tiny": _LLAMA
    | {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
    | {"num_key_value_heads": 2, "vocab_size": 400, "tie_word_embeddings": True, "max_position_embeddings": 1024},
}
# bf16 against fp32: rewards and the loss relative to their fp32 size, advantages to their fp32 spread (the signal
# they carry), gradients by direction. llama-small on CPU (16 rows, 765 rationale tokens) gave 1.6e-4, 2.8e-3,
# 2.0e-3 and 0.99993 at worst (bf16 weights).
TOLERANCES = {"reward_rel": 5e-3, "advantage_to_std": 0.05, "loss_rel": 1e-2, "grad_cosine_min": 0.99}
MEMORY_RUNS = ("llama-3.2-3b:lora", "llama-3.1-8b:lora+gc")
GIB = 2**30


@dataclass
class GpuCheckArguments:
    """What the GPU check adds to the run's ``LaTROConfig`` (``settings``: K, rows per step, L, beta, learning rate,
    seed, ``max_steps`` of a timing run, ``bf16``, ``use_cpu``): which jobs, which models, the budget, the output."""

    tiny: bool = field(default=False, metadata={"help": "Every model is the tiny config (a CPU smoke run)."})
    sections: list[str] = field(
        default_factory=lambda: ["precision", "timing", "memory"],
        metadata={"help": "Which jobs.", "choices": ["precision", "timing", "memory"]},
    )
    timing_arch: str = field(default="llama-3.2-1b", metadata={"help": "Timing model.", "choices": sorted(ARCHS)})
    modes: list[str] = field(default_factory=lambda: ["lora", "full"], metadata={"choices": ["lora", "full"]})
    memory_runs: list[str] = field(
        default_factory=lambda: list(MEMORY_RUNS), metadata={"help": "ARCH:lora|full[+gc] each (gc: checkpointing)."}
    )
    precision_arch: str = field(default="llama-small", metadata={"choices": sorted(ARCHS)})
    precision_length: int = field(default=64, metadata={"help": "Rationale limit of the precision batch."})
    warmup: int = field(default=1, metadata={"help": "Steps left out at the start of every timing run."})
    rounds: int = field(default=2, metadata={"help": "Timing rounds (the trainers' order flips every round)."})
    memory_steps: int = field(default=1, metadata={"help": "Steps per memory run."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    budget_s: float = field(default=360, metadata={"help": "Start no job after this many seconds."})
    threads: int | None = field(default=None, metadata={"help": "torch.set_num_threads."})
    output: str = field(default="bench/results/gpu_check.json", metadata={"help": "JSON; the Markdown goes beside."})
    settings: dict[str, Any] = field(default_factory=dict, init=False)  # the LaTROConfig fields, set by main

    @property
    def device(self) -> str:
        return "cpu" if self.settings.get("use_cpu") or not torch.cuda.is_available() else "cuda"


class Job(NamedTuple):
    """One run: section ``precision``, ``timing`` (a trainer, a mode, a round) or ``memory`` (one LaTRO step)."""

    section: str
    name: str
    arch: str = ""
    trainer: str = "latro"
    lora: bool = False
    gradient_checkpointing: bool = False
    round: int = 0


# ---------------------------------------------------------------------------------------------------- models, data


def build_model(arch: str, tokenizer: Any, device: torch.device, dtype: torch.dtype, seed: int = 0) -> Any:
    """A random Llama of ``arch`` (special tokens from ``tokenizer``), created directly on ``device`` in ``dtype``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    config = LlamaConfig(**ARCHS[arch], **ids, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForCausalLM._from_config(config, dtype=dtype)
    model.generation_config.update(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return model


def save_model(arch: str, tokenizer: Any, device: torch.device, folder: Path) -> str:
    """Save a random ``arch`` in bf16 with ``tokenizer``: RLOOTrainer re-loads its reference from the policy's path."""
    build_model(arch, tokenizer, device, torch.bfloat16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    release()
    return str(folder)


def training_data(args: GpuCheckArguments, steps: int) -> Any:
    from latro_trl.data import load_synthetic

    rows = load_synthetic("train", n=prompts_per_step(args.settings) * steps, seed=args.settings["seed"])
    return rows.select_columns(["prompt", "answer"])


def release() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ---------------------------------------------------------------------------------------------------- precision


def sample_batch(policy: Any, tokenizer: Any, args: GpuCheckArguments) -> tuple[Any, torch.Tensor]:
    """One LaTRO batch from the fp32 policy: rationales sampled and stopped at a random length in [L/4, L] (a random
    model seldom stops by itself; rows that stop before L count as finished, the others get the unfinished penalty,
    so a group's rewards differ), cut at stop markers, gold answers appended."""
    from latro_trl.markers import STOP_MARKERS, answer_text, end_of_turn_ids, turn_end_text
    from latro_trl.sequences import assemble_scoring_batch, cut_rationale

    device, k, length = next(policy.parameters()).device, args.settings["num_generations"], args.precision_length
    rows = training_data(args, 1)
    texts = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in rows["prompt"]]
    encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
    torch.manual_seed(args.settings["seed"])
    output = policy.generate(**encoded, do_sample=True, top_k=0, max_new_tokens=length, num_return_sequences=k)
    stops = torch.randint(length // 4, length + 1, (len(output),)).tolist()
    ends = end_of_turn_ids(tokenizer, policy)
    cuts = [
        cut_rationale(
            row[:stop], decode=tokenizer.decode, stop_markers=STOP_MARKERS, end_token_ids=ends, max_length=length
        )
        for row, stop in zip(output[:, encoded["input_ids"].shape[1] :].tolist(), stops, strict=True)
    ]
    prompts = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts for _ in range(k)]
    golds = [answer for answer in rows["answer"] for _ in range(k)]
    close = turn_end_text(tokenizer, conversational=True)
    answers = [answer_text(y, after=tokenizer.decode(cut.ids)) + close for y, cut in zip(golds, cuts, strict=True)]
    answer_ids = tokenizer(answers, add_special_tokens=False)["input_ids"]
    batch = assemble_scoring_batch(prompts, [c.ids for c in cuts], answer_ids, tokenizer.pad_token_id, device)
    return batch, torch.tensor([c.finished for c in cuts], device=device)


def scored_logps(model: Any, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log pi(z|x), log pi(y|x+z))`` per row from one forward over ``x + z + y`` through TRL's fused LM head,
    called as ``RLOOTrainer._get_per_token_logps_and_entropies`` calls it."""
    from latro_trl.objective import sequence_logps

    ids = torch.cat([batch.prompt_ids, batch.completion_ids], dim=1)
    mask = torch.cat([batch.prompt_mask, batch.completion_mask], dim=1)
    width = batch.completion_ids.shape[1]
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, :-width] = -100
    per_token = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True).log_probs[:, -width:]
    return sequence_logps(per_token, batch.rationale_mask), sequence_logps(per_token, batch.answer_mask)


def objective_values(models: tuple[Any, Any], batch: Any, finished: torch.Tensor, args: GpuCheckArguments,
                     autocast: bool) -> dict[str, torch.Tensor]:  # fmt: skip
    """Rewards, advantages, loss and the flattened gradient of one LaTRO update of ``models = (policy, reference)``."""
    from latro_trl import objective

    policy, reference = models
    with torch.autocast(batch.prompt_ids.device.type, dtype=torch.bfloat16, enabled=autocast):
        with torch.no_grad():
            ref_rationale, _ = scored_logps(reference, batch)
        rationale, answer = scored_logps(policy, batch)
    answer_reward = objective.penalize_unfinished(objective.answer_rewards(answer, "log_likelihood"), finished, 2.0)
    rewards = objective.latro_rewards(answer_reward, rationale, ref_rationale, args.settings["beta"])
    advantages = objective.rloo_advantages(rewards, args.settings["num_generations"])
    loss = objective.latro_loss(rationale, answer, advantages, answer_coef=1.0).loss
    policy.zero_grad()
    loss.backward()
    grad = torch.cat([p.grad.flatten() for p in policy.parameters() if p.grad is not None])
    return {"rewards": rewards, "advantages": advantages, "loss": loss.detach(), "grad": grad}


def compare_precision(fp32: dict[str, torch.Tensor], other: dict[str, torch.Tensor]) -> dict[str, Any]:
    """How far ``other`` is from ``fp32``, in the units of ``TOLERANCES`` (float64), and whether it is within them."""
    a, b = ({key: value.double() for key, value in values.items()} for values in (fp32, other))
    found = {
        "reward_rel": ((b["rewards"] - a["rewards"]).abs().max() / a["rewards"].abs().mean()).item(),
        "advantage_to_std": ((b["advantages"] - a["advantages"]).abs().max() / a["advantages"].std()).item(),
        "loss_rel": ((b["loss"] - a["loss"]).abs() / a["loss"].abs()).item(),
        "grad_cosine": torch.nn.functional.cosine_similarity(b["grad"], a["grad"], dim=0).item(),
    }
    passed = found["grad_cosine"] >= TOLERANCES["grad_cosine_min"]
    passed = passed and all(found[key] <= TOLERANCES[key] for key in ("reward_rel", "advantage_to_std", "loss_rel"))
    return found | {"pass": bool(passed)}


def run_precision(args: GpuCheckArguments, tokenizer: Any, device: torch.device) -> dict[str, Any]:
    """The estimator in fp32, bf16 autocast and bf16 weights, on the same model and batch."""
    from trl.trainer.utils import add_fused_lm_head

    arch = "tiny" if args.tiny else args.precision_arch
    policy = build_model(arch, tokenizer, device, torch.float32, seed=args.settings["seed"])
    reference = copy.deepcopy(policy).requires_grad_(False)
    with torch.no_grad():  # a reference a little away from the policy, so that the KL term is not exactly 0
        for param in reference.parameters():
            param.add_(torch.randn_like(param) * 0.05 * param.std())
    batch, finished = sample_batch(policy, tokenizer, args)
    half = tuple(copy.deepcopy(model).to(torch.bfloat16) for model in (policy, reference))
    for model in (policy, reference, *half):  # copies first: the patched forward is bound to its model
        add_fused_lm_head(model)
    fp32 = objective_values((policy, reference), batch, finished, args, autocast=False)
    variants = {
        "bf16_autocast": compare_precision(fp32, objective_values((policy, reference), batch, finished, args, True)),
        "bf16_weights": compare_precision(fp32, objective_values(half, batch, finished, args, autocast=False)),
    }
    facts = {"arch": arch, "rows": len(finished), "rationale_tokens": int(batch.rationale_mask.sum())}
    return facts | {
        "fp32": {"loss": fp32["loss"].item(), "reward_mean": fp32["rewards"].mean().item()}
        | {"advantage_std": fp32["advantages"].std().item(), "grad_norm": fp32["grad"].norm().item()},
        "tolerances": TOLERANCES,
        "variants": variants,
        "pass": all(v["pass"] for v in variants.values()),
    }


# ---------------------------------------------------------------------------------------------------- training runs


def build_trainer(job: Job, model: Any, peft: Any, tokenizer: Any, args: GpuCheckArguments, steps: int,
                  folder: Path) -> Any:  # fmt: skip
    """LaTROTrainer or RLOOTrainer at forced equal lengths (``step_cost.forced_trainer``), LoRA or full."""
    run = {"max_steps": steps, "gradient_checkpointing": job.gradient_checkpointing, "shuffle_dataset": False}
    run |= {"output_dir": str(folder / job.name), "disable_tqdm": True, "logging_strategy": "no"}
    if isinstance(model, str):  # saved in bf16; loaded as the job's weights
        run["model_init_kwargs"] = {"dtype": weight_dtype(job, args)}
    data = training_data(args, steps)
    return forced_trainer(job.trainer, model, args.settings, data, tokenizer, peft_config=peft, **run)


def weight_dtype(job: Job, args: GpuCheckArguments) -> torch.dtype:
    return torch.bfloat16 if job.lora and args.settings["bf16"] else torch.float32


def train_run(job: Job, model: Any, tokenizer: Any, args: GpuCheckArguments, steps: int, folder: Path) -> dict:
    """Build one trainer (and, for a model factory, the model) and ``train()`` it, all inside the memory window."""
    from peft import LoraConfig

    cuda = args.device.startswith("cuda")
    monitor = MemoryMonitor(torch.device(args.device))
    monitor.start_step()  # collects garbage, then resets the CUDA peak (or samples RSS on CPU)
    peft = LoraConfig(r=args.lora_r, lora_alpha=2 * args.lora_r, target_modules="all-linear") if job.lora else None
    trainer = build_trainer(job, model if isinstance(model, str) else model(), peft, tokenizer, args, steps, folder)
    clock = StepClock(trainer, monitor)  # the monitor spans the whole run: building the trainer too
    trainer.add_callback(clock)
    trainer.remove_callback(PrinterCallback)  # the end-of-training metrics line; the script prints its own
    trainer.train()
    reserved = torch.cuda.max_memory_reserved() if cuda else None
    memory = monitor.end_step()
    peak = memory["peak_bytes"] - memory["baseline_bytes"]
    warmup = args.warmup if job.section == "timing" else 0
    step_s = [record["wall_s"] for record in clock.records]
    lengths = [n for record in clock.records for n in record["probe"].completion_lengths]
    result = {
        "job": job._asdict(),
        "step_time_s": step_s[warmup:],
        "warmup_step_time_s": step_s[:warmup],
        "generated_lengths": {"min": min(lengths, default=0), "max": max(lengths, default=0)},
        "generated_tokens_per_step": sum(lengths) / max(len(step_s), 1),
        "weights": str(next(trainer.model.parameters()).dtype),
        "memory": {"kind": memory["kind"], "peak_bytes": peak, "peak_reserved_bytes": reserved},
    }
    if job.trainer == "latro":
        result["plan"] = plan_comparison(job, trainer.args, peft, tokenizer, args, peak)
    trainer.accelerator.free_memory()
    del trainer
    release()
    return result


def plan_comparison(job: Job, config: Any, peft: Any, tokenizer: Any, args: GpuCheckArguments, peak: int) -> dict:
    """``plan_for_config`` for the run's own config on one GPU without DeepSpeed, beside the measured peak."""
    from latro_trl.markers import answer_text, turn_end_text
    from latro_trl.plan import plan_for_config

    rows = training_data(args, 1)
    prompts = [tokenizer.apply_chat_template(p, add_generation_prompt=True)["input_ids"] for p in rows["prompt"]]
    answers = tokenizer([answer_text(y, after=".") + turn_end_text(tokenizer, True) for y in rows["answer"]])
    plan = plan_for_config(
        ARCHS[job.arch] | {"_name_or_path": job.arch}, config, num_gpus=1, zero_stage=0, peft_config=peft,
        prompt_length=max(map(len, prompts)), answer_length=max(map(len, answers["input_ids"])), use_deepspeed=False,
    )  # fmt: skip
    bare = plan.total_gib - plan.overhead_gib
    return {"setup": plan.setup, "total_gib": plan.total_gib, "without_overhead_gib": bare} | {
        "peak_phase": plan.peak_phase,
        "parts_gib": plan.to_dict(),
        "measured_gib": peak / GIB,
        "measured_over_plan": peak / GIB / plan.total_gib,
        "measured_over_plan_without_overhead": peak / GIB / bare,
    }


# ---------------------------------------------------------------------------------------------------- jobs


def plan_jobs(args: GpuCheckArguments) -> list[Job]:
    """Everything to run, most important first: precision, timing round 0, memory, the later timing rounds."""
    arch = "tiny" if args.tiny else args.timing_arch

    def timing_round(index: int) -> list[Job]:
        if "timing" not in args.sections:
            return []
        jobs = []
        for position, mode in enumerate(args.modes):
            order = ("latro", "rloo") if (index + position) % 2 == 0 else ("rloo", "latro")
            jobs += [
                Job("timing", f"{mode}_{name}_r{index}", arch, name, mode == "lora", round=index) for name in order
            ]
        return jobs

    memory = []
    for spec in args.memory_runs if "memory" in args.sections else []:
        name, _, options = spec.partition(":")
        lora, checkpointing = "lora" in options.split("+"), "gc" in options.split("+")
        memory.append(Job("memory", spec, "tiny" if args.tiny else name, "latro", lora, checkpointing))
    jobs = [Job("precision", "precision")] if "precision" in args.sections else []
    return jobs + timing_round(0) + memory + [job for index in range(1, args.rounds) for job in timing_round(index)]


def run_job(job: Job, args: GpuCheckArguments, tokenizer: Any, folder: Path, saved: dict[str, str]) -> dict:
    device = torch.device(args.device)
    if job.section == "precision":
        return run_precision(args, tokenizer, device)
    if job.section == "timing":  # both trainers load the same saved weights by path
        if job.arch not in saved:
            saved[job.arch] = save_model(job.arch, tokenizer, device, folder / job.arch)
        return train_run(job, saved[job.arch], tokenizer, args, args.settings["max_steps"], folder)

    def model() -> Any:
        return build_model(job.arch, tokenizer, device, weight_dtype(job, args), seed=args.settings["seed"])

    return train_run(job, model, tokenizer, args, args.memory_steps, folder)


# ---------------------------------------------------------------------------------------------------- summary


def summarize_timing(runs: list[dict], modes: list[str]) -> dict[str, Any]:
    """Per mode: each trainer's step time, tokens/s and peak memory; LaTRO/RLOO paired step by step within a round."""
    summary: dict[str, Any] = {}
    for mode in modes:
        mine = sorted((r for r in runs if r["job"]["name"].startswith(f"{mode}_")), key=lambda r: r["job"]["round"])
        by_trainer = {name: [r for r in mine if r["job"]["trainer"] == name] for name in ("latro", "rloo")}
        trainers = {name: trainer_summary(results) for name, results in by_trainer.items() if results}
        summary[mode] = {"trainers": trainers}
        rounds = set.intersection(*({r["job"]["round"] for r in results} for results in by_trainer.values()))
        if rounds:
            latro, rloo = ([r for r in by_trainer[name] if r["job"]["round"] in rounds] for name in ("latro", "rloo"))
            summary[mode]["latro_over_rloo"] = {
                "paired_step_time": paired_step_ratios(latro, rloo),
                "peak_memory": trainers["latro"]["peak_memory_gib"] / trainers["rloo"]["peak_memory_gib"],
                "equal_generated_lengths": trainers["latro"]["generated_lengths"]
                == trainers["rloo"]["generated_lengths"],
            }
    return summary


def trainer_summary(results: list[dict]) -> dict[str, Any]:
    steps = [s for r in results for s in r["step_time_s"]]
    lengths = [r["generated_lengths"] for r in results]
    return {
        "measured_steps": len(steps),
        "median_step_time_s": median(steps),
        "step_time_range_s": [min(steps), max(steps)],
        "generated_tokens_per_s": median([r["generated_tokens_per_step"] for r in results]) / median(steps),
        "generated_lengths": {"min": min(x["min"] for x in lengths), "max": max(x["max"] for x in lengths)},
        "peak_memory_gib": max(r["memory"]["peak_bytes"] for r in results) / GIB,
        "weights": results[0]["weights"],
    }


def memory_rows(runs: list[dict]) -> list[dict[str, Any]]:
    """Every LaTRO run beside its plan: round 0 of each timing mode and every memory run."""
    wanted = [r for r in runs if "plan" in r and (r["job"]["section"] == "memory" or r["job"]["round"] == 0)]
    return [{"run": r["job"]["name"], "arch": r["job"]["arch"], "weights": r["weights"]} | r["plan"] for r in wanted]


def markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    lines = [f"# gpu_check on {env['gpu'] or env['device']} (torch {env['versions']['torch']})", ""]
    lines += [f"`{env['command']}`: {result['elapsed_s']:.0f} s, complete: {result['complete']}", ""]
    if "precision" in result:
        p = result["precision"]
        lines += [f"## bf16 against fp32 ({p['arch']}, {p['rows']} rows; tolerances {p['tolerances']})", ""]
        columns = ["reward_rel", "advantage_to_std", "loss_rel"]
        rows = [[n, *(v[c] for c in columns), f"{v['grad_cosine']:.6f}", v["pass"]] for n, v in p["variants"].items()]
        lines += table(["variant", *columns, "grad_cosine", "pass"], rows)
    lines += ["", "## Step time, LaTRO against RLOO (forced equal lengths)", ""]
    rows = []
    for mode, entry in result["timing"].items():
        ratio = entry.get("latro_over_rloo", {})
        paired = ratio.get("paired_step_time", {})
        for name, t in entry["trainers"].items():
            text = (
                f"{paired['median']:.3f} ({paired['min']:.3f}-{paired['max']:.3f})"
                if paired and name == "latro"
                else ""
            )
            memory = ratio["peak_memory"] if text else ""
            steps = (t["measured_steps"], t["median_step_time_s"], t["generated_tokens_per_s"], t["peak_memory_gib"])
            rows.append([mode, name, *steps, text, memory])
    header = ["mode", "trainer", "steps", "median step s", "tokens/s", "peak GiB", "LaTRO/RLOO paired", "memory"]
    lines += table(header, rows) + ["", "## Peak memory of LaTRO against `latro plan` (1 GPU, no DeepSpeed)", ""]
    columns = ["measured_gib", "total_gib", "without_overhead_gib", "measured_over_plan"]
    rows = [[r["run"], r["weights"], r["setup"], *(r[c] for c in columns)] for r in result["memory"]]
    lines += table(["run", "weights", "setup", "measured GiB", "plan GiB", "plan less overhead", "measured/plan"], rows)
    lines += [f"\nSkipped (budget): {result['skipped']}"] if result["skipped"] else []
    lines += [f"\nFailed: {result['errors']}"] if result["errors"] else []
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any], args: GpuCheckArguments) -> None:
    """JSON and Markdown, rewritten after every job."""
    timing = [r for r in result["runs"] if r["job"]["section"] == "timing"]
    result |= {"timing": summarize_timing(timing, args.modes), "memory": memory_rows(result["runs"])}
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=1) + "\n")
    output.with_suffix(".md").write_text(markdown(result))


# ---------------------------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args, args.settings = parse_run(GpuCheckArguments, argv, "gpu_check.yaml")
    args.settings["bf16"] = resolve_bf16(args.settings, torch.device(args.device))
    if args.threads:
        torch.set_num_threads(args.threads)
    from latro_trl.testing import make_tiny_tokenizer

    start, tokenizer, saved = time.perf_counter(), make_tiny_tokenizer(), {}
    settings = {**{f.name: getattr(args, f.name) for f in fields(args) if f.init}, **args.settings}
    result: dict[str, Any] = {"environment": environment(torch.device(args.device)), "settings": settings}
    result |= {"complete": False, "elapsed_s": 0.0, "runs": [], "skipped": [], "errors": []}
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as folder:
        for job in plan_jobs(args):
            if time.perf_counter() - start > args.budget_s:
                result["skipped"].append(job.name)
                continue
            print(f"[{time.perf_counter() - start:5.0f} s] {job.name} ...", flush=True)
            try:
                output = run_job(job, args, tokenizer, Path(folder), saved)
            except Exception as error:  # an out-of-memory at 8B must not cost the jobs after it
                result["errors"].append({"job": job.name, "error": repr(error)[:2000]})
                print(f"{job.name} failed: {error!r}", flush=True)
                release()
                continue
            if job.section == "precision":
                result["precision"] = output
            else:
                result["runs"].append(output)
            result["elapsed_s"] = time.perf_counter() - start
            print(f"[{result['elapsed_s']:5.0f} s] {job.name}: {brief(output)}", flush=True)
            write(result, args)
    result["complete"] = not result["skipped"] and not result["errors"]
    write(result, args)
    print(markdown(result))
    return result


def brief(output: dict[str, Any]) -> str:
    if "variants" in output:
        return ", ".join(f"{name}: {found}" for name, found in output["variants"].items())
    text = (
        f"steps {[round(s, 3) for s in output['step_time_s']]} s, peak {output['memory']['peak_bytes'] / GIB:.2f} GiB"
    )
    return text + (f", plan {output['plan']['total_gib']:.2f} GiB" if "plan" in output else "")


if __name__ == "__main__":
    main()
