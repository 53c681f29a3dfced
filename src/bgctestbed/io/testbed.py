"""Readers and writers of the reference testbed's file formats (io_workflow.md §3-§5).

Inputs: gridinfo and soil CSVs, the phenology table, the perturbation file, the met NetCDF.
Restarts and diagnostics: the CASA restart CSV, the CASA annual flux CSV, the MIMICS restart
CSV and `mimics_diagnostic.csv`, written in the reference's fixed-width layout.

Every problem in an input is reported as one `InputError` naming the file and the line,
variable or cell; values are validated before they are used.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..sites import NSOIL, Forcing, Sites
from .atomic import write_text

log = logging.getLogger(__name__)

ICEWATER_PFTS = (11, 13, 15, 17)   # wetland, urban, snow/ice, water: not simulated
DAYS = 365


# ---------------------------------------------------------------- CSV helpers
_FLOAT_D = re.compile(r"[dD]")


def _nitrogen(icycle) -> bool:
    """icycle 1/2, or a bool meaning C+N."""
    if isinstance(icycle, (bool, np.bool_)):
        return bool(icycle)
    if int(icycle) not in (1, 2):
        raise ValueError(f"icycle must be 1 or 2, got {icycle}")
    return int(icycle) == 2


def _read_lines(path, what: str) -> list[str]:
    path = Path(path)
    try:
        with open(path, encoding="utf-8", errors="replace", newline=None) as fh:
            return fh.read().splitlines()
    except FileNotFoundError:
        raise InputError(path, f"{what} not found") from None
    except IsADirectoryError:
        raise InputError(path, f"{what}: is a folder, not a file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read {what}: {exc.strerror}") from None


def _fields(line: str) -> list[str]:
    """List-directed fields of a CSV line: comma separated, trailing comma and blanks ignored;
    blank-separated values inside a field are separate values."""
    parts = [p.strip() for p in line.split(",")]
    while parts and parts[-1] == "":
        parts.pop()
    out = []
    for k, p in enumerate(parts):
        if p == "":
            out.append("")          # empty field in the middle: reported by the caller
        else:
            out.extend(p.split())
    return out


def _looks_numeric(line: str) -> bool:
    toks = [t for t in _fields(line) if t]
    if not toks:
        return False
    try:
        [float(_FLOAT_D.sub("e", t)) for t in toks]
    except ValueError:
        return False
    return True


def _table(path, what: str, names: list[str], ncols: int, mp: int | None,
           header: bool | None = True) -> tuple[np.ndarray, list[int]]:
    """Numeric table after a header line: the first `ncols` values of each non-blank row
    (further values are ignored, as by the reference's list-directed reads). Returns the
    (rows, ncols) float64 array and the 1-based line number of every row. `header=None`
    detects a missing header (legacy restart files)."""
    path = Path(path)
    lines = _read_lines(path, what)
    if header is None:
        header = not (lines and _looks_numeric(lines[0]))
    start = 1 if header else 0
    rows, linenos = [], []
    for i in range(start, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        toks = _fields(line)
        lineno = i + 1
        if "" in toks[:ncols]:
            k = toks.index("")
            raise InputError(path, f"{what}: empty field in column {k + 1} ({_col(names, k)})", line=lineno)
        if len(toks) < ncols:
            raise InputError(path, f"{what}: expected {ncols} values, found {len(toks)} "
                                   f"(missing: {_col(names, len(toks))}...)", line=lineno)
        vals = []
        for k, t in enumerate(toks[:ncols]):
            try:
                v = float(_FLOAT_D.sub("e", t))
            except ValueError:
                raise InputError(path, f"{what}: column {k + 1} ({_col(names, k)}) is not a number: "
                                       f"'{t}'", line=lineno) from None
            if not np.isfinite(v):
                raise InputError(path, f"{what}: column {k + 1} ({_col(names, k)}) is not finite: "
                                       f"'{t}'", line=lineno)
            vals.append(v)
        rows.append(vals)
        linenos.append(lineno)
    if mp is not None and len(rows) != mp:
        more = "truncated file? " if len(rows) < mp else ""
        raise InputError(path, f"{what}: {more}{len(rows)} data rows, but the run-control file says "
                               f"mp = {mp} cells", line=(linenos[-1] if linenos else None))
    if not rows:
        raise InputError(path, f"{what}: no data rows")
    return np.array(rows, dtype=np.float64), linenos


def _col(names, k):
    return names[k] if k < len(names) else f"column {k + 1}"


def _ints(path, a: np.ndarray, names, cols, linenos, what):
    """Integer columns (list-directed integer reads): must hold whole numbers."""
    for c in cols:
        frac = np.flatnonzero(a[:, c] != np.round(a[:, c]))
        if frac.size:
            k = int(frac[0])
            raise InputError(path, f"{what}: column {c + 1} ({names[c]}) must be an integer, found "
                                   f"{a[k, c]}", line=linenos[k], cell=k + 1)


def _first_bad(path, bad, linenos, msg, values=None, ids=None):
    if np.any(bad):
        k = int(np.flatnonzero(bad)[0])
        extra = f" ({values[k]:g})" if values is not None else ""
        cid = f" (cell id {int(ids[k])})" if ids is not None else ""
        raise InputError(path, f"{msg}{extra}{cid}", line=linenos[k], cell=k + 1)


# ---------------------------------------------------------------- gridinfo / soil
GRIDINFO_COLUMNS = ["ijcam", "lat", "lon", "ivt_igbp", "ist", "iso", "landarea", "Ndep", "Nfix",
                    "Pwea", "Pdust", "doyP1", "doyP2", "doyP3", "doyP4", "Phase", "ivcasa",
                    "ilat", "ilon"]
SOIL_COLUMNS = ["ijcam", "lat", "lon", "sand", "clay", "silt", "wwilt", "wfield", "wsat"]


def read_gridinfo(path, mp: int | None = None) -> dict:
    """`gridinfo_igbpz*.csv` (io_workflow §4.1): one header line, `mp` rows of 19 values.

    Returns cellid, lat, lon (degrees), pft (1..18; class 0 becomes 15 as in the reference),
    ist, iso, landarea (m2, land fraction applied), ndep (gN m-2 yr-1), nfix, pwea, pdust
    (read, unused), ilat, ilon (1-based output-grid indices), and `line` (file line of each
    cell)."""
    path = Path(path)
    what = "gridinfo"
    a, lines = _table(path, what, GRIDINFO_COLUMNS, 19, mp)
    _ints(path, a, GRIDINFO_COLUMNS, (0, 3, 4, 5, 17, 18), lines, what)
    cellid = a[:, 0].astype(np.int64)
    pft = a[:, 3].astype(np.int64)
    pft = np.where(pft == 0, 15, pft)   # the reference maps class 0 to snow/ice
    _first_bad(path, (pft < 1) | (pft > 18), lines,
               "PFT (ivt_igbp) outside 1..18", a[:, 3], cellid)
    _first_bad(path, a[:, 5] < 0, lines, "soil order (iso) must not be negative", a[:, 5], cellid)
    _first_bad(path, a[:, 6] < 0, lines, "negative land area", a[:, 6], cellid)
    _first_bad(path, np.abs(a[:, 1]) > 90, lines, "latitude outside -90..90", a[:, 1], cellid)
    _first_bad(path, (a[:, 2] < -180) | (a[:, 2] > 360), lines, "longitude outside -180..360",
               a[:, 2], cellid)
    _first_bad(path, (a[:, 17] < 1) | (a[:, 18] < 1), lines,
               "grid indices ilat/ilon must be >= 1", None, cellid)
    _first_bad(path, cellid < 1, lines, "cell id (ijcam) must be >= 1", a[:, 0])
    _, first = np.unique(cellid, return_index=True)
    dup = np.ones(len(cellid), bool)
    dup[first] = False
    _first_bad(path, dup, lines, "cell id (ijcam) appears twice", None, cellid)
    return dict(cellid=cellid, lat=a[:, 1], lon=a[:, 2], pft=pft,
                ist=a[:, 4].astype(np.int64), iso=a[:, 5].astype(np.int64), landarea=a[:, 6],
                ndep=a[:, 7], nfix=a[:, 8], pwea=a[:, 9], pdust=a[:, 10],
                ilat=a[:, 17].astype(np.int64), ilon=a[:, 18].astype(np.int64), line=np.array(lines))


def read_soil(path, mp: int | None = None) -> dict:
    """`gridinfo_soil*.csv` (io_workflow §4.2): sand, clay, silt fractions (0-1); wilting point
    `swilt`, field capacity `sfc`, saturation `ssat` (m3 m-3). Also cellid, lat, lon, line."""
    path = Path(path)
    what = "soil properties"
    a, lines = _table(path, what, SOIL_COLUMNS, 9, mp)
    _ints(path, a, SOIL_COLUMNS, (0,), lines, what)
    ids = a[:, 0]
    sand, clay, silt, swilt, sfc, ssat = (a[:, k] for k in range(3, 9))
    tex = np.stack([sand, clay, silt], 1)
    _first_bad(path, np.any(tex > 1, 1), lines,
               "texture fractions must lie in 0..1 (given in percent?)", tex.max(1), ids)
    _first_bad(path, np.any(tex < 0, 1), lines, "negative texture fraction", tex.min(1), ids)
    _first_bad(path, np.abs(tex.sum(1) - 1.0) > 0.01, lines,
               "sand + clay + silt must be 1", tex.sum(1), ids)
    _first_bad(path, (swilt <= 0) | (ssat > 1), lines,
               "wilting point and saturation must lie in 0..1 m3 m-3", None, ids)
    _first_bad(path, ~((swilt < sfc) & (sfc < ssat)), lines,
               "need wilting point < field capacity < saturation", None, ids)
    return dict(cellid=ids.astype(np.int64), lat=a[:, 1], lon=a[:, 2], sand=sand, clay=clay,
                silt=silt, swilt=swilt, sfc=sfc, ssat=ssat, line=np.array(lines))


# ---------------------------------------------------------------- phenology
PHEN_ROWS = 271           # 79.75 .. -55.25 in 0.5 degree steps
PHEN_LAT0 = 79.75


@dataclass
class PhenologyTable:
    """`modis_phenology_wtundra.txt`: per 0.5-degree latitude row and seasonal PFT."""

    lat: np.ndarray       # (rows,) latitudes of the rows, 79.75 down to -55.25
    pfts: list[int]       # PFTs with seasonal phenology (3 4 5 6 7 8 9 10 12 14 18)
    greenup: np.ndarray   # (rows, len(pfts)) day of year
    fall: np.ndarray      # (rows, len(pfts)) day of year
    phase: np.ndarray     # (rows, len(pfts)) initial phase


def read_phenology(path) -> PhenologyTable:
    """Phenology table (io_workflow §4.3, casa.md §1.5): a title line, a line with the seasonal
    PFTs (possibly repeated for each column group), then one row per latitude:
    lat, green-up days, fall days, initial phases."""
    path = Path(path)
    lines = _read_lines(path, "phenology file")
    if len(lines) < 3:
        raise InputError(path, "phenology file needs a title line, the PFT line and data rows",
                         line=len(lines) or None)
    try:
        ids = [int(t) for t in lines[1].split()]
    except ValueError:
        raise InputError(path, "second line must list the PFTs with seasonal phenology", line=2) from None
    rows, linenos = [], []
    for i in range(2, len(lines)):
        if not lines[i].strip():
            continue
        toks = lines[i].replace(",", " ").split()
        try:
            rows.append([float(t) for t in toks])
        except ValueError:
            raise InputError(path, "row is not numeric", line=i + 1) from None
        linenos.append(i + 1)
    if not rows:
        raise InputError(path, "no latitude rows")
    width = len(rows[0])
    k = (width - 1) // 3
    if k < 1 or width != 1 + 3 * k:
        raise InputError(path, f"a row must hold a latitude and 3 groups of values, found {width} values",
                         line=linenos[0])
    if len(ids) < k or len(set(ids[:k])) != k:
        raise InputError(path, f"the PFT line must list {k} distinct PFTs (one per column of a group)",
                         line=2)
    pfts = ids[:k]
    bad = [p for p in pfts if not 1 <= p <= 18]
    if bad:
        raise InputError(path, f"PFT {bad[0]} outside 1..18", line=2)
    for r, ln in zip(rows, linenos):
        if len(r) != width:
            raise InputError(path, f"expected {width} values, found {len(r)}", line=ln)
    a = np.array(rows)
    expect = PHEN_LAT0 - 0.5 * np.arange(len(a))
    off = np.flatnonzero(np.abs(a[:, 0] - expect) > 1e-6)
    if off.size:
        j = int(off[0])
        raise InputError(path, f"row latitudes must run from {PHEN_LAT0} down in 0.5 degree steps; "
                               f"found {a[j, 0]} where {expect[j]} is expected", line=linenos[j])
    if len(a) != PHEN_ROWS:
        raise InputError(path, f"{len(a)} latitude rows; the reference table has {PHEN_ROWS} "
                               f"({PHEN_LAT0} to -55.25)", line=linenos[-1])
    vals = a[:, 1:]
    if np.any(vals != np.round(vals)):
        j = int(np.flatnonzero(np.any(vals != np.round(vals), 1))[0])
        raise InputError(path, "days and phases must be integers", line=linenos[j])
    vals = vals.astype(np.int64)
    return PhenologyTable(lat=a[:, 0], pfts=pfts, greenup=vals[:, :k], fall=vals[:, k:2 * k],
                          phase=vals[:, 2 * k:])


def phenology_row(lat) -> np.ndarray:
    """0-based table row of each latitude: int((79.75 - lat + 0.25)/0.5) + 1 with truncation
    toward zero (Fortran INT), clamped to 1..271."""
    lat = np.asarray(lat, np.float64)
    row = np.trunc((PHEN_LAT0 - lat + 0.25) / 0.5).astype(np.int64) + 1
    return np.clip(row, 1, PHEN_ROWS) - 1


def phenology_for_cells(table: PhenologyTable, lat, pft):
    """Green-up day, fall day and initial phase of each cell (casa.md §1.5). PFTs without
    seasonal phenology get -50, 367 and phase 2."""
    lat = np.asarray(lat, np.float64)
    pft = np.asarray(pft)
    row = np.minimum(phenology_row(lat), len(table.lat) - 1)
    greenup = np.full(lat.shape, -50, np.int64)
    fall = np.full(lat.shape, 367, np.int64)
    phase = np.full(lat.shape, 2, np.int64)
    for j, p in enumerate(table.pfts):
        m = pft == p
        greenup[m] = table.greenup[row[m], j]
        fall[m] = table.fall[row[m], j]
        phase[m] = table.phase[row[m], j]
    return greenup, fall, phase


def doyphase(greenup, fall) -> np.ndarray:
    """Start days of the four phenological phases, (n, 4): green-up, green-up + 14, fall,
    fall + 14, the second and fourth wrapped by 365 when above 365."""
    g = np.asarray(greenup, np.int64)
    f = np.asarray(fall, np.int64)
    d2 = g + 14
    d4 = f + 14
    d2 = np.where(d2 > 365, d2 - 365, d2)
    d4 = np.where(d4 > 365, d4 - 365, d4)
    return np.stack([g, d2, f, d4], 1)


def read_sites(gridinfo, soil, phenology, mp: int | None = None) -> Sites:
    """Static inputs of the simulated cells from the gridinfo, soil and phenology files.
    The soil file must list the same cells in the same order as the gridinfo file."""
    g = read_gridinfo(gridinfo, mp)
    s = read_soil(soil, mp)
    if len(s["cellid"]) != len(g["cellid"]):
        raise InputError(soil, f"{len(s['cellid'])} cells, but {gridinfo} has {len(g['cellid'])}")
    bad = np.flatnonzero(s["cellid"] != g["cellid"])
    if bad.size:
        k = int(bad[0])
        raise InputError(soil, f"cell id {s['cellid'][k]} where {gridinfo} has {g['cellid'][k]} "
                               "(both files must list the same cells in the same order)",
                         line=int(s["line"][k]), cell=k + 1)
    greenup, fall, phase = phenology_for_cells(read_phenology(phenology), g["lat"], g["pft"])
    return Sites(cellid=g["cellid"], lat=g["lat"], lon=g["lon"], ilat=g["ilat"], ilon=g["ilon"],
                 pft=g["pft"], landarea=g["landarea"], sand=s["sand"], clay=s["clay"],
                 silt=s["silt"], swilt=s["swilt"], sfc=s["sfc"], ssat=s["ssat"],
                 greenup=greenup, fall=fall, phase0=phase, ist=g["ist"], iso=g["iso"])


# ---------------------------------------------------------------- perturbations
def read_co2delta(path) -> dict:
    """Perturbation file (io_workflow §4.4): a title line, then `co2air deltsoil deltair deltYr
    nppMult`: CO2 (ppm, unused), K added to soil and air temperature, the simulation year
    (iYrCnt) from which they apply, multiplier on NPP."""
    path = Path(path)
    lines = _read_lines(path, "perturbation file")
    if len(lines) < 2:
        raise InputError(path, "expected a title line and 'co2air deltsoil deltair deltYr nppMult'",
                         line=len(lines) or None)
    toks = [t for t in _fields(lines[1].split("!", 1)[0]) if t]
    names = ["co2air", "deltsoil", "deltair", "deltYr", "nppMult"]
    if len(toks) < 5:
        raise InputError(path, f"expected 5 values ({' '.join(names)}), found {len(toks)}", line=2)
    vals = []
    for n, t in zip(names, toks):
        try:
            v = float(_FLOAT_D.sub("e", t))
        except ValueError:
            raise InputError(path, f"{n} is not a number: '{t}'", line=2) from None
        if not np.isfinite(v):
            raise InputError(path, f"{n} is not finite", line=2)
        vals.append(v)
    co2, dsoil, dair, yr, mult = vals
    if yr != int(yr):
        raise InputError(path, f"deltYr must be an integer (a simulation year), found {toks[3]}", line=2)
    if abs(dsoil) > 50 or abs(dair) > 50:
        raise InputError(path, f"temperature offsets {dsoil:g} / {dair:g} K are implausible", line=2)
    if mult < 0:
        raise InputError(path, f"nppMult must not be negative, found {mult:g}", line=2)
    return dict(co2air=co2, deltsoil=dsoil, deltair=dair, deltYr=int(yr), nppMult=mult)


# ---------------------------------------------------------------- met NetCDF
@dataclass
class MetGrid:
    """Grid of a met file and the simulated (cellMissing == 0) cells in reference order:
    longitude outer loop, latitude inner, i.e. ascending cell id."""

    lon: np.ndarray           # (nlon,) grid axis as stored
    lat: np.ndarray           # (nlat,)
    cell_missing: np.ndarray  # (nlat, nlon) int32, 0 = simulated
    cellid: np.ndarray        # (nlat, nlon) int32
    ilat: np.ndarray          # (n,) 0-based row of each simulated cell
    ilon: np.ndarray          # (n,) 0-based column
    cell_ids: np.ndarray      # (n,) cell id of each simulated cell
    myear: int = 1            # years in the file
    years: np.ndarray | None = None   # calendar years (variable `year`), when present
    path: Path | None = None

    @property
    def n(self) -> int:
        return int(self.ilat.shape[0])

    @property
    def cellMissing(self) -> np.ndarray:   # the reference's name
        return self.cell_missing

    @classmethod
    def from_sites(cls, sites: Sites, lon=None, lat=None) -> "MetGrid":
        """A grid for cells that come without a met file: axes from `sites` (or given), cell
        ids (ilon-1)*nlat + ilat, cellMissing 0 on the cells and 1 elsewhere."""
        lon = np.asarray(sites.grid_lon if lon is None else lon, np.float64)
        lat = np.asarray(sites.grid_lat if lat is None else lat, np.float64)
        nlat, nlon = len(lat), len(lon)
        jj, ii = np.asarray(sites.ilat) - 1, np.asarray(sites.ilon) - 1
        cellid = (np.arange(nlon)[None, :] * nlat + np.arange(nlat)[:, None] + 1).astype(np.int32)
        cm = np.ones((nlat, nlon), np.int32)
        cm[jj, ii] = 0
        return cls(lon=lon, lat=lat, cell_missing=cm, cellid=cellid, ilat=jj, ilon=ii,
                   cell_ids=cellid[jj, ii])


MET_2D = ("xcgpp", "xtairk", "ndep")
MET_3D = ("xtsoil", "xmoist", "xfrznmoist")
_MET_DIMS = ("lon", "lat", "time", "nsoilyrs", "myear")


def _open_nc(path, what="met file"):
    import netCDF4

    path = Path(path)
    if not path.exists():
        raise InputError(path, f"{what} not found")
    try:
        return netCDF4.Dataset(path)
    except OSError as exc:
        raise InputError(path, f"cannot open {what} as NetCDF ({exc})") from None


def met_years(path) -> int:
    """Number of years (dimension `myear`) of a met file."""
    with _open_nc(path) as ds:
        if "myear" not in ds.dimensions:
            raise InputError(path, "dimension 'myear' missing", variable="myear")
        return len(ds.dimensions["myear"])


def _grid_from(ds, path, mp) -> MetGrid:
    for dim in _MET_DIMS:
        if dim not in ds.dimensions:
            raise InputError(path, f"dimension '{dim}' missing", variable=dim)
    myear = len(ds.dimensions["myear"])
    ntime = len(ds.dimensions["time"])
    if myear < 1:
        raise InputError(path, "dimension 'myear' is empty", variable="myear")
    if ntime != DAYS * myear:
        raise InputError(path, f"time has {ntime} days; 365 x myear = {DAYS * myear} expected "
                               "(365-day years, no leap days)", variable="time")
    ns = len(ds.dimensions["nsoilyrs"])
    if ns != NSOIL:
        raise InputError(path, f"nsoilyrs is {ns}; the model has {NSOIL} soil layers", variable="nsoilyrs")
    for v in ("lon", "lat", "cellMissing", "cellid") + MET_2D[:3] + MET_3D[:2]:
        if v not in ds.variables:
            raise InputError(path, "required variable missing", variable=v)
    for v in ("cellMissing", "cellid"):
        if ds[v].dimensions != ("lat", "lon"):
            raise InputError(path, f"dimensions {ds[v].dimensions}, expected ('lat', 'lon')", variable=v)
    nlat, nlon = len(ds.dimensions["lat"]), len(ds.dimensions["lon"])
    lon = np.asarray(ds["lon"][:], np.float64).reshape(-1)
    lat = np.asarray(ds["lat"][:], np.float64).reshape(-1)
    if lon.shape != (nlon,) or lat.shape != (nlat,):
        raise InputError(path, "lon/lat variables do not match the lon/lat dimensions", variable="lon")
    cm_raw = np.ma.filled(ds["cellMissing"][:], 1)
    cm = np.asarray(cm_raw).astype(np.int32)
    cellid = np.asarray(np.ma.filled(ds["cellid"][:], -1)).astype(np.int32)
    if not np.all((cm == 0) | (cm == 1)):
        raise InputError(path, "cellMissing must hold 0 (complete data) or 1 (missing)", variable="cellMissing")
    ilon, ilat = np.nonzero(cm.T == 0)   # longitude outer loop, latitude inner
    if mp is not None and len(ilat) != mp:
        raise InputError(path, f"{len(ilat)} cells with cellMissing == 0, but the run-control file "
                               f"says mp = {mp}", variable="cellMissing")
    if len(ilat) == 0:
        raise InputError(path, "no cell with cellMissing == 0", variable="cellMissing")
    expect = np.arange(nlon)[None, :] * nlat + np.arange(nlat)[:, None] + 1
    if np.any(cellid != expect):
        j, i = (int(x[0]) for x in np.nonzero(cellid != expect))
        log.warning("%s: cellid(lat %d, lon %d) = %d, expected (ilon-1)*nlat + ilat = %d",
                    path, j + 1, i + 1, cellid[j, i], expect[j, i])
    years = np.asarray(ds["year"][:]).astype(np.int64) if "year" in ds.variables else None
    return MetGrid(lon=lon, lat=lat, cell_missing=cm, cellid=cellid, ilat=ilat, ilon=ilon,
                   cell_ids=cellid[ilat, ilon], myear=myear, years=years, path=Path(path))


def read_met_grid(path, mp: int | None = None) -> MetGrid:
    """Structure of a met file (dimensions, required variables, simulated cells) without
    reading the daily data."""
    with _open_nc(path) as ds:
        return _grid_from(ds, Path(path), mp)


def read_met(path, mp: int | None = None) -> tuple[Forcing, MetGrid]:
    """Daily forcing of the simulated cells (io_workflow §3), promoted to float64.

    Forcing shapes: (365*myear, n) and (365*myear, 6, n); cells in reference order (see
    MetGrid). A missing `xfrznmoist` gives zeros (logged). Values are checked: no missing
    or non-finite values in simulated cells, temperatures in Kelvin, water contents 0-1."""
    path = Path(path)
    with _open_nc(path) as ds:
        grid = _grid_from(ds, path, mp)
        nt = DAYS * grid.myear
        data = {}
        for v in MET_2D + MET_3D:
            if v not in ds.variables:
                log.warning("%s: no variable 'xfrznmoist'; frozen soil water set to 0", path)
                data[v] = np.zeros_like(data["xmoist"])
                continue
            var = ds[v]
            want = ("time", "lat", "lon") if v in MET_2D else ("time", "nsoilyrs", "lat", "lon")
            if var.dimensions != want:
                raise InputError(path, f"dimensions {var.dimensions}, expected {want}", variable=v)
            var.set_auto_maskandscale(False)
            shape = (nt,) + ((NSOIL,) if v in MET_3D else ()) + (grid.n,)
            out = np.empty(shape, np.float64)
            for t0 in range(0, nt, DAYS):     # one year at a time keeps memory low
                block = np.asarray(var[t0:t0 + DAYS])
                out[t0:t0 + DAYS] = block[..., grid.ilat, grid.ilon]
            data[v] = out
    check_met_values(path, data, grid)
    return Forcing(**data), grid


def _where(bad: np.ndarray):
    """(day, layer or None, cell) 0-based of the first True."""
    idx = np.unravel_index(int(np.flatnonzero(bad)[0]), bad.shape)
    return int(idx[0]), (int(idx[1]) if bad.ndim == 3 else None), int(idx[-1])


def check_met_values(path, d: dict, grid: MetGrid | None = None) -> None:
    """Plausibility of the forcing of the simulated cells; raises InputError naming the variable,
    the cell (1-based position) and the day."""
    def fail(v, bad, msg):
        t, layer, c = _where(bad)
        cid = f", cell id {int(grid.cell_ids[c])}" if grid is not None else ""
        lay = f", soil layer {layer + 1}" if layer is not None else ""
        val = d[v][np.unravel_index(int(np.flatnonzero(bad)[0]), bad.shape)]
        raise InputError(path, f"{msg}: {val:g} on day {t + 1}{lay}{cid}", variable=v, cell=c + 1)

    for v, arr in d.items():
        bad = ~np.isfinite(arr) | (np.abs(arr) >= 1e30)
        if bad.any():
            fail(v, bad, "missing (fill) or non-finite value in a simulated cell")
    checks = [
        ("xtairk", (d["xtairk"] < 150) | (d["xtairk"] > 350),
         "air temperature outside 150-350 K (given in degC?)"),
        ("xtsoil", (d["xtsoil"] < 150) | (d["xtsoil"] > 350),
         "soil temperature outside 150-350 K (given in degC?)"),
        ("xmoist", (d["xmoist"] < -1e-6) | (d["xmoist"] > 1),
         "volumetric liquid water outside 0-1 m3 m-3"),
        ("xfrznmoist", (d["xfrznmoist"] < -1e-6) | (d["xfrznmoist"] > 1),
         "volumetric frozen water outside 0-1 m3 m-3"),
        ("ndep", d["ndep"] < 0, "negative N deposition"),
        ("xcgpp", d["xcgpp"] < -0.01, "negative GPP (not gross primary production?)"),
        ("xcgpp", d["xcgpp"] > 100, "GPP beyond 100 gC m-2 day-1 (wrong units?)"),
    ]
    for v, bad, msg in checks:
        if bad.any():
            fail(v, bad, msg)
    if np.any(d["xcgpp"] < 0):
        log.warning("%s: %d slightly negative daily GPP values (used as stored)", path,
                    int(np.sum(d["xcgpp"] < 0)))
    if np.any(d["ndep"] > 0.1):
        log.warning("%s: daily N deposition above 0.1 gN m-2 day-1 (annual values given?)", path)


def check_sites_match_met(sites: Sites, grid: MetGrid, path=None) -> None:
    """The reference pairs gridinfo rows with met cells by position, and places outputs with the
    gridinfo ilat/ilon: check both agree with the met file."""
    path = path if path is not None else grid.path
    if grid.n != sites.n:
        raise InputError(path, f"{grid.n} met cells (cellMissing == 0) but {sites.n} gridinfo rows",
                         variable="cellMissing")
    bad = np.flatnonzero(grid.cell_ids != sites.cellid)
    if bad.size:
        k = int(bad[0])
        raise InputError(path, f"met cell id {grid.cell_ids[k]} at position {k + 1} does not match "
                               f"gridinfo cell id {sites.cellid[k]} (files must list the same cells "
                               "in the same order)", variable="cellid", cell=k + 1)
    jj, ii = np.asarray(sites.ilat) - 1, np.asarray(sites.ilon) - 1
    nlat, nlon = grid.cell_missing.shape
    out = np.flatnonzero((jj >= nlat) | (ii >= nlon))
    if out.size:
        k = int(out[0])
        raise InputError(path, f"gridinfo ilat/ilon ({jj[k] + 1}, {ii[k] + 1}) of cell id "
                               f"{sites.cellid[k]} outside the {nlat} x {nlon} met grid",
                         variable="cellid", cell=k + 1)
    bad = np.flatnonzero(grid.cellid[jj, ii] != sites.cellid)
    if bad.size:
        k = int(bad[0])
        raise InputError(path, f"gridinfo ilat/ilon ({jj[k] + 1}, {ii[k] + 1}) of cell id "
                               f"{sites.cellid[k]} point at met cell id {grid.cellid[jj[k], ii[k]]}",
                         variable="cellid", cell=k + 1)
    dlat = np.abs(grid.lat[jj] - sites.lat)
    dlon = np.abs((grid.lon[ii] - sites.lon + 180.0) % 360.0 - 180.0)
    far = np.flatnonzero((dlat > 1.0) | (dlon > 1.5))
    if far.size:
        k = int(far[0])
        log.warning("%s: gridinfo cell id %d at (%.2f, %.2f) lies far from its met cell (%.2f, %.2f)",
                    path, sites.cellid[k], sites.lat[k], sites.lon[k], grid.lat[jj[k]], grid.lon[ii[k]])


def check_moisture_vs_soil(sites: Sites, forcing: Forcing, path) -> None:
    """Liquid + frozen water well above saturation points to a units or layer problem."""
    over = forcing.xmoist + forcing.xfrznmoist > sites.ssat[None, None, :] + 0.05
    if over.any():
        t, _, c = np.unravel_index(np.flatnonzero(over)[0], over.shape)
        raise InputError(path, f"soil water above saturation ({sites.ssat[c]:.3f}) on day {t + 1}",
                         variable="xmoist", cell=int(c) + 1)


# ---------------------------------------------------------------- Fortran-style fields
def _i6(v) -> str:
    return f"{int(v):6d}"


def _f(v, w: int, d: int) -> str:
    return f"{float(v):{w}.{d}f}"


def _site_cols(sites: Sites):
    n = sites.n
    ist = sites.ist if sites.ist is not None else np.ones(n, np.int64)
    iso = sites.iso if sites.iso is not None else np.ones(n, np.int64)
    area = np.asarray(sites.landarea, np.float64) * 1.0e-9   # the reference's areacell*1e-9
    return ist, iso, area


def _cells(a, n, name, width=None):
    a = np.asarray(a, np.float64)
    want = (n,) if width is None else (n, width)
    if a.shape != want:
        raise ValueError(f"{name}: shape {a.shape}, expected {want}")
    return a


# ---------------------------------------------------------------- CASA restart CSV
CASA_POOL_COLUMNS = (
    ["iYrCnt", "npt", "veg%iveg", "soil%isoilm", "casamet%isorder", "casamet%lat", "casamet%lon",
     "casamet%areacell", "casamet%glai", "casabiome%sla(veg%iveg)", "phen%phase", "casapool%clabile"]
    + [f"casapool%{p}({k})" for p, ks in (("cplant", ("LEAF", "WOOD", "FROOT")),
                                           ("clitter", ("METB", "STR", "CWD")),
                                           ("csoil", ("MIC", "SLOW", "PASS")),
                                           ("nplant", ("LEAF", "WOOD", "FROOT")),
                                           ("nlitter", ("METB", "STR", "CWD")),
                                           ("nsoil", ("MIC", "SLOW", "PASS"))) for k in ks]
    + ["casapool%nsoilmin"]
    + [f"casapool%{p}({k})" for p, ks in (("pplant", ("LEAF", "WOOD", "FROOT")),
                                           ("plitter", ("METB", "STR", "CWD")),
                                           ("psoil", ("MIC", "SLOW", "PASS"))) for k in ks]
    + ["casapool%psoillab", "casapool%psoilsorb", "casapool%psoilocc", "casabal%sumcbal",
       "casabal%sumnbal", "casabal%sumpbal"])
CASA_HEADER = ",".join(CASA_POOL_COLUMNS)

# (key, first column (0-based), width) of the pool blocks
_CASA_BLOCKS = [("clabile", 11, None), ("cplant", 12, 3), ("clitter", 15, 3), ("csoil", 18, 3),
                ("nplant", 21, 3), ("nlitter", 24, 3), ("nsoil", 27, 3), ("nsoilmin", 30, None),
                ("pplant", 31, 3), ("plitter", 34, 3), ("psoil", 37, 3), ("psoillab", 40, None),
                ("psoilsorb", 41, None), ("psoilocc", 42, None), ("sumcbal", 43, None),
                ("sumnbal", 44, None), ("sumpbal", 45, None)]


def read_casa_restart(path, mp: int, icycle, *, header: bool | None = None, sites: Sites | None = None,
                      full: bool = False) -> dict:
    """CASA restart CSV (io_workflow §5.1, casa.md §1.6), as read by the reference for `icycle`:
    columns 1-21 (C) or 1-31 (C+N) of `mp` rows after one header line; further columns are
    ignored. A header-less legacy file is detected (`header=None`).

    Returns float64 arrays: glai (m2 m-2), phase (int 0..3), clabile, cplant (mp,3: leaf, wood,
    froot), clitter (mp,3: metabolic, structural, CWD), csoil (mp,3: fast, slow, passive) in
    gC m-2 and, for C+N, nplant, nlitter, nsoil (mp,3) and nsoilmin (mp) in gN m-2. Values are
    as stored (the reference's floors and resets are applied by the model's initialisation).
    With `full`, every column present is returned (iyrcnt, npt, pft, isoilm, isorder, lat, lon,
    areacell, sla and the P and balance columns of complete 46-column rows).

    If `sites` is given, each row's latitude and longitude must match the cell's (row order)."""
    path = Path(path)
    nitrogen = _nitrogen(icycle)
    ncols = 31 if nitrogen else 21
    what = "CASA restart"
    a, lines = _table(path, what, CASA_POOL_COLUMNS, ncols, mp, header=header)
    _ints(path, a, CASA_POOL_COLUMNS, (0, 1, 2, 3, 4, 10), lines, what)
    phase = a[:, 10].astype(np.int64)
    _first_bad(path, (phase < 0) | (phase > 3), lines, "phenological phase outside 0..3", a[:, 10])
    _first_bad(path, a[:, 8] < 0, lines, "negative LAI (glai)", a[:, 8])
    if sites is not None:
        _check_rows_vs_sites(path, lines, a[:, 5], a[:, 6], sites, what)
    out = dict(glai=a[:, 8], phase=phase)
    for key, c, w in _CASA_BLOCKS:
        if c + (w or 1) > ncols:
            break
        out[key] = a[:, c:c + w] if w else a[:, c]
    if full:
        out.update(iyrcnt=a[:, 0].astype(np.int64), npt=a[:, 1].astype(np.int64),
                   pft=a[:, 2].astype(np.int64), isoilm=a[:, 3].astype(np.int64),
                   isorder=a[:, 4].astype(np.int64), lat=a[:, 5], lon=a[:, 6], areacell=a[:, 7],
                   sla=a[:, 9])
        widths = _row_widths(path, lines)
        if min(widths) >= len(CASA_POOL_COLUMNS) and ncols < len(CASA_POOL_COLUMNS):
            b, _ = _table(path, what, CASA_POOL_COLUMNS, len(CASA_POOL_COLUMNS), mp, header=header)
            for key, c, w in _CASA_BLOCKS:
                out[key] = b[:, c:c + w] if w else b[:, c]
    return out


def _row_widths(path, lines):
    text = _read_lines(path, "file")
    return [len([t for t in _fields(text[ln - 1]) if t]) for ln in lines]


def _check_rows_vs_sites(path, lines, lat, lon, sites, what):
    if len(lat) != sites.n:
        raise InputError(path, f"{what}: {len(lat)} rows for {sites.n} cells")
    dlat = np.abs(lat - sites.lat)
    dlon = np.abs((lon - sites.lon + 180.0) % 360.0 - 180.0)
    bad = (dlat > 1e-3) | (dlon > 1e-3)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputError(path, f"{what}: row at ({lat[k]:.4f}, {lon[k]:.4f}) does not match cell "
                               f"id {sites.cellid[k]} at ({sites.lat[k]:.4f}, {sites.lon[k]:.4f}) "
                               "(restart from another grid or cell order?)",
                         line=lines[k], cell=k + 1)


def write_casa_restart(path, iyrcnt: int, sites: Sites, state: dict, icycle=2, sla=None,
                       pplant=None) -> None:
    """CASA restart CSV in the reference layout (io_workflow §5.1): header line, then per cell
    5 integers (i6), lat, lon, areacell*1e-9, glai, sla (f18.6), phase (i6) and 35 reals (f18.6),
    every field followed by a comma.

    `state` (per cell, model units): glai, phase, clabile, cplant, clitter, csoil (mp,3),
    nplant, nlitter, nsoil (mp,3), nsoilmin; optionally sla (m2 gC-1, else the `sla` argument),
    pplant, plitter, psoil (mp,3), psoillab, psoilsorb, psoilocc and the balance sums sumcbal,
    sumnbal, sumpbal (clipped to +-9999 as in the reference); absent optional values are 0.
    N pools are required for icycle 2 and written as 0 when absent in C-only runs."""
    nitrogen = _nitrogen(icycle)
    n = sites.n
    ist, iso, area = _site_cols(sites)
    sla = state.get("sla", sla)
    if sla is None:
        raise ValueError("write_casa_restart: sla per cell is needed (state['sla'] or sla=)")
    sla = _cells(sla, n, "sla")
    if pplant is not None and "pplant" not in state:
        state = dict(state, pplant=pplant)
    cols = []
    for key, _, w in _CASA_BLOCKS:
        required = key in ("clabile", "cplant", "clitter", "csoil") or (
            nitrogen and key in ("nplant", "nlitter", "nsoil", "nsoilmin"))
        if key in state and state[key] is not None:
            v = _cells(state[key], n, key, w)
        elif required:
            raise ValueError(f"write_casa_restart: state['{key}'] missing")
        else:
            v = np.zeros((n, w) if w else n)
        if key.startswith("sum"):
            v = np.clip(v, -9999.0, 9999.0)
        cols.append(v.reshape(n, -1))
    rest = np.concatenate(cols, axis=1)           # (n, 35)
    glai = _cells(state["glai"], n, "glai")
    phase = np.asarray(state["phase"]).reshape(-1)
    lines = [CASA_HEADER]
    for k in range(n):
        head = ",  ".join(_i6(v) for v in (iyrcnt, k + 1, sites.pft[k], ist[k], iso[k]))
        reals = ",  ".join(_f(v, 18, 6) for v in (sites.lat[k], sites.lon[k], area[k], glai[k], sla[k]))
        tail = ",  ".join(_f(v, 18, 6) for v in rest[k])
        lines.append(f"{head},  {reals},  {_i6(phase[k])},{tail},")
    write_text(path, "\n".join(lines) + "\n")


# ---------------------------------------------------------------- CASA flux CSV
CASA_FLUX_HEADER = ("myear,npt,veg%iveg,soil%isoilm,casamet%isorder,casamet%lat,casamet%lon,"
                    "casamet%areacell,casabal%Fcnppyear,casabal%FCrsyear,casabal%FCneeyear,"
                    "casabal%FCrpyear,clitterinput(LEAF),clitterinput(WOOD),clitterinput(FROOT),"
                    "csoilinput(METB),csoilinput(METB),csoilinput(METB)")
CASA_FLUX_N_HEADER = (",casabal%FNdepyear,casabal%FNfixyear,casabal%FNsnetyear,casabal%FNupyear,"
                      "casabal%FNleachyear,casabal%FNlossyear")
CASA_FLUX_C_KEYS = ("npp", "rh", "nep", "ra")
CASA_FLUX_N_KEYS = ("ndep", "nfix", "nsnet", "nup", "nleach", "nloss")


def write_casa_flux(path, myear: int, sites: Sites, flux: dict, icycle=2) -> None:
    """CASA annual flux CSV (io_workflow §5.2): per cell myear (the met-file year count), npt,
    PFT, soil type, soil order (i6), lat, lon, areacell*1e-9 and the year's totals (f15.6,
    g m-2 yr-1): npp, rh (heterotrophic respiration), nep (npp - rh if absent), ra (autotrophic
    respiration), clitterinput (mp,3) and csoilinput (mp,3) (0 if absent, as in the reference)
    and for C+N ndep, nfix, nsnet (net mineralisation), nup (plant uptake), nleach, nloss."""
    nitrogen = _nitrogen(icycle)
    n = sites.n
    ist, iso, area = _site_cols(sites)
    flux = dict(flux)
    if "nep" not in flux:
        flux["nep"] = np.asarray(flux["npp"], np.float64) - np.asarray(flux["rh"], np.float64)
    cols = [_cells(flux[k], n, k)[:, None] for k in CASA_FLUX_C_KEYS]
    for k in ("clitterinput", "csoilinput"):
        cols.append(_cells(flux[k], n, k, 3) if flux.get(k) is not None else np.zeros((n, 3)))
    if nitrogen:
        cols += [_cells(flux[k], n, k)[:, None] for k in CASA_FLUX_N_KEYS]
    rest = np.concatenate(cols, axis=1)
    lines = [CASA_FLUX_HEADER + (CASA_FLUX_N_HEADER if nitrogen else "")]
    for k in range(n):
        head = ",  ".join(_i6(v) for v in (myear, k + 1, sites.pft[k], ist[k], iso[k]))
        reals = ",  ".join(_f(v, 15, 6) for v in (sites.lat[k], sites.lon[k], area[k], *rest[k]))
        lines.append(f"{head},  {reals},")
    write_text(path, "\n".join(lines) + "\n")


def read_casa_flux(path, mp: int | None = None) -> dict:
    """Read a CASA flux CSV back (for comparisons): myear, npt, pft, lat, lon, areacell and the
    flux columns under the keys of `write_casa_flux`."""
    path = Path(path)
    lines = _read_lines(path, "CASA flux file")
    nitrogen = bool(lines) and "FNdepyear" in lines[0]
    names = (CASA_FLUX_HEADER + (CASA_FLUX_N_HEADER if nitrogen else "")).split(",")
    a, _ = _table(path, "CASA flux file", names, len(names), mp)
    out = dict(myear=a[:, 0].astype(np.int64), npt=a[:, 1].astype(np.int64), pft=a[:, 2].astype(np.int64),
               isoilm=a[:, 3].astype(np.int64), isorder=a[:, 4].astype(np.int64),
               lat=a[:, 5], lon=a[:, 6], areacell=a[:, 7])
    for j, k in enumerate(CASA_FLUX_C_KEYS):
        out[k] = a[:, 8 + j]
    out["clitterinput"] = a[:, 12:15]
    out["csoilinput"] = a[:, 15:18]
    if nitrogen:
        for j, k in enumerate(CASA_FLUX_N_KEYS):
            out[k] = a[:, 18 + j]
    return out


# ---------------------------------------------------------------- MIMICS restart / diagnostic
MIMICS_C = ("LITm", "LITs", "MICr", "MICk", "SOMa", "SOMc", "SOMp")
MIMICS_N = tuple(k + "N" for k in MIMICS_C)
_MIMICS_HEAD = ["iYrCnt", "npt", "veg%iveg", "casamet%lat", "casamet%lon", "casamet%areacell"]


def _mimics_columns(nitrogen: bool) -> list[str]:
    return _MIMICS_HEAD + [f"mimicspool%{k}" for k in MIMICS_C + (MIMICS_N if nitrogen else ())]


def read_mimics_restart(path, mp: int, icycle, *, floor: bool = True, sites: Sites | None = None,
                        full: bool = False) -> dict:
    """MIMICS restart CSV (io_workflow §5.3): after one header line, `mp` rows of iYrCnt, npt,
    PFT, lat, lon, area and the 7 C pools (+ the 7 N pools for C+N; a C+N file can seed a
    C-only run), mgC (mgN) cm-3. Returns LITm ... SOMp (+ LITmN ... SOMpN); negative values are
    floored at 0 as by the reference's reader unless `floor=False`. `icycle` may also be a bool
    (C+N). With `full`: also iyrcnt, npt, pft, lat, lon, areacell."""
    path = Path(path)
    nitrogen = _nitrogen(icycle)
    names = _mimics_columns(nitrogen)
    what = "MIMICS restart"
    a, lines = _table(path, what, names, len(names), mp)
    _ints(path, a, names, (0, 1, 2), lines, what)
    if sites is not None:
        _check_rows_vs_sites(path, lines, a[:, 3], a[:, 4], sites, what)
    pools = np.maximum(a[:, 6:], 0.0) if floor else a[:, 6:]
    out = {k: pools[:, j] for j, k in enumerate(MIMICS_C + (MIMICS_N if nitrogen else ()))}
    if full:
        out.update(iyrcnt=a[:, 0].astype(np.int64), npt=a[:, 1].astype(np.int64),
                   pft=a[:, 2].astype(np.int64), lat=a[:, 3], lon=a[:, 4], areacell=a[:, 5])
    return out


def write_mimics_restart(path, iyrcnt: int, sites: Sites, pools: dict, icycle=2) -> None:
    """MIMICS restart CSV in the reference layout: iYrCnt, npt, PFT (i6), lat, lon,
    areacell*1e-9 and the pools (f18.10, mgC/mgN cm-3); fields separated by ',  ' (C) or ', '
    (C+N), every field followed by a comma. `icycle` may also be a bool (C+N)."""
    nitrogen = _nitrogen(icycle)
    n = sites.n
    _, _, area = _site_cols(sites)
    names = MIMICS_C + (MIMICS_N if nitrogen else ())
    vals = np.stack([_cells(pools[k], n, k) for k in names], 1)
    sep = ", " if nitrogen else ",  "
    lines = [",".join(_mimics_columns(nitrogen))]
    for k in range(n):
        head = sep.join(_i6(v) for v in (iyrcnt, k + 1, sites.pft[k]))
        reals = sep.join(_f(v, 18, 10) for v in (sites.lat[k], sites.lon[k], area[k], *vals[k]))
        lines.append(f"{head}{sep}{reals},")
    write_text(path, "\n".join(lines) + "\n")


MIMICS_DIAG_HEADER = "iYrCnt,npt,veg%iveg,casamet%lat,casamet%lon,casamet%areacell,lignin:N,fmet"


def write_mimics_diagnostic(path, iyrcnt: int, sites: Sites, lignin_n, fmet) -> None:
    """`mimics_diagnostic.csv`: iYrCnt, npt, PFT, lat, lon, areacell*1e-9, litter lignin:N and
    the metabolic fraction fmet of the year's last day (f18.10, ',  ' separated)."""
    n = sites.n
    _, _, area = _site_cols(sites)
    lig = _cells(lignin_n, n, "lignin_n")
    fm = _cells(fmet, n, "fmet")
    lines = [MIMICS_DIAG_HEADER]
    for k in range(n):
        head = ",  ".join(_i6(v) for v in (iyrcnt, k + 1, sites.pft[k]))
        reals = ",  ".join(_f(v, 18, 10) for v in (sites.lat[k], sites.lon[k], area[k], lig[k], fm[k]))
        lines.append(f"{head},  {reals},")
    write_text(path, "\n".join(lines) + "\n")


def read_mimics_diagnostic(path, mp: int | None = None) -> dict:
    """Read `mimics_diagnostic.csv` back: iyrcnt, npt, pft, lat, lon, areacell, lignin_n, fmet."""
    names = MIMICS_DIAG_HEADER.split(",")
    a, _ = _table(path, "MIMICS diagnostic", names, len(names), mp)
    return dict(iyrcnt=a[:, 0].astype(np.int64), npt=a[:, 1].astype(np.int64), pft=a[:, 2].astype(np.int64),
                lat=a[:, 3], lon=a[:, 4], areacell=a[:, 5], lignin_n=a[:, 6], fmet=a[:, 7])
