"""Tiny, offline models and tokenizers for tests, benchmarks and examples.

Nothing here touches the network: the tokenizer is a byte-level BPE trained in memory on a few sentences of
arithmetic reasoning, with a ChatML chat template whose end of turn (``<|im_end|>``) is also the EOS and the pad
token, as in SmolLM2. The model is a randomly initialised Llama of a few hundred thousand parameters.
"""

from __future__ import annotations

import functools

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_CORPUS = [
    "Question: Tom has 3 apples and buys 5 more. How many apples does he have? Let's think step by step.",
    "Tom starts with 3 apples. He buys 5 more, so 3 + 5 = 8. The answer is 8.",
    "Answer: 42. The final answer is 7. Therefore, the answer is 12. So the answer is 0.",
    "A shop sells 12 pens for $4 each. 12 * 4 = 48 dollars. Then 48 - 6 = 42. The answer is 42.",
    "Which option is correct? A) red B) blue C) green D) yellow. The answer is B.",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000 + - * / = ( ) , . ! ? : ; ' \" $ % # \n",
    "Let's think step by step. First, second, then, finally, total, each, more, less, half, twice.",
]


@functools.lru_cache(maxsize=4)
def _trained_tokenizer_json(vocab_size: int) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|im_end|>", "<|im_start|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return tokenizer.to_str()


def make_tiny_tokenizer(vocab_size: int = 400, pad_token: str | None = "<|im_end|>") -> PreTrainedTokenizerFast:
    """A small byte-level BPE tokenizer with a ChatML template; ``pad_token=None`` leaves it without one."""
    from tokenizers import Tokenizer

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_trained_tokenizer_json(vocab_size)),
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
        pad_token=pad_token,
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.padding_side = "left"
    return tokenizer


def make_tiny_model(
    tokenizer: PreTrainedTokenizerFast,
    hidden_size: int = 32,
    num_layers: int = 2,
    seed: int = 0,
) -> LlamaForCausalLM:
    """A randomly initialised Llama sized for unit tests (float32, eager attention, dropout-free)."""
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    return model


# Config overrides that make a 4-layer model of each hybrid family mix its layer kinds (attention with convolution,
# linear attention or state-space layers), so that the model's cache holds every kind of state.
_MAMBA = {"mamba_n_heads": 4, "mamba_d_head": 32, "mamba_d_state": 16, "mamba_d_conv": 4, "mamba_expand": 2}
_LINEAR_ATTENTION = {
    "linear_num_value_heads": 4,
    "linear_num_key_heads": 2,
    "linear_key_head_dim": 16,
    "linear_value_head_dim": 16,
}
HYBRID_FAMILIES: dict[str, dict] = {
    "lfm2": {"layer_types": ["conv", "full_attention", "conv", "full_attention"]},
    "qwen3_next": {
        **_LINEAR_ATTENTION,
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 32,
        "shared_expert_intermediate_size": 32,
    },
    "qwen3_5_text": _LINEAR_ATTENTION,
    "bamba": {"attn_layer_indices": [1, 3], "mamba_chunk_size": 16, **_MAMBA},
    "granitemoehybrid": {
        "layer_types": ["mamba", "attention", "mamba", "attention"],
        "num_local_experts": 2,
        "num_experts_per_tok": 1,
        "shared_intermediate_size": 64,
        **_MAMBA,
    },
    "falcon_h1": {"mamba_d_ssm": 128, "mamba_chunk_size": 16, **_MAMBA},
    "jamba": {
        "attn_layer_period": 2,
        "attn_layer_offset": 1,
        "expert_layer_period": 2,
        "expert_layer_offset": 1,
        "num_experts": 2,
        "num_experts_per_tok": 1,
        "mamba_dt_rank": 8,
        "mamba_d_state": 16,
        "use_mamba_kernels": False,
    },
    "nemotron_h": {
        "layer_types": ["mamba", "attention", "mlp", "mamba"],
        "mamba_num_heads": 4,
        "mamba_head_dim": 32,
        "ssm_state_size": 16,
        "n_groups": 1,
        "chunk_size": 16,
    },
}


def make_tiny_hybrid_model(family: str, tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> torch.nn.Module:
    """A randomly initialised 4-layer model of a hybrid-cache family (``HYBRID_FAMILIES``: LFM2, Qwen3-Next,
    Qwen3.5, Bamba, Granite-4-H, Falcon-H1, Jamba, Nemotron-H), float32, built offline from its config."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(
        family,
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **HYBRID_FAMILIES[family],
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model
