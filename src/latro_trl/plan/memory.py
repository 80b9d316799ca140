"""Per-GPU memory of one LaTRO configuration, part by part (``plan_memory``, ``plan_for_config``)."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .architectures import ModelArch, _check_positive_int, resolve_arch

if TYPE_CHECKING:
    from ..config import LaTROConfig

GIB = 2**30
BF16_BYTES = 2
# Share of a GPU's nominal memory that a plan may use; the rest absorbs what the model leaves out.
USABLE_FRACTION = 0.95
# Tile of TRL's fused LM head (`trl.kernels.chunked_logprob`): tokens x vocabulary columns, in fp32.
_FUSED_TOKEN_TILE = 4096
_FUSED_VOCAB_TILE = 32768


@dataclass(frozen=True)
class MemoryPlan:
    """Estimated peak memory per GPU, in GiB, part by part.

    `total_gib` = `model_states_gib + reference_gib + overhead_gib` + the largest of the three phases
    (`generation_gib`, `scoring_gib`, `training_gib`), which never hold their memory at the same time.
    """

    model: str
    num_gpus: int
    zero_stage: int
    offload_optimizer: bool
    offload_params: bool
    lora: bool
    total_params: int
    trainable_params: int
    model_states_gib: float
    reference_gib: float
    gathered_params_gib: float
    kv_cache_gib: float
    scoring_activations_gib: float
    scoring_logits_gib: float
    training_activations_gib: float
    training_logits_gib: float
    overhead_gib: float
    cpu_gib_per_node: float
    estimator: str

    @property
    def generation_gib(self) -> float:
        return self.gathered_params_gib + self.kv_cache_gib

    @property
    def scoring_gib(self) -> float:
        return self.scoring_activations_gib + self.scoring_logits_gib

    @property
    def training_gib(self) -> float:
        return self.training_activations_gib + self.training_logits_gib

    @property
    def peak_phase(self) -> str:
        phases = {"generation": self.generation_gib, "scoring": self.scoring_gib, "training": self.training_gib}
        return max(phases, key=phases.__getitem__)

    @property
    def total_gib(self) -> float:
        phase = max(self.generation_gib, self.scoring_gib, self.training_gib)
        return self.model_states_gib + self.reference_gib + self.overhead_gib + phase

    @property
    def setup(self) -> str:
        """Short label of the sharding setup, e.g. `"LoRA + ZeRO-3 + offload optimizer"`."""
        parts = ["LoRA"] if self.lora else []
        parts.append(f"ZeRO-{self.zero_stage}" if self.zero_stage else "DDP")
        if self.offload_params:
            parts.append("offload all")
        elif self.offload_optimizer:
            parts.append("offload optimizer")
        return " + ".join(parts)

    def fits(self, gpu_memory_gb: float, usable_fraction: float = USABLE_FRACTION) -> bool:
        """Whether `total_gib` fits in `usable_fraction` of a GPU sold as `gpu_memory_gb` GB (read as GiB)."""
        if gpu_memory_gb <= 0 or not 0 < usable_fraction <= 1:
            raise ValueError("gpu_memory_gb must be > 0 and usable_fraction in (0, 1].")
        return self.total_gib <= gpu_memory_gb * usable_fraction

    def to_dict(self) -> dict[str, Any]:
        """All fields plus the derived phases, total and peak phase (for `--json`)."""
        derived = ("generation_gib", "scoring_gib", "training_gib", "total_gib", "peak_phase", "setup")
        return dataclasses.asdict(self) | {key: getattr(self, key) for key in derived}

    def summary(self) -> str:
        """A human-readable breakdown, one part per line."""
        rows = [
            ("model states (params, grads, optimizer)", self.model_states_gib),
            ("reference model (bf16)", self.reference_gib),
            ("generation: params gathered for generate()", self.gathered_params_gib),
            ("generation: KV cache", self.kv_cache_gib),
            ("scoring pass: activations", self.scoring_activations_gib),
            ("scoring pass: logits", self.scoring_logits_gib),
            ("training pass: activations", self.training_activations_gib),
            ("training pass: logits", self.training_logits_gib),
            ("runtime overhead", self.overhead_gib),
        ]
        head = (
            f"Memory plan per GPU: {self.model} ({self.total_params / 1e9:.2f} B parameters, "
            f"{self.trainable_params / 1e9:.3f} B trainable), {self.num_gpus} GPUs, {self.setup}"
        )
        lines = [head] + [f"  {label:<52} {gib:8.2f} GiB" for label, gib in rows]
        total_label = f"total (states + reference + overhead + {self.peak_phase})"
        lines.append(f"  {total_label:<52} {self.total_gib:8.2f} GiB")
        if self.offload_optimizer or self.offload_params:
            lines.append(f"  CPU memory per node for offloaded states: {self.cpu_gib_per_node:.1f} GiB")
        lines.append(f"  model states from: {self.estimator}")
        return "\n".join(lines)


def _drop_record(record: logging.LogRecord) -> bool:
    return False


@functools.lru_cache(maxsize=1)
def _deepspeed_estimators() -> tuple[Any, Any, str] | None:
    """DeepSpeed's ZeRO-2 and ZeRO-3 model-state estimators and its version, or `None` if it cannot be imported."""
    # Importing DeepSpeed on a machine without GPU logs "Setting accelerator to CPU" to stdout, which would corrupt
    # `latro plan --json`: drop its log records while importing (the filter is removed afterwards).
    ds_logger = logging.getLogger("DeepSpeed")
    ds_logger.addFilter(_drop_record)
    try:
        import deepspeed
        from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
        from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs
    except Exception:  # a broken DeepSpeed install (not only a missing one) falls back to the formula
        return None
    finally:
        ds_logger.removeFilter(_drop_record)
    return estimate_zero2_model_states_mem_needs, estimate_zero3_model_states_mem_needs, deepspeed.__version__


def _zero3_formula(
    total_params: int,
    largest_layer_params: int,
    num_gpus: int,
    num_nodes: int,
    offload_optimizer: bool,
    offload_params: bool,
) -> tuple[int, int]:
    """(cpu bytes per node, gpu bytes) of ZeRO-3 model states: DeepSpeed's formula, zero.Init on, buffer factor 1.5."""
    largest_layer_memory = 4 * largest_layer_params
    if offload_params:
        return int(total_params * 18 / num_nodes * 1.5), largest_layer_memory
    if offload_optimizer:
        return int(total_params * 16 / num_nodes * 1.5), largest_layer_memory + int(2 * total_params / num_gpus)
    gpus_per_node = num_gpus // num_nodes
    return int(largest_layer_params * 4 * gpus_per_node * 1.5), largest_layer_memory + int(18 * total_params / num_gpus)


def _zero2_formula(total_params: int, num_gpus: int, gpus_per_node: int, offload_optimizer: bool) -> tuple[int, int]:
    """(cpu bytes per node, gpu bytes) of ZeRO-2 model states: DeepSpeed's formula, buffer factor 1.5."""
    if offload_optimizer:
        return int(total_params * max(4 * num_gpus, 16) * 1.5), 2 * total_params
    return int(total_params * 4 * gpus_per_node * 1.5), 2 * total_params + int(18 * total_params / num_gpus)


def _trainable_states(
    trainable: int,
    largest_layer: int,
    zero_stage: int,
    num_gpus: int,
    gpus_per_node: int,
    offload_optimizer: bool,
    offload_params: bool,
    use_deepspeed: bool,
) -> tuple[int, int, str]:
    """(cpu bytes per node, gpu bytes, estimator name) for the states of `trainable` trained parameters."""
    num_nodes = num_gpus // gpus_per_node
    if zero_stage == 0:
        return 0, 16 * trainable, "DDP formula (16 bytes per trained parameter)"
    estimators = _deepspeed_estimators() if use_deepspeed else None
    if estimators is None:
        name = "latro_trl formula (DeepSpeed's, restated; DeepSpeed " + (
            "not used)" if not use_deepspeed else "not installed)"
        )
        if zero_stage == 3:
            return (
                *_zero3_formula(trainable, largest_layer, num_gpus, num_nodes, offload_optimizer, offload_params),
                name,
            )
        return (*_zero2_formula(trainable, num_gpus, gpus_per_node, offload_optimizer), name)
    zero2, zero3, version = estimators
    common = {"num_gpus_per_node": gpus_per_node, "num_nodes": num_nodes, "cpu_offload": offload_optimizer}
    if zero_stage == 3:
        cpu, gpu, _ = zero3(
            total_params=trainable, largest_layer_params=largest_layer, cpu_offload_params=offload_params, **common
        )
    else:
        cpu, gpu = zero2(total_params=trainable, **common)
    return cpu, gpu, f"DeepSpeed {version} estimate_zero{zero_stage}_model_states_mem_needs"


def _model_state_bytes(
    model: ModelArch,
    lora: bool,
    trainable: int,
    zero_stage: int,
    num_gpus: int,
    gpus_per_node: int,
    offload_optimizer: bool,
    offload_params: bool,
    use_deepspeed: bool,
) -> tuple[int, int, str]:
    """(cpu bytes per node, gpu bytes, estimator) of the model states; with LoRA, plus the frozen bf16 base."""
    cpu, gpu, estimator = _trainable_states(
        trainable,
        model.largest_layer_params,
        zero_stage,
        num_gpus,
        gpus_per_node,
        offload_optimizer,
        offload_params,
        use_deepspeed,
    )
    if not lora:
        return cpu, gpu, estimator
    frozen = BF16_BYTES * model.num_params  # LoRA: the base is frozen and sharded like parameters
    if offload_params:
        return cpu + frozen * gpus_per_node // num_gpus, gpu, estimator
    return cpu, gpu + frozen // (num_gpus if zero_stage == 3 else 1), estimator


def _reference_and_gathered_bytes(
    base_params: int,
    total_params: int,
    zero_stage: int,
    num_gpus: int,
    offload_params: bool,
    no_reference: bool,
    ds3_gather_for_generation: bool,
) -> tuple[int, int]:
    """(reference model bytes, bytes gathered for generation beyond the local shard) per GPU.

    Under ZeRO-3 TRL builds the reference with `zero.Init` and wraps it in a stage-3 engine: sharded like the policy,
    parameter offload included. Otherwise it is a full bf16 copy per GPU. There is none with LoRA (adapters are
    disabled instead) or with `beta == 0`.
    """
    if zero_stage != 3:
        return (0 if no_reference else BF16_BYTES * base_params), 0
    reference = 0 if (no_reference or offload_params) else BF16_BYTES * base_params // num_gpus
    local_params = 0 if offload_params else BF16_BYTES * total_params // num_gpus
    gathered = BF16_BYTES * total_params - local_params if ds3_gather_for_generation else 0
    return reference, gathered


def layer_activation_bytes_per_token(arch: ModelArch) -> int:
    """Bytes one decoder layer keeps for backward, per token, in bf16 with flash/SDPA attention and no dropout.

    Counted like Korthikanti et al. 2022 (arXiv 2205.05198), for a gated (SwiGLU) MLP and grouped-query attention:
    attention block `2 * (2h + q + 2kv + q)` (norm input and output, Q, K, V, attention output), MLP block
    `2 * (2h + 4i)` (norm input and output, gate, up, act(gate), act(gate) * up), and the fp32 copies RMSNorm keeps
    `2 * 4h`. No `seq x seq` attention scores: flash/SDPA attention does not store them.
    """
    h, q, kv, inter = arch.hidden_size, arch.q_dim, arch.kv_dim, arch.intermediate_size
    attention = BF16_BYTES * (2 * h + q + 2 * kv + q)
    mlp = BF16_BYTES * (2 * h + 4 * inter)
    norms_fp32 = 2 * 4 * h
    return attention + mlp + norms_fp32


def kv_cache_bytes(arch: ModelArch, sequence_length: int, num_sequences: int, bytes_per_value: int = BF16_BYTES) -> int:
    """KV cache of `num_sequences` sequences of `sequence_length` tokens: `2 * layers * kv_heads * head_dim * seq *
    batch * bytes` (the 2 is keys and values)."""
    return (
        2
        * arch.num_layers
        * arch.num_kv_heads
        * arch.resolved_head_dim
        * sequence_length
        * num_sequences
        * bytes_per_value
    )


def _activation_bytes(arch: ModelArch, tokens: int, gradient_checkpointing: bool) -> tuple[int, int]:
    """(scoring pass, training pass) activation bytes for `tokens` tokens in one micro-batch."""
    per_layer = layer_activation_bytes_per_token(arch)
    scoring = tokens * per_layer  # no grad: one layer's tensors live at a time
    if gradient_checkpointing:
        # Each layer's input is kept; one layer is recomputed with its full activations during backward.
        training = tokens * (arch.num_layers * BF16_BYTES * arch.hidden_size + per_layer)
    else:
        training = tokens * arch.num_layers * per_layer
    return scoring, training


def _logits_bytes(arch: ModelArch, micro_batch: int, scored_length: int) -> tuple[int, int]:
    """(scoring pass, training pass) bytes of the log-prob head over the ``scored_length`` rationale + answer positions.

    The trainer always takes log-probs from TRL's fused LM head (`trl.kernels.chunked_logprob`, installed by
    RLOOTrainer), which never materialises the logits: one fp32 tile of tokens x vocabulary columns at a time (two in
    the backward pass).
    """
    tile = min(micro_batch * scored_length, _FUSED_TOKEN_TILE) * min(arch.vocab_size, _FUSED_VOCAB_TILE) * 4
    return tile, 2 * tile


def _check_sharding(zero_stage: int, offload_optimizer: bool, offload_params: bool) -> None:
    if zero_stage not in (0, 2, 3):
        raise ValueError(f"zero_stage must be 0 (DDP), 2 or 3, got {zero_stage!r}; ZeRO-1 is not planned here.")
    if offload_params and zero_stage != 3:
        raise ValueError("Parameter offload exists only under ZeRO-3: set zero_stage=3 or offload_params=False.")
    if offload_params and not offload_optimizer:
        raise ValueError("offload_params=True needs offload_optimizer=True too (as in zero3_offload_all.json).")
    if offload_optimizer and zero_stage == 0:
        raise ValueError("Optimizer offload needs DeepSpeed ZeRO: set zero_stage=2 or 3, or offload_optimizer=False.")


def _check_gpus(num_gpus: int, gpus_per_node: int | None) -> int:
    _check_positive_int("num_gpus", num_gpus)
    per_node = min(num_gpus, 8) if gpus_per_node is None else gpus_per_node
    _check_positive_int("gpus_per_node", per_node)
    if num_gpus % per_node:
        raise ValueError(f"num_gpus ({num_gpus}) must be a multiple of gpus_per_node ({per_node}).")
    return per_node


def _check_workload(**sizes: int) -> None:
    """Every size must be a positive integer, and K >= 2 for the leave-one-out baseline."""
    for name, value in sizes.items():
        _check_positive_int(name, value)
    if sizes["num_generations"] < 2:
        raise ValueError("num_generations must be >= 2: the leave-one-out baseline needs at least two rationales.")


def plan_memory(
    arch: ModelArch | str | os.PathLike | Mapping[str, Any] | Any,
    *,
    per_device_train_batch_size: int,
    num_generations: int,
    steps_per_generation: int,
    max_prompt_length: int,
    max_completion_length: int,
    gradient_checkpointing: bool,
    beta: float,
    ds3_gather_for_generation: bool = True,
    lora_r: int | None = None,
    num_gpus: int = 8,
    gpus_per_node: int | None = None,
    zero_stage: int = 3,
    offload_optimizer: bool = False,
    offload_params: bool = False,
    answer_length: int = 16,
    overhead_gib: float = 3.0,
    use_deepspeed: bool = True,
) -> MemoryPlan:
    """The arithmetic of [`plan_for_config`] with every size given by hand (the workload named as `LaTROConfig`'s
    fields, with no defaults of its own: the config's are the only ones). Use [`plan_for_config`] to plan a run.

    Args:
        arch ([`ModelArch`], `str`, path, dict or config): A preset name (see `PRESETS`), a local `config.json` (or
            its folder), a config dict or a `transformers` config object.
        per_device_train_batch_size (`int`): Sequences per forward/backward on one GPU (the micro batch).
        num_generations (`int`): Rationales per prompt, K.
        steps_per_generation (`int`): Micro batches per generation: one GPU generates
            `per_device_train_batch_size * steps_per_generation` sequences at once.
        max_prompt_length (`int`): Prompt tokens, chat template included (the bound the run truncates to).
        max_completion_length (`int`): Rationale limit L.
        gradient_checkpointing (`bool`): Recompute layer activations in backward.
        beta (`float`): KL coefficient; `0` means no reference model is built.
        ds3_gather_for_generation (`bool`, *optional*, defaults to `True`): TRL's option to gather the whole ZeRO-3
            model on each GPU for `generate()` (fast; `False` generates layer by layer, slowly).
        lora_r (`int`, *optional*): Rank of LoRA adapters on every linear layer of a frozen bf16 base (`ModelConfig`'s
            `lora_r` with `use_peft`); `None` (default): full fine-tuning.
        num_gpus (`int`, *optional*, defaults to `8`): GPUs in the whole job.
        gpus_per_node (`int`, *optional*): GPUs per machine; defaults to `min(num_gpus, 8)`.
        zero_stage (`int`, *optional*, defaults to `3`): `0` (plain DDP), `2` or `3`.
        offload_optimizer (`bool`, *optional*, defaults to `False`): Optimizer states (and fp32 master weights) on CPU.
        offload_params (`bool`, *optional*, defaults to `False`): Parameters on CPU too (ZeRO-3 only).
        answer_length (`int`, *optional*, defaults to `16`): Tokens of the templated answer y.
        overhead_gib (`float`, *optional*, defaults to `3.0`): Fixed CUDA/runtime overhead per GPU.
        use_deepspeed (`bool`, *optional*, defaults to `True`): Use DeepSpeed's estimators when it is importable.

    Returns:
        [`MemoryPlan`]: per-part GiB and the total.
    """
    model = resolve_arch(arch)
    per_node = _check_gpus(num_gpus, gpus_per_node)
    _check_sharding(zero_stage, offload_optimizer, offload_params)
    _check_workload(
        per_device_train_batch_size=per_device_train_batch_size,
        num_generations=num_generations,
        steps_per_generation=steps_per_generation,
        max_prompt_length=max_prompt_length,
        max_completion_length=max_completion_length,
        answer_length=answer_length,
        **({} if lora_r is None else {"lora_r": lora_r}),
    )
    if beta < 0 or overhead_gib < 0:
        raise ValueError(f"beta and overhead_gib must be >= 0, got beta={beta} and overhead_gib={overhead_gib}.")

    lora = lora_r is not None
    trainable = model.lora_params(lora_r) if lora else model.num_params
    total_params = model.num_params + (trainable if lora else 0)
    cpu, states, estimator = _model_state_bytes(
        model, lora, trainable, zero_stage, num_gpus, per_node, offload_optimizer, offload_params, use_deepspeed
    )
    reference, gathered = _reference_and_gathered_bytes(
        model.num_params,
        total_params,
        zero_stage,
        num_gpus,
        offload_params,
        lora or beta == 0,
        ds3_gather_for_generation,
    )
    generation_batch = per_device_train_batch_size * steps_per_generation
    kv_cache = kv_cache_bytes(model, max_prompt_length + max_completion_length, generation_batch)
    tokens = per_device_train_batch_size * (max_prompt_length + max_completion_length + answer_length)
    scoring_act, training_act = _activation_bytes(model, tokens, gradient_checkpointing)
    scoring_logits, training_logits = _logits_bytes(
        model, per_device_train_batch_size, max_completion_length + answer_length
    )
    return MemoryPlan(
        model=model.name,
        num_gpus=num_gpus,
        zero_stage=zero_stage,
        offload_optimizer=offload_optimizer,
        offload_params=offload_params,
        lora=lora,
        total_params=total_params,
        trainable_params=trainable,
        model_states_gib=states / GIB,
        reference_gib=reference / GIB,
        gathered_params_gib=gathered / GIB,
        kv_cache_gib=kv_cache / GIB,
        scoring_activations_gib=scoring_act / GIB,
        scoring_logits_gib=scoring_logits / GIB,
        training_activations_gib=training_act / GIB,
        training_logits_gib=training_logits / GIB,
        overhead_gib=float(overhead_gib),
        cpu_gib_per_node=cpu / GIB,
        estimator=estimator,
    )


def plan_for_config(
    arch: ModelArch | str | os.PathLike | Mapping[str, Any] | Any,
    config: LaTROConfig,
    *,
    num_gpus: int = 8,
    gpus_per_node: int | None = None,
    peft_config: Any = None,
    zero_stage: int | None = None,
    offload_optimizer: bool | None = None,
    offload_params: bool | None = None,
    prompt_length: int | None = None,
    answer_length: int = 16,
    overhead_gib: float = 3.0,
    use_deepspeed: bool = True,
) -> MemoryPlan:
    """Estimate peak memory per GPU for the run ``config`` describes: the planning API (`latro plan`, the fits
    table of docs/memory.md and ``bench/gpu_check.py`` all call it).

    The workload is the trainer's: ``per_device_train_batch_size`` sequences per forward/backward,
    ``per_device_train_batch_size * steps_per_generation`` sequences generated at once per GPU, ``num_generations``
    (K), ``max_prompt_length`` and ``max_completion_length`` (L), ``gradient_checkpointing``, a frozen reference when
    ``beta > 0`` (none with PEFT: the adapters are switched off instead) and ``ds3_gather_for_generation``. Log-probs
    come from TRL's fused LM head, which RLOOTrainer (and so LaTROTrainer) always installs. The ZeRO stage and offload
    are read from ``config.deepspeed`` (a JSON path or dict) unless given; without either, ZeRO-3.

    Args:
        arch: a preset name, a local ``config.json`` (or its folder), a config dict or object (see [`plan_memory`]).
        config (`LaTROConfig`): the training config.
        num_gpus, gpus_per_node: the cluster.
        peft_config: a ``peft.LoraConfig`` when training adapters (its rank ``r`` is used; adapters are counted on
            every linear layer); ``None``: full fine-tuning.
        zero_stage, offload_optimizer, offload_params: override what ``config.deepspeed`` says.
        prompt_length: prompt tokens when they are known to be fewer than ``config.max_prompt_length`` (a bound);
            required when the config sets no bound.
        answer_length, overhead_gib, use_deepspeed: as for [`plan_memory`].

    Example:

    ```python
    >>> from latro_trl import LaTROConfig
    >>> from latro_trl.plan import plan_for_config
    >>> config = LaTROConfig(output_dir="runs/x", max_prompt_length=256, bf16=False)
    >>> plan_for_config("Llama-3.1-8B-Instruct", config, num_gpus=8, offload_optimizer=True).fits(40)
    True

    ```
    """
    sharding = _deepspeed_sharding(config.deepspeed)
    prompt_length = prompt_length or config.max_prompt_length
    if prompt_length is None:
        raise ValueError("config.max_prompt_length is None (no bound on prompts): pass prompt_length=<tokens>.")
    lora_r = None
    if peft_config is not None:
        lora_r = getattr(peft_config, "r", None)
        if not lora_r:
            raise ValueError(f"peft_config has no LoRA rank r ({peft_config!r}); pass a peft.LoraConfig.")
    return plan_memory(
        arch,
        per_device_train_batch_size=config.per_device_train_batch_size,
        num_generations=config.num_generations,
        steps_per_generation=config.steps_per_generation or 1,
        max_prompt_length=prompt_length,
        max_completion_length=config.max_completion_length,
        gradient_checkpointing=bool(config.gradient_checkpointing),
        beta=config.beta,
        ds3_gather_for_generation=config.ds3_gather_for_generation,
        lora_r=lora_r,
        num_gpus=num_gpus,
        gpus_per_node=gpus_per_node,
        zero_stage=sharding["zero_stage"] if zero_stage is None else zero_stage,
        offload_optimizer=sharding["offload_optimizer"] if offload_optimizer is None else offload_optimizer,
        offload_params=sharding["offload_params"] if offload_params is None else offload_params,
        answer_length=answer_length,
        overhead_gib=overhead_gib,
        use_deepspeed=use_deepspeed,
    )


def _deepspeed_sharding(deepspeed: str | os.PathLike | Mapping[str, Any] | None) -> dict[str, Any]:
    """ZeRO stage and offload of a DeepSpeed config (a JSON path or dict); ZeRO-3 without offload when there is none."""
    if deepspeed is None:
        return {"zero_stage": 3, "offload_optimizer": False, "offload_params": False}
    settings = deepspeed if isinstance(deepspeed, Mapping) else json.loads(Path(deepspeed).read_text())
    zero = settings.get("zero_optimization", {})

    def offloaded(key: str) -> bool:
        return str(zero.get(key, {}).get("device", "none")).lower() in ("cpu", "nvme")

    return {
        "zero_stage": int(zero.get("stage", 0)),
        "offload_optimizer": offloaded("offload_optimizer"),
        "offload_params": offloaded("offload_param"),
    }
