"""Sampling from the policy itself: the pruned sampler, and the guard that keeps ``generate`` exact.

:func:`hide_model_generation_config` hides a model's own ``generation_config`` (a chat model's repetition penalty,
top-k/top-p, ...) while it generates, so that training rationales and evaluation replies are samples of the model's
distribution; the trainer and the evaluation both generate inside it.

The rest of this module samples rationales where a finished row stops costing compute.

transformers' batched ``generate`` keeps decoding every row until the longest one ends: a rationale that reached its
stop marker at token 30 still pays for the forward passes of one that runs to 500. :func:`sample_pruned` drops a row
from the batch (and from the KV cache) the step it finishes, so each later step runs on the rows still writing.

Exactness: each step draws one Gumbel noise vector per row of the ORIGINAL batch and takes
``argmax(logits / T + noise)`` for the rows still active: an exact sample of ``softmax(logits / T)`` (the Gumbel-max
trick), the same distribution ``generate(do_sample=True, temperature=T)`` samples from, and, for a given seed, the
same tokens whether or not finished rows were dropped (tested). Rows stop at the same places as with ``generate``:
at an end token, when a stopping criterion (e.g. transformers' ``StopStringCriteria`` for the stop markers) fires,
or at ``max_new_tokens``.

Rows with the same prompt (TRL repeats each prompt K times) share one prefill: the prompt's forward pass runs once
and its KV cache and next-token logits are copied to its K rows, which then draw their own noise.

Which models: rows are copied and dropped with the cache's ``reorder_cache`` (the beam-search API, which every layer
type implements on the batch dimension: attention keys/values, sliding windows, and the convolution and recurrent
states of linear-attention / state-space layers). :func:`supports_pruned_sampling` admits a model only when its
default cache is a plain ``DynamicCache`` made of layer types whose whole per-row state is reordered that way; for any
other model (its own cache class, an encoder-decoder) the trainer samples with ``generate`` instead: exact as well,
only without the savings.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

# A stopping criterion as transformers calls it: (sequences so far, scores) -> one bool per row.
StoppingCriterion = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


@torch.no_grad()
def sample_pruned(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    end_token_ids: Sequence[int],
    temperature: float = 1.0,
    stopping_criteria: Sequence[StoppingCriterion] = (),
    generator: torch.Generator | None = None,
    prune: bool = True,
) -> list[list[int]]:
    """Sample one completion per (left-padded) prompt; finished rows leave the batch.

    Args:
        model: a causal LM (a transformers model, or a PEFT / unwrapped DeepSpeed one).
        input_ids, attention_mask: left-padded prompts, shape (B, P).
        max_new_tokens: the length limit.
        end_token_ids: tokens that end a completion (EOS, end of turn); the end token is kept in the completion.
        temperature: sampling temperature (> 0); ``0`` decodes greedily (for tests).
        stopping_criteria: extra criteria, each called as ``criterion(sequences, None)`` on the active rows' prompt
            plus completion so far; a row stops when any of them returns True (its last token is kept).
        generator: the random generator for the Gumbel noise (the default generator of the model's device if None).
        prune: drop finished rows from the batch (the point of this function); ``False`` keeps computing them, for
            the exactness tests and the benchmark's control.

    Returns:
        B completions (token ids), in the order of the prompts.
    """
    device = input_ids.device
    batch = input_ids.size(0)
    end_ids = torch.tensor(sorted(set(end_token_ids)), device=device)
    cache = _default_cache(model)
    with_cache = {cache_keyword(model): cache, "use_cache": True}
    positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    # TRL repeats each prompt K times; its prefill is computed once and copied to its K rows (cache and logits).
    first_rows, copy_of = distinct_rows(torch.cat([input_ids, attention_mask.long()], dim=1))
    logits = model(
        input_ids=input_ids[first_rows],
        attention_mask=attention_mask[first_rows],
        position_ids=positions[first_rows],
        logits_to_keep=1,
        **with_cache,
    ).logits[copy_of, -1, :]
    if first_rows.numel() < batch:
        cache.reorder_cache(copy_of)
    rows = torch.arange(batch, device=device)  # the original row of each row of the batch tensors
    writing = torch.ones(batch, dtype=torch.bool, device=device)  # rows of the batch tensors not finished yet
    next_position = positions[:, -1] + 1
    mask, sequences = attention_mask, input_ids
    completions: list[list[int]] = [[] for _ in range(batch)]
    for step in range(max_new_tokens):
        tokens = _sample(logits.float(), temperature, batch, rows, generator)
        for row, token in zip(rows[writing].tolist(), tokens[writing].tolist(), strict=True):
            completions[row].append(token)
        sequences = torch.cat([sequences, tokens[:, None]], dim=1)
        finished = torch.isin(tokens, end_ids)
        for criterion in stopping_criteria:
            finished |= criterion(sequences, None).to(device)
        finished &= writing
        writing &= ~finished
        if not writing.any() or step == max_new_tokens - 1:
            break
        if prune and finished.any():  # drop the finished rows everywhere, KV cache included
            keep = writing.nonzero().squeeze(1)
            cache.reorder_cache(keep)
            rows, tokens, mask, writing = rows[keep], tokens[keep], mask[keep], writing[keep]
            next_position, sequences = next_position[keep], sequences[keep]
        mask = torch.cat([mask, mask.new_ones(mask.size(0), 1)], dim=1)
        logits = model(
            input_ids=tokens[:, None], attention_mask=mask, position_ids=next_position[:, None], **with_cache
        ).logits[:, -1, :]
        next_position = next_position + 1
    return completions


def distinct_rows(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The first occurrence of each distinct row of a 2-D tensor, in order, and for every row the position of its
    distinct row among them: ``rows[first][copy_of] == rows``."""
    _, inverse = torch.unique(rows, dim=0, return_inverse=True)
    index = torch.arange(rows.size(0), device=rows.device)
    first = torch.full((int(inverse.max()) + 1,), rows.size(0), device=rows.device, dtype=torch.long)
    first = first.scatter_reduce(0, inverse, index, reduce="amin").sort().values
    rank = torch.empty_like(first)
    rank[inverse[first]] = torch.arange(first.numel(), device=rows.device)
    return first, rank[inverse]


# Cache layer types whose whole per-row state lives on the batch dimension of what ``reorder_cache`` index-selects
# (looked up by name: older transformers releases lack the linear-attention ones).
_REORDERABLE_LAYERS = (
    "DynamicLayer",
    "DynamicSlidingWindowLayer",
    "LinearAttentionLayer",
    "LinearAttentionAndFullAttentionLayer",
    "LinearAttentionAndSlidingWindowAttentionLayer",
    "DummyLayer",  # holds nothing (MLP-only layers, shared-cache consumers)
)


def supports_pruned_sampling(model: torch.nn.Module) -> tuple[bool, str]:
    """Whether :func:`sample_pruned` can sample from ``model`` exactly, and if not, why.

    It needs the model's default cache to be a plain ``DynamicCache`` (not a model-specific cache class) whose layers
    are all of the types in ``_REORDERABLE_LAYERS``, so that dropping or copying rows reorders every piece of state.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    if config is None or getattr(config, "is_encoder_decoder", False):
        return False, f"{type(base).__name__} is not a decoder-only transformers model"
    supports_dynamic = getattr(type(base), "_supports_default_dynamic_cache", None)
    if supports_dynamic is None or not supports_dynamic():
        return False, f"{type(base).__name__} keeps its own cache class, which cannot drop rows"
    try:
        cache = _default_cache(base)
    except Exception as error:  # a config the generic cache cannot read: let `generate` build the right one
        return False, f"no DynamicCache for {type(base).__name__} ({error})"
    unknown = sorted({type(layer).__name__ for layer in cache.layers} - set(_REORDERABLE_LAYERS))
    if unknown:
        return False, f"{type(base).__name__}'s cache has layers that cannot drop rows: {', '.join(unknown)}"
    return True, ""


def _default_cache(model: torch.nn.Module):
    """The cache ``generate`` would build for this model by default."""
    from transformers import DynamicCache

    config = getattr(model, "config", None)
    return DynamicCache(config=config.get_text_config(decoder=True) if config is not None else None)


def cache_keyword(model: torch.nn.Module) -> str:
    """The keyword under which ``model.forward`` takes its KV cache: ``cache`` where transformers renamed it (5.24 on,
    model by model; the old name then warns), else ``past_key_values``. Read from the class of the model under any
    PEFT wrapper, since TRL replaces the instance's ``forward`` with a ``(*args, **kwargs)`` wrapper."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(type(base).forward).parameters else "past_key_values"


def _sample(
    logits: torch.Tensor, temperature: float, batch: int, rows: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """Gumbel-max over ``logits / temperature``: noise is drawn for all ``batch`` original rows, then indexed."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    uniform = torch.rand((batch, logits.size(-1)), generator=generator, device=logits.device)
    gumbel = -torch.log(-torch.log(uniform.clamp(min=1e-20, max=1.0 - 1e-7)))
    return (logits / temperature + gumbel[rows]).argmax(dim=-1)


@contextlib.contextmanager
def hide_model_generation_config(model: Any) -> Iterator[None]:
    """Give every module of ``model`` that owns a ``generation_config`` an empty one until the block ends.

    ``generate`` fills each field its ``generation_config`` argument leaves unset from ``self.generation_config``
    (``GenerationMixin._prepare_generation_config``); with an empty one there, only transformers' global defaults
    (all neutral, top-k aside, which the caller's config sets: TRL's from the run's ``top_k``, the evaluation's to 0)
    are filled in. Wrappers (PEFT, DDP) are covered because the owning module is found among ``model.modules()``; the
    originals are put back afterwards. The trainer generates inside it, and so does
    :func:`latro_trl.evaluation.generate_replies`.
    """
    from transformers import GenerationConfig

    modules = model.modules() if isinstance(model, torch.nn.Module) else [model]
    hidden = [
        (m, vars(m)["generation_config"])
        for m in modules
        if isinstance(vars(m).get("generation_config"), GenerationConfig)
    ]
    try:
        for module, _ in hidden:
            module.generation_config = GenerationConfig()
        yield
    finally:
        for module, original in hidden:
            module.generation_config = original
