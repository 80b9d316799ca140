"""How the trainer runs its passes, decided once at start from the config, the model and the parallel setup.

Four choices, each a pure function of what it reads (so each is tested without a trainer or several processes):

- :func:`score_with_training_pass`: may the pass with gradient also give the rewards (one forward pass fewer)?
- :func:`prune_finished_rows`: sample with the pruned sampler, or with ``generate``?
- :func:`length_groups`: how many forward calls of similar-length rows a scoring pass may be split into.
- :func:`training_pass_groups`: the same for the pass with gradient, where several forwards per backward can break
  the backward's bookkeeping.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from .config import LaTROConfig
from .sampling import supports_pruned_sampling

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Parallelism:
    """What the choices need to know of the parallel setup."""

    num_processes: int = 1
    deepspeed: bool = False
    zero_stage: int | None = None  # DeepSpeed's ZeRO stage, when ``deepspeed``
    fsdp: bool = False

    @classmethod
    def of(cls, trainer: Any) -> Parallelism:
        """Read from a (TRL) trainer after its ``__init__``."""
        deepspeed = bool(trainer.is_deepspeed_enabled)
        return cls(
            num_processes=trainer.accelerator.num_processes,
            deepspeed=deepspeed,
            zero_stage=trainer.accelerator.state.deepspeed_plugin.zero_stage if deepspeed else None,
            fsdp=bool(trainer.is_fsdp_enabled),
        )

    @property
    def gathers_weights(self) -> bool:
        """Whether every forward pass gathers sharded weights from all processes (ZeRO-3, FSDP)."""
        return self.zero_stage == 3 or self.fsdp


def score_with_training_pass(args: LaTROConfig, model: torch.nn.Module) -> bool:
    """Whether the training pass may stand in for the no-gradient policy scoring pass (see the config field)."""
    wanted = args.score_with_training_pass
    same_weights = args.steps_per_generation == 1  # the whole generation batch, before any optimizer step
    dropout_free = args.disable_dropout or not any(
        isinstance(module, torch.nn.Dropout) and module.p > 0 for module in model.modules()
    )
    if wanted and not (same_weights and dropout_free):
        raise ValueError(
            "score_with_training_pass=True needs the whole generation batch in one micro-batch "
            f"(steps_per_generation=1, got {args.steps_per_generation}) and no dropout (disable_dropout=True), "
            "otherwise the training pass does not equal the scoring pass. Set it to None (automatic) or False."
        )
    return same_weights and dropout_free if wanted is None else bool(wanted)


def prune_finished_rows(args: LaTROConfig, model: torch.nn.Module, parallel: Parallelism) -> bool:
    """Whether rationales are sampled by ``sampling.sample_pruned`` (see the config field)."""
    wanted = args.prune_finished_rows
    # Where every forward pass gathers sharded weights from all processes (FSDP, or ZeRO-3 without
    # `ds3_gather_for_generation`), the processes must run the same number of decoding steps, which `generate`
    # ensures (synced_gpus) and a loop that stops when its own rows end does not.
    lockstep = parallel.num_processes > 1 and (
        parallel.fsdp or (parallel.zero_stage == 3 and not args.ds3_gather_for_generation)
    )
    if wanted and lockstep:
        raise ValueError(
            "prune_finished_rows=True cannot run with FSDP, or with ZeRO-3 and ds3_gather_for_generation=False, "
            "on several processes: each forward pass there needs every process, so all of them must decode the "
            "same number of steps. Leave prune_finished_rows unset (or False)."
        )
    supported, why_not = supports_pruned_sampling(model)
    if wanted and not supported:
        raise ValueError(f"prune_finished_rows=True cannot sample this model exactly: {why_not}. Leave it unset.")
    if wanted is None:
        if not supported:
            logger.info("Sampling with `generate` (finished rows keep decoding): %s.", why_not)
        return supported and not lockstep and not args.options_pruning_cannot_honour()
    return wanted


def length_groups(args: LaTROConfig, parallel: Parallelism) -> int:
    """How many length groups each scoring pass may be split into (see the config field): one where every forward
    gathers weights (each extra call costs a gather of the whole model), else 4."""
    if args.length_groups is not None:
        return args.length_groups
    return 1 if parallel.gathers_weights else 4


def training_pass_groups(args: LaTROConfig, parallel: Parallelism, scoring_groups: int) -> int:
    """How many length groups the pass with gradient may use: one forward per backward where several would break
    the backward's bookkeeping, else the scoring passes' number."""
    reentrant = args.gradient_checkpointing and (args.gradient_checkpointing_kwargs or {}).get("use_reentrant", False)
    reasons = {
        "DeepSpeed counts one forward per backward": parallel.deepspeed,
        "FSDP reshards after each forward and expects one per backward": parallel.fsdp,
        "reentrant gradient checkpointing would fire each parameter's gradient hook once per group": reentrant,
    }
    reason = next((reason for reason, applies in reasons.items() if applies), None)
    if reason is None:
        return scoring_groups
    if scoring_groups > 1:
        logger.info("The training pass runs as one forward (length groups stay in the scoring passes): %s.", reason)
    return 1
