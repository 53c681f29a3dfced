"""The reference run-control file (`fcasacnp_clm_testbed.lst`): 29 positional lines.

Parsing follows the reference driver (io_workflow.md §2.1):

* numeric lines (1-8, 27, 29) are Fortran list-directed reads: the first token(s) are the
  value(s), separated by blanks or commas; the rest of the line is ignored. Line 6 (the
  transient years) is only interpreted when initcasa is 2 or 3.
* file-name lines (9-26, 28) are the first 100 characters of the line, leading blanks removed,
  cut at the first blank and at the first '!'. Relative names are resolved against the folder
  of the .lst file; absolute names are kept.
* line 29 (NetCDF output interval) may be missing or non-numeric (the JAMES prespin files):
  interval 1, with a warning. An interval <= 0 means 1.
* lines after 29 are free text.

Every problem is reported as an `InputError` naming the .lst file and the line.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

log = logging.getLogger(__name__)

DEFAULT_NAME = "fcasacnp_clm_testbed.lst"
MAX_NAME = 100          # the reference reads file names as CHARACTER(len=100)

# line number -> attribute of the file-name lines, in file order
FILE_LINES: dict[int, str] = {
    9: "gridinfo", 10: "casa_params", 11: "phenology", 12: "soil", 13: "met",
    14: "casa_restart_in", 15: "casa_restart_out", 16: "casa_flux_out", 17: "casa_nc",
    18: "mimics_params", 19: "mimics_restart_in", 20: "mimics_restart_out", 21: "mimics_nc",
    22: "corpse_restart_in", 23: "corpse_restart_out", 24: "corpse_namelist", 25: "corpse_nc",
    26: "co2delta", 28: "point_dir",
}

CASA, MIMICS, CORPSE = 1, 2, 3
SOIL_MODELS = {CASA: "CASA", MIMICS: "MIMICS", CORPSE: "CORPSE"}


@dataclass
class RunControl:
    """Contents of a run-control file; file names resolved against the .lst folder."""

    path: Path                  # the .lst file itself
    mp: int                     # line 1: number of simulated cells
    mvt: int                    # line 2: number of vegetation types (18: IGBP + tundra)
    mloop: int                  # line 3: passes over the met input (forced to 1 for initcasa 2)
    mdaily: int                 # line 4: 1 daily NetCDF output, 0 annual
    initcasa: int               # line 5: 0 cold start, 1 restart, 2 transient, 3 repeated transient
    tyear1: int | None          # line 6: first calendar year (initcasa 2/3 only, else None)
    tyear2: int | None          # line 6: last calendar year
    isom: int                   # line 7: soil model 1 CASA, 2 MIMICS, 3 CORPSE
    icycle: int                 # line 8: 1 C only, 2 C+N
    gridinfo: Path              # line 9
    casa_params: Path           # line 10 (CASA PFT table)
    phenology: Path             # line 11
    soil: Path                  # line 12
    met: Path                   # line 13 (a _YYYY_YYYY.nc template for initcasa 2/3)
    casa_restart_in: Path       # line 14
    casa_restart_out: Path      # line 15
    casa_flux_out: Path         # line 16
    casa_nc: Path               # line 17 (template: 'yyyy' before the last .nc)
    mimics_params: Path         # line 18
    mimics_restart_in: Path     # line 19
    mimics_restart_out: Path    # line 20
    mimics_nc: Path             # line 21 (template)
    corpse_restart_in: Path     # line 22 (parsed, unused)
    corpse_restart_out: Path    # line 23
    corpse_namelist: Path       # line 24
    corpse_nc: Path             # line 25
    co2delta: Path              # line 26 (perturbation file)
    point_index: int            # line 27: 1-based cell position for point CSVs, <= 0 disables
    point_dir: Path             # line 28: folder of the point CSVs
    nc_interval: int = 1        # line 29: NetCDF output interval in years (>= 1)
    raw: dict = field(default_factory=dict)   # file names exactly as written in the .lst

    @property
    def folder(self) -> Path:
        """Folder of the .lst file: the reference's working directory."""
        return self.path.parent

    @property
    def files(self) -> dict:
        """Resolved file names by attribute."""
        return {attr: getattr(self, attr) for attr in FILE_LINES.values()}

    @property
    def daily(self) -> bool:
        return self.mdaily == 1

    @property
    def nitrogen(self) -> bool:
        return self.icycle >= 2

    @property
    def transient(self) -> bool:
        """One met file per calendar year (initcasa 2 or 3)."""
        return self.initcasa >= 2

    @property
    def mreps(self) -> int:
        """Repetitions of the tyear1..tyear2 sequence (initcasa 3: mloop, else 1)."""
        return self.mloop if self.initcasa == 3 else 1


_NUM_SPLIT = re.compile(r"[\s,]+")
_INT = re.compile(r"[+-]?\d+")


def _integers(line: str, count: int, path, lineno: int, what: str) -> list[int]:
    """First `count` integers of a list-directed line (blanks/commas separate; '!' starts a
    comment; a '/' ends the values)."""
    text = line.split("!", 1)[0].split("/", 1)[0]
    toks = [t for t in _NUM_SPLIT.split(text.strip()) if t][:count]
    vals = []
    for tok in toks:
        if not _INT.fullmatch(tok):
            raise InputError(path, f"{what}: expected an integer, found '{tok}'", line=lineno)
        vals.append(int(tok))
    if len(vals) < count:
        found = f"found '{line.strip()}'" if line.strip() else "the line is empty"
        raise InputError(path, f"{what}: expected {count} integer{'s' if count > 1 else ''}, {found}",
                         line=lineno)
    return vals


def _filename(line: str, path, lineno: int, what: str) -> str:
    """The reference's rmcomments on the first 100 characters of a line."""
    field_ = line[:MAX_NAME]
    head = field_.lstrip()
    name = re.split(r"[\s!]", head, maxsplit=1)[0] if head else ""
    end = len(field_) - len(head) + len(name)
    if name and end == MAX_NAME and len(line) > MAX_NAME and line[MAX_NAME] not in " \t!":
        raise InputError(path, f"{what}: file name longer than {MAX_NAME} characters (the reference "
                               f"reads only the first {MAX_NAME}); use a shorter path", line=lineno)
    return name


def read_lst(path) -> RunControl:
    """Parse a run-control file (io_workflow.md §2)."""
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise InputError(path, f"cannot read run-control file: {exc.strerror}") from None
    lines = text.splitlines()
    if len(lines) < 28:
        raise InputError(path, f"run-control file has {len(lines)} lines; at least 28 are needed "
                               "(29 with the NetCDF output interval)", line=len(lines) or None)
    vals: dict = {}
    for i, name in enumerate(("mp", "mvt", "mloop", "mdaily", "initcasa")):
        vals[name] = _integers(lines[i], 1, path, i + 1, name)[0]
    if vals["initcasa"] in (2, 3):
        vals["tyear1"], vals["tyear2"] = _integers(lines[5], 2, path, 6, "transient years")
    else:
        vals["tyear1"] = vals["tyear2"] = None  # consumed but not read by the reference
    vals["isom"] = _integers(lines[6], 1, path, 7, "isomModel")[0]
    vals["icycle"] = _integers(lines[7], 1, path, 8, "icycle")[0]
    vals["point_index"] = _integers(lines[26], 1, path, 27, "point to save")[0]
    interval = None
    if len(lines) > 28:
        try:
            interval = _integers(lines[28], 1, path, 29, "NetCDF output interval")[0]
        except InputError:
            interval = None
    if interval is None:
        log.warning("%s:29: NetCDF output interval missing or not a number; using 1", path)
        interval = 1
    vals["nc_interval"] = interval if interval > 0 else 1

    base = path.parent
    raw = {}
    for ln, attr in FILE_LINES.items():
        name = _filename(lines[ln - 1], path, ln, attr)
        if not name and attr != "point_dir":
            raise InputError(path, f"line {ln} ({attr}) must name a file", line=ln)
        raw[attr] = name
        p = Path(name) if name else Path(".")
        vals[attr] = p if p.is_absolute() else base / p
    rc = RunControl(path=path, raw=raw, **vals)
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
        raise InputError(p, f"mdaily must be 0 (annual) or 1 (daily output), found {rc.mdaily}", line=4)
    if rc.initcasa not in (0, 1, 2, 3):
        raise InputError(p, f"initcasa must be 0, 1, 2 or 3, found {rc.initcasa}", line=5)
    if rc.initcasa >= 2:
        for y in (rc.tyear1, rc.tyear2):
            if not 1 <= y <= 9999:
                raise InputError(p, f"transient year {y} outside 1..9999", line=6)
        if rc.tyear1 > rc.tyear2:
            raise InputError(p, f"first transient year {rc.tyear1} is after the last {rc.tyear2}", line=6)
        if rc.initcasa == 2 and rc.mloop != 1:
            log.info("%s: mloop reset to 1 for a transient run (initcasa 2)", p)
            rc.mloop = 1
    if rc.isom not in SOIL_MODELS:
        raise InputError(p, f"isomModel must be 1 (CASA), 2 (MIMICS) or 3 (CORPSE), found {rc.isom}", line=7)
    if rc.icycle not in (1, 2, 3):
        raise InputError(p, f"icycle must be 1 (C) or 2 (C+N), found {rc.icycle}", line=8)
    if rc.isom == MIMICS and rc.icycle > 2:
        raise InputError(p, f"MIMICS (isomModel 2) needs icycle 1 or 2, found {rc.icycle}", line=8)
    if rc.isom == CORPSE and rc.icycle != 1:
        raise InputError(p, f"CORPSE (isomModel 3) needs icycle 1, found {rc.icycle}", line=8)
    if rc.icycle == 3:
        raise InputError(p, "icycle 3 (phosphorus) is not supported; use 1 (C) or 2 (C+N)", line=8)
    if rc.point_index > rc.mp:
        raise InputError(p, f"point to save {rc.point_index} is beyond the {rc.mp} cells (-1 disables)",
                         line=27)
    for attr, ln in (("casa_nc", 17), ("mimics_nc", 21)):
        _nc_index(str(getattr(rc, attr)), p, ln)
    if rc.initcasa >= 2:
        _met_index(str(rc.met), p)


def _nc_index(name: str, path=None, line=None) -> int:
    idx = name.rfind(".nc")
    base_start = max(name.rfind("/"), name.rfind("\\")) + 1
    if idx < 0 or idx - 4 < base_start:
        raise InputError(path, f"NetCDF output name '{name}' must end in four characters "
                               "(conventionally yyyy) followed by .nc", line=line)
    return idx


def _met_index(name: str, path=None) -> int:
    idx = name.rfind(".nc")
    base_start = max(name.rfind("/"), name.rfind("\\")) + 1
    if idx < 0 or idx - 9 < base_start:
        raise InputError(path, f"transient met file template '{name}' must end in _YYYY_YYYY.nc",
                         line=13)
    return idx


def _year4(year: int) -> str:
    """The reference's 4-digit year field: zero padded below 1000; wider years are kept whole
    (the reference would write '****')."""
    if year < 0:
        raise ValueError(f"negative year label {year}")
    return f"{year:04d}"


def met_path_for_year(rc: RunControl, year: int) -> Path:
    """Met file of a calendar year in transient runs: the template's `_YYYY_YYYY` before the
    last `.nc` replaced by the year (e.g. met_1901_1901.nc -> met_1957_1957.nc)."""
    name = str(rc.met)
    idx = _met_index(name, rc.path)
    y = _year4(year)
    if len(y) != 4:
        raise InputError(rc.path, f"year {year} does not fit the 4-digit met file name field", line=6)
    return Path(name[:idx - 9] + y + name[idx - 5] + y + name[idx:])


def nc_output_name(template, label: int, daily: bool) -> Path:
    """NetCDF output name: the 4 characters before the last `.nc` replaced by the year label
    (4 digits, zero padded), `_daily` inserted before `.nc` for daily files (the reference's
    InsertYearInNcFileName / CreateDailyNcFileName)."""
    name = str(template)
    idx = _nc_index(name)
    stem = name[:idx - 4] + _year4(int(label))
    return Path(stem + ("_daily.nc" if daily else name[idx:]))
