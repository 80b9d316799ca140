"""Batched, left-padded generation for evaluation: prompts in, decoded replies out."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch

from ..markers import RATIONALE_LIMIT, end_of_turn_ids
from ..sampling import hide_model_generation_config
from .batch_log import BatchLog, model_fingerprint

Prompt = str | Sequence[Mapping[str, str]]

ANSWER_ROOM = 32
"""Tokens allowed beyond the training rationale limit for the answer sentence ("The answer is 1,234.") and its end."""


def default_max_new_tokens(max_completion_length: int | None = None) -> int:
    """The default reply limit of an evaluation: the training rationale limit plus :data:`ANSWER_ROOM`.

    Args:
        max_completion_length: the rationale limit L the model was trained with; ``None`` takes
            :data:`latro_trl.markers.RATIONALE_LIMIT` (the paper's 500, ``LaTROConfig``'s default), so a model trained
            at that limit is never cut short when evaluated.
    """
    if max_completion_length is None:
        max_completion_length = RATIONALE_LIMIT
    return int(max_completion_length) + ANSWER_ROOM


class Reply(NamedTuple):
    """One generated reply.

    Attributes:
        text: the decoded reply, cut before the first end token, special tokens removed.
        finished: whether it ended with an end token (``False``: it ran into ``max_new_tokens``).
        num_tokens: the reply's length in tokens (without the end token).
    """

    text: str
    finished: bool
    num_tokens: int


def render_prompt(tokenizer: Any, prompt: Prompt) -> tuple[str, bool]:
    """The prompt as text: conversations through the chat template with the generation prompt, strings as they are.

    Returns:
        ``(text, is_chat)``; chat text already holds any BOS the template writes, so it is tokenized without
        special tokens.
    """
    if isinstance(prompt, str):
        return prompt, False
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(
            "the prompt is a conversation but the tokenizer has no chat_template; set "
            "tokenizer.chat_template or pass plain-string prompts."
        )
    text = tokenizer.apply_chat_template(list(prompt), add_generation_prompt=True, tokenize=False)
    return text, True


# Every field that changes which token is picked, at its neutral value. transformers fills each field a
# GenerationConfig leaves unset (None) from the model's own generation_config (Qwen2.5-Instruct ships
# repetition_penalty=1.05, top_k=20, top_p=0.8), so these are set explicitly. Fields whose neutral value is None
# (bad_words_ids, suppress_tokens, sequence_bias, min_p, min_new_tokens, forced_*_token_id, stop_strings, ...)
# cannot be, which is why ``hide_model_generation_config`` also hides the model's own config during ``generate``.
_NEUTRAL = {
    "num_beams": 1,
    "min_length": 0,
    "repetition_penalty": 1.0,
    "encoder_repetition_penalty": 1.0,
    "length_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0,
    "remove_invalid_values": False,
    "renormalize_logits": False,
}
# Sampling warpers (only read when sampling; set only then, since transformers warns about them when greedy).
_PURE_SAMPLING = {
    "temperature": 1.0,
    "top_k": 0,
    "top_p": 1.0,
    "typical_p": 1.0,
    "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0,
}


def _pure_generation_config(
    *,
    do_sample: bool,
    max_new_tokens: int,
    eos_token_id: int | list[int],
    pad_token_id: int,
    num_return_sequences: int = 1,
) -> Any:
    """A fresh ``GenerationConfig`` for exact greedy decoding or pure sampling (temperature 1, nothing else).

    It is built from scratch, never from ``model.generation_config``, and sets every logits-processing field to its
    neutral value. Pass it to ``generate`` inside :func:`~latro_trl.sampling.hide_model_generation_config`, which stops transformers from
    filling the fields left unset from the model's own generation config.
    """
    from transformers import GenerationConfig

    return GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=do_sample,
        num_return_sequences=num_return_sequences,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        use_cache=True,
        **_NEUTRAL,
        **(_PURE_SAMPLING if do_sample else {}),
    )


def _rng_scope(device: torch.device) -> contextlib.AbstractContextManager:
    """Seeded sampling without disturbing the caller's (e.g. a training run's) random state."""
    devices = [device.index or 0] if device.type == "cuda" else []
    return torch.random.fork_rng(devices=devices)


def _left_pad(batch: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ids in enumerate(batch):
        if ids:
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, width - len(ids) :] = 1
    return input_ids.to(device), attention_mask.to(device)


def generate_replies(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    *,
    num_return_sequences: int = 1,
    do_sample: bool = False,
    max_new_tokens: int | None = None,
    batch_size: int = 16,
    seed: int = 0,
    progress: bool = False,
    desc: str = "generating",
    resume_file: str | os.PathLike[str] | None = None,
) -> list[list[Reply]]:
    """Generate replies for many prompts in left-padded batches.

    The attention mask comes from the prompt lengths, never from comparing ids with the pad id, so a pad token that
    equals EOS (SmolLM2, the tiny test tokenizer) is handled. Prompts are batched longest first to waste little
    padding; results come back in input order. Decoding is exactly what it claims for every model: the model's own
    ``generation_config`` (repetition penalty, top-k/top-p, no-repeat n-grams, suppressed tokens, ...) is ignored,
    so greedy is the plain argmax and sampling draws from the model's distribution (temperature 1, no top-k/top-p,
    no penalties). Sampling is seeded inside a forked RNG, so the caller's random state is untouched.

    Args:
        model: a causal LM (``transformers`` or PEFT); left in whatever mode it is in.
        tokenizer: its tokenizer; conversations use its chat template.
        prompts: plain strings or conversations (lists of ``{"role", "content"}``).
        num_return_sequences: replies per prompt.
        do_sample: sample (``True``) or decode greedily.
        max_new_tokens: the reply length limit; ``None``: :func:`default_max_new_tokens` (the training limit + 32).
        batch_size: sequences per ``generate`` call (``batch_size // num_return_sequences`` prompts, at least one).
        seed: the sampling seed.
        progress: show a tqdm bar.
        desc: the bar's label.
        resume_file: if given, each finished batch is logged there; a call stopped part way (Ctrl-C, a kill)
            and made again with the same model, prompts and settings skips the logged batches and returns the same
            replies as an uninterrupted call. The caller deletes the file when it no longer needs it.

    Returns:
        For each prompt, its ``num_return_sequences`` replies.
    """
    from tqdm.auto import tqdm

    if max_new_tokens is None:
        max_new_tokens = default_max_new_tokens()
    if num_return_sequences < 1 or batch_size < 1 or max_new_tokens < 1:
        raise ValueError(
            "num_return_sequences, batch_size and max_new_tokens must all be >= 1, got "
            f"{num_return_sequences}, {batch_size}, {max_new_tokens}"
        )
    ends = end_of_turn_ids(tokenizer, model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else ends[0]
    encoded = []
    for prompt in prompts:
        text, is_chat = render_prompt(tokenizer, prompt)
        encoded.append(tokenizer(text, add_special_tokens=not is_chat)["input_ids"])
    config = _pure_generation_config(
        do_sample=do_sample,
        max_new_tokens=max_new_tokens,
        eos_token_id=ends,
        pad_token_id=pad_id,
        num_return_sequences=num_return_sequences,
    )
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    per_call = max(1, batch_size // num_return_sequences)
    batches = [order[i : i + per_call] for i in range(0, len(order), per_call)]
    device = next(model.parameters()).device
    end_set = set(ends)
    log = None
    if resume_file is not None:
        settings = [encoded, sorted(config.to_dict().items(), key=str), batch_size, seed]
        fingerprint = hashlib.sha256(json.dumps([model_fingerprint(model), settings], default=str).encode()).hexdigest()
        log = BatchLog(resume_file, fingerprint)
    results: list[list[Reply]] = [[] for _ in prompts]
    with _rng_scope(device), torch.no_grad(), hide_model_generation_config(model):
        torch.manual_seed(seed)
        done = log.resume(device) if log is not None else []  # restores the random state after the last logged batch
        if done and progress:
            tqdm.write(f"{desc}: resuming after {len(done)} of {len(batches)} batches logged in {resume_file}")
        for index, batch in enumerate(tqdm(batches, desc=desc, disable=not progress, unit="batch")):
            if index < len(done):
                replies = [Reply(*reply) for reply in done[index]]
            else:
                input_ids, attention_mask = _left_pad([encoded[i] for i in batch], pad_id, device)
                output = model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config)
                replies = [_reply(tokens, tokenizer, end_set) for tokens in output[:, input_ids.shape[1] :].tolist()]
                if log is not None:
                    log.append(index, [list(reply) for reply in replies], device)
            for row, reply in enumerate(replies):
                results[batch[row // num_return_sequences]].append(reply)
    return results


def _reply(tokens: list[int], tokenizer: Any, end_set: set[int]) -> Reply:
    stop = next((j for j, token in enumerate(tokens) if token in end_set), None)
    kept = tokens if stop is None else tokens[:stop]
    return Reply(tokenizer.decode(kept, skip_special_tokens=True), stop is not None, len(kept))
