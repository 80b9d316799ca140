"""`latro plan`: estimate per-GPU memory of the LaTRO run a config describes, or print the fits table for the presets.

The run is `latro train`'s: every `LaTROConfig` field (`--per_device_train_batch_size`, `--num_generations`,
`--steps_per_generation`, `--max_prompt_length`, `--max_completion_length`, `--gradient_checkpointing`, `--beta`,
`--deepspeed`, ...) and TRL's `ModelConfig` (`--model_name_or_path`, `--use_peft`, `--lora_r`) are flags, and
`--config recipe.yaml` reads them from a file, so the plan is of the run the same flags would train
(`latro_trl.plan.plan_for_config`). What is the planner's own: the cluster (`--gpus`), a ZeRO stage or offload to try
instead of the `--deepspeed` JSON, the answer's length, the overhead, and the output.

Examples:

```bash
latro plan --model_name_or_path Llama-3.1-8B-Instruct --gpus 8 --zero 3 --offload_optimizer
latro plan --model_name_or_path path/to/config.json --gpus 16 --deepspeed deepspeed_configs/zero3.json --use_peft \
    --per_device_train_batch_size 8 --gpu_memory_gb 40
latro plan --table --max_prompt_length 256        # the table in docs/memory.md
python -m latro_trl.cli.plan --table --max_prompt_length 256   # the same, without the `latro` entry point
```
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PlanArguments:
    """What `latro plan` adds to the run's config: the cluster, sharding to try, and what to print.

    Args:
        table: print the Markdown fits table of every preset model x sharding setup instead of one plan.
        json: print the plan as JSON.
        gpu_memory_gb: also say whether the plan fits a GPU of this size.
        gpus: GPUs in the whole job.
        gpus_per_node: GPUs per machine (unset: min(gpus, 8)).
        zero: ZeRO stage to plan (0: plain DDP); unset: the `--deepspeed` JSON's, or 3 without one.
        offload_optimizer, offload_params: plan this offload; without the flag, the `--deepspeed` JSON's.
        answer_length: tokens of the templated answer y.
        overhead_gib: fixed CUDA/runtime overhead per GPU.
    """

    table: bool = field(default=False, metadata={"help": "Print the Markdown fits table for all presets instead."})
    json: bool = field(default=False, metadata={"help": "Print the plan as JSON."})
    gpu_memory_gb: float | None = field(
        default=None, metadata={"help": "Also say whether the plan fits a GPU of this size (GB)."}
    )
    gpus: int = field(default=8, metadata={"help": "GPUs in the whole job."})
    gpus_per_node: int | None = field(default=None, metadata={"help": "GPUs per machine (default: min(gpus, 8))."})
    zero: int | None = field(
        default=None,
        metadata={"help": "ZeRO stage to plan: 0 (DDP), 2 or 3. Default: the --deepspeed JSON's, else 3."},
    )
    offload_optimizer: bool = field(
        default=False, metadata={"help": "Plan optimizer states on CPU (otherwise: as the --deepspeed JSON says)."}
    )
    offload_params: bool = field(
        default=False,
        metadata={"help": "Plan parameters on CPU too, ZeRO-3 only (otherwise: as the --deepspeed JSON says)."},
    )
    answer_length: int = field(default=16, metadata={"help": "Tokens of the templated answer."})
    overhead_gib: float = field(default=3.0, metadata={"help": "Fixed CUDA/runtime overhead per GPU (GiB)."})


def make_parser(subparsers: Any = None, prog: str | None = None) -> Any:
    """A `TrlParser` over `(PlanArguments, LaTROConfig, ModelConfig)`; as a `latro` subcommand when `subparsers` (from
    `add_subparsers(parser_class=TrlParser)`) is given."""
    from .parsing import run_parser

    return run_parser(
        PlanArguments,
        command="plan",
        subparsers=subparsers,
        help="Per-GPU memory of a LaTRO run (no GPU needed).",
        prog=prog,
    )


def main(args: PlanArguments, config: Any, model_args: Any) -> int:
    """Print the plan (or the table); returns the exit status (2 for invalid inputs, with the reason on stderr)."""
    from trl import get_peft_config

    from latro_trl.plan import fits_table, plan_for_config, render_table

    try:
        if args.table:
            rows = fits_table(config, num_gpus=args.gpus, lora_r=model_args.lora_r, **_sizes(args))
            print(render_table(rows))
            return 0
        if not model_args.model_name_or_path:
            raise ValueError("Pass --model_name_or_path <preset or config.json>, or --table for all presets.")
        plan = plan_for_config(
            model_args.model_name_or_path,
            config,
            num_gpus=args.gpus,
            gpus_per_node=args.gpus_per_node,
            peft_config=get_peft_config(model_args),
            zero_stage=args.zero,
            offload_optimizer=args.offload_optimizer or None,  # None: as config.deepspeed says
            offload_params=args.offload_params or None,
            **_sizes(args),
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


def _sizes(args: PlanArguments) -> dict[str, Any]:
    return {"answer_length": args.answer_length, "overhead_gib": args.overhead_gib}


def run(argv: list[str] | None = None) -> int:
    """`python -m latro_trl.cli.plan ...`: the same as `latro plan ...`."""
    return main(*make_parser(prog="latro plan").parse_args_and_config(args=argv))


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
