"""The ``lpfk`` command line. Each command is a module lpfk/commands/<name>.py with
``add_parser(subparsers)``; heavy imports happen inside the command, not at start-up."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("demo", "eval", "report", "sinc", "hyra", "lam", "faig", "sinc_upsample")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lpfk", description="Frequency-domain and attribution analysis of SR networks."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"lpfk.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, OSError) as exc:  # bad input: one clear line, no traceback
        print(f"lpfk {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
