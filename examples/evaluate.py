"""Zero-shot accuracy of a model, a checkpoint or a LoRA adapter: `latro eval` as a script (greedy and maj@k).

The same prompts as training, the same answer extraction; every flag is `latro eval`'s (`--help`), and the whole flow
is in `latro_trl/cli/evaluate.py`. Writes `predictions.jsonl`, `summary.json` and `arguments.json` under
`--output_dir`.

Usage:

    # a trained checkpoint (full fine-tuning) on the GSM8K test split, greedy + maj@8 as in the paper
    python examples/evaluate.py --model_name_or_path runs/llama31-8b-latro-gsm8k/checkpoint-311 --dataset_name gsm8k \
        --dtype bfloat16 --max_new_tokens 532 --output_dir runs/eval/llama31-gsm8k-epoch1

    # a LoRA adapter (its adapter_config.json names the base model) on the ARC dev split
    python examples/evaluate.py --model_name_or_path runs/smollm2-latro-arc-cpu --dataset_name arc_challenge \
        --split validation --dataset_path ../shared/data/arc_challenge --max_samples 100

    # the embedded SmolLM2-135M-Instruct, 20 GSM8K questions on a CPU
    python examples/evaluate.py --dataset_name gsm8k --dataset_path ../shared/data/gsm8k --max_samples 20 \
        --num_samples 4

One process: `python`, not `accelerate launch` (the questions are not sharded over processes).
"""

from __future__ import annotations

import sys

from latro_trl.cli.evaluate import run

if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
