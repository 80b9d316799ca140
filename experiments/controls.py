"""Issue #27: is LaTRO's gain over its warm start real, and is it the rationale optimisation? (plan: PLAN.md)

Every arm of a training seed starts from that seed's SFT(R) (the warm start of experiments/warm_start.py: LoRA SFT on
the first R = 64 training problems with gold rationales, checkpoint chosen on validation, merged) and trains a new
LoRA adapter for the same number of optimizer steps (A / 2 = 96):

    arm            what trains                                                                       role
    latro          LaTRO, log-likelihood reward, lambda = 1 (the paper's gradient), on the A = 192   primary
                   answer-only problems
    answer_only    the same sampler, loss and data, every advantage forced to 0: only                primary
                   lambda * log pi(y | x + z) trains (answer supervision after own rationales)
    sft_more       SFT(R) continued: SFT on the same R problems with their gold rationales           primary
                   (3 more epochs), learning rate chosen on validation (phase 0)
    latro_lambda0  LaTRO with lambda = 0 (the reference code's default: the rationale term only)     secondary
    rft            RFT/STaR: K = 4 sampled replies per A problem, those reaching the gold answer     secondary
                   kept, SFT on them; learning rate chosen on validation (phase 0)

Each arm keeps 4 checkpoints and is scored at the one with the best validation greedy accuracy. Splits are clean
(:func:`clean_problems`): the test split and the reworded draw are new draws that no earlier run scored, and none of
their problems shares its arithmetic (start value, operations, operands) with a training (R, A) or validation
problem. Each row is scored greedily on both, and on the old test split's near-duplicates (a secondary stratum).

Every stage writes a JSON file under --out and is skipped when it exists; re-run the same command to resume.
experiments/run_controls.sh runs the plan's schedule.

    python experiments/controls.py --out runs/controls --seeds 0 1 --arms latro answer_only sft_more

The plan's settings are experiments/recipes/controls.yaml: LaTROConfig's own flags for the LaTRO-estimator arms
(``--learning_rate``, ``--num_generations``: K, RFT's too; ``--max_completion_length``: L; ``--beta``;
``--per_device_train_batch_size``: questions per step x K, every SFT arm's questions per step too), ModelConfig's
``--lora_r``, and :class:`ControlsArguments`, read by TRL's ``TrlParser``. Change one only with a new --out.
"""

from __future__ import annotations

import functools
import json
import random
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# experiments/ is on sys.path when this file runs as a script (and the tests put it there).
from compare import StopAfter, embedded_model_only, parse_experiment, run_eval, versions
from warm_start import Experiment, _load_folder, _select_and_save_start

PRIMARY_ARMS = ("latro", "answer_only", "sft_more")
SECONDARY_ARMS = ("latro_lambda0", "rft")
# The seeds each kind of arm runs (PLAN.md section 4; run_controls.sh's blocks).
PLAN_SEEDS = {"primary": range(10), "secondary": range(3)}
# lambda (the answer term's weight) of the arms that train with the LaTRO estimator.
LATRO_ARMS = {"latro": 1.0, "answer_only": 1.0, "latro_lambda0": 0.0}
# Arms whose learning rate phase 0 chooses on validation (``--lr_grid``, at ``--phase0_seed``).
TUNED_ARMS = ("sft_more", "rft")

DATA_SEED = 0  # the training and validation draws, as in issue #14's runs
CLEAN_TEST_SEED = 27  # new draws (issue #27): no run before this experiment used these generator seeds
CLEAN_REWORDED_SEED = 27
# Problems scored before this experiment, all from seed-0 draws: the old test split (1-2 steps: compare.py, the
# demo, issue #14's runs; 2-3 steps: `latro eval` and scripts/baseline_eval.py defaults) and the old reworded draw.
OLD_SCORED_DRAW = 2000
OLD_TEST_N = 500  # issue #14's test split, the one whose near-duplicates make the old_neardup stratum

SETTINGS = ("lr_sft", "lora_r", "num_checkpoints", "questions_per_step")
LATRO_SETTINGS = (*SETTINGS, "lr_latro", "num_generations", "max_completion_length", "beta")
EVALUATION_SETTINGS = ("val_n", "test_n", "reworded_n", "max_new_tokens")
SPLITS = ("test", "reworded", "old_neardup")


@dataclass
class ControlsArguments:
    """What the experiment adds to the run's config (LaTROConfig: the LaTRO-estimator arms' K, L, beta, learning rate
    and batch = questions per step x K; ModelConfig: ``--lora_r``). Defaults: experiments/recipes/controls.yaml, the
    plan's settings (experiments/PLAN.md)."""

    out: str = field(default="runs/controls", metadata={"help": "The experiment's folder: its rows and stages."})
    seeds: list[int] = field(default_factory=lambda: [0], metadata={"help": "Training seeds, run in this order."})
    arms: list[str] = field(
        default_factory=lambda: list(PRIMARY_ARMS),
        metadata={"help": "Arms to run.", "choices": (*PRIMARY_ARMS, *SECONDARY_ARMS)},
    )
    num_rationales: int = field(default=64, metadata={"help": "R: problems with gold rationales."})
    num_answers: int = field(default=192, metadata={"help": "A: answer-only problems."})
    sft_learning_rate: float = field(default=3e-4, metadata={"help": "SFT(R)'s learning rate."})
    lr_grid: list[float] = field(
        default_factory=lambda: [3e-4, 1e-4, 3e-5],
        metadata={"help": "Phase 0's learning rates for the tuned arms (sft_more, rft)."},
    )
    phase0_seed: int = field(default=0, metadata={"help": "The seed phase 0 chooses the tuned arms' rates at."})
    rft_replies_per_step: int = field(default=4, metadata={"help": "RFT: kept replies per optimizer step."})
    num_checkpoints: int = field(default=4, metadata={"help": "Checkpoints per trained row, compared on validation."})
    val_n: int = field(default=100, metadata={"help": "Validation problems."})
    test_n: int = field(default=500, metadata={"help": "Test problems (a clean draw)."})
    reworded_n: int = field(default=500, metadata={"help": "Reworded problems (a clean draw)."})
    max_new_tokens: int = field(default=112, metadata={"help": "Reply limit of the evaluations and RFT's samples."})
    until: str | None = field(default=None, metadata={"help": "Stop after the stage of this name."})
    report_splits: bool = field(default=False, metadata={"help": "Print the splits' near-duplicate counts, exit."})
    status: bool = field(default=False, metadata={"help": "Print the rows under --out and their stages, exit."})


def parse_args(argv: Sequence[str] | None = None) -> tuple:
    """``(ControlsArguments, LaTROConfig, ModelConfig)``: the plan's settings are the recipe (experiments/PLAN.md);
    change one only with a new --out."""
    return parse_experiment(
        ControlsArguments, "controls.yaml", argv, __doc__, {"seed": "--seeds", "output_dir": "--out"}
    )


# ------------------------------------------------------------------ data


def clean_problems(
    num_rationales: int, num_answers: int, val_n: int, test_n: int, reworded_n: int
) -> dict[str, list[dict[str, Any]]]:
    """The experiment's problems, split by split, with the generator's structure (``start``, ``ops``).

    - ``R``, ``A``: the first ``num_rationales`` and the next ``num_answers`` training problems (seed 0, 1-2 steps:
      issue #14's training data).
    - ``validation``: seed 0's validation problems whose arithmetic is no training problem's.
    - ``test``: a new draw (seed :data:`CLEAN_TEST_SEED`) of the test split with no training or validation
      arithmetic and none of the questions scored before (:func:`old_scored_questions`).
    - ``reworded``: a new draw (seed :data:`CLEAN_REWORDED_SEED`) of the reworded family, excluded likewise.
    - ``old_neardup``: the problems of issue #14's test split (its first :data:`OLD_TEST_N`) whose arithmetic is a
      training problem's: the near-duplicate stratum, scored as a secondary measure.
    """
    from latro_trl.data.reworded import make_reworded_problems
    from latro_trl.data.synthetic import make_arithmetic_problems, signatures

    knobs = dict(min_steps=1, max_steps=2)
    train = make_arithmetic_problems(num_rationales + num_answers, seed=DATA_SEED, split="train", **knobs)
    trained = signatures(train)
    validation = make_arithmetic_problems(
        val_n, seed=DATA_SEED, split="validation", exclude_signatures=trained, **knobs
    )
    seen = trained | signatures(validation)
    scored = old_scored_questions()
    test = make_arithmetic_problems(
        test_n, seed=CLEAN_TEST_SEED, split="test", exclude_signatures=seen, exclude_questions=scored, **knobs
    )
    reworded = make_reworded_problems(
        reworded_n, seed=CLEAN_REWORDED_SEED, exclude_signatures=seen, exclude_questions=scored
    )
    old_test = make_arithmetic_problems(OLD_TEST_N, seed=DATA_SEED, split="test", **knobs)
    return {
        "R": train[:num_rationales],
        "A": train[num_rationales:],
        "validation": validation,
        "test": test,
        "reworded": reworded,
        "old_neardup": [p for p in old_test if _signature(p) in trained],
    }


@functools.cache
def old_scored_questions() -> frozenset[str]:
    """Every question of the seed-0 draws that runs before issue #27 scored (a superset: their first
    :data:`OLD_SCORED_DRAW` problems, far beyond any run's n)."""
    from latro_trl.data.reworded import make_reworded_problems
    from latro_trl.data.synthetic import make_arithmetic_problems

    questions = {p["question"] for p in make_reworded_problems(OLD_SCORED_DRAW, seed=DATA_SEED)}
    for low, high in ((1, 2), (2, 3)):
        draw = make_arithmetic_problems(OLD_SCORED_DRAW, seed=DATA_SEED, split="test", min_steps=low, max_steps=high)
        questions |= {p["question"] for p in draw}
    return frozenset(questions)


def check_clean(problems: dict[str, list[dict[str, Any]]]) -> None:
    """Raise ValueError if a test or reworded problem shares its arithmetic with a training or validation problem,
    or was scored before this experiment."""
    seen = {_signature(p) for split in ("R", "A", "validation") for p in problems[split]}
    scored = old_scored_questions()
    for split in ("test", "reworded"):
        shared = [p["question"] for p in problems[split] if _signature(p) in seen]
        old = [p["question"] for p in problems[split] if p["question"] in scored]
        if shared or old:
            raise ValueError(
                f"{split}: {len(shared)} problems share their arithmetic with training/validation ones and {len(old)}"
                f" were scored before, e.g. {(shared or old)[0]!r}"
            )


def splits_report(problems: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Markdown: how many problems of the old test split and of the old and new draws share their arithmetic with
    training or validation problems, and the step and scene mix of each split (``--report_splits``)."""
    from collections import Counter

    from latro_trl.data.reworded import make_reworded_problems
    from latro_trl.data.synthetic import make_arithmetic_problems, signatures

    r, a, val = (signatures(problems[s]) for s in ("R", "A", "validation"))
    old_val = signatures(make_arithmetic_problems(64, seed=DATA_SEED, split="validation", min_steps=1, max_steps=2))
    old_test = make_arithmetic_problems(OLD_TEST_N, seed=DATA_SEED, split="test", min_steps=1, max_steps=2)
    old_reworded = make_reworded_problems(1080, seed=DATA_SEED)
    draws = {
        f"old test split (seed {DATA_SEED}, first {OLD_TEST_N})": (old_test, old_val),
        f"old reworded draw (seed {DATA_SEED}, first 360)": (old_reworded[:360], old_val),
        f"old reworded draw (seed {DATA_SEED}, next 720)": (old_reworded[360:], old_val),
        f"new validation (seed {DATA_SEED})": (problems["validation"], set()),
        f"new test split (seed {CLEAN_TEST_SEED})": (problems["test"], val),
        f"new reworded draw (seed {CLEAN_REWORDED_SEED})": (problems["reworded"], val),
    }
    lines = [
        "| problems | n | share with R | with A | with R or A | with validation | with any | 1-step | repeats within |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, (rows, validation) in draws.items():
        sigs = [_signature(p) for p in rows]
        count = lambda ref, sigs=sigs: sum(s in ref for s in sigs)  # noqa: E731
        steps = Counter(p["num_steps"] for p in rows)
        lines.append(
            f"| {label} | {len(rows)} | {count(r)} | {count(a)} | {count(r | a)} | {count(validation)} "
            f"| {count(r | a | validation)} | {steps[1]} | {len(rows) - len(set(sigs))} |"
        )
    scenes = Counter(p["scene"] for p in problems["reworded"])
    old_scenes = Counter(p["scene"] for p in old_reworded[:360])
    lines += [
        "",
        "Scenes of the new reworded draw (old draw's first 360 in brackets): "
        + ", ".join(f"{scene} {scenes[scene]} ({old_scenes[scene]})" for scene in sorted(old_scenes)),
    ]
    return lines


def _signature(problem: dict[str, Any]):
    from latro_trl.data.synthetic import arithmetic_signature

    return arithmetic_signature(problem)


def describe(problems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """What data.json keeps of each split: per problem its question, answer, step count and arithmetic (and scene),
    so that every table can be stratified later without the generator."""
    return {
        split: [
            {
                "question": p["question"],
                "answer": p["answer"],
                "num_steps": p["num_steps"],
                "signature": [p["start"], [list(op) for op in p["ops"]]],
                **({"scene": p["scene"]} if "scene" in p else {}),
            }
            for p in rows
        ]
        for split, rows in problems.items()
    }


# ------------------------------------------------------------------ the estimator variant


# LaTROTrainer's method that returns the local rows' advantages (and whether each reward is finite), called both when
# the batch is scored and in the loss; it was renamed once, so the subclass overrides whichever the installed one has.
ADVANTAGE_HOOKS = ("_advantages_and_log", "_advantages")


@functools.cache
def answer_term_only_trainer() -> type:
    """LaTROTrainer with every advantage 0: the rationale term ``A * log pi(z|x)`` drops out of the loss and only
    ``lambda * log pi(y | x + z)`` trains, on rationales sampled exactly as LaTRO samples them. Rewards and the
    logged advantages are still computed (and logged) as LaTRO's. Raises if LaTROTrainer has none of
    :data:`ADVANTAGE_HOOKS` (an override that overrides nothing would silently train LaTRO)."""
    import torch

    from latro_trl import LaTROTrainer

    hook = next((name for name in ADVANTAGE_HOOKS if callable(getattr(LaTROTrainer, name, None))), None)
    if hook is None:
        raise RuntimeError(f"LaTROTrainer has none of {ADVANTAGE_HOOKS}: update answer_term_only_trainer")

    def zero_advantages(self, inputs, rationale_logps, answer_logps, mode):
        advantages, valid = getattr(super(trainer_class, self), hook)(inputs, rationale_logps, answer_logps, mode)
        return torch.zeros_like(advantages), valid

    trainer_class = type("AnswerTermOnlyTrainer", (LaTROTrainer,), {hook: zero_advantages})
    return trainer_class


# ------------------------------------------------------------------ the experiment


class Controls(Experiment):
    """warm_start.Experiment on the clean splits, with the arms of issue #27."""

    def load_data(self) -> None:
        from latro_trl.data.synthetic import problems_to_dataset

        args = self.args
        self.problems = clean_problems(args.num_rationales, args.num_answers, args.val_n, args.test_n, args.reworded_n)
        check_clean(self.problems)
        sets = {split: problems_to_dataset(rows) for split, rows in self.problems.items()}
        self.rationale_set, self.answer_set, self.val_set = sets["R"], sets["A"], sets["validation"]
        self.test_set, self.reworded_set, self.old_neardup_set = sets["test"], sets["reworded"], sets["old_neardup"]
        self.reworded_more_set = None
        self.data = {
            "data": f"clean splits of issue #27: train/validation seed {DATA_SEED}, test seed {CLEAN_TEST_SEED}, "
            f"reworded seed {CLEAN_REWORDED_SEED}, 1-2 steps",
            "R": args.num_rationales,
            "A": args.num_answers,
        }
        # Every arm trains this many optimizer steps.
        self.steps = args.num_answers // self.questions_per_step

    def _load_checkpoint(self, name: str, seed: int, checkpoint: Path | str):
        """SFT(R) is an adapter on the base model; every arm an adapter on its seed's merged SFT(R)."""
        if name.startswith("sft_r_"):
            return super()._load_checkpoint(name, seed, checkpoint)
        return _load_folder(self.start_dir(seed), adapter=checkpoint)

    def write_data(self) -> None:
        """data.json: the problems of every split; a folder made from other problems stops the run."""
        path, described = self.out / "data.json", describe(self.problems)
        if path.is_file():
            if json.loads(path.read_text()) != json.loads(json.dumps(described)):
                raise SystemExit(f"{path} holds other problems than this code draws: use a new --out")
        else:
            path.write_text(json.dumps(described))

    # -------------------------------------------------------------- training

    def train_latro_arm(self, arm: str, seed: int, out_dir: Path) -> dict:
        return self.train_latro(
            "log_likelihood",
            seed,
            out_dir,
            start=self.start_dir(seed),
            steps=self.steps,
            answer_loss_coef=LATRO_ARMS[arm],
            trainer_class=answer_term_only_trainer() if arm == "answer_only" else None,
        )

    def train_sft_more(self, seed: int, out_dir: Path, learning_rate: float) -> dict:
        """SFT(R) continued: the R problems with gold rationales, cycled to ``steps`` optimizer steps."""
        rows = self.steps * self.questions_per_step
        dataset = self.rationale_set.select([i % len(self.rationale_set) for i in range(rows)])
        return self.train_sft(dataset, out_dir, seed, start=self.start_dir(seed), learning_rate=learning_rate)

    def train_rft_arm(self, seed: int, out_dir: Path, learning_rate: float) -> dict:
        """SFT on the kept replies (``rft_s<seed>_samples``) in a seed-shuffled order, cycled to ``steps`` optimizer
        steps of ``--rft_replies_per_step`` replies."""
        from datasets import Dataset

        kept = json.loads((self.out / f"rft_s{seed}_samples" / "kept.json").read_text())
        if not kept:
            raise SystemExit(f"rft_s{seed}: no sampled reply reached the gold answer")
        per_step = self.args.rft_replies_per_step
        order = random.Random(seed).sample(range(len(kept)), len(kept))
        prompts = self.answer_set["prompt"]
        rows = [
            {
                "prompt": prompts[kept[order[i % len(kept)]]["question_index"]],
                "completion": [{"role": "assistant", "content": kept[order[i % len(kept)]]["reply"]}],
            }
            for i in range(self.steps * per_step)
        ]
        return self.train_sft(
            Dataset.from_list(rows),
            out_dir,
            seed,
            start=self.start_dir(seed),
            learning_rate=learning_rate,
            questions_per_step=per_step,
        )

    # -------------------------------------------------------------- evaluation

    def evaluate(self, name: str, seed: int) -> dict:
        """Greedy answers on the clean test split, the clean reworded draw and the old near-duplicate stratum;
        every problem's prediction stays in ``<name>_<split>/``."""
        model, tokenizer = self.load(name, seed)
        sets = {"test": self.test_set, "reworded": self.reworded_set, "old_neardup": self.old_neardup_set}
        return {
            split: run_eval(model, tokenizer, sets[split], self.out / f"{name}_{split}", 1, self.args.max_new_tokens)
            for split in SPLITS
        }


def row_name(arm: str, seed: int, learning_rate: float | None = None) -> str:
    """``<arm>_s<seed>``; arms with a learning rate of their own: ``<arm>_lr<lr>_s<seed>`` (``sft_more_lr1e-04_s3``)."""
    return f"{arm}_s{seed}" if learning_rate is None else f"{arm}_lr{learning_rate:.0e}_s{seed}"


def pick_learning_rate(out: Path, arm: str, seed: int, grid: Sequence[float]) -> dict:
    """Phase 0's choice: the learning rate whose best checkpoint has the highest validation accuracy; ties: the
    smaller learning rate (the smaller change from the warm start)."""
    best = {}
    for lr in grid:
        pick = json.loads((out / f"{row_name(arm, seed, lr)}_select.json").read_text())
        best[f"{lr:.0e}"] = max(pick["validation_accuracy"].values())
    chosen = max(grid, key=lambda lr: (best[f"{lr:.0e}"], -lr))
    return {"validation_best": best, "chosen_lr": chosen}


def code_commit() -> str:
    """The commit of the code running: the COMMIT file of a `git archive` copy, else `git rev-parse HEAD`."""
    root = Path(__file__).resolve().parents[1]
    if (root / "COMMIT").is_file():
        return (root / "COMMIT").read_text().strip()
    try:
        return subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# ------------------------------------------------------------------ the schedule


def warm_start_row(exp: Controls, seed: int) -> None:
    """SFT(R) of a seed: trained, selected on validation (saved merged: every arm's start), evaluated."""
    name = f"sft_r_s{seed}"
    trained = exp.settings(*SETTINGS, seed=seed)
    exp.stage(f"{name}_train", lambda: exp.train_sft(exp.rationale_set, exp.out / name, seed), trained)
    with_eval = {**trained, **exp.settings(*EVALUATION_SETTINGS)}
    exp.stage(f"{name}_select", lambda: _select_and_save_start(exp, name, seed), with_eval)
    exp.stage(f"{name}_eval", lambda: exp.evaluate(name, seed), with_eval)


def train_and_select(exp: Controls, name: str, seed: int, train, trained: dict) -> None:
    exp.stage(f"{name}_train", train, trained)
    exp.stage(f"{name}_select", lambda: exp.select(name, seed), {**trained, **exp.settings(*EVALUATION_SETTINGS)})


def evaluate_row(exp: Controls, name: str, seed: int, trained: dict) -> None:
    exp.stage(f"{name}_eval", lambda: exp.evaluate(name, seed), {**trained, **exp.settings(*EVALUATION_SETTINGS)})


def run_arm(exp: Controls, arm: str, seed: int) -> None:
    """One arm of one seed: (phase 0 where the arm has one), training, selection on validation, evaluation."""
    if arm in LATRO_ARMS:
        name = row_name(arm, seed)
        trained = exp.settings(
            *LATRO_SETTINGS, arm=arm, seed=seed, reward="log_likelihood", answer_loss_coef=LATRO_ARMS[arm]
        )
        train_and_select(exp, name, seed, lambda: exp.train_latro_arm(arm, seed, exp.out / name), trained)
        evaluate_row(exp, name, seed, trained)
        return
    if arm == "rft":
        sampled = exp.settings(*SETTINGS, "num_generations", "max_new_tokens", seed=seed)
        exp.stage(f"rft_s{seed}_samples", lambda: exp.rft_data(seed), sampled)
    lr = chosen_learning_rate(exp, arm)
    name = row_name(arm, seed, lr)
    trained = tuned_settings(exp, arm, seed, lr)
    train_and_select(exp, name, seed, lambda: train_tuned(exp, arm, seed, lr), trained)
    evaluate_row(exp, name, seed, trained)


def tuned_settings(exp: Controls, arm: str, seed: int, lr: float) -> dict:
    extra = ("num_generations", "max_new_tokens", "rft_replies_per_step") if arm == "rft" else ()
    return exp.settings(*SETTINGS, *extra, arm=arm, seed=seed, learning_rate=lr, steps=exp.steps)


def train_tuned(exp: Controls, arm: str, seed: int, lr: float) -> dict:
    out_dir = exp.out / row_name(arm, seed, lr)
    if arm == "rft":
        return exp.train_rft_arm(seed, out_dir, lr)
    return exp.train_sft_more(seed, out_dir, lr)


def chosen_learning_rate(exp: Controls, arm: str) -> float:
    """Phase 0 of a tuned arm (once, at ``--phase0_seed``): each learning rate of the grid trained and selected on
    validation, the best kept. Never looks at the test split."""
    args, seed = exp.args, exp.args.phase0_seed
    warm_start_row(exp, seed)
    if arm == "rft":
        sampled = exp.settings(*SETTINGS, "num_generations", "max_new_tokens", seed=seed)
        exp.stage(f"rft_s{seed}_samples", lambda: exp.rft_data(seed), sampled)
    for lr in args.lr_grid:
        name = row_name(arm, seed, lr)
        train = lambda lr=lr: train_tuned(exp, arm, seed, lr)  # noqa: E731
        train_and_select(exp, name, seed, train, tuned_settings(exp, arm, seed, lr))
    settings = exp.settings(*SETTINGS, *EVALUATION_SETTINGS, arm=arm, seed=seed, lr_grid=list(args.lr_grid))
    choice = exp.stage(f"phase0_{arm}_lr", lambda: pick_learning_rate(exp.out, arm, seed, args.lr_grid), settings)
    return float(choice["chosen_lr"])


def status(out: Path) -> list[str]:
    """Markdown: every row found under ``out`` with its finished stages, their CPU and wall minutes, and its step
    count; a row still training shows its last checkpoint (``--status``)."""
    rows: dict[str, dict[str, dict]] = {}
    for path in sorted(out.glob("*.json")):
        name, _, stage = path.stem.rpartition("_")
        if stage in ("train", "select", "eval", "samples") and re.fullmatch(r".+_s\d+", name):
            rows.setdefault(name, {})[stage] = json.loads(path.read_text())
    for folder in sorted(out.iterdir()):  # rows still training: a row folder with checkpoints, no train stage yet
        if folder.is_dir() and re.fullmatch(r".+_s\d+", folder.name) and any(folder.glob("checkpoint-*")):
            rows.setdefault(folder.name, {})
    lines = ["| row | stages done | CPU min | wall min | steps / last checkpoint |", "|---|---|---|---|---|"]
    for name, stages in sorted(rows.items(), key=lambda item: (int(item[0].rsplit("_s", 1)[1]), item[0])):
        cpu = sum(stage.get("cpu_seconds", 0.0) for stage in stages.values()) / 60
        wall = sum(stage.get("wall_seconds", 0.0) for stage in stages.values()) / 60
        checkpoints = sorted((out / name).glob("checkpoint-*"), key=lambda c: int(c.name.split("-")[1]))
        steps = stages["train"].get("optimizer_steps") if "train" in stages else None
        progress = steps if steps is not None else (checkpoints[-1].name if checkpoints else "-")
        done = ", ".join(stage for stage in ("samples", "train", "select", "eval") if stage in stages) or "-"
        lines.append(f"| {name} | {done} | {cpu:.1f} | {wall:.1f} | {progress} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args, config, model_args = parse_args(argv)
    embedded_model_only(model_args)
    if args.status:
        print("\n".join(status(Path(args.out))))
        return 0
    if args.report_splits:
        problems = clean_problems(args.num_rationales, args.num_answers, args.val_n, args.test_n, args.reworded_n)
        print("\n".join(splits_report(problems)))
        return 0
    exp = Controls(args, config, model_args)
    exp.out.mkdir(parents=True, exist_ok=True)
    commit = code_commit()
    recorded = exp.out / "code_commit.txt"
    if recorded.is_file() and recorded.read_text().strip() != commit:
        raise SystemExit(
            f"{exp.out} was made by code at {recorded.read_text().strip()}, this is {commit}: use a new --out, or "
            f"delete {recorded} if the change cannot affect any stage"
        )
    recorded.write_text(commit + "\n")
    exp.write_data()
    with (exp.out / "commands.jsonl").open("a") as log:
        log.write(json.dumps({**exp.recorded, "commit": commit, "versions": versions()}) + "\n")
    try:
        for seed in args.seeds:
            warm_start_row(exp, seed)
            for arm in args.arms:
                run_arm(exp, arm, seed)
    except StopAfter as stop:
        print(f"stopped after {stop} (--until)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
