"""experiments/: compare.py's run-once stages (reuse same settings, refuse others) and report.py's table."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.fixture(scope="module", autouse=True)
def _experiments_on_path():
    """The scripts import their siblings (``from compare import ...``), as when they run from experiments/."""
    sys.path.insert(0, str(EXPERIMENTS))
    yield
    sys.path.remove(str(EXPERIMENTS))


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"experiment_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def compare():
    return _load(EXPERIMENTS / "compare.py")


@pytest.mark.parametrize("script", ["compare", "warm_start", "controls", "answer_likelihood"])
def test_each_experiment_reads_its_recipe_and_redeclares_no_config_field(script):
    """Issue #30: the run is LaTROConfig's and ModelConfig's own flags; the script's dataclass holds only its own."""
    import dataclasses

    from trl import ModelConfig

    from latro_trl import LaTROConfig

    own, config, model_args = _load(EXPERIMENTS / f"{script}.py").parse_args([])
    assert isinstance(config, LaTROConfig) and isinstance(model_args, ModelConfig)
    config_fields = {f.name for t in (LaTROConfig, ModelConfig) for f in dataclasses.fields(t)}
    assert not {f.name for f in dataclasses.fields(own)} & config_fields
    assert (config.num_generations, config.max_completion_length) == (4, 96)  # the recipe's, not the defaults


@pytest.mark.parametrize(
    ("script", "flag", "instead"),
    [("controls", "--seed", "--seeds"), ("warm_start", "--reward_type=probability", "--rewards"),
     ("compare", "--output_dir", "--out")],
)  # fmt: skip
def test_a_config_field_the_experiment_sets_itself_is_refused_as_a_flag(script, flag, instead):
    argv = [flag] if "=" in flag else [flag, "3"]
    with pytest.raises(SystemExit, match=f"use {instead}"):
        _load(EXPERIMENTS / f"{script}.py").parse_args(argv)


def test_a_stage_runs_once_and_records_its_settings(compare, tmp_path):
    stage = compare.Stages(tmp_path)
    calls = []

    def work():
        calls.append(1)
        return {"accuracy": 0.25}

    first = stage("base_eval", work, {"test_n": 300})
    again = stage("base_eval", work, {"test_n": 300})
    assert calls == [1]
    assert first["accuracy"] == again["accuracy"] == 0.25
    saved = json.loads((tmp_path / "base_eval.json").read_text())
    assert saved["settings"] == {"test_n": 300}
    assert saved["wall_seconds"] >= 0


def test_a_stage_made_with_other_settings_stops_the_run(compare, tmp_path):
    stage = compare.Stages(tmp_path)
    stage("base_eval", lambda: {"accuracy": 0.25}, {"test_n": 300, "maj_n": 60})
    with pytest.raises(SystemExit, match=r"maj_n: 60 -> 300.*new --out"):
        stage("base_eval", lambda: pytest.fail("must not recompute"), {"test_n": 300, "maj_n": 300})


def test_a_stage_saved_without_settings_is_not_reused(compare, tmp_path):
    (tmp_path / "sft_train.json").write_text(json.dumps({"optimizer_steps": 10}))
    with pytest.raises(SystemExit, match="train_steps: None -> 60"):
        compare.Stages(tmp_path)("sft_train", dict, {"train_steps": 60})


def test_until_stops_after_the_named_stage_whether_it_ran_or_was_found(compare, tmp_path):
    compare.Stages(tmp_path)("sft_select", lambda: {"best": "a"}, {})
    stage = compare.Stages(tmp_path, until="sft_select")
    assert stage("sft_train", dict, {})["settings"] == {}
    with pytest.raises(compare.StopAfter):
        stage("sft_select", lambda: pytest.fail("must not recompute"), {})


def _block(correct: int, n: int) -> dict:
    return {"accuracy": correct / n, "correct": correct, "n": n, "ci_low": 0.0, "ci_high": 1.0}


def test_the_report_fills_the_table_between_its_markers(tmp_path):
    report = _load(EXPERIMENTS / "report.py")
    config = {
        "lora_r": 16,
        "train_steps": 4,
        "questions_per_step": 2,
        "min_steps": 1,
        "max_steps": 2,
        "seed": 0,
        "test_n": 300,
        "val_n": 64,
        "maj_k": 8,
        "maj_n": 300,
        "gsm8k_n": 200,
        "num_generations": 4,
        "max_completion_length": 96,
        "beta": 0.05,
        "answer_loss_coef": 1.0,
        "versions": {"trl": "x"},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    for name, correct in (("base", 30), ("sft", 90), ("latro", 60)):
        result = {"test": {"greedy": _block(correct, 300), "maj@8": _block(correct + 3, 300)}}
        (tmp_path / f"{name}_eval.json").write_text(json.dumps(result))
    (tmp_path / "base_gsm8k.json").write_text(json.dumps({"greedy": _block(2, 200), "maj@8": _block(1, 200)}))
    log = [{"step": s, "reward": -s, "answer_logp": -s, "rationale/mean_length": 50} for s in range(1, 5)]
    train = {"optimizer_steps": 4, "train_seconds": 120, "log_history": log}
    pick = {
        "validation_accuracy": {"out/latro/checkpoint-2": 0.25, "out/latro/checkpoint-4": 0.5},
        "best": "out/latro/checkpoint-4",
    }
    results = tmp_path / "results.md"
    results.write_text("# Results\n\nintro\n<!-- comparison -->\nold table\n<!-- comparison -->\n\nnotes\n")

    report.write_report(tmp_path, results, train, train, pick, pick, {"validation_accuracy": 0.125})

    text = results.read_text()
    assert "old table" not in text and text.startswith("# Results\n\nintro\n") and text.endswith("\n\nnotes\n")
    assert "| base | 10.0 [0.0, 100.0] (n=300) | 11.0 [0.0, 100.0] (n=300) | 1.0 [0.0, 100.0] (n=200) | 0.5 " in text
    assert "| LaTRO (checkpoint-4) | 20.0 [0.0, 100.0] (n=300) | 21.0 [0.0, 100.0] (n=300) | n/a | n/a |" in text
    assert "| SFT | 4 | 2.0 min |" in text
    assert "Validation greedy accuracy: base 12.5; per checkpoint, SFT checkpoint-2 25.0, checkpoint-4 50.0" in text


def test_answer_likelihood_scores_exactly_the_answer_tokens(tokenizer, model, tmp_path, capsys):
    script = _load(EXPERIMENTS / "answer_likelihood.py")
    # Cut as the trainer cuts: at the first stop marker, in token space.
    assert script.own_rationale(tokenizer, "2 + 3 = 5. The answer is 5.").rstrip() == "2 + 3 = 5."
    assert script.own_rationale(tokenizer, "Answer: 5. The answer is 5.") == ""
    assert script.own_rationale(tokenizer, "no marker here") == "no marker here"

    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "2 + 3?"}], add_generation_prompt=True, tokenize=False
    )
    score = script.answer_logp(model, tokenizer, prompt, "2 + 3 = 5.", "5")
    # Token by token, each answer token conditioned on everything before it.
    context = tokenizer(prompt + "2 + 3 = 5.", add_special_tokens=False)["input_ids"]
    target = tokenizer(" The answer is 5.<|im_end|>", add_special_tokens=False)["input_ids"]
    expected = 0.0
    for position, token in enumerate(target):
        with torch.no_grad():
            logits = model(torch.tensor([context + target[:position]])).logits[0, -1]
        expected += logits.float().log_softmax(-1)[token].item()
    assert score == pytest.approx(expected, abs=1e-4)

    model.save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    assert (
        script.main(
            [
                *("--model_name_or_path", str(tmp_path / "tiny"), "--n", "2"),
                *("--num_generations", "2", "--max_completion_length", "8"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "z = empty" in printed and "z = gold" in printed and "z = own" in printed
    assert "of 2 questions" in printed


def _fake_row(out: Path, name: str, test_correct: list[bool], reworded_correct: list[bool]) -> None:
    def block(correct):
        n = len(correct)
        return {"accuracy": sum(correct) / n, "ci_low": 0.0, "ci_high": 1.0, "n": n}

    for split, correct in (("test", test_correct), ("reworded", reworded_correct)):
        (out / f"{name}_{split}").mkdir(parents=True)
        lines = [json.dumps({"index": i, "correct": c}) for i, c in enumerate(correct)]
        (out / f"{name}_{split}" / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    evaluation = {"test": {"greedy": block(test_correct)}, "reworded": {"greedy": block(reworded_correct)}}
    evaluation["test_maj"] = {"maj@8": block(test_correct[:2])}
    (out / f"{name}_eval.json").write_text(json.dumps(evaluation))
    if name != "base":
        (out / f"{name}_train.json").write_text(
            json.dumps({"wall_seconds": 120.0, "cpu_seconds": 200.0, "log_history": []})
        )
        (out / f"{name}_select.json").write_text(
            json.dumps({"wall_seconds": 60.0, "cpu_seconds": 100.0, "validation_accuracy": {}})
        )


def test_warm_start_report_table_and_paired_tests(tmp_path):
    report = _load(EXPERIMENTS / "warm_start_report.py")
    _fake_row(tmp_path, "base", [False] * 4, [False] * 4)
    _fake_row(tmp_path, "sft_r_s0", [True, False, False, False], [False, False, False, False])
    _fake_row(tmp_path, "latro_log_likelihood_s0", [True, True, True, False], [True, False, False, False])
    rows = report.found_rows(tmp_path, [0, 1])
    assert [name for name, _ in rows] == ["base", "sft_r_s0", "latro_log_likelihood_s0"]  # rft / seed 1: not run
    table = report.table(tmp_path, rows, 8)
    assert table[3].startswith(
        "| SFT(R), seed 0 | 25.0 [0.0, 100.0] | 50.0 [0.0, 100.0] | 0.0 [0.0, 100.0] | 3.0 | 5.0 |"
    )
    tests = report.paired_tests(tmp_path, rows)
    assert tests[2:] == [
        "| latro_log_likelihood_s0 | sft_r_s0 | test | 2 | 0 | 0.5 |",
        "| latro_log_likelihood_s0 | sft_r_s0 | reworded | 1 | 0 | 1 |",
    ]


def test_warm_start_report_finds_every_seed_and_pools_them(tmp_path):
    report = _load(EXPERIMENTS / "warm_start_report.py")
    _fake_row(tmp_path, "sft_r_s0", [True, False, False, False], [False] * 4)
    _fake_row(tmp_path, "latro_log_likelihood_s0", [True, True, True, False], [True, False, False, False])
    _fake_row(tmp_path, "sft_r_s3", [False, True, True, False], [True] * 4)
    _fake_row(tmp_path, "latro_log_likelihood_s3", [True, True, False, True], [True, True, True, False])
    (tmp_path / "config.json").write_text(json.dumps({"seeds": [3]}))  # the last command's seeds only
    assert report.seeds_in(tmp_path) == [0, 3]
    rows = report.found_rows(tmp_path, report.seeds_in(tmp_path))
    tests = report.paired_tests(tmp_path, rows)
    # test: seed 0 gives 2 only-LaTRO, 0 only-SFT; seed 3 gives 2 and 1. Reworded: 1 and 0; 0 and 1.
    assert tests[-2:] == [
        "| latro_log_likelihood, seeds 0, 3 pooled | sft_r of each seed | test | 4 | 1 | 0.375 |",
        "| latro_log_likelihood, seeds 0, 3 pooled | sft_r of each seed | reworded | 1 | 1 | 1 |",
    ]


def _fake_more(out: Path, name: str, correct: list[bool]) -> None:
    """A row's ``--reworded_more_n`` stage: its predictions and result."""
    (out / f"{name}_reworded_more").mkdir(parents=True)
    lines = [json.dumps({"index": i, "correct": c}) for i, c in enumerate(correct)]
    (out / f"{name}_reworded_more" / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    block = {"accuracy": sum(correct) / len(correct), "ci_low": 0.0, "ci_high": 1.0, "n": len(correct)}
    (out / f"{name}_reworded_more.json").write_text(json.dumps({"reworded_more": {"greedy": block}}))


def _fake_selection(out: Path, name: str, best_step: int, last_step: int = 32) -> None:
    curve = {f"{out}/{name}/checkpoint-{step}": 0.5 for step in range(8, last_step + 1, 8)}
    (out / f"{name}_select.json").write_text(
        json.dumps({"best": f"{out}/{name}/checkpoint-{best_step}", "validation_accuracy": curve, "wall_seconds": 1.0})
    )


def test_warm_start_report_scores_the_next_reworded_problems_and_both_draws_together(tmp_path):
    report = _load(EXPERIMENTS / "warm_start_report.py")
    _fake_row(tmp_path, "sft_r_s0", [True, False], [False, False])
    _fake_row(tmp_path, "latro_log_likelihood_s0", [True, True], [True, False])
    _fake_more(tmp_path, "sft_r_s0", [False, False, True, False])
    _fake_more(tmp_path, "latro_log_likelihood_s0", [True, True, False, True])
    rows = report.found_rows(tmp_path, [0])
    table = report.table(tmp_path, rows, 8)
    assert "| reworded, next 4 greedy |" in table[0] and table[1].count("---") == 7
    assert table[2].startswith(
        "| SFT(R), seed 0 | 50.0 [0.0, 100.0] | 50.0 [0.0, 100.0] | 0.0 [0.0, 100.0] | 25.0 [0.0, 100.0] |"
    )
    tests = report.paired_tests(tmp_path, rows)
    assert tests[-2:] == [
        "| latro_log_likelihood_s0 | sft_r_s0 | reworded_more | 3 | 1 | 0.625 |",
        "| latro_log_likelihood_s0 | sft_r_s0 | reworded_all | 4 | 1 | 0.375 |",
    ]


def test_warm_start_report_pools_the_last_checkpoint_start_with_seeds_that_selected_it(tmp_path):
    report = _load(EXPERIMENTS / "warm_start_report.py")
    for seed, best in ((0, 32), (1, 24), (2, 32), (3, 16)):
        _fake_row(tmp_path, f"sft_r_s{seed}", [False] * 4, [False] * 4)
        _fake_selection(tmp_path, f"sft_r_s{seed}", best)
        _fake_row(tmp_path, f"latro_log_likelihood_s{seed}", [True] * 4, [False] * 4)
    # Seed 1 selected checkpoint 24 and was rerun from its last one; seed 3 selected 16 and was not.
    _fake_row(tmp_path, "latro_log_likelihood_last_s1", [True, True, False, False], [True] * 4)
    names = [name for name, _ in report.found_rows(tmp_path, report.seeds_in(tmp_path))]
    assert report.variants_by_seed(tmp_path, names) == {
        "latro_log_likelihood": {s: f"latro_log_likelihood_s{s}" for s in "0123"},
        "latro_log_likelihood_last": {
            "0": "latro_log_likelihood_s0",
            "1": "latro_log_likelihood_last_s1",
            "2": "latro_log_likelihood_s2",
        },
    }
    pooled = [
        line for line in report.paired_tests(tmp_path, report.found_rows(tmp_path, [0, 1, 2, 3])) if "pooled" in line
    ]
    assert (
        "| latro_log_likelihood_last, seeds 0, 1, 2 pooled | sft_r of each seed | test | 10 | 0 | 0.00195 |" in pooled
    )


def test_warm_start_draws_the_next_reworded_problems_and_names_the_last_checkpoint_start(tmp_path):
    from latro_trl.data import load_reworded

    script = _load(EXPERIMENTS / "warm_start.py")
    sizes = ["--num_rationales", "2", "--num_answers", "2", "--val_n", "2", "--test_n", "2"]
    exp = script.Experiment(
        *script.parse_args(["--out", str(tmp_path), *sizes, "--reworded_n", "5", "--reworded_more_n", "7"])
    )
    assert exp.reworded_set["question"] == load_reworded(n=5, seed=0)["question"]  # the rows scored before
    assert len(exp.reworded_more_set) == 7 and not set(exp.reworded_more_set["question"]) & set(
        exp.reworded_set["question"]
    )
    without = script.Experiment(*script.parse_args(["--out", str(tmp_path), *sizes, "--reworded_n", "5"]))
    assert without.reworded_set["question"] == exp.reworded_set["question"] and without.reworded_more_set is None
    assert exp.start_dir(1) == tmp_path / "sft_r_s1" / "start"
    assert exp.start_dir(1, from_last=True) == tmp_path / "sft_r_s1" / "start_last"
    assert not script.starts_from_last("latro_last_seed_s0") and script.starts_from_last("latro_probability_last_s12")


def test_warm_start_report_tests_rft_against_its_warm_start_and_latro_against_rft(tmp_path):
    report = _load(EXPERIMENTS / "warm_start_report.py")
    _fake_row(tmp_path, "sft_r_s0", [True, False, False, False], [False] * 4)
    _fake_row(tmp_path, "rft_s0", [True, True, False, False], [True, False, False, False])
    _fake_row(tmp_path, "latro_log_likelihood_s0", [False, True, True, True], [False] * 4)
    tests = report.paired_tests(tmp_path, report.found_rows(tmp_path, [0]))
    assert tests[2:] == [
        "| latro_log_likelihood_s0 | sft_r_s0 | test | 3 | 1 | 0.625 |",
        "| latro_log_likelihood_s0 | sft_r_s0 | reworded | 0 | 0 | 1 |",
        "| latro_log_likelihood_s0 | rft_s0 | test | 2 | 1 | 1 |",
        "| latro_log_likelihood_s0 | rft_s0 | reworded | 0 | 1 | 1 |",
        "| rft_s0 | sft_r_s0 | test | 1 | 0 | 1 |",
        "| rft_s0 | sft_r_s0 | reworded | 1 | 0 | 1 |",
    ]


# ---------------------------------------------------------------- issue #27: clean splits, arms, seed-level tests


@pytest.fixture(scope="module")
def controls():
    return _load(EXPERIMENTS / "controls.py")


def test_the_plans_splits_are_clean_and_the_old_test_split_was_not(controls):
    from latro_trl.data.synthetic import signatures

    problems = controls.clean_problems(64, 192, 100, 500, 500)
    assert {split: len(rows) for split, rows in problems.items()} == {
        "R": 64,
        "A": 192,
        "validation": 100,
        "test": 500,
        "reworded": 500,
        "old_neardup": 109,  # the old test split's near-duplicates of training problems (its first 500)
    }
    seen = signatures(problems["R"] + problems["A"] + problems["validation"])
    assert not signatures(problems["test"]) & seen and not signatures(problems["reworded"]) & seen
    assert not signatures(problems["validation"]) & signatures(problems["R"] + problems["A"])
    assert signatures(problems["old_neardup"]) <= signatures(problems["R"] + problems["A"])
    scored = controls.old_scored_questions()
    assert not {p["question"] for p in problems["test"] + problems["reworded"]} & scored
    controls.check_clean(problems)
    # The check fails on the old split and on the earlier reworded draw.
    with pytest.raises(ValueError, match="test: 109 problems share their arithmetic"):
        controls.check_clean({**problems, "test": problems["old_neardup"]})
    from latro_trl.data.reworded import make_reworded_problems

    with pytest.raises(ValueError, match="reworded: .* were scored before"):
        controls.check_clean({**problems, "reworded": make_reworded_problems(10, seed=0)})


def test_answer_term_only_trains_the_answer_term_alone(controls, tokenizer, conversational_dataset, tmp_path):
    from latro_trl.testing import make_tiny_model
    from latro_trl.warm_start import lora_latro, small_run_config

    def one_step(trainer_class, out):
        run = small_run_config(
            tmp_path / out,
            max_steps=1,
            per_device_train_batch_size=8,
            num_generations=4,
            max_completion_length=8,
            learning_rate=1e-3,
            answer_loss_coef=1.0,
            unfinished_penalty_factor=None,  # the tiny model never finishes: keep the rewards apart
        )
        # the same start for both
        trainer = lora_latro(
            make_tiny_model(tokenizer), tokenizer, conversational_dataset, run, lora_r=4, trainer_class=trainer_class
        )
        assert type(trainer) is (trainer_class or type(trainer))
        return trainer.state.log_history[0]

    latro = one_step(None, "latro")
    answer_only = one_step(controls.answer_term_only_trainer(), "answer_only")
    assert latro["loss/policy"] != 0.0  # LaTRO's rationale term (the check can fail)
    assert answer_only["loss/policy"] == 0.0 and answer_only["loss/answer"] != 0.0
    assert answer_only["reward"] == latro["reward"]  # the same first rationales, scored the same way


def test_the_recipe_records_the_settings_of_issue_27s_run(controls, tmp_path, monkeypatch):
    """Issue #27's run (code at ffc5ea0) stops at a stage recorded with other settings: with its recipe and no flags,
    this code records the settings that run records (its stage files) and trains LaTRO with the same config."""
    from types import SimpleNamespace

    import latro_trl.warm_start as library
    from latro_trl.warm_start import small_run_config

    stages, runs = {}, []

    def record(self, name, fn, settings):
        stages[name] = settings
        return fn() if name == "latro_s0_train" else {}

    def lora_latro(model, tokenizer, dataset, args, **keywords):
        runs.append((args, keywords))
        return SimpleNamespace(state=SimpleNamespace(global_step=args.max_steps, log_history=[]))

    monkeypatch.setattr(sys.modules["compare"].Stages, "__call__", record)
    monkeypatch.setattr(sys.modules["warm_start"], "_load_folder", lambda *a, **k: (None, None))
    monkeypatch.setattr(library, "lora_latro", lora_latro)
    assert controls.main(["--out", str(tmp_path), "--arms", "latro"]) == 0

    data = "clean splits of issue #27: train/validation seed 0, test seed 27, reworded seed 27, 1-2 steps"
    sft = {"data": data, "R": 64, "A": 192, "lr_sft": 3e-4, "lora_r": 16, "num_checkpoints": 4, "questions_per_step": 2}
    evaluation = {"val_n": 100, "test_n": 500, "reworded_n": 500, "max_new_tokens": 112}
    assert stages["sft_r_s0_train"] == {**sft, "seed": 0}
    assert stages["sft_r_s0_select"] == stages["sft_r_s0_eval"] == {**sft, "seed": 0, **evaluation}
    latro = {**sft, "lr_latro": 5e-5, "num_generations": 4, "max_completion_length": 96, "beta": 0.05}
    latro |= {"arm": "latro", "seed": 0, "reward": "log_likelihood", "answer_loss_coef": 1.0}
    assert stages["latro_s0_train"] == latro and stages["latro_s0_eval"] == {**latro, **evaluation}
    ((run, keywords),) = runs
    before = small_run_config(  # what controls.py passed lora_latro as keywords at ffc5ea0
        tmp_path / "latro_s0",
        save_steps=24,
        max_steps=96,
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=96,
        learning_rate=5e-5,
        beta=0.05,
        seed=0,
        reward_type="log_likelihood",
        answer_loss_coef=1.0,
        shuffle_dataset=False,
    )
    assert run.to_dict() == before.to_dict()
    assert keywords == {"lora_r": 16, "resume": True, "trainer_class": None}


def test_row_names_and_the_phase0_choice(controls, tmp_path):
    assert controls.row_name("latro", 3) == "latro_s3"
    assert controls.row_name("sft_more", 0, 1e-4) == "sft_more_lr1e-04_s0"
    for lr, best in ((3e-4, 0.5), (1e-4, 0.6), (3e-5, 0.6)):
        pick = {"validation_accuracy": {"a/checkpoint-24": best - 0.1, "a/checkpoint-48": best}}
        (tmp_path / f"{controls.row_name('rft', 0, lr)}_select.json").write_text(json.dumps(pick))
    choice = controls.pick_learning_rate(tmp_path, "rft", 0, [3e-4, 1e-4, 3e-5])
    assert choice == {"validation_best": {"3e-04": 0.5, "1e-04": 0.6, "3e-05": 0.6}, "chosen_lr": 3e-5}  # tie: smaller


def test_every_arm_trains_selects_evaluates_and_a_rerun_resumes(controls, tokenizer, tmp_path, monkeypatch):
    """The whole schedule for one seed on a tiny random model standing in for the embedded one."""
    import latro_trl.models as models
    from latro_trl.testing import make_tiny_model

    real_load = models.load_model_and_tokenizer
    calls = []

    def tiny_load(name_or_path=models.EMBEDDED_MODEL_NAME, adapter=None, **kwargs):
        calls.append((str(name_or_path), str(adapter)))
        if str(name_or_path) != models.EMBEDDED_MODEL_NAME:
            return real_load(name_or_path, adapter=adapter, dtype="float32")
        model = make_tiny_model(tokenizer)
        if adapter is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        return model, tokenizer

    monkeypatch.setattr(models, "load_model_and_tokenizer", tiny_load)

    def fake_samples(self, seed):  # a tiny random model reaches no gold answer: three kept replies instead
        folder = self.out / f"rft_s{seed}_samples"
        folder.mkdir(parents=True, exist_ok=True)
        kept = [{"question_index": i, "reply": f"{i} + 1 = {i + 1}. The answer is {i + 1}."} for i in range(3)]
        (folder / "kept.json").write_text(json.dumps(kept))
        return {"kept": 3}

    monkeypatch.setattr(controls.Controls, "rft_data", fake_samples)
    sizes = ["--num_rationales", "4", "--num_answers", "8", "--val_n", "3", "--test_n", "3", "--reworded_n", "3"]
    small = [
        "--num_checkpoints",
        "2",
        "--max_completion_length",
        "6",
        "--max_new_tokens",
        "4",
        "--lr_grid",
        "1e-3",
        "1e-4",
    ]
    argv = [
        "--out",
        str(tmp_path),
        "--seeds",
        "0",
        "--arms",
        "latro",
        "answer_only",
        "sft_more",
        "latro_lambda0",
        "rft",
    ]
    assert controls.main([*argv, *sizes, *small]) == 0

    chosen = {
        arm: json.loads((tmp_path / f"phase0_{arm}_lr.json").read_text())["chosen_lr"] for arm in ("sft_more", "rft")
    }
    rows = ["sft_r_s0", "latro_s0", "answer_only_s0", "latro_lambda0_s0"]
    rows += [controls.row_name(arm, 0, lr) for arm, lr in chosen.items()]
    data = json.loads((tmp_path / "data.json").read_text())
    assert len(data["test"]) == 3 and data["test"][0]["signature"][1] and data["old_neardup"]
    for row in rows:
        result = json.loads((tmp_path / f"{row}_eval.json").read_text())
        scored = [result[split]["greedy"]["n"] for split in ("test", "reworded", "old_neardup")]
        assert scored == [3, 3, len(data["old_neardup"])]
        assert (tmp_path / f"{row}_test" / "predictions.jsonl").is_file()
        assert result["cpu_seconds"] > 0
    for row in rows[1:]:
        trained = json.loads((tmp_path / f"{row}_train.json").read_text())
        assert trained["optimizer_steps"] == 4  # every arm: A / 2 optimizer steps
    unchosen = [controls.row_name(arm, 0, other) for arm, lr in chosen.items() for other in (1e-3, 1e-4) if other != lr]
    assert all((tmp_path / f"{row}_select.json").is_file() for row in unchosen)  # phase 0: validation only
    assert not any((tmp_path / f"{row}_eval.json").is_file() for row in unchosen)
    assert (tmp_path / "code_commit.txt").read_text().strip()
    table = controls.status(tmp_path)
    for row in rows[1:]:
        assert any(line.startswith(f"| {row} | train, select, eval |") and line.endswith("| 4 |") for line in table)

    calls.clear()
    assert controls.main([*argv, *sizes, *small]) == 0  # every stage found on disk: nothing loads a model
    assert calls == []
    (tmp_path / "code_commit.txt").write_text("another\n")
    with pytest.raises(SystemExit, match="made by code at another"):
        controls.main([*argv, *sizes, *small])


def test_seed_level_statistics():
    import sys

    sys.path.insert(0, str(EXPERIMENTS))
    try:
        stats = _load(EXPERIMENTS / "seed_stats.py")
    finally:
        sys.path.remove(str(EXPERIMENTS))
    assert stats.t_sf(2.262, 9) == pytest.approx(0.025, abs=2e-4)  # tables: t(0.975, 9) = 2.262
    assert stats.t_sf(-1.833, 9) == pytest.approx(0.95, abs=2e-4)
    assert stats.t_quantile(0.95, 2) == pytest.approx(2.920, abs=1e-3)
    # Issue #27's seed-level reading of issue #14: gains 7.6, 1.0, 11.2 give t = 2.2, two-sided p about 0.16.
    result = stats.paired_t([7.6, 1.0, 11.2])
    assert result["t"] == pytest.approx(2.21, abs=0.01) and 2 * result["p_one_sided"] == pytest.approx(0.158, abs=0.002)
    assert stats.paired_t([-d for d in (7.6, 1.0, 11.2)], margin=-5)["p_one_sided"] > 0.5
    assert stats.wilcoxon_signed_rank([1, 2, 3, 4, 5])["p_one_sided"] == 1 / 32
    assert stats.wilcoxon_signed_rank([1, -2, 3, 4, 0])["p_one_sided"] == pytest.approx(3 / 16)  # W+ = 8 of 10
    assert stats.holm({"a": 0.01, "b": 0.04, "c": 0.03}) == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06})


def _run_folder_row(out: Path, row: str, stages: tuple[str, ...], splits: tuple[str, ...] = ()) -> None:
    """A row's stage files, and per split a prediction folder with the batch log a finished evaluation leaves."""
    for stage in stages:
        (out / f"{row}_{stage}.json").write_text(json.dumps({"stage": stage, "row": row}))
    for split in splits:
        folder = out / f"{row}_{split}"
        (folder / "partial").mkdir(parents=True)
        (folder / "predictions.jsonl").write_text(json.dumps({"row": row, "split": split}) + "\n")
        (folder / "summary.json").write_text("{}")
        (folder / "partial" / "greedy.jsonl").write_text("batch log\n")


def test_the_run_archive_keeps_finished_rows_and_retrains_the_warm_starts_still_needed(tmp_path):
    """Issue #27: a replaced machine loses the run folder; the archive brings back every finished row's results, and
    the warm start of a seed with rows still to run is trained again (its weights are not archived)."""
    archive_tool = _load(EXPERIMENTS / "run_archive.py")
    out, archive, new = tmp_path / "run", tmp_path / "archive", tmp_path / "new"
    out.mkdir()
    (out / "code_commit.txt").write_text("abc\n")
    (out / "phase0_sft_more_lr.json").write_text(json.dumps({"chosen_lr": 3e-4}))
    every = ("train", "select", "eval")
    for seed in (0, 3):
        _run_folder_row(out, f"sft_r_s{seed}", every, ("val/checkpoint-8", "test"))
    for row in ("latro_s3", "answer_only_s3", "sft_more_lr3e-04_s3", "latro_s0"):
        _run_folder_row(out, row, every, ("test", "reworded"))
    _run_folder_row(out, "sft_more_lr1e-04_s0", ("train", "select"))  # phase 0, not chosen: finished
    _run_folder_row(out, "sft_more_lr3e-04_s0", ("train", "select"))  # phase 0's choice, not yet evaluated
    _run_folder_row(out, "answer_only_s0", ("train",))  # still training
    (out / "sft_r_s0" / "start").mkdir(parents=True)
    (out / "sft_r_s0" / "start" / "model.safetensors").write_bytes(b"weights")

    rows = archive_tool.save(out, archive)
    assert rows == ["answer_only_s3", "latro_s0", "latro_s3", "sft_more_lr1e-04_s0", "sft_more_lr3e-04_s3"] + [
        "sft_r_s0",
        "sft_r_s3",
    ]
    packed = {path.name: path.read_bytes() for path in (archive / "rows").iterdir()}
    archive_tool.save(out, archive)  # saving again writes the same bytes: git sees no change
    assert {path.name: path.read_bytes() for path in (archive / "rows").iterdir()} == packed

    result = archive_tool.restore(archive, new)
    assert result["warm_start_to_retrain"] == ["sft_r_s0"]  # seed 3's primary rows are all in; seed 0's are not
    assert (new / "code_commit.txt").read_text() == "abc\n" and (new / "phase0_sft_more_lr.json").is_file()
    for row in ("latro_s3", "answer_only_s3", "sft_more_lr3e-04_s3", "latro_s0"):
        assert all((new / f"{row}_{stage}.json").is_file() for stage in every)
        assert json.loads((new / f"{row}_reworded" / "predictions.jsonl").read_text())["row"] == row
        assert not (new / f"{row}_test" / "partial").exists()
    assert all((new / f"sft_r_s3_{stage}.json").is_file() for stage in every)
    assert (new / "sft_r_s3_val" / "checkpoint-8" / "predictions.jsonl").is_file()
    # Seed 0's warm start trains and selects again; its evaluation is kept, its old selection stays for comparison.
    assert not (new / "sft_r_s0_train.json").exists() and not (new / "sft_r_s0_select.json").exists()
    assert (new / "sft_r_s0_eval.json").is_file() and (new / "sft_r_s0_select.archived.json").is_file()
    assert not (new / "sft_r_s0_val").exists() and not (new / "sft_r_s0").exists()
    assert (new / "sft_more_lr1e-04_s0_select.json").is_file()
    assert not any(new.glob("answer_only_s0*")) and not any(new.glob("sft_more_lr3e-04_s0*"))
    with pytest.raises(SystemExit, match="new run folder"):
        archive_tool.restore(archive, new)
