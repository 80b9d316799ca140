"""The power calculation of experiments/PLAN.md (issue #27): a Monte Carlo simulation of the plan's model of a
seed-level difference, tested with the one-sided paired t-test.

The tests themselves (Student's t, the paired t-test, the exact Wilcoxon signed-rank test, Holm's adjustment) live in
``latro_trl.evaluation.statistics``; they are imported here so that PLAN.md's ``seed_stats.paired_t`` (and the
others) still name them.

    python experiments/seed_stats.py          # prints the power table of PLAN.md
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

from latro_trl.evaluation.statistics import holm, paired_t, t_quantile, t_sf, wilcoxon_signed_rank

# Re-exported: PLAN.md names the tests as seed_stats.<name>.
__all__ = ["holm", "paired_t", "power_table", "simulated_power", "t_quantile", "t_sf", "wilcoxon_signed_rank"]


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
