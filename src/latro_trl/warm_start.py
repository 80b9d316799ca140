"""A supervised warm start, then LaTRO: the two small LoRA runs the demo and the experiments make.

:func:`supervised_warm_start` fine-tunes on a few questions with gold rationales; :func:`lora_latro` trains LaTRO with
a fresh adapter on the (merged) result. Both resume from their last checkpoint when asked.

LaTRO rewards a rationale by how likely the model finds the gold answer after it. A model whose own rationales make
the answer *less* likely than no rationale at all (the embedded 135M model: -20 nats against -12, see
docs/results.md) gets rewarded for shorter and shorter rationales until they vanish. A short SFT on a few worked
examples first gives LaTRO rationales worth improving; merged into the weights (:func:`latro_trl.models.save_merged`)
it is also LaTRO's frozen reference. ``experiments/answer_likelihood.py`` tells whether a model needs one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import LaTROConfig


# What a small LoRA run on a CPU sets beyond its steps, learning rate and seed: a constant learning rate, a log line per
# step, no gradient checkpointing (small models on a CPU: memory is not the limit, time is), no reporting service.
# The demo's and the experiments' recipes set the same.
SMALL_RUN = {
    "lr_scheduler_type": "constant",
    "logging_steps": 1,
    "report_to": "none",
    "gradient_checkpointing": False,
    "dataloader_pin_memory": False,
}


def attention_lora(r: int = 16):
    """The LoRA adapter used by the demo and the experiments: rank ``r``, alpha ``2r``, the attention projections."""
    from peft import LoraConfig

    return LoraConfig(
        r=r, lora_alpha=2 * r, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM"
    )


def supervised_warm_start(
    model: Any,
    tokenizer: Any,
    dataset: Any,
    output_dir: str | Path,
    *,
    learning_rate: float = 3e-4,
    questions_per_step: int = 2,
    lora_r: int = 16,
    seed: int = 0,
    save_steps: int | None = None,
    resume: bool = False,
    progress_metrics: dict[str, str] | None = None,
):
    """Train a LoRA adapter on ``dataset``'s ``prompt``/``completion`` pairs for one epoch; returns the trainer.

    Args:
        model, tokenizer: the model to warm-start (a plain model, not a PEFT one).
        dataset: rows with TRL's ``prompt`` and ``completion`` columns (``latro_trl.data`` loaders build both).
        output_dir: the trainer's output folder.
        learning_rate: constant learning rate.
        questions_per_step: questions per optimizer step; the run is ``len(dataset) // questions_per_step`` steps.
        lora_r: the adapter's rank (:func:`attention_lora`).
        seed: the training seed.
        save_steps: write a checkpoint every N steps (to choose one on validation); ``None``: no checkpoints.
        resume: continue from the last checkpoint in ``output_dir``.
        progress_metrics: show one compact progress bar with these log keys (key -> label) instead of the default
            bar and per-step dicts (:func:`latro_trl.progress.use_compact_progress`).

    Returns:
        The trained ``trl.SFTTrainer``; ``trainer.model`` is the PEFT model (merge it with
        :func:`latro_trl.models.save_merged` or ``merge_and_unload``).
    """
    from trl import SFTConfig, SFTTrainer

    steps = max(1, len(dataset) // questions_per_step)
    config = SFTConfig(
        **_small_run(output_dir, save_steps, steps),
        max_steps=steps,
        learning_rate=learning_rate,
        seed=seed,
        per_device_train_batch_size=questions_per_step,
        bf16=False,
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=dataset.select_columns(["prompt", "completion"]),
        processing_class=tokenizer,
        peft_config=attention_lora(lora_r),
    )
    if progress_metrics:
        from .progress import use_compact_progress

        use_compact_progress(trainer, progress_metrics, desc="supervised warm start")
    trainer.train(resume_from_checkpoint=_last_checkpoint(output_dir) if resume else None)
    return trainer


def lora_latro(
    model: Any,
    tokenizer: Any,
    dataset: Any,
    args: LaTROConfig,
    *,
    lora_r: int = 16,
    resume: bool = False,
    progress_metrics: dict[str, str] | None = None,
    trainer_class: type | None = None,
):
    """Train LaTRO with a fresh LoRA adapter (:func:`attention_lora`) on ``model``, as ``args`` says; returns the trainer.

    The reference is ``model`` itself (the new adapter switched off), so pass the merged warm start, not the base.
    ``args`` is the whole run (K, L, steps, learning rate, beta, seed, checkpoints, ``args.output_dir``...), used as it
    is: a recipe (``latro_trl/recipes/demo.yaml``, ``experiments/recipes/``) or :func:`small_run_config` gives the
    settings of a small CPU run.

    Args:
        model, tokenizer: the model to train (a plain model: merge a warm-start adapter first).
        dataset: rows with ``prompt`` and ``answer``.
        args: the run's :class:`~latro_trl.LaTROConfig`.
        lora_r: the adapter's rank.
        resume: continue from the last checkpoint in ``args.output_dir``.
        progress_metrics: one compact progress bar with these log keys (key -> label).
        trainer_class: a subclass of :class:`~latro_trl.LaTROTrainer` to train with instead (an experiment's variant
            of the estimator, e.g. one that zeroes the advantages); ``None``: LaTROTrainer.
    """
    from . import LaTROTrainer

    trainer = (trainer_class or LaTROTrainer)(
        model=model,
        args=args,
        train_dataset=dataset.select_columns(["prompt", "answer"]),
        processing_class=tokenizer,
        peft_config=attention_lora(lora_r),
    )
    if progress_metrics:
        from .progress import use_compact_progress

        use_compact_progress(trainer, progress_metrics, desc="LaTRO")
    trainer.train(resume_from_checkpoint=_last_checkpoint(args.output_dir) if resume else None)
    return trainer


def small_run_config(output_dir: str | Path, *, save_steps: int | None = None, **fields: Any) -> LaTROConfig:
    """A :class:`~latro_trl.LaTROConfig` with the settings of a small LoRA run on a CPU (:data:`SMALL_RUN`), for code
    that calls :func:`lora_latro` without a recipe.

    Args:
        output_dir: the trainer's output folder.
        save_steps: write a checkpoint every N steps; ``None``: none.
        **fields: any other ``LaTROConfig`` field (``max_steps``, ``num_generations``, ``learning_rate``...).

    Example:
        ```python
        args = small_run_config("runs/latro", max_steps=24, per_device_train_batch_size=8, num_generations=4)
        ```
    """
    from . import LaTROConfig

    return LaTROConfig(**_small_run(output_dir, save_steps, fields.get("max_steps", -1)), **fields)


def with_changes(args: LaTROConfig, **changes: Any) -> LaTROConfig:
    """``args`` with other values for a few fields (an output folder, a seed, the steps of one run among several),
    built anew so that the config's checks run again. The generation batch is derived again from
    ``steps_per_generation`` unless ``changes`` set it."""
    return dataclasses.replace(args, **{"generation_batch_size": None, **changes})


def _small_run(output_dir: str | Path, save_steps: int | None, max_steps: int) -> dict[str, Any]:
    """:data:`SMALL_RUN` with the output folder and checkpoints every ``save_steps`` (none when ``None``)."""
    return {
        **SMALL_RUN,
        "output_dir": str(output_dir),
        "save_strategy": "steps" if save_steps else "no",
        "save_steps": save_steps or max(max_steps, 1),
    }


def _last_checkpoint(output_dir: str | Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(output_dir)) if Path(output_dir).is_dir() else None
