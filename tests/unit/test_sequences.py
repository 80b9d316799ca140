"""Cutting rationales, formatting answers and assembling x+z+y (see sequences.py)."""

import functools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from latro_trl.config import DEFAULT_STOP_MARKERS
from latro_trl.sequences import assemble_scoring_batch, cut_rationale, format_answer, turn_end_text
from latro_trl.testing import make_tiny_tokenizer

TOKENIZER = make_tiny_tokenizer()
EOS = TOKENIZER.eos_token_id
decode = functools.partial(TOKENIZER.decode, skip_special_tokens=False)


def encode(text: str) -> list[int]:
    return TOKENIZER(text, add_special_tokens=False)["input_ids"]


def cut(ids, markers=DEFAULT_STOP_MARKERS, max_length=100):
    return cut_rationale(ids, decode=decode, stop_markers=markers, end_token_ids=[EOS], max_length=max_length)


@pytest.mark.parametrize(
    "text, kept",
    [
        ("3 + 5 = 8. The answer is 8.", "3 + 5 = 8."),  # marker after a space: " The" token
        ("3 + 5 = 8.\nThe answer is 8.", "3 + 5 = 8.\n"),  # after a newline: "The" token
        ("The answer is 8.", ""),  # at the very start: empty rationale
        ("so 8.The answer is 8", "so 8."),  # glued to the previous token
        ("First 3. Answer: 8", "First 3. "),  # another marker (the space is its own token here)
        ("We get 8, the answer is 8", "We get 8,"),  # lower-case variant
    ],
)
def test_cut_at_marker_whatever_its_tokenization(text, kept):
    result = cut(encode(text))
    assert result.hit_marker and result.finished
    assert decode(result.ids) == kept


def test_marker_tokenizes_differently_in_context():
    # The premise of text-based matching: the same marker gives different ids after a space and after a newline.
    assert encode(" The answer is")[:1] != encode("\nThe answer is")[-3:-2]


def test_earliest_marker_wins():
    result = cut(encode("Answer: 3. The answer is 8."))
    assert decode(result.ids) == ""


def test_no_marker_before_limit_is_finished_only_if_it_ended():
    ids = encode("3 + 5 = 8 so eight apples")
    assert cut(ids + [EOS]).finished and cut(ids + [EOS]).ids == ids
    unfinished = cut(ids, max_length=len(ids))
    assert not unfinished.finished and not unfinished.hit_marker and unfinished.ids == ids


def test_pad_equal_to_eos_cuts_at_first_eos():
    # pad == eos (as in SmolLM2): generation pads finished rows with EOS; everything from the first one goes.
    ids = encode("3 + 5 = 8") + [EOS, EOS, EOS]
    result = cut(ids)
    assert result.ids == encode("3 + 5 = 8") and result.finished


def test_marker_after_eos_is_ignored():
    ids = encode("3 + 5") + [EOS] + encode(" The answer is 8")
    result = cut(ids)
    assert not result.hit_marker and result.ids == encode("3 + 5")


def test_empty_completion():
    result = cut([], max_length=10)
    assert result.ids == [] and result.finished and not result.hit_marker


def test_empty_rationale_then_eos():
    result = cut([EOS], max_length=10)
    assert result.ids == [] and result.finished


words = st.sampled_from(["3", " +", " 5", " =", " 8", ".", " apples", "\n", " so", " the", " is", " answer", "A"])


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.lists(words, max_size=12),
    marker=st.sampled_from(DEFAULT_STOP_MARKERS),
    sep=st.sampled_from(["", " ", "\n"]),
    suffix=st.lists(words, max_size=6),
)
def test_cut_never_keeps_marker_text_and_never_drops_earlier_tokens(prefix, marker, sep, suffix):
    text = "".join(prefix) + sep + marker + "".join(suffix)
    ids = encode(text)
    result = cut(ids)
    kept = decode(result.ids)
    first = min(i for i in (text.find(m) for m in DEFAULT_STOP_MARKERS) if i >= 0)
    assert result.hit_marker
    assert text.startswith(kept) and len(kept) <= first  # nothing from the marker on
    # the next token would cross into the marker: every token that ends before it was kept
    assert len(decode(ids[: len(result.ids) + 1])) > first


def test_format_answer_spacing():
    assert format_answer("The answer is {answer}.", "18", "so 18.") == " The answer is 18."
    assert format_answer("The answer is {answer}.", " 18 ", "so 18.\n") == "The answer is 18."
    assert format_answer("The answer is {answer}.", "18", "") == "The answer is 18."


def test_turn_end_text_from_chat_template_and_eos_for_plain():
    assert turn_end_text(TOKENIZER, conversational=True) == "<|im_end|>"
    assert turn_end_text(TOKENIZER, conversational=False) == TOKENIZER.eos_token


def test_turn_end_text_llama3_style_template():
    tokenizer = make_tiny_tokenizer()
    tokenizer.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n\n{{ m['content'] }}<|im_end|>{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n\n{% endif %}"
    )
    assert turn_end_text(tokenizer, conversational=True) == "<|im_end|>"


# The assistant-turn parts of four real chat templates (Phi-3.5-mini, Llama-3.1, Mistral-v0.3, Qwen2.5 Instruct), with
# their special tokens and EOS, and the end of turn the model writes after its reply (where it stops).
REAL_TEMPLATES = {
    "phi-3.5": (
        "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}"
        "{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}"
        "{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}"
        "{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}",
        ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"],
        "<|endoftext|>",
        "<|end|>",
    ),
    "llama-3.1": (
        "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + "
        "'<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}",
        ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
        "<|eot_id|>",
        "<|eot_id|>",
    ),
    "mistral-v0.3": (
        "{{- bos_token }}{%- for message in messages %}{%- if message['role'] == 'user' %}"
        "{{- '[INST] ' + message['content'] + '[/INST]' }}{%- elif message['role'] == 'assistant' %}"
        "{{- ' ' + message['content'] + eos_token }}{%- endif %}{%- endfor %}",
        ["<s>", "[INST]", "[/INST]"],
        "</s>",
        "</s>",
    ),
    "qwen2.5": (
        "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + "
        "'\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}",
        ["<|endoftext|>"],
        "<|im_end|>",
        "<|im_end|>",
    ),
}


@pytest.mark.parametrize("name", sorted(REAL_TEMPLATES))
def test_turn_end_text_stops_at_the_first_end_token_of_real_templates(name):
    template, specials, eos, expected = REAL_TEMPLATES[name]
    tokenizer = make_tiny_tokenizer()
    tokenizer.add_special_tokens({"eos_token": eos, "additional_special_tokens": specials})
    if name == "llama-3.1":
        tokenizer.bos_token = "<|begin_of_text|>"
    elif name == "mistral-v0.3":
        tokenizer.bos_token = "<s>"
    tokenizer.chat_template = template
    assert turn_end_text(tokenizer, conversational=True) == expected
    # One token: what the model writes to end its turn, nothing the template adds after it.
    assert len(tokenizer(expected, add_special_tokens=False)["input_ids"]) == 1


def test_turn_end_text_without_special_token_keeps_the_whole_suffix():
    tokenizer = make_tiny_tokenizer()
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n### \n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}"
    )
    assert turn_end_text(tokenizer, conversational=True) == "\n###"


def test_assemble_masks_from_lengths_with_pad_equal_eos():
    pad = EOS
    batch = assemble_scoring_batch(
        prompt_ids=[[1, 2, 3], [4]],
        rationale_ids=[[5, 6], []],
        answer_ids=[[7, EOS], [8, 9, EOS]],
        pad_token_id=pad,
    )
    assert batch.prompt_ids.tolist() == [[1, 2, 3], [pad, pad, 4]]
    assert batch.prompt_mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert batch.completion_ids.tolist() == [[5, 6, 7, EOS], [8, 9, EOS, pad]]
    assert batch.completion_mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]  # the answer's EOS is attended, pad is not
    assert batch.rationale_mask.tolist() == [[True, True, False, False], [False] * 4]
    assert batch.answer_mask.tolist() == [[False, False, True, True], [True, True, True, False]]
    assert batch.rationale_mask.dtype == torch.bool


def test_assemble_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="one entry per sequence"):
        assemble_scoring_batch([[1]], [[2], [3]], [[4]], pad_token_id=0)
