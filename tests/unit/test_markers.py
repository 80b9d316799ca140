"""The answer's framing in markers.py: template, stop and answer markers, the end of a turn."""

from types import SimpleNamespace

import pytest

from latro_trl.markers import ANSWER_MARKERS, STOP_MARKERS, answer_text, end_of_turn_ids, turn_end_text
from latro_trl.testing import make_tiny_tokenizer

TOKENIZER = make_tiny_tokenizer()


def test_answer_markers_are_the_stop_markers_without_case_variants():
    assert ANSWER_MARKERS == ("The answer is", "The final answer is", "Answer:")
    assert {m.casefold() for m in ANSWER_MARKERS} == {m.casefold() for m in STOP_MARKERS}


def test_answer_text_spacing():
    assert answer_text("18", after="so 18.") == " The answer is 18."
    assert answer_text(" 18 ", after="so 18.\n") == "The answer is 18."
    assert answer_text("18") == "The answer is 18."
    assert answer_text("B", template="Answer: {answer}", after="so") == " Answer: B"


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


def _tokenizer_with(name):
    """A tiny tokenizer with a real model's special tokens, EOS and chat template."""
    template, specials, eos, _ = REAL_TEMPLATES[name]
    tokenizer = make_tiny_tokenizer()
    tokenizer.add_special_tokens({"eos_token": eos, "additional_special_tokens": specials})
    tokenizer.bos_token = {"llama-3.1": "<|begin_of_text|>", "mistral-v0.3": "<s>"}.get(name, tokenizer.bos_token)
    tokenizer.chat_template = template
    return tokenizer


@pytest.mark.parametrize("name", sorted(REAL_TEMPLATES))
def test_turn_end_text_stops_at_the_first_end_token_of_real_templates(name):
    expected = REAL_TEMPLATES[name][3]
    tokenizer = _tokenizer_with(name)
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


def test_end_of_turn_ids_add_the_templates_turn_end_to_eos():
    tokenizer = _tokenizer_with("phi-3.5")  # EOS <|endoftext|>, but a reply ends with <|end|>
    ids = end_of_turn_ids(tokenizer)
    assert ids == [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|end|>")]


def test_end_of_turn_ids_take_the_models_generation_eos_and_no_duplicates():
    tokenizer = _tokenizer_with("qwen2.5")  # EOS is the turn end itself
    model = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=[tokenizer.eos_token_id, 5]))
    assert end_of_turn_ids(tokenizer, model) == [tokenizer.eos_token_id, 5]


def test_end_of_turn_ids_without_chat_template_is_eos_only():
    tokenizer = make_tiny_tokenizer()
    tokenizer.chat_template = None
    assert end_of_turn_ids(tokenizer) == [tokenizer.eos_token_id]
