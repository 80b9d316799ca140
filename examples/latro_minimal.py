"""LaTRO in one file of plain PyTorch: no TRL trainer, read it top to bottom (cleanrl style).

Chen et al., "Language Models are Hidden Reasoners" (arXiv 2411.04282). One update, for B questions x with gold
answers y and K rationales z each:

    1. sample      z_ik ~ pi(.|x_i) at temperature 1 (no top-k/top-p), cut at the first stop marker / end token
    2. score       one forward over x+z+y per model:  log pi(z|x), log pi(y|x+z)  and  log pi_0(z|x)
    3. rewards     r_ik = log pi(y_i|x_i+z_ik) - beta * (log pi(z_ik|x_i) - log pi_0(z_ik|x_i))       (no gradient)
                   (a rationale that hit the length limit unfinished gets c * mean(batch answer log-probs) instead)
    4. advantages  A_ik = r_ik - 1/(K-1) * sum_{j != k} r_ij                                            (RLOO)
    5. loss        L = -1/(BK) * sum_ik [A_ik * log pi(z_ik|x_i) + lambda * log pi(y_i|x_i+z_ik)]
    6. AdamW step  (gradient clipped to max_grad_norm, linear decay, no warm-up)

The math is re-derived here in a few lines on purpose, independent of `latro_trl.objective` and of the trainer's
internals, so that `latro_update` can serve as a second implementation to check `LaTROTrainer` against on the same
batch. Differences from the trainer that do not change the numbers on a clean batch: the policy is scored with one
forward pass WITH gradient (the trainer scores without gradient, then runs a second pass for the loss); rationales are
sampled to the limit or EOS and cut afterwards (no `stop_strings`); `y` is closed with EOS, which is the end-of-turn
token for ChatML models (SmolLM2, the tiny test model); non-finite rewards are not masked.

Run (CPU, embedded SmolLM2-135M-Instruct, offline arithmetic problems):

    OMP_NUM_THREADS=2 python examples/latro_minimal.py --steps 4 --num_generations 4 --max_completion_length 64
    python examples/latro_minimal.py --model tiny --steps 2   # a random tiny model: seconds, for smoke tests
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass
class Args:
    """The run's knobs; each field is a command-line flag (`--num_generations 8`)."""

    model: str = field(default="embedded", metadata={"help": "'embedded' (SmolLM2 GGUF), 'tiny' (random), or a path."})
    seed: int = field(default=0, metadata={"help": "Seed for data, sampling and the tiny model."})
    steps: int = field(default=4, metadata={"help": "Optimizer steps."})
    questions_per_step: int = field(default=2, metadata={"help": "B, questions per step."})
    num_generations: int = field(default=4, metadata={"help": "K, rationales per question (>= 2)."})
    max_completion_length: int = field(default=64, metadata={"help": "L, rationale limit in tokens."})
    beta: float = field(default=0.05, metadata={"help": "KL coefficient in the reward."})
    answer_loss_coef: float = field(default=1.0, metadata={"help": "lambda: 1 = the paper's gradient, 0 = ref. code."})
    unfinished_penalty_factor: float | None = field(default=2.0, metadata={"help": "c; None: no penalty."})
    learning_rate: float = field(default=1e-5, metadata={"help": "AdamW learning rate (the paper: 5e-7 on 7-8B)."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping (as the HF Trainer's default)."})
    stop_markers: list[str] = field(
        default_factory=lambda: ["The answer is", "the answer is", "The final answer is", "Answer:"],
        metadata={"help": "A rationale is cut at the first of these."},
    )
    answer_template: str = field(default="The answer is {answer}.", metadata={"help": "How y is written."})
    num_threads: int = field(default=1, metadata={"help": "torch CPU threads."})


class Rollout(NamedTuple):
    """B*K sequences x + z + y as token ids; K consecutive rows share a question (each prompt repeated K times)."""

    prompt_ids: list[list[int]]
    rationale_ids: list[list[int]]  # z, already cut
    answer_ids: list[list[int]]  # y = " The answer is 18." + EOS
    finished: torch.Tensor  # (B*K,) bool: z stopped by itself (marker or EOS), not at the length limit


class StepOutput(NamedTuple):
    """What one update computed. Tensors are (B*K,), rows grouped by question (K consecutive rows share one)."""

    loss: torch.Tensor
    rewards: torch.Tensor
    advantages: torch.Tensor
    rationale_logps: torch.Tensor  # log pi(z|x), detached
    answer_logps: torch.Tensor  # log pi(y|x+z), detached
    metrics: dict[str, float]


# ---------------------------------------------------------------- 1. sample rationales


@torch.no_grad()
def sample_rationales(
    policy: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt_ids: list[list[int]], cfg: Args
) -> list[list[int]]:
    """K completions per prompt from the policy itself (temperature 1, top-k and top-p off), to L tokens or EOS."""
    from transformers import GenerationConfig

    repeated = [ids for ids in prompt_ids for _ in range(cfg.num_generations)]
    width = max(len(ids) for ids in repeated)
    input_ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(ids)) + ids for ids in repeated])
    attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in repeated])
    generation_config = GenerationConfig(
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        max_new_tokens=cfg.max_completion_length,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    # transformers fills every field left unset above from the model's own generation_config (a chat model's
    # repetition penalty, min_p, ...): a blank one in its place keeps the samples those of the policy itself.
    own, policy.generation_config = policy.generation_config, GenerationConfig()
    try:
        output = policy.generate(
            input_ids=input_ids, attention_mask=attention_mask, generation_config=generation_config
        )
    finally:
        policy.generation_config = own
    return output[:, width:].tolist()


def cut_rationale(completion: list[int], tokenizer: PreTrainedTokenizerBase, cfg: Args) -> tuple[list[int], bool, bool]:
    """z = the completion before its first EOS and its first stop marker. Returns (z, finished, hit_marker)."""
    ids = list(completion)
    hit_end = tokenizer.eos_token_id in ids
    if hit_end:
        ids = ids[: ids.index(tokenizer.eos_token_id)]
    text = tokenizer.decode(ids, skip_special_tokens=False)
    starts = [start for marker in cfg.stop_markers if (start := text.find(marker)) >= 0]
    if not starts:
        return ids, hit_end, False
    keep = len(ids)  # the longest prefix whose text ends before the marker (the marker's first token goes too)
    while keep > 0 and len(tokenizer.decode(ids[:keep], skip_special_tokens=False)) > min(starts):
        keep -= 1
    return ids[:keep], True, True


def make_answer_ids(tokenizer: PreTrainedTokenizerBase, answer: str, rationale: list[int], cfg: Args) -> list[int]:
    """y = " The answer is 18." + EOS (the leading space only when the rationale does not end in whitespace)."""
    text = cfg.answer_template.format(answer=str(answer).strip())
    rationale_text = tokenizer.decode(rationale, skip_special_tokens=True)
    if rationale_text and not rationale_text[-1].isspace():
        text = " " + text
    return tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


# ---------------------------------------------------------------- 2. score x+z+y with one forward pass


def sequence_logps(model: PreTrainedModel, rollout: Rollout, pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(log pi(z|x), log pi(y|x+z)), each (N,): sums of per-token log-probs, from ONE forward over x+z+y.

    Layout: prompts left-padded to P, then z+y right-padded to C, so position P + t holds completion token t.
    """
    n = len(rollout.prompt_ids)
    p = max(len(x) for x in rollout.prompt_ids)
    c = max(len(z) + len(y) for z, y in zip(rollout.rationale_ids, rollout.answer_ids, strict=True))
    input_ids = torch.full((n, p + c), pad_token_id)
    attention_mask = torch.zeros((n, p + c), dtype=torch.long)
    z_mask = torch.zeros((n, c), dtype=torch.bool)
    y_mask = torch.zeros((n, c), dtype=torch.bool)
    for i, (x, z, y) in enumerate(zip(rollout.prompt_ids, rollout.rationale_ids, rollout.answer_ids, strict=True)):
        input_ids[i, p - len(x) : p + len(z) + len(y)] = torch.tensor(x + z + y)
        attention_mask[i, p - len(x) : p + len(z) + len(y)] = 1
        z_mask[i, : len(z)] = True
        y_mask[i, len(z) : len(z) + len(y)] = True
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, p - 1 : -1]  # predicts P..P+C-1
    per_token_logps = torch.log_softmax(logits.float(), dim=-1).gather(-1, input_ids[:, p:, None]).squeeze(-1)
    z_logps = per_token_logps.masked_fill(~z_mask, 0.0).sum(-1)
    y_logps = per_token_logps.masked_fill(~y_mask, 0.0).sum(-1)
    return z_logps, y_logps


# ---------------------------------------------------------------- 3-6. rewards, advantages, loss, step


def latro_update(
    policy: PreTrainedModel,
    reference: PreTrainedModel | None,
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    cfg: Args,
    pad_token_id: int,
) -> StepOutput:
    """One LaTRO update on given rationales (`reference` may be None when `cfg.beta == 0`)."""
    k, finished = cfg.num_generations, rollout.finished
    z_logps, y_logps = sequence_logps(policy, rollout, pad_token_id)  # with gradient
    with torch.no_grad():
        # 3. rewards r = log pi(y|x+z) - beta * KL sample, with the unfinished penalty on the answer term
        answer_reward = y_logps.detach()
        if cfg.unfinished_penalty_factor is not None:
            answer_reward = torch.where(finished, answer_reward, cfg.unfinished_penalty_factor * answer_reward.mean())
        kl = torch.zeros_like(answer_reward)
        if cfg.beta != 0.0:
            ref_z_logps, _ = sequence_logps(reference, rollout, pad_token_id)
            kl = z_logps.detach() - ref_z_logps
        rewards = answer_reward - cfg.beta * kl
        # 4. RLOO: each rationale's baseline is the mean reward of its K-1 siblings
        grouped = rewards.view(-1, k)
        advantages = (grouped - (grouped.sum(1, keepdim=True) - grouped) / (k - 1)).view(-1)

    # 5. loss: REINFORCE on the rationale + lambda * answer log-likelihood
    policy_loss = -(advantages * z_logps).mean()
    answer_loss = -y_logps.mean()
    loss = policy_loss + cfg.answer_loss_coef * answer_loss

    # 6. AdamW step
    optimizer.zero_grad()
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
    optimizer.step()

    metrics = {
        "loss/total": loss.item(),
        "loss/policy": policy_loss.item(),
        "loss/answer": answer_loss.item(),
        "reward/mean": rewards.mean().item(),
        "reward/std": rewards.std().item(),
        "answer_logp": y_logps.mean().item(),
        "kl": kl.mean().item(),
        "grad_norm": grad_norm.item(),
        "rationale/mean_length": sum(map(len, rollout.rationale_ids)) / len(rollout.rationale_ids),
        "rationale/finished_rate": finished.float().mean().item(),
    }
    return StepOutput(loss.detach(), rewards, advantages, z_logps.detach(), y_logps.detach(), metrics)


def latro_step(
    policy: PreTrainedModel,
    reference: PreTrainedModel | None,
    tokenizer: PreTrainedTokenizerBase,
    optimizer: torch.optim.Optimizer,
    prompt_ids: list[list[int]],
    answers: list[str],
    cfg: Args,
) -> StepOutput:
    """Sample K rationales per question, cut them, build y, and run `latro_update`. Returns its `StepOutput`."""
    completions = sample_rationales(policy, tokenizer, prompt_ids, cfg)
    cuts = [cut_rationale(completion, tokenizer, cfg) for completion in completions]
    rationale_ids = [z for z, _, _ in cuts]
    repeated_answers = [a for a in answers for _ in range(cfg.num_generations)]
    rollout = Rollout(
        prompt_ids=[x for x in prompt_ids for _ in range(cfg.num_generations)],
        rationale_ids=rationale_ids,
        answer_ids=[
            make_answer_ids(tokenizer, a, z, cfg) for a, z in zip(repeated_answers, rationale_ids, strict=True)
        ],
        finished=torch.tensor([done for _, done, _ in cuts]),
    )
    out = latro_update(policy, reference, optimizer, rollout, cfg, tokenizer.pad_token_id)
    out.metrics["rationale/marker_rate"] = sum(hit for _, _, hit in cuts) / len(cuts)
    return out


# ---------------------------------------------------------------- the run


def load(name: str, seed: int) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """(policy, tokenizer): the embedded SmolLM2, a random tiny Llama, or a local/hub model."""
    if name == "embedded":
        from latro_trl.models import load_model_and_tokenizer

        return load_model_and_tokenizer()
    if name == "tiny":
        from latro_trl.testing import make_tiny_model, make_tiny_tokenizer

        tokenizer = make_tiny_tokenizer()
        return make_tiny_model(tokenizer, seed=seed), tokenizer
    from latro_trl.models import load_model_and_tokenizer

    return load_model_and_tokenizer(name)


def main(cfg: Args) -> list[dict[str, float]]:
    from latro_trl.data import load_synthetic

    if cfg.num_generations < 2:
        raise ValueError(f"--num_generations {cfg.num_generations}: the leave-one-out baseline needs K >= 2.")
    torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    policy, tokenizer = load(cfg.model, cfg.seed)
    policy.eval()  # no dropout: sampling, scoring and the gradient all see the same network
    reference = copy.deepcopy(policy).requires_grad_(False) if cfg.beta != 0.0 else None
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.learning_rate, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - step / cfg.steps)  # linear, no warm-up
    problems = load_synthetic("train", n=cfg.steps * cfg.questions_per_step, seed=cfg.seed)

    history = []
    for step in range(cfg.steps):
        started = time.perf_counter()
        batch = problems[step * cfg.questions_per_step : (step + 1) * cfg.questions_per_step]
        prompt_ids = [
            tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True)[
                "input_ids"
            ]
            for prompt in batch["prompt"]
        ]
        out = latro_step(policy, reference, tokenizer, optimizer, prompt_ids, batch["answer"], cfg)
        scheduler.step()
        metrics = {**out.metrics, "step": step + 1, "time_s": time.perf_counter() - started}
        history.append(metrics)
        print(
            f"step {step + 1}/{cfg.steps} | loss {metrics['loss/total']:.3f} (policy {metrics['loss/policy']:.3f}, "
            f"answer {metrics['loss/answer']:.3f}) | reward {metrics['reward/mean']:.2f} +- {metrics['reward/std']:.2f}"
            f" | kl {metrics['kl']:.4f} | z len {metrics['rationale/mean_length']:.1f}, marker "
            f"{metrics['rationale/marker_rate']:.2f}, finished {metrics['rationale/finished_rate']:.2f} "
            f"| {metrics['time_s']:.1f}s",
            flush=True,
        )
    return history


if __name__ == "__main__":
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(Args).parse_args_into_dataclasses()
    main(args)
