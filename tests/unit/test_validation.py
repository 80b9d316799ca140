"""Up-front checks of every row: prompt shapes, gold answers, empty sets, streamed rows checked as drawn."""

import math

import pytest
from datasets import Dataset, IterableDataset

from latro_trl.validation import (
    answer_as_text,
    answer_problem,
    check_datasets,
    check_enough_rows,
    prompt_problem,
    require_answer,
)

GOOD = [{"prompt": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(6)]
MESSAGES = [{"role": "system", "content": ""}, {"role": "user", "content": "What is 3 + 5?"}]


@pytest.mark.parametrize("prompt", ["What is 3 + 5?", MESSAGES, [{"role": "user", "content": "Hi", "name": None}]])
def test_supported_prompts(prompt):
    assert prompt_problem(prompt) is None


@pytest.mark.parametrize(
    ("prompt", "what"),
    [
        (None, "missing or blank"),
        ("  \n", "missing or blank"),
        (3, "of type int, neither text nor a list of messages"),
        ({"role": "user", "content": "Hi"}, "a single message, not a list of messages"),
        ([], "an empty conversation"),
        ([{"role": "user"}], "lacks a text 'role' or 'content'"),
        ([{"role": "user", "content": None}], "lacks a text 'role' or 'content'"),
        ([{"role": "user", "content": [{"type": "text", "text": "Hi"}]}], "lacks a text 'role' or 'content'"),
        (["What is 3 + 5?"], "lacks a text 'role' or 'content'"),
    ],
)
def test_unsupported_prompts(prompt, what):
    problem = prompt_problem(prompt)
    assert problem is not None and what in problem.what and "dataset" in problem.fix


@pytest.mark.parametrize(
    ("answer", "text"), [("18", "18"), (18, "18"), (18.0, "18"), (-2.5, "-2.5"), (1e-05, "0.00001")]
)
def test_numeric_answers_are_written_as_plain_numbers(answer, text):
    assert answer_problem(answer) is None
    assert answer_as_text(answer) == text == require_answer(answer, "answer")


@pytest.mark.parametrize(
    ("answer", "what"),
    [
        (None, "missing or blank"),
        (" ", "missing or blank"),
        (math.nan, "missing or blank"),  # pandas' missing value
        (math.inf, "of type float, not a finite number"),
        (True, "of type bool, not an answer"),
        (["18"], "of type list, not one answer"),
        ({"text": "18"}, "of type dict, not one answer"),
        (b"18", "of type bytes, not text or a number"),
        ("He buys 3 + 5 = 8 apples.\n#### 8", "a worked solution (it holds '####'), not the final answer"),
    ],
)
def test_rejected_answers(answer, what):
    assert answer_problem(answer, "solution").what == what
    with pytest.raises(ValueError, match=r"'solution'.*dataset"):
        require_answer(answer, "solution")


def test_every_bad_row_is_named_with_its_fix():
    rows = [dict(row) for row in GOOD]
    rows[1]["answer"] = None
    rows[4]["answer"] = None
    rows[2]["prompt"] = ""
    with pytest.raises(ValueError) as error:
        check_datasets(Dataset.from_list(rows), None, "answer")
    lines = str(error.value).splitlines()
    assert lines[0].startswith("train_dataset has 1 row(s) whose 'prompt' is missing or blank (rows 2). Drop them")
    assert lines[1].startswith("train_dataset has 2 row(s) whose 'answer' is missing or blank (rows 1, 4).")


def test_wrong_answer_type_in_a_custom_column():
    rows = [{"prompt": row["prompt"], "solution": [row["answer"]]} for row in GOOD]
    with pytest.raises(ValueError, match=r"6 row\(s\) whose 'solution' is of type list.*row\['solution'\]\[0\]"):
        check_datasets(Dataset.from_list(rows), None, "solution")


def test_eval_sets_are_checked_by_name():
    bad = Dataset.from_list([{**GOOD[0], "prompt": {"role": "user", "content": "Hi"}}])
    with pytest.raises(ValueError, match=r"eval_dataset\['dev'\] has 1 row\(s\) whose 'prompt' is a single message"):
        check_datasets(Dataset.from_list(GOOD), {"test": Dataset.from_list(GOOD), "dev": bad}, "answer")


def _no_rows():
    yield from ()


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("which", ["train", "eval"])
def test_empty_sets_say_so(which, streamed):
    empty = IterableDataset.from_generator(_no_rows) if streamed else Dataset.from_dict({"prompt": [], "answer": []})
    train, evaluation = (empty, None) if which == "train" else (Dataset.from_list(GOOD), empty)
    with pytest.raises(ValueError, match=rf"{which}_dataset is empty .*Pass rows with a 'prompt' and a gold answer"):
        check_datasets(train, evaluation, "answer")


def test_streamed_rows_are_checked_when_drawn():
    rows = [dict(row) for row in GOOD]
    rows[3]["prompt"] = None
    train, _ = check_datasets(Dataset.from_list(rows).to_iterable_dataset(), None, "answer")
    drawn = iter(train)
    assert [next(drawn) for _ in range(3)] == GOOD[:3]  # unchanged
    with pytest.raises(ValueError, match=r"train_dataset row 3: 'prompt' is missing or blank.*filter"):
        next(drawn)


def test_a_data_set_smaller_than_one_generation_batch():
    check_enough_rows(Dataset.from_list(GOOD), 6)
    with pytest.raises(ValueError, match=r"has 6 row\(s\), fewer than the 8 questions one generation batch takes"):
        check_enough_rows(Dataset.from_list(GOOD), 8)


@pytest.mark.parametrize("rows", [GOOD, {"prompt": ["Q"], "answer": ["1"]}])
def test_plain_python_rows_are_refused_with_the_conversion(rows):
    with pytest.raises(ValueError, match=r"train_dataset is a (list|dict); .*Dataset.from_list\(rows\)"):
        check_datasets(rows, None, "answer")
