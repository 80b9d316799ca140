"""Smoke run: TRL's RLOOTrainer under DeepSpeed ZeRO with 2 CPU processes (gloo), on a tiny random Llama.

Not collected by pytest (no ``test_`` prefix): it launches processes and, the first time, DeepSpeed compiles a C++
comms op (about 30 s here; `cpu_adam` for the offload configs, about 2 minutes). Run it from the repository root:

    OMP_NUM_THREADS=1 .venv/bin/python tests/integration/ds_rloo_smoke.py                  # accelerate, ZeRO-3
    OMP_NUM_THREADS=1 .venv/bin/python tests/integration/ds_rloo_smoke.py --launcher torchrun --reward length
    OMP_NUM_THREADS=1 .venv/bin/python tests/integration/ds_rloo_smoke.py --base_config deepspeed_configs/zero2.json
    OMP_NUM_THREADS=1 .venv/bin/python tests/integration/ds_rloo_smoke.py \
        --accelerate_config deepspeed_configs/accelerate/zero3_1node_8gpu.yaml

What ran, and the results, are recorded in deepspeed_configs/README.md.

Without ``--worker`` the script prepares a work folder (tiny model and tokenizer saved with ``save_pretrained`` so
that every process loads the same weights; a DeepSpeed JSON derived from a shipped one with
``stage3_param_persistence_threshold: 0`` so the tiny model is really sharded, and bf16 set by ``--bf16``), then
launches itself with ``--worker`` on 2 processes and prints the exit status and wall time. Each worker trains
2 steps of RLOO with a constant reward (``--reward length`` for one that varies) and reports its loss, grad norm,
KL and how its parameters (and the reference's) are partitioned. Exit status 0 and ``SMOKE OK`` mean it passed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
NUM_PROCESSES = 2


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--launcher", choices=("accelerate", "torchrun"), default="accelerate")
    parser.add_argument("--base_config", default="deepspeed_configs/zero3.json", help="shipped JSON to derive from")
    parser.add_argument("--bf16", action="store_true", help="keep bf16 on (default: fp32 on this CPU)")
    parser.add_argument("--beta", type=float, default=0.05, help="KL coefficient; > 0 builds a reference model")
    parser.add_argument("--reward", choices=("constant", "length"), default="constant")
    parser.add_argument("--workdir", default=None, help="where to put the model and outputs (default: a temp dir)")
    parser.add_argument(
        "--accelerate_config",
        default=None,
        help="launch with this accelerate YAML (e.g. deepspeed_configs/accelerate/zero3_1node_8gpu.yaml) on 2 "
        "processes; the workers then take DeepSpeed from the launcher (the YAML's JSON, bf16 on) instead of --base_config",
    )
    parser.add_argument("--ds_from_launcher", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser


def prepare_workdir(workdir: Path, base_config: Path, bf16: bool) -> Path:
    """Save the tiny model, tokenizer and the derived DeepSpeed JSON under ``workdir``; return the JSON's path."""
    from latro_trl.testing import make_tiny_model, make_tiny_tokenizer

    tokenizer = make_tiny_tokenizer()
    model = make_tiny_model(tokenizer, hidden_size=64, num_layers=2)
    model.save_pretrained(workdir / "model")
    tokenizer.save_pretrained(workdir / "model")
    config = json.loads(base_config.read_text())
    config["bf16"] = {"enabled": bf16}
    if config["zero_optimization"]["stage"] == 3:
        config["zero_optimization"]["stage3_param_persistence_threshold"] = 0
    ds_path = workdir / "ds_config.json"
    ds_path.write_text(json.dumps(config, indent=2))
    return ds_path


def launch_command(args: argparse.Namespace, workdir: Path, ds_path: Path) -> list[str]:
    """The command line that starts the two workers."""
    bin_dir = Path(sys.executable).parent
    worker = [__file__, "--worker", "--workdir", str(workdir), "--beta", str(args.beta), "--reward", args.reward]
    worker += ["--bf16"] * args.bf16
    if args.accelerate_config:
        config = ["--config_file", args.accelerate_config, "--num_processes", str(NUM_PROCESSES)]
        return [str(bin_dir / "accelerate"), "launch", *config, *worker, "--ds_from_launcher"]
    if args.launcher == "torchrun":
        return [str(bin_dir / "torchrun"), "--nproc_per_node", str(NUM_PROCESSES), *worker]
    return [
        str(bin_dir / "accelerate"),
        "launch",
        "--num_processes",
        str(NUM_PROCESSES),
        "--num_machines",
        "1",
        "--use_deepspeed",
        "--deepspeed_config_file",
        str(ds_path),
        "--dynamo_backend",
        "no",
        *worker,
    ]


def launch(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="ds_rloo_smoke_"))
    workdir.mkdir(parents=True, exist_ok=True)
    args.bf16 = args.bf16 or bool(args.accelerate_config)  # the 8-GPU accelerate runs are bf16 (the JSONs follow)
    ds_path = prepare_workdir(workdir, REPO_ROOT / args.base_config, args.bf16)
    command = launch_command(args, workdir, ds_path)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    print("+", " ".join(command), flush=True)
    start = time.perf_counter()
    returncode = subprocess.call(command, env=env, cwd=REPO_ROOT)
    print(f"exit status {returncode} after {time.perf_counter() - start:.0f} s (work folder {workdir})", flush=True)
    return returncode


def constant_reward(completions: list, **kwargs: object) -> list[float]:
    """The same reward for every completion: advantages are zero, and so is the KL gradient while policy == reference."""
    return [1.0] * len(completions)


def length_reward(completions: list, **kwargs: object) -> list[float]:
    """A reward that differs between completions, so that the loss and the gradient are not zero."""
    return [float(len(str(completion))) / 10.0 for completion in completions]


def describe_partitioning(model: object) -> str:
    """How many parameters this rank holds locally versus in total (ZeRO-3 keeps ``ds_numel`` for the full size)."""
    params = list(model.parameters())
    local = sum(p.ds_tensor.numel() if hasattr(p, "ds_tensor") else p.numel() for p in params)
    full = sum(getattr(p, "ds_numel", p.numel()) for p in params)
    return f"{local} of {full} parameter elements held locally"


def worker(args: argparse.Namespace) -> int:
    import torch.distributed as dist
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import RLOOConfig, RLOOTrainer

    workdir = Path(args.workdir)
    model_dir = str(workdir / "model")
    prompts = [f"Tom has {i} apples and buys 5 more. How many apples does he have?" for i in range(16)]
    config = RLOOConfig(
        output_dir=str(workdir / "out"),
        use_cpu=True,  # without it the no-GPU run fails in gather or trains both ranks on the same data
        deepspeed=None if args.ds_from_launcher else str(workdir / "ds_config.json"),
        bf16=args.bf16,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=8,
        max_steps=2,
        beta=args.beta,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=0,
    )
    trainer = RLOOTrainer(
        model=model_dir,
        reward_funcs=constant_reward if args.reward == "constant" else length_reward,
        args=config,
        train_dataset=Dataset.from_dict({"prompt": prompts}),
        processing_class=AutoTokenizer.from_pretrained(model_dir),
    )
    trainer.train()
    rank = dist.get_rank() if dist.is_initialized() else 0
    logs = [
        {k: v for k, v in entry.items() if k in ("step", "loss", "kl", "grad_norm")}
        for entry in trainer.state.log_history
    ]
    print(
        f"[rank {rank}] world {config.world_size}; {describe_partitioning(trainer.model_wrapped)}; logs {logs}",
        flush=True,
    )
    if trainer.ref_model is not None:
        print(
            f"[rank {rank}] reference: {type(trainer.ref_model).__name__}, {describe_partitioning(trainer.ref_model)}"
        )
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    if rank == 0:
        print("SMOKE OK", flush=True)
    return 0


def main() -> int:
    args = make_parser().parse_args()
    return worker(args) if args.worker else launch(args)


if __name__ == "__main__":
    sys.exit(main())
