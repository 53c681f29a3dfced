"""The reference run-control file (`fcasacnp_clm_testbed.lst`): 29 positional lines.

Numeric lines are Fortran list-directed reads (first token(s), the rest is comment); file-name
lines are the first 100 characters, cut at the first blank or '!'. Relative paths are resolved
against the folder of the .lst file.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

log = logging.getLogger(__name__)

# (line number, attribute) of the file-name lines
_FILE_LINES = {9: "gridinfo", 10: "casa_params", 11: "phenology", 12: "soil", 13: "met",
               14: "casa_restart_in", 15: "casa_restart_out", 16: "casa_flux_out", 17: "casa_nc",
               18: "mimics_params", 19: "mimics_restart_in", 20: "mimics_restart_out",
               21: "mimics_nc", 22: "corpse_restart_in", 23: "corpse_restart_out",
               24: "corpse_namelist", 25: "corpse_nc", 26: "co2delta", 28: "point_dir"}


@dataclass
class RunControl:
    path: Path
    mp: int                 # number of simulated cells
    mvt: int                # number of vegetation types (18)
    mloop: int              # passes over the met input
    mdaily: int             # 1: daily NetCDF output, 0: annual
    initcasa: int           # 0 cold start, 1 restart, 2 transient, 3 repeated transient
    tyear1: int
    tyear2: int
    isom: int               # 1 CASA, 2 MIMICS, 3 CORPSE
    icycle: int             # 1 C, 2 C+N
    point_index: int = -1
    nc_interval: int = 1
    files: dict = field(default_factory=dict)   # resolved paths by attribute name
    raw: dict = field(default_factory=dict)     # file names as written in the .lst

    def __getattr__(self, name):
        files = self.__dict__.get("files", {})
        if name in files:
            return files[name]
        raise AttributeError(name)


def _numbers(line: str, count: int, path, lineno: int, what: str) -> list[int]:
    toks = line.replace(",", " ").split()[:count]
    vals = []
    for tok in toks:
        try:
            v = float(tok)
        except ValueError:
            v = None
        if v is None or v != int(v):
            raise InputError(path, f"{what}: expected an integer, found '{tok}'", line=lineno)
        vals.append(int(v))
    if len(vals) < count:
        raise InputError(path, f"{what}: expected {count} integer(s)", line=lineno)
    return vals


def _filename(line: str) -> str:
    s = line[:100].lstrip()
    s = s.split("!", 1)[0]
    return s.split()[0] if s.split() else ""


def read_lst(path) -> RunControl:
    path = Path(path)
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        raise InputError(path, f"cannot read run-control file: {exc.strerror}") from None
    if len(lines) < 28:
        raise InputError(path, f"run-control file has {len(lines)} lines; at least 28 are needed "
                               "(29 with the output interval)", line=len(lines))
    names = ["mp", "mvt", "mloop", "mdaily", "initcasa"]
    vals = {n: _numbers(lines[i], 1, path, i + 1, n)[0] for i, n in enumerate(names)}
    vals["tyear1"], vals["tyear2"] = _numbers(lines[5], 2, path, 6, "transient years")
    vals["isom"] = _numbers(lines[6], 1, path, 7, "isomModel")[0]
    vals["icycle"] = _numbers(lines[7], 1, path, 8, "icycle")[0]
    point = _numbers(lines[26], 1, path, 27, "point to save")[0]
    try:
        interval = _numbers(lines[28], 1, path, 29, "NetCDF output interval")[0] if len(lines) > 28 else None
    except InputError:
        interval = None
    if interval is None:
        log.warning("%s: line 29 (NetCDF output interval) missing or not a number; using 1", path)
        interval = 1
    rc = RunControl(path=path, point_index=point, nc_interval=max(1, interval), **vals)
    base = path.parent
    for ln, attr in _FILE_LINES.items():
        name = _filename(lines[ln - 1])
        if not name and attr not in ("point_dir",):
            raise InputError(path, f"line {ln} ({attr}) must name a file", line=ln)
        p = Path(name)
        rc.raw[attr] = name
        rc.files[attr] = p if p.is_absolute() or attr == "point_dir" else base / p
    _validate(rc)
    return rc


def _validate(rc: RunControl) -> None:
    p = rc.path
    if rc.mp <= 0:
        raise InputError(p, f"mp (number of cells) must be positive, found {rc.mp}", line=1)
    if rc.mvt != 18:
        raise InputError(p, f"mvt must be 18 (IGBP classes + tundra), found {rc.mvt}", line=2)
    if rc.mloop < 1:
        raise InputError(p, f"mloop must be at least 1, found {rc.mloop}", line=3)
    if rc.mdaily not in (0, 1):
        raise InputError(p, f"mdaily must be 0 or 1, found {rc.mdaily}", line=4)
    if rc.initcasa not in (0, 1, 2, 3):
        raise InputError(p, f"initcasa must be 0, 1, 2 or 3, found {rc.initcasa}", line=5)
    if rc.initcasa >= 2:
        if not (1 <= rc.tyear1 <= rc.tyear2 <= 9999):
            raise InputError(p, f"transient years {rc.tyear1} {rc.tyear2} must satisfy "
                                "1 <= first <= last <= 9999", line=6)
        if rc.initcasa == 2:
            rc.mloop = 1
    if rc.isom not in (1, 2, 3):
        raise InputError(p, f"isomModel must be 1 (CASA), 2 (MIMICS) or 3 (CORPSE), found {rc.isom}", line=7)
    if rc.icycle not in (1, 2, 3):
        raise InputError(p, f"icycle must be 1 (C) or 2 (C+N), found {rc.icycle}", line=8)
    if rc.isom == 2 and rc.icycle not in (1, 2):
        raise InputError(p, "MIMICS runs need icycle 1 or 2", line=8)
    if rc.icycle == 3:
        raise InputError(p, "icycle 3 (phosphorus) is not supported; use 1 (C) or 2 (C+N)", line=8)


def met_path_for_year(rc: RunControl, year: int) -> Path:
    """Transient met file of a calendar year: the `_YYYY_YYYY.nc` of the template replaced."""
    name = str(rc.met)
    idx = name.rfind(".nc")
    if idx < 9 or not re.fullmatch(r"\d{4}_\d{4}", name[idx - 9:idx]):
        raise InputError(rc.path, f"met file template '{rc.met.name}' must end in _YYYY_YYYY.nc for "
                                  "transient runs", line=13)
    return Path(f"{name[:idx - 9]}{year:04d}_{year:04d}{name[idx:]}")


def nc_output_name(template, label: int, daily: bool) -> Path:
    """NetCDF output name: the 4 characters before the last `.nc` replaced by the year label
    (4 digits), `_daily` appended for daily files."""
    name = str(template)
    idx = name.rfind(".nc")
    if idx < 4:
        raise InputError(None, f"NetCDF output template '{template}' must end in yyyy.nc")
    stem = f"{name[:idx - 4]}{label:04d}"
    return Path(stem + ("_daily" if daily else "") + name[idx:])
