"""Hybrid-cache model families (convolution, linear-attention and state-space layers beside attention) train with
LaTROTrainer's defaults, the pruned sampler included: their caches drop and copy rows like attention caches."""

import math

import pytest
from datasets import Dataset

from latro_trl import LaTROTrainer
from latro_trl.testing import make_tiny_hybrid_model


@pytest.mark.parametrize("family", ["lfm2", "qwen3_next", "bamba"])
def test_one_training_step_with_the_defaults(family, tokenizer, make_config):
    model = make_tiny_hybrid_model(family, tokenizer)
    rows = [{"prompt": [{"role": "user", "content": f"What is {i} plus {i}?"}], "answer": str(2 * i)} for i in range(4)]
    args = make_config(num_generations=2, per_device_train_batch_size=4, max_steps=1, beta=0.05)
    trainer = LaTROTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    assert trainer._prune_finished_rows  # the default turns the pruned sampler on for these caches
    trainer.train()
    logs = next(entry for entry in trainer.state.log_history if "reward" in entry)
    assert math.isfinite(logs["loss"]) and math.isfinite(logs["reward"])
