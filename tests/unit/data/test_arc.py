"""ARC loading from local JSONL fixtures in AI2's original layout and the hub's flat layout."""

import json

import pytest

from latro_trl.data import load_arc

ORIGINAL = {
    "id": "Mercury_1",
    "question": {
        "stem": "Which planet is red?",
        "choices": [
            {"text": "Venus", "label": "A"},
            {"text": "Mars.", "label": "B"},
            {"text": "Earth", "label": "C"},
            {"text": "Jupiter", "label": "D"},
        ],
    },
    "answerKey": "B",
}
NUMERIC = {
    "id": "NYSEDREGENTS_2",
    "question": {
        "stem": "What melts ice fastest?",
        "choices": [
            {"text": "salt", "label": "1"},
            {"text": "sand", "label": "2"},
            {"text": "wood", "label": "3"},
            {"text": "glass", "label": "4"},
        ],
    },
    "answerKey": "1",
}
FIVE = {
    "id": "MCAS_3",
    "question": {
        "stem": "Which is a metal?",
        "choices": [
            {"text": t, "label": lab}
            for lab, t in zip("ABCDE", ["wood", "salt", "glass", "paper", "iron"], strict=True)
        ],
    },
    "answerKey": "E",
}
FLAT = {
    "id": "hub_4",
    "question": "Which is a gas?",
    "choices": {"text": ["water", "oxygen", "ice"], "label": ["A", "B", "C"]},
    "answerKey": "B",
}


@pytest.fixture
def arc_dir(tmp_path):
    rows = [ORIGINAL, NUMERIC, FIVE, FLAT]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (tmp_path / "dev.jsonl").write_text(json.dumps(FLAT) + "\n")
    return tmp_path


def test_both_layouts_and_labels(arc_dir):
    dataset = load_arc("train", path=arc_dir)
    assert dataset["answer"] == ["B", "1", "E", "B"]
    assert dataset["answer_label"] == ["B", "1", "E", "B"]
    assert dataset["answer_text"] == ["Mars.", "salt", "iron", "oxygen"]
    assert dataset["id"] == ["Mercury_1", "NYSEDREGENTS_2", "MCAS_3", "hub_4"]
    assert [[c["label"] for c in row] for row in dataset["choices"]] == [
        list("ABCD"),
        list("1234"),
        list("ABCDE"),
        list("ABC"),
    ]
    content = dataset[0]["prompt"][0]["content"]
    assert content.startswith("Which planet is red?\n\nA) Venus\nB) Mars.\nC) Earth\nD) Jupiter\n\nLet's think")
    assert "1) salt\n2) sand" in dataset[1]["prompt"][0]["content"]
    assert dataset[3]["question"] == "Which is a gas?"
    assert dataset[0]["completion"] == [{"role": "assistant", "content": "The answer is B."}]
    assert dataset[0]["rationale"] == ""


@pytest.mark.parametrize(("answer_format", "expected"), [("label", "B"), ("label_text", "B) Mars"), ("text", "Mars")])
def test_answer_format(arc_dir, answer_format, expected):
    row = load_arc("train", path=arc_dir, answer_format=answer_format)[0]
    assert row["answer"] == expected
    assert row["answer_label"] == "B"
    assert row["completion"][0]["content"] == f"The answer is {expected}."


def test_validation_finds_dev(arc_dir):
    assert load_arc("validation", path=arc_dir)["answer"] == ["B"]
    assert load_arc("dev", path=arc_dir)["answer"] == ["B"]


def test_errors(arc_dir, tmp_path):
    with pytest.raises(ValueError, match="answer_format"):
        load_arc("train", path=arc_dir, answer_format="letter")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**ORIGINAL, "answerKey": "Z"}) + "\n")
    with pytest.raises(ValueError, match="answerKey 'Z'"):
        load_arc("train", path=bad)
    bad.write_text(json.dumps({"question": 3}) + "\n")
    with pytest.raises(ValueError, match="not an ARC row"):
        load_arc("train", path=bad)
