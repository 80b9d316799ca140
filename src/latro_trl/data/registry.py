"""The named data sets, in one table: name -> loader, answer type, splits. Every front end loads through here.

``load_named("gsm8k", "train", path=...)`` gives the columns LaTRO, SFT and evaluation share (see
:mod:`latro_trl.data`); ``task_type(name)`` says how its answers are compared (``"number"`` or ``"choice"``). A path
ending in ``.jsonl``/``.json`` is a user's own file with ``prompt`` and ``answer`` columns, read as it is.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datasets import Dataset


@dataclass(frozen=True)
class DataSource:
    """One named data set.

    Attributes:
        loader: ``"module:function"`` under :mod:`latro_trl.data`, imported on first use.
        task: ``"number"`` (numeric answers) or ``"choice"`` (multiple choice, scored by label).
        splits: the split names it has.
        selection_split: where to measure accuracy during training, so that ``test`` stays for the final number
            (GSM8K has no validation split: hold part of ``train`` out if checkpoint selection matters).
        about: one line for ``--help``.
    """

    loader: str
    task: str
    splits: tuple[str, ...]
    selection_split: str
    about: str


DATA_SOURCES: dict[str, DataSource] = {
    "gsm8k": DataSource("gsm8k:load_gsm8k", "number", ("train", "test"), "test", "grade-school math, openai/gsm8k"),
    "arc_challenge": DataSource(
        "arc:load_arc",
        "choice",
        ("train", "validation", "test"),
        "validation",
        "science multiple choice, allenai/ai2_arc",
    ),
    "synthetic": DataSource(
        "synthetic:load_synthetic",
        "number",
        ("train", "validation", "test"),
        "validation",
        "offline arithmetic word problems, no download",
    ),
}


def is_local_file(name: str) -> bool:
    return name.endswith((".jsonl", ".json"))


def task_type(name: str) -> str:
    """``"choice"`` for multiple choice, ``"number"`` for numeric answers (and a user's own file)."""
    return "number" if is_local_file(name) else source(name).task


def selection_split(name: str) -> str:
    """Where to measure accuracy while training on ``name`` (a user's own file: ``test``)."""
    return "test" if is_local_file(name) else source(name).selection_split


def source(name: str) -> DataSource:
    """The registry entry of ``name``, or an error that lists the choices."""
    if name not in DATA_SOURCES:
        raise ValueError(
            f"Unknown data set {name!r}: use one of {', '.join(DATA_SOURCES)}, or a local .jsonl file with 'prompt' "
            "and 'answer' columns."
        )
    return DATA_SOURCES[name]


def load_named(
    name: str,
    split: str,
    *,
    path: str | None = None,
    limit: int | None = None,
    answer_format: str = "label",
    synthetic: dict[str, Any] | None = None,
) -> Dataset:
    """Load one split of a named data set (or a local ``.jsonl`` file) with ``prompt`` and ``answer`` columns.

    Args:
        name: a key of :data:`DATA_SOURCES`, or a ``.jsonl``/``.json`` file (then ``split`` is ignored).
        split: a split of that data set.
        path: a local folder (or file) with the original-format split files; ``None``: the Hugging Face Hub.
        limit: keep the first N rows (synthetic: generate N; default 2000).
        answer_format: ARC only: the answer as ``label``, ``label_text`` or ``text`` (the paper's).
        synthetic: synthetic only: the generator's knobs (``seed``, ``min_steps``, ``max_steps``, ``max_value``).
    """
    if is_local_file(name):
        from datasets import load_dataset

        dataset = load_dataset("json", data_files=name, split="train")
        return dataset.select(range(min(limit, len(dataset)))) if limit else dataset
    entry = source(name)
    if split not in entry.splits and not (name == "arc_challenge" and split == "dev"):
        raise ValueError(f"{name} has no split {split!r}; its splits are {', '.join(entry.splits)}.")
    module, function = entry.loader.split(":")
    load = getattr(importlib.import_module(f"latro_trl.data.{module}"), function)
    if name == "synthetic":
        return load(split, n=limit or 2000, **(synthetic or {}))
    if name == "arc_challenge":
        return load(split, path=path, answer_format=answer_format, limit=limit)
    return load(split, path=path, limit=limit)
