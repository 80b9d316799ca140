"""LaTROTrainer's update equals the one of examples/latro_minimal.py, a plain-PyTorch LaTRO, on the same batch."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

from latro_trl import LaTROTrainer
from latro_trl.testing import make_tiny_model

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "latro_minimal.py"


def _load_minimal():
    spec = importlib.util.spec_from_file_location("latro_minimal", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("fused", [False, True])
def test_trainer_gradient_equals_minimal_implementation(model, tokenizer, conversational_dataset, make_config, fused):
    minimal = _load_minimal()
    beta, lam = 0.2, 1.0
    config = make_config(beta=beta, answer_loss_coef=lam, score_with_training_pass=fused, max_completion_length=16)
    trainer = LaTROTrainer(model=model, args=config, train_dataset=conversational_dataset, processing_class=tokenizer)
    with torch.no_grad():  # policy != reference, so that the KL term counts
        for p in trainer.model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    trainer.model.train()
    batch = trainer._generate_and_score_completions([conversational_dataset[i] for i in (2, 2, 2, 2, 5, 5, 5, 5)])

    # The same rationales and answers, as the minimal implementation's Rollout
    def rows(ids, mask):
        return [row[m].tolist() for row, m in zip(ids, mask.bool(), strict=True)]

    rollout = minimal.Rollout(
        prompt_ids=rows(batch["prompt_ids"], batch["prompt_mask"]),
        rationale_ids=rows(batch["completion_ids"], batch["rationale_mask"]),
        answer_ids=rows(batch["completion_ids"], batch["answer_mask"]),
        finished=batch["finished"].bool(),
    )
    policy = make_tiny_model(tokenizer)  # a plain copy: deep-copying TRL's patched model would share its forward
    policy.load_state_dict(trainer.model.state_dict())
    # SGD with lr 1 and no clipping: the parameter change is minus the gradient.
    optimizer = torch.optim.SGD(policy.parameters(), lr=1.0)
    cfg = minimal.Args(model="tiny", num_generations=4, beta=beta, answer_loss_coef=lam, max_grad_norm=float("inf"))
    before = [p.detach().clone() for p in policy.parameters()]
    out = minimal.latro_update(policy, trainer.ref_model, optimizer, rollout, cfg, tokenizer.pad_token_id)
    minimal_grads = [b - p.detach() for b, p in zip(before, policy.parameters(), strict=True)]

    loss = trainer._compute_loss(trainer.model, batch)
    trainer_grads = torch.autograd.grad(loss, list(trainer.model.parameters()))
    assert_close(loss.detach(), out.loss, atol=1e-4, rtol=1e-4)
    for ours, theirs in zip(trainer_grads, minimal_grads, strict=True):
        assert_close(ours, theirs, atol=1e-5, rtol=1e-4)
