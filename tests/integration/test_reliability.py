"""Bad input gets a clear error; odd rationales do not break training; nothing is lost on interruption."""

import json
import os
import signal
import string
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


def test_empty_training_set_says_so(model, tokenizer, make_config):
    empty = Dataset.from_dict({"prompt": [], "answer": []})
    with pytest.raises(ValueError, match=r"train_dataset is empty \(0 rows\)"):
        _trainer(model, tokenizer, empty, make_config())


def test_empty_eval_set_says_so(model, tokenizer, conversational_dataset, make_config):
    empty = Dataset.from_dict({"prompt": [], "answer": []})
    with pytest.raises(ValueError, match=r"eval_dataset is empty \(0 rows\)"):
        _trainer(model, tokenizer, conversational_dataset, make_config(), eval_dataset=empty)


def test_fewer_rows_than_one_generation_batch_would_train_nothing(
    model, tokenizer, conversational_dataset, make_config
):
    # 8 sequences per generation batch at K=4 take 2 questions; TRL's sampler drops a batch it cannot fill.
    one_row = conversational_dataset.select([0])
    with pytest.raises(ValueError, match=r"has 1 row\(s\), fewer than the 2 questions one generation batch takes"):
        _trainer(model, tokenizer, one_row, make_config())


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("prompt", 7, r"8 row\(s\) whose 'prompt' is of type int, neither text nor a list of messages \(rows 0, 1,"),
        ("prompt", {"role": "user", "content": "1+1?"}, r"'prompt' is a single message.*Wrap it in a list"),
        ("prompt", [], r"'prompt' is an empty conversation"),
        ("answer", [2], r"'answer' is of type list, not one answer"),
        ("answer", True, r"'answer' is of type bool, not an answer"),
        ("answer", {"value": 2}, r"'answer' is of type dict, not one answer"),
    ],
)
def test_rows_of_the_wrong_shape_are_named(model, tokenizer, make_config, column, value, match):
    # The whole column has the odd type (Arrow keeps one type per column); the error names the rows and the fix.
    rows = [{"prompt": [{"role": "user", "content": "1+1?"}], "answer": "2"} for _ in range(8)]
    for row in rows:
        row[column] = value
    with pytest.raises(ValueError, match=match):
        _trainer(model, tokenizer, Dataset.from_list(rows), make_config())


def test_wrong_answer_type_in_the_eval_set(model, tokenizer, conversational_dataset, make_config):
    eval_rows = [{**row, "answer": [row["answer"]]} for row in conversational_dataset.to_list()]
    with pytest.raises(ValueError, match=r"eval_dataset has 8 row\(s\) whose 'answer' is of type list"):
        _trainer(model, tokenizer, conversational_dataset, make_config(), eval_dataset=Dataset.from_list(eval_rows))


def test_bad_prompt_in_a_streamed_dataset_is_named_when_drawn(model, tokenizer, make_config):
    rows = [{"prompt": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(8)]
    rows[1]["prompt"] = None  # drawn in the first generation batch (2 questions), not by the up-front checks
    streamed = Dataset.from_list(rows).to_iterable_dataset()
    trainer = _trainer(model, tokenizer, streamed, make_config(max_steps=1, shuffle_dataset=False))
    with pytest.raises(ValueError, match=r"train_dataset row 1: 'prompt' is missing or blank"):
        trainer.train()


def test_numeric_answers_are_trained_as_the_template_writes_them(model, tokenizer, make_config):
    rows = [{"prompt": f"What is {i} + 1?", "answer": float(i + 1)} for i in range(8)]
    trainer = _trainer(model, tokenizer, Dataset.from_list(rows), make_config(max_steps=1))
    trainer.train()
    answers = {text.strip() for text in trainer._logs["extra"]["answer"]}
    assert answers <= {f"The answer is {i + 1}." for i in range(8)}, answers  # "18", never "18.0"


def test_conversational_eval_set_without_chat_template(
    model, tokenizer, plain_dataset, conversational_dataset, make_config
):
    tokenizer.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        _trainer(model, tokenizer, plain_dataset, make_config(), eval_dataset=conversational_dataset)


@pytest.mark.parametrize("prune", [False, True], ids=["generate", "pruned"])
def test_no_stop_markers_trains_and_evaluates(model, tokenizer, conversational_dataset, make_config, prune):
    # stop_markers=[]: rationales end at the end of turn or the limit. transformers rejects an empty stop-string list,
    # so the trainer must not build that criterion, in training and in the trainer's own evaluation.
    config = make_config(
        stop_markers=[],
        max_steps=1,
        prune_finished_rows=prune,
        eval_strategy="steps",
        eval_steps=1,
        per_device_eval_batch_size=8,
    )
    trainer = _trainer(model, tokenizer, conversational_dataset, config, eval_dataset=conversational_dataset)
    trainer.train()
    logs = {key: value for entry in trainer.state.log_history for key, value in entry.items()}
    assert torch.isfinite(torch.tensor([logs["loss"], logs["eval_loss"]])).all()
    assert logs["rationale/marker_rate"] == 0.0


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
    # Markers the random model writes at once (every visible character): every rationale is cut to (nearly) nothing.
    markers = [character for character in string.printable if not character.isspace()]
    trainer = _trainer(
        model, tokenizer, conversational_dataset, make_config(stop_markers=markers, max_completion_length=8)
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
