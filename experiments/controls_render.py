"""controls_report.py's output: the markdown report and the two figures, drawn from its results dict (and, for the
training curves, the rows' stage files). No statistics here: every number comes from controls_report.analyse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controls_report import ALPHA, ARMS, PRIMARY, SMALLEST_GAIN, SPLITS

from latro_trl.plots import moving_average, pyplot

LOSS_KEYS = (("reward", "reward"), ("answer_logp", "log pi(y|x+z)"), ("rationale/mean_length", "rationale length"))


# ------------------------------------------------------------------ markdown


def report(results: dict[str, Any], figures: list[str]) -> str:
    """The markdown report; ``figures`` are the image files written beside it."""
    primary = results["primary"]
    k, planned = len(primary["seeds"]), primary["planned_seeds"]
    lines = [f"# Issue #27: controlled multi-seed experiment (experiments/PLAN.md), from `{results['folder']}`", ""]
    lines += [f"Code commit of the runs: `{results.get('code_commit', 'unknown')}`.", ""]
    if primary["interim"]:
        lines += [f"**INTERIM: {k} of {planned} seeds; not the plan's analysis.** No decision below is final.", ""]
    lines += primary_section(primary) + arms_section(results) + secondary_section(results)
    lines += phase0_section(results) + costs_section(results)
    lines += [f"![{name}]({name})" for name in figures]
    return "\n".join(lines) + "\n"


def primary_section(primary: dict[str, Any]) -> list[str]:
    seeds = ", ".join(map(str, primary["seeds"])) or "none"
    lines = [
        "## Primary analysis (PLAN.md section 5)",
        "",
        f"Seeds with every primary arm evaluated (the only ones that enter): {seeds}. d1 = latro - answer_only (H1), "
        f"d2 = latro - sft_more (H2), points on the clean test split; one-sided paired t-test of H0: mean d <= 0, Holm "
        f'over {{H1, H2}} at {ALPHA}; the "no {SMALLEST_GAIN:g}-point gain" test is the paired t of -d with margin '
        f"-{SMALLEST_GAIN:g}, Holm over the two as well; the exact one-sided Wilcoxon signed-rank test is a check.",
        "",
        "| comparison | seeds | per-seed d | mean d [95% CI] | t (df) | p one-sided | Holm p | Wilcoxon W+, p (Holm) "
        f"| no {SMALLEST_GAIN:g}-point gain: t, p (Holm) | decision |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for h, control in PRIMARY.items():
        lines.append(f"| {h}: latro - {control} | " + _primary_cells(primary["test"][h], primary["interim"]) + " |")
    disagree = [h for h, c in primary["test"].items() if c.get("t_and_wilcoxon_disagree")]
    if disagree:
        lines += [
            "",
            f"The t-test and the Wilcoxon test (each Holm-adjusted) disagree on rejection for {', '.join(disagree)}; "
            "the t-test decides.",
        ]
    return lines + ["", *_reworded(primary), ""]


def _primary_cells(c: dict[str, Any], interim: bool) -> str:
    cells = [str(c["n"]), _per_seed(c), _estimate(c)]
    if "t" not in c:
        return " | ".join(cells + ["n/a (needs 2 included seeds)"] + ["n/a"] * 5)
    t, w, no = c["t"], c["wilcoxon"], c["no_gain"]
    decision = f"none (INTERIM; the rule would now read: {c['decision']})" if interim else f"**{c['decision']}**"
    cells += [f"{t['t']:.2f} ({t['df']})", _p(t["p_one_sided"]), _p(c["holm_p"])]
    cells += [f"{w['w_plus']:g}, {_p(w['p_one_sided'])} ({_p(c['wilcoxon_holm_p'])})"]
    cells += [f"{no['t']:.2f}, {_p(no['p_one_sided'])} ({_p(c['no_gain_holm_p'])})", decision]
    return " | ".join(cells)


def _reworded(primary: dict[str, Any]) -> list[str]:
    if primary["reworded_tested"]:
        head = "Second family (reworded draw): both test-split comparisons rejected, so it is tested (Holm, 0.05)."
    else:
        head = (
            "Second family (reworded draw): not tested (both test-split comparisons must reject first); estimates only."
        )
    lines = [
        head,
        "",
        "| comparison | seeds | per-seed d | mean d [95% CI] | Holm p | result |",
        "|---|---|---|---|---|---|",
    ]
    for h, control in PRIMARY.items():
        c = primary["reworded"][h]
        tail = f"{_p(c['holm_p'])} | {c['decision']}" if "holm_p" in c else "not tested | -"
        lines.append(f"| {h}: latro - {control} | {c['n']} | {_per_seed(c)} | {_estimate(c)} | {tail} |")
    return lines


def arms_section(results: dict[str, Any]) -> list[str]:
    lines = ["## Per arm (section 6: mean over seeds, 95% t interval)", ""]
    lines += ["| split | arm | seeds | mean accuracy [95% CI] | per seed |", "|---|---|---|---|---|"]
    for split in SPLITS:
        for arm in ARMS:
            s = results["arms"][split][arm]
            lines.append(f"| {split} | {arm} | {s['n']} | {_estimate(s)} | {_per_seed(s)} |")
    lines += ["", "| row | stages done | CPU min | wall min | selected step | " + " | ".join(SPLITS) + " |"]
    lines.append("|---|---|---|---|---|" + "---|" * len(SPLITS))
    for name, row in results["rows"].items():
        accuracy = [_num(row["accuracy"][split]) if row["accuracy"] else "-" for split in SPLITS]
        mark = f" (resumed at step {row['resumed_at_step']})" if row.get("resumed_at_step") is not None else ""
        cells = [name, ", ".join(row["stages"]), _num(row["cpu_minutes"]) + mark, _num(row["wall_minutes"]) + mark]
        lines.append("| " + " | ".join([*cells, str(row["selected_step"] or "-"), *accuracy]) + " |")
    missing = results["missing"]
    listed = "; ".join(f"{name} ({state})" for name, state in missing.items()) or "none"
    return lines + ["", f"Missing (not evaluated yet, {len(missing)} of the plan's rows): {listed}.", ""]


def costs_section(results: dict[str, Any]) -> list[str]:
    lines = [
        "## Cost per row (train, select, evaluate; 2 cores)",
        "",
        "Mean over the evaluated rows timed whole, with a 95% t interval; a resumed row timed only the steps after "
        "its resume and is listed apart. Wall minutes include the run's pauses (experiments/RUNS.md); CPU minutes "
        "do not.",
        "",
        "| arm | rows timed whole | CPU min [95% CI] | wall min [95% CI] | resumed rows (not averaged) |",
        "|---|---|---|---|---|",
    ]
    for arm, c in results["costs"].items():
        cells = [arm, str(c["rows_timed_whole"]), _estimate(c["cpu_minutes"]), _estimate(c["wall_minutes"])]
        lines.append("| " + " | ".join([*cells, ", ".join(c["rows_resumed"]) or "-"]) + " |")
    return lines + [""]


def secondary_section(results: dict[str, Any]) -> list[str]:
    lines = ["## Secondary analyses (section 6): descriptive, unadjusted p, no claims", ""]
    paired = [e for e in results["secondary"] if e["n"]]
    if paired:
        lines += [
            "| first - second | split | seeds | per-seed d | mean d [95% CI] | t p one-sided | Wilcoxon p "
            "| pooled McNemar: only first, only second, p |",
            "|---|---|---|---|---|---|---|---|",
        ]
    for e in paired:
        p_t, p_w = (_p(e["t"]["p_one_sided"]), _p(e["wilcoxon"]["p_one_sided"])) if "t" in e else ("n/a", "n/a")
        m = e["mcnemar_pooled"]
        pooled = f"{m['only_first']}, {m['only_second']}, {_p(m['p_value'])}"
        cells = [f"{e['first']} - {e['second']}", e["split"], str(e["n"]), _per_seed(e), _estimate(e), p_t, p_w, pooled]
        lines.append("| " + " | ".join(cells) + " |")
    empty = sorted({f"{e['first']} - {e['second']}" for e in results["secondary"] if not e["n"]})
    lines += ["", f"Not yet paired on any seed: {', '.join(empty)}."] if empty else []
    return lines + strata_section(results)


def strata_section(results: dict[str, Any]) -> list[str]:
    lines = ["", "Strata of the test split (accuracy; gain = arm - its seed's SFT(R), points):", ""]
    lines += [
        "| stratum | n | arm | seeds | accuracy [95% CI] | gain over SFT(R) [95% CI] |",
        "|---|---|---|---|---|---|",
    ]
    for stratum, block in results["strata_test"].items():
        for arm in [arm for arm in ARMS if block[arm]["accuracy"]["n"]]:
            a, g = block[arm]["accuracy"], block[arm]["gain_over_sft_r"]
            gain = _estimate(g) if arm != "sft_r" else "-"
            lines.append(f"| {stratum} | {block['n']} | {arm} | {a['n']} | {_estimate(a)} | {gain} |")
    lines += ["", "Old near-duplicates against the clean test split (gain over the seed's SFT(R), points):", ""]
    lines += ["| arm | seeds | gain on old_neardup | gain on test | old_neardup - test |", "|---|---|---|---|---|"]
    for arm, block in [(arm, b) for arm, b in results["neardup_vs_test"].items() if b["test"]["n"]]:
        cells = [_estimate(block[key]) for key in ("old_neardup", "test", "old_neardup_minus_test")]
        lines.append(f"| {arm} | {block['test']['n']} | " + " | ".join(cells) + " |")
    return lines + [""]


def phase0_section(results: dict[str, Any]) -> list[str]:
    lines = ["## Phase 0: learning rates on validation (seed 0)", ""]
    if not results["phase0"]:
        return lines + ["No phase-0 row yet.", ""]
    lines += ["| arm | row | best validation accuracy | CPU min | chosen |", "|---|---|---|---|---|"]
    for arm, block in results["phase0"].items():
        chosen = block["chosen_lr"]
        for name, best in block["validation_best"].items():
            mark = "not yet" if chosen is None else ("yes" if f"_lr{float(chosen):.0e}_" in name else "")
            lines.append(f"| {arm} | {name} | {100 * best:.1f} | {_num(block['cpu_minutes'][name])} | {mark} |")
    return lines + [""]


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f}"


def _p(p: float) -> str:
    return f"{p:.3g}"


def _estimate(s: dict[str, Any]) -> str:
    if s["n"] == 0:
        return "n/a"
    if s["ci95"] is None:
        return f"{s['mean']:.1f} (1 seed, no interval)"
    return f"{s['mean']:.1f} [{s['ci95'][0]:.1f}, {s['ci95'][1]:.1f}]"


def _per_seed(s: dict[str, Any]) -> str:
    return ", ".join(f"s{seed}: {v:.1f}" for seed, v in zip(s["seeds"], s["values"], strict=True)) or "-"


# ------------------------------------------------------------------ figures


def plot_seeds(results: dict[str, Any], rows: dict, path: Path) -> bool:
    """Per split, each arm's per-seed accuracies (a seed's points joined across arms), mean and 95% t interval."""
    plt = pyplot()
    if plt is None or not any(results["arms"]["test"][arm]["n"] for arm in ARMS):
        return False
    fig, axes = plt.subplots(1, len(SPLITS), figsize=(5.5 * len(SPLITS), 4))
    colours = plt.get_cmap("tab10")
    for ax, split in zip(axes, SPLITS, strict=True):
        by_seed: dict[int, list[tuple[int, float]]] = {}
        for x, arm in enumerate(ARMS):
            s = results["arms"][split][arm]
            for seed, value in zip(s["seeds"], s["values"], strict=True):
                by_seed.setdefault(seed, []).append((x, value))
            if s["ci95"] is not None:
                ax.errorbar(
                    x + 0.15,
                    s["mean"],
                    yerr=[[s["mean"] - s["ci95"][0]], [s["ci95"][1] - s["mean"]]],
                    fmt="s",
                    color="black",
                    capsize=4,
                    zorder=3,
                )
        for seed, points in sorted(by_seed.items()):
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, "o-", color=colours(seed % 10), alpha=0.45, lw=0.8, ms=4, label=f"seed {seed}")
        ax.set_xticks(range(len(ARMS)), ARMS, rotation=30, fontsize=8)
        ax.set_title(f"{split}: greedy accuracy (%); black: mean, 95% t interval", fontsize=9)
    axes[0].legend(fontsize=7, ncol=2)
    return _save(fig, path)


def plot_curves(results: dict[str, Any], rows: dict, path: Path) -> bool:
    """Per arm: reward, log pi(y|x+z) and rationale length per step (each seed faint, the mean over seeds smoothed),
    and validation accuracy per checkpoint (step 0: the seed's SFT(R))."""
    plt = pyplot()
    trained = [row for row in rows.values() if row.arm != "sft_r" and "select" in row.stages]
    if plt is None or not trained:
        return False
    fig, axes = plt.subplots(1, len(LOSS_KEYS) + 1, figsize=(18, 3.8))
    colours = dict(zip(ARMS, plt.get_cmap("tab10").colors, strict=False))
    for arm in ARMS[1:]:
        own = [row for row in trained if row.arm == arm]
        for ax, (key, _) in zip(axes, LOSS_KEYS, strict=False):
            _curve(ax, [_history(row, key) for row in own], colours[arm], arm)
        _curve(axes[-1], [_validation(rows, row) for row in own], colours[arm], arm, window=1)
    for ax, title in zip(axes, [t for _, t in LOSS_KEYS] + ["validation greedy accuracy (%)"], strict=True):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step of the arm's training")
    axes[-1].legend(fontsize=7)
    return _save(fig, path)


def _history(row, key: str) -> list[tuple[int, float]]:
    return [(e["step"], e[key]) for e in row.stages.get("train", {}).get("log_history", []) if key in e]


def _validation(rows: dict, row) -> list[tuple[int, float]]:
    start = rows.get(("sft_r", row.seed))
    curve = (
        [(0, 100 * max(start.stages["select"]["validation_accuracy"].values()))]
        if start and "select" in start.stages
        else []
    )
    scores = row.stages["select"]["validation_accuracy"]
    return curve + sorted((int(Path(c).name.split("-")[1]), 100 * a) for c, a in scores.items())


def _curve(ax, series: list[list[tuple[int, float]]], colour, label: str, window: int = 9) -> None:
    """Each seed's points faint; the mean over seeds at each step as a centred moving average."""
    series = [s for s in series if s]
    if not series:
        return
    for s in series:
        ax.plot(*zip(*s, strict=True), color=colour, alpha=0.15, lw=0.7)
    steps = sorted({step for s in series for step, _ in s})
    mean = [
        sum(v for s in series for st, v in s if st == step) / sum(st == step for s in series for st, _ in s)
        for step in steps
    ]
    ax.plot(steps, moving_average(mean, window), color=colour, lw=1.8, label=label, marker="o" if window == 1 else None)


def _save(fig, path: Path) -> bool:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return True
