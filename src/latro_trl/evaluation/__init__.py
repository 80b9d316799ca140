"""Evaluation: greedy accuracy and maj@k with JSONL output, and a training-time accuracy callback.

Modules: ``evaluator`` (:func:`evaluate`), ``generation`` (batched replies), ``grading`` (a reply's answer against the
gold: :func:`score_reply`), ``statistics`` (accuracy, majority vote, Wilson interval, McNemar), ``callback``
(:class:`AccuracyCallback`), ``batch_log`` (resuming a stopped evaluation). Never imports the trainer.
``AccuracyCallback`` and the model helpers load ``transformers`` on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .statistics import accuracy, majority_vote, mcnemar_exact, summarize, wilson_interval

if TYPE_CHECKING:
    from ..models import load_model_for_eval
    from .callback import AccuracyCallback
    from .evaluator import evaluate, run_settings
    from .generation import Reply, generate_replies, render_prompt
    from .grading import answer_markers, answers_match, score_reply

__all__ = [
    "AccuracyCallback",
    "Reply",
    "accuracy",
    "answer_markers",
    "answers_match",
    "evaluate",
    "generate_replies",
    "load_model_for_eval",
    "majority_vote",
    "mcnemar_exact",
    "render_prompt",
    "run_settings",
    "score_reply",
    "summarize",
    "wilson_interval",
]

_LAZY = {
    "AccuracyCallback": "callback",
    "answer_markers": "grading",
    "answers_match": "grading",
    "evaluate": "evaluator",
    "run_settings": "evaluator",
    "score_reply": "grading",
    "Reply": "generation",
    "generate_replies": "generation",
    "render_prompt": "generation",
    "load_model_for_eval": ".models",  # the one loader lives in latro_trl.models
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
