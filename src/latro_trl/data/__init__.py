"""Data sets in the columns LaTRO, SFT and evaluation share, and the one copy of answer extraction.

Every loader returns a :class:`datasets.Dataset` with a conversational ``prompt`` (question + :data:`DEFAULT_TRIGGER`),
``answer`` (the gold answer as a short string; the trainer writes ``"The answer is {answer}."``), ``question``,
``rationale`` and ``completion`` (the SFT target in TRL's prompt/completion format).

Heavy modules (``datasets``) load on first use of a loader, so ``from latro_trl.data import extract_number`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..markers import ANSWER_TEMPLATE
from .answers import (
    ANSWER_MARKERS,
    extract_choice,
    extract_number,
    format_number,
    gsm8k_gold,
    normalise_choices,
    numbers_match,
    parse_number,
)
from .prompts import DEFAULT_TRIGGER, format_question

if TYPE_CHECKING:
    from .arc import load_arc
    from .gsm8k import load_gsm8k
    from .reworded import load_reworded
    from .synthetic import load_synthetic, make_arithmetic_problems

__all__ = [
    "ANSWER_MARKERS",
    "ANSWER_TEMPLATE",
    "DEFAULT_TRIGGER",
    "extract_choice",
    "extract_number",
    "format_number",
    "format_question",
    "gsm8k_gold",
    "load_arc",
    "load_gsm8k",
    "load_reworded",
    "load_synthetic",
    "make_arithmetic_problems",
    "normalise_choices",
    "numbers_match",
    "parse_number",
]

_LAZY = {
    "load_arc": "arc",
    "load_gsm8k": "gsm8k",
    "load_reworded": "reworded",
    "load_synthetic": "synthetic",
    "make_arithmetic_problems": "synthetic",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
