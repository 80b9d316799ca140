"""Reading local JSONL files for the data loaders."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def resolve_split_file(path: str | os.PathLike[str], split: str, aliases: Sequence[str] = ()) -> Path:
    """The JSONL file of a split: ``path`` itself if it is a file, else ``path/{split}.jsonl`` (or an alias).

    Args:
        path: a ``.jsonl`` file, or a directory holding ``{split}.jsonl``.
        split: the split name, e.g. ``"train"``.
        aliases: other file stems to try in a directory, e.g. ``("dev",)`` for ``"validation"``.

    Raises:
        ValueError: if nothing matching exists.
    """
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        for stem in (split, *aliases):
            candidate = path / f"{stem}.jsonl"
            if candidate.is_file():
                return candidate
        names = ", ".join(f"{stem}.jsonl" for stem in (split, *aliases))
        raise ValueError(f"{path} has no {names}; pass the JSONL file itself or a directory that holds it.")
    raise ValueError(f"{path} does not exist; pass a JSONL file or a directory with {split}.jsonl.")


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSONL file (blank lines skipped).

    Raises:
        ValueError: naming the file and line of a line that is not a JSON object.
    """
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number} is not valid JSON ({error.msg}).") from error
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{number} is not a JSON object.")
            rows.append(row)
    return rows
