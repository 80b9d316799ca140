"""The warm-start comparison's table, paired tests and curves, from experiments/warm_start.py's results.

    python experiments/warm_start_report.py --out runs/warm_start --figure docs/figures/warm_start_curves.png

Prints a markdown table (one row per trained model found: greedy and maj@k on the synthetic test split, greedy on
the reworded family, wall time) and exact McNemar tests of each LaTRO row against the warm start and against RFT, and
of RFT against the warm start, on the same problems. Rows that have not finished yet are left out.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROWS = (
    ("base", "base"),
    ("sft_r_s{seed}", "SFT(R), seed {seed}"),
    ("latro_log_likelihood_s{seed}", "SFT(R) -> LaTRO, log-likelihood reward, seed {seed}"),
    ("latro_probability_s{seed}", "SFT(R) -> LaTRO, probability reward, seed {seed}"),
    ("latro_log_likelihood_last_s{seed}", "SFT(R)'s last checkpoint -> LaTRO, log-likelihood reward, seed {seed}"),
    ("latro_probability_last_s{seed}", "SFT(R)'s last checkpoint -> LaTRO, probability reward, seed {seed}"),
    ("rft_s{seed}", "SFT(R) -> RFT/STaR, seed {seed}"),
    ("sft_ra_s{seed}", "SFT(R + A), gold rationales for all, seed {seed}"),
)

SEEDED = re.compile(r"_s(\d+)_eval\.json$")
# The splits each row is scored on; "reworded_more" (--reworded_more_n) is the reworded family's next problems, and
# "reworded_all" both draws of that family together.
SPLITS = ("test", "reworded", "reworded_more", "reworded_all")


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _cell(block: dict | None) -> str:
    if not block:
        return "n/a"
    return f"{100 * block['accuracy']:.1f} [{100 * block['ci_low']:.1f}, {100 * block['ci_high']:.1f}]"


def _correct(out: Path, name: str, split: str) -> list[bool] | None:
    from latro_trl.evaluation.evaluator import read_predictions

    if split == "reworded_all":
        parts = [_correct(out, name, part) for part in ("reworded", "reworded_more")]
        return None if None in parts else parts[0] + parts[1]
    folder = out / f"{name}_{split}"
    if not (folder / "predictions.jsonl").is_file():
        return None
    return [record["correct"] for record in read_predictions(folder)]


def _minutes(out: Path, name: str) -> str:
    """Wall and CPU minutes of the stages that made the model (sampling, training, selection), not its evaluation.

    CPU time is the one to compare when a stage was paused (SIGSTOP) to give the cores to something else: the wall
    clock runs on through a pause, the CPU clock does not.
    """
    stages = [stage for part in ("samples", "train", "select") if (stage := _load(out / f"{name}_{part}.json"))]
    if not stages:
        return "- | -"
    wall = sum(stage["wall_seconds"] for stage in stages)
    cpu = sum(stage.get("cpu_seconds", float("nan")) for stage in stages)
    return f"{wall / 60:.1f} | {cpu / 60:.1f}"


def seeds_in(out: Path) -> list[int]:
    """The training seeds that have an evaluated row under ``out`` (runs add seeds one command at a time, and each
    command rewrites config.json with its own)."""
    return sorted({int(match.group(1)) for path in out.glob("*_eval.json") if (match := SEEDED.search(path.name))})


def found_rows(out: Path, seeds: list[int]) -> list[tuple[str, str]]:
    rows = []
    for pattern, label in ROWS:
        for seed in seeds if "{seed}" in pattern else [0]:
            name = pattern.format(seed=seed)
            if (out / f"{name}_eval.json").is_file():
                rows.append((name, label.format(seed=seed)))
    return rows


def table(out: Path, rows: list[tuple[str, str]], maj_k: int) -> list[str]:
    more = {name: _load(out / f"{name}_reworded_more.json") for name, _ in rows}
    more_n = next((block["reworded_more"]["greedy"]["n"] for block in more.values() if block), None)
    extra = f" reworded, next {more_n} greedy |" if more_n else ""
    lines = [
        f"| row | test greedy | test maj@{maj_k} | reworded greedy |{extra} making it: wall min | CPU min (2 cores) |",
        "|---|---|---|---|" + ("---|" if more_n else "") + "---|---|",
    ]
    for name, label in rows:
        result = _load(out / f"{name}_eval.json")
        cells = [
            label,
            _cell(result["test"]["greedy"]),
            _cell(result["test_maj"].get(f"maj@{maj_k}")),
            _cell(result["reworded"]["greedy"]),
        ]
        if more_n:
            cells.append(_cell(more[name]["reworded_more"]["greedy"]) if more[name] else "n/a")
        cells.append(_minutes(out, name) if name != "base" else "- | -")
        lines.append(f"| {' | '.join(cells)} |")
    return lines


def paired_tests(out: Path, rows: list[tuple[str, str]]) -> list[str]:
    from latro_trl.evaluation.statistics import mcnemar_exact

    names = [name for name, _ in rows]
    lines = [
        "| row | against | split | only this row right | only the other right | exact McNemar p |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        if not name.startswith(("latro", "rft")):
            continue
        seed = name.rsplit("_s", 1)[1]
        # Its own warm start; for LaTRO also RFT, the answer-only peer (run from the first seed's start).
        for other in (f"sft_r_s{seed}", "rft_s0") if name.startswith("latro") else (f"sft_r_s{seed}",):
            if other not in names:
                continue
            for split in SPLITS:
                mine, theirs = _correct(out, name, split), _correct(out, other, split)
                if mine is None or theirs is None:
                    continue
                test = mcnemar_exact(mine, theirs)
                lines.append(
                    f"| {name} | {other} | {split} | {test['only_first']} | {test['only_second']} "
                    f"| {test['p_value']:.3g} |"
                )
    return lines + pooled_over_seeds(out, names)


def pooled_over_seeds(out: Path, names: list[str]) -> list[str]:
    """Each LaTRO variant run with several seeds against its own warm starts, all seeds' problems together: an exact
    sign test on the discordant problems (under no effect each is a fair coin, whichever seed it comes from)."""
    from latro_trl.evaluation.statistics import mcnemar_exact

    lines = []
    for variant, row_of_seed in sorted(variants_by_seed(out, names).items()):
        if len(row_of_seed) < 2:
            continue
        seeds = sorted(row_of_seed, key=int)
        for split in SPLITS:
            pairs = [(_correct(out, row_of_seed[s], split), _correct(out, f"sft_r_s{s}", split)) for s in seeds]
            if any(mine is None or theirs is None for mine, theirs in pairs):
                continue
            test = mcnemar_exact([c for mine, _ in pairs for c in mine], [c for _, theirs in pairs for c in theirs])
            lines.append(
                f"| {variant}, seeds {', '.join(seeds)} pooled | sft_r of each seed | {split} | {test['only_first']} "
                f"| {test['only_second']} | {test['p_value']:.3g} |"
            )
    return lines


def variants_by_seed(out: Path, names: list[str]) -> dict[str, dict[str, str]]:
    """LaTRO variant -> {seed: row} over the seeds whose own warm start (``sft_r_s<seed>``) was evaluated too.

    A ``<variant>_last`` variant (LaTRO from SFT(R)'s last checkpoint) also takes a seed's ``<variant>`` row when
    that seed's validation selection kept SFT(R)'s last checkpoint: both rows then start from the same model.
    """
    rows: dict[str, dict[str, str]] = {}
    for name in names:
        if name.startswith("latro"):
            variant, seed = name.rsplit("_s", 1)
            if f"sft_r_s{seed}" in names:
                rows.setdefault(variant, {})[seed] = name
    for variant in [v for v in rows if v.endswith("_last")]:
        for seed, name in rows.get(variant.removesuffix("_last"), {}).items():
            if seed not in rows[variant] and _selected_last_checkpoint(out, f"sft_r_s{seed}"):
                rows[variant][seed] = name
    return rows


def _selected_last_checkpoint(out: Path, name: str) -> bool:
    pick = _load(out / f"{name}_select.json")
    if not pick or not pick.get("validation_accuracy"):
        return False
    return _step(pick["best"]) == _step(_last_checkpoint(pick["validation_accuracy"]))


def _from_last(name: str) -> bool:
    """Whether a row (``latro_<reward>_last_s<seed>``) trained from SFT(R)'s last checkpoint."""
    return name.rsplit("_s", 1)[0].endswith("_last")


def _step(checkpoint: str) -> int:
    """The training step of a ``.../checkpoint-<step>`` path."""
    return int(Path(checkpoint).name.split("-")[1])


def _last_checkpoint(validation_accuracy: dict[str, float]) -> str:
    return max(validation_accuracy, key=_step)


def plot(out: Path, rows: list[tuple[str, str]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    latro = [(name, label) for name, label in rows if name.startswith("latro")]
    if not latro:
        return False
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    for name, label in latro:
        history = _load(out / f"{name}_train.json")["log_history"]
        steps = [entry for entry in history if "reward" in entry]
        x = [entry["step"] for entry in steps]
        short = label.split("LaTRO, ")[1] + (", from the last SFT(R) checkpoint" if _from_last(name) else "")
        for ax, key in ((axes[0], "reward"), (axes[1], "answer_logp"), (axes[2], "rationale/mean_length")):
            ax.plot(x, _smooth([entry[key] for entry in steps]), label=short)
        pick = _load(out / f"{name}_select.json")
        start = _load(out / f"sft_r_s{name.rsplit('_s', 1)[1]}_select.json")["validation_accuracy"]
        curve = [(0, start[_last_checkpoint(start)] if _from_last(name) else max(start.values()))]
        curve += sorted((_step(c), a) for c, a in pick["validation_accuracy"].items())
        axes[3].plot([s for s, _ in curve], [100 * a for _, a in curve], marker="o", label=short)
    titles = (
        "reward (mean of 5 steps)",
        "log pi(y|x+z) (mean of 5 steps)",
        "rationale length, tokens",
        "validation greedy accuracy (%)",
    )
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("LaTRO step (0 = the warm start)")
    axes[3].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return True


def _smooth(values: list[float], window: int = 5) -> list[float]:
    return [
        sum(values[max(0, i - window + 1) : i + 1]) / len(values[max(0, i - window + 1) : i + 1])
        for i in range(len(values))
    ]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/warm_start")
    parser.add_argument("--figure", default=None, help="where to write the curves (PNG)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    config = _load(out / "config.json") or {}
    rows = found_rows(out, seeds_in(out))
    if not rows:
        print(f"no finished rows under {out}", file=sys.stderr)
        return 1
    print("\n".join(table(out, rows, config.get("maj_k", 8))))
    print()
    print("\n".join(paired_tests(out, rows)))
    if args.figure and plot(out, rows, Path(args.figure)):
        print(f"\ncurves: {args.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
