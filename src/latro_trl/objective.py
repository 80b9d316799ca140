"""The LaTRO estimator as small pure tensor functions, in the paper's order.

Chen et al., "Language Models are Hidden Reasoners" (arXiv 2411.04282). A rationale ``z`` is a latent variable
between a question ``x`` and its gold answer ``y``; the policy both samples rationales and scores them with
``log pi(y | x + z)``. One update, for ``B`` questions with ``K`` rationales each (``N = B * K`` sequences):

    r_ik = log pi(y_i | x_i + z_ik) - beta * [log pi(z_ik | x_i) - log pi_0(z_ik | x_i)]      (rewards, no grad)
    A_ik = r_ik - 1/(K-1) * sum_{j != k} r_ij                                                 (RLOO baseline)
    L    = -1/N * sum_ik [A_ik * log pi(z_ik | x_i) + lambda * log pi(y_i | x_i + z_ik)]      (the loss)

Reward variants (``reward_type``), each the exact gradient of its own objective with the same estimator:

    "log_likelihood" (LaTRO):  J = E_z[log pi(y|x+z)] - beta * KL;  answer reward log pi(y|x+z), answer-term weight 1
    "probability" (VeriFree):  J = E_z[pi(y|x+z)]     - beta * KL;  answer reward pi(y|x+z), answer-term weight pi(y|x+z)

The probability reward is floored at 0: a rationale after which the gold answer is unlikely gains nothing by being
shorter, which is what makes log-likelihood rewards collapse rationales on weak models (VeriFree, arXiv 2505.21493).

Nothing here knows about models, tokenizers, accelerators or configs: tensors and masks in, tensors out.

Shapes: ``N`` sequences (groups of ``K`` consecutive rows share a question), ``T`` scored token positions.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


def sequence_logps(per_token_logps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Log-probability of each masked token span: the SUM of its per-token log-probs.

    Uses ``where`` rather than a product so that a ``-inf`` at a masked-out position cannot turn into NaN.

    Shapes:
        per_token_logps: (N, T), mask: (N, T) bool or {0, 1} -> (N,)
    """
    return torch.where(mask.bool(), per_token_logps, torch.zeros_like(per_token_logps)).sum(dim=-1)


def kl_estimate(rationale_logps: torch.Tensor, ref_rationale_logps: torch.Tensor) -> torch.Tensor:
    """Sequence-level KL sample ``log pi(z|x) - log pi_0(z|x)`` (the "k1" estimator; unbiased, can be negative)."""
    return rationale_logps - ref_rationale_logps


REWARD_TYPES = ("log_likelihood", "probability")


def answer_rewards(answer_logps: torch.Tensor, reward_type: str) -> torch.Tensor:
    """The answer part of the self-reward, detached: ``log pi(y|x+z)`` or ``pi(y|x+z)`` (see the module docstring).

    Shapes:
        answer_logps: (N,) -> (N,)
    """
    answer_logps = answer_logps.detach()
    if reward_type == "log_likelihood":
        return answer_logps
    if reward_type == "probability":
        return answer_logps.exp()
    raise ValueError(f"reward_type must be one of {REWARD_TYPES}, got {reward_type!r}.")


def answer_term_weights(answer_logps: torch.Tensor, reward_type: str) -> torch.Tensor:
    """Per-row weight of the answer term ``log pi(y|x+z)`` in the loss, detached.

    1 for the log-likelihood reward; ``pi(y|x+z)`` for the probability reward, because
    ``grad pi(y|x+z) = pi(y|x+z) * grad log pi(y|x+z)`` (VeriFree's weighted answer term).

    Shapes:
        answer_logps: (N,) -> (N,)
    """
    if reward_type == "log_likelihood":
        return torch.ones_like(answer_logps).detach()
    return answer_rewards(answer_logps, reward_type)


def penalize_unfinished(answer_logps: torch.Tensor, finished: torch.Tensor, penalty_factor: float) -> torch.Tensor:
    """Replace the answer reward of rationales that never stopped by ``penalty_factor`` times the batch mean.

    The reference implementation sets ``r = c * mean(r)`` (``c = 2``) for rationales that reached the length limit
    without a stop marker or end token; answer log-likelihoods are negative, so that is a reward below the batch
    average. We write it as ``mean - (c - 1) * |mean|``, which is the same for a negative mean and still a penalty
    if the mean were positive. Non-finite entries are left out of the mean. A factor of 1 is "no penalty beyond
    the batch mean"; use ``finished = ones`` to disable the penalty altogether.

    Shapes:
        answer_logps: (N,), finished: (N,) bool -> (N,)
    """
    finite = torch.isfinite(answer_logps)
    if not finite.any():
        return answer_logps.clone()
    mean = answer_logps[finite].mean()
    penalized_value = mean - (penalty_factor - 1.0) * mean.abs()
    return torch.where(finished.bool(), answer_logps, penalized_value)


def latro_rewards(
    answer_rewards: torch.Tensor,
    rationale_logps: torch.Tensor,
    ref_rationale_logps: torch.Tensor | None,
    beta: float,
) -> torch.Tensor:
    """Self-reward ``r = R(y|x+z) - beta * (log pi(z|x) - log pi_0(z|x))``, detached from the graph.

    ``answer_rewards`` is ``R(y|x+z)``: ``log pi(y|x+z)`` for LaTRO (see :func:`answer_rewards` for the variants).
    ``ref_rationale_logps`` may be ``None`` only when ``beta == 0``.

    Shapes:
        answer_rewards, rationale_logps, ref_rationale_logps: (N,) -> (N,)
    """
    rewards = answer_rewards.detach()
    if beta != 0.0:
        if ref_rationale_logps is None:
            raise ValueError("`ref_rationale_logps` is required when beta != 0.")
        rewards = rewards - beta * kl_estimate(rationale_logps.detach(), ref_rationale_logps.detach())
    return rewards


def rloo_advantages(rewards: torch.Tensor, num_generations: int) -> torch.Tensor:
    """Leave-one-out advantages ``A_k = r_k - mean_{j != k} r_j`` within each group of ``num_generations`` rows.

    Rows of a group are consecutive (TRL's ``RepeatSampler`` layout). Non-finite rewards are treated as missing:
    they are left out of their siblings' baselines and get advantage 0, so one bad sample cannot poison a group. A
    group with fewer than two finite rewards has no baseline and gets advantage 0. Equivalent, for finite inputs, to
    ``K / (K - 1) * (r - r.view(-1, K).mean(1, keepdim=True))``.

    Shapes:
        rewards: (N,) with N a multiple of K -> (N,)
    """
    if num_generations < 2:
        raise ValueError(f"RLOO needs at least 2 rationales per question, got num_generations={num_generations}.")
    if rewards.numel() % num_generations != 0:
        raise ValueError(
            f"{rewards.numel()} rewards do not split into groups of num_generations={num_generations}; the batch "
            "must hold whole groups."
        )
    grouped = rewards.detach().view(-1, num_generations)
    valid = torch.isfinite(grouped)
    values = torch.where(valid, grouped, torch.zeros_like(grouped))
    count = valid.sum(dim=1, keepdim=True)
    baseline = (values.sum(dim=1, keepdim=True) - values) / (count - 1).clamp(min=1)
    advantages = values - baseline
    has_baseline = valid & (count >= 2)
    return torch.where(has_baseline, advantages, torch.zeros_like(advantages)).view(-1)


class LaTROLoss(NamedTuple):
    """The training loss and its two parts (``policy_loss`` and ``answer_loss`` are detached, for logging).

    ``loss = policy_loss + answer_coef * answer_loss``, each averaged over the sequences of the batch.
    """

    loss: torch.Tensor
    policy_loss: torch.Tensor
    answer_loss: torch.Tensor


def latro_loss(
    rationale_logps: torch.Tensor,
    answer_logps: torch.Tensor,
    advantages: torch.Tensor,
    answer_coef: float,
    valid: torch.Tensor | None = None,
    answer_weights: torch.Tensor | None = None,
) -> LaTROLoss:
    """``L = -mean_ik [A_ik * log pi(z_ik|x_i) + lambda * w_ik * log pi(y_i|x_i+z_ik)]`` (LaTRO's gradient, Eq. 5).

    The first term is REINFORCE on the rationale with the self-reward advantage; the second is maximum likelihood of
    the gold answer after the rationale (``answer_coef = lambda``; 1 is the paper's gradient, 0 the reference code's
    default), weighted by ``answer_weights`` ``w`` (1 when ``None``; see :func:`answer_term_weights`). Rows with
    ``valid = False`` (non-finite rewards or log-probs) contribute exactly zero and no gradient, but still count in
    the mean, so the scale of the update does not depend on how many rows were dropped.

    Shapes:
        rationale_logps, answer_logps, advantages, valid, answer_weights: (N,) -> scalars
    """
    if valid is None:
        valid = torch.isfinite(rationale_logps) & torch.isfinite(answer_logps) & torch.isfinite(advantages)
    zeros = torch.zeros_like(rationale_logps)
    policy_terms = torch.where(valid, -advantages.detach() * rationale_logps, zeros)
    weighted = answer_logps if answer_weights is None else answer_weights.detach() * answer_logps
    answer_terms = torch.where(valid, -weighted, zeros)
    policy_loss = policy_terms.mean()
    answer_loss = answer_terms.mean()
    loss = policy_loss + answer_coef * answer_loss if answer_coef != 0.0 else policy_loss
    return LaTROLoss(loss=loss, policy_loss=policy_loss.detach(), answer_loss=answer_loss.detach())
