"""The evaluator end to end: tiny models, a scripted model with known replies, model loading and the callback."""

import json
from collections import Counter

import pytest
import torch

from latro_trl.data import extract_number, load_synthetic, numbers_match
from latro_trl.evaluation import AccuracyCallback, evaluate, generate_replies, load_model_for_eval
from latro_trl.testing import make_tiny_model, make_tiny_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return make_tiny_tokenizer()


@pytest.fixture(scope="module")
def model(tokenizer):
    return make_tiny_model(tokenizer)


class ScriptedModel(torch.nn.Module):
    """Answers each prompt with scripted replies (cycled over samples): the evaluator's logic without randomness."""

    def __init__(self, tokenizer, replies):
        super().__init__()
        self.tokenizer, self.replies = tokenizer, replies
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.generation_config = type("GenerationConfig", (), {"eos_token_id": tokenizer.eos_token_id})()
        self.calls = []

    def generate(self, input_ids, attention_mask, generation_config):
        self.calls.append((input_ids.shape[0], generation_config.do_sample))
        k = generation_config.num_return_sequences
        eos = self.tokenizer.eos_token_id
        rows = []
        for ids, mask in zip(input_ids, attention_mask, strict=True):
            prompt = self.tokenizer.decode(ids[mask.bool()])
            script = next(replies for key, replies in self.replies.items() if key in prompt)
            for sample in range(k):
                reply = script[sample % len(script)] if generation_config.do_sample else script[0]
                rows.append(ids.tolist() + self.tokenizer(reply)["input_ids"] + [eos])
        width = max(len(row) for row in rows)
        return torch.tensor([row + [eos] * (width - len(row)) for row in rows])


def _rows(questions_answers):
    return [{"prompt": [{"role": "user", "content": q}], "answer": a, "question": q} for q, a in questions_answers]


def test_end_to_end_on_tiny_model(model, tokenizer, tmp_path):
    dataset = load_synthetic("test", n=5, seed=0)
    summary = evaluate(
        model, tokenizer, dataset, num_samples=3, max_new_tokens=12, batch_size=4, output_dir=tmp_path, progress=False
    )
    assert summary["num_examples"] == 5 and summary["greedy"]["n"] == 5 and summary["maj@3"]["n"] == 5
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    records = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(5))

    # An independent re-parse of predictions.jsonl gives the same accuracies.
    greedy = [
        numbers_match(extract_number(r["rationale"]), gold) for r, gold in zip(records, dataset["answer"], strict=True)
    ]
    assert summary["greedy"]["accuracy"] == sum(greedy) / 5
    assert summary["greedy"]["correct"] == sum(r["correct"] for r in records)
    majority_correct = []
    for record, gold in zip(records, dataset["answer"], strict=True):
        assert len(record["sample_rationales"]) == len(record["sample_answers"]) == 3
        answers = [extract_number(text) for text in record["sample_rationales"]]
        counts = Counter(a for a in answers if a is not None)
        winner = next((a for a in answers if a is not None and counts[a] == max(counts.values())), None)
        majority_correct.append(numbers_match(winner, gold))
    assert summary["maj@3"]["accuracy"] == sum(majority_correct) / 5
    assert records[0]["prompt"].startswith("<|im_start|>user\n")
    assert records[0]["prompt"].endswith("<|im_start|>assistant\n")


def test_left_padding_does_not_change_greedy_replies(model, tokenizer):
    prompts = list(load_synthetic("test", n=6, seed=0)["prompt"]) + ["short", "a longer plain prompt " * 5]
    alone = generate_replies(model, tokenizer, prompts, max_new_tokens=16, batch_size=1)
    batched = generate_replies(model, tokenizer, prompts, max_new_tokens=16, batch_size=8)
    assert [r[0].text for r in alone] == [r[0].text for r in batched]
    assert all(len(r) == 1 and r[0].num_tokens <= 16 for r in alone)


def test_sampling_is_seeded_and_leaves_global_rng_alone(model, tokenizer):
    prompts = ["What is 2 + 3?", "Count to five."]
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = generate_replies(
        model, tokenizer, prompts, num_return_sequences=3, do_sample=True, max_new_tokens=8, seed=7
    )
    after = torch.rand(1)
    second = generate_replies(
        model, tokenizer, prompts, num_return_sequences=3, do_sample=True, max_new_tokens=8, seed=7
    )
    assert torch.equal(before, after)
    assert [[r.text for r in group] for group in first] == [[r.text for r in group] for group in second]
    assert all(len(group) == 3 for group in first)


def test_scripted_greedy_and_majority(tokenizer):
    replies = {
        "Q1": ["3 + 5 = 8. The answer is 8.", "The answer is 9.", "The answer is 9."],  # greedy right, majority wrong
        "Q2": ["I am not sure.", "The answer is 1,000.", "The answer is 7."],  # greedy unparsed, tie -> earliest
        "Q3 a much longer question to reorder the batches": ["The answer is $12.50", "12.5", "no idea"],
    }
    model = ScriptedModel(tokenizer, replies)
    model.train()
    dataset = _rows([("Q1", "8"), ("Q2", "1000"), ("Q3 a much longer question to reorder the batches", "12.5")])
    summary = evaluate(model, tokenizer, dataset, num_samples=3, batch_size=3, progress=False)
    assert model.training  # mode restored
    assert summary["greedy"]["correct"] == 2 and summary["greedy"]["no_answer_rate"] == pytest.approx(1 / 3)
    assert summary["maj@3"]["correct"] == 2  # Q1 wrong (9), Q2 right (1000 first among ties), Q3 right
    assert summary["maj@3"]["sample_accuracy"] == pytest.approx(4 / 9)
    assert summary["greedy"]["finished_rate"] == 1.0
    assert model.calls[0] == (3, False) and all(call == (1, True) for call in model.calls[1:])


def test_scripted_without_greedy_reports_maj1(tokenizer):
    model = ScriptedModel(tokenizer, {"Q": ["The answer is 4."]})
    summary = evaluate(model, tokenizer, _rows([("Q", "4")]), greedy=False, progress=False)
    assert "greedy" not in summary and summary["maj@1"]["accuracy"] == 1.0


def test_scripted_multiple_choice(tokenizer, tmp_path):
    choices = [{"label": "A", "text": "red"}, {"label": "B", "text": "blue"}]
    rows = [
        {"prompt": "Sky? A) red B) blue", "answer": "B", "answer_label": "B", "choices": choices},
        {"prompt": "Blood? A) red B) blue", "answer": "A) red", "answer_label": "A", "choices": choices},
        {"prompt": "Sea? A) red B) blue", "answer": "B", "choices": choices},
    ]
    model = ScriptedModel(
        tokenizer, {"Sky": ["The answer is (B)."], "Blood": ["The answer is red."], "Sea": ["The answer is A."]}
    )
    summary = evaluate(model, tokenizer, rows, task="choice", output_dir=tmp_path, progress=False)
    assert summary["greedy"]["correct"] == 2
    records = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert [r["answer"] for r in records] == ["B", "A", "A"]
    assert [r["gold"] for r in records] == ["B", "A", "B"]


@pytest.mark.parametrize(
    ("kwargs", "rows", "match"),
    [
        ({"task": "math"}, _rows([("Q", "1")]), "task"),
        ({"num_samples": 0}, _rows([("Q", "1")]), "num_samples"),
        ({}, [], "empty"),
        ({}, [{"question": "Q"}], "prompt"),
        ({}, _rows([("Q", "B")]), "not a number"),
        ({"task": "choice"}, _rows([("Q", "B")]), "choices"),
    ],
)
def test_evaluate_errors(tokenizer, kwargs, rows, match):
    model = ScriptedModel(tokenizer, {"Q": ["The answer is 1."]})
    with pytest.raises(ValueError, match=match):
        evaluate(model, tokenizer, rows, progress=False, **kwargs)


def test_load_model_for_eval_full_and_adapter(model, tokenizer, tmp_path):
    from peft import LoraConfig, get_peft_model

    model.save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    loaded, loaded_tokenizer = load_model_for_eval(tmp_path / "base")
    assert not loaded.training and loaded_tokenizer.pad_token == "<|im_end|>"
    prompts = ["What is 2 + 3?"]
    expected = generate_replies(model, tokenizer, prompts, max_new_tokens=8)
    assert generate_replies(loaded, loaded_tokenizer, prompts, max_new_tokens=8) == expected

    peft_model = get_peft_model(make_tiny_model(tokenizer), LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(0)
    for name, parameter in peft_model.named_parameters():
        if "lora_B" in name:
            parameter.data.normal_()  # a non-trivial adapter
    peft_model.peft_config["default"].base_model_name_or_path = str(tmp_path / "base")
    peft_model.save_pretrained(tmp_path / "adapter")
    expected = generate_replies(peft_model.eval(), tokenizer, prompts, max_new_tokens=8)
    for merged in (True, False):
        adapted, adapted_tokenizer = load_model_for_eval(tmp_path / "adapter", merge_adapter=merged)
        assert generate_replies(adapted, adapted_tokenizer, prompts, max_new_tokens=8) == expected
    adapted, _ = load_model_for_eval(tmp_path / "base", adapter=tmp_path / "adapter")
    assert generate_replies(adapted, tokenizer, prompts, max_new_tokens=8) == expected


def _train_with_callback(tokenizer, tmp_path, attach):
    from datasets import Dataset
    from transformers import Trainer, TrainerCallback, TrainingArguments

    class ModeProbe(TrainerCallback):
        modes = []

        def on_step_end(self, args, state, control, model=None, **kwargs):
            self.modes.append(model.training)

    model = make_tiny_model(tokenizer)
    ids = tokenizer("Tom has 3 apples and buys 5 more. The answer is 8.")["input_ids"]
    train = Dataset.from_list([{"input_ids": ids, "labels": ids}] * 4)
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=2,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
    )
    callback = AccuracyCallback(
        _rows([("What is 3 + 5?", "8"), ("What is 2 + 2?", "4")]), tokenizer, every_n_steps=1, max_new_tokens=8
    )
    probe = ModeProbe()
    if attach:
        trainer = Trainer(model=model, args=args, train_dataset=train, callbacks=[probe])
        callback.attach(trainer)
        trainer.callback_handler.callbacks.remove(probe)
        trainer.add_callback(probe)  # after the accuracy callback
    else:
        trainer = Trainer(model=model, args=args, train_dataset=train, callbacks=[callback, probe])
    trainer.train()
    return trainer, callback, probe


@pytest.mark.parametrize("attach", [True, False])
def test_callback_logs_accuracy(tokenizer, tmp_path, attach):
    trainer, callback, probe = _train_with_callback(tokenizer, tmp_path, attach)
    logged = [entry for entry in trainer.state.log_history if "eval/accuracy" in entry]
    assert [entry["step"] for entry in logged] == [1, 2]
    assert all(0.0 <= entry["eval/accuracy"] <= 1.0 for entry in logged)
    assert [h["step"] for h in callback.history] == [1, 2]
    assert probe.modes == [True, True]  # train mode restored after each evaluation
    assert [e["step"] for e in trainer.state.log_history if "loss" in e] == [1, 2]  # the trainer's own logs still flow


def test_callback_argument_errors(tokenizer):
    with pytest.raises(ValueError, match="every_n_steps"):
        AccuracyCallback(_rows([("Q", "1")]), tokenizer, every_n_steps=0)
    with pytest.raises(ValueError, match="empty"):
        AccuracyCallback([], tokenizer)


def test_callback_with_trl_sft_trainer(tokenizer, tmp_path):
    from trl import SFTConfig, SFTTrainer

    train = load_synthetic("train", n=8, seed=0).select_columns(["prompt", "completion"])
    args = SFTConfig(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=4,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        max_length=None,
    )
    trainer = SFTTrainer(model=make_tiny_model(tokenizer), args=args, train_dataset=train, processing_class=tokenizer)
    AccuracyCallback(load_synthetic("validation", n=2, seed=0), every_n_steps=2, max_new_tokens=8).attach(trainer)
    trainer.train()
    history = trainer.state.log_history
    assert [e["step"] for e in history if "eval/accuracy" in e] == [2]
    # TRL's own per-step metrics are not swallowed by the callback's log call
    assert [e["step"] for e in history if "mean_token_accuracy" in e] == [1, 2]


@pytest.mark.slow
def test_embedded_model_smoke(tmp_path):
    model, tokenizer = load_model_for_eval()
    summary = evaluate(
        model, tokenizer, load_synthetic("test", n=1, seed=0), max_new_tokens=8, output_dir=tmp_path, progress=False
    )
    assert summary["greedy"]["n"] == 1 and (tmp_path / "predictions.jsonl").is_file()
