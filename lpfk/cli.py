"""The ``lpfk`` command line. Each command is a module lpfk/commands/<name>.py with
``add_parser(subparsers)``; heavy imports happen inside the command, not at start-up.

Exit status (docs/design.md, "Exit codes"): 0 success; 1 the run failed (OSError: a file could
not be read or written; BackendUnavailableError; any unexpected error; a command that reports
failed items); 2 the command line or its input was not accepted (argparse errors, ValueError,
TypeError, an output that would be replaced without ``--overwrite``); 130 interrupted. Every error is one line on stderr,
``lpfk <command>: error: ...``, never a traceback (set ``LPFK_TRACEBACK=1`` to see one).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMANDS = ("demo", "eval", "report", "sinc", "hyra", "lam", "faig", "sinc_upsample")

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lpfk")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lpfk", description="Frequency-domain and attribution analysis of SR networks."
    )
    parser.add_argument("--version", action="version", version=f"lpfk {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"lpfk.commands.{name}").add_parser(sub)
    return parser


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, (ValueError, TypeError)):
        return EXIT_USAGE
    return EXIT_FAILURE


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    from lpfk.ops.dispatch import BackendUnavailableError

    text = " ".join(str(exc).split()) or type(exc).__name__  # one line, whatever the message holds
    if isinstance(exc, (ValueError, TypeError, OSError, BackendUnavailableError)):
        return text
    return f"{type(exc).__name__}: {text} (an unexpected error; LPFK_TRACEBACK=1 shows where)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (Exception, KeyboardInterrupt) as exc:
        if os.environ.get("LPFK_TRACEBACK"):
            raise
        print(f"lpfk {args.command}: error: {_message(exc)}", file=sys.stderr)
        return _exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
