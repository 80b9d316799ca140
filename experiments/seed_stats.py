"""Tests with the training seed as the unit, and the power calculation of experiments/PLAN.md (issue #27).

Pure Python and numpy (no scipy on the machine): Student's t distribution by numerical integration, the exact
Wilcoxon signed-rank test by enumeration, Holm's step-down adjustment, and a Monte Carlo power calculation for the
plan's model of a seed-level difference.

    python experiments/seed_stats.py          # prints the power table of PLAN.md
"""

from __future__ import annotations

import argparse
import itertools
import math
from collections.abc import Sequence


def t_sf(t: float, df: int) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom (Simpson's rule on the density, error < 1e-9)."""
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if t < 0:
        return 1.0 - t_sf(-t, df)
    # P(0 < T < t) by Simpson on [0, t]; the density is smooth, 4000 panels are plenty for |t| < 100.
    const = math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))
    panels = 4000
    h = t / panels
    total = 0.0
    for i in range(panels + 1):
        x = i * h
        weight = 1 if i in (0, panels) else (4 if i % 2 else 2)
        total += weight * const * (1 + x * x / df) ** (-(df + 1) / 2)
    return 0.5 - total * h / 3


def t_quantile(p: float, df: int) -> float:
    """The t with ``P(T > t) = 1 - p`` (bisection on :func:`t_sf`)."""
    low, high = -100.0, 100.0
    for _ in range(80):
        mid = (low + high) / 2
        if 1 - t_sf(mid, df) < p:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def paired_t(differences: Sequence[float], margin: float = 0.0) -> dict:
    """One-sided paired t-test over seeds of H0: mean difference <= ``margin`` against > ``margin``.

    With ``margin`` = 0 it asks "is the first arm better"; the mirrored question "is the gain smaller than 5 points"
    is ``paired_t([-d for d in differences], margin=-5)``. Returns the mean, sd, t, df, one-sided p and the
    two-sided 95% interval of the mean difference.
    """
    n = len(differences)
    if n < 2:
        raise ValueError("need at least 2 seeds")
    mean = sum(differences) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in differences) / (n - 1))
    se = sd / math.sqrt(n)
    df = n - 1
    t = (mean - margin) / se if se > 0 else math.copysign(math.inf, mean - margin)
    p = t_sf(t, df) if math.isfinite(t) else (0.0 if t > 0 else 1.0)
    half = t_quantile(0.975, df) * se
    return {"n": n, "mean": mean, "sd": sd, "t": t, "df": df, "p_one_sided": p, "ci95": (mean - half, mean + half)}


def wilcoxon_signed_rank(differences: Sequence[float]) -> dict:
    """Exact one-sided Wilcoxon signed-rank test (H1: differences tend to be positive); zeros dropped, ties get
    mid-ranks, and the null distribution is enumerated over all sign patterns (fine up to ~20 seeds)."""
    nonzero = [d for d in differences if d != 0]
    n = len(nonzero)
    if n == 0:
        return {"n": 0, "w_plus": 0.0, "p_one_sided": 1.0}
    order = sorted(range(n), key=lambda i: abs(nonzero[i]))
    ranks = [0.0] * n
    i = 0
    while i < n:
        j = i
        while j + 1 < n and abs(nonzero[order[j + 1]]) == abs(nonzero[order[i]]):
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    w_plus = sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    at_least = sum(
        1
        for signs in itertools.product((0, 1), repeat=n)
        if sum(r for r, s in zip(ranks, signs, strict=True) if s) >= w_plus - 1e-9
    )
    return {"n": n, "w_plus": w_plus, "p_one_sided": at_least / 2**n}


def holm(p_values: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values (reject where adjusted p < alpha; controls the family-wise error)."""
    ordered = sorted(p_values, key=p_values.get)
    adjusted, running = {}, 0.0
    for rank, name in enumerate(ordered):
        running = max(running, min(1.0, (len(ordered) - rank) * p_values[name]))
        adjusted[name] = running
    return adjusted


def simulated_power(
    seeds: int,
    effect: float,
    seed_sd: float,
    problems: int,
    discordant: float,
    alpha: float,
    draws: int = 20000,
    rng_seed: int = 0,
) -> float:
    """Power of the one-sided paired t-test over ``seeds`` at level ``alpha`` when a seed's difference (points) is
    ``effect`` + N(0, seed_sd) (training randomness) + the problem-sampling error of a paired difference of two
    models on ``problems`` problems that disagree on a fraction ``discordant`` of them."""
    import numpy as np

    rng = np.random.default_rng(rng_seed)
    problem_sd = 100 * math.sqrt(max(discordant - (effect / 100) ** 2, 1e-9) / problems)
    d = effect + rng.normal(0, seed_sd, (draws, seeds)) + rng.normal(0, problem_sd, (draws, seeds))
    t = d.mean(axis=1) / (d.std(axis=1, ddof=1) / math.sqrt(seeds))
    return float((t > t_quantile(1 - alpha, seeds - 1)).mean())


def power_table(args: argparse.Namespace) -> list[str]:
    lines = [
        "| between-seed sd of the difference (points) | problems | one-sided alpha | "
        + " | ".join(f"{n} seeds" for n in args.seeds)
        + " | seeds for 80% |",
        "|---|---|---|" + "---|" * len(args.seeds) + "---|",
    ]
    for seed_sd in args.seed_sd:
        for problems in args.problems:
            for alpha in args.alpha:
                powers = [
                    simulated_power(n, args.effect, seed_sd, problems, args.discordant, alpha) for n in args.seeds
                ]
                needed = next(
                    (
                        n
                        for n in range(3, 41)
                        if simulated_power(n, args.effect, seed_sd, problems, args.discordant, alpha, draws=8000) >= 0.8
                    ),
                    None,
                )
                cells = " | ".join(f"{100 * p:.0f}%" for p in powers)
                lines.append(f"| {seed_sd} | {problems} | {alpha} | {cells} | {needed or '> 40'} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--effect", type=float, default=5.0, help="true mean difference, points")
    parser.add_argument("--seed_sd", type=float, nargs="+", default=[4.9, 6.0, 6.9])
    parser.add_argument("--problems", type=int, nargs="+", default=[250, 500, 1000])
    parser.add_argument("--discordant", type=float, default=0.17, help="fraction of problems two rows disagree on")
    parser.add_argument("--alpha", type=float, nargs="+", default=[0.025, 0.05])
    parser.add_argument("--seeds", type=int, nargs="+", default=[5, 8, 10, 12, 15])
    args = parser.parse_args(argv)
    print("\n".join(power_table(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
