"""The paper's comparison at laptop scale: base vs SFT vs LaTRO on the embedded SmolLM2-135M-Instruct.

All three rows start from the same model and train a LoRA adapter (r=16, attention projections) on the same
training questions with the same number of optimizer steps and questions per step. Checkpoints are chosen on a
validation split, never on the test split. Every stage writes its result under --out and is skipped when that result
exists, so a stopped run continues where it stopped (re-run the same command).

    python experiments/compare.py --out runs/compare --gsm8k_path ../shared/data/gsm8k

The run's settings are LaTROConfig's own flags (``--max_steps``: optimizer steps of both trained rows;
``--per_device_train_batch_size``: questions per step x K; ``--learning_rate``: LaTRO's; ``--seed``...) and
ModelConfig's ``--lora_r``, read by TRL's ``TrlParser`` beside :class:`CompareArguments`; the defaults are
``experiments/recipes/compare.yaml`` (``--config other.yaml`` and flags override it).

Stages: data -> base model on test (greedy and maj@k with 95% Wilson intervals), validation and GSM8K (first N test
questions) -> SFT train -> LaTRO train -> checkpoint selection on validation -> SFT and LaTRO on test -> SFT and LaTRO
on GSM8K -> docs/results.md table and plots. A stage found on disk with other settings stops the run (use a new
--out); evaluations stopped part way resume from their batch logs.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Each experiment's defaults: experiments/recipes/<script>.yaml (LaTROConfig's, ModelConfig's and its own keys).
RECIPES = Path(__file__).resolve().parent / "recipes"
# The arguments each training run depends on (beyond the data seed and difficulty), by the names its stage files
# record them under.
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
ROWS = ["base", "sft", "latro"]


@dataclass
class CompareArguments:
    """What the comparison adds to the run's config (LaTROConfig: steps, K, L, beta, LaTRO's learning rate, the seed,
    the batch = questions per step x K; ModelConfig: ``--lora_r``). Defaults: experiments/recipes/compare.yaml."""

    out: str = field(default="runs/compare", metadata={"help": "The experiment's folder: every stage's result."})
    sft_learning_rate: float = field(default=3e-4, metadata={"help": "The SFT row's learning rate."})
    num_checkpoints: int = field(default=3, metadata={"help": "Checkpoints per run, compared on validation."})
    val_n: int = field(default=64, metadata={"help": "Validation problems (checkpoint selection)."})
    test_n: int = field(default=300, metadata={"help": "Test problems."})
    maj_k: int = field(default=8, metadata={"help": "k of maj@k."})
    maj_n: int = field(default=100, metadata={"help": "maj@k on the first N test problems (compute bound)."})
    maj_models: list[str] = field(default_factory=lambda: list(ROWS), metadata={"help": "Rows that get maj@k."})
    max_new_tokens: int = field(default=112, metadata={"help": "Reply limit of the synthetic evaluations."})
    synthetic_min_steps: int = field(default=1, metadata={"help": "Fewest arithmetic steps per synthetic problem."})
    synthetic_max_steps: int = field(default=2, metadata={"help": "Most arithmetic steps per synthetic problem."})
    gsm8k_path: str | None = field(
        default=None, metadata={"help": "Folder with GSM8K's test.jsonl, an extra evaluation; unset: no GSM8K."}
    )
    gsm8k_n: int = field(default=200, metadata={"help": "GSM8K: the first N test questions."})
    gsm8k_models: list[str] = field(default_factory=lambda: list(ROWS), metadata={"help": "Rows scored on GSM8K."})
    gsm8k_maj_models: list[str] = field(
        default_factory=lambda: list(ROWS), metadata={"help": "Rows that also get maj@k on GSM8K."}
    )
    gsm8k_max_new_tokens: int = field(default=192, metadata={"help": "Reply limit on GSM8K."})
    results_md: str = field(default="docs/results.md", metadata={"help": "The results page the table is written to."})
    until: str | None = field(
        default=None,
        metadata={
            "help": "Stop after this stage; e.g. latro_select compares LaTRO settings on validation without touching "
            "test.",
            "choices": STAGE_NAMES,
        },
    )


def parse_experiment(
    own: type,
    recipe: str,
    argv: Sequence[str] | None,
    description: str | None,
    replaced: Mapping[str, str] | None = None,
) -> tuple:
    """``(own arguments, LaTROConfig, ModelConfig)`` from the parser every ``latro`` command uses, with
    ``experiments/recipes/<recipe>`` as the defaults; ``--config other.yaml`` and flags override them.

    ``replaced`` maps the config fields the experiment sets itself (per row, per seed) to the flag that does it: such
    a field given as a flag would vanish silently, so it is refused with a pointer to that flag."""
    from latro_trl.cli.parsing import run_parser

    argv = list(sys.argv[1:] if argv is None else argv)
    for name, instead in (replaced or {}).items():
        if any(arg == f"--{name}" or arg.startswith(f"--{name}=") for arg in argv):
            raise SystemExit(f"--{name} is set by this experiment itself: use {instead}")
    return run_parser(own, description=description, recipe=RECIPES / recipe).parse_args_and_config(args=argv)


def embedded_model_only(model_args: Any) -> None:
    """These experiments train the embedded SmolLM2-135M-Instruct; a --model_name_or_path would vanish silently."""
    if model_args.model_name_or_path:
        raise SystemExit("this experiment runs on the embedded model only: drop --model_name_or_path")


def recorded_settings(args: Any, config: Any, model_args: Any) -> dict[str, Any]:
    """The experiment's settings by the names its stage files and config.json record them under (the names of the
    flags before the run was read as a LaTROConfig): its own arguments, and the run's."""
    return {
        **dataclasses.asdict(args),
        "questions_per_step": config.per_device_train_batch_size // config.num_generations,
        "num_generations": config.num_generations,
        "max_completion_length": config.max_completion_length,
        "beta": config.beta,
        "answer_loss_coef": config.answer_loss_coef,
        "lr_latro": config.learning_rate,
        "lr_sft": args.sft_learning_rate,
        "lora_r": model_args.lora_r,
    }


def parse_args(argv: Sequence[str] | None = None) -> tuple:
    """``(CompareArguments, LaTROConfig, ModelConfig)``."""
    return parse_experiment(CompareArguments, "compare.yaml", argv, __doc__, replaced={"output_dir": "--out"})


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


def train_sft(args: CompareArguments, config: Any, model_args: Any, train_set, out_dir: Path) -> dict:
    from latro_trl.warm_start import supervised_warm_start

    model, tokenizer = load_base()
    started = time.time()
    trainer = supervised_warm_start(
        model,
        tokenizer,
        train_set,
        out_dir,
        learning_rate=args.sft_learning_rate,
        questions_per_step=config.per_device_train_batch_size // config.num_generations,
        lora_r=model_args.lora_r,
        seed=config.seed,
        save_steps=config.max_steps // args.num_checkpoints,
        resume=True,
    )
    _stop_unless_finished(trainer, config.max_steps)
    return training_record(trainer, started)


def train_latro(args: CompareArguments, config: Any, model_args: Any, train_set, out_dir: Path) -> dict:
    from latro_trl.warm_start import lora_latro, with_changes

    model, tokenizer = load_base()
    started = time.time()
    run = with_changes(
        config, output_dir=str(out_dir), save_strategy="steps", save_steps=config.max_steps // args.num_checkpoints
    )
    trainer = lora_latro(model, tokenizer, train_set, run, lora_r=model_args.lora_r, resume=True)
    _stop_unless_finished(trainer, config.max_steps)
    return training_record(trainer, started)


def training_record(trainer, started: float) -> dict:
    """What a training stage records: its steps, its training time and the log history (the curves)."""
    return {
        "optimizer_steps": trainer.state.global_step,
        "train_seconds": round(time.time() - started, 1),
        "log_history": trainer.state.log_history,
    }


def _stop_unless_finished(trainer, steps: int) -> None:
    # SIGTERM/Ctrl-C make the trainer save a checkpoint and return early: do not record that as a finished stage.
    if trainer.state.global_step < steps:
        raise SystemExit(f"stopped at step {trainer.state.global_step}; re-run the same command to resume")


def _checkpoints(out_dir: Path) -> list[Path]:
    return sorted(out_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))


def validate(out_dir: Path, model_and_tokenizer, val_set, args: CompareArguments) -> dict:
    """Greedy accuracy on the validation split (the starting point of the curves, and checkpoint selection)."""
    model, tokenizer = model_and_tokenizer
    summary = run_eval(model, tokenizer, val_set, out_dir, 1, args.max_new_tokens)
    return {"validation_accuracy": summary["greedy"]["accuracy"]}


def select_checkpoint(out: Path, method: str, val_set, args: CompareArguments) -> dict:
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


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    from latro_trl.data import load_gsm8k, load_synthetic

    args, config, model_args = parse_args(argv)
    embedded_model_only(model_args)
    recorded = {**recorded_settings(args, config, model_args), "train_steps": config.max_steps, "seed": config.seed}
    out = Path(args.out)
    stage = Stages(out, until=args.until)
    torch.manual_seed(config.seed)
    knobs = dict(seed=config.seed, min_steps=args.synthetic_min_steps, max_steps=args.synthetic_max_steps)
    train_set = load_synthetic("train", n=config.max_steps * recorded["questions_per_step"], **knobs)
    val_set = load_synthetic("validation", n=args.val_n, **knobs)
    test_set = load_synthetic("test", n=args.test_n, **knobs)
    gsm8k = load_gsm8k("test", path=args.gsm8k_path, limit=args.gsm8k_n) if args.gsm8k_path else None
    data = {"seed": config.seed, "min_steps": args.synthetic_min_steps, "max_steps": args.synthetic_max_steps}
    # report.py reads the data's keys as the stages record them (max_steps: the problems' most arithmetic steps).
    (out / "config.json").write_text(json.dumps({**recorded, **data, "versions": versions()}, indent=1))

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
    trained = {method: {**data, **{key: recorded[key] for key in keys}} for method, keys in TRAINING_SETTINGS.items()}
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
        sft = stage("sft_train", lambda: train_sft(args, config, model_args, train_set, out / "sft"), trained["sft"])
        latro = stage(
            "latro_train", lambda: train_latro(args, config, model_args, train_set, out / "latro"), trained["latro"]
        )
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

    from report import write_report  # experiments/report.py (this script's folder is on sys.path)

    write_report(out, Path(args.results_md), sft, latro, picks["sft"], picks["latro"], base_val)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
