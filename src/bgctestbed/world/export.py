"""Writers of the reference testbed's input formats (self-contained).

- `write_gridinfo`: ``gridinfo_igbpz*.csv`` (io_workflow.md section 4.1)
- `write_soil`: ``gridinfo_soil*.csv`` (section 4.2)
- `write_phenology`: ``modis_phenology_wtundra.txt`` layout (section 4.3)
- `write_met_grid` / `write_met`: ``met_YYYY_YYYY.nc`` (section 3.1), float32 with fill 1e36

`export_world` writes all of them for the embedded world so that it can drive the reference
Fortran code as well.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

import numpy as np

from ..sites import NSOIL, Forcing, Sites
from .grid import PHEN_LATS, PHEN_PFTS

FILL = 1.0e36
GRIDINFO_HEADER = ("ijcam,lat,lon,ivt_igbp,ist,iso,landarea,Ndep,Nfix,Pwea,Pdust,doyP1,doyP2,"
                   "doyP3,doyP4,Phase(1),ivcasa,ilat,ilon")
SOIL_HEADER = "ijcam,lat,lon,sand,clay,silt,wwilt,wfield,wsat"
MET_VARS = {  # name: (long_name, units)
    "xtairk": ("daily air temperature", "K"),
    "ndep": ("daily N deposition", "gN m-2 day-1"),
    "xcgpp": ("daily gross primary production", "gC m-2 day-1"),
    "xtsoil": ("daily soil temperature per soil layer", "K"),
    "xmoist": ("daily volumetric liquid soil water per soil layer", "m3 m-3"),
    "xfrznmoist": ("daily volumetric frozen soil water per soil layer", "m3 m-3"),
}


def _write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_gridinfo(path, sites: Sites, ndep_annual: np.ndarray, nfix: float = 0.1) -> None:
    """gridinfo_igbpz CSV: one header line, one row per cell, each row ending with a comma."""
    ist = sites.ist if sites.ist is not None else np.ones(sites.n, dtype=int)
    iso = sites.iso if sites.iso is not None else np.ones(sites.n, dtype=int)
    lines = [GRIDINFO_HEADER]
    for i in range(sites.n):
        lines.append(
            f"{sites.cellid[i]:6d},{sites.lat[i]:7.2f},{sites.lon[i]:7.2f},{sites.pft[i]:3d},"
            f"{ist[i]:3d},{iso[i]:3d},{sites.landarea[i]:20.4f},{ndep_annual[i]:8.5f},"
            f"{nfix:8.5f},{0.0:8.5f},{0.0:8.5f}," + "{:4d},".format(-99) * 6
            + f"{sites.ilat[i]:4d},{sites.ilon[i]:4d},")
    _write_text(path, "\n".join(lines) + "\n")


def write_soil(path, sites: Sites) -> None:
    """gridinfo_soil CSV: cell id, lat, lon, sand, clay, silt, wwilt, wfield, wsat."""
    lines = [SOIL_HEADER]
    for i in range(sites.n):
        lines.append(
            f"{sites.cellid[i]:6d},{sites.lat[i]:7.2f},{sites.lon[i]:7.2f},"
            + "".join(f"{v:8.5f}," for v in (sites.sand[i], sites.clay[i], sites.silt[i],
                                              sites.swilt[i], sites.sfc[i], sites.ssat[i])))
    _write_text(path, "\n".join(lines) + "\n")


def write_phenology(path, table: np.ndarray) -> None:
    """Phenology file: (271, 11, 3) table of green-up, fall and initial phase per 0.5-degree
    latitude (79.75 .. -55.25) and seasonal class (3 4 5 6 7 8 9 10 12 14 18); tab separated."""
    table = np.asarray(table)
    if table.shape != (271, len(PHEN_PFTS), 3):
        raise ValueError(f"phenology table must be (271, 11, 3), got {table.shape}")
    k = len(PHEN_PFTS)
    lines = ["\t".join(["Lat"] + ["GREENUP"] * k + ["FALL"] * k + ["PHENDOY1"] * k),
             "\t" + "\t".join(str(p) for p in PHEN_PFTS * 3)]
    for r, lat in enumerate(PHEN_LATS):
        vals = list(table[r, :, 0]) + list(table[r, :, 1]) + list(table[r, :, 2])
        lines.append(f"{lat:.2f}\t" + "\t".join(str(int(v)) for v in vals))
    _write_text(path, "\n".join(lines) + "\n")


def met_filename(year: int) -> str:
    return f"met_{year:04d}_{year:04d}.nc"


def write_met_grid(path, lon, lat, years, landfrac, cell_missing, fields: dict,
                   netcdf3: bool = False, source: str = "bgctestbed embedded world") -> None:
    """Met NetCDF from gridded fields: 2-D (time, lat, lon) for xtairk/ndep/xcgpp, 3-D
    (time, nsoilyrs, lat, lon) for xtsoil/xmoist/xfrznmoist (xfrznmoist optional)."""
    import netCDF4  # noqa: PLC0415

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nlat, nlon = len(lat), len(lon)
    ntime = fields["xtairk"].shape[0]
    years = np.atleast_1d(np.asarray(years, dtype=np.int32))
    tmp = path.with_name(path.name + ".tmp")
    fmt = "NETCDF3_64BIT_OFFSET" if netcdf3 else "NETCDF4_CLASSIC"
    comp = {} if netcdf3 else {"zlib": True, "complevel": 1}
    with netCDF4.Dataset(tmp, "w", format=fmt) as ds:
        ds.createDimension("lon", nlon)
        ds.createDimension("lat", nlat)
        ds.createDimension("time", ntime)
        ds.createDimension("nsoilyrs", NSOIL)
        ds.createDimension("myear", years.size)
        v = ds.createVariable("lon", "f4", ("lon",))
        v.long_name, v.units = "longitude", "degrees_east"
        v[:] = lon
        v = ds.createVariable("lat", "f4", ("lat",))
        v.long_name, v.units = "latitude", "degrees_north"
        v[:] = lat
        v = ds.createVariable("year", "i4", ("myear",))
        v.long_name = "calendar year"
        v[:] = years
        v = ds.createVariable("landfrac", "f4", ("lat", "lon"), fill_value=np.float32(FILL))
        v.long_name, v.units, v.missing_value = "land fraction", "unitless", np.float32(FILL)
        v[:] = landfrac
        v = ds.createVariable("cellMissing", "i4", ("lat", "lon"))
        v.long_name = "0 = complete forcing, 1 = missing"
        v[:] = cell_missing
        v = ds.createVariable("cellid", "i4", ("lat", "lon"))
        v.long_name = "cell id = (ilon-1)*nlat + ilat"
        v[:] = (np.arange(nlon)[None, :] * nlat + np.arange(1, nlat + 1)[:, None])
        for name, (long_name, units) in MET_VARS.items():
            if name not in fields:
                continue
            data = fields[name]
            dims = ("time", "lat", "lon") if data.ndim == 3 else ("time", "nsoilyrs", "lat",
                                                                  "lon")
            v = ds.createVariable(name, "f4", dims, fill_value=np.float32(FILL), **comp)
            v.long_name, v.units, v.missing_value = long_name, units, np.float32(FILL)
            v[:] = data
        ds.title = "CLM History file information for CASACNP model"
        ds.comment = "NOTE: None of the variables are weighted by land fraction!"
        ds.history = "created on " + _dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        ds.source = source
    os.replace(tmp, path)


def to_grid(values: np.ndarray, sites: Sites, nlat: int, nlon: int) -> np.ndarray:
    """Scatter (..., n) cell values onto a (..., nlat, nlon) float32 grid filled with 1e36."""
    out = np.full(values.shape[:-1] + (nlat, nlon), np.float32(FILL), dtype=np.float32)
    out[..., sites.ilat - 1, sites.ilon - 1] = values
    return out


def write_met(path, sites: Sites, year: int, forcing: Forcing, landfrac=None,
              netcdf3: bool = False) -> None:
    """Met file of one year for the cells of `sites` on its grid (other cells missing)."""
    nlat, nlon = len(sites.grid_lat), len(sites.grid_lon)
    missing = np.ones((nlat, nlon), dtype=np.int32)
    missing[sites.ilat - 1, sites.ilon - 1] = 0
    lf = to_grid(np.ones(sites.n) if landfrac is None else landfrac, sites, nlat, nlon)
    lf[missing == 1] = 0.0
    fields = {k: to_grid(getattr(forcing, k), sites, nlat, nlon) for k in MET_VARS}
    write_met_grid(path, sites.grid_lon, sites.grid_lat, [year], lf, missing, fields,
                   netcdf3=netcdf3)


def export_world(world, outdir, years=(1901, 1901), netcdf3: bool = False,
                 log=print) -> list[Path]:
    """Write the world in the reference formats: gridinfo and soil CSV, phenology file and one
    met NetCDF per year in `years` (inclusive range) under `outdir/met`."""
    out = Path(outdir)
    s = world.sites
    written = []
    nd = np.mean([world.ndep_annual(y) for y in range(1901, 2015)], axis=0)
    p = out / "gridinfo_igbpz_world.csv"
    write_gridinfo(p, s, nd)
    written.append(p)
    p = out / "gridinfo_soil_world.csv"
    write_soil(p, s)
    written.append(p)
    p = out / "modis_phenology_world.txt"
    write_phenology(p, world.arrays["phenology"])
    written.append(p)
    y0, y1 = years
    for y, f in zip(range(y0, y1 + 1), world.forcing_years(y0, y1)):
        p = out / "met" / met_filename(y)
        write_met(p, s, y, f, landfrac=world.arrays.get("landfrac"), netcdf3=netcdf3)
        written.append(p)
        if log:
            log(f"wrote {p}")
    return written
