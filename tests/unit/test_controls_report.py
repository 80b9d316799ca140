"""experiments/controls_report.py: issue #27's analysis (PLAN.md sections 5-6) on small run folders written here,
checked against numbers worked out by hand in the comments."""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
TEST_N, REWORDED_N, NEARDUP_N = 10, 4, 4  # each test problem is worth 10 points
ONE_STEP = 4  # test problems 0-3 are one-step, 4-9 two-step


@pytest.fixture(scope="module")
def report():
    sys.path.insert(0, str(EXPERIMENTS))  # the report imports its siblings, as when it runs as a script
    try:
        # Imported by name, not from its path: controls_render imports it by name, and both must be one module.
        yield importlib.import_module("controls_report")
    finally:
        sys.path.remove(str(EXPERIMENTS))


def _first(k: int, n: int) -> list[bool]:
    """The first k of n problems right."""
    return [i < k for i in range(n)]


def _problems(n: int, split: str) -> list[dict]:
    steps = (lambda i: 1 if i < ONE_STEP else 2) if split == "test" else (lambda i: 2)
    return [{"question": f"{split} question {i}", "answer": str(i), "num_steps": steps(i)} for i in range(n)]


def _folder(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    out.mkdir()
    data = {"R": [], "A": [], "validation": [], "test": _problems(TEST_N, "test")}
    data.update(reworded=_problems(REWORDED_N, "reworded"), old_neardup=_problems(NEARDUP_N, "old_neardup"))
    (out / "data.json").write_text(json.dumps(data))
    (out / "code_commit.txt").write_text("abc1234\n")
    return out


def _row(out: Path, name: str, test: int, reworded: int = 2, neardup: int = 2, history: list | None = None) -> None:
    """An evaluated row: ``test`` of 10, ``reworded`` of 4, ``neardup`` of 4 right (the first ones), predictions
    written in reverse order (the report must order them by index); 60 CPU and 120 wall seconds per stage."""
    folder = out / name
    stages = {
        "train": {"optimizer_steps": 96, "log_history": history or []},
        "select": {"validation_accuracy": {f"{folder}/checkpoint-24": 0.3, f"{folder}/checkpoint-48": 0.4}},
        "eval": {},
    }
    stages["select"]["best"] = f"{folder}/checkpoint-48"
    for stage, result in stages.items():
        (out / f"{name}_{stage}.json").write_text(json.dumps({**result, "cpu_seconds": 60.0, "wall_seconds": 120.0}))
    for split, n, k in (
        ("test", TEST_N, test),
        ("reworded", REWORDED_N, reworded),
        ("old_neardup", NEARDUP_N, neardup),
    ):
        records = [{"index": i, "question": f"{split} question {i}", "correct": c} for i, c in enumerate(_first(k, n))]
        (out / f"{name}_{split}").mkdir()
        lines = [json.dumps(r) for r in reversed(records)]
        (out / f"{name}_{split}" / "predictions.jsonl").write_text("\n".join(lines) + "\n")


def _phase0(out: Path, arm: str = "sft_more", chosen: float = 1e-4) -> None:
    (out / f"phase0_{arm}_lr.json").write_text(json.dumps({"validation_best": {}, "chosen_lr": chosen}))


def _three_seeds(tmp_path: Path) -> Path:
    """Test accuracies (points): sft_r 50 each; latro 70, 60, 80, 50; answer_only 60, 60, 60 (none for seed 3);
    sft_more 50, 40, 70, 50. So d1 = 10, 0, 20 and d2 = 20, 20, 10 over seeds 0-2; seed 3 lacks answer_only."""
    out = _folder(tmp_path)
    _phase0(out)
    for seed, (latro, answer_only, sft_more) in enumerate(((7, 6, 5), (6, 6, 4), (8, 6, 7), (5, None, 5))):
        history = [{"step": s, "reward": -s, "answer_logp": -2.0, "rationale/mean_length": 40.0} for s in (1, 2, 3)]
        _row(out, f"sft_r_s{seed}", 5)
        _row(out, f"latro_s{seed}", latro, reworded=3, neardup=4, history=history)
        _row(out, f"sft_more_lr1e-04_s{seed}", sft_more)
        if answer_only is not None:
            _row(out, f"answer_only_s{seed}", answer_only)
    return out


def test_per_seed_accuracies_minutes_and_selected_step(report, tmp_path):
    results, _ = report.analyse(_three_seeds(tmp_path))
    latro = results["arms"]["test"]["latro"]
    assert latro["seeds"] == [0, 1, 2, 3] and latro["values"] == pytest.approx([70, 60, 80, 50])
    # mean 65, sd sqrt(500 / 3) = 12.91, t(0.975, 3) = 3.1824: half width 3.1824 * 12.91 / 2 = 20.54
    assert latro["mean"] == pytest.approx(65.0)
    assert latro["ci95"] == pytest.approx((65 - 20.54, 65 + 20.54), abs=0.01)
    assert results["arms"]["reworded"]["latro"]["values"] == pytest.approx([75] * 4)
    assert results["arms"]["test"]["answer_only"]["seeds"] == [0, 1, 2]
    row = results["rows"]["sft_more_lr1e-04_s1"]  # named by phase 0's chosen learning rate
    assert (row["cpu_minutes"], row["wall_minutes"], row["selected_step"]) == (3.0, 6.0, 48)  # 3 stages x 1 / 2 min
    assert row["accuracy"] == pytest.approx({"test": 40, "reworded": 50, "old_neardup": 50})


def test_primary_analysis_by_hand(report, tmp_path):
    primary = report.analyse(_three_seeds(tmp_path))[0]["primary"]
    assert primary["seeds"] == [0, 1, 2]  # seed 3 has no answer_only row: it does not enter
    assert primary["interim"] and primary["planned_seeds"] == 10
    h1, h2 = primary["test"]["H1"], primary["test"]["H2"]
    assert h1["values"] == pytest.approx([10, 0, 20]) and h2["values"] == pytest.approx([20, 20, 10])
    # d1: mean 10, sd 10, se 10 / sqrt(3), t = sqrt(3), df 2; p = 1/2 - t / (2 sqrt(2 + t^2)) = 0.1127
    assert h1["t"]["t"] == pytest.approx(math.sqrt(3)) and h1["t"]["df"] == 2
    assert h1["t"]["p_one_sided"] == pytest.approx(0.5 - math.sqrt(3) / (2 * math.sqrt(5)), abs=1e-6)
    half = 4.302653 * 10 / math.sqrt(3)  # t(0.975, 2) = 4.3027
    assert h1["ci95"] == pytest.approx((10 - half, 10 + half), abs=1e-4)
    # d2: mean 50/3, sd 10 / sqrt(3), se 10 / 3, t = 5; p = 1/2 - 5 / (2 sqrt(27)) = 0.01887
    p2 = 0.5 - 5 / (2 * math.sqrt(27))
    assert h2["t"]["t"] == pytest.approx(5.0) and h2["t"]["p_one_sided"] == pytest.approx(p2, abs=1e-6)
    # Holm over the two: H2 first, 2 * 0.01887 = 0.0377; H1 max(0.0377, 0.1127) = 0.1127
    assert h2["holm_p"] == pytest.approx(2 * p2, abs=1e-6) and h1["holm_p"] == pytest.approx(h1["t"]["p_one_sided"])
    # Wilcoxon: d1's zero dropped, 2 positives: 1/4; d2 ranks 2.5, 2.5, 1 all positive: 1/8
    assert h1["wilcoxon"]["p_one_sided"] == 0.25 and h2["wilcoxon"]["p_one_sided"] == 0.125
    assert h2["decision"] == "LaTRO better" and h1["decision"] == "inconclusive"
    # "no 5-point gain" for H1: -d has mean -10 against margin -5: t = -5 / (10 / sqrt(3)) = -0.866, p > 1/2
    assert h1["no_gain"]["t"] == pytest.approx(-5 * math.sqrt(3) / 10) and h1["no_gain_holm_p"] > 0.5
    # Gate closed (H1 not rejected): the reworded family has estimates only, no p-value.
    assert not primary["reworded_tested"]
    assert primary["reworded"]["H1"]["values"] == pytest.approx([25, 25, 25]) and "t" not in primary["reworded"]["H1"]


def test_secondary_mcnemar_strata_and_neardup_by_hand(report, tmp_path):
    results, _ = report.analyse(_three_seeds(tmp_path))
    entry = next(e for e in results["secondary"] if (e["first"], e["second"], e["split"]) == ("latro", "sft_r", "test"))
    assert entry["seeds"] == [0, 1, 2, 3] and entry["values"] == pytest.approx([20, 10, 30, 0])  # seed 3 counts here
    # Pooled over seeds: latro right on 2 + 1 + 3 + 0 problems that sft_r missed, never the other way: 2 / 2^6.
    assert entry["mcnemar_pooled"] == {"only_first": 6, "only_second": 0, "p_value": 2 / 64}
    assert "p_one_sided" in entry["t"]  # unadjusted, labelled descriptive in the report
    two_step = results["strata_test"]["2-step"]
    assert two_step["n"] == 6 and results["strata_test"]["1-step"]["n"] == 4
    # latro s0 gets problems 0-6: two-step 4, 5, 6 of 4-9 = 50%; sft_r 0-4: two-step 4 only = 16.7%
    assert two_step["latro"]["accuracy"]["values"][0] == pytest.approx(50.0)
    assert two_step["latro"]["gain_over_sft_r"]["values"][0] == pytest.approx(100 / 3)
    near = results["neardup_vs_test"]["latro"]  # gain 50 on the near-duplicates, 20, 10, 30, 0 on test
    assert near["old_neardup_minus_test"]["values"] == pytest.approx([30, 40, 20, 50])


def test_ten_seeds_give_a_final_decision_and_open_the_gate(report, tmp_path):
    out = _folder(tmp_path)
    _phase0(out)
    for seed in range(10):
        _row(out, f"sft_r_s{seed}", 5)
        _row(out, f"latro_s{seed}", 9, reworded=4)
        _row(out, f"answer_only_s{seed}", 5 + seed % 2, reworded=1)
        _row(out, f"sft_more_lr1e-04_s{seed}", 4 + seed % 3, reworded=1)
    results, rows = report.analyse(out)
    primary = results["primary"]
    assert not primary["interim"] and primary["seeds"] == list(range(10))
    assert {c["decision"] for c in primary["test"].values()} == {"LaTRO better"}
    assert primary["reworded_tested"] and primary["reworded"]["H1"]["values"] == pytest.approx([75] * 10)
    assert primary["reworded"]["H1"]["decision"] == "LaTRO better"  # all equal: t = inf, p = 0
    text = report_text(results)
    assert "INTERIM" not in text and "**LaTRO better**" in text


def report_text(results: dict) -> str:
    from controls_render import report as render

    return render(results, [])


def test_decision_rule(report):
    assert report.decide(0.01, 0.9) == "LaTRO better"
    assert report.decide(0.2, 0.01) == "no effect of 5 points"
    assert report.decide(0.2, 0.2) == "inconclusive"
    assert report.decide(0.05, 0.05) == "inconclusive"  # "< 0.05", not "<="


def test_interim_report_on_a_partial_folder(report, tmp_path):
    out = _folder(tmp_path)
    _row(out, "sft_r_s0", 5)
    (out / "latro_s0" / "checkpoint-48").mkdir(parents=True)  # still training
    (out / "answer_only_s0_train.json").write_text(json.dumps({"optimizer_steps": 96, "cpu_seconds": 30.0}))
    target = tmp_path / "report"
    assert report.main(["--out", str(out), "--report_dir", str(target)]) == 0
    text = (target / "report.md").read_text()
    assert "**INTERIM: 0 of 10 seeds; not the plan's analysis.**" in text
    assert "latro_s0 (training, last checkpoint-48)" in text and "answer_only_s0 (done: train)" in text
    assert "sft_more_s0 (waits for phase 0's learning rate)" in text
    results = json.loads((target / "results.json").read_text())
    assert results["arms"]["test"]["sft_r"]["values"] == [50.0] and results["arms"]["test"]["sft_r"]["ci95"] is None
    assert "decision" not in results["primary"]["test"]["H1"]
    assert (target / "seeds.png").is_file() and not (out / "report.md").exists()


def test_interim_decisions_are_not_final(report, tmp_path):
    results, rows = report.analyse(_three_seeds(tmp_path))
    text = report_text(results)
    assert "**INTERIM: 3 of 10 seeds; not the plan's analysis.**" in text
    assert "none (INTERIM; the rule would now read: LaTRO better)" in text and "**LaTRO better**" not in text
    assert "not tested (both test-split comparisons must reject first)" in text


def test_figures_and_phase0(report, tmp_path):
    out = _three_seeds(tmp_path)
    (out / "sft_more_lr3e-04_s0_select.json").write_text(
        json.dumps({"validation_accuracy": {"a/checkpoint-24": 0.2, "a/checkpoint-48": 0.35}, "cpu_seconds": 120.0})
    )
    target = tmp_path / "report"
    assert report.main(["--out", str(out), "--report_dir", str(target)]) == 0
    assert (target / "seeds.png").stat().st_size > 0 and (target / "curves.png").stat().st_size > 0
    results = json.loads((target / "results.json").read_text())
    phase0 = results["phase0"]["sft_more"]
    assert phase0["chosen_lr"] == 1e-4
    assert phase0["validation_best"] == {"sft_more_lr1e-04_s0": 0.4, "sft_more_lr3e-04_s0": 0.35}
    assert phase0["cpu_minutes"]["sft_more_lr3e-04_s0"] == 2.0


def test_rft_rows_count_their_sampling_stage(report, tmp_path):
    out = _three_seeds(tmp_path)
    _phase0(out, "rft", 3e-5)
    _row(out, "rft_lr3e-05_s1", 6)
    (out / "rft_s1_samples.json").write_text(json.dumps({"kept": 10, "cpu_seconds": 480.0, "wall_seconds": 240.0}))
    row = report.analyse(out)[0]["rows"]["rft_lr3e-05_s1"]
    assert row["stages"] == ["samples", "train", "select", "eval"]
    assert (row["cpu_minutes"], row["wall_minutes"]) == (3.0 + 8.0, 6.0 + 4.0)


def test_predictions_must_match_data_json(report, tmp_path):
    out = _folder(tmp_path)
    _row(out, "sft_r_s0", 5)
    path = out / "sft_r_s0_test" / "predictions.jsonl"
    path.write_text(path.read_text().replace("test question 3", "another question"))
    with pytest.raises(ValueError, match="problem 3 is not data.json's"):
        report.analyse(out)


def test_a_resumed_row_is_marked_and_left_out_of_its_arms_cost(report, tmp_path):
    out = _three_seeds(tmp_path)
    # The Trainer's last log entry: steps this process ran = train_steps_per_second * train_runtime.
    for seed, (rate, runtime) in {0: (0.07, 1367.2), 1: (0.07, 684.7)}.items():  # 95.7 -> 96 of 96; 47.9 -> 48
        path = out / f"latro_s{seed}_train.json"
        train = json.loads(path.read_text())
        train["log_history"].append({"train_steps_per_second": rate, "train_runtime": runtime, "step": 96})
        path.write_text(json.dumps(train))
    (out / "latro_s1_train.json").write_text(
        (out / "latro_s1_train.json").read_text().replace('"cpu_seconds": 60.0', '"cpu_seconds": 30.0')
    )
    results, _ = report.analyse(out)
    assert results["rows"]["latro_s0"]["resumed_at_step"] is None
    assert results["rows"]["latro_s1"]["resumed_at_step"] == 48
    assert results["rows"]["latro_s2"]["resumed_at_step"] is None  # no final entry: nothing says it resumed
    cost = results["costs"]["latro"]
    assert cost["rows_timed_whole"] == 3 and cost["rows_resumed"] == ["latro_s1"]
    assert cost["cpu_minutes"]["seeds"] == [0, 2, 3] and cost["cpu_minutes"]["mean"] == pytest.approx(3.0)
    assert cost["wall_minutes"]["mean"] == pytest.approx(6.0)
    assert results["costs"]["answer_only"]["rows_timed_whole"] == 3
    text = report_text(results)
    assert "| latro_s1 | train, select, eval | 2.5 (resumed at step 48) | 6.0 (resumed at step 48) |" in text
    assert "| latro | 3 | 3.0 [3.0, 3.0] | 6.0 [6.0, 6.0] | latro_s1 |" in text
