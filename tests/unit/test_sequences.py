"""Cutting rationales and assembling x+z+y (see sequences.py)."""

import functools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from latro_trl.markers import STOP_MARKERS
from latro_trl.sequences import assemble_scoring_batch, cut_rationale, length_groups
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


def _positions(groups, prompt_lengths, completion_lengths):
    """Positions computed by one padded forward pass per group."""
    return sum(
        len(rows) * (max(prompt_lengths[r] for r in rows) + max(completion_lengths[r] for r in rows)) for rows in groups
    )


def _contiguous_partitions(items, parts):
    if parts == 1:
        yield [items]
        return
    for cut in range(1, len(items) - parts + 2):
        for rest in _contiguous_partitions(items[cut:], parts - 1):
            yield [items[:cut], *rest]


def test_length_groups_by_hand():
    # completions 10, 2, 11, 3 (prompts all 5): {1, 3} then {0, 2} covers 2*(5+3) + 2*(5+11) = 48 positions, not 64.
    groups = length_groups([5, 5, 5, 5], [10, 2, 11, 3], max_groups=2)
    assert [sorted(g) for g in groups] == [[1, 3], [0, 2]]
    assert _positions(groups, [5] * 4, [10, 2, 11, 3]) == 48
    assert length_groups([5, 5, 5, 5], [10, 2, 11, 3], max_groups=1) == [[1, 3, 0, 2]]


def test_length_groups_prefers_fewer_passes_when_splitting_saves_little():
    assert len(length_groups([4] * 6, [7] * 6, max_groups=4)) == 1  # equal lengths: nothing to save
    # 100 vs 99: a split would save 1% of the positions, under the 5% slack
    assert len(length_groups([10] * 4, [99, 99, 100, 100], max_groups=4)) == 1
    assert len(length_groups([10] * 4, [99, 99, 100, 100], max_groups=4, slack=0.0)) == 2


@pytest.mark.parametrize("seed", range(20))
def test_length_groups_is_the_best_cut_of_the_sorted_rows(seed):
    generator = torch.Generator().manual_seed(seed)
    n = int(torch.randint(1, 8, (1,), generator=generator))
    prompt_lengths = torch.randint(1, 30, (n,), generator=generator).tolist()
    completion_lengths = torch.randint(1, 60, (n,), generator=generator).tolist()
    max_groups = int(torch.randint(1, 5, (1,), generator=generator))
    groups = length_groups(prompt_lengths, completion_lengths, max_groups, slack=0.0)
    assert sorted(row for rows in groups for row in rows) == list(range(n))
    assert 1 <= len(groups) <= max_groups
    order = sorted(range(n), key=lambda r: completion_lengths[r])
    best = min(
        _positions(partition, prompt_lengths, completion_lengths)
        for parts in range(1, min(max_groups, n) + 1)
        for partition in _contiguous_partitions(order, parts)
    )
    assert _positions(groups, prompt_lengths, completion_lengths) == best


@pytest.mark.parametrize("seed", range(20))
def test_length_groups_of_capped_size_or_exact_count_are_the_best_such_cut(seed):
    generator = torch.Generator().manual_seed(100 + seed)
    n = int(torch.randint(2, 8, (1,), generator=generator))
    prompt_lengths = torch.randint(1, 30, (n,), generator=generator).tolist()
    completion_lengths = torch.randint(1, 60, (n,), generator=generator).tolist()
    cap = int(torch.randint(1, n + 1, (1,), generator=generator))
    fewest = -(-n // cap)
    order = sorted(range(n), key=lambda r: completion_lengths[r])

    def best_of(counts):
        return min(
            _positions(partition, prompt_lengths, completion_lengths)
            for parts in counts
            for partition in _contiguous_partitions(order, parts)
            if max(map(len, partition)) <= cap
        )

    groups = length_groups(prompt_lengths, completion_lengths, 2, slack=0.0, max_rows=cap)
    assert max(map(len, groups)) <= cap and fewest <= len(groups) <= min(n, 2 * fewest)
    assert _positions(groups, prompt_lengths, completion_lengths) == best_of(range(fewest, min(n, 2 * fewest) + 1))
    for count in range(fewest, n + 1):  # the count other processes agreed on, whatever this one would choose
        groups = length_groups(prompt_lengths, completion_lengths, 1, max_rows=cap, num_groups=count)
        assert len(groups) == count and max(map(len, groups)) <= cap
        assert sorted(row for rows in groups for row in rows) == list(range(n))
        assert _positions(groups, prompt_lengths, completion_lengths) == best_of([count])


def test_length_groups_rejects_bad_input():
    with pytest.raises(ValueError, match="make 2 to 4 groups"):
        length_groups([1] * 4, [1] * 4, max_groups=1, max_rows=2, num_groups=1)
    with pytest.raises(ValueError, match="make 2 to 4 groups"):
        length_groups([1] * 4, [1] * 4, max_groups=1, max_rows=2, num_groups=5)
    assert length_groups([], [], max_groups=4) == []
    with pytest.raises(ValueError, match="at least 1"):
        length_groups([1], [1], max_groups=0)
    with pytest.raises(ValueError, match="one entry per row"):
        length_groups([1, 2], [1], max_groups=2)


def test_strip_generation_padding_by_hand():
    from latro_trl.sequences import strip_generation_padding

    end, pad = 2, 2  # the pad token is the end token, as in SmolLM2
    assert strip_generation_padding([5, 6, 2, 2, 2], [end], pad) == [5, 6, 2]  # ended: keep the end token
    assert strip_generation_padding([5, 6, 2, 2], [9, end], pad) == [5, 6, 2]
    assert strip_generation_padding([5, 6, 7, 0, 0], [9], 0) == [5, 6, 7]  # stopped at a marker: padding dropped
    assert strip_generation_padding([0, 0, 0], [9], 0) == [0]  # never empty
