"""A stopped evaluation resumes from its batch log and gives exactly the results of an uninterrupted one."""

import copy
import json
import warnings

import pytest
import torch

from latro_trl.data import load_synthetic
from latro_trl.evaluation import evaluate, generate_replies

SAMPLING = {"num_return_sequences": 2, "do_sample": True, "max_new_tokens": 10, "batch_size": 4, "seed": 3}


@pytest.fixture(scope="module")
def prompts():
    return list(load_synthetic("test", n=7, seed=0)["prompt"])  # 4 batches of 2 prompts x 2 samples


class Interrupted(Exception):
    pass


class CountingGenerate:
    """Wraps ``model.generate``: counts calls and raises (like Ctrl-C) on call number ``fail_on``."""

    def __init__(self, model, monkeypatch, fail_on=None):
        self.original, self.calls, self.fail_on = model.generate, 0, fail_on
        monkeypatch.setattr(model, "generate", self)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.fail_on:
            raise Interrupted
        return self.original(*args, **kwargs)


def _texts(groups):
    return [[reply.text for reply in group] for group in groups]


def test_resumed_sampling_equals_an_uninterrupted_run(model, tokenizer, prompts, tmp_path, monkeypatch):
    reference = generate_replies(model, tokenizer, prompts, **SAMPLING)
    log = tmp_path / "maj.jsonl"
    with monkeypatch.context() as patch:
        counter = CountingGenerate(model, patch, fail_on=3)
        with pytest.raises(Interrupted):
            generate_replies(model, tokenizer, prompts, resume_file=log, **SAMPLING)
    assert len(log.read_text().splitlines()) == 1 + 2  # the fingerprint and two finished batches

    with monkeypatch.context() as patch:
        counter = CountingGenerate(model, patch)
        torch.manual_seed(11)
        before = torch.rand(1)
        torch.manual_seed(11)
        resumed = generate_replies(model, tokenizer, prompts, resume_file=log, **SAMPLING)
        assert torch.equal(torch.rand(1), before)  # the caller's random state is still untouched
    assert counter.calls == 2  # only the two batches that were not done
    assert resumed == reference
    assert _texts(resumed) != [[group[0]] * 2 for group in _texts(resumed)]  # real sampling, not copies


def test_a_log_cut_short_by_a_kill_loses_only_its_last_line(model, tokenizer, prompts, tmp_path, monkeypatch):
    reference = generate_replies(model, tokenizer, prompts, **SAMPLING)
    log = tmp_path / "maj.jsonl"
    generate_replies(model, tokenizer, prompts, resume_file=log, **SAMPLING)
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:3]) + "\n" + lines[3][: len(lines[3]) // 2])  # batch 2 half written
    with monkeypatch.context() as patch:
        counter = CountingGenerate(model, patch)
        assert generate_replies(model, tokenizer, prompts, resume_file=log, **SAMPLING) == reference
    assert counter.calls == 2


@pytest.mark.parametrize("change", ["weights", "settings"])
def test_a_log_from_another_model_or_settings_is_discarded(model, tokenizer, prompts, tmp_path, monkeypatch, change):
    log = tmp_path / "maj.jsonl"
    generate_replies(model, tokenizer, prompts, resume_file=log, **SAMPLING)
    other_model, settings = model, dict(SAMPLING)
    if change == "weights":
        other_model = _perturbed(model)
    else:
        settings["max_new_tokens"] = 12
    reference = generate_replies(other_model, tokenizer, prompts, **settings)
    with monkeypatch.context() as patch, pytest.warns(UserWarning, match="another model, data or settings"):
        counter = CountingGenerate(other_model, patch)
        assert generate_replies(other_model, tokenizer, prompts, resume_file=log, **settings) == reference
    assert counter.calls == 4


def test_evaluate_resumes_and_removes_its_log_when_done(model, tokenizer, tmp_path, monkeypatch):
    dataset = load_synthetic("test", n=6, seed=0)
    options = {"num_samples": 2, "max_new_tokens": 10, "batch_size": 4, "progress": False}
    reference = evaluate(model, tokenizer, dataset, output_dir=tmp_path / "reference", **options)
    out = tmp_path / "resumed"
    with monkeypatch.context() as patch:
        CountingGenerate(model, patch, fail_on=3)  # greedy: 2 batches of 4 prompts; then maj@2's first batch fails
        with pytest.raises(Interrupted):
            evaluate(model, tokenizer, dataset, output_dir=out, **options)
    assert (out / "partial" / "greedy.jsonl").exists() and not (out / "summary.json").exists()
    with monkeypatch.context() as patch:
        counter = CountingGenerate(model, patch)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the log matches: nothing is discarded
            resumed = evaluate(model, tokenizer, dataset, output_dir=out, **options)
    assert counter.calls == 3  # the 3 maj@2 batches (2 prompts x 2 samples each); greedy came from the log
    drop = ("elapsed_s",)
    assert {k: v for k, v in resumed.items() if k not in drop} == {k: v for k, v in reference.items() if k not in drop}
    assert (out / "predictions.jsonl").read_text() == (tmp_path / "reference" / "predictions.jsonl").read_text()
    assert not (out / "partial").exists()
    assert json.loads((out / "summary.json").read_text()) == resumed


def _perturbed(model):
    other = copy.deepcopy(model)
    with torch.no_grad():
        next(other.parameters()).add_(1e-3)
    return other
