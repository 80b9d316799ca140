"""The Monte-Carlo estimator converges to the exact gradient of LaTRO's objective on a toy policy.

Toy: one question; rationales are 2 tokens over a 3-token vocabulary (9 rationales, all enumerable); the "model" is
tabular: logits ``a`` for z1, ``b[z1]`` for z2, and ``c[z]`` for the answer after z. The exact objective is

    J(theta) = sum_z pi(z) log pi(y*|z) - beta * sum_z pi(z) (log pi(z) - log pi_0(z))

for the log-likelihood reward, and for the probability reward (VeriFree)

    J(theta) = sum_z pi(z) pi(y*|z) - beta * sum_z pi(z) (log pi(z) - log pi_0(z)),

and its gradient comes from autograd over the enumeration. The estimator is the one the trainer uses
(``answer_rewards`` -> ``latro_rewards`` -> ``rloo_advantages`` -> ``latro_loss`` with lambda = 1 and
``answer_term_weights``), averaged over M independent batches of K rationales. Tolerance: every coordinate within 5 standard errors (estimated from 40 chunks of the batches), and
relative L2 error below 3%, with 40 x 1500 batches of K = 4 (240,000 rationales).
"""

import pytest
import torch

from latro_trl.objective import (
    REWARD_TYPES,
    answer_rewards,
    answer_term_weights,
    latro_loss,
    latro_rewards,
    rloo_advantages,
)

V, GOLD, K, BETA = 3, 1, 4, 0.1
CHUNKS, BATCHES_PER_CHUNK = 40, 1500


def _log_policy(params):
    a, b, c = params
    log_z1 = torch.log_softmax(a, -1)  # (V,)
    log_z2 = torch.log_softmax(b, -1)  # (V, V)
    log_z = (log_z1[:, None] + log_z2).reshape(-1)  # (V*V,) log pi(z1, z2)
    log_answer = torch.log_softmax(c, -1)[:, GOLD]  # (V*V,) log pi(y* | z)
    return log_z, log_answer


def _make_params(seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(V, generator=g), torch.randn(V, V, generator=g), torch.randn(V * V, V, generator=g)]


def _exact_gradient(params, ref_log_z, reward_type):
    params = [p.clone().requires_grad_(True) for p in params]
    log_z, log_answer = _log_policy(params)
    pi = log_z.exp()
    answer_objective = log_answer if reward_type == "log_likelihood" else log_answer.exp()
    objective = (pi * answer_objective).sum() - BETA * (pi * (log_z - ref_log_z)).sum()
    return torch.autograd.grad(objective, params)


def _estimated_gradient(params, ref_log_z, num_batches, generator, reward_type):
    params = [p.clone().requires_grad_(True) for p in params]
    log_z, log_answer = _log_policy(params)
    samples = torch.multinomial(log_z.detach().exp(), num_batches * K, replacement=True, generator=generator)
    rationale_logps, answer_logps = log_z[samples], log_answer[samples]
    scores = answer_rewards(answer_logps, reward_type)
    rewards = latro_rewards(scores, rationale_logps, ref_log_z[samples], BETA)
    advantages = rloo_advantages(rewards, K)
    weights = answer_term_weights(answer_logps, reward_type)
    loss = latro_loss(rationale_logps, answer_logps, advantages, answer_coef=1.0, answer_weights=weights).loss
    # The loss is the mean over all batches, so its gradient is the mean of the per-batch estimates; ascent = -grad.
    return [-g for g in torch.autograd.grad(loss, params)]


def _flat(grads):
    return torch.cat([g.reshape(-1) for g in grads])


@pytest.mark.parametrize("reward_type", REWARD_TYPES)
def test_estimator_matches_exact_gradient(reward_type):
    params = _make_params(0)
    ref_log_z, _ = _log_policy(_make_params(1))
    exact = _flat(_exact_gradient(params, ref_log_z, reward_type))
    generator = torch.Generator().manual_seed(123)
    chunks = torch.stack(
        [
            _flat(_estimated_gradient(params, ref_log_z, BATCHES_PER_CHUNK, generator, reward_type))
            for _ in range(CHUNKS)
        ]
    )
    mean, stderr = chunks.mean(0), chunks.std(0) / CHUNKS**0.5
    assert ((mean - exact).abs() <= 5 * stderr + 1e-6).all(), (mean - exact).abs() / stderr
    assert (mean - exact).norm() / exact.norm() < 0.03


def test_each_variant_is_told_apart_from_the_other_objective():
    # The test above can fail: each estimator is far from the other objective's exact gradient.
    params = _make_params(0)
    ref_log_z, _ = _log_policy(_make_params(1))
    generator = torch.Generator().manual_seed(5)
    for estimated_type, other_type in (REWARD_TYPES, REWARD_TYPES[::-1]):
        estimate = _flat(_estimated_gradient(params, ref_log_z, 20_000, generator, estimated_type))
        other = _flat(_exact_gradient(params, ref_log_z, other_type))
        assert (estimate - other).norm() / other.norm() > 0.1


def test_without_baseline_the_estimator_is_still_unbiased_but_noisier():
    # Sanity check of the test itself: the leave-one-out baseline lowers the variance (same mean).
    params = _make_params(0)
    ref_log_z, _ = _log_policy(_make_params(1))
    generator = torch.Generator().manual_seed(7)

    def per_chunk(use_baseline):
        ps = [p.clone().requires_grad_(True) for p in params]
        log_z, log_answer = _log_policy(ps)
        samples = torch.multinomial(log_z.detach().exp(), 200 * K, replacement=True, generator=generator)
        rewards = latro_rewards(log_answer[samples], log_z[samples], ref_log_z[samples], BETA)
        advantages = rloo_advantages(rewards, K) if use_baseline else rewards
        loss = latro_loss(log_z[samples], log_answer[samples], advantages, 1.0).loss
        return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, ps)])

    with_baseline = torch.stack([per_chunk(True) for _ in range(30)]).var(0).sum()
    without_baseline = torch.stack([per_chunk(False) for _ in range(30)]).var(0).sum()
    assert with_baseline < without_baseline
