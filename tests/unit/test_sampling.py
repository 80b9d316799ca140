"""sample_pruned: the same completions as transformers' generate, with finished rows dropped from the batch."""

import pytest
import torch
from transformers import GenerationConfig, StopStringCriteria

from latro_trl import sampling
from latro_trl.sampling import sample_pruned, supports_pruned_sampling
from latro_trl.testing import HYBRID_FAMILIES, make_tiny_hybrid_model, make_tiny_model, make_tiny_tokenizer

TOKENIZER = make_tiny_tokenizer()
MODEL = make_tiny_model(TOKENIZER, seed=4).eval()
PROMPTS = ["Tom has 3 apples", "A shop sells 12 pens for $4 each. Then", "0 1 2", "Let's think step by step. First"]
MAX_NEW = 16


def _batch(prompts=PROMPTS):
    encoded = [TOKENIZER(p, add_special_tokens=False)["input_ids"] for p in prompts]
    width = max(map(len, encoded))
    pad = TOKENIZER.pad_token_id
    input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in encoded])
    mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded])
    return input_ids, mask


def _generate(input_ids, mask, end_ids, model=MODEL, **kwargs):
    config = GenerationConfig(
        do_sample=False, max_new_tokens=MAX_NEW, eos_token_id=list(end_ids), pad_token_id=TOKENIZER.pad_token_id
    )
    with torch.no_grad():
        out = model.generate(input_ids=input_ids, attention_mask=mask, generation_config=config, **kwargs)
    completions = []
    for row in out[:, input_ids.size(1) :].tolist():
        ends = [i for i, token in enumerate(row) if token in end_ids]
        completions.append(row[: ends[0] + 1] if ends else row)
    return completions


def _end_ids_that_finish_rows_early():
    """Tokens the greedy model writes early in some rows and late or never in others, so that rows end apart."""
    input_ids, mask = _batch()
    free = _generate(input_ids, mask, [TOKENIZER.eos_token_id])
    return [TOKENIZER.eos_token_id, free[0][3], free[2][7]]


def test_greedy_equals_generate_with_rows_ending_at_different_steps():
    input_ids, mask = _batch()
    end_ids = _end_ids_that_finish_rows_early()
    expected = _generate(input_ids, mask, end_ids)
    assert len({len(c) for c in expected}) > 1  # rows really end apart: pruning happens
    got = sample_pruned(MODEL, input_ids, mask, max_new_tokens=MAX_NEW, end_token_ids=end_ids, temperature=0)
    assert got == expected


def test_stop_strings_cut_each_greedy_row_where_the_criterion_first_fires():
    input_ids, mask = _batch()
    free = _generate(input_ids, mask, [TOKENIZER.eos_token_id])
    # A marker the greedy model writes in row 1: a printable piece of its text (random weights also write bytes that
    # decode to replacement characters, which no stop string matches).
    marker = next(text for token in free[1][3:] if (text := TOKENIZER.decode([token]).strip()).isprintable() and text)
    criterion = StopStringCriteria(TOKENIZER, [marker])
    got = sample_pruned(
        MODEL,
        input_ids,
        mask,
        max_new_tokens=MAX_NEW,
        end_token_ids=[TOKENIZER.eos_token_id],
        temperature=0,
        stopping_criteria=[criterion],
    )
    for prompt, row, completion in zip(input_ids.tolist(), free, got, strict=True):
        fires = [k for k in range(1, len(row) + 1) if criterion(torch.tensor([prompt + row[:k]]), None).item()]
        assert completion == (row[: fires[0]] if fires else row)
    assert len(got[1]) < len(free[1])  # row 1 really stopped at the marker


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_pruning_does_not_change_the_samples(temperature):
    input_ids, mask = _batch(PROMPTS * 2)
    end_ids = list(range(0, len(TOKENIZER), 7))  # one token in 7 ends a row: rows end at scattered steps

    def run(prune):
        generator = torch.Generator().manual_seed(11)
        return sample_pruned(
            MODEL,
            input_ids,
            mask,
            max_new_tokens=MAX_NEW,
            end_token_ids=end_ids,
            temperature=temperature,
            generator=generator,
            prune=prune,
        )

    pruned, full = run(True), run(False)
    assert pruned == full
    assert len({len(c) for c in pruned}) > 1


def test_samples_follow_the_softmax_of_the_logits():
    # Gumbel-max is an exact sampler: the first token's frequencies over many rows match softmax(logits / T).
    temperature, n = 0.8, 6000
    input_ids, mask = _batch([PROMPTS[0]])
    with torch.no_grad():
        probs = torch.softmax(MODEL(input_ids=input_ids, attention_mask=mask).logits[0, -1] / temperature, -1)
    generator = torch.Generator().manual_seed(0)
    first = sample_pruned(
        MODEL,
        input_ids.repeat(n, 1),
        mask.repeat(n, 1),
        max_new_tokens=1,
        end_token_ids=[TOKENIZER.eos_token_id],
        temperature=temperature,
        generator=generator,
    )
    counts = torch.bincount(torch.tensor([c[0] for c in first]), minlength=probs.numel()).float()
    top = probs.topk(5).indices
    stderr = (probs[top] * (1 - probs[top]) / n).sqrt()
    assert ((counts[top] / n - probs[top]).abs() <= 5 * stderr + 1e-3).all()


def test_no_deprecation_warning_for_the_kv_cache_keyword_also_under_peft():
    """transformers 5.24 renamed ``past_key_values`` to ``cache`` (model by model) and warns on the old name."""
    import warnings

    from peft import LoraConfig, get_peft_model

    from latro_trl.sampling import cache_keyword

    lora = get_peft_model(
        make_tiny_model(TOKENIZER), LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM")
    ).eval()
    input_ids, mask = _batch()
    for model in (MODEL, lora):
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            sample_pruned(model, input_ids, mask, max_new_tokens=4, end_token_ids=[TOKENIZER.eos_token_id])
    assert cache_keyword(lora) == cache_keyword(MODEL)  # read through the PEFT wrapper


def test_rows_with_the_same_prompt_share_one_prefill_and_still_draw_their_own_samples():
    repeats = 3  # TRL's layout: each prompt K times in a row
    input_ids, mask = _batch([p for p in PROMPTS for _ in range(repeats)])
    prefill_rows = []
    hook = MODEL.register_forward_pre_hook(
        lambda module, args, kwargs: prefill_rows.append(kwargs["input_ids"].shape), with_kwargs=True
    )
    try:
        greedy = sample_pruned(
            MODEL, input_ids, mask, max_new_tokens=MAX_NEW, end_token_ids=[TOKENIZER.eos_token_id], temperature=0
        )
    finally:
        hook.remove()
    assert prefill_rows[0] == (len(PROMPTS), input_ids.size(1))  # one prefill row per distinct prompt
    assert greedy == _generate(input_ids, mask, [TOKENIZER.eos_token_id])  # the copies decode like the originals
    sampled = sample_pruned(
        MODEL,
        input_ids,
        mask,
        max_new_tokens=MAX_NEW,
        end_token_ids=[TOKENIZER.eos_token_id],
        generator=torch.Generator().manual_seed(3),
    )
    groups = [sampled[i : i + repeats] for i in range(0, len(sampled), repeats)]
    assert all(len({tuple(c) for c in group}) > 1 for group in groups)  # each copy draws its own noise


def test_distinct_rows_maps_every_row_to_its_first_occurrence():
    from latro_trl.sampling import distinct_rows

    rows = torch.tensor([[5, 1], [2, 2], [5, 1], [0, 9], [2, 2], [2, 2]])
    first, copy_of = distinct_rows(rows)
    assert first.tolist() == [0, 1, 3]
    assert copy_of.tolist() == [0, 1, 0, 2, 1, 1]
    assert torch.equal(rows[first][copy_of], rows)


@pytest.mark.parametrize("family", sorted(HYBRID_FAMILIES))
def test_hybrid_cache_families_sample_exactly(family):
    """Convolution, linear-attention and state-space states are dropped and copied with the rows: greedy equals
    `generate` with rows ending apart, and pruning does not change the samples (repeated prompts: shared prefill)."""
    model = make_tiny_hybrid_model(family, TOKENIZER, seed=4).eval()
    assert supports_pruned_sampling(model) == (True, "")
    input_ids, mask = _batch(PROMPTS * 2)
    free = _generate(input_ids, mask, [TOKENIZER.eos_token_id], model=model)
    end_ids = [TOKENIZER.eos_token_id, free[0][3], free[2][9]]
    expected = _generate(input_ids, mask, end_ids, model=model)
    assert len({len(c) for c in expected}) > 1  # rows really end apart: pruning happens
    assert sample_pruned(model, input_ids, mask, max_new_tokens=MAX_NEW, end_token_ids=end_ids, temperature=0) == (
        expected
    )
    runs = [
        sample_pruned(
            model,
            input_ids,
            mask,
            max_new_tokens=MAX_NEW,
            end_token_ids=end_ids,
            temperature=1.0,
            generator=torch.Generator().manual_seed(3),
            prune=prune,
        )
        for prune in (True, False)
    ]
    assert runs[0] == runs[1]


def test_models_whose_cache_cannot_drop_rows_are_left_to_generate(monkeypatch):
    class OwnCacheLlama(type(MODEL)):
        @classmethod
        def _supports_default_dynamic_cache(cls):
            return False

    supported, reason = supports_pruned_sampling(OwnCacheLlama(MODEL.config))
    assert not supported and "its own cache class" in reason
    lfm2 = make_tiny_hybrid_model("lfm2", TOKENIZER)
    assert supports_pruned_sampling(lfm2) == (True, "")
    # A layer type the sampler does not know how to reorder (here: pretend the convolution layers are unknown).
    monkeypatch.setattr(sampling, "_REORDERABLE_LAYERS", ("DynamicLayer",))
    supported, reason = supports_pruned_sampling(lfm2)
    assert not supported and "LinearAttentionLayer" in reason
