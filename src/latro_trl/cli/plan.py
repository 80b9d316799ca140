"""`latro plan`: estimate per-GPU memory for a LaTRO run, or print the fits table for the preset models.

Examples:

```bash
latro plan --model_name_or_path Llama-3.1-8B-Instruct --gpus 8 --zero 3 --offload_optimizer
latro plan --model_name_or_path path/to/config.json --gpus 16 --zero 3 --use_peft --per_device_train_batch_size 8 \
    --gpu_memory_gb 40
latro plan --table                                 # the table in docs/memory.md
python -m latro_trl.cli.plan --table                # the same, without the `latro` entry point
```
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

_WORKLOAD_FLAGS = (
    # (flag: LaTROConfig's or ModelConfig's name where it has one, plan_memory keyword, type, help)
    ("--per_device_train_batch_size", "micro_batch", int, "sequences per forward/backward on one GPU"),
    ("--num_generations", "num_generations", int, "rationales per prompt, K"),
    ("--generation_batch_size", "generation_batch_size", int, "sequences one GPU generates at once (default: K)"),
    ("--max_prompt_length", "prompt_length", int, "prompt tokens, chat template included"),
    ("--max_completion_length", "rationale_length", int, "rationale limit L"),
    ("--answer_length", "answer_length", int, "tokens of the templated answer"),
    ("--beta", "beta", float, "KL coefficient; 0 builds no reference model"),
    ("--lora_r", "lora_rank", int, "LoRA rank, adapters on every linear layer"),
    ("--overhead_gib", "overhead_gib", float, "fixed CUDA/runtime overhead per GPU"),
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the `plan` subcommand on `subparsers` (from `ArgumentParser.add_subparsers`) and return its parser."""
    parser = subparsers.add_parser(
        "plan",
        help="estimate per-GPU memory of a LaTRO run (no GPU needed)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_argument_group("what to plan")
    target.add_argument(
        "--model_name_or_path", help="preset name (e.g. Llama-3.1-8B-Instruct) or a local config.json / its folder"
    )
    target.add_argument("--table", action="store_true", help="print the Markdown fits table for all presets instead")
    target.add_argument("--json", action="store_true", help="print the plan as JSON")
    target.add_argument("--gpu_memory_gb", type=float, help="also say whether the plan fits a GPU of this size")

    sharding = parser.add_argument_group("sharding")
    sharding.add_argument("--gpus", type=int, default=8, help="GPUs in the whole job (default: 8)")
    sharding.add_argument("--gpus_per_node", type=int, help="GPUs per machine (default: min(gpus, 8))")
    sharding.add_argument("--zero", type=int, choices=(0, 2, 3), default=3, help="ZeRO stage; 0 is plain DDP")
    sharding.add_argument("--offload_optimizer", action="store_true", help="optimizer states on CPU")
    sharding.add_argument("--offload_params", action="store_true", help="parameters on CPU too (ZeRO-3)")
    sharding.add_argument("--use_peft", action="store_true", help="train LoRA adapters on a frozen base")

    workload = parser.add_argument_group("workload (defaults: plan_memory's)")
    for flag, dest, kind, help_text in _WORKLOAD_FLAGS:
        workload.add_argument(flag, dest=dest, type=kind, help=help_text)
    workload.add_argument(
        "--no_gradient_checkpointing", dest="gradient_checkpointing", action="store_false", default=None
    )
    workload.add_argument(
        "--no_ds3_gather_for_generation",
        dest="ds3_gather_for_generation",
        action="store_false",
        default=None,
        help="ZeRO-3 generation layer by layer instead of gathering the whole model",
    )
    workload.add_argument("--fused_lm_head", action="store_true", default=None, help="log-probs from TRL's tiled head")


def _workload(args: argparse.Namespace) -> dict[str, Any]:
    """The workload flags the user set; the others keep plan_memory's defaults."""
    names = [dest for _, dest, _, _ in _WORKLOAD_FLAGS] + ["gradient_checkpointing", "ds3_gather_for_generation"]
    names.append("fused_lm_head")
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def run(args: argparse.Namespace) -> int:
    """Run `latro plan`; returns the exit status (2 for invalid inputs, with the reason on stderr)."""
    from latro_trl.plan import plan_memory, render_table

    try:
        if args.table:
            print(render_table(num_gpus=args.gpus, **_workload(args)))
            return 0
        if not args.model_name_or_path:
            raise ValueError("Pass --model_name_or_path <preset or config.json>, or --table for all presets.")
        plan = plan_memory(
            args.model_name_or_path,
            num_gpus=args.gpus,
            gpus_per_node=args.gpus_per_node,
            zero_stage=args.zero,
            offload_optimizer=args.offload_optimizer,
            offload_params=args.offload_params,
            lora=args.use_peft,
            **_workload(args),
        )
        fits = None if args.gpu_memory_gb is None else plan.fits(args.gpu_memory_gb)
    except ValueError as error:
        print(f"latro plan: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(plan.to_dict() | ({} if fits is None else {"fits": fits}), indent=2))
    else:
        print(plan.summary())
        if fits is not None:
            verdict = "fits" if fits else "does NOT fit"
            print(f"  -> {verdict} in {args.gpu_memory_gb:g} GB per GPU (95% usable)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point: `python -m latro_trl.cli.plan ...`."""
    parser = argparse.ArgumentParser(
        prog="latro plan", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
