"""Every TRL internal LaTROTrainer relies on, in one place, checked against the TRL that is installed.

TRL's underscore methods carry no compatibility promise, and ``LaTROTrainer`` overrides four of them and calls a few
more. This module is the list: each entry names the internal, how we use it (we override it, or we call it) and the
parameters that use relies on. :func:`check_installed_trl` compares the installed TRL against the list when a
trainer is built, so that a TRL that moved fails there, with a message that names the internal, the installed TRL
version and the supported range, instead of a ``TypeError`` deep inside the first training step.

Where a supported TRL lacks something, the adaptation lives here and nowhere else:

- ``add_fused_lm_head`` (TRL >= 1.15): TRL 1.14's log-prob helper computes the logits itself, so there is no head
  to add to our reference model and the adapter does nothing.
- ``unwrap_model_for_generation(..., gradient_checkpointing_kwargs=...)`` (TRL >= 1.16): older TRL re-enables
  gradient checkpointing after generation with transformers' default arguments, as its own generation does there.

An override must also accept every argument TRL may pass it: a parameter TRL adds with a default passes the check
only if our override takes it (``LaTROTrainer._generate_single_turn`` takes the ``num_generations`` that a TRL pull
request gives GRPO's copy, and leaves it to TRL's default when it calls ``super()``).

The trainer imports these helpers from here, never from ``trl`` directly; ``tests/unit/test_trl_contract.py`` checks
the list (and the instance attributes of :data:`ATTRIBUTES`, which only exist once a trainer is built) on whichever
TRL is installed, and ``scripts/compat.sh`` runs it on every supported release (``docs/compat.md``).
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import trl
from packaging.specifiers import SpecifierSet
from packaging.version import Version

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator

logger = logging.getLogger(__name__)

#: The TRL releases the compatibility run checks (``docs/compat.md``); ``pyproject.toml`` requires the same range.
#: It starts at 1.14.2, the first release whose RLOOTrainer sets ``eos_token_ids`` (every id that ends a completion);
#: the trainer reads it, and 1.14.0 / 1.14.1 have none.
SUPPORTED_TRL = SpecifierSet(">=1.14.2,<1.17")
TESTED_TRL = ("1.14.2", "1.15.0", "1.16.0")


class TRLCompatibilityError(RuntimeError):
    """The installed TRL does not provide an internal that LaTROTrainer relies on, in the form it relies on."""


@dataclass(frozen=True)
class Internal:
    """One TRL internal: where it lives, how LaTROTrainer uses it, and what that use relies on.

    Args:
        path: ``"module:qualified.name"``, e.g. ``"trl.trainer.utils:pad"`` or
            ``"trl:RLOOTrainer._compute_loss"``.
        use: ``"override"`` (TRL calls it on our trainer, and our override calls it through ``super()``, passing
            ``params`` positionally) or ``"call"`` (we call it, passing ``params`` positionally then ``keywords``).
        params: Positional parameters, in order (after ``self`` for methods).
        keywords: Parameters passed by name.
        added_in: ``{name: version}`` for what a supported TRL older than ``version`` lacks, adapted here: ``""`` for
            the internal itself, or a parameter name. Missing from an installed TRL at least that new is an error.
    """

    path: str
    use: str
    params: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    added_in: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.replace(":", ".")


# ---------------------------------------------------------------------------------------------- the private surface

#: RLOOTrainer methods LaTROTrainer overrides. TRL calls them with these arguments; each override passes them on.
OVERRIDDEN = (
    Internal("trl:RLOOTrainer._generate_single_turn", "override", ("prompt_ids", "images", "multimodal_fields")),
    Internal("trl:RLOOTrainer._generate_and_score_completions", "override", ("inputs",)),
    Internal("trl:RLOOTrainer._compute_loss", "override", ("model", "inputs")),
    Internal("trl:RLOOTrainer._set_signature_columns_if_needed", "override"),
)

#: RLOOTrainer methods LaTROTrainer calls, or whose call of our overrides it relies on.
CALLED_METHODS = (
    # -> (prompt_ids, completion_ids, completions); calls our _generate_single_turn
    Internal("trl:RLOOTrainer._generate", "call", ("prompts",)),
    # -> (per-token log-probs, entropies or None, aux loss or None)
    Internal(
        "trl:RLOOTrainer._get_per_token_logps_and_entropies",
        "call",
        ("model", "input_ids", "attention_mask"),
        ("logits_to_keep", "batch_size", "compute_entropy", "compute_aux_loss"),
    ),
    # splits and shuffles the dict our _generate_and_score_completions returns into micro-batches
    Internal("trl:RLOOTrainer._prepare_inputs", "call", ("generation_batch",)),
    # calls our _compute_loss
    Internal("trl:RLOOTrainer.compute_loss", "call", ("model", "inputs", "return_outputs", "num_items_in_batch")),
)

#: TRL helpers LaTROTrainer imports.
FUNCTIONS = (
    Internal(
        "trl.models:unwrap_model_for_generation",
        "call",
        ("model", "accelerator"),
        ("gather_deepspeed3_params", "generation_kwargs", "gradient_checkpointing_kwargs"),
        added_in={"gradient_checkpointing_kwargs": "1.16.0"},
    ),
    Internal("trl.trainer.utils:add_fused_lm_head", "call", ("model",), ("temperature",), added_in={"": "1.15.0"}),
    Internal("trl.models.utils:disable_gradient_checkpointing", "call", ("model", "gradient_checkpointing_kwargs")),
    Internal("trl.trainer.utils:pad", "call", ("tensors",), ("padding_value", "padding_side")),
    Internal("trl.trainer.utils:use_adapter", "call", ("model",), ("adapter_name",)),
    Internal("trl.trainer.utils:disable_dropout_in_model", "call", ("model",)),
    Internal("trl.models:prepare_deepspeed", "call", ("model", "accelerator")),
    Internal("trl.models:prepare_fsdp", "call", ("model", "accelerator")),
    Internal("trl.trainer.callbacks:SyncRefModelCallback", "call", (), ("ref_model", "accelerator")),
    Internal("trl.data_utils:is_conversational", "call", ("example",)),
)

#: Instance attributes ``RLOOTrainer.__init__`` sets that LaTROTrainer reads (checked on a built trainer by the
#: contract test: they do not exist before ``__init__`` runs).
ATTRIBUTES = (
    "_tokenizer",  # the tokenizer inside processing_class
    "_dist",  # DistributedBackend: summon_full_params around generation
    "eos_token_ids",  # every id that ends a completion (TRL >= 1.14.2)
    "_metrics",  # {"train"/"eval": {name: [values]}}, averaged by RLOOTrainer.log
    "_logs",  # the completions table: "prompt", "completion", "rewards", "advantages", "extra"
    "generation_config",
    "generation_kwargs",
    "chat_template_kwargs",
    "max_completion_length",
    "num_generations",
    "num_generations_eval",
    "temperature",
    "use_vllm",
    "use_transformers_continuous_batching",
    "aux_loss_enabled",
    "router_aux_loss_coef",
    "ref_model",
)

#: RLOOConfig fields LaTROConfig and LaTROTrainer read (beyond transformers' TrainingArguments).
CONFIG_FIELDS = (
    "beta",
    "chat_template_kwargs",
    "ds3_gather_for_generation",
    "epsilon",
    "epsilon_high",
    "generation_batch_size",
    "generation_kwargs",
    "mask_truncated_completions",
    "max_completion_length",
    "min_p",
    "model_init_kwargs",
    "normalize_advantages",
    "num_generations",
    "num_generations_eval",
    "num_iterations",
    "repetition_penalty",
    "reward_clip_range",
    "reward_weights",
    "router_aux_loss_coef",
    "steps_per_generation",
    "sync_ref_model",
    "temperature",
    "top_k",
    "top_p",
    "use_transformers_continuous_batching",
    "use_vllm",
)

INTERNALS = OVERRIDDEN + CALLED_METHODS + FUNCTIONS


# ---------------------------------------------------------------------------------------------- checking


def installed_trl_version() -> Version:
    return Version(trl.__version__)


def resolve(path: str) -> object | None:
    """The object at ``"module:qualified.name"``, or None if the installed TRL has no such thing."""
    module_name, qualname = path.split(":")
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError:
        return None
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _parameters(obj: object) -> list[inspect.Parameter]:
    parameters = list(inspect.signature(obj).parameters.values())
    return parameters[1:] if parameters and parameters[0].name == "self" else parameters


def _added_since(internal: Internal, what: str, version: Version) -> bool:
    """Whether the installed TRL should have ``what`` ("" = the internal itself)."""
    return what not in internal.added_in or version >= Version(internal.added_in[what])


def problems_with(internal: Internal, version: Version, trainer_cls: type | None = None) -> list[str]:
    """What the installed TRL lacks of ``internal``, as sentences (empty: compatible).

    An overridden method must still take ``params`` first (TRL passes them and our override passes them on through
    ``super()``), and any parameter TRL added must have a default (we pass none) and be accepted by the override of
    ``trainer_cls``. A called one must still take ``params`` first and ``keywords`` by name, and nothing else without a
    default.
    """
    obj = resolve(internal.path)
    if obj is None:
        return [f"`{internal.name}` is missing"] if _added_since(internal, "", version) else []
    parameters = _parameters(obj)
    named = [p for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    takes_any_keyword = any(p.kind is p.VAR_KEYWORD for p in parameters)
    found = f"`{internal.name}{inspect.signature(obj)}`"
    we = "LaTROTrainer" if internal.use == "call" else "LaTROTrainer's override"
    if [p.name for p in named[: len(internal.params)]] != list(internal.params):
        return [f"{found} no longer takes ({', '.join(internal.params)}) first, as {we} expects"]
    lacking = [k for k in internal.keywords if k not in {p.name for p in named} and _added_since(internal, k, version)]
    if lacking and not takes_any_keyword:
        return [f"{found} no longer takes {', '.join(lacking)}, which {we} passes"]
    extra = [p for p in named if p.name not in internal.params and p.name not in internal.keywords]
    required = [p.name for p in extra if p.default is p.empty]
    if required:
        return [f"{found} has new required parameter(s) {', '.join(required)}, which {we} does not pass"]
    if internal.use == "override" and trainer_cls is not None:
        ours = inspect.signature(getattr(trainer_cls, internal.path.rsplit(".", 1)[1])).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in ours.values()):
            unaccepted = [p.name for p in extra if p.name not in ours]
            if unaccepted:
                return [
                    f"{found} has new parameter(s) {', '.join(unaccepted)}, which TRL may pass and "
                    f"{trainer_cls.__name__}'s override does not accept"
                ]
    return []


def _config_problems() -> list[str]:
    rloo_fields = {f.name for f in fields(trl.RLOOConfig)}
    return [f"`trl.RLOOConfig.{name}` is missing" for name in CONFIG_FIELDS if name not in rloo_fields]


def check_installed_trl(trainer_cls: type | None = None) -> None:
    """Check the installed TRL against every internal LaTROTrainer relies on.

    Args:
        trainer_cls: The trainer class being built (``LaTROTrainer`` or a subclass), whose overrides must accept every
            argument TRL calls them with.

    Raises:
        TRLCompatibilityError: A TRL older than the supported range, or one in which an internal moved; the message
            names each internal, the installed TRL version and the supported range.
    """
    version = installed_trl_version()
    supported = f"latro-trl supports trl{SUPPORTED_TRL} (tested: {', '.join(TESTED_TRL)})"
    if version < min(Version(spec.version) for spec in SUPPORTED_TRL if spec.operator == ">="):
        raise TRLCompatibilityError(
            f"TRL {version} is older than latro-trl supports: {supported}. "
            f"Upgrade it with `pip install 'trl{SUPPORTED_TRL}'`."
        )
    problems = _config_problems()
    for internal in INTERNALS:
        problems += problems_with(internal, version, trainer_cls)
    if problems:
        raise TRLCompatibilityError(
            f"The installed TRL {version} changed internals that LaTROTrainer relies on:\n"
            + "\n".join(f"  - {problem}" for problem in problems)
            + f"\n{supported}. Install a supported TRL (`pip install 'trl{SUPPORTED_TRL}'`), or see "
            "`latro_trl.trl_compat` for the list of what LaTROTrainer relies on."
        )
    if version not in SUPPORTED_TRL and version not in _warned:
        _warned.add(version)
        logger.warning(
            "TRL %s is outside the range latro-trl has been tested with (%s). Every internal LaTROTrainer relies on "
            "is present with the expected signature, but its behaviour is untested.",
            version,
            supported,
        )


_warned: set[Version] = set()


# ---------------------------------------------------------------------------------------------- the helpers


def _import_or_missing(path: str) -> Callable:
    """The TRL helper at ``path``, or a stand-in that fails clearly when called (``check_installed_trl`` names it
    at trainer construction first)."""
    obj = resolve(path)
    if obj is not None:
        return obj

    def missing(*args, **kwargs):
        raise TRLCompatibilityError(f"`{path.replace(':', '.')}` is missing from TRL {trl.__version__}.")

    return missing


disable_gradient_checkpointing = _import_or_missing("trl.models.utils:disable_gradient_checkpointing")
pad = _import_or_missing("trl.trainer.utils:pad")
use_adapter = _import_or_missing("trl.trainer.utils:use_adapter")
disable_dropout_in_model = _import_or_missing("trl.trainer.utils:disable_dropout_in_model")
prepare_deepspeed = _import_or_missing("trl.models:prepare_deepspeed")
prepare_fsdp = _import_or_missing("trl.models:prepare_fsdp")
SyncRefModelCallback = _import_or_missing("trl.trainer.callbacks:SyncRefModelCallback")
is_conversational = _import_or_missing("trl.data_utils:is_conversational")

_add_fused_lm_head = resolve("trl.trainer.utils:add_fused_lm_head")
_unwrap_model_for_generation = _import_or_missing("trl.models:unwrap_model_for_generation")
_UNWRAP_TAKES_CHECKPOINTING_KWARGS = (
    "gradient_checkpointing_kwargs" in inspect.signature(_unwrap_model_for_generation).parameters
)


def add_fused_lm_head(model: torch.nn.Module, temperature: float = 1.0) -> None:
    """TRL's fused LM head on ``model`` (TRL >= 1.15); nothing on TRL 1.14, whose log-prob helper computes the
    logits itself from an unpatched model."""
    if _add_fused_lm_head is not None:
        _add_fused_lm_head(model, temperature=temperature)


def unwrap_model_for_generation(
    model: torch.nn.Module,
    accelerator: Accelerator,
    gather_deepspeed3_params: bool = True,
    generation_kwargs: dict | None = None,
    gradient_checkpointing_kwargs: dict | None = None,
) -> AbstractContextManager[torch.nn.Module]:
    """TRL's ``unwrap_model_for_generation``. Its ``gradient_checkpointing_kwargs`` (TRL >= 1.16) is dropped on older
    TRL, which re-enables checkpointing after generation with the defaults, as its own generation path does."""
    kwargs = {"gather_deepspeed3_params": gather_deepspeed3_params, "generation_kwargs": generation_kwargs}
    if _UNWRAP_TAKES_CHECKPOINTING_KWARGS:
        kwargs["gradient_checkpointing_kwargs"] = gradient_checkpointing_kwargs
    return _unwrap_model_for_generation(model, accelerator, **kwargs)
