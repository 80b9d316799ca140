"""Per-GPU memory plan for LaTRO training: which DeepSpeed configuration fits a model on a given cluster.

LaTRO holds more than the model states at once: per prompt it generates K rationales (a KV cache of K sequences),
scores prompt + rationale + answer with the policy and a frozen reference, and trains on the same sequences. This
module adds those parts to DeepSpeed's own model-state estimate, with plain arithmetic and no GPU.

Per GPU, in bytes (P parameters, N GPUs, bf16 = 2 bytes):

- model states: DeepSpeed's estimators (``estimate_zero3_model_states_mem_needs`` and
  ``estimate_zero2_model_states_mem_needs``, the functions that the ``*_all_cold`` helpers print tables of), or, when
  DeepSpeed is not installed, the same formulas restated here: ZeRO-3 ``4 * largest_layer + 18 * P / N`` (``2 * P / N``
  with the optimizer on CPU, ``4 * largest_layer`` with the parameters too), ZeRO-2 ``2 * P + 18 * P / N`` (``2 * P``
  with the optimizer on CPU). Plain DDP (``zero_stage=0``) counts 16 bytes per trainable parameter (fp32 weights,
  fp32 gradients, two fp32 Adam moments).
- reference model (only when ``beta > 0``): ``2 * P`` per GPU, ``2 * P / N`` under ZeRO-3 (TRL shards it with the
  policy's config), 0 with parameter offload, and 0 with LoRA (the reference is the base model with the adapters
  disabled).
- generation: the KV cache ``2 * layers * kv_heads * head_dim * (prompt + rationale) * sequences * 2``, plus, under
  ZeRO-3 with ``ds3_gather_for_generation`` (TRL's default), the whole bf16 model gathered on every GPU.
- scoring pass (no gradient) and training pass over ``micro_batch`` sequences of ``prompt + rationale + answer``
  tokens: activations (see :func:`layer_activation_bytes_per_token`) and the logits of the rationale and answer
  positions.
- a fixed runtime overhead (CUDA context, NCCL and cuBLAS workspaces, ZeRO buckets, allocator fragmentation).

The phases do not overlap, so the total is ``model states + reference + overhead + max(generation, scoring,
training)``.

Example:

```python
>>> from latro_trl.plan import plan_memory
>>> plan = plan_memory("Llama-3.1-8B-Instruct", num_gpus=8, zero_stage=3, offload_optimizer=True)
>>> plan.fits(40)
True

```
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GIB = 2**30
BF16_BYTES = 2
# Share of a GPU's nominal memory that a plan may use; the rest absorbs what the model leaves out.
USABLE_FRACTION = 0.95
DEFAULT_GPU_MEMORY_GB = (80, 40, 24)
# Tile of TRL's fused LM head (`trl.kernels.chunked_logprob`): tokens x vocabulary columns, in fp32.
_FUSED_TOKEN_TILE = 4096
_FUSED_VOCAB_TILE = 32768


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


@dataclass(frozen=True)
class ModelArch:
    """The shape of a decoder-only transformer, as far as memory is concerned.

    Args:
        name (`str`): A label for tables and messages.
        hidden_size (`int`): Width of the residual stream.
        num_layers (`int`): Number of decoder layers.
        num_heads (`int`): Query heads per layer.
        num_kv_heads (`int`): Key/value heads per layer (fewer than `num_heads` under grouped-query attention).
        intermediate_size (`int`): Width of the gated MLP.
        vocab_size (`int`): Rows of the embedding (and LM head).
        tie_word_embeddings (`bool`, *optional*, defaults to `False`): Whether the LM head shares the embedding.
        head_dim (`int` or `None`, *optional*): Per-head width; `None` means `hidden_size // num_heads`.
        fused_projections (`bool`, *optional*, defaults to `False`): Whether Q/K/V and gate/up are single matrices
            (Phi-3), which changes the largest layer and the LoRA parameter count.
    """

    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    vocab_size: int
    tie_word_embeddings: bool = False
    head_dim: int | None = None
    fused_projections: bool = False

    def __post_init__(self) -> None:
        for field in ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "intermediate_size", "vocab_size"):
            _check_positive_int(field, getattr(self, field))
        if self.head_dim is not None:
            _check_positive_int("head_dim", self.head_dim)
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"{self.name}: num_heads ({self.num_heads}) must be a multiple of num_kv_heads ({self.num_kv_heads})."
            )

    @property
    def resolved_head_dim(self) -> int:
        return self.head_dim or self.hidden_size // self.num_heads

    @property
    def q_dim(self) -> int:
        return self.num_heads * self.resolved_head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.resolved_head_dim

    def _linear_shapes(self) -> list[tuple[int, int]]:
        """(in, out) of each linear layer in one decoder layer, as the model stores them."""
        h, q, kv, inter = self.hidden_size, self.q_dim, self.kv_dim, self.intermediate_size
        if self.fused_projections:
            return [(h, q + 2 * kv), (q, h), (h, 2 * inter), (inter, h)]
        return [(h, q), (h, kv), (h, kv), (q, h), (h, inter), (h, inter), (inter, h)]

    @property
    def num_params(self) -> int:
        """All parameters: embeddings, LM head (unless tied), linear layers and RMSNorm weights (no biases)."""
        per_layer = sum(d_in * d_out for d_in, d_out in self._linear_shapes()) + 2 * self.hidden_size
        embeddings = self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)
        return embeddings + self.num_layers * per_layer + self.hidden_size

    @property
    def largest_layer_params(self) -> int:
        """Parameters of the largest single module (DeepSpeed's `largest_layer_params`): usually the embedding."""
        return max([self.vocab_size * self.hidden_size] + [d_in * d_out for d_in, d_out in self._linear_shapes()])

    def lora_params(self, rank: int) -> int:
        """Parameters of LoRA adapters of rank `rank` on every linear layer of every decoder layer ("all-linear")."""
        return self.num_layers * sum(rank * (d_in + d_out) for d_in, d_out in self._linear_shapes())


PRESETS: dict[str, ModelArch] = {
    "meta-llama/Llama-3.1-8B-Instruct": ModelArch(
        name="Llama-3.1-8B-Instruct",
        hidden_size=4096,
        num_layers=32,
        num_heads=32,
        num_kv_heads=8,
        intermediate_size=14336,
        vocab_size=128256,
    ),
    "mistralai/Mistral-7B-Instruct-v0.3": ModelArch(
        name="Mistral-7B-Instruct-v0.3",
        hidden_size=4096,
        num_layers=32,
        num_heads=32,
        num_kv_heads=8,
        intermediate_size=14336,
        vocab_size=32768,
    ),
    "microsoft/Phi-3.5-mini-instruct": ModelArch(
        name="Phi-3.5-mini-instruct",
        hidden_size=3072,
        num_layers=32,
        num_heads=32,
        num_kv_heads=32,
        intermediate_size=8192,
        vocab_size=32064,
        fused_projections=True,
    ),
}


def _preset(name: str) -> ModelArch | None:
    key = name.strip().lower()
    for hub_id, arch in PRESETS.items():
        if key in (hub_id.lower(), arch.name.lower()):
            return arch
    return None


def arch_from_config(config: Mapping[str, Any] | Any, name: str | None = None) -> ModelArch:
    """Build a [`ModelArch`] from a transformers config object or the dict of a `config.json`.

    Args:
        config (`Mapping` or `transformers.PretrainedConfig`): Needs `hidden_size`, `num_hidden_layers`,
            `num_attention_heads`, `intermediate_size` and `vocab_size`; `num_key_value_heads` defaults to the number
            of heads, `tie_word_embeddings` to `False` (counting the larger model), `head_dim` to hidden / heads.
        name (`str`, *optional*): Label; defaults to the config's `_name_or_path` or `model_type`.

    Returns:
        [`ModelArch`]
    """
    values = dict(config) if isinstance(config, Mapping) else config.to_dict()
    required = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")
    missing = [key for key in required if values.get(key) is None]
    if missing:
        raise ValueError(f"The model config lacks {', '.join(missing)}; pass a decoder-only LM config or a preset.")
    head_dim = values.get("head_dim")
    if head_dim == values["hidden_size"] // values["num_attention_heads"]:
        head_dim = None  # the default, written out by some configs: keep one spelling so equal shapes compare equal
    return ModelArch(
        name=name or values.get("_name_or_path") or values.get("model_type") or "custom",
        hidden_size=values["hidden_size"],
        num_layers=values["num_hidden_layers"],
        num_heads=values["num_attention_heads"],
        num_kv_heads=values.get("num_key_value_heads") or values["num_attention_heads"],
        intermediate_size=values["intermediate_size"],
        vocab_size=values["vocab_size"],
        tie_word_embeddings=bool(values.get("tie_word_embeddings", False)),
        head_dim=head_dim,
        fused_projections=values.get("model_type") == "phi3",
    )


def resolve_arch(arch: ModelArch | str | os.PathLike | Mapping[str, Any] | Any) -> ModelArch:
    """Turn a preset name, a `config.json` path (or its folder), a config dict or object into a [`ModelArch`].

    Preset names match the hub id or its last part, case-insensitively (e.g. `"Llama-3.1-8B-Instruct"`).
    """
    if isinstance(arch, ModelArch):
        return arch
    if isinstance(arch, (str, os.PathLike)):
        preset = _preset(str(arch))
        if preset is not None:
            return preset
        path = Path(arch)
        if path.is_dir():
            path = path / "config.json"
        if path.is_file():
            return arch_from_config(json.loads(path.read_text()), name=path.parent.name or str(path))
        names = ", ".join(sorted(a.name for a in PRESETS.values()))
        raise ValueError(f"Unknown model {str(arch)!r}: give a preset ({names}) or a path to a local config.json.")
    return arch_from_config(arch)


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


def _logits_bytes(arch: ModelArch, micro_batch: int, scored_length: int, fused_lm_head: bool) -> tuple[int, int]:
    """(scoring pass, training pass) bytes of the logits over the `scored_length` rationale + answer positions."""
    vocab = arch.vocab_size
    if fused_lm_head:
        tile = min(micro_batch * scored_length, _FUSED_TOKEN_TILE) * min(vocab, _FUSED_VOCAB_TILE) * 4
        return tile, 2 * tile
    logits = micro_batch * scored_length * vocab * BF16_BYTES
    one_row_fp32 = scored_length * vocab * 4 * 2  # upcast input and output of one sequence's log-softmax
    # Training also keeps the saved log-softmax and the logits' gradient: two more copies.
    return logits + one_row_fp32, 3 * logits + one_row_fp32


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
    num_gpus: int = 8,
    gpus_per_node: int | None = None,
    zero_stage: int = 3,
    offload_optimizer: bool = False,
    offload_params: bool = False,
    lora: bool = False,
    lora_rank: int = 16,
    micro_batch: int = 4,
    num_generations: int = 16,
    generation_batch_size: int | None = None,
    prompt_length: int = 256,
    rationale_length: int = 500,
    answer_length: int = 16,
    gradient_checkpointing: bool = True,
    beta: float = 0.05,
    ds3_gather_for_generation: bool = True,
    fused_lm_head: bool = False,
    overhead_gib: float = 3.0,
    use_deepspeed: bool = True,
) -> MemoryPlan:
    """Estimate peak memory per GPU for one LaTRO configuration.

    Args:
        arch ([`ModelArch`], `str`, path, dict or config): A preset name (see `PRESETS`), a local `config.json` (or
            its folder), a config dict or a `transformers` config object.
        num_gpus (`int`, *optional*, defaults to `8`): GPUs in the whole job.
        gpus_per_node (`int`, *optional*): GPUs per machine; defaults to `min(num_gpus, 8)`.
        zero_stage (`int`, *optional*, defaults to `3`): `0` (plain DDP), `2` or `3`.
        offload_optimizer (`bool`, *optional*, defaults to `False`): Optimizer states (and fp32 master weights) on CPU.
        offload_params (`bool`, *optional*, defaults to `False`): Parameters on CPU too (ZeRO-3 only).
        lora (`bool`, *optional*, defaults to `False`): Train LoRA adapters on a frozen bf16 base instead of all weights.
        lora_rank (`int`, *optional*, defaults to `16`): Rank of the adapters, placed on every linear layer.
        micro_batch (`int`, *optional*, defaults to `4`): Sequences per forward/backward on one GPU
            (`per_device_train_batch_size`).
        num_generations (`int`, *optional*, defaults to `16`): Rationales per prompt, K.
        generation_batch_size (`int`, *optional*): Sequences one GPU generates at once; defaults to `num_generations`.
        prompt_length (`int`, *optional*, defaults to `256`): Prompt tokens, chat template included.
        rationale_length (`int`, *optional*, defaults to `500`): Rationale limit L.
        answer_length (`int`, *optional*, defaults to `16`): Tokens of the templated answer y.
        gradient_checkpointing (`bool`, *optional*, defaults to `True`): Recompute layer activations in backward.
        beta (`float`, *optional*, defaults to `0.05`): KL coefficient; `0` means no reference model is built.
        ds3_gather_for_generation (`bool`, *optional*, defaults to `True`): TRL's option to gather the whole ZeRO-3
            model on each GPU for `generate()` (fast; `False` generates layer by layer, slowly).
        fused_lm_head (`bool`, *optional*, defaults to `False`): Whether log-probs come from TRL's fused, tiled LM head
            instead of materialised logits.
        overhead_gib (`float`, *optional*, defaults to `3.0`): Fixed CUDA/runtime overhead per GPU.
        use_deepspeed (`bool`, *optional*, defaults to `True`): Use DeepSpeed's estimators when it is importable.

    Returns:
        [`MemoryPlan`]: per-part GiB and the total.
    """
    model = resolve_arch(arch)
    per_node = _check_gpus(num_gpus, gpus_per_node)
    _check_sharding(zero_stage, offload_optimizer, offload_params)
    generation_batch = num_generations if generation_batch_size is None else generation_batch_size
    _check_workload(
        micro_batch=micro_batch,
        num_generations=num_generations,
        generation_batch_size=generation_batch,
        prompt_length=prompt_length,
        rationale_length=rationale_length,
        answer_length=answer_length,
        lora_rank=lora_rank,
    )
    if beta < 0 or overhead_gib < 0:
        raise ValueError(f"beta and overhead_gib must be >= 0, got beta={beta} and overhead_gib={overhead_gib}.")

    trainable = model.lora_params(lora_rank) if lora else model.num_params
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
    kv_cache = kv_cache_bytes(model, prompt_length + rationale_length, generation_batch)
    tokens = micro_batch * (prompt_length + rationale_length + answer_length)
    scoring_act, training_act = _activation_bytes(model, tokens, gradient_checkpointing)
    scoring_logits, training_logits = _logits_bytes(model, micro_batch, rationale_length + answer_length, fused_lm_head)
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
    models: Sequence[ModelArch | str] | None = None,
    gpu_memory_gb: Sequence[int] = DEFAULT_GPU_MEMORY_GB,
    num_gpus: int = 8,
    setups: Sequence[ShardingSetup] = SETUPS,
    usable_fraction: float = USABLE_FRACTION,
    **workload: Any,
) -> list[FitRow]:
    """Plan every model under every setup and say which GPU sizes each fits.

    Args:
        models (`Sequence`, *optional*): Models as accepted by [`plan_memory`]; defaults to all presets.
        gpu_memory_gb (`Sequence[int]`, *optional*, defaults to `(80, 40, 24)`): GPU sizes to test.
        num_gpus (`int`, *optional*, defaults to `8`): GPUs in the job.
        setups (`Sequence[ShardingSetup]`, *optional*, defaults to `SETUPS`): Sharding setups to compare.
        usable_fraction (`float`, *optional*, defaults to `0.95`): Share of each GPU a plan may use.
        **workload: Keyword arguments of [`plan_memory`] that describe the run (`micro_batch`, `rationale_length`,
            ...); an unknown name raises `TypeError` there.

    Returns:
        `list[FitRow]`, models in the outer loop and setups in the inner one.
    """
    rows = []
    for model in models if models is not None else list(PRESETS):
        arch = resolve_arch(model)
        for setup in setups:
            plan = plan_memory(
                arch,
                num_gpus=num_gpus,
                zero_stage=setup.zero_stage,
                offload_optimizer=setup.offload_optimizer,
                offload_params=setup.offload_params,
                lora=setup.lora,
                **workload,
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


def render_table(rows: Sequence[FitRow] | None = None, **table_args: Any) -> str:
    """Markdown tables of [`fits_table`]: every model x setup with its parts and verdicts, then the pick per size.

    Args:
        rows (`Sequence[FitRow]`, *optional*): Output of [`fits_table`]; computed from `table_args` when omitted.
        **table_args: Arguments of [`fits_table`] (and through it of [`plan_memory`]).

    Returns:
        `str`: Markdown.
    """
    rows = list(rows) if rows is not None else fits_table(**table_args)
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
