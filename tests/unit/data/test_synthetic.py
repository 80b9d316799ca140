"""Synthetic arithmetic problems: determinism, split separation, knobs and self-consistency."""

import re

import pytest

from latro_trl.data import DEFAULT_TRIGGER, extract_number, load_synthetic, make_arithmetic_problems
from latro_trl.data.synthetic import split_of


def _replay(rationale: str) -> int:
    """Recompute the answer from the rationale's equations, checking each one."""
    value = None
    for left, op, right, result in re.findall(r"(\d+) ([-+*]) (\d+) = (\d+)", rationale):
        a, b, r = int(left), int(right), int(result)
        assert value is None or a == value, rationale
        assert {"+": a + b, "-": a - b, "*": a * b}[op] == r, rationale
        value = r
    return value


def test_deterministic_for_a_seed():
    assert make_arithmetic_problems(30, seed=3) == make_arithmetic_problems(30, seed=3)
    assert make_arithmetic_problems(30, seed=3) != make_arithmetic_problems(30, seed=4)
    assert load_synthetic("test", n=10, seed=1).to_list() == load_synthetic("test", n=10, seed=1).to_list()


def test_splits_never_overlap():
    splits = {
        split: set(load_synthetic(split, n=n, seed=seed)["question"])
        for split, n, seed in (("train", 400, 0), ("validation", 60, 1), ("test", 60, 2))
    }
    assert len(splits["train"]) == 400 and len(splits["test"]) == 60
    assert not splits["train"] & splits["test"]
    assert not splits["train"] & splits["validation"]
    assert not splits["validation"] & splits["test"]
    assert all(split_of(q) == "test" for q in splits["test"])


def test_columns_and_consistency():
    dataset = load_synthetic("train", n=50, seed=0)
    assert dataset.column_names == ["prompt", "answer", "question", "rationale", "completion", "num_steps"]
    for row in dataset:
        assert row["prompt"] == [{"role": "user", "content": row["question"] + "\n\n" + DEFAULT_TRIGGER}]
        assert _replay(row["rationale"]) == int(row["answer"])
        assert row["completion"][0]["content"] == f"{row['rationale']} The answer is {row['answer']}."
        assert extract_number(row["completion"][0]["content"]) == int(row["answer"])
        assert 2 <= row["num_steps"] <= 3


@pytest.mark.parametrize(("min_steps", "max_steps"), [(1, 1), (2, 2), (3, 5)])
def test_step_knobs(min_steps, max_steps):
    problems = make_arithmetic_problems(40, seed=0, min_steps=min_steps, max_steps=max_steps)
    steps = {p["num_steps"] for p in problems}
    assert steps <= set(range(min_steps, max_steps + 1))
    assert all(p["rationale"].count(" = ") == p["num_steps"] for p in problems)


def test_value_knobs():
    problems = make_arithmetic_problems(100, seed=0, max_value=5, max_result=12, operations=("+", "-"))
    for p in problems:
        numbers = [int(n) for n in re.findall(r"\d+", p["rationale"])]
        assert max(numbers) <= 12
        assert "*" not in p["rationale"]
        assert all(int(n) <= 5 for n in re.findall(r"\d+", p["question"]))
        assert int(p["answer"]) >= 1


def test_problems_are_distinct():
    questions = [p["question"] for p in make_arithmetic_problems(300, seed=0, min_steps=1, max_steps=1)]
    assert len(set(questions)) == 300


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_steps": 0}, "min_steps"),
        ({"min_steps": 3, "max_steps": 2}, "max_steps"),
        ({"max_value": 1}, "max_value"),
        ({"operations": ("/",)}, "operations"),
        ({"operations": ()}, "operations"),
        ({"max_factor": 1}, "max_factor"),
        ({"max_result": 5}, "max_result"),
        ({"split": "dev"}, "split"),
    ],
)
def test_bad_knobs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_arithmetic_problems(5, seed=0, **kwargs)


def test_too_few_distinct_problems():
    with pytest.raises(ValueError, match="distinct problems"):
        make_arithmetic_problems(2000, seed=0, min_steps=1, max_steps=1, max_value=2, operations=("+",))
