"""A supervised warm start before LaTRO: LoRA fine-tuning on a few questions with gold rationales.

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
            bar and per-step dicts (:func:`latro_trl.callbacks.use_compact_progress`).

    Returns:
        The trained ``trl.SFTTrainer``; ``trainer.model`` is the PEFT model (merge it with
        :func:`latro_trl.models.save_merged` or ``merge_and_unload``).
    """
    from transformers.trainer_utils import get_last_checkpoint
    from trl import SFTConfig, SFTTrainer

    steps = max(1, len(dataset) // questions_per_step)
    config = SFTConfig(
        output_dir=str(output_dir),
        max_steps=steps,
        per_device_train_batch_size=questions_per_step,
        learning_rate=learning_rate,
        lr_scheduler_type="constant",
        logging_steps=1,
        report_to="none",
        save_strategy="steps" if save_steps else "no",
        save_steps=save_steps or steps,
        gradient_checkpointing=False,
        dataloader_pin_memory=False,
        seed=seed,
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
        from .callbacks import use_compact_progress

        use_compact_progress(trainer, progress_metrics, desc="supervised warm start")
    last = get_last_checkpoint(str(output_dir)) if resume and Path(output_dir).is_dir() else None
    trainer.train(resume_from_checkpoint=last)
    return trainer
