"""GSM8K (grade-school math word problems) in the columns LaTRO, SFT and evaluation use.

Every loader in :mod:`latro_trl.data` returns the same columns:

- ``prompt``: conversational, ``[{"role": "user", "content": question + "\\n\\n" + trigger}]``;
- ``answer``: the gold answer as a short canonical string (``"18"``); the trainer writes ``"The answer is 18."``;
- ``question``: the bare question;
- ``rationale``: the gold reasoning (GSM8K calculator annotations ``<<48/2=24>>`` and the ``####`` line removed);
- ``completion``: the SFT target in TRL's prompt/completion format,
  ``[{"role": "assistant", "content": rationale + " The answer is 18."}]``.
"""

from __future__ import annotations

import os
import re
from typing import Any

from datasets import Dataset

from ._io import read_jsonl, resolve_split_file
from .answers import gsm8k_gold
from .prompts import DEFAULT_TRIGGER, assistant_completion, user_prompt

GSM8K_HUB_ID = "openai/gsm8k"
GSM8K_HUB_CONFIG = "main"
_ANNOTATION_RE = re.compile(r"<<[^<>]*>>")


def gsm8k_rationale(answer_field: str) -> str:
    """The gold rationale of a GSM8K ``answer`` field: annotations ``<<...>>`` and the ``#### n`` line removed.

    Args:
        answer_field: e.g. ``"She sells 16 - 3 = <<16-3=13>>13 eggs.\\n#### 13"``.

    Returns:
        e.g. ``"She sells 16 - 3 = 13 eggs."``.
    """
    body = answer_field.rsplit("####", 1)[0]
    lines = [_ANNOTATION_RE.sub("", line).strip() for line in body.strip().splitlines()]
    return "\n".join(line for line in lines if line)


def gsm8k_example(question: str, answer_field: str, trigger: str | None = DEFAULT_TRIGGER) -> dict[str, Any]:
    """One row in the package's columns from a GSM8K ``(question, answer)`` pair (see the module docstring)."""
    answer = gsm8k_gold(answer_field)
    rationale = gsm8k_rationale(answer_field)
    return {
        "prompt": user_prompt(question, trigger),
        "answer": answer,
        "question": question.strip(),
        "rationale": rationale,
        "completion": assistant_completion(rationale, answer),
    }


def load_gsm8k(
    split: str = "train",
    path: str | os.PathLike[str] | None = None,
    trigger: str | None = DEFAULT_TRIGGER,
    limit: int | None = None,
) -> Dataset:
    """Load GSM8K with ``prompt``/``answer``/``question``/``rationale``/``completion`` columns.

    Args:
        split: ``"train"`` or ``"test"``.
        path: a local JSONL file in the original format (``question``, ``answer`` ending in ``#### n``) or a
            directory holding ``{split}.jsonl``. ``None`` downloads ``openai/gsm8k`` (config ``"main"``) from the
            Hugging Face Hub.
        trigger: appended to each question (see :data:`~latro_trl.data.prompts.DEFAULT_TRIGGER`); ``None`` for none.
        limit: keep only the first ``limit`` rows.

    Returns:
        A :class:`datasets.Dataset`.

    Example:
        >>> train = load_gsm8k("train", path="data/gsm8k")  # doctest: +SKIP
        >>> train[0]["answer"], train[0]["prompt"][0]["role"]  # doctest: +SKIP
        ('72', 'user')
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    if path is not None:
        source = resolve_split_file(path, split)
        rows = read_jsonl(source)
    else:
        from datasets import load_dataset

        source = f"{GSM8K_HUB_ID} ({GSM8K_HUB_CONFIG}, {split})"
        rows = list(load_dataset(GSM8K_HUB_ID, GSM8K_HUB_CONFIG, split=split))
    rows = rows[:limit] if limit is not None else rows
    examples = []
    for index, row in enumerate(rows):
        if "question" not in row or "answer" not in row:
            raise ValueError(f"{source} row {index} lacks 'question'/'answer' fields (found {sorted(row)}).")
        examples.append(gsm8k_example(row["question"], row["answer"], trigger))
    if not examples:
        raise ValueError(f"{source} holds no examples.")
    return Dataset.from_list(examples)
