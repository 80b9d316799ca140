"""A ``TrainerCallback`` that measures greedy accuracy during training and logs it like any other metric."""

from __future__ import annotations

import os
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from .evaluator import evaluate, run_settings
from .grading import Task, gold_answers


class AccuracyCallback(TrainerCallback):
    """Measure greedy accuracy on a held-out set every ``every_n_steps`` optimizer steps.

    How the value is logged: after :meth:`attach` (recommended), through the base ``transformers.Trainer.log`` of
    the trainer, so it reaches ``state.log_history``, the console and every reporting integration (TensorBoard,
    W&B, ...) like a built-in metric. The base method is called on purpose rather than ``trainer.log``: TRL
    trainers override ``log`` to flush their accumulated training metrics, which a mid-step call would steal; and
    ``control.should_log`` (reset by every ``on_log``) is restored so the step's regular log still happens.
    Without :meth:`attach` (e.g. when passed as ``callbacks=[...]``), the values are appended to
    ``state.log_history`` only (so they land in ``trainer_state.json`` but not in the integrations).

    Every process runs the evaluation (generation under ZeRO-3 needs all ranks); the data is not sharded, so keep
    the set small (a few hundred questions at most).

    Answers are read the way the run writes them: the gold answer from its ``answer_column``, the reply's answer after
    its ``stop_markers`` or the words its ``answer_template`` puts before ``{answer}`` (read from the training
    arguments, so a plain ``TrainingArguments`` gets the package's defaults). The set is checked when training
    starts, so a missing column or a gold answer the task cannot score fails before the first step.

    Args:
        eval_dataset: rows with ``prompt`` and the gold answer (see :mod:`latro_trl.data`).
        tokenizer: the tokenizer; ``None`` takes the trainer's ``processing_class`` at call time.
        every_n_steps: evaluate when ``global_step`` is a multiple of it.
        max_new_tokens: the reply length limit; ``None`` (default): the training run's ``max_completion_length``
            (from its arguments; ``LaTROConfig``'s default when they have none) plus 32 for the answer sentence.
        task: ``"number"`` or ``"choice"``.
        batch_size: sequences per ``generate`` call.
        metric_prefix: prefix of the logged keys: ``{prefix}accuracy``, ``{prefix}accuracy_ci_low``,
            ``{prefix}accuracy_ci_high``, ``{prefix}no_answer_rate``.
        eval_on_start: also evaluate before the first step (logged at step 0).
        save_predictions: write each evaluation's ``predictions.jsonl``/``summary.json`` to
            ``{output_dir}/accuracy/step-{N}``.
        answer_column: the gold-answer column; ``None`` (default): the run's ``answer_column`` (``"answer"`` when
            its arguments have none).

    Example:
        >>> callback = AccuracyCallback(load_synthetic("validation", n=64), tokenizer, every_n_steps=50)  # doctest: +SKIP
        >>> callback.attach(trainer)  # doctest: +SKIP
        >>> trainer.train()  # doctest: +SKIP
        >>> [entry["eval/accuracy"] for entry in trainer.state.log_history if "eval/accuracy" in entry]  # doctest: +SKIP
    """

    def __init__(
        self,
        eval_dataset: Any,
        tokenizer: Any = None,
        every_n_steps: int = 100,
        max_new_tokens: int | None = None,
        task: Task = "number",
        batch_size: int = 16,
        metric_prefix: str = "eval/",
        eval_on_start: bool = False,
        save_predictions: bool = False,
        answer_column: str | None = None,
    ) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        if task not in ("number", "choice"):
            raise ValueError(f"task must be 'number' or 'choice', got {task!r}")
        if len(eval_dataset) == 0:
            raise ValueError("eval_dataset is empty; pass a few held-out questions.")
        self.eval_dataset = eval_dataset
        self.tokenizer = tokenizer
        self.every_n_steps = every_n_steps
        self.max_new_tokens = max_new_tokens
        self.task = task
        self.batch_size = batch_size
        self.metric_prefix = metric_prefix
        self.eval_on_start = eval_on_start
        self.save_predictions = save_predictions
        self.answer_column = answer_column
        self.trainer: Any = None
        self.history: list[dict[str, float]] = []

    def attach(self, trainer: Any) -> AccuracyCallback:
        """Register with ``trainer`` and log through it (see the class docstring). Returns ``self``."""
        self.trainer = trainer
        if self not in trainer.callback_handler.callbacks:
            trainer.add_callback(self)
        return self

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        gold_answers(list(self.eval_dataset), self.task, self._answer_column(args))  # fail before the first step
        if self.eval_on_start:
            self._evaluate_and_log(args, state, control, kwargs)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if state.global_step > 0 and state.global_step % self.every_n_steps == 0:
            self._evaluate_and_log(args, state, control, kwargs)

    def _evaluate_and_log(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, kwargs: dict[str, Any]
    ) -> None:
        model = kwargs.get("model")
        model = getattr(self.trainer, "model", None) if model is None else model
        tokenizer = self.tokenizer if self.tokenizer is not None else kwargs.get("processing_class")
        if model is None or tokenizer is None:
            raise ValueError("AccuracyCallback needs the model and a tokenizer; pass tokenizer= to the callback.")
        output_dir = (
            os.path.join(args.output_dir, "accuracy", f"step-{state.global_step}") if self.save_predictions else None
        )
        settings = run_settings(args)  # the run's answer column, markers, template and reply limit
        settings["answer_column"] = self._answer_column(args)
        if self.max_new_tokens is not None:
            settings["max_new_tokens"] = self.max_new_tokens
        summary = evaluate(
            model,
            tokenizer,
            self.eval_dataset,
            task=self.task,
            batch_size=self.batch_size,
            output_dir=output_dir,
            progress=False,
            **settings,
        )["greedy"]
        prefix = self.metric_prefix
        metrics = {
            f"{prefix}accuracy": summary["accuracy"],
            f"{prefix}accuracy_ci_low": summary["ci_low"],
            f"{prefix}accuracy_ci_high": summary["ci_high"],
            f"{prefix}no_answer_rate": summary["no_answer_rate"],
        }
        self.history.append({**metrics, "step": state.global_step})
        if self.trainer is not None:
            from transformers import Trainer

            should_log = control.should_log  # on_log resets it, which would cancel this step's regular log
            Trainer.log(self.trainer, dict(metrics))  # the base method: see the class docstring
            control.should_log = should_log
        else:
            state.log_history.append({**metrics, "step": state.global_step})

    def _answer_column(self, args: TrainingArguments) -> str:
        return self.answer_column or run_settings(args)["answer_column"]
