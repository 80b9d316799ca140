"""Evaluation: greedy accuracy and maj@k with JSONL output, pure scoring, and a training-time accuracy callback.

Never imports the trainer. ``AccuracyCallback`` and the model helpers load ``transformers`` on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .scoring import accuracy, majority_vote, summarize, wilson_interval

if TYPE_CHECKING:
    from ..models import load_model_for_eval
    from .callback import AccuracyCallback
    from .evaluator import answer_markers, answers_match, evaluate, score_reply
    from .generation import Reply, generate_replies, render_prompt

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
    "render_prompt",
    "score_reply",
    "summarize",
    "wilson_interval",
]

_LAZY = {
    "AccuracyCallback": "callback",
    "answer_markers": "evaluator",
    "answers_match": "evaluator",
    "evaluate": "evaluator",
    "score_reply": "evaluator",
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
