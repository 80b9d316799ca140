"""A second family of arithmetic word problems, worded unlike :mod:`latro_trl.data.synthetic`.

The training generator writes one scene ("<name> has N <items>. <name> buys/finds/loses ... How many <items> does
<name> have now?"). A model can learn that template instead of the arithmetic; this family asks the same operations
(``+``, ``-``, ``*``; one or two of them) in other scenes, with other verbs and other question forms, so that a gain
measured here is not template copying. For example::

    A bus leaves the depot with 14 passengers. At the first stop, 5 passengers get off. How many passengers are on
    the bus after the first stop?                                                                   answer: 9

Rows have the same columns as :func:`latro_trl.data.load_synthetic` (``prompt``, ``answer``, ``question``,
``rationale``, ``completion``, ``num_steps``), so every evaluator and trainer takes them unchanged.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from datasets import Dataset

from .prompts import DEFAULT_TRIGGER
from .synthetic import problems_to_dataset

# Each scene: (x, rng) -> (question, rationale, answer) for a start value drawn by the scene itself.
Scene = Callable[[random.Random, int], tuple[str, str, int]]
PEOPLE = ("Priya", "Jonas", "Amara", "Kenji", "Lucia", "Tariq", "Freya", "Mateo", "Ines", "Yusuf")


def _bus(rng: random.Random, steps: int) -> tuple[str, str, int]:
    start, off = rng.randint(8, 30), rng.randint(1, 7)
    value = start - off
    question = f"A bus leaves the depot with {start} passengers. At the first stop, {off} passengers get off."
    rationale = f"The bus starts with {start} passengers; {off} get off: {start} - {off} = {value}."
    if steps > 1:
        on = rng.randint(1, 9)
        question += f" At the second stop, {on} people get on."
        rationale += f" Then {on} get on: {value} + {on} = {value + on}."
        value += on
    return question + " How many passengers are on the bus now?", rationale, value


def _bakery(rng: random.Random, steps: int) -> tuple[str, str, int]:
    trays, per_tray = rng.randint(2, 6), rng.randint(3, 9)
    value = trays * per_tray
    question = f"A baker fills {trays} trays with {per_tray} muffins each."
    rationale = f"{trays} trays of {per_tray} muffins make {trays} * {per_tray} = {value} muffins."
    if steps > 1:
        sold = rng.randint(1, value - 1)
        question += f" By noon, {sold} muffins have been sold."
        rationale += f" After selling {sold}: {value} - {sold} = {value - sold}."
        value -= sold
    return question + " How many muffins are left for the afternoon?", rationale, value


def _wallet(rng: random.Random, steps: int) -> tuple[str, str, int]:
    person = rng.choice(PEOPLE)
    start, spent = rng.randint(10, 60), rng.randint(1, 9)
    value = start - spent
    question = f"{person} carries ${start} to the market and pays ${spent} for a bag of oranges."
    rationale = f"{person} had ${start} and paid ${spent}: {start} - {spent} = {value} dollars."
    if steps > 1:
        found = rng.randint(1, 9)
        question += f" On the way home, a neighbour repays a ${found} loan."
        rationale += f" The neighbour repays {found}: {value} + {found} = {value + found} dollars."
        value += found
    return question + f" How many dollars does {person} hold at the end?", rationale, value


def _library(rng: random.Random, steps: int) -> tuple[str, str, int]:
    shelves, per_shelf = rng.randint(2, 5), rng.randint(4, 10)
    value = shelves * per_shelf
    question = f"In a small library, each of {shelves} shelves holds {per_shelf} novels."
    rationale = f"{shelves} shelves with {per_shelf} novels each: {shelves} * {per_shelf} = {value} novels."
    if steps > 1:
        donated = rng.randint(1, 12)
        question += f" A reader donates {donated} more novels."
        rationale += f" With {donated} donated: {value} + {donated} = {value + donated}."
        value += donated
    return question + " What is the total number of novels in the library?", rationale, value


def _garden(rng: random.Random, steps: int) -> tuple[str, str, int]:
    person = rng.choice(PEOPLE)
    planted, wilted = rng.randint(6, 25), rng.randint(1, 5)
    value = planted - wilted
    question = f"{person} plants {planted} tulip bulbs in the spring, but {wilted} of them never come up."
    rationale = f"{planted} bulbs planted, {wilted} fail: {planted} - {wilted} = {value} tulips."
    if steps > 1:
        question += " Each tulip that comes up is later split into 2 plants."
        rationale += f" Each is split into 2: {value} * 2 = {value * 2}."
        value *= 2
    return question + " How many tulip plants are there in the end?", rationale, value


def _tank(rng: random.Random, steps: int) -> tuple[str, str, int]:
    start, leak = rng.randint(15, 50), rng.randint(2, 9)
    value = start - leak
    question = f"A water tank holds {start} litres. Overnight, {leak} litres leak out."
    rationale = f"The tank had {start} litres and lost {leak}: {start} - {leak} = {value} litres."
    if steps > 1:
        refill = rng.randint(2, 12)
        question += f" In the morning a pump adds {refill} litres."
        rationale += f" The pump adds {refill}: {value} + {refill} = {value + refill} litres."
        value += refill
    return question + " How much water, in litres, is in the tank now?", rationale, value


def _team(rng: random.Random, steps: int) -> tuple[str, str, int]:
    teams, players = rng.randint(2, 6), rng.randint(3, 7)
    value = teams * players
    question = f"At a school tournament there are {teams} teams of {players} players."
    rationale = f"{teams} teams of {players} players: {teams} * {players} = {value} players."
    if steps > 1:
        injured = rng.randint(1, 4)
        question += f" During the games, {injured} players are injured and sit out."
        rationale += f" {injured} sit out: {value} - {injured} = {value - injured}."
        value -= injured
    return question + " How many players are still playing?", rationale, value


def _train_ride(rng: random.Random, steps: int) -> tuple[str, str, int]:
    person = rng.choice(PEOPLE)
    first, second = rng.randint(5, 40), rng.randint(5, 40)
    value = first + second
    question = f"{person} travels {first} kilometres by train and then {second} kilometres by bike."
    rationale = f"{first} km by train and {second} km by bike: {first} + {second} = {value} km."
    if steps > 1:
        question += " The trip back home is exactly as long."
        rationale += f" Going back doubles it: {value} * 2 = {value * 2} km."
        value *= 2
    return question + f" How many kilometres does {person} cover in total?", rationale, value


SCENES: tuple[Scene, ...] = (_bus, _bakery, _wallet, _library, _garden, _tank, _team, _train_ride)


def make_reworded_problems(n: int, seed: int = 0, min_steps: int = 1, max_steps: int = 2) -> list[dict[str, Any]]:
    """``n`` distinct problems from :data:`SCENES`, deterministically for a seed.

    Args:
        n: how many problems.
        seed: the random seed.
        min_steps, max_steps: operations per problem, drawn uniformly (1 or 2).

    Returns:
        Dicts with ``question``, ``rationale``, ``answer`` (a string) and ``num_steps``.
    """
    if not 1 <= min_steps <= max_steps <= 2:
        raise ValueError(f"need 1 <= min_steps <= max_steps <= 2, got {min_steps}, {max_steps}")
    rng = random.Random(seed)
    problems: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _ in range(200 * max(n, 1)):
        if len(problems) == n:
            return problems
        steps = rng.randint(min_steps, max_steps)
        question, rationale, answer = rng.choice(SCENES)(rng, steps)
        if question not in seen:
            seen.add(question)
            problems.append({"question": question, "rationale": rationale, "answer": str(answer), "num_steps": steps})
    raise ValueError(f"found only {len(problems)} distinct problems; lower n={n}.")


def load_reworded(
    n: int = 200, seed: int = 0, min_steps: int = 1, max_steps: int = 2, trigger: str | None = DEFAULT_TRIGGER
) -> Dataset:
    """The reworded family as a data set with :func:`~latro_trl.data.load_synthetic`'s columns (a test set only)."""
    return problems_to_dataset(make_reworded_problems(n, seed, min_steps, max_steps), trigger)
