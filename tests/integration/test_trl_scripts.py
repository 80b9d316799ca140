"""TRL's own RLOO and GRPO scripts, with LaTROTrainer swapped in for their trainer, train as they are."""

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
def test_trl_script_with_latro_trainer(tmp_path, script, trainer):
    source = (SCRIPTS / script).read_text()
    # The one-line change a user makes: import LaTROTrainer under the name the script uses.
    swapped, count = re.subn(
        rf"from trl import {trainer}, ",
        f"from latro_trl import LaTROTrainer as {trainer}\n    from trl import ",
        source,
    )
    assert count == 1, f"TRL's {script} no longer imports {trainer} the way this test expects"
    (tmp_path / script).write_text(swapped)

    tokenizer = make_tiny_tokenizer()
    make_tiny_model(tokenizer).save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    data = tmp_path / "data"
    data.mkdir()
    rows = [{"prompt": [{"role": "user", "content": f"What is {i} plus {i}?"}], "answer": str(2 * i)} for i in range(8)]
    (data / "train.jsonl").write_text("\n".join(json.dumps(row) for row in rows))

    command = [
        sys.executable,
        str(tmp_path / script),
        "--model_name_or_path",
        str(tmp_path / "model"),
        "--dataset_name",
        str(data),
        "--output_dir",
        str(tmp_path / "out"),
        "--num_generations",
        "4",
        "--per_device_train_batch_size",
        "8",
        "--max_completion_length",
        "8",
        "--max_steps",
        "2",
        "--bf16",
        "false",
        "--report_to",
        "none",
        "--dtype",
        "float32",
        "--gradient_checkpointing",
        "false",
        "--logging_steps",
        "1",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "out" / "model.safetensors").exists()
    state = json.loads(sorted((tmp_path / "out").glob("checkpoint-*/trainer_state.json"))[-1].read_text())
    assert "answer_logp" in state["log_history"][0]
