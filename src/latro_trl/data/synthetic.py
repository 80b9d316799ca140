"""Seeded, offline multi-step arithmetic word problems with gold rationales.

Made for small models and CPU runs: a person starts with some items and a few steps add (``+``), take away (``-``)
or multiply (``*``, "doubles") them. For example::

    Mia has 7 apples. Mia buys 5 more apples. Then Mia gives 3 apples to a friend. How many apples does Mia have now?
    rationale: Mia starts with 7 apples. Mia buys 5 more, so 7 + 5 = 12. Mia gives away 3, so 12 - 3 = 9.
    answer: 9

Splits are decided by a hash of the question text (80% train, 10% validation, 10% test), so they never share a
question, whatever the seeds or knobs; within a split, problems are distinct. The rows have GSM8K's columns
(``prompt``, ``answer``, ``question``, ``rationale``, ``completion``) plus ``num_steps``.

Distinct text is not distinct arithmetic: "Mia has 7 apples ... buys 5" and "Tom has 7 shells ... finds 5" differ
only in names and items, and the hash puts them in different splits. :func:`arithmetic_signature` is what the
answer depends on (the start value and each operation with its operand), read from the generator's structured
problem; ``exclude_signatures`` keeps a draw clear of another draw's arithmetic (a clean test split: see
:func:`signatures`), ``exclude_questions`` clear of given question texts (problems scored before).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from datasets import Dataset

from .prompts import DEFAULT_TRIGGER, assistant_completion, user_prompt

_MAX_CONSECUTIVE_MISSES = 20_000  # draws without a new problem before the knobs are declared too narrow
SPLIT_FRACTIONS: dict[str, float] = {"train": 0.8, "validation": 0.1, "test": 0.1}
OPERATIONS = ("+", "-", "*")
NAMES = ("Mia", "Tom", "Ava", "Leo", "Sara", "Ben", "Lily", "Omar", "Nina", "Sam", "Zoe", "Max", "Emma", "Raj")
ITEMS = ("apples", "marbles", "stickers", "pencils", "cookies", "books", "coins", "shells", "cards", "stamps")
_ADD = (
    ("buys {x} more {items}", "buys {x} more"),
    ("finds {x} more {items}", "finds {x} more"),
    ("gets {x} more {items} from a friend", "gets {x} more"),
)
_SUB = (
    ("gives {x} {items} to a friend", "gives away {x}"),
    ("loses {x} {items}", "loses {x}"),
    ("sells {x} {items}", "sells {x}"),
)
_TIMES = {2: "doubles", 3: "triples"}

# What an answer depends on: the start value and the operations in order, each with its operand ("*": the factor).
Signature = tuple[int, tuple[tuple[str, int], ...]]


def arithmetic_signature(problem: Mapping[str, Any]) -> Signature:
    """The arithmetic of a generated problem (``start`` and ``ops``, as :func:`make_arithmetic_problems` and
    :func:`latro_trl.data.reworded.make_reworded_problems` record them): two problems with the same signature ask the
    same computation in other words, whatever the names, items or scene.

    Example:
        >>> problem = make_arithmetic_problems(1, seed=0, min_steps=1, max_steps=1)[0]
        >>> arithmetic_signature(problem) == (problem["start"], tuple(tuple(op) for op in problem["ops"]))
        True
    """
    return int(problem["start"]), tuple((str(op), int(operand)) for op, operand in problem["ops"])


def signatures(problems: Iterable[Mapping[str, Any]]) -> set[Signature]:
    """The set of :func:`arithmetic_signature` of ``problems``."""
    return {arithmetic_signature(problem) for problem in problems}


def _noun(x: int, item: str) -> str:
    """``"apple"`` for 1, else ``"apples"`` (every name in :data:`ITEMS` is a plain plural in -s)."""
    return item[:-1] if x == 1 else item


def split_of(question: str) -> str:
    """The split a question belongs to, from a hash of its text (stable across runs and Python versions)."""
    point = int.from_bytes(hashlib.sha256(question.encode("utf-8")).digest()[:8], "big") / 2**64
    cumulative = 0.0
    for split, fraction in SPLIT_FRACTIONS.items():
        cumulative += fraction
        if point < cumulative:
            return split
    return "test"


def _step(
    rng: random.Random,
    value: int,
    name: str,
    item: str,
    operations: Sequence[str],
    max_value: int,
    max_factor: int,
    max_result: int,
) -> tuple[int, str, str, tuple[str, int]] | None:
    """One operation on ``value``: (new value, question sentence, rationale sentence, (operation, operand)), or None
    if none fits."""
    valid = [
        op
        for op in operations
        if (op == "+" and value < max_result)
        or (op == "-" and value >= 2)
        or (op == "*" and 2 * value <= max_result and max_factor >= 2)
    ]
    if not valid:
        return None
    op = rng.choice(valid)
    if op == "*":
        k = rng.randint(2, min(max_factor, max_result // value))
        verb = _TIMES.get(k, f"becomes {k} times as large")
        return (
            value * k,
            f"the number of {item} {name} has {verb}",
            f"the number {verb}, so {value} * {k} = {value * k}",
            ("*", k),
        )
    if op == "+":
        x = rng.randint(1, min(max_value, max_result - value))
        question, rationale = rng.choice(_ADD)
        result = value + x
    else:
        x = rng.randint(1, min(max_value, value - 1))
        question, rationale = rng.choice(_SUB)
        result = value - x
    sign = "+" if op == "+" else "-"
    return (
        result,
        f"{name} {question.format(x=x, items=_noun(x, item))}",
        f"{name} {rationale.format(x=x)}, so {value} {sign} {x} = {result}",
        (op, x),
    )


def _problem(
    rng: random.Random, num_steps: int, operations: Sequence[str], max_value: int, max_factor: int, max_result: int
) -> dict[str, Any]:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    value = start = rng.randint(1, max_value)
    amount = f"{value} {_noun(value, item)}"
    questions, rationales = [f"{name} has {amount}."], [f"{name} starts with {amount}."]
    ops: list[tuple[str, int]] = []
    for index in range(num_steps):
        step = _step(rng, value, name, item, operations, max_value, max_factor, max_result)
        if step is None:
            break
        value, question, rationale, op = step
        ops.append(op)
        prefix = "Then " if index > 0 else ""
        questions.append(f"{prefix}{question[0].upper() if not prefix else question[0]}{question[1:]}.")
        rationales.append(f"{rationale[0].upper()}{rationale[1:]}.")
    questions.append(f"How many {item} does {name} have now?")
    return {
        "question": " ".join(questions),
        "rationale": " ".join(rationales),
        "answer": str(value),
        "num_steps": len(questions) - 2,
        "start": start,
        "ops": ops,
    }


def _check_knobs(
    n: int,
    min_steps: int,
    max_steps: int,
    max_value: int,
    max_factor: int,
    max_result: int,
    operations: Sequence[str],
    split: str | None,
) -> None:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 1 <= min_steps <= max_steps:
        raise ValueError(f"need 1 <= min_steps <= max_steps, got min_steps={min_steps}, max_steps={max_steps}")
    if max_value < 2:
        raise ValueError(f"max_value must be >= 2, got {max_value}")
    if max_result < max_value:
        raise ValueError(f"max_result ({max_result}) must be >= max_value ({max_value}); raise it or leave it None")
    if not operations or any(op not in OPERATIONS for op in operations):
        raise ValueError(f"operations must be a non-empty subset of {OPERATIONS}, got {tuple(operations)}")
    if "*" in operations and max_factor < 2:
        raise ValueError(f"max_factor must be >= 2 when '*' is allowed, got {max_factor}")
    if split is not None and split not in SPLIT_FRACTIONS:
        raise ValueError(f"split must be one of {list(SPLIT_FRACTIONS)} or None, got {split!r}")


def make_arithmetic_problems(
    n: int,
    seed: int = 0,
    min_steps: int = 2,
    max_steps: int = 3,
    max_value: int = 20,
    max_factor: int = 3,
    max_result: int | None = None,
    operations: Sequence[str] = OPERATIONS,
    split: str | None = None,
    exclude_signatures: Collection[Signature] = frozenset(),
    exclude_questions: Collection[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Generate ``n`` distinct arithmetic word problems, deterministically for a seed.

    Args:
        n: how many problems.
        seed: the random seed; the same arguments always give the same problems.
        min_steps: the fewest operations per problem (>= 1).
        max_steps: the most operations per problem; the count is drawn uniformly in ``[min_steps, max_steps]``.
        max_value: the largest starting amount and the largest amount added or taken away.
        max_factor: the largest multiplier for ``*`` steps ("doubles" = 2, "triples" = 3).
        max_result: no intermediate or final amount exceeds it; ``None`` means ``5 * max_value``. Subtractions
            never go below 1.
        operations: which of ``"+"``, ``"-"``, ``"*"`` may appear.
        split: keep only problems whose question hashes into this split (``"train"``, ``"validation"``,
            ``"test"``; see :func:`split_of`); ``None`` keeps all.
        exclude_signatures: skip every problem whose :func:`arithmetic_signature` is in here (e.g. the training and
            validation problems' :func:`signatures`, for a test split with no near-duplicate of them).
        exclude_questions: skip every problem with one of these question texts (e.g. problems scored before).
            Exclusions only skip draws: with both empty, the problems are those of earlier versions.

    Returns:
        Dicts with ``question``, ``rationale`` (ends with the last equation), ``answer`` (a string),
        ``num_steps``, ``start`` (the first amount) and ``ops`` (``[(operation, operand), ...]``; ``"*"``'s operand
        is the factor).

    Raises:
        ValueError: on inconsistent knobs, or when the knobs allow fewer than ``n`` distinct problems in the split
            (raise ``max_value``/``max_steps`` or lower ``n``).

    Example:
        >>> problems = make_arithmetic_problems(2, seed=0, min_steps=1, max_steps=1)
        >>> problems[0]["answer"] == problems[0]["rationale"].split("= ")[-1].rstrip(".")
        True
    """
    max_result = 5 * max_value if max_result is None else max_result
    _check_knobs(n, min_steps, max_steps, max_value, max_factor, max_result, operations, split)
    rng = random.Random(seed)
    problems: list[dict[str, Any]] = []
    seen: set[str] = set()
    misses = 0
    while len(problems) < n:
        if misses > _MAX_CONSECUTIVE_MISSES:
            raise ValueError(
                f"found only {len(problems)} distinct problems for split={split!r}: the knobs allow too few; raise "
                f"max_value or max_steps, allow more operations, or lower n={n}."
            )
        misses += 1
        problem = _problem(rng, rng.randint(min_steps, max_steps), operations, max_value, max_factor, max_result)
        if problem["num_steps"] < min_steps or problem["question"] in seen:
            continue  # too few steps happens only when the allowed operations run out (e.g. "-" alone reaching 1)
        if split is not None and split_of(problem["question"]) != split:
            continue
        if problem["question"] in exclude_questions or arithmetic_signature(problem) in exclude_signatures:
            continue
        seen.add(problem["question"])
        problems.append(problem)
        misses = 0
    return problems


def load_synthetic(
    split: str = "train",
    n: int = 1000,
    seed: int = 0,
    trigger: str | None = DEFAULT_TRIGGER,
    min_steps: int = 2,
    max_steps: int = 3,
    max_value: int = 20,
    max_factor: int = 3,
    max_result: int | None = None,
    operations: Sequence[str] = OPERATIONS,
    exclude_signatures: Collection[Signature] = frozenset(),
    exclude_questions: Collection[str] = frozenset(),
) -> Dataset:
    """A split of synthetic arithmetic problems with GSM8K's columns (plus ``num_steps``).

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``; splits never share a question.
        n: how many problems.
        seed: the random seed.
        trigger: appended to each question; ``None`` for none.
        min_steps, max_steps, max_value, max_factor, max_result, operations, exclude_signatures, exclude_questions:
            see :func:`make_arithmetic_problems`.

    Returns:
        A :class:`datasets.Dataset` with ``prompt``, ``answer``, ``question``, ``rationale``, ``completion`` and
        ``num_steps``.

    Example:
        >>> test = load_synthetic("test", n=4, seed=0)
        >>> test.column_names
        ['prompt', 'answer', 'question', 'rationale', 'completion', 'num_steps']
    """
    if split not in SPLIT_FRACTIONS:
        raise ValueError(f"split must be one of {list(SPLIT_FRACTIONS)}, got {split!r}")
    problems = make_arithmetic_problems(
        n,
        seed,
        min_steps,
        max_steps,
        max_value,
        max_factor,
        max_result,
        operations,
        split,
        exclude_signatures,
        exclude_questions,
    )
    return problems_to_dataset(problems, trigger)


def problems_to_dataset(problems: Sequence[dict[str, Any]], trigger: str | None = DEFAULT_TRIGGER) -> Dataset:
    """Problems (``question``, ``rationale``, ``answer``, ``num_steps``) as a data set in the package's columns."""
    rows = [
        {
            "prompt": user_prompt(p["question"], trigger),
            "answer": p["answer"],
            "question": p["question"],
            "rationale": p["rationale"],
            "completion": assistant_completion(p["rationale"], p["answer"]),
            "num_steps": p["num_steps"],
        }
        for p in problems
    ]
    return Dataset.from_list(rows)
