"""TRL's own RLOO and GRPO scripts with LaTROTrainer swapped in, training a LoRA adapter (`--use_peft`).

The full fine-tuning runs are in test_trl_scripts.py; this is the PEFT path of the same drop-in: TRL's script builds
the LoRA config, and LaTROTrainer's reference is the base model with the adapter off.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import trl

from latro_trl.testing import make_tiny_model, make_tiny_tokenizer

SCRIPTS = Path(trl.__file__).parent / "scripts"


@pytest.mark.slow
@pytest.mark.parametrize("script, trainer", [("rloo.py", "RLOOTrainer"), ("grpo.py", "GRPOTrainer")])
def test_trl_script_with_latro_trainer_trains_a_lora_adapter(tmp_path, script, trainer):
    swapped, count = re.subn(
        rf"from trl import {trainer}, ",
        f"from latro_trl import LaTROTrainer as {trainer}\n    from trl import ",
        (SCRIPTS / script).read_text(),
    )
    assert count == 1, f"TRL's {script} no longer imports {trainer} the way this test expects"
    (tmp_path / script).write_text(swapped)
    tokenizer = make_tiny_tokenizer()
    make_tiny_model(tokenizer).save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    (tmp_path / "data").mkdir()
    rows = [{"prompt": [{"role": "user", "content": f"What is {i} plus {i}?"}], "answer": str(2 * i)} for i in range(8)]
    (tmp_path / "data" / "train.jsonl").write_text("\n".join(json.dumps(row) for row in rows))

    flags = {
        "model_name_or_path": tmp_path / "model",
        "dataset_name": tmp_path / "data",
        "output_dir": tmp_path / "out",
        "num_generations": 4,
        "per_device_train_batch_size": 8,
        "max_completion_length": 8,
        "max_steps": 2,
        "learning_rate": 1e-2,
        "beta": 0.1,  # the KL term scores the base model with the adapter off
        "bf16": "false",
        "report_to": "none",
        "dtype": "float32",
        "gradient_checkpointing": "false",
        "logging_steps": 1,
        "use_peft": "true",
        "lora_r": 4,
        "lora_alpha": 8,
        "lora_target_modules": "q_proj v_proj",
    }
    command = [sys.executable, str(tmp_path / script)]
    for name, value in flags.items():
        command += [f"--{name}", *str(value).split()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]

    assert (tmp_path / "out" / "adapter_model.safetensors").exists()
    assert not (tmp_path / "out" / "model.safetensors").exists()  # the adapter alone, not merged weights
    state = json.loads(sorted((tmp_path / "out").glob("checkpoint-*/trainer_state.json"))[-1].read_text())
    first = state["log_history"][0]
    assert "answer_logp" in first and "kl" in first
