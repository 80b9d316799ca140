"""Model shapes for the memory plan: the presets, and shapes read from a config (``ModelArch``)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
