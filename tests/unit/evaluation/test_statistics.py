"""Majority vote (with its tie-break), accuracy and the Wilson interval."""

import math
import random

import pytest

from latro_trl.evaluation.statistics import accuracy, majority_vote, summarize, wilson_interval


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        (["5"], "5"),
        (["3", "5", "5"], "5"),
        (["3", "5", "5", "3"], "3"),  # tie: "3" appeared first
        (["5", "3", "3", "5"], "5"),  # tie: "5" appeared first
        ([None, "7", None, "8"], "7"),  # None ignored, then tie -> earliest
        ([None, None, "8", None], "8"),  # a single parsed answer beats many unparsed ones
        ([None, None], None),
        ([], None),
        (["a", "b", "c"], "a"),
        (["b", "a", "c", "c", "a"], "a"),
    ],
)
def test_majority_vote(answers, expected):
    assert majority_vote(answers) == expected


def test_majority_vote_matches_a_loop_reference():
    rng = random.Random(0)
    for _ in range(200):
        answers = [rng.choice(["1", "2", "3", None]) for _ in range(rng.randint(0, 9))]
        counts = {}
        for answer in answers:
            if answer is not None:
                counts[answer] = counts.get(answer, 0) + 1
        expected = None
        for answer in answers:  # first answer in order with the top count
            if answer is not None and counts[answer] == max(counts.values()):
                expected = answer
                break
        assert majority_vote(answers) == expected


def test_accuracy():
    assert accuracy([True, False, True, True]) == 0.75
    assert accuracy([False]) == 0.0
    with pytest.raises(ValueError, match="non-empty"):
        accuracy([])


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (8, 10, 0.4902, 0.9433),  # textbook values
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (50, 100, 0.4038, 0.5962),
        (1, 1, 0.2065, 1.0),
    ],
)
def test_wilson_interval_values(successes, n, low, high):
    got_low, got_high = wilson_interval(successes, n)
    assert got_low == pytest.approx(low, abs=1e-4)
    assert got_high == pytest.approx(high, abs=1e-4)


def test_wilson_interval_properties():
    for n in (1, 7, 50, 1319):
        for successes in sorted({0, 1, n // 3, n // 2, n - 1, n}):
            low, high = wilson_interval(successes, n)
            assert 0.0 <= low <= successes / n <= high <= 1.0
            narrow_low, narrow_high = wilson_interval(successes, n, confidence=0.8)
            assert low <= narrow_low + 1e-12 and narrow_high <= high + 1e-12
    # symmetric: k successes mirror n - k
    low, high = wilson_interval(3, 20)
    mirror_low, mirror_high = wilson_interval(17, 20)
    assert math.isclose(low, 1 - mirror_high) and math.isclose(high, 1 - mirror_low)


@pytest.mark.parametrize(
    ("successes", "n", "confidence", "match"),
    [(1, 0, 0.95, "n must"), (-1, 5, 0.95, "successes"), (6, 5, 0.95, "successes"), (1, 5, 1.0, "confidence")],
)
def test_wilson_interval_errors(successes, n, confidence, match):
    with pytest.raises(ValueError, match=match):
        wilson_interval(successes, n, confidence)


def test_summarize():
    summary = summarize([True, True, False, False])
    assert summary["accuracy"] == 0.5 and summary["correct"] == 2 and summary["n"] == 4
    assert (summary["ci_low"], summary["ci_high"]) == wilson_interval(2, 4)
    assert summary["ci_confidence"] == 0.95


def test_mcnemar_exact_hand_computed():
    from latro_trl.evaluation.statistics import mcnemar_exact

    # 5 discordant, 4 vs 1: P[X <= 1] = (1 + 5) / 32, two-sided 12 / 32 = 0.375 (the warm-start note's example).
    first = [True] * 4 + [False] + [True] * 3
    second = [False] * 4 + [True] + [True] * 3
    assert mcnemar_exact(first, second) == {"only_first": 4, "only_second": 1, "p_value": 0.375}
    # 10 vs 0: 2 / 1024.
    assert mcnemar_exact([True] * 10, [False] * 10)["p_value"] == 2 / 1024
    assert mcnemar_exact([True, False], [True, False])["p_value"] == 1.0  # nothing discordant
    with pytest.raises(ValueError, match="different numbers"):
        mcnemar_exact([True], [True, False])
