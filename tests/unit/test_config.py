"""LaTROConfig defaults and the invariants its __post_init__ enforces."""

import warnings

import pytest

from latro_trl import LaTROConfig
from latro_trl.markers import ANSWER_TEMPLATE


def test_defaults_are_valid_and_follow_the_paper(tmp_path):
    config = LaTROConfig(output_dir=str(tmp_path))
    assert config.num_generations == 16
    assert config.beta == 0.05
    assert config.answer_loss_coef == 1.0
    assert config.max_completion_length == 500
    assert config.temperature == 1.0
    assert config.learning_rate == 5e-7
    assert config.unfinished_penalty_factor == 2.0
    assert config.answer_template == ANSWER_TEMPLATE
    assert "The answer is" in config.stop_markers
    assert config.generation_batch_size % config.num_generations == 0


def test_template_without_placeholder(tmp_path):
    with pytest.raises(ValueError, match=r"\{answer\}"):
        LaTROConfig(output_dir=str(tmp_path), answer_template="The answer is 42.")


@pytest.mark.parametrize("k", [1, 0])
def test_needs_two_generations(tmp_path, k):
    with pytest.raises(ValueError, match="num_generations >= 2"):
        LaTROConfig(output_dir=str(tmp_path), num_generations=k)


def test_batch_not_multiple_of_k_names_the_fix(tmp_path):
    with pytest.raises(ValueError, match="per_device_train_batch_size=16"):
        LaTROConfig(output_dir=str(tmp_path), per_device_train_batch_size=12)


def test_off_policy_reuse_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="num_iterations=1"):
        LaTROConfig(output_dir=str(tmp_path), num_iterations=2)
    with pytest.raises(ValueError, match="steps_per_generation"):
        LaTROConfig(output_dir=str(tmp_path), steps_per_generation=2)


@pytest.mark.parametrize("steps_per_generation, accumulation", [(3, 4), (2, 3), (4, 6)])
def test_generation_batch_straddling_an_optimizer_step_is_rejected(tmp_path, steps_per_generation, accumulation):
    # e.g. 3 and 4: the generation batch sampled at micro-step 3 is trained at 3, 4 and 5, with an optimizer step
    # after 3, so 4 and 5 would train on rationales of the previous policy.
    with pytest.raises(
        ValueError,
        match=rf"steps_per_generation={steps_per_generation} does not divide "
        rf"gradient_accumulation_steps={accumulation}",
    ):
        LaTROConfig(
            output_dir=str(tmp_path),
            per_device_train_batch_size=16,
            steps_per_generation=steps_per_generation,
            gradient_accumulation_steps=accumulation,
        )


@pytest.mark.parametrize("steps_per_generation, accumulation", [(1, 4), (2, 4), (4, 4), (3, 6)])
def test_generation_batches_inside_one_accumulation_window_are_accepted(tmp_path, steps_per_generation, accumulation):
    config = LaTROConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=16,
        steps_per_generation=steps_per_generation,
        gradient_accumulation_steps=accumulation,
    )
    assert config.gradient_accumulation_steps % config.steps_per_generation == 0


@pytest.mark.parametrize(
    "option, value",
    [
        ("normalize_advantages", True),
        ("reward_clip_range", (-1.0, 1.0)),
        ("mask_truncated_completions", True),
        ("reward_weights", [1.0, 0.5]),
        ("epsilon", 0.3),
        ("epsilon_high", 0.28),
    ],
)
def test_ignored_rloo_option_warns_by_name(tmp_path, option, value):
    with pytest.warns(UserWarning, match=rf"ignores these RLOO options.*{option}="):
        LaTROConfig(output_dir=str(tmp_path), **{option: value})


def test_repetition_penalty_is_biased_sampling(tmp_path):
    with pytest.warns(UserWarning, match="repetition_penalty=1.1.*biased"):
        LaTROConfig(output_dir=str(tmp_path), repetition_penalty=1.1)


def test_penalty_factor_below_one_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="factor >= 1"):
        LaTROConfig(output_dir=str(tmp_path), unfinished_penalty_factor=0.5)


def test_empty_marker_rejected(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        LaTROConfig(output_dir=str(tmp_path), stop_markers=["The answer is", ""])


@pytest.mark.parametrize("change", [{"temperature": 0.7}, {"top_k": 50}, {"top_p": 0.9}, {"min_p": 0.1}])
def test_biased_sampling_warns(tmp_path, change):
    with pytest.warns(UserWarning, match="biased"):
        LaTROConfig(output_dir=str(tmp_path), **change)


def test_default_sampling_does_not_warn(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        LaTROConfig(output_dir=str(tmp_path))


def test_every_field_has_help():
    from dataclasses import fields

    latro_fields = {
        "answer_loss_coef",
        "unfinished_penalty_factor",
        "max_prompt_length",
        "stop_markers",
        "answer_template",
        "answer_column",
        "stop_generation_at_markers",
    }
    by_name = {f.name: f for f in fields(LaTROConfig)}
    for name in latro_fields:
        assert by_name[name].metadata.get("help"), name
        assert name in LaTROConfig.__doc__, name
