"""Evaluation reply limits default to the training rationale limit plus room for the answer (issue #13, item 7).

A model trained at L = LaTROConfig's max_completion_length must not be cut short when it is evaluated with the
defaults of `latro eval`, `evaluate`, `generate_replies` and `AccuracyCallback`.
"""

import dataclasses
import json
from types import SimpleNamespace

import pytest
import torch
from transformers import TrainerControl, TrainerState

from latro_trl import LaTROConfig
from latro_trl.cli import evaluate as eval_cli
from latro_trl.evaluation import AccuracyCallback, evaluate, generate_replies
from latro_trl.evaluation.generation import ANSWER_ROOM, default_max_new_tokens
from latro_trl.testing import make_tiny_tokenizer

TRAINING_LIMIT = next(f.default for f in dataclasses.fields(LaTROConfig) if f.name == "max_completion_length")
ROWS = [{"prompt": [{"role": "user", "content": "What is 3 + 5?"}], "answer": "8"}]


class RecordingModel(torch.nn.Module):
    """Replies "The answer is 8." at once and records the reply limit of every generate call."""

    def __init__(self, tokenizer):
        super().__init__()
        self.tokenizer = tokenizer
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.generation_config = SimpleNamespace(eos_token_id=tokenizer.eos_token_id)
        self.limits = []

    def generate(self, input_ids, attention_mask, generation_config):
        self.limits.append(generation_config.max_new_tokens)
        reply = self.tokenizer("The answer is 8.")["input_ids"] + [self.tokenizer.eos_token_id]
        rows = [ids.tolist() + reply for ids in input_ids for _ in range(generation_config.num_return_sequences)]
        return torch.tensor(rows)


@pytest.fixture(scope="module")
def tokenizer():
    return make_tiny_tokenizer()


def test_the_default_covers_the_training_limit():
    assert TRAINING_LIMIT >= 500
    assert default_max_new_tokens() == TRAINING_LIMIT + ANSWER_ROOM >= TRAINING_LIMIT + 16
    assert default_max_new_tokens(48) == 48 + ANSWER_ROOM


def test_latro_eval_defaults_to_the_training_limit(tokenizer, monkeypatch, tmp_path, capsys):
    model = RecordingModel(tokenizer)
    monkeypatch.setattr("latro_trl.cli.datasets.DatasetArguments.load", lambda *a, **k: ROWS)
    monkeypatch.setattr("latro_trl.evaluation.load_model_for_eval", lambda *a, **k: (model, tokenizer), raising=False)
    assert eval_cli.run(["--output_dir", str(tmp_path), "--num_samples", "2", "--device", "cpu"]) == 0
    assert model.limits and all(limit >= TRAINING_LIMIT + ANSWER_ROOM for limit in model.limits), model.limits
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["max_new_tokens"] == default_max_new_tokens()
    assert f"reply limit {default_max_new_tokens()}" in capsys.readouterr().out

    # --help says where the default comes from.
    help_text = " ".join(eval_cli.make_parser().format_help().split())
    assert "max_completion_length" in help_text and f"+ {ANSWER_ROOM}" in help_text


def test_library_defaults_cover_the_training_limit(tokenizer):
    model = RecordingModel(tokenizer)
    generate_replies(model, tokenizer, [ROWS[0]["prompt"]])
    summary = evaluate(model, tokenizer, ROWS, num_samples=2, progress=False)
    assert summary["max_new_tokens"] == default_max_new_tokens()
    assert model.limits == [default_max_new_tokens()] * 3


@pytest.mark.parametrize(("args_limit", "expected"), [(12, 12 + ANSWER_ROOM), (None, TRAINING_LIMIT + ANSWER_ROOM)])
def test_the_callback_follows_the_runs_limit(tokenizer, tmp_path, args_limit, expected):
    model = RecordingModel(tokenizer)
    callback = AccuracyCallback(ROWS, tokenizer, every_n_steps=1)
    args = SimpleNamespace(output_dir=str(tmp_path))
    if args_limit is not None:
        args.max_completion_length = args_limit
    state = TrainerState()
    state.global_step = 1
    callback.on_step_end(args, state, TrainerControl(), model=model)
    assert model.limits == [expected]
    assert callback.history[0]["eval/accuracy"] == 1.0
