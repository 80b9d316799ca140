"""Accuracy measured during training reads answers the way the run writes them: from its `answer_column`, after its
`stop_markers` or the words its `answer_template` puts before the answer (issue #26)."""

from types import SimpleNamespace

import pytest
import torch
from transformers import TrainerControl, TrainerState

from latro_trl import LaTROTrainer
from latro_trl.evaluation import AccuracyCallback, answer_markers, evaluate
from latro_trl.markers import ANSWER_MARKERS


class OneReplyModel(torch.nn.Module):
    """Replies with the same text to every prompt."""

    def __init__(self, tokenizer, reply):
        super().__init__()
        self.tokenizer, self.reply = tokenizer, reply
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.generation_config = SimpleNamespace(eos_token_id=tokenizer.eos_token_id)

    def generate(self, input_ids, attention_mask, generation_config):
        reply = self.tokenizer(self.reply)["input_ids"] + [self.tokenizer.eos_token_id]
        return torch.tensor(
            [ids.tolist() + reply for ids in input_ids for _ in range(generation_config.num_return_sequences)]
        )


ROWS = [{"prompt": [{"role": "user", "content": "What is 3 + 4?"}], "solution": "7"}]


def _accuracy(callback, model, args, tmp_path):
    args.output_dir = str(tmp_path)
    state = TrainerState()
    state.global_step = 1
    callback.on_step_end(args, state, TrainerControl(), model=model)
    return callback.history[-1]["eval/accuracy"]


def test_latro_run_with_its_own_answer_column_logs_accuracy(model, tokenizer, conversational_dataset, make_config):
    dataset = conversational_dataset.rename_column("answer", "solution")
    config = make_config(answer_column="solution", max_steps=1)
    trainer = LaTROTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    AccuracyCallback(dataset.select(range(2)), every_n_steps=1, max_new_tokens=4).attach(trainer)
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "eval/accuracy" in entry]
    assert [entry["step"] for entry in logged] == [1]
    assert 0.0 <= logged[0]["eval/accuracy"] <= 1.0


def test_the_answer_is_read_after_the_runs_own_markers(tokenizer, tmp_path):
    model = OneReplyModel(tokenizer, "Final: 7. Then 9 more would make 16.")
    run = SimpleNamespace(answer_column="solution", stop_markers=["Final:"], answer_template="Final: {answer}")
    assert _accuracy(AccuracyCallback(ROWS, tokenizer, every_n_steps=1, max_new_tokens=16), model, run, tmp_path) == 1.0
    # The package's markers miss "Final:" and fall back to the last number, 16: that would score the reply wrong.
    default = SimpleNamespace()
    callback = AccuracyCallback(ROWS, tokenizer, every_n_steps=1, max_new_tokens=16, answer_column="solution")
    assert _accuracy(callback, model, default, tmp_path) == 0.0


def test_no_stop_markers_in_evaluation(tokenizer):
    model = OneReplyModel(tokenizer, "3 + 4 = 7")
    summary = evaluate(
        model, tokenizer, ROWS, answer_column="solution", stop_markers=[], answer_template="{answer}", progress=False
    )
    assert summary["greedy"]["accuracy"] == 1.0


@pytest.mark.parametrize(
    ("stop_markers", "template", "expected"),
    [
        (None, None, ANSWER_MARKERS),
        ([], "{answer}", ()),
        ([], "The answer is {answer}.", ("The answer is",)),
        (["Answer:", "answer:"], "Answer: {answer}", ("Answer:",)),
        (["So"], "Result {{x}}: {answer}", ("So", "Result {x}:")),
    ],
)
def test_answer_markers_of_a_run(stop_markers, template, expected):
    assert answer_markers(stop_markers, template) == expected


def test_an_eval_set_without_the_runs_answer_column_fails_when_training_starts(tokenizer):
    callback = AccuracyCallback([{"prompt": "What is 3 + 4?", "answer": "7"}], tokenizer)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['solution'\].*answer_column="):
        callback.on_train_begin(SimpleNamespace(answer_column="solution"), TrainerState(), TrainerControl())
