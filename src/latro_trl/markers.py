"""The strings that frame an answer, in one home: its template, the markers that introduce it, the end of a turn.

Training, data preparation and evaluation all read them from here, so that a model is scored, trained and evaluated
on the same boundaries:

- a rationale is cut at the first of :data:`STOP_MARKERS` (matched as written, so both capitalisations are listed);
- the gold answer ``y`` is :func:`answer_text`, closed by :func:`turn_end_text`;
- evaluation reads the answer after the last of :data:`ANSWER_MARKERS` (matched case-insensitively) and stops a reply
  at :func:`end_of_turn_ids`.
"""

from __future__ import annotations

from typing import Any

ANSWER_TEMPLATE = "The answer is {answer}."
"""How the gold answer ``y`` is written after a rationale (the SFT completion uses it too)."""

STOP_MARKERS: tuple[str, ...] = ("The answer is", "the answer is", "The final answer is", "Answer:")
"""Where a rationale ends: the first occurrence of any of these (case-sensitive, as ``stop_strings`` match)."""

RATIONALE_LIMIT = 500
"""The paper's rationale limit L in tokens: ``LaTROConfig.max_completion_length``'s default, and what evaluation
assumes a model was trained with when it is not told (its reply limit adds room for the answer sentence)."""

ANSWER_MARKERS: tuple[str, ...] = tuple(
    marker
    for i, marker in enumerate(STOP_MARKERS)
    if all(marker.casefold() != earlier.casefold() for earlier in STOP_MARKERS[:i])
)
"""The stop markers without case variants: answer extraction matches them case-insensitively."""

_SENTINEL = "\x00LATRO_SENTINEL\x00"


def answer_text(answer: str, template: str = ANSWER_TEMPLATE, after: str = "") -> str:
    """The answer ``y`` written in ``template``, e.g. ``"18"`` -> ``"The answer is 18."``.

    Args:
        answer: the gold answer.
        template: a string with an ``{answer}`` field.
        after: the rationale it follows. When that does not end in whitespace a space is put in front, so that ``y``
            is tokenized the way the model would have written it after the rationale (``" The"``, not ``"The"``).
    """
    text = template.format(answer=str(answer).strip())
    if after and not after[-1].isspace():
        text = " " + text
    return text


def turn_end_text(tokenizer: Any, conversational: bool) -> str:
    """Text that closes an assistant turn in ``tokenizer``'s chat template (e.g. ``"<|im_end|>"``), or its EOS.

    Found by rendering a conversation whose assistant message is a sentinel and reading what the template puts right
    after it, up to and including the first special token: the model stops at that token, so whatever a template
    writes after it (Phi-3.5: ``"<|end|>\n<|endoftext|>"``, the EOS that closes the whole conversation) is never
    generated at that point and must not be scored or trained as part of the answer. Trailing whitespace (the
    separator before a next turn) is dropped.
    """
    if conversational and getattr(tokenizer, "chat_template", None) is not None:
        messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": _SENTINEL}]
        rendered = tokenizer.apply_chat_template(messages, tokenize=False)
        if _SENTINEL in rendered:
            suffix = _through_first_special_token(rendered.split(_SENTINEL, 1)[1], tokenizer).rstrip()
            if suffix:
                return suffix
    if tokenizer.eos_token is None:
        raise ValueError(
            "The tokenizer has neither a chat template that closes assistant turns nor an EOS token, so the answer "
            "cannot be terminated. Set `tokenizer.eos_token`."
        )
    return tokenizer.eos_token


def end_of_turn_ids(tokenizer: Any, model: Any = None) -> list[int]:
    """Token ids that end a reply: the tokenizer's EOS, the model's generation EOS(s) (as TRL's trainers use), and
    the special token that closes an assistant turn in the chat template (see :func:`turn_end_text`)."""
    candidates: list[Any] = [tokenizer.eos_token_id]
    generation_config = getattr(model, "generation_config", None)
    if generation_config is not None:
        eos = generation_config.eos_token_id
        candidates.extend(eos if isinstance(eos, list | tuple) else [eos])
    if getattr(tokenizer, "chat_template", None) is not None:
        closing = tokenizer(turn_end_text(tokenizer, conversational=True), add_special_tokens=False)["input_ids"]
        special_ids = set(tokenizer.convert_tokens_to_ids(sorted(_special_tokens(tokenizer))))
        candidates.extend(i for i in closing if i in special_ids)
    ids = list(dict.fromkeys(i for i in candidates if isinstance(i, int)))
    if not ids:
        raise ValueError("Found no end-of-sequence token; set tokenizer.eos_token (e.g. '<|im_end|>').")
    return ids


def _special_tokens(tokenizer: Any) -> set[str]:
    specials = set(getattr(tokenizer, "all_special_tokens", []))
    decoder = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    return specials | {token.content for token in decoder.values() if token.special}


def _through_first_special_token(text: str, tokenizer: Any) -> str:
    """``text`` up to the end of the earliest special token in it (all of it when it has none)."""
    found = [(start, -len(t), t) for t in _special_tokens(tokenizer) if t and (start := text.find(t)) >= 0]
    if not found:
        return text
    start, _, token = min(found)  # the earliest; of two starting there, the longer
    return text[: start + len(token)]
