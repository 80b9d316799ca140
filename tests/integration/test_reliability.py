"""Bad input gets a clear error; odd rationales do not break training; nothing is lost on interruption."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from datasets import Dataset
from transformers import TrainerCallback

from latro_trl import LaTROTrainer
from latro_trl.validation import check_stop_markers


def _trainer(model, tokenizer, dataset, config, **kwargs):
    return LaTROTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer, **kwargs)


def test_missing_prompt_column(model, tokenizer, make_config):
    dataset = Dataset.from_list([{"question": "1+1?", "answer": "2"}] * 8)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['prompt'\].*rename_column"):
        _trainer(model, tokenizer, dataset, make_config())


def test_missing_answer_column(model, tokenizer, make_config):
    dataset = Dataset.from_list([{"prompt": "1+1?", "solution": "2"}] * 8)
    with pytest.raises(ValueError, match=r"\['answer'\].*answer_column='solution'"):
        _trainer(model, tokenizer, dataset, make_config())


@pytest.mark.parametrize("bad", [None, "", "   "])
def test_missing_or_blank_answers_are_rejected_with_row_numbers(model, tokenizer, make_config, bad):
    rows = [{"prompt": "1+1?", "answer": "2"}] * 8
    rows[3] = {"prompt": "2+2?", "answer": bad}
    rows[6] = {"prompt": "3+3?", "answer": bad}
    with pytest.raises(ValueError, match=r"2 row\(s\) whose 'answer' is missing or blank \(rows 3, 6\).*filter"):
        _trainer(model, tokenizer, Dataset.from_list(rows), make_config())


def test_missing_answer_in_eval_dataset_is_rejected(model, tokenizer, conversational_dataset, make_config):
    eval_rows = conversational_dataset.to_list()
    eval_rows[1]["answer"] = None
    with pytest.raises(ValueError, match=r"eval_dataset has 1 row\(s\).*rows 1\)"):
        _trainer(model, tokenizer, conversational_dataset, make_config(), eval_dataset=Dataset.from_list(eval_rows))


def test_missing_answer_in_a_streamed_dataset_stops_training(model, tokenizer, make_config):
    rows = [{"prompt": "1+1?", "answer": "2"}] * 4 + [{"prompt": "2+2?", "answer": None}] * 4
    streamed = Dataset.from_list(rows).to_iterable_dataset()
    trainer = _trainer(model, tokenizer, streamed, make_config(max_steps=1, per_device_train_batch_size=8))
    with pytest.raises(ValueError, match="no gold answer in 'answer'.*filter"):
        trainer.train()


def test_custom_answer_column(model, tokenizer, make_config):
    dataset = Dataset.from_list([{"prompt": "1+1?", "solution": "2"}] * 8)
    _trainer(model, tokenizer, dataset, make_config(answer_column="solution", max_steps=1)).train()


def test_missing_column_in_eval_dataset(model, tokenizer, conversational_dataset, make_config):
    with pytest.raises(ValueError, match="eval_dataset lacks"):
        _trainer(
            model,
            tokenizer,
            conversational_dataset,
            make_config(),
            eval_dataset=conversational_dataset.remove_columns("answer"),
        )


def test_conversational_prompts_without_chat_template(model, tokenizer, conversational_dataset, make_config):
    tokenizer.chat_template = None
    with pytest.raises(ValueError, match="no chat template.*plain-text prompts"):
        _trainer(model, tokenizer, conversational_dataset, make_config())


def test_prompt_longer_than_limit(model, tokenizer, conversational_dataset, make_config):
    with pytest.raises(ValueError, match=r"longer than max_prompt_length=10 \(row 0: \d+ tokens"):
        _trainer(model, tokenizer, conversational_dataset, make_config(max_prompt_length=10))


def test_tokenizer_without_pad_token_trains(model, conversational_dataset, make_config):
    from latro_trl.testing import make_tiny_tokenizer

    tokenizer = make_tiny_tokenizer(pad_token=None)
    assert tokenizer.pad_token is None
    trainer = _trainer(model, tokenizer, conversational_dataset, make_config(max_steps=1))
    trainer.train()
    assert tokenizer.pad_token_id == tokenizer.eos_token_id  # pad == EOS, masks come from lengths


def test_unproducible_stop_marker_names_it():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "The": 1, "answer": 2, "is": 3, "</s>": 4}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", eos_token="</s>")
    check_stop_markers(tokenizer, ["The answer is"])
    with pytest.raises(ValueError, match=r"\['Réponse:'\] cannot be produced.*Remove them from stop_markers"):
        check_stop_markers(tokenizer, ["The answer is", "Réponse:"])


@pytest.mark.parametrize("limit", [1, 3])
def test_rationales_that_fill_the_limit_or_are_empty(model, tokenizer, conversational_dataset, make_config, limit):
    # With a 1-3 token limit, rationales never reach a marker and fill the whole budget; the penalty and the loss
    # must stay finite.
    trainer = _trainer(model, tokenizer, conversational_dataset, make_config(max_completion_length=limit))
    trainer.train()
    logs = trainer.state.log_history[0]
    assert logs["rationale/finished_rate"] < 1.0
    assert torch.isfinite(torch.tensor(logs["loss"]))


def test_empty_rationales_when_the_marker_comes_first(model, tokenizer, conversational_dataset, make_config):
    # A marker that is an ordinary token the random model writes at once: every rationale is cut to (nearly) nothing.
    trainer = _trainer(
        model,
        tokenizer,
        conversational_dataset,
        make_config(stop_markers=[" ", "e", "a", "o", "1", "."], max_completion_length=8),
    )
    trainer.train()
    logs = trainer.state.log_history[0]
    assert logs["rationale/mean_length"] < 2.0
    assert torch.isfinite(torch.tensor(logs["loss"]))


class _StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def _final_weights(model, tokenizer, dataset, config, resume=None, callbacks=None):
    trainer = _trainer(model, tokenizer, dataset, config, callbacks=callbacks)
    trainer.train(resume_from_checkpoint=resume)
    return {n: p.detach().clone() for n, p in trainer.model.named_parameters()}


def test_resume_equals_uninterrupted_run(tokenizer, conversational_dataset, make_config, tmp_path):
    from latro_trl.testing import make_tiny_model

    common = dict(max_steps=4, save_strategy="steps", save_steps=2, learning_rate=5e-3)
    straight = _final_weights(
        make_tiny_model(tokenizer),
        tokenizer,
        conversational_dataset,
        make_config(output_dir=str(tmp_path / "a"), **common),
    )
    # The same run stopped after 2 steps (same schedule: max_steps stays 4) leaves checkpoint-2 ...
    _final_weights(
        make_tiny_model(tokenizer),
        tokenizer,
        conversational_dataset,
        make_config(output_dir=str(tmp_path / "b"), **common),
        callbacks=[_StopAt(2)],
    )
    # ... then a fresh trainer resumes to step 4. It is built from the same base model, as a user would do: the frozen
    # reference pi_0 is taken from the model handed over, the policy weights from the checkpoint.
    resumed = _final_weights(
        make_tiny_model(tokenizer),
        tokenizer,
        conversational_dataset,
        make_config(output_dir=str(tmp_path / "b"), **common),
        resume=True,
    )
    for name, weight in straight.items():
        torch.testing.assert_close(resumed[name], weight, atol=1e-6, rtol=1e-5, msg=name)


TRAIN_UNTIL_KILLED = textwrap.dedent(
    """
    import sys
    from datasets import Dataset
    from transformers import TrainerCallback
    from latro_trl import LaTROConfig, LaTROTrainer
    from latro_trl.testing import make_tiny_model, make_tiny_tokenizer

    class Announce(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            print(f"STEP {state.global_step}", flush=True)

    tokenizer = make_tiny_tokenizer()
    rows = [{"prompt": f"What is {i} plus 1?", "answer": str(i + 1)} for i in range(8)]
    args = LaTROConfig(output_dir=sys.argv[1], num_generations=4, per_device_train_batch_size=8,
                       max_completion_length=8, max_steps=100000, save_strategy="no", report_to="none",
                       gradient_checkpointing=False, logging_steps=1000)
    trainer = LaTROTrainer(model=make_tiny_model(tokenizer), args=args, train_dataset=Dataset.from_list(rows),
                           processing_class=tokenizer, callbacks=[Announce()])
    trainer.train()
    print("STOPPED CLEANLY", flush=True)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_writes_a_loadable_checkpoint(tmp_path, sig):
    script = tmp_path / "train.py"
    script.write_text(TRAIN_UNTIL_KILLED)
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, str(script), str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    deadline = time.time() + 240
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("STEP 3") or time.time() > deadline:
            break
    process.send_signal(sig)
    rest, _ = process.communicate(timeout=240)
    output = "".join(lines) + rest
    assert process.returncode == 0, output[-3000:]
    assert "STOPPED CLEANLY" in output
    checkpoints = sorted(out.glob("checkpoint-*"))
    assert checkpoints, output[-3000:]
    state = json.loads((checkpoints[-1] / "trainer_state.json").read_text())
    assert state["global_step"] >= 3
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(checkpoints[-1])


def test_zero3_sharded_model_object_without_reference_says_what_to_do(
    model, tokenizer, conversational_dataset, make_config
):
    next(model.parameters()).ds_id = 0  # what DeepSpeed's zero.Init leaves on every parameter it shards
    with pytest.raises(ValueError, match="ZeRO-3.*Pass the model as a name or path.*ref_model="):
        _trainer(model, tokenizer, conversational_dataset, make_config(beta=0.1))


class _PoisonedTrainer(LaTROTrainer):
    """Makes the first sequence's answer log-likelihood NaN, as an fp16 overflow would."""

    def _advantages_and_log(self, inputs, rationale_logps, answer_logps, mode):
        answer_logps = answer_logps.detach().clone()
        answer_logps[0] = float("nan")
        return super()._advantages_and_log(inputs, rationale_logps, answer_logps, mode)


@pytest.mark.parametrize("fused", [True, False])
def test_nonfinite_reward_is_skipped_and_counted(model, tokenizer, conversational_dataset, make_config, fused):
    trainer = _PoisonedTrainer(
        model=model,
        args=make_config(score_with_training_pass=fused, unfinished_penalty_factor=None),  # keep the NaN reward
        train_dataset=conversational_dataset,
        processing_class=tokenizer,
    )
    trainer.train()
    logs = trainer.state.log_history[0]
    assert logs["nonfinite_rewards"] == 1
    assert torch.isfinite(torch.tensor([logs["loss"], logs["reward"], logs["grad_norm"]])).all()
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
