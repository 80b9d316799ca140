"""Up-front checks of what users hand the trainer, with errors that say what to change."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from trl.data_utils import is_conversational

logger = logging.getLogger(__name__)

# Checking every prompt's length is cheap (tokenizers are fast) but not free on million-row sets: look at this many.
_MAX_ROWS_CHECKED = 20_000
# Column names that other TRL recipes use for the gold answer (e.g. `solution` for accuracy_reward).
_ANSWER_LIKE_COLUMNS = {"solution", "answer", "answers", "label", "target", "gold", "final_answer", "ground_truth"}


def check_dataset_columns(dataset, answer_column: str, name: str = "train_dataset") -> None:
    """The data set must have TRL's ``prompt`` column and the gold answer column."""
    columns = _column_names(dataset)
    if columns is None:
        return
    missing = [column for column in ("prompt", answer_column) if column not in columns]
    if not missing:
        return
    hints = []
    if "prompt" in missing:
        hints.append(
            "'prompt' holds the question, as text or as a conversation ([{'role': 'user', 'content': ...}]); "
            "e.g. dataset = dataset.rename_column('question', 'prompt')"
        )
    if answer_column in missing:
        candidates = [c for c in columns if c.lower() in _ANSWER_LIKE_COLUMNS]
        guess = f" (this data set has {candidates[0]!r}: answer_column={candidates[0]!r}?)" if candidates else ""
        hints.append(
            f"'{answer_column}' holds the gold answer (e.g. '18'); rename your column to '{answer_column}' or set "
            f"LaTROConfig(answer_column=...){guess}. latro_trl.data has loaders for GSM8K and ARC-Challenge that "
            "build both"
        )
    raise ValueError(f"{name} lacks column(s) {missing} (it has {columns}). " + "; ".join(hints) + ".")


def check_answers(dataset, answer_column: str, name: str = "train_dataset") -> None:
    """Every gold answer must be present and non-blank: ``None`` would be trained as the text "None"."""
    if not hasattr(dataset, "__len__"):
        return  # an IterableDataset: each answer is checked when its row is drawn (``require_answer``)
    answers = dataset[answer_column] if hasattr(dataset, "column_names") else [row[answer_column] for row in dataset]
    bad_rows = [row for row, answer in enumerate(answers) if is_missing_answer(answer)]
    if bad_rows:
        shown = ", ".join(map(str, bad_rows[:10])) + (", ..." if len(bad_rows) > 10 else "")
        raise ValueError(
            f"{name} has {len(bad_rows)} row(s) whose '{answer_column}' is missing or blank (rows {shown}). Without a "
            "gold answer the model would be trained to write e.g. 'The answer is None.'. Drop them first: "
            f"dataset = dataset.filter(lambda row: row['{answer_column}'] is not None and "
            f"str(row['{answer_column}']).strip() != '')."
        )


def is_missing_answer(answer) -> bool:
    return answer is None or not str(answer).strip()


def require_answer(answer, answer_column: str) -> str:
    """The gold answer as text; a missing one (seen only at training time in a streamed data set) is an error."""
    if is_missing_answer(answer):
        raise ValueError(
            f"A training row has no gold answer in '{answer_column}' ({answer!r}). Filter such rows out of the data "
            f"set: dataset.filter(lambda row: row['{answer_column}'] is not None and "
            f"str(row['{answer_column}']).strip() != '')."
        )
    return str(answer)


def _column_names(dataset) -> list[str] | None:
    columns = getattr(dataset, "column_names", None)
    if columns is None:  # an IterableDataset whose features are unknown until read
        try:
            columns = list(next(iter(dataset)).keys())
        except StopIteration:
            raise ValueError("The data set is empty.") from None
    return list(columns)


def check_chat_template(tokenizer, first_prompt) -> None:
    if is_conversational({"prompt": first_prompt}) and getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(
            "The prompts are conversations (lists of {'role', 'content'} messages) but the tokenizer has no chat "
            "template, so they cannot be turned into text. Use a chat/instruct model, set `tokenizer.chat_template`, "
            "or give plain-text prompts (strings) instead."
        )


def check_prompt_lengths(dataset, tokenizer, max_prompt_length: int | None, chat_template_kwargs: dict) -> None:
    """Reject prompts that the chat template makes longer than ``max_prompt_length`` tokens."""
    if max_prompt_length is None or not hasattr(dataset, "__len__"):
        return
    rows = range(min(len(dataset), _MAX_ROWS_CHECKED))
    prompts = dataset.select(rows)["prompt"] if hasattr(dataset, "select") else [dataset[i]["prompt"] for i in rows]
    too_long = [
        (row, length)
        for row, length in zip(rows, prompt_lengths(prompts, tokenizer, chat_template_kwargs), strict=True)
        if length > max_prompt_length
    ]
    if too_long:
        examples = ", ".join(f"row {row}: {length} tokens" for row, length in too_long[:5])
        raise ValueError(
            f"{len(too_long)} prompt(s) are longer than max_prompt_length={max_prompt_length} ({examples}). Raise "
            "max_prompt_length (memory grows with it), or drop them first, e.g. "
            "dataset.filter(lambda row: len(tokenizer.apply_chat_template(row['prompt'])) <= limit)."
        )


def prompt_lengths(prompts: Sequence, tokenizer, chat_template_kwargs: dict) -> list[int]:
    if not prompts:
        return []
    if is_conversational({"prompt": prompts[0]}):
        encoded = tokenizer.apply_chat_template(
            list(prompts), add_generation_prompt=True, tokenize=True, return_dict=True, **chat_template_kwargs
        )["input_ids"]
    else:
        encoded = tokenizer(list(prompts))["input_ids"]
    return [len(ids) for ids in encoded]


def check_stop_markers(tokenizer, stop_markers: Sequence[str]) -> None:
    """Every marker must survive an encode/decode round trip, or the model could never write it."""
    unreachable = [
        marker
        for marker in stop_markers
        if marker not in tokenizer.decode(tokenizer(marker, add_special_tokens=False)["input_ids"])
    ]
    if unreachable:
        raise ValueError(
            f"Stop marker(s) {unreachable} cannot be produced by this tokenizer (they do not survive encode/decode, "
            "e.g. characters outside its vocabulary), so rationales would never stop at them. Remove them from "
            "stop_markers or use markers written with the tokenizer's vocabulary."
        )
