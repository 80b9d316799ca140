"""The data registry: one table maps a name to its loader, answer type, splits and the options its loader takes."""

import json

import pytest

from latro_trl.cli.datasets import DatasetArguments
from latro_trl.data.registry import DATA_SOURCES, load_named, selection_split, source, task_type


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
    rows = load_named("synthetic", "test", limit=5, seed=1, min_steps=1, max_steps=1)
    assert len(rows) == 5 and set(rows["num_steps"]) == {1}
    # The older spelling (a dict of knobs) gives the same rows.
    older = load_named("synthetic", "test", limit=5, synthetic={"seed": 1, "min_steps": 1, "max_steps": 1})
    assert older["question"] == rows["question"]


def test_options_a_source_does_not_declare_are_refused():
    with pytest.raises(ValueError, match=r"gsm8k takes no option 'seed'; its loader takes no options"):
        load_named("gsm8k", "test", path="unused", seed=1)
    with pytest.raises(ValueError, match=r"synthetic takes no option 'max_step'; its loader takes seed, min_steps"):
        load_named("synthetic", "test", limit=2, max_step=3)
    with pytest.raises(ValueError, match="synthetic is generated and reads no files"):
        load_named("synthetic", "test", path="data/gsm8k")
    # The older keywords are used only where declared, as every command passes them whatever the name.
    assert source("gsm8k").pick_options({"answer_format": "text", "seed": 3}) == {}
    assert source("synthetic").pick_options({"answer_format": "text", "seed": 3, "max_value": None}) == {"seed": 3}


def test_split_aliases_are_declared_not_special_cased(tmp_path):
    assert source("arc_challenge").split_aliases == ("dev",)
    row = {"id": "q1", "question": "Which is blue?", "answerKey": "B",
           "choices": {"label": ["A", "B"], "text": ["grass", "sky"]}}  # fmt: skip
    (tmp_path / "dev.jsonl").write_text(json.dumps(row) + "\n")
    assert load_named("arc_challenge", "dev", path=str(tmp_path), answer_format="text")["answer"] == ["sky"]
    with pytest.raises(ValueError, match="gsm8k has no split 'dev'"):
        load_named("gsm8k", "dev", path=str(tmp_path))


def test_a_local_file_is_read_as_it_is(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"q{i}", "answer": str(i)}) + "\n" for i in range(4)))
    assert load_named(str(path), "ignored", limit=2)["answer"] == ["0", "1"]


def test_one_file_two_names_two_formats(tmp_path):
    """A .jsonl *name* is a prompt/answer file; the same file as GSM8K's *path* is read in GSM8K's format."""
    path = tmp_path / "test.jsonl"
    path.write_text(json.dumps({"question": "2 + 3?", "answer": "2 + 3 = 5\n#### 5", "prompt": "p"}) + "\n")
    assert load_named("gsm8k", "test", path=str(path))["answer"] == ["5"]
    assert load_named(str(path), "test")["answer"] == ["2 + 3 = 5\n#### 5"]


def test_gsm8k_and_arc_load_from_a_local_folder(tmp_path):
    (tmp_path / "test.jsonl").write_text(json.dumps({"question": "2 + 3?", "answer": "2 + 3 = 5\n#### 5"}) + "\n")
    assert load_named("gsm8k", "test", path=str(tmp_path))["answer"] == ["5"]


def test_the_flags_reject_unknown_names_and_answer_formats():
    with pytest.raises(ValueError, match="Unknown data set 'gsm9k'"):
        DatasetArguments(dataset_name="gsm9k")
    with pytest.raises(ValueError, match="--answer_format 'letter' is not one of label, label_text, text"):
        DatasetArguments(dataset_name="arc_challenge", answer_format="letter")
    # The flags load through the registry, each name taking only its own options.
    rows = DatasetArguments(dataset_name="synthetic", synthetic_min_steps=1, synthetic_max_steps=1).load("test", 3)
    assert len(rows) == 3 and set(rows["num_steps"]) == {1}
