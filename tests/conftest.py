"""Shared fixtures: a tiny offline tokenizer/model and small LaTRO data sets."""

import os

import pytest
from datasets import Dataset

from latro_trl.testing import make_tiny_model, make_tiny_tokenizer

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QUESTIONS = [
    (f"Tom has {a} apples and buys {b} more. How many apples does he have?", str(a + b))
    for a, b in [(3, 5), (2, 7), (4, 4), (6, 1), (1, 8), (5, 5), (9, 2), (7, 3)]
]


@pytest.fixture
def tokenizer():
    return make_tiny_tokenizer()


@pytest.fixture
def model(tokenizer):
    return make_tiny_model(tokenizer)


@pytest.fixture
def conversational_dataset():
    return Dataset.from_list(
        [{"prompt": [{"role": "user", "content": q + " Let's think step by step."}], "answer": a} for q, a in QUESTIONS]
    )


@pytest.fixture
def plain_dataset():
    return Dataset.from_list(
        [{"prompt": f"Question: {q}\nLet's think step by step.\n", "answer": a} for q, a in QUESTIONS]
    )


@pytest.fixture
def make_config(tmp_path):
    from latro_trl import LaTROConfig

    def _make(**overrides):
        values = dict(
            output_dir=str(tmp_path / "out"),
            num_generations=4,
            per_device_train_batch_size=8,
            max_completion_length=12,
            max_steps=2,
            learning_rate=1e-3,
            logging_steps=1,
            report_to="none",
            save_strategy="no",
            seed=0,
            gradient_checkpointing=False,
        )
        values.update(overrides)
        return LaTROConfig(**values)

    return _make
