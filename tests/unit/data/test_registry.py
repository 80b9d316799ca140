"""The data registry: one table maps a name to its loader, answer type and splits."""

import json

import pytest

from latro_trl.cli.datasets import DatasetArguments
from latro_trl.data.registry import DATA_SOURCES, load_named, selection_split, task_type


def test_answer_types_and_selection_splits():
    assert {name: task_type(name) for name in DATA_SOURCES} == {
        "gsm8k": "number",
        "arc_challenge": "choice",
        "synthetic": "number",
    }
    assert task_type("mine.jsonl") == "number"
    assert selection_split("gsm8k") == "test"  # GSM8K has no validation split
    assert selection_split("arc_challenge") == selection_split("synthetic") == "validation"


def test_unknown_names_and_splits_say_what_exists():
    with pytest.raises(ValueError, match="gsm8k, arc_challenge, synthetic, or a local .jsonl"):
        task_type("gsm8K")
    with pytest.raises(ValueError, match="gsm8k has no split 'validation'; its splits are train, test"):
        load_named("gsm8k", "validation", path="unused")


def test_synthetic_takes_its_knobs_and_a_size():
    rows = load_named("synthetic", "test", limit=5, synthetic={"seed": 1, "min_steps": 1, "max_steps": 1})
    assert len(rows) == 5 and set(rows["num_steps"]) == {1}


def test_a_local_file_is_read_as_it_is(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"q{i}", "answer": str(i)}) + "\n" for i in range(4)))
    assert load_named(str(path), "ignored", limit=2)["answer"] == ["0", "1"]


def test_gsm8k_and_arc_load_from_a_local_folder(tmp_path):
    (tmp_path / "test.jsonl").write_text(json.dumps({"question": "2 + 3?", "answer": "2 + 3 = 5\n#### 5"}) + "\n")
    assert load_named("gsm8k", "test", path=str(tmp_path))["answer"] == ["5"]


def test_the_flags_reject_unknown_names_and_answer_formats():
    with pytest.raises(ValueError, match="Unknown data set 'gsm9k'"):
        DatasetArguments(dataset_name="gsm9k")
    with pytest.raises(ValueError, match="--answer_format 'letter' is not one of label, label_text, text"):
        DatasetArguments(dataset_name="arc_challenge", answer_format="letter")
