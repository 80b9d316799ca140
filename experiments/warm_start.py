"""Does LaTRO improve a model that already reasons a little? The warm-start comparison (issue #14).

Every row starts from the embedded SmolLM2-135M-Instruct and trains LoRA adapters (r=16, attention projections) on
the same synthetic arithmetic task (1-2 steps). Questions come from the training split in a fixed order: the first R
with their gold rationales, the next A with their answers only.

    row                      trains on
    base                     nothing
    sft_r                    R questions with gold rationales (the warm start)
    latro_<reward>           sft_r, then LaTRO on the A answer-only questions, one row per reward variant
    rft                      sft_r, then STaR / rejection-sampling fine-tuning on the same A questions: K sampled
                             replies per question (as many as LaTRO samples), those reaching the gold answer kept
    sft_ra                   R + A questions with gold rationales: the ceiling, with rationales LaTRO never sees

Each trained row keeps ``num_checkpoints`` checkpoints and is evaluated at the one with the best greedy accuracy on
the validation split. The test split is scored once per model: greedy and maj@k on the synthetic test split, greedy
on the reworded family (``latro_trl.data.load_reworded``: other scenes and wording). Every stage writes a JSON file
under --out and is skipped when it exists, so a stopped run continues where it stopped (re-run the same command).

    python experiments/warm_start.py --out runs/warm_start

The run's settings are LaTROConfig's own flags (``--num_generations``: K, for LaTRO and RFT alike;
``--max_completion_length``: L; ``--learning_rate``: LaTRO's; ``--per_device_train_batch_size``: questions per step x
K, which SFT's steps take as well...) and ModelConfig's ``--lora_r``, read by TRL's ``TrlParser`` beside
:class:`WarmStartArguments`; the defaults are ``experiments/recipes/warm_start.yaml``. Each row's output folder,
seed, steps, checkpoints and reward are set per row (``--seeds``, ``--rewards``).

Then ``python experiments/warm_start_report.py --out runs/warm_start`` writes the table, the paired tests and the
curves.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# experiments/ is on sys.path when this file runs as a script (and the tests put it there).
from compare import (
    Stages,
    StopAfter,
    _checkpoints,
    _stop_unless_finished,
    embedded_model_only,
    parse_experiment,
    recorded_settings,
    run_eval,
    training_record,
    versions,
)

REWARD_VARIANTS = ("log_likelihood", "probability")
ROWS = ("base", "sft_r", "latro", "rft", "sft_ra")
# The settings each kind of stage depends on (by the names its files record, see compare.recorded_settings); a stage
# found on disk with other values stops the run (see Stages).
SFT_SETTINGS = ("lr_sft", "lora_r", "num_checkpoints", "questions_per_step")
LATRO_SETTINGS = (*SFT_SETTINGS, "lr_latro", "num_generations", "max_completion_length", "beta", "answer_loss_coef")
EVALUATION_SETTINGS = ("val_n", "test_n", "reworded_n", "maj_k", "maj_n", "max_new_tokens")


@dataclass
class WarmStartArguments:
    """What the comparison adds to the run's config (LaTROConfig: K, L, beta, lambda, LaTRO's learning rate, the batch
    = questions per step x K; ModelConfig: ``--lora_r``). Defaults: experiments/recipes/warm_start.yaml."""

    out: str = field(default="runs/warm_start", metadata={"help": "The experiment's folder: its rows and stages."})
    seeds: list[int] = field(default_factory=lambda: [0], metadata={"help": "Training seeds of sft_r and LaTRO rows."})
    num_rationales: int = field(default=64, metadata={"help": "R: questions with gold rationales."})
    num_answers: int = field(default=192, metadata={"help": "A: answer-only questions."})
    sft_learning_rate: float = field(default=3e-4, metadata={"help": "The SFT rows' learning rate (RFT's too)."})
    num_checkpoints: int = field(default=4, metadata={"help": "Checkpoints per trained row, compared on validation."})
    rewards: list[str] = field(
        default_factory=lambda: list(REWARD_VARIANTS),
        metadata={"help": "LaTRO's reward variants, one row each.", "choices": REWARD_VARIANTS},
    )
    latro_start: str = field(
        default="selected",
        metadata={
            "help": "LaTRO's warm start: SFT(R)'s checkpoint chosen on validation, or its last one (rows named "
            "latro_<reward>_last_s<seed>; the SFT(R) row compared against stays the selected one).",
            "choices": ("selected", "last"),
        },
    )
    rows: list[str] = field(default_factory=lambda: list(ROWS), metadata={"help": "Rows to run.", "choices": ROWS})
    val_n: int = field(default=64, metadata={"help": "Validation problems."})
    test_n: int = field(default=200, metadata={"help": "Test problems."})
    reworded_n: int = field(default=120, metadata={"help": "Reworded problems."})
    reworded_more_n: int = field(
        default=0,
        metadata={
            "help": "Then score each row's greedy answers on the family's next N problems too (stage "
            "<row>_reworded_more): problems no model was scored on before, for a second, larger test on that family."
        },
    )
    maj_k: int = field(default=8, metadata={"help": "k of maj@k."})
    maj_n: int = field(default=100, metadata={"help": "maj@k on the first N test problems (compute bound)."})
    max_new_tokens: int = field(default=112, metadata={"help": "Reply limit of the evaluations and RFT's samples."})
    until: str | None = field(default=None, metadata={"help": "Stop after the stage of this name."})


def parse_args(argv: Sequence[str] | None = None) -> tuple:
    """``(WarmStartArguments, LaTROConfig, ModelConfig)``."""
    replaced = {"seed": "--seeds", "output_dir": "--out", "reward_type": "--rewards"}
    return parse_experiment(WarmStartArguments, "warm_start.yaml", argv, __doc__, replaced)


class Experiment:
    """The data, the stage runner and the model loaders of one comparison."""

    def __init__(self, args: Any, config: Any, model_args: Any):
        self.args, self.config, self.model_args, self.out = args, config, model_args, Path(args.out)
        self.recorded = recorded_settings(args, config, model_args)
        self.questions_per_step = self.recorded["questions_per_step"]
        self.stage = Stages(self.out, until=args.until)
        self.load_data()

    def load_data(self) -> None:
        """The splits of issue #14's runs (seed 0, 1-2 steps; the test split and the reworded draw as scored then)."""
        from latro_trl.data import load_reworded, load_synthetic

        args = self.args
        knobs = dict(seed=0, min_steps=1, max_steps=2)
        train = load_synthetic("train", n=args.num_rationales + args.num_answers, **knobs)
        self.rationale_set = train.select(range(args.num_rationales))
        self.answer_set = train.select(range(args.num_rationales, len(train)))
        self.val_set = load_synthetic("validation", n=args.val_n, **knobs)
        self.test_set = load_synthetic("test", n=args.test_n, **knobs)
        # One draw of the family: its first reworded_n problems, then the next reworded_more_n (all distinct).
        reworded = load_reworded(n=args.reworded_n + args.reworded_more_n, seed=0)
        self.reworded_set = reworded.select(range(args.reworded_n))
        # (datasets refuses an empty contiguous range, so no second draw is a None, not an empty set)
        more = range(args.reworded_n, len(reworded))
        self.reworded_more_set = reworded.select(more) if more else None
        self.data = {"data": "synthetic 1-2 steps, seed 0", "R": args.num_rationales, "A": args.num_answers}

    def settings(self, *names: str, **extra) -> dict:
        return {**self.data, **{name: self.recorded[name] for name in names}, **extra}

    # -------------------------------------------------------------- models

    def start_dir(self, seed: int, from_last: bool = False) -> Path:
        """The merged warm start a row trains from: SFT(R)'s selected checkpoint, or its last one."""
        return self.out / f"sft_r_s{seed}" / ("start_last" if from_last else "start")

    def load(self, name: str, seed: int = 0):
        """``(model, tokenizer)`` of a row's selected checkpoint (merged), or of the base model."""
        from latro_trl.models import load_model_and_tokenizer

        if name == "base":
            return load_model_and_tokenizer()
        pick = json.loads((self.out / f"{name}_select.json").read_text())
        return self._load_checkpoint(name, seed, pick["best"])

    def _load_checkpoint(self, name: str, seed: int, checkpoint: Path | str):
        """Rows trained from the warm start (LaTRO, RFT) put their adapter on it; the SFT rows on the base."""
        if name.startswith(("latro", "rft")):
            return _load_folder(self.start_dir(seed, starts_from_last(name)), adapter=checkpoint)
        return _load_base_with(checkpoint)

    # -------------------------------------------------------------- training

    def train_sft(
        self,
        dataset,
        out_dir: Path,
        seed: int,
        start: Path | None = None,
        learning_rate: float | None = None,
        questions_per_step: int | None = None,
    ) -> dict:
        """One epoch of LoRA SFT on ``dataset`` from the base model or a merged ``start`` (default learning rate and
        batch: ``--sft_learning_rate``, LaTRO's questions per step)."""
        from latro_trl.models import load_model_and_tokenizer
        from latro_trl.warm_start import supervised_warm_start

        model, tokenizer = load_model_and_tokenizer() if start is None else _load_folder(start)
        per_step = questions_per_step or self.questions_per_step
        steps = max(1, len(dataset) // per_step)
        started = time.time()
        trainer = supervised_warm_start(
            model,
            tokenizer,
            dataset,
            out_dir,
            learning_rate=self.args.sft_learning_rate if learning_rate is None else learning_rate,
            questions_per_step=per_step,
            lora_r=self.model_args.lora_r,
            seed=seed,
            save_steps=max(1, steps // self.args.num_checkpoints),
            resume=True,
        )
        _stop_unless_finished(trainer, steps)
        return training_record(trainer, started)

    def train_latro(
        self,
        reward_type: str,
        seed: int,
        out_dir: Path,
        *,
        start: Path | None = None,
        steps: int | None = None,
        answer_loss_coef: float | None = None,
        trainer_class: type | None = None,
    ) -> dict:
        """LaTRO from the seed's warm start on the answer-only set: the run's config with this row's folder, seed,
        steps, checkpoints and reward. The keywords let other experiments' arms differ: the start (default: this row's
        warm start), the optimizer steps (one pass over the answer set), lambda (the config's answer_loss_coef) and
        the trainer class (LaTROTrainer)."""
        from latro_trl.warm_start import lora_latro, with_changes

        model, tokenizer = _load_folder(start or self.start_dir(seed, starts_from_last(out_dir.name)))
        steps = steps or len(self.answer_set) // self.questions_per_step
        run = with_changes(
            self.config,
            output_dir=str(out_dir),
            max_steps=steps,
            seed=seed,
            save_strategy="steps",
            save_steps=max(1, steps // self.args.num_checkpoints),
            reward_type=reward_type,
            answer_loss_coef=self.config.answer_loss_coef if answer_loss_coef is None else answer_loss_coef,
        )
        started = time.time()
        trainer = lora_latro(
            model,
            tokenizer,
            self.answer_set,
            run,
            lora_r=self.model_args.lora_r,
            resume=True,
            trainer_class=trainer_class,
        )
        _stop_unless_finished(trainer, steps)
        return training_record(trainer, started)

    def rft_data(self, seed: int) -> dict:
        """STaR's filter: K sampled replies per answer-only question from the warm start, kept when right."""
        import torch

        from latro_trl.evaluation.evaluator import read_predictions

        torch.manual_seed(seed)
        model, tokenizer = _load_folder(self.start_dir(seed))
        out_dir = self.out / f"rft_s{seed}_samples"
        k = self.config.num_generations
        run_eval(model, tokenizer, self.answer_set, out_dir, k, self.args.max_new_tokens, greedy=False)
        records = read_predictions(out_dir)
        kept = [
            {"question_index": i, "reply": reply}
            for i, record in enumerate(records)
            for reply, answer in zip(record["sample_rationales"], record["sample_answers"], strict=True)
            if answer is not None and answer == record["gold"]
        ]
        (out_dir / "kept.json").write_text(json.dumps(kept))
        solved = len({r["question_index"] for r in kept})
        return {"sampled": k * len(records), "kept": len(kept), "questions_with_a_kept_reply": solved}

    def train_rft(self, seed: int, out_dir: Path) -> dict:
        from datasets import Dataset

        kept = json.loads((self.out / f"rft_s{seed}_samples" / "kept.json").read_text())
        prompts = self.answer_set["prompt"]
        rows = [
            {"prompt": prompts[r["question_index"]], "completion": [{"role": "assistant", "content": r["reply"]}]}
            for r in kept
        ]
        return self.train_sft(Dataset.from_list(rows), out_dir, seed, start=self.start_dir(seed))

    # -------------------------------------------------------------- selection and evaluation

    def select(self, name: str, seed: int) -> dict:
        """The checkpoint with the best validation greedy accuracy (ties: the later one); keeps the curve."""
        scores = {}
        for checkpoint in _checkpoints(self.out / name):
            model, tokenizer = self._load_checkpoint(name, seed, checkpoint)
            val_dir = self.out / f"{name}_val" / checkpoint.name
            summary = run_eval(model, tokenizer, self.val_set, val_dir, 1, self.args.max_new_tokens)
            scores[str(checkpoint)] = summary["greedy"]["accuracy"]
            print(f"  {checkpoint.name}: validation greedy accuracy {scores[str(checkpoint)]:.3f}", flush=True)
        best = max(scores, key=lambda c: (scores[c], int(Path(c).name.split("-")[1])))
        return {"validation_accuracy": scores, "best": best}

    def evaluate(self, name: str, seed: int) -> dict:
        model, tokenizer = self.load(name, seed)
        args, result = self.args, {}
        result["test"] = run_eval(model, tokenizer, self.test_set, self.out / f"{name}_test", 1, args.max_new_tokens)
        result["reworded"] = run_eval(
            model, tokenizer, self.reworded_set, self.out / f"{name}_reworded", 1, args.max_new_tokens
        )
        subset = self.test_set.select(range(min(args.maj_n, len(self.test_set))))
        result["test_maj"] = run_eval(
            model, tokenizer, subset, self.out / f"{name}_test_maj", args.maj_k, args.max_new_tokens, greedy=False
        )
        return result

    def evaluate_more(self, name: str, seed: int) -> dict:
        model, tokenizer = self.load(name, seed)
        folder = self.out / f"{name}_reworded_more"
        return {
            "reworded_more": run_eval(model, tokenizer, self.reworded_more_set, folder, 1, self.args.max_new_tokens)
        }


def _load_folder(folder: Path, adapter: Path | str | None = None):
    from latro_trl.models import load_model_and_tokenizer

    return load_model_and_tokenizer(str(folder), adapter=adapter, dtype="float32")


def _load_base_with(adapter: Path):
    from latro_trl.models import load_model_and_tokenizer

    return load_model_and_tokenizer(adapter=adapter)


def main(argv: Sequence[str] | None = None) -> int:
    args, config, model_args = parse_args(argv)
    embedded_model_only(model_args)
    exp = Experiment(args, config, model_args)
    exp.out.mkdir(parents=True, exist_ok=True)
    (exp.out / "config.json").write_text(json.dumps({**exp.recorded, "versions": versions()}, indent=1))
    stage, rows = exp.stage, set(args.rows)
    try:
        for seed in args.seeds:  # the rows that answer the question first; base and the ceiling after them
            _run_seed(exp, seed, rows)
        if "base" in rows:
            stage("base_eval", lambda: exp.evaluate("base", 0), exp.settings(*EVALUATION_SETTINGS))
        if "sft_ra" in rows:
            from datasets import concatenate_datasets

            both = concatenate_datasets([exp.rationale_set, exp.answer_set])
            trained = exp.settings(*SFT_SETTINGS, seed=0)
            _train_select_evaluate(exp, "sft_ra_s0", 0, lambda: exp.train_sft(both, exp.out / "sft_ra_s0", 0), trained)
    except StopAfter as stop:
        print(f"stopped after {stop} (--until)", flush=True)
    return 0


def _run_seed(exp: Experiment, seed: int, rows: set[str]) -> None:
    stage, args = exp.stage, exp.args
    name = f"sft_r_s{seed}"
    trained = exp.settings(*SFT_SETTINGS, seed=seed)
    stage(f"{name}_train", lambda: exp.train_sft(exp.rationale_set, exp.out / name, seed), trained)
    with_eval = {**trained, **exp.settings(*EVALUATION_SETTINGS)}
    stage(f"{name}_select", lambda: _select_and_save_start(exp, name, seed), with_eval)
    stage(f"{name}_eval", lambda: exp.evaluate(name, seed), with_eval)
    _score_more(exp, name, seed, trained)
    if "latro" in rows:
        last = args.latro_start == "last"
        if last:
            stage(f"{name}_last_start", lambda: _save_last_start(exp, name, seed), trained)
        for reward in args.rewards:
            trained = exp.settings(*LATRO_SETTINGS, seed=seed, reward=reward, **({"start": "last"} if last else {}))
            out_dir = exp.out / f"latro_{reward}{'_last' if last else ''}_s{seed}"
            train = lambda reward=reward, out_dir=out_dir: exp.train_latro(reward, seed, out_dir)  # noqa: E731
            _train_select_evaluate(exp, out_dir.name, seed, train, trained)
    if "rft" in rows and seed == args.seeds[0]:
        trained = exp.settings(*SFT_SETTINGS, "num_generations", "max_new_tokens", seed=seed)
        stage(f"rft_s{seed}_samples", lambda: exp.rft_data(seed), trained)
        _train_select_evaluate(
            exp, f"rft_s{seed}", seed, lambda: exp.train_rft(seed, exp.out / f"rft_s{seed}"), trained
        )


def _train_select_evaluate(exp: Experiment, name: str, seed: int, train, trained: dict) -> None:
    with_eval = {**trained, **exp.settings(*EVALUATION_SETTINGS)}
    exp.stage(f"{name}_train", train, trained)
    exp.stage(f"{name}_select", lambda: exp.select(name, seed), with_eval)
    exp.stage(f"{name}_eval", lambda: exp.evaluate(name, seed), with_eval)
    _score_more(exp, name, seed, trained)


def _score_more(exp: Experiment, name: str, seed: int, trained: dict) -> None:
    """The ``--reworded_more_n`` stage, after the row's evaluation (its own settings, so that the rows evaluated
    before the option existed keep theirs)."""
    if exp.args.reworded_more_n:
        more = exp.settings("reworded_n", "reworded_more_n", "max_new_tokens")
        exp.stage(f"{name}_reworded_more", lambda: exp.evaluate_more(name, seed), {**trained, **more})


def _select_and_save_start(exp: Experiment, name: str, seed: int) -> dict:
    """Select the warm start on validation and save it merged: the start of every LaTRO and RFT row."""
    from latro_trl.models import save_merged

    pick = exp.select(name, seed)
    model, tokenizer = _load_base_with(Path(pick["best"]))
    save_merged(model, tokenizer, exp.start_dir(seed))
    return pick


def _save_last_start(exp: Experiment, name: str, seed: int) -> dict:
    """SFT(R)'s last checkpoint, saved merged: the start of ``--latro_start last`` rows."""
    from latro_trl.models import save_merged

    last = _checkpoints(exp.out / name)[-1]  # sorted by step
    model, tokenizer = _load_base_with(last)
    save_merged(model, tokenizer, exp.start_dir(seed, from_last=True))
    return {"start": str(last)}


def starts_from_last(name: str) -> bool:
    """Whether a row (``latro_<reward>_last_s<seed>``) trained from SFT(R)'s last checkpoint."""
    return name.rsplit("_s", 1)[0].endswith("_last")


if __name__ == "__main__":
    raise SystemExit(main())
