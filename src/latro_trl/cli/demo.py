"""`latro demo`: a warm start, then LaTRO, on a real model on a laptop CPU with no downloads; start against result.

What it shows is the mechanics, on a model that can use them: LaTRO trains from a supervised warm start and its
rationales keep their length (from the base model they shrink to nothing). It does not show an accuracy gain: no demo
run so far has measured a significant one (docs/results.md), and whether LaTRO's gain over its warm start is real is
what issue #27's experiment tests. The table it prints says how far apart the start and the final model are, with an
exact paired test, whatever the result.

The embedded SmolLM2-135M-Instruct and offline arithmetic word problems (1-2 steps):

1. a supervised warm start: LoRA on a few problems with gold rationales, merged into the weights (``start/``);
2. LaTRO from that start, on other problems with their answers only (a new LoRA; the reference is the start);
3. greedy accuracy of the start and of the final model (``final/``, merged) on held-out problems worded like the
   training ones and on a family worded differently (``latro_trl.data.load_reworded``), with 95% intervals and an
   exact McNemar test on the same problems.

``start/`` and ``final/`` are plain model folders with their tokenizer: ``AutoModelForCausalLM.from_pretrained``,
lm-eval, vLLM and ``latro eval --model_name_or_path`` take them as they are.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The metrics shown in the training progress bars (log key -> label).
LATRO_PROGRESS = {"reward": "reward", "answer_logp": "log p(y)", "rationale/mean_length": "len(z)"}
SFT_PROGRESS = {"loss": "loss"}
# The held-out families: split -> label.
FAMILIES = (("test", "worded like training"), ("reworded", "worded differently"))
# The panels of training_curves.png (log key -> title).
CURVES = {"reward": "reward", "answer_logp": "log pi(y|x+z)", "rationale/mean_length": "rationale length (tokens)"}
# The demo's defaults: a recipe shipped with the package (LaTROConfig's, ModelConfig's and DemoArguments' keys).
RECIPE = "demo.yaml"


@dataclass
class DemoArguments:
    """What `latro demo` adds to the run's config (`LaTROConfig`: K, L, steps, learning rate, beta, seed, the output
    folder...; `ModelConfig`: `--model_name_or_path`, `--lora_r`). Defaults: the shipped recipe
    `latro_trl/recipes/demo.yaml`.

    Args:
        warm_start_problems: problems with gold rationales for the supervised warm start (0: start LaTRO from the
            model as it is).
        warm_start_learning_rate: the warm start's learning rate.
        num_eval: held-out problems worded like the training ones.
        num_reworded: held-out problems worded differently.
    """

    warm_start_problems: int = field(
        default=64,
        metadata={
            "help": "Problems with gold rationales for the supervised warm start (0: LaTRO from the model as it is)."
        },
    )
    warm_start_learning_rate: float = field(default=3e-4, metadata={"help": "The warm start's learning rate."})
    num_eval: int = field(default=80, metadata={"help": "Held-out problems worded like the training ones."})
    num_reworded: int = field(default=80, metadata={"help": "Held-out problems worded differently."})


def recipe_path() -> Path:
    """The shipped recipe that holds the demo's defaults."""
    from importlib.resources import files

    return Path(str(files("latro_trl") / "recipes" / RECIPE))


def make_parser(subparsers: Any = None, prog: str | None = None) -> Any:
    """A `TrlParser` over `(DemoArguments, LaTROConfig, ModelConfig)` whose defaults are the shipped recipe; as a
    `latro` subcommand when `subparsers` is given. `--config other.yaml` and flags override the recipe."""
    from .parsing import run_parser

    _quiet_libraries()  # before parsing: building TrainingArguments already warns about deprecated names
    return run_parser(
        DemoArguments,
        command="demo",
        subparsers=subparsers,
        help="Embedded model, offline problems: warm start, LaTRO, before/after.",
        prog=prog,
        description=__doc__,
        recipe=recipe_path(),
    )


def main(args: DemoArguments, config: Any, model_args: Any) -> int:
    """Warm start, evaluate, LaTRO, evaluate again, report."""
    import torch

    from latro_trl.models import EMBEDDED_MODEL_NAME, load_model_and_tokenizer, save_merged

    _quiet_libraries()  # again: main may be called with configs parsed elsewhere
    started = time.time()
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    data = _data(args, config)

    _phase(f"1/5 loading {model_args.model_name_or_path or 'the embedded SmolLM2-135M-Instruct'}", started)
    model, tokenizer = load_model_and_tokenizer(model_args.model_name_or_path or EMBEDDED_MODEL_NAME)

    if args.warm_start_problems:
        _phase(f"2/5 warm start: LoRA SFT on {args.warm_start_problems} problems with gold rationales", started)
        model = _warm_start(model, tokenizer, data["rationales"], args, config, model_args)
    else:
        _phase("2/5 no warm start (--warm_start_problems 0): LaTRO starts from the model as it is", started)
    save_merged(model, tokenizer, output_dir / "start")

    _phase(f"3/5 greedy accuracy of the start on {len(data['test'])} + {len(data['reworded'])} held-out", started)
    before = _evaluate(model, tokenizer, data, output_dir / "eval_start", config)

    num_answers = len(data["answers"])
    _phase(
        f"4/5 LaTRO on {num_answers} answer-only problems: {config.max_steps} steps x K={config.num_generations}",
        started,
    )
    trainer = _latro(model, tokenizer, data["answers"], config, model_args)

    _phase("5/5 greedy accuracy of the final model on the same problems", started)
    after = _evaluate(trainer.model, tokenizer, data, output_dir / "eval_final", config)
    history = trainer.state.log_history
    save_merged(trainer.model, tokenizer, output_dir / "final")

    (output_dir / "log_history.json").write_text(json.dumps(history, indent=1))
    results = _report(before, after, history, time.time() - started)
    (output_dir / "results.json").write_text(json.dumps(results, indent=1))
    plot = _plot(history, before, after, output_dir / "training_curves.png")
    print(f"\nmodels: {output_dir / 'start'} (before LaTRO), {output_dir / 'final'} (after); metrics: results.json")
    if plot:
        print(f"plot: {plot}")
    return 0


def run(argv: list[str] | None = None) -> int:
    """`python -m latro_trl.cli.demo ...`: the same as `latro demo ...`."""
    return main(*make_parser(prog="latro demo").parse_args_and_config(args=argv))


def _quiet_libraries() -> None:
    # The demo's console is for the reader: library deprecation notices and per-step dicts would bury the table.
    import os
    import warnings

    import datasets
    import torch
    from transformers.utils import logging as hf_logging

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # peft, on every checkpoint: the embedded model's folder holds a GGUF file, no config.json to compare vocabularies
    # with. The demo never changes the vocabulary, so the notice says nothing here.
    warnings.filterwarnings("ignore", message="Could not find a config file", category=UserWarning)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # weight-loading bars
    datasets.disable_progress_bars()  # tokenizing bars
    if not torch.cuda.is_available():
        # DeepSpeed (imported by accelerate) warns when it finds no GPU and falls back to its CPU accelerator; on the
        # CPU machine the demo is made for, that is the expected case, so choose it up front.
        os.environ.setdefault("DS_ACCELERATOR", "cpu")


def _data(args: DemoArguments, config: Any) -> dict:
    from latro_trl.data import load_reworded, load_synthetic

    knobs = dict(seed=config.seed, min_steps=1, max_steps=2)
    num_answers = config.max_steps * (config.per_device_train_batch_size // config.num_generations)
    train = load_synthetic("train", n=args.warm_start_problems + num_answers, **knobs)
    return {
        "rationales": train.select(range(args.warm_start_problems)),
        "answers": train.select(range(args.warm_start_problems, len(train))).select_columns(["prompt", "answer"]),
        "test": load_synthetic("test", n=args.num_eval, **knobs),
        "reworded": load_reworded(n=args.num_reworded, seed=config.seed),
    }


def _warm_start(model: Any, tokenizer: Any, dataset: Any, args: DemoArguments, config: Any, model_args: Any) -> Any:
    from latro_trl.warm_start import supervised_warm_start

    trainer = supervised_warm_start(
        model,
        tokenizer,
        dataset,
        Path(config.output_dir) / "warm_start",
        learning_rate=args.warm_start_learning_rate,
        lora_r=model_args.lora_r,
        seed=config.seed,
        progress_metrics=SFT_PROGRESS,
    )
    return trainer.model.merge_and_unload()


def _latro(model: Any, tokenizer: Any, dataset: Any, config: Any, model_args: Any) -> Any:
    from latro_trl.warm_start import lora_latro, with_changes

    # The run is the demo's config as parsed (its recipe holds a small CPU run's settings); only the trainer's
    # checkpoints go to a folder of their own, beside start/, final/ and the evaluations.
    args = with_changes(config, output_dir=str(Path(config.output_dir) / "checkpoints"))
    return lora_latro(model, tokenizer, dataset, args, lora_r=model_args.lora_r, progress_metrics=LATRO_PROGRESS)


def _evaluate(model: Any, tokenizer: Any, data: dict, output_dir: Path, config: Any) -> dict:
    """Greedy accuracy on each held-out family, with each problem's correctness (for the paired test)."""
    from latro_trl.evaluation import evaluate, run_settings
    from latro_trl.evaluation.evaluator import read_predictions

    results = {}
    for split in ("test", "reworded"):
        folder = output_dir / split
        # The run's answer column, stop markers, answer template and reply limit (its L + the answer's room).
        summary = evaluate(model, tokenizer, data[split], output_dir=folder, **run_settings(config))
        correct = [record["correct"] for record in read_predictions(folder)]
        results[split] = {"greedy": summary["greedy"], "correct": correct}
    return results


def _phase(message: str, started: float) -> None:
    print(f"\n[{time.time() - started:6.0f}s] {message}", flush=True)


def _report(before: dict, after: dict, history: list[dict], seconds: float) -> dict:
    from latro_trl.evaluation.statistics import mcnemar_exact

    rows = {}
    print(f"\n{'greedy accuracy, %':34}{'start':>20}{'final':>20}   paired test (same problems)")
    for split, label in FAMILIES:
        a, b = before[split], after[split]
        test = mcnemar_exact(a["correct"], b["correct"])
        rows[label] = {"start": a["greedy"], "final": b["greedy"], "mcnemar": test}
        name = f"{label} (n={a['greedy']['n']})"
        print(
            f"{name:34}{_interval(a['greedy']):>20}{_interval(b['greedy']):>20}   "
            f"only final right {test['only_second']}, only start right {test['only_first']}, "
            f"p = {test['p_value']:.3g}"
        )
    # One step is 2 questions: compare the means of the first and the last quarter of the steps, not two single steps.
    steps = [entry for entry in history if "reward" in entry]
    quarter = max(1, len(steps) // 4)
    title = f"LaTRO training, mean of steps 1-{quarter} -> {len(steps) - quarter + 1}-{len(steps)}"
    print(f"\n{title:54}{'first':>10}{'last':>10}")
    for key, label in CURVES.items():
        first, last = (_finite_mean([entry[key] for entry in part]) for part in (steps[:quarter], steps[-quarter:]))
        rows[label] = {"first": first, "last": last, "steps_per_mean": quarter}
        print(f"{label:54}{first:>10.3f}{last:>10.3f}")
    print(f"(total time {seconds / 60:.1f} min)")
    return {"rows": rows, "seconds": seconds}


def _finite_mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _interval(block: dict) -> str:
    return f"{100 * block['accuracy']:.1f} [{100 * block['ci_low']:.0f}, {100 * block['ci_high']:.0f}]"


def _plot(history: list[dict], before: dict, after: dict, path: Path) -> Path | None:
    """Reward, log pi(y|x+z) and rationale length per LaTRO step (raw points faint under a moving average: one step
    is 2 questions, far too few for a trend), and the start's and the final model's accuracies."""
    from latro_trl.plots import training_curves

    accuracies = {
        label: {"start": before[split]["greedy"], "final": after[split]["greedy"]} for split, label in FAMILIES
    }
    plot = training_curves(history, CURVES, path, accuracies)
    if plot is None:
        print("(matplotlib is not installed: no plot; pip install matplotlib)")
    return plot
