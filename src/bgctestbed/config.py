"""Run configuration (TOML): what to simulate, on which inputs, through which phases.

Every key is declared once in `SCHEMA` with its type, default and meaning; unknown keys and
bad values are errors naming the file and key. `example_config()` is the commented file that
`bgctestbed init` writes, generated from the same table so it cannot drift from the parser.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

CONFIGURATIONS = {"casa-c": ("casa", False), "casa-cn": ("casa", True),
                  "mimics-c": ("mimics", False), "mimics-cn": ("mimics", True)}
PHASES = ("prespin", "spinup", "historical", "scenario")


@dataclass(frozen=True)
class Key:
    type: type | tuple
    default: object
    help: str
    choices: tuple | None = None


def _years(v):
    return isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) for x in v) and v[0] <= v[1]


SCHEMA: dict[str, dict[str, Key]] = {
    "run": {
        "name": Key(str, "run", "name of the run (used in output file attributes and the report)"),
        "output_dir": Key(str, "output", "folder for all outputs (relative to this file)"),
        "configurations": Key(list, ["casa-c", "casa-cn", "mimics-c", "mimics-cn"],
                              "soil model and nitrogen: any of casa-c, casa-cn, mimics-c, mimics-cn"),
        "report": Key(bool, True, "write the analysis report after the last phase"),
        "csv_restarts": Key(bool, False, "also write reference-format restart CSVs after each phase"),
        "budgets": Key(bool, True, "write each year's C and N budget residuals in the annual outputs "
                       "of the historical and scenario runs (checked by 'bgctestbed check'; the extra "
                       "diagnostics slow those phases: measured +23 % for MIMICS, up to 2x for CASA C+N)"),
    },
    "inputs": {
        "world": Key(str, "embedded", "'embedded' (the default 2-degree world shipped with the package), "
                     "a world .npz file, or 'files' to read reference-format inputs below"),
        "cell_stride": Key(int, 1, "simulate every k-th cell only, each standing for k cells in global "
                           "totals (1 = all; larger for quick looks)"),
        "seed": Key(int, 0, "seed of the world's weather generator"),
        "gridinfo": Key(str, "", "reference gridinfo CSV (world = 'files')"),
        "soil": Key(str, "", "reference soil CSV (world = 'files')"),
        "phenology": Key(str, "", "reference phenology file (world = 'files')"),
        "met": Key(str, "", "met NetCDF per year, '{year}' in the name is replaced (world = 'files')"),
        "casa_params": Key(str, "default", "CASA PFT table: 'default' or a reference-format CSV"),
        "mimics_params": Key(str, "default", "MIMICS parameter file: 'default' or a reference-format CSV"),
        "casa_restart": Key(str, "", "start the historical phase from reference restart CSVs instead of "
                            "spinning up: CASA restart, '{configuration}' is replaced (e.g. by casa-cn)"),
        "mimics_restart": Key(str, "", "MIMICS restart CSV for the MIMICS configurations (with casa_restart)"),
    },
    "spinup": {
        "method": Key(str, "auto", "'auto' (the steady-state solver for the CASA soil, brute force for "
                      "MIMICS), 'brute' (repeat the forcing cycle, as the reference) or 'solver' (the periodic "
                      "steady state solved directly: turnover-preconditioned Anderson acceleration for CASA, "
                      "per-cell Newton for MIMICS, not yet proven there (docs/spinup.md); then plain cycles "
                      "until the criteria hold)",
                      ("auto", "brute", "solver")),
        "prespin_year": Key(int, 1901, "year whose forcing is repeated in the prespin"),
        "prespin_years": Key(int, 100, "years of prespin (0 = none)"),
        "cycle": Key(list, [1901, 1920], "first and last year of the spin-up forcing cycle"),
        "max_cycles": Key(int, 2000, "brute force: upper limit of spin-up cycles per stage (the criteria "
                          "normally stop it first)"),
        "min_cycles": Key(int, 2, "brute force: cycles run before the criteria may stop a stage"),
        "accelerated": Key(bool, True, "CASA soil by brute force: accelerated-decomposition stage, then "
                           "passive pools x passive_factor, then the normal-rate stage"),
        "passive_factor": Key(float, 10.0, "factor of the passive-pool rescale after the accelerated stage"),
        "checkpoint_every": Key(int, 10, "brute force: cycles between checkpoints (for --resume; an "
                                "interrupted solver starts again from the prespin)"),
    },
    "historical": {
        "years": Key(list, [1901, 2014], "first and last calendar year"),
        "output": Key(str, "annual", "'annual' or 'daily' output", ("annual", "daily")),
    },
    "scenario": {
        "years": Key(list, [], "first and last calendar year continuing the historical run ([] = none)"),
        "output": Key(str, "annual", "'annual' or 'daily' output", ("annual", "daily")),
    },
    "compute": {
        "workers": Key(int, 0, "dask.distributed worker processes on this machine (0 = run in this "
                       "process; results are identical)"),
        "scheduler": Key(str, "", "address of a running dask scheduler to use instead (e.g. "
                         "'tcp://host:8786'; '' = none)"),
        "threads": Key(int, 1, "in this process: chunks of cells run side by side in this many threads "
                       "(a chunk's year runs on one core; up to the number of cores); 1 = one chunk "
                       "at a time"),
        "chunk_cells": Key(int, 0, "cells per chunk (0 = one chunk per worker or thread, or all cells in one "
                           "process); the steady-state solver decides per chunk, so give the same "
                           "value to reproduce a distributed solver run in one process"),
        "device": Key(str, "", "JAX platform: 'cpu', 'gpu' or '' (JAX's default)", ("", "cpu", "gpu")),
    },
    "options": {
        "cumulative_roots": Key(bool, False, "Q1: root fractions from cumulative depth (reference: off)"),
        "fix_plant_n_update": Key(bool, False, "Q2: update plant N even when leaf C <= 0"),
        "fix_btran_floor": Key(bool, False, "Q6: floor the drought index at 0"),
        "fix_n_loss_branch": Key(bool, False, "Q7: frozen soil with ample N loses N at the unfrozen rate"),
    },
}


class Config(dict):
    """Validated configuration: `cfg["spinup"]["method"]`; `path` is the file it came from and
    `base` the folder relative paths are resolved against."""

    def __init__(self, data: dict, path: Path | None, text: str = ""):
        super().__init__(data)
        self.path = path
        self.base = path.parent if path is not None else Path.cwd()
        self.text = text

    def resolve(self, p: str) -> Path:
        q = Path(p).expanduser()
        return q if q.is_absolute() else self.base / q

    @property
    def output_dir(self) -> Path:
        return self.resolve(self["run"]["output_dir"])


def _check(section: str, key: str, value, spec: Key, where: str):
    name = f"{section}.{key}"
    if spec.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, spec.type) or (spec.type is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: {name} must be {spec.type.__name__}, not {value!r}")
    if spec.choices and value not in spec.choices:
        raise ConfigError(f"{where}: {name} must be one of {', '.join(spec.choices)}, not {value!r}")
    return value


def parse_config(data: dict, path: Path | None = None, text: str = "") -> Config:
    where = str(path) if path else "configuration"
    out = {}
    for section, value in data.items():
        if section not in SCHEMA:
            raise ConfigError(f"{where}: unknown section [{section}] (known: {', '.join(SCHEMA)})")
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: [{section}] must be a table")
        for key in value:
            if key not in SCHEMA[section]:
                raise ConfigError(f"{where}: unknown key {section}.{key} "
                                  f"(known: {', '.join(SCHEMA[section])})")
    for section, keys in SCHEMA.items():
        given = data.get(section, {})
        out[section] = {k: _check(section, k, given[k], spec, where) if k in given else spec.default
                        for k, spec in keys.items()}
    _validate(out, where)
    return Config(out, path, text)


def _validate(c: dict, where: str):
    confs = c["run"]["configurations"]
    bad = [x for x in confs if x not in CONFIGURATIONS]
    if not confs or bad:
        raise ConfigError(f"{where}: run.configurations must list some of {', '.join(CONFIGURATIONS)}"
                          + (f"; unknown: {', '.join(map(str, bad))}" if bad else ""))
    if len(set(confs)) != len(confs):
        raise ConfigError(f"{where}: run.configurations lists a configuration twice")
    for sec in ("historical", "scenario"):
        y = c[sec]["years"]
        if y and not _years(y):
            raise ConfigError(f"{where}: {sec}.years must be [first, last] with first <= last, not {y!r}")
    if not _years(c["spinup"]["cycle"]):
        raise ConfigError(f"{where}: spinup.cycle must be [first, last] with first <= last")
    for k in ("max_cycles", "checkpoint_every", "cell_stride"):
        sec = "inputs" if k == "cell_stride" else "spinup"
        if c[sec][k] < 1:
            raise ConfigError(f"{where}: {sec}.{k} must be at least 1")
    for k in ("workers", "chunk_cells"):
        if c["compute"][k] < 0:
            raise ConfigError(f"{where}: compute.{k} must not be negative")
    if c["compute"]["workers"] and c["compute"]["scheduler"]:
        raise ConfigError(f"{where}: give compute.workers or compute.scheduler, not both")
    if c["compute"]["threads"] < 1:
        raise ConfigError(f"{where}: compute.threads must be at least 1")
    if c["compute"]["threads"] > 1 and (c["compute"]["workers"] or c["compute"]["scheduler"]):
        raise ConfigError(f"{where}: compute.threads applies to runs in this process, not with dask "
                          "workers or a scheduler")
    for k in ("prespin_years", "min_cycles"):
        if c["spinup"][k] < 0:
            raise ConfigError(f"{where}: spinup.{k} must not be negative")
    if c["spinup"]["passive_factor"] <= 0:
        raise ConfigError(f"{where}: spinup.passive_factor must be positive")
    h, s = c["historical"]["years"], c["scenario"]["years"]
    if s and h and s[0] != h[1] + 1:
        raise ConfigError(f"{where}: scenario.years must start the year after historical.years ends "
                          f"({h[1] + 1}), not {s[0]}")
    if c["inputs"]["mimics_restart"] and not c["inputs"]["casa_restart"]:
        raise ConfigError(f"{where}: inputs.mimics_restart needs inputs.casa_restart")
    if c["inputs"]["world"] == "files":
        missing = [k for k in ("gridinfo", "soil", "phenology", "met") if not c["inputs"][k]]
        if missing:
            raise ConfigError(f"{where}: inputs.world = 'files' needs inputs.{', inputs.'.join(missing)}")


def load_config(path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, path, text)


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return repr(v)


PRESETS = {
    # the paper's protocol on the embedded world (CASA: the steady-state solver, minutes;
    # MIMICS: brute-force spin-up, days of computing)
    "paper": {"run": {"name": "paper", "output_dir": "output/paper"}},
    # a few minutes: every 10th cell, a 1-year spin-up cycle, short prespin and spin-up at normal
    # rates (not at equilibrium: the spin-up log says how far from it; a short accelerated stage
    # followed by the passive x10 rescale would overshoot)
    "quick": {"run": {"name": "quick", "output_dir": "output/quick", "budgets": False},
              "inputs": {"cell_stride": 10},
              "spinup": {"method": "brute", "prespin_years": 10, "cycle": [1901, 1901], "max_cycles": 40,
                         "accelerated": False}},
}


def example_config(preset: str = "paper") -> str:
    """Commented TOML with every key, its default (or the preset's value) and meaning."""
    over = PRESETS[preset]
    lines = [f"# bgctestbed run configuration ({preset} preset). Run with: bgctestbed run THIS_FILE",
             "# Every key is optional; the value shown is what applies when it is left out."]
    for section, keys in SCHEMA.items():
        lines += ["", f"[{section}]"]
        for k, spec in keys.items():
            val = over.get(section, {}).get(k, spec.default)
            lines.append(f"# {spec.help}")
            lines.append(f"{k} = {_toml(val)}")
    return "\n".join(lines) + "\n"


def preset_config(preset: str, base: Path | None = None) -> Config:
    text = example_config(preset)
    cfg = parse_config(tomllib.loads(text), None, text)
    if base is not None:
        cfg.base = base
    return cfg
