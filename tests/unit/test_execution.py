"""The trainer's pass layout (latro_trl.execution): each choice for each parallel setup, without several processes."""

import logging

import pytest
import torch

from latro_trl.execution import (
    Parallelism,
    length_groups,
    prune_finished_rows,
    score_with_training_pass,
    training_pass_groups,
)
from latro_trl.testing import make_tiny_model

SINGLE = Parallelism()
ZERO2 = Parallelism(num_processes=2, deepspeed=True, zero_stage=2)
ZERO3 = Parallelism(num_processes=2, deepspeed=True, zero_stage=3)
FSDP = Parallelism(num_processes=2, fsdp=True)


def test_length_groups_default_to_one_pass_only_where_weights_are_gathered(make_config) -> None:
    args = make_config()
    assert [length_groups(args, setup) for setup in (SINGLE, ZERO2, ZERO3, FSDP)] == [4, 4, 1, 1]
    explicit = make_config(length_groups=2)  # an explicit choice stands, even where weights are gathered
    assert [length_groups(explicit, setup) for setup in (SINGLE, ZERO3, FSDP)] == [2, 2, 2]


def test_the_training_pass_runs_as_one_forward_where_several_per_backward_break_it(make_config, caplog) -> None:
    args = make_config()
    assert training_pass_groups(args, SINGLE, 3) == 3
    with caplog.at_level(logging.INFO, logger="latro_trl.execution"):
        assert training_pass_groups(args, ZERO2, 3) == 1
        assert training_pass_groups(args, FSDP, 3) == 1
    assert "DeepSpeed counts one forward" in caplog.text and "FSDP reshards" in caplog.text
    reentrant = make_config(gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": True})
    assert training_pass_groups(reentrant, SINGLE, 3) == 1
    non_reentrant = make_config(gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": False})
    assert training_pass_groups(non_reentrant, SINGLE, 3) == 3  # non-reentrant checkpointing fires each hook once


def test_pruned_sampling_falls_back_to_generate_where_processes_decode_in_lockstep(tokenizer, make_config) -> None:
    model = make_tiny_model(tokenizer)
    args = make_config()
    assert prune_finished_rows(args, model, SINGLE) is True
    assert prune_finished_rows(args, model, ZERO2) is True
    assert prune_finished_rows(args, model, FSDP) is False
    assert prune_finished_rows(args, model, ZERO3) is True  # ds3_gather_for_generation (the default) gathers once
    no_gather = make_config(ds3_gather_for_generation=False)
    assert prune_finished_rows(no_gather, model, ZERO3) is False
    assert prune_finished_rows(no_gather, model, Parallelism(deepspeed=True, zero_stage=3)) is True  # one process
    for setup in (FSDP, ZERO3):
        with pytest.raises(ValueError, match="same number of steps"):
            prune_finished_rows(make_config(prune_finished_rows=True, ds3_gather_for_generation=False), model, setup)


def test_scoring_in_the_training_pass_needs_one_micro_batch_and_no_dropout(tokenizer, make_config) -> None:
    model = make_tiny_model(tokenizer)
    assert score_with_training_pass(make_config(), model) is True
    two_micro_batches = {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 2}
    assert score_with_training_pass(make_config(**two_micro_batches), model) is False
    with pytest.raises(ValueError, match="steps_per_generation=1"):
        score_with_training_pass(make_config(score_with_training_pass=True, **two_micro_batches), model)
    model.add_module("extra_dropout", torch.nn.Dropout(0.1))  # a module with dropout, kept on
    assert score_with_training_pass(make_config(disable_dropout=False), model) is False
    assert score_with_training_pass(make_config(disable_dropout=True), model) is True
