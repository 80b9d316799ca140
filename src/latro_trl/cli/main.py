"""The `latro` command: `latro {train,eval,demo,plan} ...`.

Every subcommand follows TRL's pattern: its module exposes `make_parser(subparsers=None, prog=None)`, a `TrlParser`
over a tuple of dataclasses (`LaTROConfig`, TRL's `ModelConfig` and the command's own arguments, so `--config
recipe.yaml` works everywhere), and `main(*parsed_dataclasses) -> int`. Only the chosen command's module is imported,
so `latro --help` stays fast.
"""

from __future__ import annotations

import importlib
import sys
from argparse import ArgumentParser

COMMANDS = {
    "train": ("latro_trl.cli.train", "train with LaTRO (every LaTROConfig field is a flag; --config file.yaml)"),
    "eval": ("latro_trl.cli.evaluate", "greedy accuracy and maj@k of a model or adapter"),
    "demo": ("latro_trl.cli.demo", "embedded model + offline problems: evaluate, train with LoRA, evaluate again"),
    "plan": ("latro_trl.cli.plan", "per-GPU memory estimate of a run's config, for a model and ZeRO stage"),
}

USAGE = (
    "usage: latro {"
    + ",".join(COMMANDS)
    + "} [options]   (latro COMMAND --help for its options)\n\n"
    + "\n".join(f"  {name:<6} {summary}" for name, (_, summary) in COMMANDS.items())
)


def run_command(command: str, argv: list[str]) -> int:
    """Parse `argv` with `command`'s parser (registered as a `latro` subcommand) and run its `main`."""
    from trl import TrlParser

    module = importlib.import_module(COMMANDS[command][0])
    subparsers = ArgumentParser(prog="latro", allow_abbrev=False).add_subparsers(dest="command", parser_class=TrlParser)
    parser = module.make_parser(subparsers)
    return int(module.main(*parser.parse_args_and_config(args=argv)))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"latro: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    return run_command(command, rest)


if __name__ == "__main__":
    sys.exit(main())
