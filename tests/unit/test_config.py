"""LaTROConfig defaults and the invariants its __post_init__ enforces."""

import re
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


# The table of checked settings: each FIELD_DOMAINS entry with values outside its range and values inside it. One test
# case per field; a field added to FIELD_DOMAINS without a row here fails test_every_checked_field_has_a_row.
NAN, INF = float("nan"), float("inf")
DOMAIN_TABLE = [
    # field, rejected values, accepted values (on top of num_generations=2, per_device_train_batch_size=2)
    ("beta", [-0.1, NAN, INF], [0.0, 0.25]),
    ("answer_loss_coef", [-1.0, NAN], [0.0, 1.0]),
    ("reward_type", ["likelihood", None], ["probability"]),
    ("unfinished_penalty_factor", [0.5, NAN, INF], [None, 1.0]),
    ("num_iterations", [2, 0], [1]),
    ("num_generations", [1, 0, None, 2.5], [2]),
    ("num_generations_eval", [1, 0], [None, 2]),
    ("max_completion_length", [0, -1, None], [1]),
    ("max_prompt_length", [0, -5], [None, 1]),
    ("length_groups", [0, -1], [None, 1]),
    ("temperature", [0.0, -1.0, NAN, INF], [1.0, 0.5]),
    ("top_p", [0.0, 1.5, NAN], [1.0, 0.9]),
    ("top_k", [-1, 2.5], [0, None, 5]),
    ("min_p", [-0.1, 1.5], [None, 0.0, 1.0]),
    ("repetition_penalty", [0.0, -1.0], [1.0, 1.1]),
    ("learning_rate", [-1e-5, NAN], [0.0, 5e-7]),
    ("per_device_train_batch_size", [0, -2], [2, 4]),
    ("per_device_eval_batch_size", [0], [1, 2]),
    ("gradient_accumulation_steps", [0, -1], [1, 2]),
    ("generation_batch_size", [0, -2], [None, 2]),
    ("steps_per_generation", [0], [None, 1]),
    ("num_train_epochs", [-1.0, NAN], [0.5, 3.0]),
    ("max_grad_norm", [-1.0, NAN, None], [0.0, 1.0]),
    ("weight_decay", [-0.1], [0.0, 0.1]),
    ("ref_model_mixup_alpha", [-0.1, 1.5], [0.0, 1.0]),
    ("ref_model_sync_steps", [0], [1]),
    ("answer_column", ["", "prompt", None], ["solution"]),
    ("num_completions_to_print", [-1], [None, 0]),
    ("vllm_gpu_memory_utilization", [0.0, 1.5], [0.3, 1.0]),
]


def _config(tmp_path, **overrides):
    values = dict(output_dir=str(tmp_path), num_generations=2, per_device_train_batch_size=2, report_to="none")
    return LaTROConfig(**{**values, **overrides})


def test_every_checked_field_has_a_row():
    from latro_trl.config import FIELD_DOMAINS

    assert [name for name, _, _ in DOMAIN_TABLE] == list(FIELD_DOMAINS)


@pytest.mark.parametrize(("name", "rejected", "accepted"), DOMAIN_TABLE, ids=[row[0] for row in DOMAIN_TABLE])
def test_field_outside_its_range_is_rejected_by_name(tmp_path, name, rejected, accepted):
    from latro_trl.config import FIELD_DOMAINS

    for value in rejected:
        with pytest.raises(ValueError, match=rf"^{name}={re.escape(repr(value))}: must be .*\. \S") as error:
            _config(tmp_path, **{name: value})
        assert FIELD_DOMAINS[name].fix in str(error.value)  # the fix, not only the range
    for value in accepted:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # biased sampling and ignored options warn; they are valid
            config = _config(tmp_path, **{name: value})
            assert value is None or getattr(config, name) == value  # None may be resolved (batch sizes)


def test_zero_epochs_without_max_steps_trains_nothing(tmp_path):
    with pytest.raises(ValueError, match=r"num_train_epochs=0 with max_steps=-1: there is nothing to train"):
        _config(tmp_path, num_train_epochs=0)
    _config(tmp_path, num_train_epochs=0, max_steps=5)


def test_syncing_a_reference_that_does_not_exist(tmp_path):
    with pytest.raises(ValueError, match=r"sync_ref_model=True with beta=0.0.*Set sync_ref_model=False, or beta > 0"):
        _config(tmp_path, sync_ref_model=True, beta=0.0)
    _config(tmp_path, sync_ref_model=True, beta=0.1)


def test_training_pass_scores_need_one_micro_batch(tmp_path):
    # Known from the config alone: the whole generation batch is not trained in one micro-batch.
    with pytest.raises(ValueError, match=r"score_with_training_pass=True .*steps_per_generation=2"):
        _config(tmp_path, score_with_training_pass=True, gradient_accumulation_steps=2)
    _config(tmp_path, score_with_training_pass=True)


def test_explicit_generation_batch_not_a_multiple_of_k_names_it(tmp_path):
    with pytest.raises(ValueError, match=r"Set generation_batch_size to a multiple of 2"):
        _config(tmp_path, per_device_train_batch_size=1, generation_batch_size=3)


@pytest.mark.parametrize("markers", [["  "], ["The answer is", "\n"], [""], ["Answer:", 3]])
def test_blank_or_non_text_stop_markers_are_rejected(tmp_path, markers):
    with pytest.raises(ValueError, match=r"stop_markers=.*whitespace-only.*stop_markers=\[\] means no markers"):
        _config(tmp_path, stop_markers=markers)


@pytest.mark.parametrize("markers", [[], None])
def test_no_stop_markers_is_a_valid_choice(tmp_path, markers):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no markers: nothing to compare the template with
        assert _config(tmp_path, stop_markers=markers).stop_markers == []


@pytest.mark.parametrize(
    ("template", "match"),
    [
        ("{answer} {unit}", r"cannot be filled in \(KeyError: 'unit'\)"),
        ("The answer is {answer", r"cannot be filled in \(ValueError"),
        ("{0}: {answer}", r"cannot be filled in \(IndexError"),
        ("The answer is {{answer}}.", r"has no '\{answer\}' placeholder"),
        ("The answer is 42.", r"has no '\{answer\}' placeholder"),
    ],
)
def test_answer_template_that_cannot_write_the_answer(tmp_path, template, match):
    with pytest.raises(ValueError, match=rf"answer_template={re.escape(repr(template))} {match}"):
        _config(tmp_path, answer_template=template)


def test_answer_template_whose_lead_in_is_no_marker_warns(tmp_path):
    with pytest.warns(UserWarning, match=r"introduces the answer with 'So the result is'.*Add 'So the result is'"):
        _config(tmp_path, answer_template="So the result is {answer}.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        _config(tmp_path, answer_template="Answer: {answer}")  # "Answer:" is a default marker
        _config(tmp_path, answer_template="So the result is {answer}.", stop_markers=["So the result is"])
        assert _config(tmp_path, answer_template="{{{answer}}}", stop_markers=["{"]).answer_lead_in() == "{"
