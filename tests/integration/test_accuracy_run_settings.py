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


def test_latro_eval_reads_the_runs_answer_column_markers_and_template(tokenizer, monkeypatch, tmp_path):
    import json

    import latro_trl.evaluation
    from latro_trl.cli import main as latro_main

    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps({"prompt": "What is 3 + 4?", "solution": "7"}) + "\n")
    model = OneReplyModel(tokenizer, "Final: 7. Then 9 more would make 16.")
    monkeypatch.setattr(latro_trl.evaluation, "load_model_for_eval", lambda *a, **k: (model, tokenizer))
    run = ["eval", "--dataset_name", str(data), "--num_samples", "1", "--device", "cpu"]
    run += ["--answer_column", "solution", "--max_completion_length", "8"]

    def accuracy(*flags):
        out = tmp_path / f"eval{len(flags)}"
        assert latro_main.main([*run, *flags, "--output_dir", str(out)]) == 0
        return json.loads((out / "summary.json").read_text())

    summary = accuracy("--stop_markers", "Final:", "--answer_template", "Final: {answer}")
    assert summary["greedy"]["accuracy"] == 1.0 and summary["max_new_tokens"] == 8 + 32
    # With the package's markers the reply's answer is the last number, 16: the run's own markers are what score it.
    assert accuracy()["greedy"]["accuracy"] == 0.0


def test_latro_demo_evaluates_with_the_runs_answer_settings(monkeypatch, tmp_path):
    import latro_trl.evaluation
    from latro_trl.cli import demo as demo_cli

    _, config, _ = demo_cli.make_parser().parse_args_and_config(
        args=["--stop_markers", "Final:", "--answer_template", "Final: {answer}", "--max_completion_length", "8"]
    )
    calls = []

    def recording_evaluate(model, tokenizer, dataset, *, output_dir, **kwargs):
        calls.append(kwargs)
        output_dir.mkdir(parents=True)
        (output_dir / "predictions.jsonl").write_text("")
        return {"greedy": {}}

    monkeypatch.setattr(latro_trl.evaluation, "evaluate", recording_evaluate)
    demo_cli._evaluate(None, None, {"test": ROWS, "reworded": ROWS}, tmp_path, config)
    expected = {"answer_column": "answer", "stop_markers": ["Final:"], "answer_template": "Final: {answer}"}
    assert calls == [{**expected, "max_new_tokens": 8 + 32}] * 2
