"""GSM8K loading from local JSONL fixtures in the original format."""

import json

import pytest

from latro_trl.data import DEFAULT_TRIGGER, load_gsm8k
from latro_trl.data.gsm8k import gsm8k_rationale

ROWS = [
    {
        "question": "Janet has 16 eggs. She eats 3. She sells the rest for $2 each. How much does she make?",
        "answer": "She has 16 - 3 = <<16-3=13>>13 eggs left.\nShe makes 13 * 2 = $<<13*2=26>>26.\n#### 26",
    },
    {"question": "A city has 1,000 people and 200 more arrive. How many?", "answer": "1000 + 200 = 1200\n#### 1,200"},
    {"question": "It is 3 degrees and drops 10. What is it now?", "answer": "3 - 10 = <<3-10=-7>>-7\n#### -7"},
]


@pytest.fixture
def gsm8k_dir(tmp_path):
    for split, rows in (("train", ROWS), ("test", ROWS[:1])):
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return tmp_path


def test_columns_and_values(gsm8k_dir):
    dataset = load_gsm8k("train", path=gsm8k_dir)
    assert dataset.column_names == ["prompt", "answer", "question", "rationale", "completion"]
    assert dataset["answer"] == ["26", "1200", "-7"]
    first = dataset[0]
    assert first["prompt"] == [{"role": "user", "content": ROWS[0]["question"] + "\n\n" + DEFAULT_TRIGGER}]
    assert first["rationale"] == "She has 16 - 3 = 13 eggs left.\nShe makes 13 * 2 = $26."
    assert first["completion"] == [{"role": "assistant", "content": first["rationale"] + " The answer is 26."}]
    assert "<<" not in "".join(dataset["rationale"]) and "####" not in "".join(dataset["rationale"])


def test_file_path_split_and_limit(gsm8k_dir):
    assert len(load_gsm8k("test", path=gsm8k_dir)) == 1
    assert len(load_gsm8k("whatever", path=gsm8k_dir / "train.jsonl")) == 3
    assert len(load_gsm8k("train", path=gsm8k_dir, limit=2)) == 2


def test_trigger_none(gsm8k_dir):
    dataset = load_gsm8k("train", path=gsm8k_dir, trigger=None)
    assert dataset[0]["prompt"][0]["content"] == ROWS[0]["question"]


def test_errors(gsm8k_dir, tmp_path):
    with pytest.raises(ValueError, match="validation.jsonl"):
        load_gsm8k("validation", path=gsm8k_dir)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q", "answer": "no marker"}) + "\n")
    with pytest.raises(ValueError, match="####"):
        load_gsm8k("train", path=bad)
    bad.write_text(json.dumps({"text": "q"}) + "\n")
    with pytest.raises(ValueError, match="question"):
        load_gsm8k("train", path=bad)
    bad.write_text("{not json\n")
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        load_gsm8k("train", path=bad)


def test_rationale_cleaning():
    assert gsm8k_rationale("a <<1+1=2>>2 b\n\n#### 2") == "a 2 b"
