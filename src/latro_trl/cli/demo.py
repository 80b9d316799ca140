"""`latro demo`: see LaTRO train a real model on a laptop CPU, with no downloads.

Embedded SmolLM2-135M-Instruct, offline arithmetic word problems, LoRA. Evaluates greedy accuracy on held-out
problems, trains, evaluates again, prints a before/after table, saves the adapter, the metrics and a plot.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("demo", help="Embedded model, offline problems: evaluate, train, evaluate.")
    parser.add_argument("--output_dir", default="latro-demo")
    parser.add_argument("--model", default=None, help="Hub id or local folder; default: the embedded SmolLM2-135M.")
    parser.add_argument("--max_steps", type=int, default=16, help="Optimizer steps.")
    parser.add_argument("--questions_per_step", type=int, default=2)
    parser.add_argument("--num_generations", type=int, default=4, help="K rationales per question.")
    parser.add_argument("--max_completion_length", type=int, default=80, help="Rationale limit (tokens).")
    parser.add_argument("--learning_rate", type=float, default=3e-4)
    parser.add_argument("--beta", type=float, default=0.05)
    parser.add_argument("--lora_r", type=int, default=16)
    parser.add_argument("--num_eval", type=int, default=40, help="Held-out problems evaluated before and after.")
    parser.add_argument("--eval_every", type=int, default=8, help="Validation accuracy every N steps (0 = off).")
    parser.add_argument("--num_val", type=int, default=16, help="Validation problems for the curve.")
    parser.add_argument("--max_steps_per_problem", type=int, default=2, help="Arithmetic steps per problem.")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def run(args: argparse.Namespace) -> int:
    import torch
    from peft import LoraConfig

    from latro_trl import LaTROConfig, LaTROTrainer
    from latro_trl.data import load_synthetic
    from latro_trl.evaluation import AccuracyCallback, evaluate
    from latro_trl.models import EMBEDDED_MODEL_NAME, load_model_and_tokenizer

    started = time.time()
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    problems = dict(seed=args.seed, min_steps=1, max_steps=args.max_steps_per_problem)
    num_train = args.max_steps * args.questions_per_step
    train_set = load_synthetic("train", n=num_train, **problems)
    val_set = load_synthetic("validation", n=args.num_val, **problems)
    test_set = load_synthetic("test", n=args.num_eval, **problems)

    _phase(f"1/4 loading {args.model or 'the embedded SmolLM2-135M-Instruct'}; {num_train} training problems", started)
    model, tokenizer = load_model_and_tokenizer(args.model or EMBEDDED_MODEL_NAME)
    eval_kwargs = dict(max_new_tokens=args.max_completion_length + 16, batch_size=16)

    _phase(f"2/4 greedy accuracy before training on {len(test_set)} held-out problems", started)
    before = evaluate(model, tokenizer, test_set, output_dir=output_dir / "eval_before", **eval_kwargs)

    _phase(
        f"3/4 LaTRO: {args.max_steps} steps x {args.questions_per_step} questions x K={args.num_generations}", started
    )
    config = LaTROConfig(
        output_dir=str(output_dir / "checkpoints"),
        num_generations=args.num_generations,
        per_device_train_batch_size=args.questions_per_step * args.num_generations,
        max_completion_length=args.max_completion_length,
        max_steps=args.max_steps,
        learning_rate=args.learning_rate,
        lr_scheduler_type="constant",
        beta=args.beta,
        logging_steps=1,
        save_strategy="steps",
        save_steps=max(1, args.max_steps // 2),
        save_total_limit=1,
        gradient_checkpointing=False,
        report_to="none",
        seed=args.seed,
    )
    lora = LoraConfig(
        r=args.lora_r,
        lora_alpha=2 * args.lora_r,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        task_type="CAUSAL_LM",
    )
    trainer = LaTROTrainer(
        model=model, args=config, train_dataset=train_set, processing_class=tokenizer, peft_config=lora
    )
    if args.eval_every:
        AccuracyCallback(val_set, tokenizer, every_n_steps=args.eval_every, **eval_kwargs).attach(trainer)
    trainer.train()
    trainer.save_model(str(output_dir / "adapter"))

    _phase(f"4/4 greedy accuracy after training on the same {len(test_set)} problems", started)
    after = evaluate(trainer.model, tokenizer, test_set, output_dir=output_dir / "eval_after", **eval_kwargs)

    history = trainer.state.log_history
    (output_dir / "log_history.json").write_text(json.dumps(history, indent=1))
    results = _report(before, after, history, time.time() - started)
    (output_dir / "results.json").write_text(json.dumps(results, indent=1))
    plot = _plot(history, output_dir / "training_curves.png")
    print(
        f"\nadapter: {output_dir / 'adapter'}\nmetrics: {output_dir / 'results.json'}"
        + (f"\nplot: {plot}" if plot else "")
    )
    return 0


def _phase(message: str, started: float) -> None:
    print(f"\n[{time.time() - started:6.0f}s] {message}", flush=True)


def _report(before: dict, after: dict, history: list[dict], seconds: float) -> dict:
    steps = [entry for entry in history if "reward" in entry]
    first, last = steps[0], steps[-1]
    rows = [
        ("greedy accuracy (held-out)", before["greedy"]["accuracy"], after["greedy"]["accuracy"]),
        ("answer log-likelihood (train)", first["answer_logp"], last["answer_logp"]),
        ("reward (train)", first["reward"], last["reward"]),
        ("rationale length (tokens)", first["rationale/mean_length"], last["rationale/mean_length"]),
        ("rationales reaching a marker", first["rationale/marker_rate"], last["rationale/marker_rate"]),
    ]
    print(f"\n{'':32}{'before':>10}{'after':>10}")
    for name, a, b in rows:
        print(f"{name:32}{a:>10.3f}{b:>10.3f}")
    print(f"(train rows: first vs last step; total time {seconds / 60:.1f} min)")
    return {
        "rows": {name: {"before": a, "after": b} for name, a, b in rows},
        "seconds": seconds,
        "eval_before": before,
        "eval_after": after,
    }


def _plot(history: list[dict], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no plot; pip install matplotlib)")
        return None
    steps = [e for e in history if "reward" in e]
    evals = [e for e in history if "eval/accuracy" in e]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    axes[0].plot([e["step"] for e in steps], [e["reward"] for e in steps])
    axes[0].set_title("reward (answer log-lik. - beta KL)")
    axes[1].plot([e["step"] for e in steps], [e["rationale/mean_length"] for e in steps])
    axes[1].set_title("rationale length (tokens)")
    axes[2].plot([e["step"] for e in evals], [e["eval/accuracy"] for e in evals], marker="o")
    axes[2].set_title("validation greedy accuracy")
    for ax in axes:
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
