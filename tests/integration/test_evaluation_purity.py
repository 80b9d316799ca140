"""Evaluation decoding ignores the model's own generation_config (issue #13, item 4).

transformers fills every field a GenerationConfig leaves unset from ``model.generation_config``; chat models ship
repetition penalties, top-k/top-p and more there (Qwen2.5-Instruct: repetition_penalty=1.05, top_k=20, top_p=0.8).
Greedy must still be the plain argmax and maj@k must sample the model's own distribution.
"""

import copy

import pytest
import torch
from transformers import AutoModelForCausalLM, GenerationConfig

from latro_trl.evaluation import generate_replies
from latro_trl.evaluation.generation import Reply, render_prompt
from latro_trl.markers import end_of_turn_ids
from latro_trl.testing import make_tiny_model, make_tiny_tokenizer

PROMPTS = [
    [{"role": "user", "content": "Tom has 3 apples and buys 5 more. How many apples does he have?"}],
    "Question: What is 2 + 2?\nAnswer:",
    [{"role": "user", "content": "the the the the the"}],
]
MAX_NEW_TOKENS = 24

# What a chat model's generation_config.json may hold, exaggerated so that a tiny random model's output changes.
SHIPPED = dict(
    do_sample=True,
    temperature=0.7,
    top_k=5,
    top_p=0.8,
    min_p=0.05,
    typical_p=0.9,
    repetition_penalty=1.5,
    no_repeat_ngram_size=2,
    min_new_tokens=4,
)


@pytest.fixture(scope="module")
def tokenizer():
    return make_tiny_tokenizer()


@pytest.fixture(scope="module")
def clean_model(tokenizer):
    return make_tiny_model(tokenizer, seed=3).eval()


@pytest.fixture(scope="module")
def shipped_model(clean_model, tokenizer, tmp_path_factory):
    """The same weights, saved and reloaded with a generation_config.json like the ones chat models ship."""
    folder = tmp_path_factory.mktemp("shipped")
    model = copy.deepcopy(clean_model)
    model.generation_config = GenerationConfig(
        **SHIPPED,
        suppress_tokens=[tokenizer.convert_tokens_to_ids("7")],
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(folder)
    loaded = AutoModelForCausalLM.from_pretrained(folder).eval()
    assert loaded.generation_config.repetition_penalty == 1.5 and loaded.generation_config.top_k == 5
    return loaded


def _argmax_replies(model, tokenizer, prompts, max_new_tokens):
    """Greedy decoding by hand: one prompt at a time, full forward pass per token, argmax of the raw logits."""
    ends = set(end_of_turn_ids(tokenizer, model))
    replies = []
    for prompt in prompts:
        text, is_chat = render_prompt(tokenizer, prompt)
        ids = tokenizer(text, add_special_tokens=not is_chat)["input_ids"]
        new, finished = [], False
        with torch.no_grad():
            for _ in range(max_new_tokens):
                token = int(model(torch.tensor([ids + new])).logits[0, -1].argmax())
                if token in ends:
                    finished = True
                    break
                new.append(token)
        replies.append(Reply(tokenizer.decode(new, skip_special_tokens=True), finished, len(new)))
    return replies


def _spy_processors(model, monkeypatch):
    """Record the logits processors transformers builds for each generate call on ``model``."""
    built = []
    original = model._get_logits_processor

    def spy(*args, **kwargs):
        processors = original(*args, **kwargs)
        built.append([type(p).__name__ for p in processors])
        return processors

    monkeypatch.setattr(model, "_get_logits_processor", spy)
    return built


def test_the_shipped_config_would_change_a_naive_greedy_call(shipped_model, clean_model, tokenizer):
    """Sanity: a fresh GenerationConfig passed to generate still picks up the model's penalties (the trap)."""
    text, is_chat = render_prompt(tokenizer, PROMPTS[2])
    input_ids = torch.tensor([tokenizer(text, add_special_tokens=not is_chat)["input_ids"]])
    config = GenerationConfig(
        max_new_tokens=MAX_NEW_TOKENS,
        do_sample=False,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    naive = shipped_model.generate(input_ids, attention_mask=torch.ones_like(input_ids), generation_config=config)
    clean = clean_model.generate(input_ids, attention_mask=torch.ones_like(input_ids), generation_config=config)
    assert naive.tolist() != clean.tolist()


def test_greedy_is_the_plain_argmax_whatever_the_model_ships(shipped_model, clean_model, tokenizer, monkeypatch):
    built = _spy_processors(shipped_model, monkeypatch)
    replies = generate_replies(shipped_model, tokenizer, PROMPTS, max_new_tokens=MAX_NEW_TOKENS, batch_size=1)
    assert [r[0] for r in replies] == _argmax_replies(clean_model, tokenizer, PROMPTS, MAX_NEW_TOKENS)
    # Batched (left-padded) greedy gives the same on both models too.
    batched = generate_replies(shipped_model, tokenizer, PROMPTS, max_new_tokens=MAX_NEW_TOKENS, batch_size=4)
    assert batched == generate_replies(clean_model, tokenizer, PROMPTS, max_new_tokens=MAX_NEW_TOKENS, batch_size=4)
    assert built and all(processors == [] for processors in built), built


def test_sampling_draws_from_the_model_itself(shipped_model, clean_model, tokenizer, monkeypatch):
    built = _spy_processors(shipped_model, monkeypatch)
    settings = dict(num_return_sequences=4, do_sample=True, max_new_tokens=MAX_NEW_TOKENS, batch_size=8, seed=5)
    sampled = generate_replies(shipped_model, tokenizer, PROMPTS, **settings)
    # No repetition penalty, no top-k/top-p/min-p/typical-p, no temperature 0.7, no suppressed tokens, no minimum.
    assert built and all(processors == [] for processors in built), built
    # A model with a clean (default) generation_config draws exactly the same samples from the same seed.
    default = copy.deepcopy(clean_model)
    default.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id)
    assert sampled == generate_replies(default, tokenizer, PROMPTS, **settings)


def test_the_model_keeps_its_generation_config(shipped_model, tokenizer):
    before = shipped_model.generation_config
    generate_replies(shipped_model, tokenizer, PROMPTS[:1], max_new_tokens=4)
    assert shipped_model.generation_config is before and before.repetition_penalty == 1.5

    class Boom(Exception):
        pass

    def failing_generate(*args, **kwargs):
        assert shipped_model.generation_config.repetition_penalty is None  # hidden during the call
        raise Boom

    shipped_model.generate = failing_generate
    try:
        with pytest.raises(Boom):
            generate_replies(shipped_model, tokenizer, PROMPTS[:1], max_new_tokens=4)
    finally:
        del shipped_model.generate
    assert shipped_model.generation_config is before


def test_peft_model_ignores_the_base_models_generation_config(shipped_model, clean_model, tokenizer):
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(copy.deepcopy(shipped_model), LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    replies = generate_replies(peft_model, tokenizer, PROMPTS, max_new_tokens=MAX_NEW_TOKENS, batch_size=1)
    assert [r[0] for r in replies] == _argmax_replies(clean_model, tokenizer, PROMPTS, MAX_NEW_TOKENS)
    assert peft_model.get_base_model().generation_config.repetition_penalty == 1.5
