"""Cutting rationales and assembling x+z+y (see sequences.py)."""

import functools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from latro_trl.markers import STOP_MARKERS
from latro_trl.sequences import assemble_scoring_batch, cut_rationale
from latro_trl.testing import make_tiny_tokenizer

TOKENIZER = make_tiny_tokenizer()
EOS = TOKENIZER.eos_token_id
decode = functools.partial(TOKENIZER.decode, skip_special_tokens=False)


def encode(text: str) -> list[int]:
    return TOKENIZER(text, add_special_tokens=False)["input_ids"]


def cut(ids, markers=STOP_MARKERS, max_length=100):
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
    marker=st.sampled_from(STOP_MARKERS),
    sep=st.sampled_from(["", " ", "\n"]),
    suffix=st.lists(words, max_size=6),
)
def test_cut_never_keeps_marker_text_and_never_drops_earlier_tokens(prefix, marker, sep, suffix):
    text = "".join(prefix) + sep + marker + "".join(suffix)
    ids = encode(text)
    result = cut(ids)
    kept = decode(result.ids)
    first = min(i for i in (text.find(m) for m in STOP_MARKERS) if i >= 0)
    assert result.hit_marker
    assert text.startswith(kept) and len(kept) <= first  # nothing from the marker on
    # the next token would cross into the marker: every token that ends before it was kept
    assert len(decode(ids[: len(result.ids) + 1])) > first


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
