"""Exceptions that the command line turns into one clear line and exit status 2."""

from __future__ import annotations


class BgcError(Exception):
    """Base class for errors a user can act on (bad input, bad configuration)."""

    exit_status = 2


class InputError(BgcError):
    """A problem with an input file: names the file and, where known, line/variable/cell."""

    def __init__(self, path, message: str, *, line: int | None = None,
                 variable: str | None = None, cell: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.variable = variable
        self.cell = cell
        self.detail = message
        where = []
        if self.path:
            where.append(self.path + (f":{line}" if line is not None else ""))
        if variable:
            where.append(f"variable '{variable}'")
        if cell is not None:
            where.append(f"cell {cell}")
        super().__init__((", ".join(where) + ": " if where else "") + message)


class ConfigError(BgcError):
    """A problem with a run configuration (TOML or options)."""


class ModelError(BgcError):
    """The model produced an invalid state (NaN, impossible pool) — names cell, pool and day."""
