"""LaTRO on ARC-Challenge (science multiple choice): `latro train --dataset_name arc_challenge`, as a script.

The twin of `train_gsm8k.py` (same flags, same `--config` YAML convention); only the data differ: each prompt lists
the options as `A) ...` lines, and the gold answer `y` the model is trained to find likely after its rationale is
`"The answer is {answer}."` with `answer` the option's text (the paper's choice, `--answer_format text`), its label
(`label`, the default) or both (`label_text`). The whole flow is in `latro_trl/cli/train.py`.

Usage:

    # 8 GPUs, the paper's settings for Llama-3.1-8B-Instruct (see examples/README.md for the other models)
    accelerate launch --config_file deepspeed_configs/accelerate/zero3_1node_8gpu.yaml \
        examples/train_arc.py --config examples/recipes/llama31_8b_arc.yaml

    # CPU, the embedded SmolLM2-135M-Instruct, local data in AI2's layout, a few steps
    python examples/train_arc.py --config examples/recipes/smollm2_cpu_demo.yaml \
        --dataset_path ../shared/data/arc_challenge --output_dir runs/smollm2-latro-arc-cpu

The data: AI2's original layout or the hub's flat one (`latro_trl.data.load_arc`); `--eval_accuracy_steps` measures
on the dev split (`validation`), which keeps `test` for the final number.
"""

from __future__ import annotations

import functools
import sys

from latro_trl.cli.train import main, parse_args_for

parse_args = functools.partial(parse_args_for, "arc_challenge")

if __name__ == "__main__":
    sys.exit(main(*parse_args()))
