"""The reworded arithmetic family: correct answers, deterministic, and none of the training generator's wording."""

import re

import pytest

from latro_trl.data import load_reworded, load_synthetic
from latro_trl.data.reworded import SCENES, make_reworded_problems
from latro_trl.data.synthetic import ITEMS, NAMES

PROBLEMS = make_reworded_problems(400, seed=0)


def test_every_answer_is_the_result_of_the_rationale_equations():
    for problem in PROBLEMS:
        equations = re.findall(r"(\d+) ([-+*]) (\d+) = (\d+)", problem["rationale"])
        assert len(equations) == problem["num_steps"]
        for left, op, right, result in equations:
            assert eval(f"{left} {op} {right}") == int(result)  # noqa: S307 (digits and one operator)
        assert equations[-1][3] == problem["answer"] and int(problem["answer"]) > 0


def test_deterministic_distinct_and_covers_every_scene_and_step_count():
    assert make_reworded_problems(400, seed=0) == PROBLEMS
    assert make_reworded_problems(50, seed=1) != PROBLEMS[:50]
    assert len({p["question"] for p in PROBLEMS}) == len(PROBLEMS)
    assert {p["num_steps"] for p in PROBLEMS} == {1, 2}
    openings = {p["question"].split(" ")[1] for p in PROBLEMS}
    assert len(openings) >= len(SCENES) - 3  # scenes start differently (person-named scenes share no fixed word)


def test_no_wording_of_the_training_generator():
    training = load_synthetic("train", n=300, seed=0, min_steps=1, max_steps=2)
    training_phrases = {"How many", "does", "have now", "buys", "finds", "gets", "gives", "loses", "sells", "Then"}
    assert all(any(phrase in q for phrase in training_phrases) for q in training["question"])  # the test can fail
    for problem in PROBLEMS:
        words = set(re.findall(r"[A-Za-z]+", problem["question"]))
        assert not words & set(NAMES), problem["question"]
        assert not words & set(ITEMS), problem["question"]
        assert "have now" not in problem["question"] and " buys " not in problem["question"]


def test_dataset_columns_match_the_training_generator():
    dataset = load_reworded(n=8, seed=0)
    assert dataset.column_names == load_synthetic("test", n=2).column_names
    assert dataset[0]["prompt"][0]["role"] == "user"


def test_bad_knobs():
    with pytest.raises(ValueError, match="min_steps"):
        make_reworded_problems(4, min_steps=2, max_steps=3)


def test_earlier_draw_is_unchanged():
    import hashlib
    import json

    rows = [[p["question"], p["rationale"], p["answer"], p["num_steps"]] for p in make_reworded_problems(1080, seed=0)]
    # Taken before signatures and exclusions were added: issue #14's runs scored exactly these 1080 problems.
    assert hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16] == "969cc242b20f68ac"


def test_the_signature_is_the_arithmetic_the_rationale_does():
    from latro_trl.data.synthetic import arithmetic_signature

    for problem in PROBLEMS:
        start, ops = arithmetic_signature(problem)
        equations = re.findall(r"(\d+) ([-+*]) (\d+) = (\d+)", problem["rationale"])
        assert int(equations[0][0]) == start, problem
        assert [(op, int(right)) for _, op, right, _ in equations] == list(ops), problem
    assert {p["scene"] for p in PROBLEMS} == {scene.__name__.lstrip("_") for scene in SCENES}


def test_exclusions_keep_the_draw_clear_of_training_arithmetic_and_earlier_questions():
    from latro_trl.data.synthetic import make_arithmetic_problems, signatures

    train = make_arithmetic_problems(256, seed=0, min_steps=1, max_steps=2, split="train")
    assert signatures(PROBLEMS) & signatures(train)  # same computations in other words exist (the check can fail)
    earlier = {p["question"] for p in PROBLEMS}
    clean = make_reworded_problems(300, seed=1, exclude_signatures=signatures(train), exclude_questions=earlier)
    assert len(clean) == 300
    assert not signatures(clean) & signatures(train)
    assert not {p["question"] for p in clean} & earlier
    dataset = load_reworded(n=10, seed=1, exclude_signatures=signatures(train), exclude_questions=earlier)
    assert dataset["question"] == [p["question"] for p in clean[:10]]
