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

import argparse
import json
import time
from pathlib import Path

# The metrics shown in the training progress bars (log key -> label).
LATRO_PROGRESS = {"reward": "reward", "answer_logp": "log p(y)", "rationale/mean_length": "len(z)"}
SFT_PROGRESS = {"loss": "loss"}


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo", help="Embedded model, offline problems: warm start, LaTRO, before/after.", description=__doc__
    )
    parser.add_argument("--output_dir", default="latro-demo")
    parser.add_argument(
        "--model_name_or_path", default=None, help="Hub id or local folder; default: the embedded SmolLM2-135M."
    )
    parser.add_argument(
        "--warm_start_problems",
        type=int,
        default=64,
        help="Problems with gold rationales for the supervised warm start (0: start LaTRO from the model as it is).",
    )
    parser.add_argument("--warm_start_learning_rate", type=float, default=3e-4)
    parser.add_argument("--max_steps", type=int, default=24, help="LaTRO optimizer steps.")
    parser.add_argument("--questions_per_step", type=int, default=2, help="Answer-only problems per LaTRO step.")
    parser.add_argument("--num_generations", type=int, default=4, help="K rationales per question.")
    parser.add_argument("--max_completion_length", type=int, default=96, help="Rationale limit L (tokens).")
    parser.add_argument("--learning_rate", type=float, default=5e-5, help="LaTRO's learning rate (LoRA).")
    parser.add_argument("--beta", type=float, default=0.05)
    parser.add_argument("--reward_type", default="log_likelihood", choices=["log_likelihood", "probability"])
    parser.add_argument("--lora_r", type=int, default=16)
    parser.add_argument("--num_eval", type=int, default=80, help="Held-out problems worded like the training ones.")
    parser.add_argument("--num_reworded", type=int, default=80, help="Held-out problems worded differently.")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def run(args: argparse.Namespace) -> int:
    import torch

    from latro_trl.models import EMBEDDED_MODEL_NAME, load_model_and_tokenizer, save_merged

    _quiet_libraries()
    started = time.time()
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    data = _data(args)

    _phase(f"1/5 loading {args.model_name_or_path or 'the embedded SmolLM2-135M-Instruct'}", started)
    model, tokenizer = load_model_and_tokenizer(args.model_name_or_path or EMBEDDED_MODEL_NAME)

    if args.warm_start_problems:
        _phase(f"2/5 warm start: LoRA SFT on {args.warm_start_problems} problems with gold rationales", started)
        model = _warm_start(model, tokenizer, data["rationales"], output_dir, args)
    else:
        _phase("2/5 no warm start (--warm_start_problems 0): LaTRO starts from the model as it is", started)
    save_merged(model, tokenizer, output_dir / "start")

    _phase(f"3/5 greedy accuracy of the start on {len(data['test'])} + {len(data['reworded'])} held-out", started)
    before = _evaluate(model, tokenizer, data, output_dir / "eval_start", args)

    num_answers = len(data["answers"])
    _phase(
        f"4/5 LaTRO on {num_answers} answer-only problems: {args.max_steps} steps x K={args.num_generations}", started
    )
    trainer = _latro(model, tokenizer, data["answers"], output_dir, args)

    _phase("5/5 greedy accuracy of the final model on the same problems", started)
    after = _evaluate(trainer.model, tokenizer, data, output_dir / "eval_final", args)
    history = trainer.state.log_history
    save_merged(trainer.model, tokenizer, output_dir / "final")

    (output_dir / "log_history.json").write_text(json.dumps(history, indent=1))
    results = _report(before, after, history, time.time() - started)
    (output_dir / "results.json").write_text(json.dumps(results, indent=1))
    plot = _plot(history, output_dir / "training_curves.png")
    print(f"\nmodels: {output_dir / 'start'} (before LaTRO), {output_dir / 'final'} (after); metrics: results.json")
    if plot:
        print(f"plot: {plot}")
    return 0


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


def _data(args: argparse.Namespace) -> dict:
    from latro_trl.data import load_reworded, load_synthetic

    knobs = dict(seed=args.seed, min_steps=1, max_steps=2)
    num_answers = args.max_steps * args.questions_per_step
    train = load_synthetic("train", n=args.warm_start_problems + num_answers, **knobs)
    return {
        "rationales": train.select(range(args.warm_start_problems)),
        "answers": train.select(range(args.warm_start_problems, len(train))).select_columns(["prompt", "answer"]),
        "test": load_synthetic("test", n=args.num_eval, **knobs),
        "reworded": load_reworded(n=args.num_reworded, seed=args.seed),
    }


def _warm_start(model, tokenizer, dataset, output_dir: Path, args: argparse.Namespace):
    from latro_trl.warm_start import supervised_warm_start

    trainer = supervised_warm_start(
        model,
        tokenizer,
        dataset,
        output_dir / "warm_start",
        learning_rate=args.warm_start_learning_rate,
        lora_r=args.lora_r,
        seed=args.seed,
        progress_metrics=SFT_PROGRESS,
    )
    return trainer.model.merge_and_unload()


def _latro(model, tokenizer, dataset, output_dir: Path, args: argparse.Namespace):
    from latro_trl.warm_start import lora_latro

    return lora_latro(
        model,
        tokenizer,
        dataset,
        output_dir / "checkpoints",
        max_steps=args.max_steps,
        questions_per_step=args.questions_per_step,
        num_generations=args.num_generations,
        max_completion_length=args.max_completion_length,
        learning_rate=args.learning_rate,
        beta=args.beta,
        lora_r=args.lora_r,
        seed=args.seed,
        save_steps=max(1, args.max_steps // 2),
        progress_metrics=LATRO_PROGRESS,
        reward_type=args.reward_type,
        save_total_limit=1,
    )


def _evaluate(model, tokenizer, data: dict, output_dir: Path, args: argparse.Namespace) -> dict:
    """Greedy accuracy on each held-out family, with each problem's correctness (for the paired test)."""
    from latro_trl.evaluation import evaluate
    from latro_trl.evaluation.evaluator import read_predictions

    results = {}
    for split in ("test", "reworded"):
        folder = output_dir / split
        summary = evaluate(
            model, tokenizer, data[split], max_new_tokens=args.max_completion_length + 16, output_dir=folder
        )
        correct = [record["correct"] for record in read_predictions(folder)]
        results[split] = {"greedy": summary["greedy"], "correct": correct}
    return results


def _phase(message: str, started: float) -> None:
    print(f"\n[{time.time() - started:6.0f}s] {message}", flush=True)


def _report(before: dict, after: dict, history: list[dict], seconds: float) -> dict:
    from latro_trl.evaluation.scoring import mcnemar_exact

    rows = {}
    print(f"\n{'greedy accuracy, %':34}{'start':>20}{'final':>20}   paired test (same problems)")
    for split, label in (("test", "worded like training"), ("reworded", "worded differently")):
        a, b = before[split], after[split]
        test = mcnemar_exact(a["correct"], b["correct"])
        rows[label] = {"start": a["greedy"], "final": b["greedy"], "mcnemar": test}
        name = f"{label} (n={a['greedy']['n']})"
        print(
            f"{name:34}{_interval(a['greedy']):>20}{_interval(b['greedy']):>20}   "
            f"only final right {test['only_second']}, only start right {test['only_first']}, "
            f"p = {test['p_value']:.3g}"
        )
    steps = [entry for entry in history if "reward" in entry]
    first, last = steps[0], steps[-1]
    print(f"\n{'LaTRO training, first -> last step':34}{'first':>20}{'last':>20}")
    for key, label in (
        ("reward", "reward"),
        ("answer_logp", "log pi(y|x+z)"),
        ("rationale/mean_length", "rationale length (tokens)"),
    ):
        rows[label] = {"first": first[key], "last": last[key]}
        print(f"{label:34}{first[key]:>20.3f}{last[key]:>20.3f}")
    print(f"(total time {seconds / 60:.1f} min)")
    return {"rows": rows, "seconds": seconds}


def _interval(block: dict) -> str:
    return f"{100 * block['accuracy']:.1f} [{100 * block['ci_low']:.0f}, {100 * block['ci_high']:.0f}]"


def _plot(history: list[dict], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no plot; pip install matplotlib)")
        return None
    steps = [e for e in history if "reward" in e]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    for ax, key, title in (
        (axes[0], "reward", "reward"),
        (axes[1], "answer_logp", "log pi(y|x+z)"),
        (axes[2], "rationale/mean_length", "rationale length (tokens)"),
    ):
        ax.plot([e["step"] for e in steps], [e[key] for e in steps])
        ax.set_title(title)
        ax.set_xlabel("LaTRO step")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
