"""NetCDF outputs in the reference's layout (`casaclm_pool_flux_*.nc`, `mimics_pool_flux_*.nc`).

io_workflow.md §5.4, casa.md §9.3, mimics.md §9.3. Files are NetCDF-3 classic with dimensions
lon, lat and an unlimited time; coordinate variables lon, lat, time (and `day` in daily files);
static IGBP_PFT, landarea (km2, 0 on ice/water cells), cellMissing and cellid; then the model
variables, float32 (time, lat, lon) with `_FillValue` = `missing_value` = 1e36 off the
simulated cells. Names, long names, units, variable order, attribute order and global
attributes are those of the reference; written from the same values, a file is byte-identical
to the reference's except for the creation time in `history`.

Daily files hold 365 end-of-day records (time = year + day/365, day = 1..365); annual files one
record (time = year label) of annual means (pools, states) or totals (fluxes).

The files are written directly in the classic format (so that the attribute order matches the
reference) and atomically (a temporary name in the same folder, renamed when complete).
"""

from __future__ import annotations

import datetime as _dt
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .atomic import atomic_path
from .testbed import ICEWATER_PFTS, MetGrid

FILL = np.float32(1.0e36)
IFILL = np.int32(-9999)
DAYS = 365


@dataclass(frozen=True)
class NcVar:
    """One model variable of a reference output file."""

    name: str
    long_name: str            # daily file
    units_daily: str
    units_annual: str
    long_name_annual: str | None = None   # when the annual file's differs

    def long(self, daily: bool) -> str:
        return self.long_name if daily or self.long_name_annual is None else self.long_name_annual

    def units(self, daily: bool) -> str:
        return self.units_daily if daily else self.units_annual


_F = "gC m-2 day-1", "gC m-2 year-1"      # C fluxes
_FN = "gN m-2 day-1", "gN m-2 yr-1"       # CASA N fluxes
_FC2 = "gC m-2 day-1", "gC m-2 yr-1"      # CASA litter-input C fluxes
_FNM = "gN m-2 day-1", "gN m-2 year-1"    # MIMICS N fluxes
_PC = "gC m-2", "gC m-2"
_PN = "gN m-2", "gN m-2"

# CASA file, reference order (io_workflow §5.4)
CASA_VARIABLES: tuple[NcVar, ...] = (
    NcVar("cresp", "soil heterotrophic respiration", *_F),
    NcVar("cnpp", "net primary production", *_F),
    NcVar("cgpp", "gross primary production", *_F),
    NcVar("cleaf", "leaf carbon", *_PC),
    NcVar("nleaf", "leaf nitrogen", *_PN),
    NcVar("cwood", "wood carbon", *_PC),
    NcVar("nwood", "wood nitrogen", *_PN),
    NcVar("cfroot", "fine root carbon", *_PC),
    NcVar("nfroot", "fine root nitrogen", *_PN),
    NcVar("clitmetb", "metabolic litter carbon", *_PC),
    NcVar("nlitmetb", "metabolic litter nitrogen", *_PN),
    NcVar("clitstr", "structural litter carbon", *_PC),
    NcVar("nlitstr", "structural litter nitrogen", *_PN),
    NcVar("clitcwd", "coarse woody debris carbon", *_PC),
    NcVar("nlitcwd", "coarse woody debris nitrogen", *_PN),
    NcVar("csoilmic", "microbial soil organic matter carbon", *_PC),
    NcVar("nsoilmic", "microbial soil organic matter nitrogen", *_PN),
    NcVar("csoilslow", "slow soil organic matter carbon", *_PC),
    NcVar("nsoilslow", "slow soil organic matter nitrogen", *_PN),
    NcVar("csoilpass", "passive soil organic matter carbon", *_PC),
    NcVar("nsoilpass", "passive soil organic matter nitrogen", *_PN),
    NcVar("tairC", "mean daily air temperature", "degrees C", "degrees C",
          "mean annual air temperature"),
    NcVar("tsoilC", "mean daily soil temperature in top 50 cm", "degrees C", "degrees C",
          "mean annual soil temperature in top 50 cm"),
    NcVar("cLitInptMet", "Metabolic Litter C Inputs", *_FC2),
    NcVar("cLitInptStruc", "Structural Litter C Inputs", *_FC2),
    NcVar("cpassInpt", "Passive Pool C Inputs", *_FC2),
    NcVar("thetaLiq", "fraction of liquid soil water saturation (0.0-1.0)", "fraction", "fraction",
          "Fraction of liquid soil water saturation (0.0-1.0)"),
    NcVar("fT", "soil temperature multiplier on decomposition rate (0.0-1.0)", "multiplier", "multiplier"),
    NcVar("fW", "soil moisture multiplier on decomposition rate (0.0-1.0)", "multiplier", "multiplier"),
    NcVar("nLitInptMet", "Metabolic Litter N Inputs", *_FN),
    NcVar("nLitInptStruc", "Structural Litter N Inputs", *_FN),
    NcVar("nMinDep", "N deposition", *_FN),
    NcVar("nMinFix", "N Fixation", *_FN),
    NcVar("nMinUptake", "Plant Mineral N Uptake", *_FN),
    NcVar("nMinLeach", "Mineral N Leaching", *_FN),
    NcVar("nMinLoss", "Mineral N Loss (N2O)", *_FN),
    NcVar("nLitMineralization", "Litter N Mineralization", *_FN),
    NcVar("nSoilMineralization", "Soil N Mineralization", *_FN),
    NcVar("nSoilImmob", "Soil N Immobilization", *_FN),
    NcVar("nNetMineralization", "Net N mineralization", *_FN),
    NcVar("nMineral", "Mineral Soil N", *_PN),
)

_MIC = (("LITm", "metabolic litter"), ("LITs", "structural litter"),
        ("MICr", "r-selected microbial soil organic matter"),
        ("MICk", "K-selected microbial soil organic matter"),
        ("SOMa", "active soil organic matter"), ("SOMc", "chemically protected soil organic matter"),
        ("SOMp", "physically protected soil organic matter"))

# MIMICS file, reference order (mimics.md §9.3)
MIMICS_VARIABLES: tuple[NcVar, ...] = (
    *(NcVar(f"c{k}", f"{v} carbon", *_PC) for k, v in _MIC),
    NcVar("cHresp", "soil heterotrophic respiration", *_F),
    NcVar("cSOMpIn", "inputs to protected soil C pool", *_F, "inputs to physically protected soil pool"),
    NcVar("cLitInput_metb", "metabolic litter inputs", *_F, "metabolic litter C inputs"),
    NcVar("cLitInput_struc", "structural litter inputs", *_F, "structural litter C inputs"),
    NcVar("cOverflow_r", "Overflow respiration from MICr", *_F),
    NcVar("cOverflow_k", "Overflow respiration from MICk", *_F),
    *(NcVar(f"n{k}", f"{v} nitrogen", *_PN) for k, v in _MIC),
    NcVar("DIN", "dissolved inorganic N available to microbes", *_PN),
    NcVar("nLitInput_metb", "metabolic litter N inputs", *_FNM),
    NcVar("nLitInput_struc", "structural litter N inputs", *_FNM),
    NcVar("thetaLiq", "fraction of liquid soil water saturation (0.0-1.0)", "fraction", "fraction"),
    NcVar("thetaFrzn", "fraction of frozen soil water saturation (0.0-1.0)", "fraction", "fraction"),
    NcVar("fW", "soil moisture multiplier on decomposition (0.0-1.0)", "multiplier", "multiplier"),
)

# kind: (variables, title, source)
KINDS = {"casa": (CASA_VARIABLES, "CASACNP model output", "CASACNP Model"),
         "mimics": (MIMICS_VARIABLES, "MIMICS model output", "MIMICS Model")}

# Backward-compatible mapping name -> (long name, daily units, annual units[, annual long name])
CASA_VARS = {v.name: (v.long_name, v.units_daily, v.units_annual) +
             ((v.long_name_annual,) if v.long_name_annual else ()) for v in CASA_VARIABLES}
MIMICS_VARS = {v.name: (v.long_name, v.units_daily, v.units_annual) +
               ((v.long_name_annual,) if v.long_name_annual else ()) for v in MIMICS_VARIABLES}


def daily_time(label: int) -> np.ndarray:
    """Time of the 365 daily records: label + day/365 (in double precision, stored as float32;
    day 365 shows as label + 1)."""
    return (float(label) + np.arange(1, DAYS + 1, dtype=np.float64) / 365.0).astype(np.float32)


def annual_time(label: int) -> np.ndarray:
    return np.array([label], dtype=np.float32)


def history_now() -> str:
    """'created on MM/DD/YYYY HH:MM:SS' (local time), as the reference writes it."""
    return "created on " + _dt.datetime.now().strftime("%m/%d/%Y %H:%M:%S")


# ---------------------------------------------------------------- classic-format writer
_NC_CHAR, _NC_INT, _NC_FLOAT, _NC_DOUBLE = 2, 4, 5, 6
_TYPES = {np.dtype("int32"): _NC_INT, np.dtype("float32"): _NC_FLOAT, np.dtype("float64"): _NC_DOUBLE}
_ABSENT = b"\x00" * 8


def _pad4(b: bytes) -> bytes:
    return b + b"\x00" * (-len(b) % 4)


def _name(s: str) -> bytes:
    raw = s.encode("utf-8")
    return struct.pack(">i", len(raw)) + _pad4(raw)


def _attr(name: str, value) -> bytes:
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _name(name) + struct.pack(">ii", _NC_CHAR, len(raw)) + _pad4(raw)
    arr = np.atleast_1d(np.asarray(value))
    t = _TYPES[arr.dtype]
    return _name(name) + struct.pack(">ii", t, arr.size) + _pad4(arr.astype(arr.dtype.newbyteorder(">")).tobytes())


def _attr_list(attrs) -> bytes:
    if not attrs:
        return _ABSENT
    return struct.pack(">ii", 0x0C, len(attrs)) + b"".join(_attr(k, v) for k, v in attrs)


@dataclass
class _Var:
    name: str
    dims: tuple[str, ...]
    dtype: np.dtype
    attrs: list
    shape: tuple[int, ...]        # without the record dimension
    record: bool


def _header(dims, gattrs, variables, numrecs, begins) -> bytes:
    dimids = {d: k for k, (d, _) in enumerate(dims)}
    out = [b"CDF\x01", struct.pack(">i", numrecs)]
    out.append(struct.pack(">ii", 0x0A, len(dims)))
    for d, size in dims:
        out.append(_name(d) + struct.pack(">i", 0 if size is None else size))
    out.append(_attr_list(gattrs))
    out.append(struct.pack(">ii", 0x0B, len(variables)))
    for v, begin in zip(variables, begins):
        out.append(_name(v.name) + struct.pack(">i", len(v.dims))
                   + b"".join(struct.pack(">i", dimids[d]) for d in v.dims))
        out.append(_attr_list(v.attrs))
        out.append(struct.pack(">ii", _TYPES[v.dtype], _vsize(v)) + struct.pack(">i", begin))
    return b"".join(out)


def _vsize(v: _Var) -> int:
    n = int(np.prod(v.shape, dtype=np.int64)) * v.dtype.itemsize
    return n + (-n % 4)


def _layout(dims, gattrs, variables, numrecs):
    """Offsets of the fixed variables and of the record variables in the first record."""
    zero = [0] * len(variables)
    hsize = len(_header(dims, gattrs, variables, numrecs, zero))
    begins, pos = [], hsize
    for v in variables:
        if not v.record:
            begins.append(pos)
            pos += _vsize(v)
        else:
            begins.append(None)
    rec = pos
    for k, v in enumerate(variables):
        if v.record:
            begins[k] = rec
            rec += _vsize(v)
    if rec >= 2 ** 31:
        raise ValueError("output too large for the NetCDF classic format")
    return begins


# ---------------------------------------------------------------- reference output files
def _placement(grid: MetGrid, sites) -> tuple[np.ndarray, np.ndarray]:
    """Flat grid index of every cell, from the gridinfo ilat/ilon, checked against the grid's
    cell ids as the reference does when writing."""
    nlat, nlon = grid.cell_missing.shape
    jj = np.asarray(sites.ilat, np.int64) - 1
    ii = np.asarray(sites.ilon, np.int64) - 1
    if np.any((jj < 0) | (jj >= nlat) | (ii < 0) | (ii >= nlon)):
        k = int(np.flatnonzero((jj < 0) | (jj >= nlat) | (ii < 0) | (ii >= nlon))[0])
        raise InputError(grid.path, f"gridinfo ilat/ilon ({jj[k] + 1}, {ii[k] + 1}) of cell id "
                                    f"{sites.cellid[k]} outside the {nlat} x {nlon} output grid",
                         cell=k + 1)
    bad = np.flatnonzero(grid.cellid[jj, ii] != np.asarray(sites.cellid))
    if bad.size:
        k = int(bad[0])
        raise InputError(grid.path, f"gridinfo cell id {sites.cellid[k]} placed at grid cell id "
                                    f"{grid.cellid[jj[k], ii[k]]} (ilat/ilon do not match the met grid)",
                         variable="cellid", cell=k + 1)
    return jj * nlon + ii, np.asarray(sites.pft)


def write_reference_nc(path, kind: str, grid: MetGrid | None, sites, values: dict, time, day=None, *,
                       parameters_name: str = "", active=None, history: str | None = None) -> None:
    """Write one reference-layout output file.

    kind: "casa" or "mimics". grid: the met grid (axes, cellMissing, cellid; None builds one
    from `sites`). sites: `Sites` (cellid, ilat/ilon 1-based, pft, landarea in m2).
    values[name]: (nrec, ncell) array (or (ncell,) for one record) for every variable of the
    kind's table, in output units (g m-2, g m-2 day-1 in daily and g m-2 yr-1 in annual files,
    degrees C, fractions); other keys are ignored. time: (nrec,) (see daily_time/annual_time).
    day: (nrec,) day of year for daily files, None for annual files. parameters_name: the
    parameter file name as written in the .lst (global attribute `parameters`). active: cells
    whose land area is written (default: PFT not 11, 13, 15, 17); ice/water cells get 0.
    history: the global attribute (default: now)."""
    table, title, source = KINDS[kind]
    daily = day is not None
    if grid is None:
        grid = MetGrid.from_sites(sites)
    flat, pft = _placement(grid, sites)
    nlat, nlon = grid.cell_missing.shape
    ncell = sites.n
    time = np.asarray(time, np.float32).reshape(-1)
    nrec = time.shape[0]
    if daily:
        day = np.asarray(day, np.int32).reshape(-1)
        if day.shape != (nrec,):
            raise ValueError(f"day has {day.shape[0]} values for {nrec} records")
    missing = [v.name for v in table if v.name not in values]
    if missing:
        raise ValueError(f"{kind} output: values missing for {', '.join(missing)}")
    data = {}
    for v in table:
        a = np.asarray(values[v.name])
        if a.ndim == 1:
            a = a[None, :]
        if a.shape != (nrec, ncell):
            raise ValueError(f"{kind} output '{v.name}': shape {a.shape}, expected ({nrec}, {ncell})")
        data[v.name] = a
    if active is None:
        active = ~np.isin(pft, ICEWATER_PFTS)
    active = np.asarray(active, bool)

    igbp = np.full(nlat * nlon, IFILL, np.int32)
    igbp[flat] = pft
    area = np.full(nlat * nlon, FILL, np.float32)
    area[flat] = np.where(active, np.asarray(sites.landarea, np.float64) * 1.0e-6, 0.0)

    f4, i4 = np.dtype("float32"), np.dtype("int32")
    dims = [("lon", nlon), ("lat", nlat), ("time", None)]
    gattrs = [("title", title),
              ("comment", "NOTE: None of the variables are weighted by land fraction!"),
              ("history", history if history is not None else history_now()),
              ("source", source), ("parameters", str(parameters_name))]
    fillf = [("_FillValue", FILL), ("missing_value", FILL)]
    variables = [
        _Var("lon", ("lon",), f4, [("long_name", "coordinate longitude"), ("units", "degrees_east")], (nlon,), False),
        _Var("lat", ("lat",), f4, [("long_name", "coordinate latitude"), ("units", "degrees_north")], (nlat,), False),
        _Var("time", ("time",), f4, [("long_name", "coordinate time"), ("units", "1..ntimes")], (), True),
    ]
    if daily:
        variables.append(_Var("day", ("time",), i4, [("long_name", "day of year"), ("units", "1..365")], (), True))
    variables += [
        _Var("IGBP_PFT", ("lat", "lon"), i4, [("long_name", "IGBP PFT classification"), ("units", "1-18"),
                                              ("_FillValue", IFILL), ("missing_value", IFILL)], (nlat, nlon), False),
        _Var("landarea", ("lat", "lon"), f4, [("long_name", "land area, icewater set to 0.0"),
                                              ("units", "km^2")] + fillf, (nlat, nlon), False),
        _Var("cellMissing", ("lat", "lon"), i4, [("long_name", "Missing Data Mask"),
                                                 ("units", "0=no missing data, 1=missing data")], (nlat, nlon), False),
        _Var("cellid", ("lat", "lon"), i4, [("long_name", "Grid Cell ID"), ("units", "1..nlat*nlon")],
             (nlat, nlon), False),
    ]
    variables += [_Var(v.name, ("time", "lat", "lon"), f4,
                       [("long_name", v.long(daily)), ("units", v.units(daily))] + fillf, (nlat, nlon), True)
                  for v in table]
    begins = _layout(dims, gattrs, variables, nrec)
    header = _header(dims, gattrs, variables, nrec, begins)

    fixed = {"lon": np.asarray(grid.lon, ">f4"), "lat": np.asarray(grid.lat, ">f4"),
             "IGBP_PFT": igbp.astype(">i4"), "landarea": area.astype(">f4"),
             "cellMissing": np.asarray(grid.cell_missing, ">i4").reshape(-1),
             "cellid": np.asarray(grid.cellid, ">i4").reshape(-1)}
    names = [v.name for v in table]
    block = np.empty((len(names), nlat * nlon), ">f4")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(header)
            for v in variables:
                if not v.record:
                    fh.write(_pad4(fixed[v.name].tobytes()))
            for r in range(nrec):
                fh.write(time[r:r + 1].astype(">f4").tobytes())
                if daily:
                    fh.write(day[r:r + 1].astype(">i4").tobytes())
                block[:] = FILL
                for j, name in enumerate(names):
                    block[j, flat] = data[name][r]
                fh.write(block.tobytes())


def write_casa_nc(path, grid: MetGrid | None, sites, values: dict, time, day=None, *,
                  parameters_name: str = "", active=None, history: str | None = None) -> None:
    """CASA output file `casaclm_pool_flux_*.nc` (variables: CASA_VARIABLES)."""
    write_reference_nc(path, "casa", grid, sites, values, time, day, parameters_name=parameters_name,
                       active=active, history=history)


def write_mimics_nc(path, grid: MetGrid | None, sites, values: dict, time, day=None, *,
                    parameters_name: str = "", active=None, history: str | None = None) -> None:
    """MIMICS output file `mimics_pool_flux_*.nc` (variables: MIMICS_VARIABLES)."""
    write_reference_nc(path, "mimics", grid, sites, values, time, day, parameters_name=parameters_name,
                       active=active, history=history)


# ---------------------------------------------------------------- reading back
def read_nc_values(path, sites=None) -> dict:
    """Values of a reference-layout output file: every (time, lat, lon) variable as a float64
    (nrec, ncell) array at the cells of `sites` (gridinfo ilat/ilon), or at the cells with
    cellMissing == 0 in reference order when `sites` is None; plus `time` and, for daily
    files, `day`."""
    import netCDF4

    path = Path(path)
    if not path.exists():
        raise InputError(path, "NetCDF output file not found")
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_maskandscale(False)
        if sites is not None:
            jj = np.asarray(sites.ilat) - 1
            ii = np.asarray(sites.ilon) - 1
        else:
            ii, jj = np.nonzero(np.asarray(ds["cellMissing"][:]).T == 0)
        out = {"time": np.asarray(ds["time"][:], np.float64)}
        if "day" in ds.variables:
            out["day"] = np.asarray(ds["day"][:], np.int64)
        for name, v in ds.variables.items():
            if v.dimensions == ("time", "lat", "lon"):
                out[name] = np.asarray(v[:], np.float64)[:, jj, ii]
        return out
