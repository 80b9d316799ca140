"""Up-front checks of what users hand the trainer, with errors that say what to change."""

from __future__ import annotations

import functools
import logging
import math
import numbers
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

import datasets
from trl.data_utils import is_conversational

logger = logging.getLogger(__name__)

# Checking every prompt's length is cheap (tokenizers are fast) but not free on million-row sets: look at this many.
_MAX_ROWS_CHECKED = 20_000
# Column names that other TRL recipes use for the gold answer (e.g. `solution` for accuracy_reward).
_ANSWER_LIKE_COLUMNS = {"solution", "answer", "answers", "label", "target", "gold", "final_answer", "ground_truth"}


def check_datasets(train_dataset: Any, eval_dataset: Any, answer_column: str) -> tuple[Any, Any]:
    """Check the training and evaluation sets before anything else touches them.

    Each must have rows, a ``prompt`` column and the answer column, and in every row (the first
    ``_MAX_ROWS_CHECKED``) a prompt of a supported shape and a gold answer that is text or a number. A streamed data
    set (``IterableDataset``) cannot be read ahead: it comes back wrapped so that each row is checked when drawn.

    Returns:
        ``(train_dataset, eval_dataset)``, to be used in place of the ones given.
    """
    checked = {
        name: check_dataset(dataset, answer_column, name)
        for name, dataset in named_datasets(train_dataset, eval_dataset)
    }
    train_dataset = checked.pop("train_dataset")
    if isinstance(eval_dataset, dict):
        eval_dataset = {key: checked[f"eval_dataset[{key!r}]"] for key in eval_dataset}
    elif eval_dataset is not None:
        eval_dataset = checked["eval_dataset"]
    return train_dataset, eval_dataset


def named_datasets(train_dataset: Any, eval_dataset: Any) -> list[tuple[str, Any]]:
    """Each data set with the name its errors use: ``train_dataset``, ``eval_dataset``, ``eval_dataset['key']``."""
    named = [("train_dataset", train_dataset)]
    if isinstance(eval_dataset, dict):
        named.extend((f"eval_dataset[{key!r}]", value) for key, value in eval_dataset.items())
    elif eval_dataset is not None:
        named.append(("eval_dataset", eval_dataset))
    return named


def check_dataset(dataset: Any, answer_column: str, name: str = "train_dataset") -> Any:
    """One data set's rows and columns (see :func:`check_datasets`); a streamed one comes back wrapped."""
    if not isinstance(dataset, datasets.Dataset | datasets.IterableDataset):
        raise ValueError(
            f"{name} is a {type(dataset).__name__}; LaTROTrainer takes a datasets.Dataset or IterableDataset. Convert "
            "it, e.g. Dataset.from_list(rows) or Dataset.from_pandas(frame)."
        )
    if hasattr(dataset, "__len__") and len(dataset) == 0:
        raise ValueError(f"{name} is empty (0 rows). {_EMPTY_FIX}")
    check_dataset_columns(dataset, answer_column, name)
    if not hasattr(dataset, "__len__"):  # an IterableDataset: check each row as it is drawn
        check = functools.partial(_check_drawn_row, answer_column=answer_column, name=name)
        return dataset.map(check, with_indices=True, features=getattr(dataset, "features", None))
    check_rows(dataset, answer_column, name)
    return dataset


def check_dataset_columns(dataset: Any, answer_column: str, name: str = "train_dataset") -> None:
    """The data set must have TRL's ``prompt`` column and the gold answer column."""
    columns = _column_names(dataset, name)
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


def check_rows(dataset: Any, answer_column: str, name: str = "train_dataset") -> None:
    """Every prompt of a supported shape, every gold answer present and a scalar, with the offending row numbers."""
    rows = range(min(len(dataset), _MAX_ROWS_CHECKED))
    head = dataset.select(rows) if hasattr(dataset, "select") else [dataset[i] for i in rows]
    grouped: dict[tuple[str, Problem], list[int]] = {}
    for column in ("prompt", answer_column):
        for row, value in zip(rows, _column(head, column), strict=True):
            if (problem := row_problem(column, value, answer_column)) is not None:
                grouped.setdefault((column, problem), []).append(row)
    if grouped:
        raise ValueError(
            "\n".join(
                f"{name} has {len(bad)} row(s) whose '{column}' is {problem.what} (rows {_shown(bad)}). {problem.fix}"
                for (column, problem), bad in grouped.items()
            )
        )


class Problem(NamedTuple):
    """What is wrong with a value of a row, in words, and the one-line fix."""

    what: str
    fix: str


def row_problem(column: str, value: Any, answer_column: str) -> Problem | None:
    """The problem with a row's ``prompt`` or gold answer (``answer_column``), or ``None``."""
    if column == "prompt":
        return prompt_problem(value)
    return answer_problem(value, answer_column)


def prompt_problem(prompt: Any) -> Problem | None:
    """What is wrong with a prompt, or ``None``: text, or a non-empty list of ``{'role', 'content'}`` messages."""
    if prompt is None or (isinstance(prompt, str) and not prompt.strip()):
        return Problem(_MISSING, f"Drop them first: {_drop('prompt')}.")
    if isinstance(prompt, str):
        return None
    if isinstance(prompt, Mapping):
        return Problem(
            "a single message, not a list of messages",
            "Wrap it in a list: dataset = dataset.map(lambda row: {'prompt': [row['prompt']]}).",
        )
    if not isinstance(prompt, list | tuple):
        return Problem(f"of type {type(prompt).__name__}, neither text nor a list of messages", _PROMPT_FIX)
    if not prompt:
        return Problem("an empty conversation", _PROMPT_FIX)
    if not all(
        isinstance(message, Mapping)
        and isinstance(message.get("role"), str)
        and isinstance(message.get("content"), str)
        for message in prompt
    ):
        return Problem("a conversation with a message that lacks a text 'role' or 'content'", _PROMPT_FIX)
    return None


def answer_problem(answer: Any, answer_column: str = "answer") -> Problem | None:
    """What is wrong with a gold answer, or ``None``: text or a finite number (not a bool: "The answer is True.")."""
    if is_missing_answer(answer):
        why = "Without a gold answer the model would be trained to write e.g. 'The answer is None.'."
        return Problem(_MISSING, f"{why} Drop them first: {_drop(answer_column)}.")
    if isinstance(answer, str) and "####" in answer:  # raw GSM8K: the whole worked solution, then "#### 18"
        return Problem(
            "a worked solution (it holds '####'), not the final answer",
            f"Keep what follows '####', e.g. dataset = dataset.map(lambda row: {{'{answer_column}': "
            f"row['{answer_column}'].split('####')[-1].strip()}}), or load GSM8K with latro_trl.data.load_gsm8k.",
        )
    number = isinstance(answer, numbers.Real) and not isinstance(answer, bool) and math.isfinite(answer)
    if isinstance(answer, str) or number:
        return None
    kind = type(answer).__name__
    what, convert = _ANSWER_FIXES.get(kind, _ANSWER_FIXES["other"])
    return Problem(
        f"of type {kind}, {what}", f"A gold answer is text or a number; {convert.format(column=answer_column)}"
    )


def is_missing_answer(answer: Any) -> bool:
    """``None``, blank text or NaN (what pandas writes for a missing value): there is no gold answer."""
    if isinstance(answer, float) and math.isnan(answer):
        return True
    return answer is None or (isinstance(answer, str) and not answer.strip())


def answer_as_text(answer: str | numbers.Real) -> str:
    """A gold answer as the answer template writes it: text as it is, numbers in plain decimal notation.

    ``18`` and ``18.0`` -> ``"18"``, ``2.5`` -> ``"2.5"``, ``1e-05`` -> ``"0.00001"`` (never ``"1e-05"``).
    """
    if isinstance(answer, str):
        return answer
    if isinstance(answer, numbers.Integral) or float(answer).is_integer():
        return str(int(answer))
    return format(Decimal(repr(float(answer))), "f")


def require_answer(answer: Any, answer_column: str) -> str:
    """The gold answer as text (:func:`answer_as_text`); a missing or non-scalar one is an error naming the fix.

    Called on every row drawn for training, which is where a streamed data set's rows are first seen.
    """
    problem = answer_problem(answer, answer_column)
    if problem is not None:
        what = "no gold answer" if problem.what == _MISSING else f"a gold answer {problem.what}"
        raise ValueError(f"A training row has {what} in '{answer_column}' ({answer!r}). {problem.fix}")
    return answer_as_text(answer)


def _check_drawn_row(row: Mapping[str, Any], index: int, *, answer_column: str, name: str) -> dict:
    """A streamed row, checked as it is drawn (``index`` counts the stream's rows); changes nothing."""
    for column in ("prompt", answer_column):
        value = row.get(column)
        if (problem := row_problem(column, value, answer_column)) is not None:
            if column == answer_column and problem.what == _MISSING:
                raise ValueError(f"{name} row {index} has no gold answer in '{column}' ({value!r}). {problem.fix}")
            raise ValueError(f"{name} row {index}: '{column}' is {problem.what} ({value!r}). {problem.fix}")
    return {}


_MISSING = "missing or blank"
_PROMPT_FIX = (
    "A prompt is text, or a non-empty list of messages with text 'role' and 'content' (e.g. [{'role': 'user', "
    "'content': 'What is 3 + 5?'}]); convert it, e.g. dataset = dataset.map(lambda row: {'prompt': "
    "str(row['prompt'])})."
)
# Gold answers of the wrong type: (what is wrong, how to convert them).
_ANSWER_FIXES = {
    "bool": (
        "not an answer",
        "write the text the model should answer, e.g. dataset = dataset.map(lambda row: "
        "{{'{column}': 'yes' if row['{column}'] else 'no'}}).",
    ),
    "list": (
        "not one answer",
        "keep one per row, e.g. dataset = dataset.map(lambda row: {{'{column}': row['{column}'][0]}}).",
    ),
    "dict": (
        "not one answer",
        "keep the field that holds it, e.g. dataset = dataset.map(lambda row: "
        "{{'{column}': row['{column}']['text']}}).",
    ),
    "float": (
        "not a finite number",
        "drop such rows, e.g. dataset = dataset.filter(lambda row: math.isfinite(row['{column}'])).",
    ),
    "other": (
        "not text or a number",
        "convert it, e.g. dataset = dataset.map(lambda row: {{'{column}': str(row['{column}'])}}).",
    ),
}
_EMPTY_FIX = (
    "Pass rows with a 'prompt' and a gold answer; check the split name and any filter applied before (e.g. "
    "print(len(dataset)))."
)


def _drop(column: str) -> str:
    return f"dataset = dataset.filter(lambda row: str(row['{column}']).strip() not in ('', 'None', 'nan'))"


def _column(rows: Any, column: str) -> list:
    return rows[column] if hasattr(rows, "column_names") else [row[column] for row in rows]


def _shown(rows: list[int]) -> str:
    return ", ".join(map(str, rows[:10])) + (", ..." if len(rows) > 10 else "")


def _column_names(dataset: Any, name: str) -> list[str]:
    columns = getattr(dataset, "column_names", None)
    if columns is None:  # an IterableDataset whose features are unknown until read
        try:
            columns = list(next(iter(dataset)).keys())
        except StopIteration:
            raise ValueError(f"{name} is empty (it yields no rows). {_EMPTY_FIX}") from None
    return list(columns)


def check_chat_template(tokenizer, first_prompt) -> None:
    if is_conversational({"prompt": first_prompt}) and getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(
            "The prompts are conversations (lists of {'role', 'content'} messages) but the tokenizer has no chat "
            "template, so they cannot be turned into text. Use a chat/instruct model, set `tokenizer.chat_template`, "
            "or give plain-text prompts (strings) instead."
        )


def check_enough_rows(dataset: Any, questions_per_batch: int, name: str = "train_dataset") -> None:
    """One generation batch takes ``questions_per_batch`` distinct rows; TRL's sampler drops a batch it cannot fill,
    so a smaller data set would train no step at all, silently."""
    if hasattr(dataset, "__len__") and len(dataset) < questions_per_batch:
        raise ValueError(
            f"{name} has {len(dataset)} row(s), fewer than the {questions_per_batch} questions one generation batch "
            "takes (generation_batch_size / num_generations), so no training step would run. Add rows, or lower "
            "per_device_train_batch_size (or gradient_accumulation_steps) so that the generation batch holds at most "
            f"{len(dataset)} question(s) x num_generations rationales."
        )


def check_prompt_lengths(
    dataset: Any,
    tokenizer: Any,
    max_prompt_length: int | None,
    chat_template_kwargs: dict,
    name: str = "train_dataset",
) -> None:
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
        share = "All" if len(too_long) == len(rows) else f"{len(too_long)} of {len(rows)}"
        longest = max(length for _, length in too_long)
        raise ValueError(
            f"{name}: {share} prompt(s) are longer than max_prompt_length={max_prompt_length} ({examples}). Raise "
            f"max_prompt_length (to {longest} for all of them; memory grows with it), or drop them first, e.g. "
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
