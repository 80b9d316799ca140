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
from collections.abc import Callable, Collection
from typing import Any

from datasets import Dataset

from .prompts import DEFAULT_TRIGGER
from .synthetic import Signature, arithmetic_signature, problems_to_dataset

# Each scene: (rng, steps) -> (question, rationale, answer, (start, ops)) for numbers drawn by the scene itself;
# (start, ops) is the arithmetic, as :func:`latro_trl.data.synthetic.arithmetic_signature` reads it.
SceneProblem = tuple[str, str, int, tuple[int, list[tuple[str, int]]]]
Scene = Callable[[random.Random, int], SceneProblem]
PEOPLE = ("Priya", "Jonas", "Amara", "Kenji", "Lucia", "Tariq", "Freya", "Mateo", "Ines", "Yusuf")


def _bus(rng: random.Random, steps: int) -> SceneProblem:
    start, off = rng.randint(8, 30), rng.randint(1, 7)
    value, ops = start - off, [("-", off)]
    question = f"A bus leaves the depot with {start} passengers. At the first stop, {off} passengers get off."
    rationale = f"The bus starts with {start} passengers; {off} get off: {start} - {off} = {value}."
    if steps > 1:
        on = rng.randint(1, 9)
        question += f" At the second stop, {on} people get on."
        rationale += f" Then {on} get on: {value} + {on} = {value + on}."
        value += on
        ops.append(("+", on))
    return question + " How many passengers are on the bus now?", rationale, value, (start, ops)


def _bakery(rng: random.Random, steps: int) -> SceneProblem:
    trays, per_tray = rng.randint(2, 6), rng.randint(3, 9)
    value, ops = trays * per_tray, [("*", per_tray)]
    question = f"A baker fills {trays} trays with {per_tray} muffins each."
    rationale = f"{trays} trays of {per_tray} muffins make {trays} * {per_tray} = {value} muffins."
    if steps > 1:
        sold = rng.randint(1, value - 1)
        question += f" By noon, {sold} muffins have been sold."
        rationale += f" After selling {sold}: {value} - {sold} = {value - sold}."
        value -= sold
        ops.append(("-", sold))
    return question + " How many muffins are left for the afternoon?", rationale, value, (trays, ops)


def _wallet(rng: random.Random, steps: int) -> SceneProblem:
    person = rng.choice(PEOPLE)
    start, spent = rng.randint(10, 60), rng.randint(1, 9)
    value, ops = start - spent, [("-", spent)]
    question = f"{person} carries ${start} to the market and pays ${spent} for a bag of oranges."
    rationale = f"{person} had ${start} and paid ${spent}: {start} - {spent} = {value} dollars."
    if steps > 1:
        found = rng.randint(1, 9)
        question += f" On the way home, a neighbour repays a ${found} loan."
        rationale += f" The neighbour repays {found}: {value} + {found} = {value + found} dollars."
        value += found
        ops.append(("+", found))
    return question + f" How many dollars does {person} hold at the end?", rationale, value, (start, ops)


def _library(rng: random.Random, steps: int) -> SceneProblem:
    shelves, per_shelf = rng.randint(2, 5), rng.randint(4, 10)
    value, ops = shelves * per_shelf, [("*", per_shelf)]
    question = f"In a small library, each of {shelves} shelves holds {per_shelf} novels."
    rationale = f"{shelves} shelves with {per_shelf} novels each: {shelves} * {per_shelf} = {value} novels."
    if steps > 1:
        donated = rng.randint(1, 12)
        question += f" A reader donates {donated} more novels."
        rationale += f" With {donated} donated: {value} + {donated} = {value + donated}."
        value += donated
        ops.append(("+", donated))
    return question + " What is the total number of novels in the library?", rationale, value, (shelves, ops)


def _garden(rng: random.Random, steps: int) -> SceneProblem:
    person = rng.choice(PEOPLE)
    planted, wilted = rng.randint(6, 25), rng.randint(1, 5)
    value, ops = planted - wilted, [("-", wilted)]
    question = f"{person} plants {planted} tulip bulbs in the spring, but {wilted} of them never come up."
    rationale = f"{planted} bulbs planted, {wilted} fail: {planted} - {wilted} = {value} tulips."
    if steps > 1:
        question += " Each tulip that comes up is later split into 2 plants."
        rationale += f" Each is split into 2: {value} * 2 = {value * 2}."
        value *= 2
        ops.append(("*", 2))
    return question + " How many tulip plants are there in the end?", rationale, value, (planted, ops)


def _tank(rng: random.Random, steps: int) -> SceneProblem:
    start, leak = rng.randint(15, 50), rng.randint(2, 9)
    value, ops = start - leak, [("-", leak)]
    question = f"A water tank holds {start} litres. Overnight, {leak} litres leak out."
    rationale = f"The tank had {start} litres and lost {leak}: {start} - {leak} = {value} litres."
    if steps > 1:
        refill = rng.randint(2, 12)
        question += f" In the morning a pump adds {refill} litres."
        rationale += f" The pump adds {refill}: {value} + {refill} = {value + refill} litres."
        value += refill
        ops.append(("+", refill))
    return question + " How much water, in litres, is in the tank now?", rationale, value, (start, ops)


def _team(rng: random.Random, steps: int) -> SceneProblem:
    teams, players = rng.randint(2, 6), rng.randint(3, 7)
    value, ops = teams * players, [("*", players)]
    question = f"At a school tournament there are {teams} teams of {players} players."
    rationale = f"{teams} teams of {players} players: {teams} * {players} = {value} players."
    if steps > 1:
        injured = rng.randint(1, 4)
        question += f" During the games, {injured} players are injured and sit out."
        rationale += f" {injured} sit out: {value} - {injured} = {value - injured}."
        value -= injured
        ops.append(("-", injured))
    return question + " How many players are still playing?", rationale, value, (teams, ops)


def _train_ride(rng: random.Random, steps: int) -> SceneProblem:
    person = rng.choice(PEOPLE)
    first, second = rng.randint(5, 40), rng.randint(5, 40)
    value, ops = first + second, [("+", second)]
    question = f"{person} travels {first} kilometres by train and then {second} kilometres by bike."
    rationale = f"{first} km by train and {second} km by bike: {first} + {second} = {value} km."
    if steps > 1:
        question += " The trip back home is exactly as long."
        rationale += f" Going back doubles it: {value} * 2 = {value * 2} km."
        value *= 2
        ops.append(("*", 2))
    return question + f" How many kilometres does {person} cover in total?", rationale, value, (first, ops)


SCENES: tuple[Scene, ...] = (_bus, _bakery, _wallet, _library, _garden, _tank, _team, _train_ride)


def make_reworded_problems(
    n: int,
    seed: int = 0,
    min_steps: int = 1,
    max_steps: int = 2,
    exclude_signatures: Collection[Signature] = frozenset(),
    exclude_questions: Collection[str] = frozenset(),
) -> list[dict[str, Any]]:
    """``n`` distinct problems from :data:`SCENES`, deterministically for a seed.

    Args:
        n: how many problems.
        seed: the random seed.
        min_steps, max_steps: operations per problem, drawn uniformly (1 or 2).
        exclude_signatures: skip every problem whose arithmetic (:func:`~latro_trl.data.synthetic.arithmetic_signature`)
            is in here: e.g. the training and validation problems' signatures, so that no problem of the draw asks a
            computation the model was trained or selected on, only in other words.
        exclude_questions: skip every problem with one of these question texts (e.g. an earlier draw's).
            Exclusions only skip draws: with both empty, the problems are those of earlier versions.

    Returns:
        Dicts with ``question``, ``rationale``, ``answer`` (a string), ``num_steps``, ``start``, ``ops`` and
        ``scene`` (the scene's name).

    Scenes with one step have few distinct problems (a few dozen to a few hundred each), so a long draw, or one with
    many exclusions, holds fewer one-step problems than its first rows: count ``num_steps`` and ``scene`` when
    comparing draws.
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
        scene = rng.choice(SCENES)
        question, rationale, answer, (start, ops) = scene(rng, steps)
        if question in seen or question in exclude_questions:
            continue
        problem = {
            "question": question,
            "rationale": rationale,
            "answer": str(answer),
            "num_steps": steps,
            "start": start,
            "ops": ops,
            "scene": scene.__name__.lstrip("_"),
        }
        if arithmetic_signature(problem) in exclude_signatures:
            continue
        seen.add(question)
        problems.append(problem)
    raise ValueError(f"found only {len(problems)} distinct problems; lower n={n} or exclude less.")


def load_reworded(
    n: int = 200,
    seed: int = 0,
    min_steps: int = 1,
    max_steps: int = 2,
    trigger: str | None = DEFAULT_TRIGGER,
    exclude_signatures: Collection[Signature] = frozenset(),
    exclude_questions: Collection[str] = frozenset(),
) -> Dataset:
    """The reworded family as a data set with :func:`~latro_trl.data.load_synthetic`'s columns (a test set only);
    ``exclude_signatures`` and ``exclude_questions`` as in :func:`make_reworded_problems`."""
    problems = make_reworded_problems(n, seed, min_steps, max_steps, exclude_signatures, exclude_questions)
    return problems_to_dataset(problems, trigger)
