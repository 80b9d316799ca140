"""Accuracy statistics over graded replies: majority vote, accuracy and its Wilson confidence interval, the exact
McNemar test of two models on the same problems; and tests with the training seed as the unit (one number per
trained model): Student's t distribution, the one-sided paired t-test with its interval, the exact Wilcoxon
signed-rank test and Holm's step-down adjustment. Pure Python: no model, no tokenizer, no torch, no scipy."""

from __future__ import annotations

import functools
import itertools
import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
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


# ------------------------------------------------------------------ tests over training seeds


def t_sf(t: float, df: int) -> float:
    """``P(T > t)`` for Student's t with ``df`` degrees of freedom.

    Integrated in the angle ``x = sqrt(df) * tan(theta)``, where the density becomes ``c * cos(theta) ** (df - 1)``:
    a smooth integrand on a bounded interval for every ``t`` (Simpson's rule, error below 1e-9), where integrating
    the density in ``x`` would need ever more panels as ``|t|`` grows.

    Example:
        >>> round(t_sf(2.0, 5), 4)
        0.051
    """
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if t < 0:
        return 1.0 - t_sf(-t, df)
    const = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(math.pi)
    end = math.atan(t / math.sqrt(df))
    panels = 2000
    h = end / panels
    total = sum((1 if i in (0, panels) else 4 if i % 2 else 2) * math.cos(i * h) ** (df - 1) for i in range(panels + 1))
    return max(0.0, 0.5 - const * total * h / 3)


@functools.cache  # a report asks for the same few quantiles (one per seed count) many times
def t_quantile(p: float, df: int) -> float:
    """The ``t`` with ``P(T <= t) = p`` (bisection on :func:`t_sf` over the angle, so any ``0 < p < 1`` is reached).

    Example:
        >>> round(t_quantile(0.975, 9), 3)
        2.262
    """
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    low, high = -math.pi / 2, math.pi / 2
    for _ in range(60):
        mid = (low + high) / 2
        if 1 - t_sf(math.sqrt(df) * math.tan(mid), df) < p:
            low = mid
        else:
            high = mid
    return math.sqrt(df) * math.tan((low + high) / 2)


def t_interval(values: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """Mean, sample sd and the two-sided t interval of the mean of ``values`` (e.g. one arm's accuracy per seed).

    Returns:
        ``{"n", "mean", "sd", "se", "ci95"}``; ``ci95`` is ``(low, high)`` at ``confidence``.

    Raises:
        ValueError: with fewer than 2 values (no spread to estimate; run more seeds).
    """
    n = len(values)
    if n < 2:
        raise ValueError(f"need at least 2 values for a t interval, got {n}")
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    se = sd / math.sqrt(n)
    half = t_quantile(0.5 + confidence / 2, n - 1) * se
    return {"n": n, "mean": mean, "sd": sd, "se": se, "ci95": (mean - half, mean + half)}


def paired_t(differences: Sequence[float], margin: float = 0.0) -> dict[str, Any]:
    """One-sided paired t-test over seeds of H0: mean difference <= ``margin`` against > ``margin``.

    With ``margin`` = 0 it asks "is the first arm better"; the mirrored question "is the gain smaller than 5 points"
    is ``paired_t([-d for d in differences], margin=-5)``.

    Returns:
        :func:`t_interval`'s fields (the two-sided 95% interval of the mean difference) and ``t``, ``df`` and
        ``p_one_sided``. Differences that are all equal give ``t = +-inf`` and ``p`` 0 or 1.

    Example:
        >>> result = paired_t([1.0, 2.0, 3.0])  # mean 2, se 1 / sqrt(3): t = 2 * sqrt(3)
        >>> round(result["t"], 4), round(result["p_one_sided"], 4)
        (3.4641, 0.0371)
    """
    summary = t_interval(differences)
    mean, se = summary["mean"], summary["se"]
    t = (mean - margin) / se if se > 0 else math.copysign(math.inf, mean - margin)
    df = summary["n"] - 1
    p = t_sf(t, df) if math.isfinite(t) else (0.0 if t > 0 else 1.0)
    return {**summary, "t": t, "df": df, "p_one_sided": p}


def wilcoxon_signed_rank(differences: Sequence[float]) -> dict[str, Any]:
    """Exact one-sided Wilcoxon signed-rank test (H1: the differences tend to be positive).

    Zeros are dropped, tied ``|d|`` get mid-ranks, and the null distribution of ``W+`` (the sum of the positive
    differences' ranks) is enumerated over all ``2 ** n`` sign patterns, so it is exact with ties too (fine up to
    about 20 seeds).

    Example:
        >>> wilcoxon_signed_rank([1, -2, 3, 4])  # ranks 1..4, W+ = 8: 3 of the 16 patterns reach 8
        {'n': 4, 'w_plus': 8.0, 'p_one_sided': 0.1875}
    """
    nonzero = [d for d in differences if d != 0]
    n = len(nonzero)
    if n == 0:
        return {"n": 0, "w_plus": 0.0, "p_one_sided": 1.0}
    ranks = _mid_ranks([abs(d) for d in nonzero])
    w_plus = sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    at_least = sum(
        1
        for signs in itertools.product((0, 1), repeat=n)
        if sum(r for r, s in zip(ranks, signs, strict=True) if s) >= w_plus - 1e-9
    )
    return {"n": n, "w_plus": w_plus, "p_one_sided": at_least / 2**n}


def _mid_ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1, ties sharing the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def holm(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values: reject a hypothesis where its adjusted p < alpha, and the family-wise
    error stays at alpha.

    Example:
        >>> holm({"a": 0.01, "b": 0.04})  # a: 2 * 0.01; b: max(0.02, 1 * 0.04)
        {'a': 0.02, 'b': 0.04}
    """
    ordered = sorted(p_values, key=p_values.get)
    adjusted, running = {}, 0.0
    for rank, name in enumerate(ordered):
        running = max(running, min(1.0, (len(ordered) - rank) * p_values[name]))
        adjusted[name] = running
    return adjusted
