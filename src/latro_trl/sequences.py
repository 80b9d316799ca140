"""Token-id work between generation and scoring: cut rationales, build the answer ``y``, assemble ``x + z + y``.

The scoring batch puts each rationale and its answer side by side in one right-padded "completion" block after the
left-padded prompt, with a mask for each, so that ONE forward pass yields both ``log pi(z|x)`` (rationale positions)
and ``log pi(y|x+z)`` (answer positions):

    prompt (left-padded)        completion (right-padded)
    [pad pad x x x x]           [z z z z y y y <eot> pad pad]
                                 rationale_mask: 1 1 1 1 0 0 0 0 0 0
                                 answer_mask:    0 0 0 0 1 1 1 1 0 0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch


class RationaleCut(NamedTuple):
    """A rationale cut at its first stop marker / end token / the length limit.

    Attributes:
        ids: the kept rationale tokens (marker, end token and everything after them dropped).
        finished: whether it stopped by itself (marker or end token) instead of running into the length limit.
        hit_marker: whether a stop marker was found.
    """

    ids: list[int]
    finished: bool
    hit_marker: bool


def cut_rationale(
    completion_ids: Sequence[int],
    *,
    decode: Callable[[Sequence[int]], str],
    stop_markers: Sequence[str],
    end_token_ids: Sequence[int],
    max_length: int,
) -> RationaleCut:
    """Cut a sampled completion into the rationale ``z``.

    Markers are found in the decoded text, not by matching token ids, because a marker tokenizes differently in
    context (``"The answer is"`` vs ``" The answer is"`` vs ``"\\nThe answer is"``). The token in which the marker
    starts is dropped with everything after it; every token that ends before the marker is kept. ``decode`` must map
    a token-id prefix to a prefix of the full text (true of byte-level BPE and SentencePiece decoders); it is called
    O(log T) times per rationale.

    Args:
        completion_ids: the sampled tokens after the prompt.
        decode: token ids -> text, e.g. ``functools.partial(tokenizer.decode, skip_special_tokens=False)``.
        stop_markers: strings that introduce the answer; the earliest occurrence of any of them ends the rationale.
        end_token_ids: ids that end the turn (EOS, end-of-turn); the rationale stops before the first one.
        max_length: the generation limit; a completion of this length with no marker or end token is unfinished.
    """
    ids = list(completion_ids)
    end_ids = set(end_token_ids)
    end_positions = [i for i, token in enumerate(ids) if token in end_ids]
    hit_end = bool(end_positions)
    if hit_end:
        ids = ids[: end_positions[0]]

    marker_start = _first_marker_offset(decode(ids), stop_markers) if ids and stop_markers else None
    if marker_start is None:
        return RationaleCut(ids=ids, finished=hit_end or len(completion_ids) < max_length, hit_marker=False)

    # Largest prefix whose text ends at or before the marker: binary search on the (monotone) decoded length.
    lo, hi = 0, len(ids)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(decode(ids[:mid])) <= marker_start:
            lo = mid
        else:
            hi = mid - 1
    return RationaleCut(ids=ids[:lo], finished=True, hit_marker=True)


def strip_generation_padding(completion: Sequence[int], end_token_ids: Sequence[int], pad_token_id: int) -> list[int]:
    """A row of ``generate``'s output, cut after its first end token; a row that stopped at a stop marker instead
    loses the padding ``generate`` appended while longer rows went on (at least one token is kept: TRL's length
    bookkeeping reads the last one). The pad token is often the end token too, hence the order."""
    for position, token in enumerate(completion):
        if token in end_token_ids:
            return list(completion[: position + 1])
    end = len(completion)
    while end > 1 and completion[end - 1] == pad_token_id:
        end -= 1
    return list(completion[:end])


def _first_marker_offset(text: str, stop_markers: Sequence[str]) -> int | None:
    offsets = [offset for marker in stop_markers if marker and (offset := text.find(marker)) >= 0]
    return min(offsets) if offsets else None


class ScoringBatch(NamedTuple):
    """``x + z + y`` for a batch of N sequences, ready for one forward pass.

    Shapes: ``prompt_ids``/``prompt_mask`` (N, P) left-padded; ``completion_ids``/``completion_mask``/
    ``rationale_mask``/``answer_mask`` (N, C) right-padded, where the completion is rationale then answer.
    """

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    rationale_mask: torch.Tensor
    answer_mask: torch.Tensor


def assemble_scoring_batch(
    prompt_ids: Sequence[Sequence[int]],
    rationale_ids: Sequence[Sequence[int]],
    answer_ids: Sequence[Sequence[int]],
    pad_token_id: int,
    device: torch.device | str = "cpu",
) -> ScoringBatch:
    """Pad and concatenate prompts, rationales and answers; masks come from lengths, never from ``ids != pad``
    (the pad token is often the EOS token, which also closes every answer)."""
    if not (len(prompt_ids) == len(rationale_ids) == len(answer_ids)):
        raise ValueError("prompt_ids, rationale_ids and answer_ids must have one entry per sequence.")
    n = len(prompt_ids)
    prompt_width = max(len(p) for p in prompt_ids)
    completion_width = max(len(z) + len(y) for z, y in zip(rationale_ids, answer_ids, strict=True))
    batch = ScoringBatch(
        prompt_ids=torch.full((n, prompt_width), pad_token_id, dtype=torch.long),
        prompt_mask=torch.zeros((n, prompt_width), dtype=torch.long),
        completion_ids=torch.full((n, completion_width), pad_token_id, dtype=torch.long),
        completion_mask=torch.zeros((n, completion_width), dtype=torch.long),
        rationale_mask=torch.zeros((n, completion_width), dtype=torch.bool),
        answer_mask=torch.zeros((n, completion_width), dtype=torch.bool),
    )
    for i, (prompt, rationale, answer) in enumerate(zip(prompt_ids, rationale_ids, answer_ids, strict=True)):
        if len(prompt):
            batch.prompt_ids[i, -len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            batch.prompt_mask[i, -len(prompt) :] = 1
        z_len, y_len = len(rationale), len(answer)
        batch.completion_ids[i, : z_len + y_len] = torch.tensor([*rationale, *answer], dtype=torch.long)
        batch.completion_mask[i, : z_len + y_len] = 1
        batch.rationale_mask[i, :z_len] = True
        batch.answer_mask[i, z_len : z_len + y_len] = True
    return ScoringBatch(*(t.to(device) for t in batch))


def length_groups(
    prompt_lengths: Sequence[int],
    completion_lengths: Sequence[int],
    max_groups: int,
    slack: float = 0.05,
    *,
    max_rows: int | None = None,
    num_groups: int | None = None,
) -> list[list[int]]:
    """Rows split into groups of similar length, for one forward pass per group trimmed to the group's own longest
    prompt and completion instead of the whole batch's.

    A padded forward costs rows x (longest prompt + longest completion) positions. Rows are sorted by completion
    length (the part sampling makes vary) and cut into contiguous runs of at most ``max_rows`` rows (the memory
    chunk); dynamic programming finds, for every number of groups, the cut with the fewest padded positions. The
    fewest groups whose cost is within ``slack`` of the best are returned: each group is one more forward call, worth
    making only if it saves compute. ``num_groups`` asks for exactly that many groups instead: processes that must
    make the same number of forward calls (each call is a collective under DDP, ZeRO-3 and FSDP) choose their own
    counts, agree on the largest, and then each cuts its rows into that many groups.

    Args:
        max_groups: groups per memory chunk at most: up to ``max_groups * ceil(rows / max_rows)`` groups in all.
        max_rows: rows per group at most (``None``: no limit).
        num_groups: the exact number of groups, between ``ceil(rows / max_rows)`` and the number of rows.

    Returns:
        Row indices per group; together they hold every row exactly once.
    """
    if len(prompt_lengths) != len(completion_lengths):
        raise ValueError("prompt_lengths and completion_lengths must have one entry per row.")
    if max_groups < 1:
        raise ValueError(f"max_groups must be at least 1, got {max_groups}.")
    n = len(completion_lengths)
    if n == 0:
        return []
    cap = n if max_rows is None else max(1, min(max_rows, n))
    fewest = -(-n // cap)  # ceil: the memory chunks alone
    most = min(n, max_groups * fewest) if num_groups is None else num_groups
    if not fewest <= most <= n:
        raise ValueError(f"num_groups={num_groups}: {n} rows of at most {cap} per group make {fewest} to {n} groups.")
    order = sorted(range(n), key=lambda row: completion_lengths[row])
    best, cut = _fewest_positions(
        [prompt_lengths[row] for row in order], [completion_lengths[row] for row in order], most, cap
    )
    if num_groups is None:
        lowest = min(best[g][n] for g in range(fewest, most + 1))
        num_groups = next(g for g in range(fewest, most + 1) if best[g][n] <= lowest * (1 + slack))

    bounds, end = [], n
    for g in range(num_groups, 0, -1):
        bounds.append((cut[g][end], end))
        end = cut[g][end]
    return [order[start:end] for start, end in reversed(bounds)]


def _fewest_positions(
    prompt_lengths: Sequence[int], completion_lengths: Sequence[int], groups: int, cap: int
) -> tuple[list[list[float]], list[list[int]]]:
    """Dynamic programme over rows sorted by completion length. ``best[g][end]``: fewest positions covering the first
    ``end`` rows with ``g`` runs of at most ``cap`` rows each; ``cut[g][end]``: where the last of those runs starts."""
    n = len(completion_lengths)
    best = [[float("inf")] * (n + 1) for _ in range(groups + 1)]
    cut = [[0] * (n + 1) for _ in range(groups + 1)]
    best[0][0] = 0
    for end in range(1, n + 1):
        widest_completion = completion_lengths[end - 1]  # sorted: the last row of a run is its longest
        widest_prompt = 0
        for start in range(end - 1, max(end - cap, 0) - 1, -1):  # the last run is rows[start:end]
            widest_prompt = max(widest_prompt, prompt_lengths[start])
            last = (end - start) * (widest_prompt + widest_completion)
            for g in range(1, min(groups, start + 1) + 1):
                candidate = best[g - 1][start] + last
                if candidate < best[g][end]:
                    best[g][end], cut[g][end] = candidate, start
    return best, cut
