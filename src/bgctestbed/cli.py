"""Command line entry point: `bgctestbed <command> ...`.

Each command lives in its own module exposing `register(subparsers)`; the module adds a
sub-parser whose `func(args) -> int` runs the command. Errors derived from `BgcError` are
reported as one line on stderr with exit status 2 (`--debug` shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import BgcError

# Modules providing commands (each defines `register(subparsers)`).
COMMAND_MODULES = [
    "bgctestbed.commands",
    "bgctestbed.bench",
    "bgctestbed.ensemble",
    "bgctestbed.world.cli",
    "bgctestbed.analysis.cli",
    "bgctestbed.check",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bgctestbed", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BgcError as exc:
        if args.debug:
            raise
        print(f"bgctestbed: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("bgctestbed: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
