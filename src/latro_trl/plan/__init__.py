"""Per-GPU memory plan for LaTRO training: which DeepSpeed configuration fits a model on a given cluster.

``plan_for_config(model, LaTROConfig(...), num_gpus=8)`` is the API: it plans the run a config describes (K, L,
batch, steps per generation, beta, gradient checkpointing, ZeRO-3 generation, PEFT or not; the ZeRO stage and offload
from its ``deepspeed`` JSON), with the fused log-prob head the trainer always uses. ``plan_memory`` is its arithmetic
with the sizes given by hand under the config's field names; ``fits_table(config)`` / ``render_table`` compare
setups across models (`latro plan --table`). Modules: ``architectures`` (model shapes, presets), ``memory`` (the parts), ``fits``.

LaTRO holds more than the model states at once: per prompt it generates K rationales (a KV cache of K sequences),
scores prompt + rationale + answer with the policy and a frozen reference, and trains on the same sequences. This
package adds those parts to DeepSpeed's own model-state estimate, with plain arithmetic and no GPU.

Per GPU, in bytes (P parameters, N GPUs, bf16 = 2 bytes):

- model states: DeepSpeed's estimators (``estimate_zero3_model_states_mem_needs`` and
  ``estimate_zero2_model_states_mem_needs``, the functions that the ``*_all_cold`` helpers print tables of), or, when
  DeepSpeed is not installed, the same formulas restated in ``memory``: ZeRO-3 ``4 * largest_layer + 18 * P / N``
  (``2 * P / N`` with the optimizer on CPU, ``4 * largest_layer`` with the parameters too), ZeRO-2
  ``2 * P + 18 * P / N`` (``2 * P`` with the optimizer on CPU). Plain DDP (``zero_stage=0``) counts 16 bytes per
  trainable parameter (fp32 weights, fp32 gradients, two fp32 Adam moments).
- reference model (only when ``beta > 0``): ``2 * P`` per GPU, ``2 * P / N`` under ZeRO-3 (TRL shards it with the
  policy's config), 0 with parameter offload, and 0 with LoRA (the reference is the base model with the adapters
  disabled).
- generation: the KV cache ``2 * layers * kv_heads * head_dim * (prompt + rationale) * sequences * 2``, plus, under
  ZeRO-3 with ``ds3_gather_for_generation`` (TRL's default), the whole bf16 model gathered on every GPU.
- scoring pass (no gradient) and training pass over ``per_device_train_batch_size`` sequences of ``prompt +
  rationale + answer`` tokens: activations (see :func:`layer_activation_bytes_per_token`) and the fused log-prob
  head's fp32 tile over the rationale and answer positions (TRL never materialises the logits).
- a fixed runtime overhead (CUDA context, NCCL and cuBLAS workspaces, ZeRO buckets, allocator fragmentation).

The phases do not overlap, so the total is ``model states + reference + overhead + max(generation, scoring,
training)``.

Example:

```python
>>> from latro_trl import LaTROConfig
>>> from latro_trl.plan import plan_for_config
>>> config = LaTROConfig(output_dir="runs/x", max_prompt_length=256, bf16=False)
>>> plan = plan_for_config("Llama-3.1-8B-Instruct", config, num_gpus=8, zero_stage=3, offload_optimizer=True)
>>> plan.fits(40)
True

```
"""

from .architectures import PRESETS, ModelArch, arch_from_config, resolve_arch
from .fits import DEFAULT_GPU_MEMORY_GB, SETUPS, FitRow, ShardingSetup, fits_table, render_table
from .memory import (
    BF16_BYTES,
    GIB,
    USABLE_FRACTION,
    MemoryPlan,
    kv_cache_bytes,
    layer_activation_bytes_per_token,
    plan_for_config,
    plan_memory,
)

__all__ = [
    "BF16_BYTES",
    "DEFAULT_GPU_MEMORY_GB",
    "GIB",
    "PRESETS",
    "SETUPS",
    "USABLE_FRACTION",
    "FitRow",
    "MemoryPlan",
    "ModelArch",
    "ShardingSetup",
    "arch_from_config",
    "fits_table",
    "kv_cache_bytes",
    "layer_activation_bytes_per_token",
    "plan_for_config",
    "plan_memory",
    "render_table",
    "resolve_arch",
]
