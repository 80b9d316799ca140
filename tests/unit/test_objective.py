"""The estimator's pure functions against hand-computed values and properties (see objective.py)."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.testing import assert_close

from latro_trl.objective import (
    answer_rewards,
    answer_term_weights,
    kl_estimate,
    latro_loss,
    latro_rewards,
    penalize_unfinished,
    rloo_advantages,
    sequence_logps,
)


def test_sequence_logps_sums_masked_tokens_and_ignores_inf_outside_mask():
    per_token = torch.tensor([[-1.0, -2.0, -float("inf")], [-0.5, -0.25, -4.0]])
    mask = torch.tensor([[1, 1, 0], [0, 1, 1]])
    assert_close(sequence_logps(per_token, mask), torch.tensor([-3.0, -4.25]))


def test_kl_estimate_is_log_ratio():
    assert_close(kl_estimate(torch.tensor([-3.0, -1.0]), torch.tensor([-2.0, -1.5])), torch.tensor([-1.0, 0.5]))


def test_rewards_hand_computed():
    # r = log pi(y|x+z) - beta * (log pi(z|x) - log pi_0(z|x))
    answer = torch.tensor([-2.0, -0.5])
    rationale = torch.tensor([-10.0, -4.0])
    ref = torch.tensor([-12.0, -3.0])
    assert_close(latro_rewards(answer, rationale, ref, beta=0.1), torch.tensor([-2.0 - 0.2, -0.5 + 0.1]))
    assert_close(latro_rewards(answer, rationale, None, beta=0.0), answer)


def test_answer_rewards_and_weights_hand_computed():
    logps = torch.tensor([0.0, math.log(0.25), -float("inf")], requires_grad=True)
    assert_close(answer_rewards(logps, "log_likelihood"), logps.detach())
    assert_close(answer_rewards(logps, "probability"), torch.tensor([1.0, 0.25, 0.0]))
    assert_close(answer_term_weights(logps, "log_likelihood"), torch.ones(3))
    assert_close(answer_term_weights(logps, "probability"), torch.tensor([1.0, 0.25, 0.0]))
    for reward_type in ("log_likelihood", "probability"):
        assert not answer_rewards(logps, reward_type).requires_grad
        assert not answer_term_weights(logps, reward_type).requires_grad
    with pytest.raises(ValueError, match="reward_type must be one of"):
        answer_rewards(logps, "accuracy")


def test_weighted_answer_term_hand_computed():
    # L = -mean[A * log pi(z) + lambda * w * log pi(y|z)] with w = [0.5, 0.25], A = [1, -1], lambda = 2
    rationale = torch.tensor([-2.0, -4.0], requires_grad=True)
    answer = torch.tensor([-1.0, -3.0], requires_grad=True)
    out = latro_loss(rationale, answer, torch.tensor([1.0, -1.0]), 2.0, answer_weights=torch.tensor([0.5, 0.25]))
    assert_close(out.answer_loss, torch.tensor((0.5 * 1.0 + 0.25 * 3.0) / 2))
    assert_close(out.loss, torch.tensor((2.0 - 4.0) / 2 + 2.0 * (0.5 + 0.75) / 2))
    out.loss.backward()
    assert_close(answer.grad, torch.tensor([-2.0 * 0.5 / 2, -2.0 * 0.25 / 2]))


def test_rewards_need_reference_when_beta_positive():
    with pytest.raises(ValueError, match="ref_rationale_logps"):
        latro_rewards(torch.zeros(2), torch.zeros(2), None, beta=0.5)


def test_rewards_carry_no_gradient():
    answer = torch.tensor([-2.0, -1.0], requires_grad=True)
    rationale = torch.tensor([-3.0, -1.0], requires_grad=True)
    rewards = latro_rewards(answer, rationale, torch.zeros(2), beta=0.5)
    assert not rewards.requires_grad


def test_rloo_advantages_hand_computed():
    # group 1: r = [1, 2, 3] -> baselines [2.5, 2, 1.5] -> A = [-1.5, 0, 1.5]
    # group 2: r = [-4, 0, -2] -> baselines [-1, -3, -2] -> A = [-3, 3, 0]
    rewards = torch.tensor([1.0, 2.0, 3.0, -4.0, 0.0, -2.0])
    assert_close(rloo_advantages(rewards, 3), torch.tensor([-1.5, 0.0, 1.5, -3.0, 3.0, 0.0]))


def test_rloo_advantages_k2_is_difference():
    rewards = torch.tensor([-1.0, -3.0, 5.0, 5.0])
    assert_close(rloo_advantages(rewards, 2), torch.tensor([2.0, -2.0, 0.0, 0.0]))


def test_rloo_equal_rewards_give_zero_advantage():
    assert_close(rloo_advantages(torch.full((8,), -7.25), 4), torch.zeros(8))


def test_rloo_nonfinite_rewards_are_left_out():
    # NaN in group 1 is excluded from its siblings' baselines and gets A = 0; group 2 has a single finite reward: no
    # baseline, all zero.
    rewards = torch.tensor([1.0, float("nan"), 3.0, float("inf"), -1.0, float("nan")])
    assert_close(rloo_advantages(rewards, 3), torch.tensor([-2.0, 0.0, 2.0, 0.0, 0.0, 0.0]))


@pytest.mark.parametrize("k", [0, 1])
def test_rloo_needs_two_generations(k):
    with pytest.raises(ValueError, match="at least 2"):
        rloo_advantages(torch.zeros(4), k)


def test_rloo_rejects_partial_groups():
    with pytest.raises(ValueError, match="whole groups"):
        rloo_advantages(torch.zeros(5), 2)


def _loop_rloo(rewards: list[float], k: int) -> list[float]:
    out = []
    for start in range(0, len(rewards), k):
        group = rewards[start : start + k]
        for i, r in enumerate(group):
            others = [g for j, g in enumerate(group) if j != i]
            out.append(r - sum(others) / len(others))
    return out


finite_floats = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False, width=32)


@settings(max_examples=200, deadline=None)
@given(k=st.integers(2, 6), groups=st.integers(1, 4), data=st.data())
def test_rloo_vectorised_equals_loop_and_groups_sum_to_zero(k, groups, data):
    values = data.draw(st.lists(finite_floats, min_size=k * groups, max_size=k * groups))
    rewards = torch.tensor(values, dtype=torch.float64)
    advantages = rloo_advantages(rewards, k)
    assert_close(advantages, torch.tensor(_loop_rloo(values, k), dtype=torch.float64))
    scale = 1.0 + rewards.abs().max().item()
    assert advantages.view(-1, k).sum(dim=1).abs().max().item() <= 1e-9 * scale * k
    shift = data.draw(finite_floats)
    shifted = rloo_advantages(rewards.view(-1, k) + torch.linspace(0, shift, groups, dtype=torch.float64)[:, None], k)
    assert_close(shifted, advantages, atol=1e-6 * (scale + abs(shift)), rtol=1e-6)


def test_penalize_unfinished_uses_factor_times_batch_mean():
    answer = torch.tensor([-1.0, -3.0, -2.0, -6.0])
    finished = torch.tensor([True, False, True, True])
    # mean = -3, factor 2 -> -6 for the unfinished one
    assert_close(penalize_unfinished(answer, finished, 2.0), torch.tensor([-1.0, -6.0, -2.0, -6.0]))


def test_penalize_unfinished_is_a_penalty_even_for_positive_mean():
    answer = torch.tensor([1.0, 3.0])
    out = penalize_unfinished(answer, torch.tensor([True, False]), 2.0)
    assert out[1].item() < answer.mean().item()


def test_penalize_unfinished_skips_nonfinite_in_mean():
    answer = torch.tensor([-2.0, -float("inf"), -4.0])
    out = penalize_unfinished(answer, torch.tensor([True, False, True]), 2.0)
    assert_close(out, torch.tensor([-2.0, -6.0, -4.0]))


def test_loss_hand_computed_and_gradients():
    rationale = torch.tensor([-2.0, -4.0], requires_grad=True)
    answer = torch.tensor([-1.0, -0.5], requires_grad=True)
    advantages = torch.tensor([1.0, -1.0])
    out = latro_loss(rationale, answer, advantages, answer_coef=0.5)
    # policy = -mean(A * logp_z) = -( -2 + 4 )/2 = -1 ; answer = -mean(logp_y) = 0.75
    assert_close(out.policy_loss, torch.tensor(-1.0))
    assert_close(out.answer_loss, torch.tensor(0.75))
    assert_close(out.loss, torch.tensor(-1.0 + 0.5 * 0.75))
    out.loss.backward()
    assert_close(rationale.grad, -advantages / 2)
    assert_close(answer.grad, torch.full((2,), -0.5 / 2))


def test_loss_does_not_differentiate_advantages():
    advantages = torch.tensor([1.0, -1.0], requires_grad=True)
    latro_loss(torch.tensor([-1.0, -1.0], requires_grad=True), torch.zeros(2), advantages, 1.0).loss.backward()
    assert advantages.grad is None


def test_higher_advantage_pushes_its_rationale_up():
    rationale = torch.tensor([-2.0, -2.0], requires_grad=True)
    latro_loss(rationale, torch.zeros(2), torch.tensor([2.0, -2.0]), 0.0).loss.backward()
    assert rationale.grad[0] < 0 < rationale.grad[1]  # gradient descent raises logp of the better rationale


def test_invalid_rows_contribute_zero_and_no_nan():
    rationale = torch.tensor([-2.0, -float("inf")], requires_grad=True)
    answer = torch.tensor([-1.0, -float("inf")], requires_grad=True)
    out = latro_loss(rationale, answer, torch.tensor([0.5, 0.0]), 1.0)
    assert math.isfinite(out.loss.item())
    out.loss.backward()
    assert torch.isfinite(rationale.grad).all() and rationale.grad[1] == 0


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 8), coef=st.floats(0, 2), data=st.data())
def test_loss_finite_for_finite_inputs(n, coef, data):
    values = [torch.tensor(data.draw(st.lists(finite_floats, min_size=n, max_size=n))) for _ in range(2)]
    rationale = -values[0].abs()
    answer = -values[1].abs()
    rewards = answer.clone()
    k = 2 if n % 2 == 0 else n
    advantages = rloo_advantages(rewards, k)
    out = latro_loss(rationale, answer, advantages, coef)
    assert all(math.isfinite(t.item()) for t in out)
