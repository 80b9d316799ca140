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

from pathlib import Path
from typing import Any


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
        **_small_run(output_dir, steps, learning_rate, seed, save_steps),
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
    output_dir: str | Path,
    *,
    max_steps: int,
    questions_per_step: int = 2,
    num_generations: int = 4,
    max_completion_length: int = 96,
    learning_rate: float = 5e-5,
    beta: float = 0.05,
    lora_r: int = 16,
    seed: int = 0,
    save_steps: int | None = None,
    resume: bool = False,
    progress_metrics: dict[str, str] | None = None,
    trainer_class: type | None = None,
    **config: Any,
):
    """Train LaTRO with a fresh LoRA adapter (:func:`attention_lora`) on ``model``; returns the trainer.

    The reference is ``model`` itself (the new adapter switched off), so pass the merged warm start, not the base.

    Args:
        model, tokenizer: the model to train (a plain model: merge a warm-start adapter first).
        dataset: rows with ``prompt`` and ``answer``.
        output_dir: the trainer's output folder.
        max_steps: optimizer steps, each on ``questions_per_step`` questions x ``num_generations`` rationales.
        max_completion_length: the rationale limit L.
        learning_rate: constant learning rate.
        beta: the KL coefficient.
        lora_r: the adapter's rank.
        seed: the training seed.
        save_steps: write a checkpoint every N steps; ``None``: none.
        resume: continue from the last checkpoint in ``output_dir``.
        progress_metrics: one compact progress bar with these log keys (key -> label).
        trainer_class: a subclass of :class:`~latro_trl.LaTROTrainer` to train with instead (an experiment's variant
            of the estimator, e.g. one that zeroes the advantages); ``None``: LaTROTrainer.
        **config: any other `LaTROConfig` field (``reward_type``, ``answer_loss_coef``, ``shuffle_dataset``, ...).
    """
    from . import LaTROConfig, LaTROTrainer

    args = LaTROConfig(
        **_small_run(output_dir, max_steps, learning_rate, seed, save_steps),
        num_generations=num_generations,
        per_device_train_batch_size=questions_per_step * num_generations,
        max_completion_length=max_completion_length,
        beta=beta,
        **config,
    )
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
    trainer.train(resume_from_checkpoint=_last_checkpoint(output_dir) if resume else None)
    return trainer


def _small_run(output_dir: str | Path, max_steps: int, learning_rate: float, seed: int, save_steps: int | None):
    """What both small runs set: a constant learning rate, a log line per step, checkpoints every ``save_steps``, and
    no gradient checkpointing (small models on a CPU: memory is not the limit, time is)."""
    return {
        "output_dir": str(output_dir),
        "max_steps": max_steps,
        "learning_rate": learning_rate,
        "lr_scheduler_type": "constant",
        "logging_steps": 1,
        "report_to": "none",
        "save_strategy": "steps" if save_steps else "no",
        "save_steps": save_steps or max_steps,
        "gradient_checkpointing": False,
        "dataloader_pin_memory": False,
        "seed": seed,
    }


def _last_checkpoint(output_dir: str | Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(output_dir)) if Path(output_dir).is_dir() else None
