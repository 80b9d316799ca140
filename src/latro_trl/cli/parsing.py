"""How every `latro` command, bench script and experiment reads a run: one `TrlParser`.

The parser holds three dataclasses: the command's own arguments (what is truly its own: an output folder, seeds, a
number of problems), `LaTROConfig` (every setting of the run) and TRL's `ModelConfig` (the model, LoRA). A recipe
(YAML with keys of any of the three) gives the command's defaults; `--config other.yaml` and flags override them. A
setting therefore has one name and one declaration, `LaTROConfig`'s, wherever a run is started or measured.
"""

from __future__ import annotations

from argparse import RawDescriptionHelpFormatter
from pathlib import Path
from typing import Any


def run_parser(
    own: type,
    *,
    command: str | None = None,
    subparsers: Any = None,
    help: str | None = None,
    prog: str | None = None,
    description: str | None = None,
    recipe: str | Path | None = None,
    defaults: dict[str, Any] | None = None,
) -> Any:
    """A `TrlParser` over `(own, LaTROConfig, ModelConfig)`.

    Args:
        own: the command's own dataclass.
        command, subparsers, help: register it as the subcommand `command` of a `latro` parser (`subparsers` from
            `add_subparsers(parser_class=TrlParser)`), TRL's `make_parser(subparsers)` pattern; without
            `subparsers`, a standalone parser named `prog`.
        description: the `--help` text, printed as written (a module docstring).
        recipe: a YAML file whose keys become the defaults; a key no dataclass has is an error.
        defaults: more defaults, over the recipe's.
    """
    import yaml
    from trl import ModelConfig, TrlParser

    from latro_trl import LaTROConfig

    dataclass_types = (own, LaTROConfig, ModelConfig)
    text = {"description": description, "formatter_class": RawDescriptionHelpFormatter} if description else {}
    if subparsers is not None:
        parser = subparsers.add_parser(command, help=help, dataclass_types=dataclass_types, **text)
    else:
        parser = TrlParser(dataclass_types, prog=prog, **text)
    values = {**(yaml.safe_load(Path(recipe).read_text()) if recipe else {}), **(defaults or {})}
    unknown = parser.set_defaults_with_config(**values) if values else []
    if unknown:
        raise ValueError(
            f"{recipe} sets keys that no dataclass of {command or prog or own.__name__} has: {unknown[::2]}"
        )
    return parser
