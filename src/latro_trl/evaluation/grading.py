"""Grading replies: read the answer in a reply and compare it with the row's gold answer. No model, no tokenizer.

The answer is read after the run's markers (:func:`answer_markers`) with :mod:`latro_trl.data.answers`; a gold answer
is checked and made canonical by :func:`gold_answers`. Accuracy over many graded replies (majority vote, intervals,
paired tests) is :mod:`.statistics`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ..data.answers import extract_choice, extract_number, format_number, normalise_choices, numbers_match, parse_number
from ..markers import ANSWER_MARKERS, STOP_MARKERS

Task = Literal["number", "choice"]


def answer_markers(stop_markers: Sequence[str] | None = None, answer_template: str | None = None) -> tuple[str, ...]:
    """The phrases after which a reply's answer is read: a training run's stop markers and the words its answer
    template writes before the answer, case variants merged (matching is case-insensitive).

    Args:
        stop_markers: the run's ``stop_markers``; ``None``: the package's defaults. An empty list adds none.
        answer_template: the run's ``answer_template`` (e.g. ``"Final: {answer}"`` adds ``"Final:"``).

    Returns:
        The markers; :data:`~latro_trl.markers.ANSWER_MARKERS` when both arguments are ``None``. Empty when the run
        has neither markers nor words before ``{answer}``: answers are then found by the fallbacks (``\\boxed{}``,
        the last number or option).
    """
    if stop_markers is None and answer_template is None:
        return ANSWER_MARKERS
    candidates = list(STOP_MARKERS if stop_markers is None else stop_markers)
    if answer_template is not None:
        candidates.append(answer_template.format(answer="\x00").split("\x00", 1)[0].strip())
    unique: dict[str, str] = {}
    for marker in candidates:
        if marker.strip():
            unique.setdefault(marker.casefold(), marker)
    return tuple(unique.values())


def _gold(row: Mapping[str, Any], task: Task, index: int | None = None, answer_column: str = "answer") -> str:
    """The row's canonical gold answer (a number string or a choice label), checked (``index`` names the row)."""
    where = "" if index is None else f"row {index}: "
    if task == "number":
        value = parse_number(row[answer_column])
        if value is None:
            raise ValueError(
                f"{where}{answer_column} {row[answer_column]!r} is not a number; use task='choice' for "
                "multiple-choice data."
            )
        return format_number(value)
    if "choices" not in row:
        raise ValueError(f"{where}task='choice' needs a 'choices' column (see latro_trl.data.load_arc).")
    label = str(row.get("answer_label") or row[answer_column]).strip()
    if label not in {choice_label for choice_label, _ in normalise_choices(row["choices"])}:
        raise ValueError(f"{where}gold label {label!r} is not one of its choices' labels.")
    return label


def answers_match(answer: str | None, gold: str, task: Task) -> bool:
    """Whether a parsed answer equals the gold: numerically for ``"number"``, by label for ``"choice"``."""
    if answer is None:
        return False
    return numbers_match(answer, gold) if task == "number" else answer == gold


def score_reply(
    text: str,
    row: Mapping[str, Any],
    task: Task,
    *,
    answer_column: str = "answer",
    markers: Sequence[str] = ANSWER_MARKERS,
) -> tuple[str | None, bool]:
    """Parse a reply and compare it with the row's gold answer.

    Args:
        text: the generated reply.
        row: the data set row (the gold answer; for ``task="choice"`` also ``choices`` and ideally ``answer_label``).
        task: ``"number"`` (GSM8K, synthetic) or ``"choice"`` (ARC).
        answer_column: the row's gold-answer column.
        markers: phrases after which the answer is read (see :func:`answer_markers`).

    Returns:
        ``(answer, correct)``: the canonical parsed answer (``None`` when none was found) and whether it is right.
    """
    if task == "number":
        value = extract_number(text, markers=markers)
        answer = None if value is None else format_number(value)
    else:
        answer = extract_choice(text, row["choices"], markers=markers)
    return answer, answers_match(answer, _gold(row, task, answer_column=answer_column), task)


def gold_answers(rows: Sequence[Mapping[str, Any]], task: Task = "number", answer_column: str = "answer") -> list[str]:
    """Each row's canonical gold answer, after checking the rows: there are some, with a ``prompt`` and the answer
    column, and each gold answer is one the task can score (the error names the row)."""
    if task not in ("number", "choice"):
        raise ValueError(f"task must be 'number' or 'choice', got {task!r}")
    if not rows:
        raise ValueError("the evaluation data set is empty; pass a few held-out questions.")
    missing = [column for column in ("prompt", answer_column) if column not in rows[0]]
    if missing:
        raise ValueError(
            f"the evaluation data set lacks column(s) {missing} (it has {sorted(rows[0])}); load it with the "
            "latro_trl.data loaders, or pass answer_column= naming the column with the gold answer."
        )
    return [_gold(row, task, index, answer_column) for index, row in enumerate(rows)]
