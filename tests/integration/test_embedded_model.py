"""The embedded SmolLM2-135M-Instruct (GGUF): full fine-tuning with a reference copy and a checkpoint that reloads."""

import pytest
import torch
from datasets import Dataset

from latro_trl import LaTROConfig, LaTROTrainer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedded():
    pytest.importorskip("gguf")
    from latro_trl.models import load_model_and_tokenizer

    return load_model_and_tokenizer()


def test_embedded_model_pad_is_eos_and_template_closes_turns(embedded):
    from latro_trl.markers import turn_end_text

    _, tokenizer = embedded
    assert tokenizer.pad_token_id == tokenizer.eos_token_id  # the case the masks must survive
    assert turn_end_text(tokenizer, conversational=True) == "<|im_end|>"


def test_full_finetuning_checkpoint_of_gguf_model_reloads(embedded, tmp_path):
    from transformers import AutoModelForCausalLM

    model, tokenizer = embedded
    rows = [
        {
            "prompt": [{"role": "user", "content": "Tom has 3 apples and buys 5 more. How many? Think step by step."}],
            "answer": "8",
        }
    ] * 2
    args = LaTROConfig(
        output_dir=str(tmp_path),
        num_generations=2,
        per_device_train_batch_size=4,
        max_completion_length=24,
        max_steps=1,
        learning_rate=1e-5,
        beta=0.05,
        save_strategy="steps",
        save_steps=1,
        report_to="none",
        gradient_checkpointing=False,
        logging_steps=1,
    )
    trainer = LaTROTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    assert trainer.ref_model is not None  # a frozen copy, not a hub re-load
    trainer.train()
    logs = trainer.state.log_history[0]
    assert logs["kl"] == 0.0 and torch.isfinite(torch.tensor(logs["loss"]))
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "checkpoint-1")
    for a, b in zip(trainer.model.parameters(), reloaded.parameters(), strict=True):
        assert torch.equal(a.detach(), b.detach())
