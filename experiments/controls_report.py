"""Issue #27's analysis, exactly as experiments/PLAN.md sections 5 and 6 fix it, from a controls.py run folder.

    python experiments/controls_report.py --out runs/controls
    python experiments/controls_report.py --out /work/runs/issue27_controls --report_dir /tmp/controls_report

Writes ``report.md`` (the tables), ``results.json`` (every number in them), ``seeds.png`` (per split and arm, each
seed's accuracy with the mean and its 95% t interval) and ``curves.png`` (training curves per arm) into
``--report_dir`` (default: ``--out``). Rows not finished yet are listed as missing; while fewer than the plan's 10
seeds have every primary arm, the report is marked INTERIM and states no decision. Reads the folder only.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# experiments/ is on sys.path when this file runs as a script (and the tests put it there).
from controls import PLAN_SEEDS, PRIMARY_ARMS, SECONDARY_ARMS, SPLITS, TUNED_ARMS, row_name

from latro_trl.evaluation.statistics import holm, mcnemar_exact, paired_t, t_interval, wilcoxon_signed_rank

ARMS = ("sft_r", *PRIMARY_ARMS, *SECONDARY_ARMS)
ALPHA = 0.05  # one-sided, family-wise (Holm) over the two primary comparisons
PHASE0_SEED = 0  # controls.py's --phase0_seed default, as the plan runs it
SMALLEST_GAIN = 5.0  # points: the gain that matters (PLAN.md section 5)
PRIMARY = {"H1": "answer_only", "H2": "sft_more"}  # LaTRO against each
SECONDARY_PAIRS = (
    ("latro", "sft_r"),
    ("answer_only", "sft_more"),
    ("answer_only", "sft_r"),
    ("latro_lambda0", "sft_r"),
    ("latro_lambda0", "answer_only"),
    ("rft", "sft_r"),
    ("rft", "latro"),
)
STAGES = ("samples", "train", "select", "eval")
SEEDED = re.compile(r"_s(\d+)(_(train|select|eval|samples)\.json)?$")


# ------------------------------------------------------------------ loading


@dataclass
class Row:
    """One trained model: its stage files and, once evaluated, each split's per-problem correctness in the order
    of ``data.json`` (checked question by question)."""

    name: str
    arm: str
    seed: int
    stages: dict[str, dict] = field(default_factory=dict)
    correct: dict[str, list[bool]] = field(default_factory=dict)
    progress: str = ""  # where an unevaluated row stands

    @property
    def evaluated(self) -> bool:
        return "eval" in self.stages

    def accuracy(self, split: str, mask: Sequence[bool] | None = None) -> float:
        """Greedy accuracy in points, over the problems where ``mask`` is true (all by default)."""
        kept = [c for i, c in enumerate(self.correct[split]) if mask is None or mask[i]]
        return 100 * sum(kept) / len(kept)

    def minutes(self, clock: str) -> float:
        return _minutes(self.stages, clock)

    def resumed_at(self) -> int | None:
        """The optimizer step its training resumed from, None if one process trained it from step 0 (or unknown).

        A resumed process times only the steps it ran, so the train stage's seconds cover part of the row. The
        Trainer's last log entry says how many: its ``train_steps_per_second`` is steps run by that process over its
        ``train_runtime``."""
        train = self.stages.get("train", {})
        final = (train.get("log_history") or [{}])[-1]
        total, rate = train.get("optimizer_steps"), final.get("train_steps_per_second")
        if not (total and rate and final.get("train_runtime")):
            return None
        timed = round(rate * final["train_runtime"])
        return total - timed if timed < 0.9 * total else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "seed": self.seed,
            "stages": [s for s in STAGES if s in self.stages],
            "cpu_minutes": self.minutes("cpu"),
            "wall_minutes": self.minutes("wall"),
            "resumed_at_step": self.resumed_at(),
            "selected_step": self.selected_step(),
            "accuracy": {split: self.accuracy(split) for split in SPLITS} if self.evaluated else None,
        }

    def selected_step(self) -> int | None:
        pick = self.stages.get("select", {}).get("best")
        return int(Path(pick).name.split("-")[1]) if pick else None


def load_rows(out: Path, problems: dict[str, list[dict]]) -> dict[tuple[str, int], Row]:
    """Every row of the plan and every row found under ``out``, keyed by (arm, seed); rows of a tuned arm are
    named by phase 0's chosen learning rate (absent until phase 0 is done)."""
    found = {int(m.group(1)) for path in out.iterdir() if (m := SEEDED.search(path.name))}
    rows = {}
    for arm in ARMS:
        planned = PLAN_SEEDS["secondary" if arm in SECONDARY_ARMS else "primary"]
        for seed in sorted(set(planned) | found):
            name = _row_name(out, arm, seed)
            row = Row(name or f"{arm}_s{seed}", arm, seed, _stages(out, name, row_name(arm, seed)) if name else {})
            if row.evaluated:
                row.correct = {split: _correct(out / f"{name}_{split}", problems[split]) for split in SPLITS}
            row.progress = _progress(out, row) if name else "waits for phase 0's learning rate"
            if seed in planned or row.stages:
                rows[(arm, seed)] = row
    return rows


def _progress(out: Path, row: Row) -> str:
    if row.evaluated:
        return "evaluated"
    if row.stages:
        return "done: " + ", ".join(s for s in STAGES if s in row.stages)
    checkpoints = sorted((out / row.name).glob("checkpoint-*"), key=lambda c: int(c.name.split("-")[1]))
    return f"training, last {checkpoints[-1].name}" if checkpoints else "not started"


def _row_name(out: Path, arm: str, seed: int) -> str | None:
    if arm not in TUNED_ARMS:
        return row_name(arm, seed)
    choice = _json(out / f"phase0_{arm}_lr.json")
    return row_name(arm, seed, float(choice["chosen_lr"])) if choice else None


def _stages(out: Path, name: str, sampled: str | None = None) -> dict[str, dict]:
    """A row's stage files; RFT's sampling stage is named without the learning rate (``rft_s<seed>_samples``)."""
    paths = {stage: out / f"{sampled if stage == 'samples' and sampled else name}_{stage}.json" for stage in STAGES}
    return {stage: found for stage, path in paths.items() if (found := _json(path)) is not None}


def _minutes(stages: dict[str, dict], clock: str) -> float:
    """``clock`` = "cpu" or "wall": minutes summed over the stages."""
    return sum(stage.get(f"{clock}_seconds", 0.0) for stage in stages.values()) / 60


def _json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _correct(folder: Path, problems: list[dict]) -> list[bool]:
    """Correctness in data.json's order: the evaluator numbers problems in data-set order (``index``), and the
    data set is data.json's split in order (controls.Controls.load_data); the question text confirms each match."""
    from latro_trl.evaluation.evaluator import read_predictions

    records = sorted(read_predictions(folder), key=lambda r: r["index"])
    if [r["index"] for r in records] != list(range(len(problems))):
        raise ValueError(f"{folder}: predictions do not cover data.json's {len(problems)} problems one to one")
    for record in records:
        if record.get("question", problems[record["index"]]["question"]) != problems[record["index"]]["question"]:
            raise ValueError(f"{folder}: problem {record['index']} is not data.json's")
    return [bool(r["correct"]) for r in records]


# ------------------------------------------------------------------ statistics


def summary(values: dict[int, float]) -> dict[str, Any]:
    """Per-seed values (seed -> number), their mean and 95% t interval (None below 2 seeds)."""
    seeds = sorted(values)
    numbers = [values[s] for s in seeds]
    interval = t_interval(numbers)["ci95"] if len(numbers) >= 2 else None
    mean = sum(numbers) / len(numbers) if numbers else None
    return {"seeds": seeds, "values": numbers, "n": len(numbers), "mean": mean, "ci95": interval}


def differences(
    rows: dict, first: str, second: str, split: str, seeds: Sequence[int] | None = None, mask=None
) -> dict[int, float]:
    """acc(first) - acc(second) per seed, in points, over the seeds (default: all) where both are evaluated."""
    both = [s for (arm, s), row in rows.items() if arm == first and row.evaluated and _done(rows, second, s)]
    return {
        s: rows[(first, s)].accuracy(split, mask) - rows[(second, s)].accuracy(split, mask)
        for s in sorted(both)
        if seeds is None or s in seeds
    }


def _done(rows: dict, arm: str, seed: int) -> bool:
    return (arm, seed) in rows and rows[(arm, seed)].evaluated


def tested(diffs: dict[int, float]) -> dict[str, Any]:
    """The plan's paired statistics of per-seed differences: estimate, one-sided t and exact Wilcoxon p."""
    result = summary(diffs)
    if result["n"] >= 2:
        result["t"] = paired_t(result["values"])
        result["wilcoxon"] = wilcoxon_signed_rank(result["values"])
    return result


def included_seeds(rows: dict) -> list[int]:
    """PLAN.md section 4: a seed enters the primary test only if every primary arm of it was evaluated."""
    return [s for s in PLAN_SEEDS["primary"] if all(_done(rows, arm, s) for arm in PRIMARY_ARMS)]


def primary_analysis(rows: dict) -> dict[str, Any]:
    """Section 5: d1 = latro - answer_only, d2 = latro - sft_more per included seed, on the test split, and the
    reworded family behind its gate."""
    seeds, planned = included_seeds(rows), len(PLAN_SEEDS["primary"])
    test = {h: tested(differences(rows, "latro", control, "test", seeds)) for h, control in PRIMARY.items()}
    if len(seeds) >= 2:
        _adjust_and_decide(test)
    gate = len(seeds) >= 2 and all(c["holm_p"] < ALPHA for c in test.values())
    return {
        "seeds": seeds,
        "planned_seeds": planned,
        "interim": len(seeds) < planned,
        "test": test,
        "reworded_tested": gate,
        "reworded": reworded_family(rows, seeds, gate),
    }


def _adjust_and_decide(test: dict[str, dict]) -> None:
    """Holm over {H1, H2} for the superiority tests, for the "no 5-point gain" tests (paired t of -d against
    -5) and, as the normality check, for the Wilcoxon tests; then the plan's decision per comparison."""
    adjusted = holm({h: c["t"]["p_one_sided"] for h, c in test.items()})
    wilcoxon = holm({h: c["wilcoxon"]["p_one_sided"] for h, c in test.items()})
    no_gain = {h: paired_t([-d for d in c["values"]], margin=-SMALLEST_GAIN) for h, c in test.items()}
    no_gain_adjusted = holm({h: t["p_one_sided"] for h, t in no_gain.items()})
    for h, c in test.items():
        c.update(
            holm_p=adjusted[h], wilcoxon_holm_p=wilcoxon[h], no_gain=no_gain[h], no_gain_holm_p=no_gain_adjusted[h]
        )
        c["t_and_wilcoxon_disagree"] = (adjusted[h] < ALPHA) != (wilcoxon[h] < ALPHA)
        c["decision"] = decide(adjusted[h], no_gain_adjusted[h])


def reworded_family(rows: dict, seeds: list[int], gate: bool) -> dict[str, dict]:
    """The second family: tested (Holm over its two comparisons) only when ``gate`` (both test comparisons
    rejected); otherwise estimates with intervals and no p-value at all."""
    family = {
        h: (tested if gate else summary)(differences(rows, "latro", control, "reworded", seeds))
        for h, control in PRIMARY.items()
    }
    if gate:
        adjusted = holm({h: c["t"]["p_one_sided"] for h, c in family.items()})
        for h, c in family.items():
            c.update(holm_p=adjusted[h], decision="LaTRO better" if adjusted[h] < ALPHA else "not rejected")
    return family


def decide(holm_p: float, no_gain_holm_p: float) -> str:
    """PLAN.md section 5's rule for one primary comparison."""
    if holm_p < ALPHA:
        return "LaTRO better"
    if no_gain_holm_p < ALPHA:
        return f"no effect of {SMALLEST_GAIN:g} points"
    return "inconclusive"


def secondary_analysis(rows: dict) -> list[dict[str, Any]]:
    """Section 6's paired comparisons (the primary pairs first), each on both families: the plan's statistics
    unadjusted, and the exact McNemar test on every seed's problems pooled; descriptive only."""
    pairs = [("latro", control) for control in PRIMARY.values()] + list(SECONDARY_PAIRS)
    entries = []
    for first, second in pairs:
        for split in ("test", "reworded"):
            entry = {
                "first": first,
                "second": second,
                "split": split,
                **tested(differences(rows, first, second, split)),
            }
            mine = [c for s in entry["seeds"] for c in rows[(first, s)].correct[split]]
            theirs = [c for s in entry["seeds"] for c in rows[(second, s)].correct[split]]
            entry["mcnemar_pooled"] = mcnemar_exact(mine, theirs) if mine else None
            entries.append(entry)
    return entries


def accuracies(rows: dict, arm: str, split: str, mask: Sequence[bool] | None = None) -> dict[int, float]:
    return {s: r.accuracy(split, mask) for (a, s), r in rows.items() if a == arm and r.evaluated}


def arm_accuracies(rows: dict) -> dict[str, dict[str, dict]]:
    """Per split and arm: each evaluated seed's accuracy, the mean and its 95% t interval."""
    return {split: {arm: summary(accuracies(rows, arm, split)) for arm in ARMS} for split in SPLITS}


def strata(rows: dict, problems: dict[str, list[dict]]) -> dict[str, dict[str, dict]]:
    """One-step vs two-step problems of the test split: per arm, accuracy and the gain over its seed's SFT(R)."""
    result = {}
    for steps in (1, 2):
        mask = [p["num_steps"] == steps for p in problems["test"]]
        result[f"{steps}-step"] = {
            "n": sum(mask),
            **{
                arm: {
                    "accuracy": summary(accuracies(rows, arm, "test", mask)),
                    "gain_over_sft_r": summary(differences(rows, arm, "sft_r", "test", mask=mask)),
                }
                for arm in ARMS
            },
        }
    return result


def neardup_gain(rows: dict) -> dict[str, dict]:
    """Per arm, its gain over its seed's SFT(R) on the old near-duplicates, on the clean test split, and their
    difference per seed: does an arm gain more on arithmetic it was trained on?"""
    result = {}
    for arm in ARMS[1:]:
        near, clean = differences(rows, arm, "sft_r", "old_neardup"), differences(rows, arm, "sft_r", "test")
        result[arm] = {
            "old_neardup": summary(near),
            "test": summary(clean),
            "old_neardup_minus_test": summary({s: near[s] - clean[s] for s in near}),
        }
    return result


def phase0(out: Path) -> dict[str, dict]:
    """Phase 0 per tuned arm (at seed :data:`PHASE0_SEED`): each learning rate's row with the validation accuracy of
    its best checkpoint and its CPU minutes, and the chosen rate (None while phase 0 runs)."""
    result = {}
    for arm in TUNED_ARMS:
        selects = sorted(out.glob(f"{arm}_lr*_s{PHASE0_SEED}_select.json"))
        stages = {
            path.name.removesuffix("_select.json"): _stages(out, path.name.removesuffix("_select.json"))
            for path in selects
        }
        if stages:
            result[arm] = {
                "chosen_lr": (_json(out / f"phase0_{arm}_lr.json") or {}).get("chosen_lr"),
                "validation_best": {
                    name: max(st["select"]["validation_accuracy"].values()) for name, st in stages.items()
                },
                "cpu_minutes": {name: _minutes(st, "cpu") for name, st in stages.items()},
            }
    return result


def arm_costs(rows: dict) -> dict[str, dict[str, Any]]:
    """Per arm, CPU and wall minutes per row (all stages), over the rows timed whole: a resumed row's seconds cover
    only the steps after its resume, so it is counted apart, not averaged in. Wall minutes include any pause of the
    run (experiments/RUNS.md lists them); CPU minutes do not."""
    result = {}
    for arm in ARMS:
        done = [row for (a, _), row in rows.items() if a == arm and row.evaluated]
        whole = [row for row in done if row.resumed_at() is None]
        result[arm] = {
            "rows_timed_whole": len(whole),
            "rows_resumed": sorted(row.name for row in done if row.resumed_at() is not None),
            "cpu_minutes": summary({row.seed: row.minutes("cpu") for row in whole}),
            "wall_minutes": summary({row.seed: row.minutes("wall") for row in whole}),
        }
    return result


def analyse(out: Path) -> tuple[dict[str, Any], dict[tuple[str, int], Row]]:
    """Everything the report states, as one JSON-able dict, and the rows it came from."""
    problems = json.loads((out / "data.json").read_text())
    rows = load_rows(out, problems)
    results = {
        "folder": str(out),
        "code_commit": commit.read_text().strip() if (commit := out / "code_commit.txt").is_file() else "unknown",
        "rows": {row.name: row.as_dict() for row in sorted(rows.values(), key=_order) if row.stages},
        "missing": {row.name: row.progress for row in sorted(rows.values(), key=_order) if not row.evaluated},
        "arms": arm_accuracies(rows),
        "primary": primary_analysis(rows),
        "secondary": secondary_analysis(rows),
        "strata_test": strata(rows, problems),
        "neardup_vs_test": neardup_gain(rows),
        "phase0": phase0(out),
        "costs": arm_costs(rows),
    }
    return results, rows


def _order(row: Row) -> tuple[int, int]:
    return row.seed, ARMS.index(row.arm)


def main(argv: Sequence[str] | None = None) -> int:
    from controls_render import plot_curves, plot_seeds, report

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/controls", help="the run folder controls.py wrote")
    parser.add_argument("--report_dir", default=None, help="where to write the report (default: --out)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    target = Path(args.report_dir or args.out)
    target.mkdir(parents=True, exist_ok=True)
    results, rows = analyse(out)
    (target / "results.json").write_text(json.dumps(results, indent=1))
    figures = [
        name
        for name, plot in (("seeds.png", plot_seeds), ("curves.png", plot_curves))
        if plot(results, rows, target / name)
    ]
    (target / "report.md").write_text(report(results, figures))
    print(f"wrote {target / 'report.md'}, results.json and {', '.join(figures) or 'no figure (no evaluated row)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
