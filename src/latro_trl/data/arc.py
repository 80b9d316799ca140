"""ARC-Challenge (AI2 science multiple choice) in the columns LaTRO, SFT and evaluation use.

Columns: ``prompt`` (the stem, the options one per line as ``"A) text"``, then the trigger), ``answer`` (by default
the correct label, so the trainer's target reads ``"The answer is B."``; see ``answer_format``), ``answer_label``
(always the label: evaluation scores against it), ``answer_text`` (the correct option's text, which evaluation also
accepts), ``choices`` (``[{"label", "text"}, ...]`` with the original labels, ``A``-``E`` or ``1``-``4``),
``question`` (the stem), ``id``, ``rationale`` (``""``: ARC has none) and ``completion`` (the direct-answer SFT
target, as in the paper's ARC SFT baseline).

The paper writes ARC's gold answer as the option text; ``answer_format="text"`` or ``"label_text"`` reproduces that.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from datasets import Dataset

from ._io import read_jsonl, resolve_split_file
from .prompts import DEFAULT_TRIGGER, assistant_completion, user_prompt

ARC_HUB_ID = "allenai/ai2_arc"
ARC_HUB_CONFIG = "ARC-Challenge"
AnswerFormat = Literal["label", "label_text", "text"]
_SPLIT_ALIASES = {"validation": ("dev",), "dev": ("validation",)}


def _parse_row(row: Mapping[str, Any]) -> tuple[str, list[dict[str, str]], str]:
    """``(stem, choices, answer_key)`` from a row in AI2's original layout or the hub's flat layout."""
    question = row.get("question")
    if isinstance(question, Mapping):  # original: {"question": {"stem", "choices": [{"text", "label"}]}}
        stem, raw_choices = question.get("stem"), question.get("choices")
    else:  # flat (hub): {"question": str, "choices": {"text": [...], "label": [...]}}
        stem, raw_choices = question, row.get("choices")
    if isinstance(raw_choices, Mapping):
        raw_choices = [
            {"label": label, "text": text}
            for label, text in zip(raw_choices["label"], raw_choices["text"], strict=True)
        ]
    if not isinstance(stem, str) or not raw_choices or "answerKey" not in row:
        raise ValueError(
            "not an ARC row: expected AI2's layout {question: {stem, choices}, answerKey} or the hub's "
            "{question, choices: {text, label}, answerKey}"
        )
    choices = [{"label": str(c["label"]).strip(), "text": str(c["text"]).strip()} for c in raw_choices]
    return stem.strip(), choices, str(row["answerKey"]).strip()


def format_choices(choices: list[dict[str, str]]) -> str:
    """The options one per line, ``"A) text"``, in the given order with the original labels."""
    return "\n".join(f"{choice['label']}) {choice['text']}" for choice in choices)


def arc_example(
    row: Mapping[str, Any],
    trigger: str | None = DEFAULT_TRIGGER,
    answer_format: AnswerFormat = "label",
) -> dict[str, Any]:
    """One row in the package's columns (see the module docstring) from a raw ARC row of either layout.

    Raises:
        ValueError: if the row is in neither layout or its ``answerKey`` is not one of its labels.
    """
    stem, choices, key = _parse_row(row)
    texts = {choice["label"]: choice["text"] for choice in choices}
    if key not in texts:
        raise ValueError(f"ARC row {row.get('id', '?')}: answerKey {key!r} is not one of the labels {list(texts)}")
    text = texts[key].rstrip(" .")  # the template adds the full stop: "The answer is B) blue."
    answer = {"label": key, "label_text": f"{key}) {text}", "text": text}[answer_format]
    return {
        "prompt": user_prompt(f"{stem}\n\n{format_choices(choices)}", trigger),
        "answer": answer,
        "answer_label": key,
        "answer_text": texts[key],
        "choices": choices,
        "question": stem,
        "id": str(row.get("id", "")),
        "rationale": "",
        "completion": assistant_completion("", answer),
    }


def load_arc(
    split: str = "train",
    path: str | os.PathLike[str] | None = None,
    trigger: str | None = DEFAULT_TRIGGER,
    answer_format: AnswerFormat = "label",
    limit: int | None = None,
) -> Dataset:
    """Load ARC-Challenge with the package's columns.

    Args:
        split: ``"train"``, ``"validation"`` (``"dev"`` is the same) or ``"test"``.
        path: a local JSONL file or a directory holding ``{split}.jsonl`` (``dev.jsonl`` is found for
            ``"validation"``), in AI2's original layout or the hub's flat one (detected per row). ``None`` downloads
            ``allenai/ai2_arc`` (config ``"ARC-Challenge"``) from the Hugging Face Hub.
        trigger: appended to each question; ``None`` for none.
        answer_format: what the ``answer`` column (the trained target ``"The answer is {answer}."``) holds:
            ``"label"`` (``"B"``, default), ``"label_text"`` (``"B) blue"``) or ``"text"`` (``"blue"``, the paper's).
        limit: keep only the first ``limit`` rows.

    Returns:
        A :class:`datasets.Dataset`.

    Example:
        >>> dev = load_arc("validation", path="data/arc_challenge")  # doctest: +SKIP
        >>> dev[0]["answer"], [c["label"] for c in dev[0]["choices"]]  # doctest: +SKIP
        ('C', ['A', 'B', 'C', 'D'])
    """
    if answer_format not in ("label", "label_text", "text"):
        raise ValueError(f"answer_format must be 'label', 'label_text' or 'text', got {answer_format!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    if path is not None:
        source = resolve_split_file(path, split, _SPLIT_ALIASES.get(split, ()))
        rows = read_jsonl(source)
    else:
        from datasets import load_dataset

        hub_split = "validation" if split == "dev" else split
        source = f"{ARC_HUB_ID} ({ARC_HUB_CONFIG}, {hub_split})"
        rows = list(load_dataset(ARC_HUB_ID, ARC_HUB_CONFIG, split=hub_split))
    rows = rows[:limit] if limit is not None else rows
    examples = []
    for index, row in enumerate(rows):
        try:
            examples.append(arc_example(row, trigger, answer_format))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{source} row {index}: {error}") from error
    if not examples:
        raise ValueError(f"{source} holds no examples.")
    return Dataset.from_list(examples)
