"""Core commands: run."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("run", help="run a case described by a reference .lst run-control file")
    p.add_argument("path", help="run-control file (.lst)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from .legacy import run_lst

    run_lst(args.path)
    return 0
