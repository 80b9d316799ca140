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


# ---------------------------------------------------------------- arithmetic signatures and clean draws (issue #27)


def _draw_digest(problems) -> str:
    import hashlib
    import json

    rows = [[p["question"], p["rationale"], p["answer"], p["num_steps"]] for p in problems]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]


def test_earlier_draws_are_unchanged():
    # Digests taken before signatures and exclusions were added: the runs of issue #14 drew exactly these problems.
    assert _draw_digest(make_arithmetic_problems(500, seed=0, min_steps=1, max_steps=2, split="test")) == (
        "4a2cc6ab263f0d5a"
    )
    assert _draw_digest(make_arithmetic_problems(256, seed=0, min_steps=1, max_steps=2, split="train")) == (
        "5a5a4b38719cce9c"
    )
    assert _draw_digest(make_arithmetic_problems(200, seed=0, split="test")) == "1bc7429f59b459be"


def test_the_signature_is_the_arithmetic_the_rationale_does():
    from latro_trl.data.synthetic import arithmetic_signature

    for p in make_arithmetic_problems(300, seed=5, min_steps=1, max_steps=3):
        start, ops = arithmetic_signature(p)
        equations = re.findall(r"(\d+) ([-+*]) (\d+) = (\d+)", p["rationale"])
        assert int(equations[0][0]) == start
        assert [(op, int(right)) for _, op, right, _ in equations] == list(ops)
        assert p["question"].split(" has ")[1].startswith(f"{start} ")


def test_problems_that_differ_only_in_names_and_items_share_a_signature():
    from latro_trl.data.synthetic import arithmetic_signature

    problems = make_arithmetic_problems(3000, seed=0, min_steps=1, max_steps=1)
    by_signature = {}
    for p in problems:
        by_signature.setdefault(arithmetic_signature(p), []).append(p["question"])
    shared = [questions for questions in by_signature.values() if len(questions) > 1]
    assert shared and all(len(set(q)) == len(q) for q in shared)  # distinct texts, one computation


def test_exclusions_keep_a_draw_clear_of_another_draws_arithmetic_and_questions():
    from latro_trl.data.synthetic import signatures

    train = make_arithmetic_problems(256, seed=0, min_steps=1, max_steps=2, split="train")
    plain = make_arithmetic_problems(300, seed=0, min_steps=1, max_steps=2, split="test")
    assert signatures(plain) & signatures(train)  # the hash split alone leaves near-duplicates (the check can fail)
    clean = make_arithmetic_problems(
        300, seed=0, min_steps=1, max_steps=2, split="test", exclude_signatures=signatures(train)
    )
    assert len(clean) == 300 and not signatures(clean) & signatures(train)
    assert all(split_of(p["question"]) == "test" for p in clean)
    fresh = make_arithmetic_problems(
        50, seed=0, min_steps=1, max_steps=2, split="test", exclude_questions={p["question"] for p in plain}
    )
    assert not {p["question"] for p in fresh} & {p["question"] for p in plain}
    dataset = load_synthetic("test", n=20, seed=0, min_steps=1, max_steps=2, exclude_signatures=signatures(train))
    assert dataset["question"] == [p["question"] for p in clean[:20]]
