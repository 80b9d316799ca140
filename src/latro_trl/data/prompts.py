"""The prompt trigger and the conversational columns shared by data preparation, training and evaluation.

One copy of each string lives here so that a model is evaluated with exactly the prompt it was trained on.
"""

from __future__ import annotations

from ..markers import answer_text

DEFAULT_TRIGGER = 'Let\'s think step by step and end your reply with "The answer is <answer>."'
"""Appended to every question (after a blank line) to elicit a rationale that ends in a parsable answer."""


def format_question(question: str, trigger: str | None = DEFAULT_TRIGGER) -> str:
    """Append the trigger to a question.

    Args:
        question: the question text (for multiple choice, with the options already listed).
        trigger: the instruction appended after a blank line; ``None`` or ``""`` leaves the question as it is.

    Returns:
        The user message text.

    Example:
        >>> format_question("What is 2 + 3?", trigger="Let's think step by step.")
        "What is 2 + 3?\\n\\nLet's think step by step."
    """
    question = question.strip()
    return f"{question}\n\n{trigger.strip()}" if trigger else question


def user_prompt(question: str, trigger: str | None = DEFAULT_TRIGGER) -> list[dict[str, str]]:
    """The conversational ``prompt`` column value: one user turn holding the question and the trigger."""
    return [{"role": "user", "content": format_question(question, trigger)}]


def assistant_completion(rationale: str, answer: str) -> list[dict[str, str]]:
    """The conversational ``completion`` column value (TRL prompt/completion format) for the SFT baseline.

    Args:
        rationale: the gold reasoning, or ``""`` to answer directly.
        answer: the gold answer as it should appear in :data:`ANSWER_TEMPLATE`.
    """
    rationale = rationale.strip()
    content = f"{rationale} {answer_text(answer)}" if rationale else answer_text(answer)
    return [{"role": "assistant", "content": content}]
