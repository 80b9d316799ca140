"""The named data sets, in one table: name -> loader, answer type, splits, and the options each loader takes.
Every front end (``latro train``/``eval``, bench/, scripts/, experiments/) loads through here.

``load_named("gsm8k", "train", path=...)`` gives the columns LaTRO, SFT and evaluation share (see
:mod:`latro_trl.data`); ``task_type(name)`` says how its answers are compared (``"number"`` or ``"choice"``).

One meaning per input path:

- a **name** ending in ``.jsonl``/``.json`` is a file of your own with ``prompt`` and ``answer`` columns, read as it
  is (``split`` is ignored);
- ``path=`` is where a *named* data set's original-format files are (GSM8K's ``question``/``answer ... #### n``
  rows, AI2's ARC layout): a folder with ``{split}.jsonl`` or the split's file itself.

So ``load_named("test.jsonl", ...)`` and ``load_named("gsm8k", "test", path="test.jsonl")`` read the same file two
ways on purpose: the name says which format it is in.

Each :class:`DataSource` declares the keyword options its loader takes besides ``split``, ``path`` and ``limit``
(ARC: ``answer_format``; synthetic: the generator's knobs) and the other names its loader accepts for a split
(ARC: ``dev``). ``load_named`` rejects an option the source does not declare, so a typo does not vanish.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datasets import Dataset


@dataclass(frozen=True)
class DataSource:
    """One named data set.

    Attributes:
        loader: ``"module:function"`` under :mod:`latro_trl.data`, imported on first use. It is called as
            ``function(split, path=..., <size_keyword>=..., **options)`` (no ``path`` when ``reads_files`` is off).
        task: ``"number"`` (numeric answers) or ``"choice"`` (multiple choice, scored by label).
        splits: the split names it has.
        selection_split: where to measure accuracy during training, so that ``test`` stays for the final number
            (GSM8K has no validation split: hold part of ``train`` out if checkpoint selection matters).
        about: one line for ``--help``.
        options: the keyword options its loader takes besides split, path and size.
        split_aliases: other split names its loader accepts (ARC's ``dev`` is ``validation``).
        reads_files: whether it reads ``path`` (a generated set reads nothing).
        size_keyword: the loader's argument for "how many rows" (``limit``: keep the first N; ``n``: generate N).
        default_size: the size when none is asked (a generator needs one).
    """

    loader: str
    task: str
    splits: tuple[str, ...]
    selection_split: str
    about: str
    options: tuple[str, ...] = ()
    split_aliases: tuple[str, ...] = ()
    reads_files: bool = True
    size_keyword: str = "limit"
    default_size: int | None = None

    def pick_options(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The options this source declares, taken from ``values`` (say, every data flag of a command line);
        keys it does not declare and values that are ``None`` are left out, so the loader's defaults apply."""
        return {key: values[key] for key in self.options if values.get(key) is not None}

    def load(self, name: str, split: str, *, path: str | None = None, limit: int | None = None, **options: Any):
        """Call the loader; ``name`` is only for messages. See :func:`load_named`."""
        if split not in self.splits and split not in self.split_aliases:
            raise ValueError(f"{name} has no split {split!r}; its splits are {', '.join(self.splits)}.")
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            takes = ", ".join(self.options) if self.options else "no options"
            raise ValueError(f"{name} takes no option {', '.join(map(repr, unknown))}; its loader takes {takes}.")
        if path is not None and not self.reads_files:
            raise ValueError(f"{name} is generated and reads no files; leave the data path unset.")
        module, function = self.loader.split(":")
        loader = getattr(importlib.import_module(f"latro_trl.data.{module}"), function)
        size = limit if limit is not None else self.default_size
        if self.reads_files:
            options["path"] = path
        return loader(split, **{self.size_keyword: size}, **options)


DATA_SOURCES: dict[str, DataSource] = {
    "gsm8k": DataSource("gsm8k:load_gsm8k", "number", ("train", "test"), "test", "grade-school math, openai/gsm8k"),
    "arc_challenge": DataSource(
        "arc:load_arc",
        "choice",
        ("train", "validation", "test"),
        "validation",
        "science multiple choice, allenai/ai2_arc",
        options=("answer_format",),
        split_aliases=("dev",),
    ),
    "synthetic": DataSource(
        "synthetic:load_synthetic",
        "number",
        ("train", "validation", "test"),
        "validation",
        "offline arithmetic word problems, no download",
        options=("seed", "min_steps", "max_steps", "max_value", "max_factor", "max_result"),
        reads_files=False,
        size_keyword="n",
        default_size=2000,
    ),
}


def is_local_file(name: str) -> bool:
    """Whether ``name`` is a file of your own (``.jsonl``/``.json``, ``prompt`` and ``answer`` columns)."""
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
    answer_format: str | None = None,
    synthetic: Mapping[str, Any] | None = None,
    **options: Any,
) -> Dataset:
    """Load one split of a named data set (or a file of your own) with ``prompt`` and ``answer`` columns.

    Args:
        name: a key of :data:`DATA_SOURCES`, or a ``.jsonl``/``.json`` file with ``prompt`` and ``answer`` columns
            (then ``split`` is ignored).
        split: a split of that data set (or one of its ``split_aliases``).
        path: a local folder (or file) with the original-format split files; ``None``: the Hugging Face Hub.
        limit: keep the first N rows (a generated set: generate N; synthetic's default is 2000).
        answer_format, synthetic: the older spelling of options, kept for callers that pass every data flag
            whatever the name: each is used where ``name``'s source declares it and ignored elsewhere.
        **options: options of ``name``'s loader, as its :class:`DataSource` declares them (ARC: ``answer_format``;
            synthetic: ``seed``, ``min_steps``, ``max_steps``, ...). An undeclared one raises ``ValueError``.

    Example:
        >>> rows = load_named("synthetic", "test", limit=4, seed=1, max_steps=2)
        >>> len(rows), sorted(rows.column_names)[:2]
        (4, ['answer', 'completion'])
    """
    if is_local_file(name):
        if options:
            raise ValueError(f"A file of your own ({name}) takes no loader options; got {', '.join(options)}.")
        from datasets import load_dataset

        dataset = load_dataset("json", data_files=name, split="train")
        return dataset.select(range(min(limit, len(dataset)))) if limit else dataset
    entry = source(name)
    older = entry.pick_options({"answer_format": answer_format, **(synthetic or {})})
    return entry.load(name, split, path=path, limit=limit, **{**older, **options})
