"""The RLOOTrainer internals LaTROTrainer overrides or calls: fail loudly (and say where) if TRL changes them."""

import inspect

import pytest
from trl import RLOOTrainer

from latro_trl import LaTROTrainer

# method -> parameter names (after self) that our override or our call relies on
CONTRACT = {
    "_generate_single_turn": ["prompt_ids", "images", "multimodal_fields"],
    "_generate": ["prompts"],
    "_generate_and_score_completions": ["inputs"],
    "_compute_loss": ["model", "inputs"],
    "_set_signature_columns_if_needed": [],
    "_prepare_inputs": ["generation_batch"],
}


@pytest.mark.parametrize("method, params", sorted(CONTRACT.items()))
def test_overridden_or_called_methods_keep_their_signature(method, params):
    signature = inspect.signature(getattr(RLOOTrainer, method))
    assert list(signature.parameters)[1:] == params, (
        f"trl's RLOOTrainer.{method} changed to {signature}; update latro_trl/trainer.py for it"
    )


def test_log_prob_helper_keeps_the_arguments_we_pass():
    parameters = inspect.signature(RLOOTrainer._get_per_token_logps_and_entropies).parameters
    for name in (
        "model",
        "input_ids",
        "attention_mask",
        "logits_to_keep",
        "batch_size",
        "compute_entropy",
        "compute_aux_loss",
    ):
        assert name in parameters, f"RLOOTrainer._get_per_token_logps_and_entropies lost `{name}`"


def test_model_card_metadata():
    assert LaTROTrainer._paper["id"] == "2411.04282"
    assert "latro" in LaTROTrainer._tag_names and LaTROTrainer._name == "LaTRO"
