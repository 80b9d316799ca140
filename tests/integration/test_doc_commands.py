"""Every command the documentation shows parses as written (issue #30): each flag is one its script or `latro`
command has, and the run's config accepts the values. Only the parsing runs; nothing is trained or measured.

The commands are the `latro ...`, `python bench|experiments|examples/<script>.py ...` and `accelerate launch ...
examples/<script>.py ...` lines of the shell blocks of README.md, docs/*.md, bench/README.md and examples/README.md.
A script the docs name but the tree no longer has must be one the docs call retired.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import shlex
import sys
from argparse import ArgumentParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
DOCS.append(ROOT / "examples" / "README.md")
COMMAND = re.compile(
    r"^(?:OMP_NUM_THREADS=\d+\s+)?(?:\.venv/bin/)?"
    r"(?:(?P<latro>latro)\s+(?P<sub>\w+)|python\s+(?P<script>(?:bench|experiments|examples)/\w+\.py)"
    r"|accelerate launch\s+(?:--\S+\s+\S+\s+)*(?P<launched>examples/\w+\.py))(?P<rest>.*)$"
)


class Parsed(Exception):
    """Raised by a wrapped parser once it has parsed: the script stops before doing any work."""


def _commands() -> list[tuple[str, re.Match]]:
    found = []
    for doc in DOCS:
        for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", doc.read_text(), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                match = COMMAND.match(line.strip())
                if match:
                    found.append((f"{doc.relative_to(ROOT)}: {line.strip()[:70]}", match))
    return found


COMMANDS = _commands()


def _argv(rest: str) -> list[str]:
    # Shell variables stand for a path the reader fills in.
    return [re.sub(r"^\$\w+$", "runs/placeholder", word) for word in shlex.split(rest, comments=True)]


def _load(script: str, monkeypatch):
    path = ROOT / script
    monkeypatch.syspath_prepend(str(path.parent))  # the scripts import their siblings, as when run from their folder
    spec = importlib.util.spec_from_file_location(f"doc_command_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _parse_latro(command: str, argv: list[str]) -> None:
    from trl import TrlParser

    from latro_trl.cli.main import COMMANDS as LATRO_COMMANDS

    module = importlib.import_module(LATRO_COMMANDS[command][0])
    subparsers = ArgumentParser(prog="latro").add_subparsers(dest="command", parser_class=TrlParser)
    module.make_parser(subparsers).parse_args_and_config(args=argv)


def _parse_script(script: str, argv: list[str], monkeypatch) -> None:
    if script == "examples/evaluate.py":  # `latro eval` as a script
        return _parse_latro("eval", argv)
    module = _load(script, monkeypatch)
    if hasattr(module, "parse_run"):  # bench: every script reads its run with common.parse_run, then works
        real = module.parse_run

        def parse_then_stop(*args, **kwargs):
            real(*args, **kwargs)
            raise Parsed

        monkeypatch.setattr(module, "parse_run", parse_then_stop)
        with pytest.raises(Parsed):
            module.main(argv)
        return None
    if hasattr(module, "parse_args"):
        return module.parse_args(argv)
    if hasattr(module, "make_parser"):
        parser = module.make_parser()
        return parser.parse_args_and_config(args=argv) if hasattr(parser, "parse_args_and_config") else None
    if hasattr(module, "Args"):  # examples/latro_minimal.py: one dataclass, HfArgumentParser
        from transformers import HfArgumentParser

        return HfArgumentParser(module.Args).parse_args_into_dataclasses(args=argv)
    pytest.fail(f"{script}: no parser found to check its documented flags against")


def test_the_docs_show_commands():
    assert len(COMMANDS) > 30


@pytest.mark.parametrize(("where", "match"), COMMANDS, ids=[where for where, _ in COMMANDS])
def test_a_documented_command_parses(where, match, monkeypatch):
    monkeypatch.chdir(ROOT)  # recipes and data paths in the docs are relative to the repository
    # The GPU recipes ask for bf16, which TrainingArguments refuses on a machine without a GPU: parse them as if
    # it had one (only the flags are checked here, not the hardware).
    monkeypatch.setattr("transformers.training_args.is_torch_bf16_gpu_available", lambda: True)
    argv = _argv(match["rest"])
    if match["latro"]:
        return _parse_latro(match["sub"], argv)
    script = match["script"] or match["launched"]
    if not (ROOT / script).exists():
        paragraphs = [part for doc in DOCS for part in doc.read_text().split("\n\n")]
        mentions = [part for part in paragraphs if Path(script).name in part and "retired" in part.lower()]
        assert mentions, f"{where}: {script} does not exist and no doc calls it retired"
        return None
    _parse_script(script, argv, monkeypatch)
    return None
