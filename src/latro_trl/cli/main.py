"""The `latro` command: `latro {train,eval,demo,plan} ...`."""

from __future__ import annotations

import sys

COMMANDS = {
    "train": ("latro_trl.cli.train", "train with LaTRO (every LaTROConfig field is a flag; --config file.yaml)"),
    "eval": ("latro_trl.cli.evaluate", "greedy accuracy and maj@k of a model or adapter"),
    "demo": ("latro_trl.cli.demo", "embedded model + offline problems: evaluate, train with LoRA, evaluate again"),
    "plan": ("latro_trl.cli.plan", "per-GPU memory estimate for a model, ZeRO stage and batch"),
}

USAGE = (
    "usage: latro {"
    + ",".join(COMMANDS)
    + "} [options]   (latro COMMAND --help for its options)\n\n"
    + "\n".join(f"  {name:<6} {summary}" for name, (_, summary) in COMMANDS.items())
)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"latro: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    import importlib

    module = importlib.import_module(COMMANDS[command][0])
    if not hasattr(module, "add_parser"):  # TrlParser-based commands read their own argv
        return int(module.run(rest) or 0)
    import argparse

    parser = argparse.ArgumentParser(prog="latro")
    module.add_parser(parser.add_subparsers(dest="command"))
    return int(module.run(parser.parse_args([command, *rest])) or 0)


if __name__ == "__main__":
    sys.exit(main())
