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


# ---------------------------------------------------------------- tests over training seeds


@pytest.mark.parametrize(
    ("t", "df", "expected"),
    [
        (2.0, 5, 0.05097),  # t tables
        (2.262, 9, 0.025),  # t(0.975, 9) = 2.262
        (1.0, 1, 0.25),  # Cauchy: 1/2 - atan(1) / pi
        (1000.0, 1, 0.5 - math.atan(1000.0) / math.pi),  # far tail, where integrating in x would need many panels
        (2.0, 2, 0.5 - 2.0 / (2 * math.sqrt(6.0))),  # df = 2: P(T > t) = 1/2 - t / (2 sqrt(2 + t^2))
        (0.0, 4, 0.5),
        (-2.0, 5, 1 - 0.05097),
    ],
)
def test_t_sf_against_tables_and_closed_forms(t, df, expected):
    from latro_trl.evaluation.statistics import t_sf

    assert t_sf(t, df) == pytest.approx(expected, abs=2e-5)


def test_t_quantile_inverts_t_sf():
    from latro_trl.evaluation.statistics import t_quantile

    assert t_quantile(0.975, 9) == pytest.approx(2.262, abs=1e-3)
    assert t_quantile(0.95, 2) == pytest.approx(2.920, abs=1e-3)
    # df = 2 in closed form: t = (2p - 1) / sqrt(2 p (1 - p)).
    assert t_quantile(0.975, 2) == pytest.approx(0.95 / math.sqrt(2 * 0.975 * 0.025), abs=1e-6)
    assert t_quantile(0.025, 2) == pytest.approx(-0.95 / math.sqrt(2 * 0.975 * 0.025), abs=1e-6)
    assert t_quantile(0.975, 10_000) == pytest.approx(1.960, abs=1e-3)  # the normal's, and no overflow in gamma
    with pytest.raises(ValueError, match="p must"):
        t_quantile(1.0, 3)


def test_paired_t_hand_computed():
    from latro_trl.evaluation.statistics import paired_t

    # d = 1, 2, 3: mean 2, sd 1, se 1/sqrt(3), t = 2 sqrt(3), df 2; p and the interval from the df = 2 closed forms.
    result = paired_t([1.0, 2.0, 3.0])
    t = 2 * math.sqrt(3)
    assert (result["n"], result["df"], result["mean"], result["sd"]) == (3, 2, 2.0, 1.0)
    assert result["t"] == pytest.approx(t)
    assert result["p_one_sided"] == pytest.approx(0.5 - t / (2 * math.sqrt(2 + t * t)), abs=1e-7)
    half = 0.95 / math.sqrt(2 * 0.975 * 0.025) / math.sqrt(3)
    assert result["ci95"] == pytest.approx((2 - half, 2 + half), abs=1e-6)
    # Against a margin: H0 mean <= 1 moves t to 1 / se = sqrt(3); the interval does not move.
    shifted = paired_t([1.0, 2.0, 3.0], margin=1.0)
    assert shifted["t"] == pytest.approx(math.sqrt(3)) and shifted["ci95"] == result["ci95"]
    # Issue #27's reading of issue #14: gains 7.6, 1.0, 11.2 give t = 2.2, two-sided p about 0.16.
    issue14 = paired_t([7.6, 1.0, 11.2])
    assert issue14["t"] == pytest.approx(2.21, abs=0.01) and 2 * issue14["p_one_sided"] == pytest.approx(
        0.158, abs=2e-3
    )


def test_paired_t_edge_cases():
    from latro_trl.evaluation.statistics import paired_t

    equal = paired_t([2.0, 2.0, 2.0])
    assert equal["t"] == math.inf and equal["p_one_sided"] == 0.0 and equal["ci95"] == (2.0, 2.0)
    assert paired_t([2.0, 2.0], margin=3.0)["p_one_sided"] == 1.0
    with pytest.raises(ValueError, match="at least 2"):
        paired_t([1.0])


def test_t_interval_hand_computed():
    from latro_trl.evaluation.statistics import t_interval

    # 40, 50, 60: mean 50, sd 10, se 10 / sqrt(3); t(0.975, 2) = 4.3027.
    result = t_interval([40.0, 50.0, 60.0])
    half = 0.95 / math.sqrt(2 * 0.975 * 0.025) * 10 / math.sqrt(3)
    assert result["mean"] == 50.0 and result["sd"] == pytest.approx(10.0)
    assert result["ci95"] == pytest.approx((50 - half, 50 + half), abs=1e-5)
    assert half == pytest.approx(24.84, abs=0.01)


def _wilcoxon_by_hand(differences):
    """W+ and its one-sided p, the null distribution built as subset sums of the ranks 1..n (distinct |d| only)."""
    nonzero = sorted((d for d in differences if d != 0), key=abs)
    ranks = range(1, len(nonzero) + 1)
    w_plus = sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    sums = [0]
    for r in ranks:  # the null distribution of W+ built one rank at a time
        sums = sums + [s + r for s in sums]
    return w_plus, sum(s >= w_plus for s in sums) / len(sums)


@pytest.mark.parametrize(
    ("differences", "w_plus", "p"),
    [
        ([1, 2, 3, 4, 5], 15, 1 / 32),  # every sign positive: only 1 of 32 patterns
        ([1, -2, 3, 4, 0], 8, 3 / 16),  # zero dropped; W+ = 1 + 3 + 4; patterns reaching 8: {1,3,4}, {2,3,4}, all
        ([-1, -2, -3], 0, 1.0),
        ([1, 1, 2], 6, 1 / 8),  # ties: ranks 1.5, 1.5, 3
        ([-1, 1, 2], 4.5, 3 / 8),  # patterns reaching 4.5: {1.5, 3} twice and all three
    ],
)
def test_wilcoxon_signed_rank_hand_computed(differences, w_plus, p):
    from latro_trl.evaluation.statistics import wilcoxon_signed_rank

    result = wilcoxon_signed_rank(differences)
    assert result["w_plus"] == w_plus and result["p_one_sided"] == pytest.approx(p)


def test_wilcoxon_signed_rank_matches_the_tables():
    from latro_trl.evaluation.statistics import wilcoxon_signed_rank

    # n = 10, one-sided 5%: the tables' critical W- is 10 (P = 43/1024 = 0.042); W- = 11 no longer rejects (54/1024).
    assert wilcoxon_signed_rank([-1, -2, -3, -4, 5, 6, 7, 8, 9, 10])["p_one_sided"] == pytest.approx(43 / 1024)
    assert wilcoxon_signed_rank([-1, 2, 3, 4, 5, 6, 7, 8, 9, -10])["p_one_sided"] == pytest.approx(54 / 1024)
    assert wilcoxon_signed_rank([0, 0])["p_one_sided"] == 1.0


def test_wilcoxon_signed_rank_matches_a_subset_sum_reference():
    from latro_trl.evaluation.statistics import wilcoxon_signed_rank

    rng = random.Random(0)
    for _ in range(50):
        sizes = rng.sample(range(1, 31), rng.randint(1, 9))  # distinct |d|: ranks are 1..n
        differences = [size * rng.choice((-1, 1)) for size in sizes]
        result = wilcoxon_signed_rank(differences)
        assert (result["w_plus"], result["p_one_sided"]) == pytest.approx(_wilcoxon_by_hand(differences))


def test_holm_hand_computed():
    from latro_trl.evaluation.statistics import holm

    assert holm({"a": 0.01, "b": 0.04, "c": 0.03}) == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06})
    assert holm({"H1": 0.01, "H2": 0.04}) == pytest.approx({"H1": 0.02, "H2": 0.04})
    assert holm({"H1": 0.03, "H2": 0.02}) == pytest.approx({"H1": 0.04, "H2": 0.04})  # step-down keeps order
    assert holm({"H1": 0.6, "H2": 0.7}) == pytest.approx({"H1": 1.0, "H2": 1.0})  # capped at 1
