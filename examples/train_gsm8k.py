"""LaTRO on GSM8K (grade-school math): `latro train --dataset_name gsm8k`, as a script to `accelerate launch`.

Every `LaTROConfig` / `TrainingArguments` field, every `trl.ModelConfig` field and the data flags of `latro train`
are flags, and a YAML file of the same keys can be passed with `--config` (flags given after it win). The recipes in
`examples/recipes/` hold the paper's settings. The whole flow is in `latro_trl/cli/train.py`.

Usage:

    # 8 GPUs, the paper's settings for Llama-3.1-8B-Instruct (see examples/README.md for the other models)
    accelerate launch --config_file deepspeed_configs/accelerate/zero3_1node_8gpu.yaml \
        examples/train_gsm8k.py --config examples/recipes/llama31_8b_gsm8k.yaml

    # CPU, the embedded SmolLM2-135M-Instruct (no --model_name_or_path), local data, a few steps
    python examples/train_gsm8k.py --config examples/recipes/smollm2_cpu_demo.yaml \
        --dataset_path ../shared/data/gsm8k

The data: the GSM8K train split (`latro_trl.data.load_gsm8k`: a conversational prompt with a "think step by step"
trigger and the gold number as `answer`), from `--dataset_path` (a folder with `train.jsonl`/`test.jsonl` in the
original format) or, unset, `openai/gsm8k` from the Hub. GSM8K has no validation split: `--eval_accuracy_steps`
measures on `test` unless `--eval_split` says otherwise.
"""

from __future__ import annotations

import functools
import sys

from latro_trl.cli.train import main, parse_args_for

parse_args = functools.partial(parse_args_for, "gsm8k")

if __name__ == "__main__":
    sys.exit(main(*parse_args()))
