"""The paper's comparison at laptop scale: base vs SFT vs LaTRO on the embedded SmolLM2-135M-Instruct.

All three rows start from the same model and train a LoRA adapter (r=16, attention projections) on the same
training questions with the same number of optimizer steps and questions per step. Checkpoints are chosen on a
validation split, never on the test split. Every stage writes its result under --out and is skipped when that result
exists, so a stopped run continues where it stopped (re-run the same command).

    python experiments/compare.py --out runs/compare --gsm8k_path ../shared/data/gsm8k

Stages: data -> base model on test (greedy and maj@k with 95% Wilson intervals), validation and GSM8K (first N test
questions) -> SFT train -> LaTRO train -> checkpoint selection on validation -> SFT and LaTRO on test -> SFT and LaTRO
on GSM8K -> docs/results.md table and plots. A stage found on disk with other settings stops the run (use a new
--out); evaluations stopped part way resume from their batch logs.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

# The arguments each training run depends on (beyond the data seed and difficulty).
SHARED_TRAINING_SETTINGS = ("train_steps", "questions_per_step", "lora_r", "num_checkpoints")
TRAINING_SETTINGS = {
    "sft": (*SHARED_TRAINING_SETTINGS, "lr_sft"),
    "latro": (
        *SHARED_TRAINING_SETTINGS,
        "lr_latro",
        "num_generations",
        "max_completion_length",
        "beta",
        "answer_loss_coef",
    ),
}
STAGE_NAMES = (
    "base_eval",
    "base_val",
    "base_gsm8k",
    "sft_train",
    "latro_train",
    "sft_select",
    "latro_select",
    "sft_eval",
    "latro_eval",
    "sft_gsm8k",
    "latro_gsm8k",
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/compare")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train_steps", type=int, default=30)
    parser.add_argument("--questions_per_step", type=int, default=2)
    parser.add_argument("--num_generations", type=int, default=4, help="LaTRO's K")
    parser.add_argument("--max_completion_length", type=int, default=96, help="LaTRO's rationale limit")
    parser.add_argument("--beta", type=float, default=0.05)
    parser.add_argument("--answer_loss_coef", type=float, default=1.0)
    parser.add_argument("--lr_latro", type=float, default=3e-4)
    parser.add_argument("--lr_sft", type=float, default=3e-4)
    parser.add_argument("--lora_r", type=int, default=16)
    parser.add_argument("--num_checkpoints", type=int, default=3, help="checkpoints per run, compared on validation")
    parser.add_argument("--val_n", type=int, default=64)
    parser.add_argument("--test_n", type=int, default=300)
    parser.add_argument("--maj_k", type=int, default=8)
    parser.add_argument("--maj_n", type=int, default=100, help="maj@k on the first N test problems (compute bound)")
    parser.add_argument("--maj_models", nargs="+", default=["base", "sft", "latro"], help="which rows get maj@k")
    parser.add_argument("--max_new_tokens", type=int, default=112)
    parser.add_argument("--synthetic_min_steps", type=int, default=1, help="arithmetic steps per synthetic problem")
    parser.add_argument("--synthetic_max_steps", type=int, default=2)
    parser.add_argument("--gsm8k_path", default=None, help="folder with GSM8K test.jsonl; unset: skip GSM8K")
    parser.add_argument("--gsm8k_n", type=int, default=200)
    parser.add_argument("--gsm8k_models", nargs="+", default=["base", "sft", "latro"], help="which rows get GSM8K")
    parser.add_argument(
        "--gsm8k_maj_models", nargs="*", default=["base", "sft", "latro"], help="which rows also get maj@k on GSM8K"
    )
    parser.add_argument("--gsm8k_max_new_tokens", type=int, default=192)
    parser.add_argument("--results_md", default="docs/results.md")
    parser.add_argument(
        "--until",
        choices=STAGE_NAMES,
        default=None,
        help="stop after this stage; e.g. latro_select compares LaTRO settings on validation without touching test",
    )
    return parser.parse_args(argv)


class Stages:
    """Run-once stages whose JSON results live under ``out``.

    Each result records the settings it was made with; asking for a stage again with other settings stops with an
    error instead of silently reusing (or mixing) results made under the old ones.
    """

    def __init__(self, out: Path, until: str | None = None):
        self.out, self.until = out, until
        out.mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str, fn, settings: dict):
        path = self.out / f"{name}.json"
        if path.exists():
            result = json.loads(path.read_text())
            recorded = result.get("settings", {})
            changed = {key: (recorded.get(key), value) for key, value in settings.items() if recorded.get(key) != value}
            if changed:
                raise SystemExit(
                    f"{path} was made with other settings ({', '.join(f'{k}: {a} -> {b}' for k, (a, b) in changed.items())}). "
                    f"Use a new --out, or delete {path} (and the folders of that stage) to redo it."
                )
            print(f"[skip] {name}: {path} exists", flush=True)
        else:
            print(f"\n[{time.strftime('%H:%M:%S')}] {name}", flush=True)
            started, cpu_started = time.time(), time.process_time()
            result = fn()
            result["wall_seconds"] = round(time.time() - started, 1)
            # CPU time of this process (all its threads): unlike wall time, it does not grow while the run is paused
            # or shares the cores with other work.
            result["cpu_seconds"] = round(time.process_time() - cpu_started, 1)
            result["settings"] = settings
            # Written whole or not at all: a run killed while writing must not leave a stage that looks finished.
            partial = path.with_suffix(".json.partial")
            partial.write_text(json.dumps(result, indent=1))
            partial.replace(path)
        if name == self.until:
            raise StopAfter(name)
        return result


class StopAfter(Exception):
    """Raised after the stage named by --until."""


def load_base():
    from latro_trl.models import load_model_and_tokenizer

    return load_model_and_tokenizer()


def load_adapter(checkpoint: str):
    from peft import PeftModel

    model, tokenizer = load_base()
    return PeftModel.from_pretrained(model, checkpoint).merge_and_unload(), tokenizer


def run_eval(model, tokenizer, dataset, out_dir: Path, k: int, max_new_tokens: int, greedy: bool = True) -> dict:
    from latro_trl.evaluation import evaluate

    return evaluate(
        model,
        tokenizer,
        dataset,
        num_samples=k,
        greedy=greedy,
        max_new_tokens=max_new_tokens,
        batch_size=64 if k > 1 else 32,
        output_dir=out_dir,
        progress=True,
    )


def train_sft(args, train_set, out_dir: Path) -> dict:
    from latro_trl.warm_start import supervised_warm_start

    model, tokenizer = load_base()
    started = time.time()
    trainer = supervised_warm_start(
        model,
        tokenizer,
        train_set,
        out_dir,
        learning_rate=args.lr_sft,
        questions_per_step=args.questions_per_step,
        lora_r=args.lora_r,
        seed=args.seed,
        save_steps=args.train_steps // args.num_checkpoints,
        resume=True,
    )
    _stop_unless_finished(trainer, args)
    return training_record(trainer, started)


def train_latro(args, train_set, out_dir: Path) -> dict:
    from latro_trl.warm_start import lora_latro, small_run_config

    model, tokenizer = load_base()
    started = time.time()
    run = small_run_config(
        out_dir,
        max_steps=args.train_steps,
        per_device_train_batch_size=args.questions_per_step * args.num_generations,
        num_generations=args.num_generations,
        max_completion_length=args.max_completion_length,
        learning_rate=args.lr_latro,
        beta=args.beta,
        seed=args.seed,
        save_steps=args.train_steps // args.num_checkpoints,
        answer_loss_coef=args.answer_loss_coef,
    )
    trainer = lora_latro(model, tokenizer, train_set, run, lora_r=args.lora_r, resume=True)
    _stop_unless_finished(trainer, args)
    return training_record(trainer, started)


def training_record(trainer, started: float) -> dict:
    """What a training stage records: its steps, its training time and the log history (the curves)."""
    return {
        "optimizer_steps": trainer.state.global_step,
        "train_seconds": round(time.time() - started, 1),
        "log_history": trainer.state.log_history,
    }


def _stop_unless_finished(trainer, args) -> None:
    # SIGTERM/Ctrl-C make the trainer save a checkpoint and return early: do not record that as a finished stage.
    if trainer.state.global_step < args.train_steps:
        raise SystemExit(f"stopped at step {trainer.state.global_step}; re-run the same command to resume")


def _checkpoints(out_dir: Path) -> list[Path]:
    return sorted(out_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))


def validate(out_dir: Path, model_and_tokenizer, val_set, args) -> dict:
    """Greedy accuracy on the validation split (the starting point of the curves, and checkpoint selection)."""
    model, tokenizer = model_and_tokenizer
    summary = run_eval(model, tokenizer, val_set, out_dir, 1, args.max_new_tokens)
    return {"validation_accuracy": summary["greedy"]["accuracy"]}


def select_checkpoint(out: Path, method: str, val_set, args) -> dict:
    scores = {}
    for checkpoint in _checkpoints(out / method):
        validation = validate(out / f"{method}_val" / checkpoint.name, load_adapter(str(checkpoint)), val_set, args)
        scores[str(checkpoint)] = validation["validation_accuracy"]
        print(f"  {checkpoint.name}: validation greedy accuracy {scores[str(checkpoint)]:.3f}", flush=True)
    best = max(scores, key=lambda c: (scores[c], int(Path(c).name.split("-")[1])))  # ties: the later checkpoint
    return {"validation_accuracy": scores, "best": best}


def versions() -> dict:
    import peft
    import torch
    import transformers
    import trl

    import latro_trl

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "peft": peft.__version__,
        "latro_trl": latro_trl.__version__,
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPU cores",
    }


def main(argv=None) -> int:
    import torch

    from latro_trl.data import load_gsm8k, load_synthetic

    args = parse_args(argv)
    out = Path(args.out)
    stage = Stages(out, until=args.until)
    torch.manual_seed(args.seed)
    knobs = dict(seed=args.seed, min_steps=args.synthetic_min_steps, max_steps=args.synthetic_max_steps)
    train_set = load_synthetic("train", n=args.train_steps * args.questions_per_step, **knobs)
    val_set = load_synthetic("validation", n=args.val_n, **knobs)
    test_set = load_synthetic("test", n=args.test_n, **knobs)
    gsm8k = load_gsm8k("test", path=args.gsm8k_path, limit=args.gsm8k_n) if args.gsm8k_path else None
    (out / "config.json").write_text(json.dumps({**vars(args), "versions": versions()}, indent=1))

    def evaluate_model(name: str, loader) -> dict:
        model, tokenizer = loader()
        greedy = run_eval(model, tokenizer, test_set, out / f"{name}_test", 1, args.max_new_tokens)
        result = {"test": {"greedy": greedy["greedy"]}}
        if name in args.maj_models:
            subset = test_set.select(range(min(args.maj_n, len(test_set))))
            sampled = run_eval(
                model, tokenizer, subset, out / f"{name}_test_maj", args.maj_k, args.max_new_tokens, greedy=False
            )
            result["test"][f"maj@{args.maj_k}"] = sampled[f"maj@{args.maj_k}"]
        return result

    def evaluate_gsm8k(name: str, loader) -> dict:
        model, tokenizer = loader()
        k = args.maj_k if name in args.gsm8k_maj_models else 1
        return run_eval(model, tokenizer, gsm8k, out / f"{name}_gsm8k", k, args.gsm8k_max_new_tokens)

    # What each stage's result depends on; a stage found on disk with other values stops the run (see Stages).
    data = {"seed": args.seed, "min_steps": args.synthetic_min_steps, "max_steps": args.synthetic_max_steps}
    trained = {
        method: {**data, **{key: getattr(args, key) for key in keys}} for method, keys in TRAINING_SETTINGS.items()
    }
    validation = {**data, "val_n": args.val_n, "max_new_tokens": args.max_new_tokens}
    test_eval = {**data, **{key: getattr(args, key) for key in ("test_n", "max_new_tokens", "maj_k", "maj_n")}}

    def gsm8k_stage(name: str, loader, model_settings: dict) -> None:
        if gsm8k is not None and name in args.gsm8k_models:  # 200 long questions: the slowest stages
            k = args.maj_k if name in args.gsm8k_maj_models else 1
            settings = {"gsm8k_n": args.gsm8k_n, "gsm8k_max_new_tokens": args.gsm8k_max_new_tokens, "maj_k": k}
            stage(f"{name}_gsm8k", lambda: evaluate_gsm8k(name, loader), {**settings, **model_settings})

    try:
        stage("base_eval", lambda: evaluate_model("base", load_base), {**test_eval, "maj": "base" in args.maj_models})
        base_val = stage("base_val", lambda: validate(out / "base_val", load_base(), val_set, args), validation)
        gsm8k_stage("base", load_base, {})
        sft = stage("sft_train", lambda: train_sft(args, train_set, out / "sft"), trained["sft"])
        latro = stage("latro_train", lambda: train_latro(args, train_set, out / "latro"), trained["latro"])
        picks = {}
        for method in ("sft", "latro"):
            select = lambda method=method: select_checkpoint(out, method, val_set, args)  # noqa: E731
            picks[method] = stage(f"{method}_select", select, {**trained[method], **validation})
        loaders = {method: lambda pick=pick: load_adapter(pick["best"]) for method, pick in picks.items()}
        for name, loader in loaders.items():
            settings = {**test_eval, **trained[name], **validation, "maj": name in args.maj_models}
            stage(f"{name}_eval", lambda name=name, loader=loader: evaluate_model(name, loader), settings)
        for name, loader in loaders.items():
            gsm8k_stage(name, loader, {**trained[name], **validation})
    except StopAfter as stop:
        print(f"stopped after {stop} (--until); the report is written by a run that goes to the end", flush=True)
        return 0

    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from report import write_report  # experiments/report.py

    write_report(out, Path(args.results_md), sft, latro, picks["sft"], picks["latro"], base_val)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
