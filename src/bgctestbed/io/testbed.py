"""Readers and writers of the reference testbed's file formats (io_workflow §3-§5).

gridinfo and soil CSVs, the phenology table, the perturbation file, the met NetCDF, CASA and
MIMICS restart CSVs, the CASA annual flux CSV and the MIMICS diagnostic CSV. Every problem
in an input is reported as an `InputError` naming the file and line, variable or cell.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..sites import NSOIL, Forcing, Sites
from .atomic import write_text

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- CSV helpers
def _rows(path, ncols: int, nrows: int | None, what: str) -> tuple[list[list[float]], list[int]]:
    """Numeric rows after one header line (trailing commas and blanks ignored)."""
    path = Path(path)
    try:
        with open(path, newline="") as fh:
            lines = list(csv.reader(fh))
    except OSError as exc:
        raise InputError(path, f"cannot read {what}: {exc.strerror}") from None
    out, linenos = [], []
    for i, row in enumerate(lines[1:], start=2):
        toks = [t.strip() for t in row if t.strip() != ""]
        if not toks:
            continue
        if len(toks) < ncols:
            raise InputError(path, f"{what}: expected {ncols} columns, found {len(toks)}", line=i)
        try:
            vals = [float(t) for t in toks[:ncols]]
        except ValueError as exc:
            raise InputError(path, f"{what}: {exc}", line=i) from None
        if not np.all(np.isfinite(vals)):
            raise InputError(path, f"{what}: value is not finite", line=i)
        out.append(vals)
        linenos.append(i)
    if nrows is not None and len(out) != nrows:
        raise InputError(path, f"{what}: {len(out)} data rows, but the run-control file says "
                               f"mp = {nrows} cells")
    if not out:
        raise InputError(path, f"{what}: no data rows")
    return out, linenos


def read_gridinfo(path, mp: int | None = None) -> dict:
    """`gridinfo_igbpz*.csv`: cell id, lat, lon, PFT, soil type/order, land area (m2),
    N deposition/fixation (unused), grid indices."""
    rows, lines = _rows(path, 19, mp, "gridinfo")
    a = np.array(rows)
    pft = a[:, 3].astype(int)
    pft = np.where(pft == 0, 15, pft)  # the reference maps class 0 to snow/ice
    bad = np.flatnonzero((pft < 1) | (pft > 18))
    if bad.size:
        raise InputError(path, f"PFT (ivt_igbp) {pft[bad[0]]} outside 1..18", line=lines[bad[0]],
                         cell=int(bad[0]) + 1)
    if np.any(a[:, 6] < 0):
        k = int(np.flatnonzero(a[:, 6] < 0)[0])
        raise InputError(path, "negative land area", line=lines[k], cell=k + 1)
    return dict(cellid=a[:, 0].astype(int), lat=a[:, 1], lon=a[:, 2], pft=pft,
                ist=a[:, 4].astype(int), iso=a[:, 5].astype(int), landarea=a[:, 6],
                ndep=a[:, 7], nfix=a[:, 8], ilat=a[:, 17].astype(int), ilon=a[:, 18].astype(int))


def read_soil(path, mp: int | None = None) -> dict:
    """`gridinfo_soil*.csv`: sand, clay, silt fractions; wilting point, field capacity,
    saturation (m3 m-3)."""
    rows, lines = _rows(path, 9, mp, "soil properties")
    a = np.array(rows)
    sand, clay, silt, swilt, sfc, ssat = (a[:, k] for k in range(3, 9))
    checks = [
        ((sand < 0) | (clay < 0) | (silt < 0) | (sand > 1) | (clay > 1) | (silt > 1),
         "texture fractions must lie in 0..1 (percent given?)"),
        (np.abs(sand + clay + silt - 1.0) > 0.02, "sand + clay + silt must be 1"),
        (~((0 < swilt) & (swilt < sfc) & (sfc < ssat) & (ssat <= 1)),
         "need 0 < wilting point < field capacity < saturation <= 1"),
    ]
    for bad, msg in checks:
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise InputError(path, msg, line=lines[k], cell=k + 1)
    return dict(cellid=a[:, 0].astype(int), sand=sand, clay=clay, silt=silt, swilt=swilt,
                sfc=sfc, ssat=ssat)


@dataclass
class PhenologyTable:
    lat: np.ndarray       # (rows,) latitudes of the table rows
    pfts: list[int]       # PFTs with seasonal phenology
    greenup: np.ndarray   # (rows, len(pfts)) day of year
    fall: np.ndarray
    phase: np.ndarray


def read_phenology(path) -> PhenologyTable:
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise InputError(path, f"cannot read phenology file: {exc.strerror}") from None
    if len(lines) < 3:
        raise InputError(path, "phenology file needs a header, the PFT line and data rows")
    try:
        pfts = [int(t) for t in lines[1].split()]
    except ValueError:
        raise InputError(path, "second line must list the PFTs with seasonal phenology", line=2) from None
    # the list may be repeated over the green-up, fall and phase column groups
    k = len(pfts) // 3
    if k and len(pfts) == 3 * k and pfts[:k] == pfts[k:2 * k] == pfts[2 * k:]:
        pfts = pfts[:k]
    k = len(pfts)
    rows = []
    for i, ln in enumerate(lines[2:], start=3):
        if not ln.strip():
            continue
        toks = ln.split()
        if len(toks) < 1 + 3 * k:
            raise InputError(path, f"expected {1 + 3 * k} values, found {len(toks)}", line=i)
        try:
            rows.append([float(t) for t in toks[:1 + 3 * k]])
        except ValueError as exc:
            raise InputError(path, str(exc), line=i) from None
    a = np.array(rows)
    return PhenologyTable(lat=a[:, 0], pfts=pfts, greenup=a[:, 1:1 + k].astype(int),
                          fall=a[:, 1 + k:1 + 2 * k].astype(int), phase=a[:, 1 + 2 * k:].astype(int))


def phenology_for_cells(table: PhenologyTable, lat, pft):
    """Green-up day, fall day and initial phase per cell (casa.md §1.5): row by latitude with
    truncation toward zero (the reference's INT), PFTs without seasonal phenology get -50,
    367 and phase 2."""
    lat = np.asarray(lat, float)
    nrow = len(table.lat)
    row = np.clip(np.trunc((79.75 - lat + 0.25) / 0.5).astype(int) + 1, 1, nrow) - 1
    greenup = np.full(lat.shape, -50)
    fall = np.full(lat.shape, 367)
    phase = np.full(lat.shape, 2)
    for j, p in enumerate(table.pfts):
        m = np.asarray(pft) == p
        greenup[m] = table.greenup[row[m], j]
        fall[m] = table.fall[row[m], j]
        phase[m] = table.phase[row[m], j]
    return greenup, fall, phase


def read_sites(gridinfo, soil, phenology, mp: int | None = None) -> Sites:
    g = read_gridinfo(gridinfo, mp)
    s = read_soil(soil, mp)
    if len(s["sand"]) != len(g["lat"]):
        raise InputError(soil, f"{len(s['sand'])} cells, but {gridinfo} has {len(g['lat'])}")
    greenup, fall, phase = phenology_for_cells(read_phenology(phenology), g["lat"], g["pft"])
    return Sites(cellid=g["cellid"], lat=g["lat"], lon=g["lon"], ilat=g["ilat"], ilon=g["ilon"],
                 pft=g["pft"], landarea=g["landarea"], sand=s["sand"], clay=s["clay"],
                 silt=s["silt"], swilt=s["swilt"], sfc=s["sfc"], ssat=s["ssat"],
                 greenup=greenup, fall=fall, phase0=phase, ist=g["ist"], iso=g["iso"])


def read_co2delta(path) -> dict:
    """Perturbation file: co2air, deltsoil (K), deltair (K), deltYr (simulation year from which
    they apply), nppMult."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise InputError(path, f"cannot read perturbation file: {exc.strerror}") from None
    toks = lines[1].replace(",", " ").split() if len(lines) > 1 else []
    try:
        co2, dsoil, dair, yr, mult = (float(t) for t in toks[:5])
    except ValueError:
        raise InputError(path, "expected 'co2air deltsoil deltair deltYr nppMult'", line=2) from None
    return dict(co2air=co2, deltsoil=dsoil, deltair=dair, deltYr=int(yr), nppMult=mult)


# ---------------------------------------------------------------- met NetCDF
@dataclass
class MetGrid:
    lon: np.ndarray          # (nlon,) grid axes as stored in the met file
    lat: np.ndarray          # (nlat,)
    cell_missing: np.ndarray  # (nlat, nlon) int
    cellid: np.ndarray       # (nlat, nlon) int
    ilat: np.ndarray         # (n,) 0-based row of each simulated cell
    ilon: np.ndarray         # (n,) 0-based column


_MET_2D = ("xcgpp", "xtairk", "ndep")
_MET_3D = ("xtsoil", "xmoist", "xfrznmoist")


def _open(path):
    import netCDF4

    path = Path(path)
    if not path.exists():
        raise InputError(path, "met file not found")
    try:
        return netCDF4.Dataset(path)
    except OSError as exc:
        raise InputError(path, f"cannot open met file as NetCDF ({exc})") from None


def met_years(path) -> int:
    with _open(path) as ds:
        if "myear" not in ds.dimensions:
            raise InputError(path, "dimension 'myear' missing")
        return len(ds.dimensions["myear"])


def read_met(path, mp: int | None = None) -> tuple[Forcing, MetGrid]:
    """Daily forcing of the simulated cells (cellMissing == 0, longitude outer loop, latitude
    inner), float64."""
    path = Path(path)
    with _open(path) as ds:
        for dim in ("lon", "lat", "time", "nsoilyrs", "myear"):
            if dim not in ds.dimensions:
                raise InputError(path, f"dimension '{dim}' missing")
        myear = len(ds.dimensions["myear"])
        ntime = len(ds.dimensions["time"])
        if ntime != 365 * myear:
            raise InputError(path, f"time has {ntime} days; 365 x myear = {365 * myear} expected "
                                   "(365-day years, no leap days)", variable="time")
        if len(ds.dimensions["nsoilyrs"]) != NSOIL:
            raise InputError(path, f"nsoilyrs is {len(ds.dimensions['nsoilyrs'])}; the model has "
                                   f"{NSOIL} soil layers", variable="nsoilyrs")
        for v in ("lon", "lat", "cellMissing", "cellid") + _MET_2D + _MET_3D[:2]:
            if v not in ds.variables:
                raise InputError(path, "required variable missing", variable=v)
        cm = np.asarray(ds["cellMissing"][:]).astype(int)
        cellid = np.asarray(ds["cellid"][:]).astype(int)
        jj, ii = np.nonzero(cm.T == 0)  # transposed: longitude outer, latitude inner
        ilon, ilat = jj, ii
        if mp is not None and len(ilat) != mp:
            raise InputError(path, f"{len(ilat)} cells with cellMissing == 0, but the run-control "
                                   f"file says mp = {mp}", variable="cellMissing")
        data = {}
        for v in _MET_2D + _MET_3D:
            if v not in ds.variables:
                log.warning("%s: no 'xfrznmoist'; frozen soil water set to 0", path)
                data[v] = np.zeros_like(data["xmoist"])
                continue
            var = ds[v]
            var.set_auto_mask(False)
            arr = np.asarray(var[:])
            want = 3 if v in _MET_2D else 4
            if arr.ndim != want:
                raise InputError(path, f"expected {want} dimensions, found {arr.ndim}", variable=v)
            data[v] = arr[..., ilat, ilon].astype(np.float64)
        grid = MetGrid(lon=np.asarray(ds["lon"][:], float), lat=np.asarray(ds["lat"][:], float),
                       cell_missing=cm, cellid=cellid, ilat=ilat, ilon=ilon)
    _check_met_values(path, data)
    f = Forcing(**data)
    return f, grid


def _check_met_values(path, d):
    for v, arr in d.items():
        bad = ~np.isfinite(arr) | (np.abs(arr) > 1e30)
        if bad.any():
            t, *_, c = np.unravel_index(np.flatnonzero(bad)[0], arr.shape)
            raise InputError(path, f"missing or non-finite value on day {t + 1}", variable=v, cell=int(c) + 1)
    checks = [("xcgpp", d["xcgpp"] < 0, "negative GPP"),
              ("xtairk", (d["xtairk"] < 150) | (d["xtairk"] > 350), "air temperature outside 150-350 K (given in degC?)"),
              ("xtsoil", (d["xtsoil"] < 150) | (d["xtsoil"] > 350), "soil temperature outside 150-350 K (given in degC?)"),
              ("xmoist", (d["xmoist"] < 0) | (d["xmoist"] > 1), "volumetric liquid water outside 0-1 m3 m-3"),
              ("xfrznmoist", (d["xfrznmoist"] < 0) | (d["xfrznmoist"] > 1), "volumetric frozen water outside 0-1 m3 m-3"),
              ("ndep", d["ndep"] < 0, "negative N deposition")]
    for v, bad, msg in checks:
        if bad.any():
            t, *_, c = np.unravel_index(np.flatnonzero(bad)[0], bad.shape)
            raise InputError(path, f"{msg} on day {t + 1}", variable=v, cell=int(c) + 1)


def check_sites_match_met(sites: Sites, grid: MetGrid, path) -> None:
    """The reference pairs gridinfo rows with met cells by position: check they agree."""
    ids = grid.cellid[grid.ilat, grid.ilon]
    if len(ids) != sites.n:
        raise InputError(path, f"{len(ids)} met cells but {sites.n} gridinfo rows")
    bad = np.flatnonzero(ids != sites.cellid)
    if bad.size:
        k = int(bad[0])
        raise InputError(path, f"met cell id {ids[k]} does not match gridinfo cell id "
                               f"{sites.cellid[k]} (files must list the same cells in the same order)",
                         variable="cellid", cell=k + 1)


def check_moisture_vs_soil(sites: Sites, forcing: Forcing, path) -> None:
    over = forcing.xmoist + forcing.xfrznmoist > sites.ssat[None, None, :] + 0.05
    if over.any():
        t, _, c = np.unravel_index(np.flatnonzero(over)[0], over.shape)
        raise InputError(path, f"soil water above saturation ({sites.ssat[c]:.3f}) on day {t + 1}",
                         variable="xmoist", cell=int(c) + 1)


# ---------------------------------------------------------------- CASA restart / flux CSV
CASA_HEADER = ("iYrCnt,npt,veg%iveg,soil%isoilm,casamet%isorder,casamet%lat,casamet%lon,"
               "casamet%areacell,casamet%glai,casabiome%sla(veg%iveg),phen%phase,casapool%clabile,"
               "casapool%cplant(LEAF),casapool%cplant(WOOD),casapool%cplant(FROOT),"
               "casapool%clitter(METB),casapool%clitter(STR),casapool%clitter(CWD),"
               "casapool%csoil(MIC),casapool%csoil(SLOW),casapool%csoil(PASS),"
               "casapool%nplant(LEAF),casapool%nplant(WOOD),casapool%nplant(FROOT),"
               "casapool%nlitter(METB),casapool%nlitter(STR),casapool%nlitter(CWD),"
               "casapool%nsoil(MIC),casapool%nsoil(SLOW),casapool%nsoil(PASS),casapool%nsoilmin,"
               "casapool%pplant(LEAF),casapool%pplant(WOOD),casapool%pplant(FROOT),"
               "casapool%plitter(METB),casapool%plitter(STR),casapool%plitter(CWD),"
               "casapool%psoil(MIC),casapool%psoil(SLOW),casapool%psoil(PASS),casapool%psoillab,"
               "casapool%psoilsorb,casapool%psoilocc,casabal%sumcbal,casabal%sumnbal,casabal%sumpbal")


def read_casa_restart(path, mp: int, icycle: int) -> dict:
    """CASA restart CSV: glai, phase, clabile, cplant, clitter, csoil and, for C+N, nplant,
    nlitter, nsoil, nsoilmin."""
    need = 21 if icycle < 2 else 31
    rows, _ = _rows(path, need, mp, "CASA restart")
    a = np.array(rows)
    out = dict(glai=a[:, 8], phase=a[:, 10].astype(np.int32), clabile=a[:, 11],
               cplant=a[:, 12:15], clitter=a[:, 15:18], csoil=a[:, 18:21])
    if icycle >= 2:
        out.update(nplant=a[:, 21:24], nlitter=a[:, 24:27], nsoil=a[:, 27:30], nsoilmin=a[:, 30])
    bad = np.flatnonzero((out["phase"] < 0) | (out["phase"] > 3))
    if bad.size:
        raise InputError(path, f"phase {out['phase'][bad[0]]} outside 0..3", cell=int(bad[0]) + 1)
    return out


def write_casa_restart(path, iyrcnt: int, sites: Sites, state: dict, sla, p_plant) -> None:
    """CASA restart CSV in the reference layout (header, 46 columns, Fortran widths).

    Columns 32-34 hold plant P (the leaf-P stub and N/NPmin); the remaining P pools and
    balance sums, not used by C and C+N runs, are written as 0.
    """
    n = sites.n
    soil = sites.ist if sites.ist is not None else np.ones(n, int)
    order = sites.iso if sites.iso is not None else np.ones(n, int)
    lines = [CASA_HEADER]
    for k in range(n):
        ints = [iyrcnt, k + 1, sites.pft[k], soil[k], order[k]]
        reals = [sites.lat[k], sites.lon[k], sites.landarea[k] * 1e-9, state["glai"][k], sla[k]]
        rest = ([state["clabile"][k]] + list(state["cplant"][k]) + list(state["clitter"][k])
                + list(state["csoil"][k]) + list(state["nplant"][k]) + list(state["nlitter"][k])
                + list(state["nsoil"][k]) + [state["nsoilmin"][k]] + list(p_plant[k]) + [0.0] * 12)
        lines.append("  ".join([f"{int(i):6d}," for i in ints] + [f"{r:18.6f}," for r in reals])
                     + f"  {int(state['phase'][k]):6d},"
                     + "  ".join(f"{r:18.6f}," for r in rest))
    write_text(path, "\n".join(lines) + "\n")


CASA_FLUX_HEADER = ("myear,npt,veg%iveg,soil%isoilm,casamet%isorder,casamet%lat,casamet%lon,"
                    "casamet%areacell,casabal%Fcnppyear,casabal%FCrsyear,casabal%FCneeyear,"
                    "casabal%FCrpyear,clitterinput(LEAF),clitterinput(WOOD),clitterinput(FROOT),"
                    "csoilinput(METB),csoilinput(METB),csoilinput(METB)")
CASA_FLUX_N_HEADER = (",casabal%FNdepyear,casabal%FNfixyear,casabal%FNsnetyear,casabal%FNupyear,"
                      "casabal%FNleachyear,casabal%FNlossyear")


def write_casa_flux(path, myear: int, sites: Sites, flux: dict, nitrogen: bool) -> None:
    """CASA annual flux CSV: NPP, Rh, NPP-Rh, Ra (+ N budget terms for C+N), g m-2 yr-1."""
    n = sites.n
    soil = sites.ist if sites.ist is not None else np.ones(n, int)
    order = sites.iso if sites.iso is not None else np.ones(n, int)
    lines = [CASA_FLUX_HEADER + (CASA_FLUX_N_HEADER if nitrogen else "")]
    keys = ["npp", "rh", "nep", "ra"]
    nkeys = ["ndep", "nfix", "nsnet", "nup", "nleach", "nloss"] if nitrogen else []
    for k in range(n):
        ints = [myear, k + 1, sites.pft[k], soil[k], order[k]]
        reals = ([sites.lat[k], sites.lon[k], sites.landarea[k] * 1e-9] + [flux[x][k] for x in keys]
                 + [0.0] * 6 + [flux[x][k] for x in nkeys])
        lines.append("  ".join([f"{int(i):6d}," for i in ints] + [f"{r:15.6f}," for r in reals]))
    write_text(path, "\n".join(lines) + "\n")


# ---------------------------------------------------------------- MIMICS restart / diagnostic
MIMICS_C = ("LITm", "LITs", "MICr", "MICk", "SOMa", "SOMc", "SOMp")
MIMICS_N = tuple(k + "N" for k in MIMICS_C)


def read_mimics_restart(path, mp: int, nitrogen: bool) -> dict:
    """MIMICS restart CSV: 7 C pools (+ 7 N pools), mg cm-3; negative values floored at 0."""
    rows, _ = _rows(path, 6 + (14 if nitrogen else 7), mp, "MIMICS restart")
    a = np.maximum(np.array(rows)[:, 6:], 0.0)
    names = MIMICS_C + (MIMICS_N if nitrogen else ())
    return {k: a[:, j] for j, k in enumerate(names)}


def write_mimics_restart(path, iyrcnt: int, sites: Sites, pools: dict, nitrogen: bool) -> None:
    names = MIMICS_C + (MIMICS_N if nitrogen else ())
    head = "iYrCnt,npt,veg%iveg,casamet%lat,casamet%lon,casamet%areacell," + ",".join(
        f"mimicspool%{k}" for k in names)
    sep = " " if nitrogen else "  "
    lines = [head]
    for k in range(sites.n):
        ints = [iyrcnt, k + 1, sites.pft[k]]
        reals = [sites.lat[k], sites.lon[k], sites.landarea[k] * 1e-9] + [pools[x][k] for x in names]
        lines.append(sep.join([f"{int(i):6d}," for i in ints] + [f"{r:18.10f}," for r in reals]))
    write_text(path, "\n".join(lines) + "\n")


def write_mimics_diagnostic(path, iyrcnt: int, sites: Sites, lignin_n, fmet) -> None:
    lines = ["iYrCnt,npt,veg%iveg,casamet%lat,casamet%lon,casamet%areacell,lignin:N,fmet"]
    for k in range(sites.n):
        ints = [iyrcnt, k + 1, sites.pft[k]]
        reals = [sites.lat[k], sites.lon[k], sites.landarea[k] * 1e-9, lignin_n[k], fmet[k]]
        lines.append("  ".join([f"{int(i):6d}," for i in ints] + [f"{r:18.10f}," for r in reals]))
    write_text(path, "\n".join(lines) + "\n")
