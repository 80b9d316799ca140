"""Accuracy statistics over graded replies: majority vote, accuracy and its Wilson confidence interval, the exact
McNemar test of two models on the same problems. Pure Python: no model, no tokenizer, no torch."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from statistics import NormalDist
from typing import Any, TypeVar

T = TypeVar("T", bound=Hashable)


def majority_vote(answers: Sequence[T | None]) -> T | None:
    """The most frequent answer, ignoring ``None`` (unparsed replies); ties go to the earliest-appearing answer.

    Answers must already be canonical (e.g. :func:`~latro_trl.data.answers.format_number` strings) so that equal
    values are equal keys.

    Args:
        answers: the k sampled answers of one question, in sampling order.

    Returns:
        The winner, or ``None`` when no answer was parsed.

    Example:
        >>> majority_vote(["3", None, "5", "5", "3"])  # "3" and "5" tie at 2; "3" appeared first
        '3'
    """
    counts = Counter(answer for answer in answers if answer is not None)
    if not counts:
        return None
    best = max(counts.values())
    return next(answer for answer in answers if answer is not None and counts[answer] == best)


def accuracy(correct: Sequence[bool]) -> float:
    """The fraction of ``True`` values.

    Raises:
        ValueError: if ``correct`` is empty (there is nothing to score; check the data set).
    """
    if len(correct) == 0:
        raise ValueError("accuracy of zero examples is undefined; evaluate on a non-empty data set.")
    return sum(bool(c) for c in correct) / len(correct)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (sound near 0 and 1, unlike the normal approximation).

    Args:
        successes: the number of correct answers, ``0 <= successes <= n``.
        n: the number of questions, ``> 0``.
        confidence: the coverage, e.g. ``0.95``.

    Returns:
        ``(low, high)`` within ``[0, 1]``.

    Example:
        >>> tuple(round(x, 3) for x in wilson_interval(8, 10))
        (0.49, 0.943)
    """
    if n <= 0:
        raise ValueError(f"n must be > 0, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n={n}], got {successes}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, not 1e-19 off
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def summarize(correct: Sequence[bool], confidence: float = 0.95) -> dict[str, Any]:
    """Accuracy, counts and the Wilson interval of a list of per-question results.

    Returns:
        ``{"accuracy", "correct", "n", "ci_low", "ci_high", "ci_confidence"}``.
    """
    n, hits = len(correct), sum(bool(c) for c in correct)
    low, high = wilson_interval(hits, n, confidence)
    return {
        "accuracy": accuracy(correct),
        "correct": hits,
        "n": n,
        "ci_low": low,
        "ci_high": high,
        "ci_confidence": confidence,
    }


def mcnemar_exact(first: Sequence[bool], second: Sequence[bool]) -> dict[str, Any]:
    """Exact two-sided McNemar test of two models scored on the same problems.

    Only the discordant problems count: ``only_first`` (first right, second wrong) and ``only_second``. Under the null
    hypothesis that both models are equally accurate each discordant problem is a fair coin, so the p-value is the
    two-sided binomial tail ``min(1, 2 * P[X <= min(b, c)])`` with ``X ~ Binomial(b + c, 1/2)``.

    Example:
        >>> mcnemar_exact([True, True, False, True], [False, False, False, True])
        {'only_first': 2, 'only_second': 0, 'p_value': 0.5}
    """
    if len(first) != len(second):
        raise ValueError(f"the two models were scored on different numbers of problems ({len(first)}, {len(second)})")
    only_first = sum(bool(a) and not bool(b) for a, b in zip(first, second, strict=True))
    only_second = sum(bool(b) and not bool(a) for a, b in zip(first, second, strict=True))
    n = only_first + only_second
    tail = sum(math.comb(n, i) for i in range(min(only_first, only_second) + 1)) / 2**n
    return {"only_first": only_first, "only_second": only_second, "p_value": min(1.0, 2 * tail)}
