"""The one model loader: where a name, an adapter folder or a GGUF folder sends it (no weights loaded here)."""

import json

import pytest

from latro_trl.models import EMBEDDED_GGUF_FILE, embedded_model_dir, resolve_model_source


def test_the_embedded_model_has_three_names():
    for name in (None, "embedded", "embedded:smollm2-135m-instruct"):
        assert resolve_model_source(name) == (str(embedded_model_dir()), None, EMBEDDED_GGUF_FILE)


def test_an_adapter_folder_names_its_base(tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "org/base"}))
    assert resolve_model_source(tmp_path) == ("org/base", str(tmp_path), None)
    # An explicit adapter on top of a base: the base is taken as given.
    assert resolve_model_source("org/other", tmp_path) == ("org/other", str(tmp_path), None)


def test_a_folder_with_one_gguf_file_and_no_config_loads_from_it(tmp_path):
    (tmp_path / "model.Q4.gguf").write_bytes(b"")
    assert resolve_model_source(tmp_path) == (str(tmp_path), None, "model.Q4.gguf")
    (tmp_path / "config.json").write_text("{}")  # a regular checkpoint: the GGUF beside it is not what to load
    assert resolve_model_source(tmp_path) == (str(tmp_path), None, None)


def test_two_gguf_files_ask_which(tmp_path):
    for name in ("a.gguf", "b.gguf"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(ValueError, match="several GGUF files"):
        resolve_model_source(tmp_path)
