"""Which sharding setup fits which model on which GPUs: the fits table of docs/memory.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .architectures import PRESETS, ModelArch, resolve_arch
from .memory import USABLE_FRACTION, MemoryPlan, plan_for_config

if TYPE_CHECKING:
    from ..config import LaTROConfig

DEFAULT_GPU_MEMORY_GB = (80, 40, 24)


@dataclass(frozen=True)
class ShardingSetup:
    """One row kind of the fits table: a sharding setup and the shipped DeepSpeed JSON that implements it."""

    label: str
    zero_stage: int
    offload_optimizer: bool = False
    offload_params: bool = False
    lora: bool = False
    deepspeed_config: str = ""


SETUPS: tuple[ShardingSetup, ...] = (
    ShardingSetup("ZeRO-2", 2, deepspeed_config="zero2.json"),
    ShardingSetup("ZeRO-3", 3, deepspeed_config="zero3.json"),
    ShardingSetup(
        "ZeRO-3 + offload optimizer", 3, offload_optimizer=True, deepspeed_config="zero3_offload_optimizer.json"
    ),
    ShardingSetup("ZeRO-3 + offload all", 3, True, True, deepspeed_config="zero3_offload_all.json"),
    ShardingSetup("LoRA + ZeRO-2", 2, lora=True, deepspeed_config="zero2.json"),
    ShardingSetup("LoRA + ZeRO-3", 3, lora=True, deepspeed_config="zero3.json"),
)


@dataclass(frozen=True)
class FitRow:
    """A model under one setup: its plan and, per GPU size in GB, whether it fits."""

    model: str
    setup: ShardingSetup
    plan: MemoryPlan
    fits: dict[int, bool]


def fits_table(
    config: LaTROConfig,
    models: Sequence[ModelArch | str] | None = None,
    gpu_memory_gb: Sequence[int] = DEFAULT_GPU_MEMORY_GB,
    num_gpus: int = 8,
    setups: Sequence[ShardingSetup] = SETUPS,
    usable_fraction: float = USABLE_FRACTION,
    lora_r: int = 16,
    **plan_args: Any,
) -> list[FitRow]:
    """Plan ``config``'s run for every model under every setup and say which GPU sizes each fits.

    Args:
        config (`LaTROConfig`): the run (its workload; the setups replace its ``deepspeed`` sharding).
        models (`Sequence`, *optional*): Models as accepted by [`plan_for_config`]; defaults to all presets.
        gpu_memory_gb (`Sequence[int]`, *optional*, defaults to `(80, 40, 24)`): GPU sizes to test.
        num_gpus (`int`, *optional*, defaults to `8`): GPUs in the job.
        setups (`Sequence[ShardingSetup]`, *optional*, defaults to `SETUPS`): Sharding setups to compare.
        usable_fraction (`float`, *optional*, defaults to `0.95`): Share of each GPU a plan may use.
        lora_r (`int`, *optional*, defaults to `16`): Adapter rank of the LoRA setups (`ModelConfig.lora_r`).
        **plan_args: Other keyword arguments of [`plan_for_config`] (`prompt_length`, `answer_length`,
            `overhead_gib`, `use_deepspeed`, `gpus_per_node`); an unknown name raises `TypeError` there.

    Returns:
        `list[FitRow]`, models in the outer loop and setups in the inner one.
    """
    from peft import LoraConfig

    rows = []
    for model in models if models is not None else list(PRESETS):
        arch = resolve_arch(model)
        for setup in setups:
            plan = plan_for_config(
                arch,
                config,
                num_gpus=num_gpus,
                zero_stage=setup.zero_stage,
                offload_optimizer=setup.offload_optimizer,
                offload_params=setup.offload_params,
                peft_config=LoraConfig(r=lora_r) if setup.lora else None,
                **plan_args,
            )
            fits = {size: plan.fits(size, usable_fraction) for size in gpu_memory_gb}
            rows.append(FitRow(arch.name, setup, plan, fits))
    return rows


def _best_fit(rows: Sequence[FitRow], model: str, size: int, lora: bool) -> str:
    """First fitting setup in the rows' order (`SETUPS` puts the least offload first), or `"none"`."""
    for row in rows:
        if row.model == model and row.setup.lora == lora and row.fits[size]:
            return row.setup.label
    return "none"


def render_table(rows: Sequence[FitRow]) -> str:
    """Markdown tables of [`fits_table`]'s rows: every model x setup with its parts and verdicts, then the pick per
    size.

    Args:
        rows (`Sequence[FitRow]`): Output of [`fits_table`].

    Returns:
        `str`: Markdown.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("render_table needs at least one row; pass models and setups to fits_table.")
    sizes = list(rows[0].fits)
    num_gpus = rows[0].plan.num_gpus
    size_heads = [f"{num_gpus}x{size}GB" for size in sizes]
    lines = [
        "| Model | Setup | DeepSpeed JSON | States | Reference | Generation | Scoring | Training | Total GiB/GPU | "
        + " | ".join(size_heads)
        + " |",
        "|" + "---|" * (9 + len(sizes)),
    ]
    for row in rows:
        plan = row.plan
        verdicts = ["yes" if row.fits[size] else "no" for size in sizes]
        cells = [
            row.model,
            row.setup.label,
            f"`{row.setup.deepspeed_config}`",
            f"{plan.model_states_gib:.1f}",
            f"{plan.reference_gib:.1f}",
            f"{plan.generation_gib:.1f}",
            f"{plan.scoring_gib:.1f}",
            f"{plan.training_gib:.1f}",
            f"**{plan.total_gib:.1f}**",
            *verdicts,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| Model | GPUs | Full fine-tuning: first fit | LoRA: first fit |", "|---|---|---|---|"]
    for model in dict.fromkeys(row.model for row in rows):
        for size, head in zip(sizes, size_heads, strict=True):
            lines.append(
                f"| {model} | {head} | {_best_fit(rows, model, size, False)} | {_best_fit(rows, model, size, True)} |"
            )
    return "\n".join(lines)
