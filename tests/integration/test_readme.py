"""The README's quick-start snippet runs exactly as written (with the embedded model)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _snippet(name: str) -> str:
    match = re.search(rf"<!-- snippet: {name} -->\s*```python\n(.*?)```", README.read_text(), re.S)
    assert match, f"README.md has no '{name}' snippet"
    return match.group(1)


@pytest.mark.slow
def test_quickstart_snippet_runs(tmp_path, monkeypatch):
    pytest.importorskip("gguf")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_snippet("quickstart"), "README.md:quickstart", "exec"), namespace)
    trainer = namespace["trainer"]
    assert trainer.state.global_step == 2
    assert all(k in trainer.state.log_history[0] for k in ("reward", "answer_logp", "rationale/marker_rate"))
