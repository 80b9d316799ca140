"""LaTROConfig: TRL's RLOOConfig plus LaTRO's knobs. Configuration only, no runtime logic."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, NamedTuple

from transformers import TrainingArguments
from transformers.utils import is_torch_bf16_gpu_available
from trl import RLOOConfig

from .markers import ANSWER_TEMPLATE, RATIONALE_LIMIT, STOP_MARKERS
from .objective import REWARD_TYPES

logger = logging.getLogger(__name__)

# RLOOConfig fields that LaTRO's update never reads, with what LaTRO does instead. Setting one has no effect, so a
# converted RLOO/GRPO config or a user who sets one is told. (num_iterations > 1 is rejected instead: it would be
# wrong, not merely ignored.)
IGNORED_RLOO_OPTIONS = {
    "normalize_advantages": "advantages are the raw leave-one-out differences of the self-reward",
    "reward_clip_range": "the self-reward is a log-likelihood and is not clipped",
    "mask_truncated_completions": "rationales that hit the limit get unfinished_penalty_factor instead",
    "reward_weights": "there are no reward functions to weight",
    "epsilon": "no importance ratio to clip: each generation batch is used for one optimizer step",
    "epsilon_high": "no importance ratio to clip: each generation batch is used for one optimizer step",
}


class Domain(NamedTuple):
    """The values a setting accepts: in words (``allowed``), as a test (``accepts``), and what to set (``fix``)."""

    allowed: str
    accepts: Callable[[Any], bool]
    fix: str


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _at_least(low: float) -> Callable[[Any], bool]:
    return lambda value: _number(value) and value >= low


def _above(low: float) -> Callable[[Any], bool]:
    return lambda value: _number(value) and value > low


def _unit_interval(value: Any) -> bool:
    return _number(value) and 0 <= value <= 1


def _count(low: int) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= low


def _or_none(accepts: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or accepts(value)


# Every setting LaTRO reads whose meaningful values form a range, checked first in __post_init__ (TRL's own checks
# divide by some of them); numbers must also be finite. The rest (stop_markers, answer_template, settings that
# contradict each other) have their own checks below. tests/unit/test_config.py tries a value outside each range.
FIELD_DOMAINS: dict[str, Domain] = {
    # the objective
    "beta": Domain(">= 0", _at_least(0), "Set 0.0 to drop the KL term; the paper uses 0.05 (GSM8K) and 0.25 (ARC)."),
    "answer_loss_coef": Domain(
        ">= 0",
        _at_least(0),
        "Set 1.0 (the paper's gradient) or 0.0 (the rationale term alone); a negative weight would train the model "
        "to find the gold answer less likely.",
    ),
    "reward_type": Domain(f"one of {', '.join(REWARD_TYPES)}", lambda value: value in REWARD_TYPES, "Choose one."),
    "unfinished_penalty_factor": Domain(
        "a factor >= 1, or None",
        _or_none(_at_least(1)),
        "A factor below 1 would reward unfinished rationales above the batch mean. Use a factor >= 1 (the reference "
        "uses 2.0), or None to disable the penalty.",
    ),
    "num_iterations": Domain(
        "exactly 1",
        lambda value: value == 1,
        "LaTRO's estimator is on-policy (plain REINFORCE, no importance ratio), so each generation batch may be used "
        "for one optimizer step only. Set num_iterations=1.",
    ),
    # rationales and answers
    "num_generations": Domain(
        "an integer >= 2",
        _count(2),
        "LaTRO's leave-one-out baseline needs at least 2 rationales per question. Set num_generations >= 2 (the "
        "paper uses 16).",
    ),
    "num_generations_eval": Domain(
        "an integer >= 2, or None",
        _or_none(_count(2)),
        "Evaluation uses the same leave-one-out baseline. Set num_generations_eval >= 2, or None (num_generations).",
    ),
    "max_completion_length": Domain(
        "an integer >= 1", _count(1), "It is the rationale limit L in tokens; the paper uses 500."
    ),
    "max_prompt_length": Domain(
        "an integer >= 1, or None",
        _or_none(_count(1)),
        "Set the longest prompt you accept, in tokens after the chat template, or None to skip the check.",
    ),
    "length_groups": Domain(
        "an integer >= 1, or None", _or_none(_count(1)), "Use 1 (one padded pass) or more, or None (auto)."
    ),
    # sampling
    "temperature": Domain(
        "> 0",
        _above(0),
        "Sampling needs a positive temperature (greedy decoding would give K identical rationales and no learning "
        "signal). Set temperature=1.0: the estimator assumes samples of the policy itself.",
    ),
    "top_p": Domain("in (0, 1]", lambda value: _number(value) and 0 < value <= 1, "Set 1.0 to sample every token."),
    "top_k": Domain("an integer >= 0, or None", _or_none(_count(0)), "Set 0 to turn top-k sampling off."),
    "min_p": Domain("in [0, 1], or None", _or_none(_unit_interval), "Set None to turn min-p sampling off."),
    "repetition_penalty": Domain("> 0", _above(0), "Set 1.0 to turn the penalty off."),
    # batches and optimisation
    "learning_rate": Domain(">= 0", _at_least(0), "The paper uses 5e-7."),
    "per_device_train_batch_size": Domain("an integer >= 1", _count(1), "E.g. num_generations: one question."),
    "per_device_eval_batch_size": Domain("an integer >= 1", _count(1), "E.g. num_generations: one question."),
    "gradient_accumulation_steps": Domain("an integer >= 1", _count(1), "Set 1 to accumulate nothing."),
    "generation_batch_size": Domain(
        "an integer >= 1, or None", _or_none(_count(1)), "Leave it None: it is derived from the batch size."
    ),
    "steps_per_generation": Domain(
        "an integer >= 1, or None", _or_none(_count(1)), "Leave it None: it is then gradient_accumulation_steps."
    ),
    "num_train_epochs": Domain(">= 0", _at_least(0), "E.g. 1.0 (max_steps > 0 overrides it)."),
    "max_grad_norm": Domain(">= 0", _at_least(0), "Set 0 to turn gradient clipping off."),
    "weight_decay": Domain(">= 0", _at_least(0), "Set 0.0 to turn weight decay off."),
    # the reference model
    "ref_model_mixup_alpha": Domain("in [0, 1]", _unit_interval, "It is the policy's weight in the mix, e.g. 0.6."),
    "ref_model_sync_steps": Domain("an integer >= 1", _count(1), "It counts optimizer steps between syncs."),
    # data, logging, vLLM
    "answer_column": Domain(
        "the name of a column other than 'prompt'",
        lambda value: isinstance(value, str) and value.strip() != "" and value != "prompt",
        "Name the data set column that holds the gold answer, e.g. answer_column='answer'.",
    ),
    "num_completions_to_print": Domain("an integer >= 0, or None", _or_none(_count(0)), "None prints them all."),
    "vllm_gpu_memory_utilization": Domain(
        "in (0, 1]", lambda value: _number(value) and 0 < value <= 1, "E.g. 0.3 (TRL's default)."
    ),
}


@dataclass
class LaTROConfig(RLOOConfig):
    r"""
    Configuration class for the [`LaTROTrainer`].

    LaTRO (Chen et al., 2024, arXiv 2411.04282) samples `num_generations` rationales per question, rewards each with
    the model's own log-likelihood of the gold answer after it (minus `beta` times a KL sample to the initial model),
    and applies REINFORCE with a leave-one-out baseline plus `answer_loss_coef` times the answer log-likelihood.
    Every [`~trl.RLOOConfig`] and [`~transformers.TrainingArguments`] field keeps its meaning; fields below are
    LaTRO's own or have LaTRO defaults. Every setting LaTRO reads whose values form a range is checked on
    construction (`FIELD_DOMAINS` lists each with its range), as are the stop markers, the answer template and
    settings that contradict each other; the error names the setting, its value and what to set instead.

    Parameters:
        > Parameters that control the LaTRO objective

        beta (`float`, *optional*, defaults to `0.05`):
            KL coefficient in the self-reward `r = log pi(y|x+z) - beta * (log pi(z|x) - log pi_0(z|x))`. The paper
            uses 0.05 on GSM8K and 0.25 on ARC-Challenge. `0.0` skips the reference model entirely.
        answer_loss_coef (`float`, *optional*, defaults to `1.0`):
            Weight lambda of the answer log-likelihood term `lambda * log pi(y|x+z)` in the loss. `1.0` is the
            gradient of the paper's objective; `0.0` (the reference code's `sft_penalty` default) trains the
            rationale term alone.
        reward_type (`str`, *optional*, defaults to `"log_likelihood"`):
            How the gold answer scores a rationale. `"log_likelihood"` (the paper): reward `log pi(y|x+z)`, objective
            `E_z[log pi(y|x+z)] - beta * KL`. `"probability"` (VeriFree, arXiv 2505.21493): reward `pi(y|x+z)` and
            answer term weighted by it, objective `E_z[pi(y|x+z)] - beta * KL`; the reward is floored at 0, so a
            rationale after which the answer is unlikely gains nothing by getting shorter (the log-likelihood reward
            can collapse rationales on a model whose own reasoning hurts its answers; see docs/results.md).
        unfinished_penalty_factor (`float` or `None`, *optional*, defaults to `2.0`):
            A rationale that reaches `max_completion_length` without a stop marker or end token gets the answer reward
            `c * mean(answer rewards of the batch)` (negative rewards, so a penalty), as in the reference code.
            `None` disables the penalty.

        > Parameters that control rationales and answers

        num_generations (`int`, *optional*, defaults to `16`):
            K, the number of rationales sampled per question (at least 2, for the leave-one-out baseline).
        max_completion_length (`int`, *optional*, defaults to `500`):
            L, the rationale length limit in tokens. The answer tokens are scored on top of it.
        max_prompt_length (`int` or `None`, *optional*, defaults to `1024`):
            Prompts (after the chat template) longer than this are rejected up front with the ids of the offending
            rows. `None` disables the check.
        stop_markers (`list[str]`, *optional*):
            Strings that introduce the answer. A rationale is cut at the first one (the marker and what follows are
            dropped: the answer template supplies them). Defaults to `"The answer is"`, `"the answer is"`,
            `"The final answer is"`, `"Answer:"`. An empty list (or `None`) means no markers: rationales end at the
            end of turn or at `max_completion_length`. Blank markers are rejected; a template whose lead-in holds
            none of the markers warns.
        answer_template (`str`, *optional*, defaults to `"The answer is {answer}."`):
            How the gold answer `y` is written after the rationale; must contain `{answer}`. The end-of-turn token of
            the chat template (EOS for plain-text prompts) is appended.
        answer_column (`str`, *optional*, defaults to `"answer"`):
            Dataset column holding the gold answer (e.g. `"18"`).
        stop_generation_at_markers (`bool`, *optional*, defaults to `True`):
            Stop sampling a rationale once it writes a stop marker (transformers `stop_strings`, vLLM `stop`), instead
            of generating to the limit and cutting afterwards. Rationales are cut at the first marker either way.
        prune_finished_rows (`bool` or `None`, *optional*):
            Sample rationales with `latro_trl.sampling.sample_pruned`, which drops a rationale from the batch (and
            the KV cache) the step it ends, instead of transformers' `generate`, which decodes every row until the
            longest one ends; the K rows of a prompt also share one prefill. Same distribution and same stopping
            places (tested). It samples at `temperature` only (no top-k / top-p / min-p / repetition penalty /
            `generation_kwargs`) and on transformers' plain generation only (vLLM and continuous batching do not
            waste those steps), on models whose cache can drop rows: attention and hybrid caches (LFM2, Qwen3.5 /
            Qwen3-Next, Granite-4-H, Falcon-H1, Jamba, Bamba, Nemotron-H); a model with a cache class of its own is
            sampled with `generate` (`latro_trl.sampling.supports_pruned_sampling`). `None` (default) turns it on
            exactly where it applies; `True` makes a setting it cannot honour an error. Measured in
            docs/performance.md.
        score_with_training_pass (`bool` or `None`, *optional*):
            Take the rewards from the training forward pass instead of a separate no-gradient policy pass, saving one
            forward over every sequence. Exact when the whole generation batch is trained in one micro-batch before
            any optimizer step (`steps_per_generation == 1`) and dropout is off; `None` (default) turns it on exactly
            then.
        length_groups (`int` or `None`, *optional*):
            Run each scoring and training pass as up to this many forward passes over rows of similar length, each
            trimmed to its own longest prompt and completion, instead of one pass padded to the batch's longest row.
            The log-probs are those of the padded pass up to rounding (tested; for rotary position embeddings, which
            all current chat models use: trimming a group's left padding shifts absolute positions, which rotary
            attention does not see), and the padding is not computed. Groups are chosen to minimise the positions
            computed (`latro_trl.sequences.length_groups`); no group holds more than one memory chunk
            (`per_device_*_batch_size` rows), and the count is per chunk. `None` (default): 4, or 1 where every
            forward pass gathers sharded weights (ZeRO-3, FSDP), so that extra passes would cost extra gathers. `1`
            is TRL's single padded pass. On several processes all of them make as many forward calls as the one that
            needs most (each call can be a collective: a hang otherwise). The pass with gradient is one forward under
            DeepSpeed, FSDP and reentrant gradient checkpointing, which expect one forward per backward.
        temperature (`float`, *optional*, defaults to `1.0`):
            Sampling temperature. The estimator is unbiased only for samples from the policy itself (temperature 1,
            no top-k / top-p / min-p); other values log a warning.

        > Parameters whose defaults differ from [`~trl.RLOOConfig`]

        learning_rate (`float`, *optional*, defaults to `5e-7`): the paper's learning rate.
        per_device_train_batch_size (`int`, *optional*, defaults to `16`): one question's K=16 rationales per device.
        disable_dropout (`bool`, *optional*, defaults to `True`): scoring and training passes see the same network.
        bf16 (`bool`, *optional*): defaults to `True` where a bf16-capable accelerator is present, else `False`.
    """

    # Parameters whose default values are overridden from RLOOConfig
    learning_rate: float = field(default=5e-7, metadata={"help": "The initial learning rate for AdamW."})
    per_device_train_batch_size: int = field(
        default=16,
        metadata={
            "help": "Sequences (question x rationale pairs) per device per micro-batch. The global generation batch "
            "must hold whole groups of `num_generations`."
        },
    )
    disable_dropout: bool = field(
        default=True,
        metadata={"help": "Disable dropout so that the scoring pass and the training pass see the same network."},
    )
    num_generations: int | None = field(
        default=16,
        metadata={"help": "K, rationales sampled per question (>= 2, for the leave-one-out baseline)."},
    )
    max_completion_length: int | None = field(
        default=RATIONALE_LIMIT,
        metadata={"help": "L, the rationale length limit in tokens (answer tokens are scored on top of it)."},
    )

    # LaTRO objective
    answer_loss_coef: float = field(
        default=1.0,
        metadata={
            "help": "lambda: weight of the answer log-likelihood term in the loss. 1.0 = the paper's gradient; "
            "0.0 = the reference code's default (rationale term only)."
        },
    )
    reward_type: str = field(
        default="log_likelihood",
        metadata={
            "help": "'log_likelihood' (the paper: reward log pi(y|x+z)) or 'probability' (VeriFree: reward "
            "pi(y|x+z), answer term weighted by it).",
            "choices": list(REWARD_TYPES),
        },
    )
    unfinished_penalty_factor: float | None = field(
        default=2.0,
        metadata={
            "help": "Rationales that hit max_completion_length without a stop marker or end token get the answer "
            "reward factor * mean(batch answer rewards). None disables the penalty."
        },
    )

    # Rationales and answers
    max_prompt_length: int | None = field(
        default=1024,
        metadata={"help": "Reject prompts longer than this many tokens (after the chat template). None: no check."},
    )
    stop_markers: list[str] = field(
        default_factory=lambda: list(STOP_MARKERS),
        metadata={
            "help": "Strings that introduce the answer; a rationale is cut at the first one. Empty: no markers "
            "(rationales end at the end of turn or the length limit)."
        },
    )
    answer_template: str = field(
        default=ANSWER_TEMPLATE,
        metadata={"help": "How the gold answer is written after the rationale; must contain '{answer}'."},
    )
    answer_column: str = field(
        default="answer",
        metadata={"help": "Dataset column with the gold answer."},
    )
    stop_generation_at_markers: bool = field(
        default=True,
        metadata={"help": "Stop sampling a rationale at the first stop marker instead of generating to the limit."},
    )
    prune_finished_rows: bool | None = field(
        default=None,
        metadata={
            "help": "Drop a rationale from the generation batch (and KV cache) the step it ends, instead of decoding "
            "every row until the longest ends. Same samples' distribution; temperature-only sampling, transformers "
            "generation only. None: on exactly where it applies."
        },
    )
    score_with_training_pass: bool | None = field(
        default=None,
        metadata={
            "help": "Take rewards from the training forward pass instead of a separate no-gradient policy pass. "
            "Exact when the whole generation batch is trained in one micro-batch before any optimizer step "
            "(steps_per_generation=1) and dropout is off. None: on exactly then."
        },
    )
    length_groups: int | None = field(
        default=None,
        metadata={
            "help": "Split each scoring and training pass into up to this many forward passes (per memory chunk) over "
            "rows of similar length, each trimmed of its padding; processes agree on the count. None: 4, or 1 under "
            "ZeRO-3/FSDP. 1: one padded pass."
        },
    )

    def __post_init__(self):
        if self.stop_markers is None or isinstance(self.stop_markers, str):  # "no markers"; one from the command line
            self.stop_markers = [] if self.stop_markers is None else [self.stop_markers]
        self._check_field_domains()  # first: TRL's own checks below divide by some of these
        self._check_answer_framing()
        if self.bf16 is None and not self.fp16:
            # TRL turns bf16 on unconditionally, which makes the default config invalid on a machine without a
            # bf16-capable accelerator ("Your setup doesn't support bf16/gpu"); keep it on only where it works.
            self.bf16 = _bf16_available()
        self._resolve_generation_batch()
        self._check_combinations()
        self._warn_about_ignored_options()
        if self.prune_finished_rows:
            self._check_pruned_sampling()
        self._warn_about_biased_sampling()

    def _check_field_domains(self) -> None:
        """Each setting in ``FIELD_DOMAINS`` within its range, named with its value and the fix when it is not."""
        for name, domain in FIELD_DOMAINS.items():
            value = getattr(self, name)
            if not domain.accepts(value):
                raise ValueError(f"{name}={value!r}: must be {domain.allowed}. {domain.fix}")

    def _check_answer_framing(self) -> None:
        """Stop markers are real text, and the answer template writes the answer."""
        blank = [marker for marker in self.stop_markers if not isinstance(marker, str) or not marker.strip()]
        if blank:
            raise ValueError(
                f"stop_markers={self.stop_markers!r}: {blank} are empty, whitespace-only or not strings, so rationales "
                "would be cut at every space or never. Remove them; stop_markers=[] means no markers (rationales then "
                "end at the end of turn or at max_completion_length)."
            )
        lead_in = self.answer_lead_in()
        if self.stop_markers and not any(marker in lead_in for marker in self.stop_markers):
            warnings.warn(
                f"answer_template={self.answer_template!r} introduces the answer with {lead_in.strip()!r}, which "
                f"contains none of stop_markers={self.stop_markers!r}: a rationale that writes the answer the way it "
                "is trained to is not cut there, so the answer would sit in the rationale and be scored twice. Add "
                f"{lead_in.strip()!r} to stop_markers, or start the template with one of them.",
                UserWarning,
                stacklevel=3,
            )

    def answer_lead_in(self) -> str:
        """The text ``answer_template`` writes before the answer (e.g. ``"The answer is "``); checks the template."""
        sentinel = "\x00"
        try:
            rendered = self.answer_template.format(answer=sentinel)
        except (AttributeError, IndexError, KeyError, ValueError) as error:
            raise ValueError(
                f"answer_template={self.answer_template!r} cannot be filled in ({type(error).__name__}: {error}). It "
                "must be text whose only field is '{answer}'; write literal braces as '{{' and '}}', e.g. "
                "answer_template='The answer is {answer}.'."
            ) from None
        if sentinel not in rendered:
            raise ValueError(
                f"answer_template={self.answer_template!r} has no '{{answer}}' placeholder, so the gold answer would "
                "never be scored. Use e.g. answer_template='The answer is {answer}.'."
            )
        return rendered.split(sentinel, 1)[0]

    def _check_combinations(self) -> None:
        """Settings that are each valid but contradict one another."""
        if self.max_steps <= 0 and self.num_train_epochs == 0:
            raise ValueError(
                f"num_train_epochs=0 with max_steps={self.max_steps}: there is nothing to train. Set num_train_epochs "
                "> 0, or max_steps > 0."
            )
        if self.sync_ref_model and self.beta == 0.0:
            raise ValueError(
                "sync_ref_model=True with beta=0.0: without a KL term there is no reference model to synchronise. "
                "Set sync_ref_model=False, or beta > 0."
            )
        if self.score_with_training_pass and self.steps_per_generation not in (None, 1):
            raise ValueError(
                f"score_with_training_pass=True needs the whole generation batch in one micro-batch, but "
                f"steps_per_generation={self.steps_per_generation}. Set score_with_training_pass=None (automatic) or "
                "False, or steps_per_generation=1."
            )
        self._check_on_policy()

    def _resolve_generation_batch(self) -> None:
        """TRL's derivation of the generation batch, with a message that names the setting to change."""
        explicit = self.generation_batch_size is not None
        try:
            super().__post_init__()
        except ValueError as error:
            if "divisible by num_generations" not in str(error):
                raise
            if explicit:
                fix = f"Set generation_batch_size to a multiple of {self.num_generations}, or leave it unset."
            else:
                fix = (
                    "Set per_device_train_batch_size (or gradient_accumulation_steps) so that the product is a "
                    f"multiple of {self.num_generations}, e.g. per_device_train_batch_size={self.num_generations}."
                )
            raise ValueError(
                f"The generation batch ({self.generation_batch_size} sequences = per_device_train_batch_size "
                f"{self.per_device_train_batch_size} x {self.world_size} processes x steps_per_generation "
                f"{self.steps_per_generation}) must hold whole groups of num_generations={self.num_generations} "
                f"rationales. {fix}"
            ) from error

    def _check_on_policy(self) -> None:
        """No micro-batch may train on rationales sampled before the last optimizer step."""
        if self.gradient_accumulation_steps % self.steps_per_generation != 0:
            # A generation batch is trained over steps_per_generation micro-batches; unless they all fall inside one
            # accumulation window, an optimizer step lands between them and the later ones train on rationales
            # sampled by the previous policy.
            raise ValueError(
                f"steps_per_generation={self.steps_per_generation} does not divide gradient_accumulation_steps="
                f"{self.gradient_accumulation_steps}: some micro-batches would train on rationales sampled before the "
                "last optimizer step, which LaTRO's on-policy estimator does not correct for. Leave "
                "steps_per_generation unset (it then equals gradient_accumulation_steps), or pick a divisor of "
                f"gradient_accumulation_steps={self.gradient_accumulation_steps}."
            )

    def _warn_about_biased_sampling(self) -> None:
        sampling_changed = self.temperature != 1.0 or self.top_k not in (0, None) or self.top_p != 1.0
        if sampling_changed or self.min_p not in (None, 0.0) or self.repetition_penalty != 1.0:
            warnings.warn(
                f"Sampling with temperature={self.temperature}, top_k={self.top_k}, top_p={self.top_p}, "
                f"min_p={self.min_p}, repetition_penalty={self.repetition_penalty}: LaTRO's gradient estimator is "
                "unbiased only for samples from the policy itself (temperature 1, no top-k/top-p/min-p, repetition "
                "penalty 1). Training will run, but the estimate is biased.",
                UserWarning,
                stacklevel=3,
            )

    def options_pruning_cannot_honour(self) -> list[str]:
        """The settings `sample_pruned` cannot honour: another generation backend, or sampling beyond temperature."""
        changed = {
            "use_vllm": self.use_vllm,
            "use_transformers_continuous_batching": self.use_transformers_continuous_batching,
            "top_k": self.top_k not in (0, None),
            "top_p": self.top_p != 1.0,
            "min_p": self.min_p not in (None, 0.0),
            "repetition_penalty": self.repetition_penalty != 1.0,
            "generation_kwargs": bool(self.generation_kwargs),
        }
        return [name for name, is_changed in changed.items() if is_changed]

    def _check_pruned_sampling(self) -> None:
        named = self.options_pruning_cannot_honour()
        if "use_vllm" in named or "use_transformers_continuous_batching" in named:
            raise ValueError(
                "prune_finished_rows applies to transformers' plain generation only; vLLM and continuous batching "
                "already stop spending compute on finished rows. Set prune_finished_rows=False (or leave it unset)."
            )
        if named:
            raise ValueError(
                f"prune_finished_rows samples at `temperature` only, but {', '.join(named)} is set. Leave them at "
                "their defaults (the estimator wants samples of the policy itself anyway), or set "
                "prune_finished_rows=False (or leave it unset)."
            )

    def _warn_about_ignored_options(self) -> None:
        """RLOO options that have no effect on LaTRO's update: name each one the user changed from its default."""
        defaults = {f.name: f.default for f in fields(RLOOConfig) if f.name in IGNORED_RLOO_OPTIONS}
        changed = [name for name, default in defaults.items() if getattr(self, name) != default]
        if changed:
            details = "; ".join(f"{name}={getattr(self, name)!r} ({IGNORED_RLOO_OPTIONS[name]})" for name in changed)
            warnings.warn(
                f"LaTRO ignores these RLOO options, which are set away from their defaults: {details}. Remove them "
                "from the config (or the command line) to silence this warning.",
                UserWarning,
                stacklevel=3,
            )


def _bf16_available() -> bool:
    try:
        return bool(is_torch_bf16_gpu_available())
    except Exception:  # an accelerator library that fails to initialise means no bf16 either
        return False


def as_latro_config(args: Any, model: Any) -> LaTROConfig:
    """The trainer's ``args`` as a LaTROConfig: a default one named after ``model`` when None, a LaTROConfig as it
    is, and a TRL config (RLOOConfig, GRPOConfig, ...) from a script LaTROTrainer was dropped into converted, keeping
    the fields RLOOConfig shares and naming (with a warning) the options LaTRO has no equivalent for."""
    if args is None:
        name = model if isinstance(model, str) else getattr(model.config, "_name_or_path", "model")
        return LaTROConfig(output_dir=f"{str(name).rstrip('/').split('/')[-1]}-LaTRO")
    if isinstance(args, LaTROConfig):
        return args
    if isinstance(args, TrainingArguments):  # an RLOOConfig / GRPOConfig from a script LaTROTrainer was dropped into
        logger.warning(
            "Converting the %s to a LaTROConfig: fields RLOOConfig shares are kept, LaTRO's own take their defaults.",
            type(args).__name__,
        )
        values = {f.name: getattr(args, f.name) for f in fields(RLOOConfig) if f.init and hasattr(args, f.name)}
        dropped = _options_outside_rloo(args)
        if dropped:
            logger.warning(
                "LaTRO has no equivalent for these %s options, which are set away from their defaults and are "
                "dropped: %s.",
                type(args).__name__,
                ", ".join(f"{name}={value!r}" for name, value in dropped.items()),
            )
        # The source config derived one of these from the other; passing both back in is rejected.
        values["generation_batch_size"] = None
        return LaTROConfig(**values)
    raise TypeError(f"`args` must be a LaTROConfig (or a TRL config to convert), got {type(args).__name__}.")


def _options_outside_rloo(args: TrainingArguments) -> dict:
    """Fields of a non-RLOO TRL config (e.g. GRPOConfig's loss_type) that differ from their defaults."""
    rloo_fields = {f.name for f in fields(RLOOConfig)}
    return {
        f.name: getattr(args, f.name)
        for f in fields(args)
        if f.init and f.name not in rloo_fields and f.default is not MISSING and getattr(args, f.name) != f.default
    }
