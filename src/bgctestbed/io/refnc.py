"""NetCDF outputs in the reference's layout (`casaclm_pool_flux_*.nc`, `mimics_pool_flux_*.nc`).

Gridded (time, lat, lon) float32 with fill 1e36 off the simulated cells, NETCDF3 classic, the
reference's variable names, long names, units and order, so that existing analysis scripts
keep working. Daily files hold 365 end-of-day records; annual files one record of annual
means (pools, state) or totals (fluxes).
"""

from __future__ import annotations

import datetime as _dt

import numpy as np

from .atomic import atomic_path

FILL = np.float32(1.0e36)
IFILL = np.int32(-9999)

# name: (long name, daily units, annual units[, annual long name])
CASA_VARS = {
    "cresp": ("soil heterotrophic respiration", "gC m-2 day-1", "gC m-2 year-1"),
    "cnpp": ("net primary production", "gC m-2 day-1", "gC m-2 year-1"),
    "cgpp": ("gross primary production", "gC m-2 day-1", "gC m-2 year-1"),
    "cleaf": ("leaf carbon", "gC m-2", "gC m-2"),
    "nleaf": ("leaf nitrogen", "gN m-2", "gN m-2"),
    "cwood": ("wood carbon", "gC m-2", "gC m-2"),
    "nwood": ("wood nitrogen", "gN m-2", "gN m-2"),
    "cfroot": ("fine root carbon", "gC m-2", "gC m-2"),
    "nfroot": ("fine root nitrogen", "gN m-2", "gN m-2"),
    "clitmetb": ("metabolic litter carbon", "gC m-2", "gC m-2"),
    "nlitmetb": ("metabolic litter nitrogen", "gN m-2", "gN m-2"),
    "clitstr": ("structural litter carbon", "gC m-2", "gC m-2"),
    "nlitstr": ("structural litter nitrogen", "gN m-2", "gN m-2"),
    "clitcwd": ("coarse woody debris carbon", "gC m-2", "gC m-2"),
    "nlitcwd": ("coarse woody debris nitrogen", "gN m-2", "gN m-2"),
    "csoilmic": ("microbial soil organic matter carbon", "gC m-2", "gC m-2"),
    "nsoilmic": ("microbial soil organic matter nitrogen", "gN m-2", "gN m-2"),
    "csoilslow": ("slow soil organic matter carbon", "gC m-2", "gC m-2"),
    "nsoilslow": ("slow soil organic matter nitrogen", "gN m-2", "gN m-2"),
    "csoilpass": ("passive soil organic matter carbon", "gC m-2", "gC m-2"),
    "nsoilpass": ("passive soil organic matter nitrogen", "gN m-2", "gN m-2"),
    "tairC": ("mean daily air temperature", "degrees C", "degrees C", "mean annual air temperature"),
    "tsoilC": ("mean daily soil temperature in top 50 cm", "degrees C", "degrees C",
               "mean annual soil temperature in top 50 cm"),
    "cLitInptMet": ("Metabolic Litter C Inputs", "gC m-2 day-1", "gC m-2 yr-1"),
    "cLitInptStruc": ("Structural Litter C Inputs", "gC m-2 day-1", "gC m-2 yr-1"),
    "cpassInpt": ("Passive Pool C Inputs", "gC m-2 day-1", "gC m-2 yr-1"),
    "thetaLiq": ("fraction of liquid soil water saturation (0.0-1.0)", "fraction", "fraction",
                 "Fraction of liquid soil water saturation (0.0-1.0)"),
    "fT": ("soil temperature multiplier on decomposition rate (0.0-1.0)", "multiplier", "multiplier"),
    "fW": ("soil moisture multiplier on decomposition rate (0.0-1.0)", "multiplier", "multiplier"),
    "nLitInptMet": ("Metabolic Litter N Inputs", "gN m-2 day-1", "gN m-2 yr-1"),
    "nLitInptStruc": ("Structural Litter N Inputs", "gN m-2 day-1", "gN m-2 yr-1"),
    "nMinDep": ("N deposition", "gN m-2 day-1", "gN m-2 yr-1"),
    "nMinFix": ("N Fixation", "gN m-2 day-1", "gN m-2 yr-1"),
    "nMinUptake": ("Plant Mineral N Uptake", "gN m-2 day-1", "gN m-2 yr-1"),
    "nMinLeach": ("Mineral N Leaching", "gN m-2 day-1", "gN m-2 yr-1"),
    "nMinLoss": ("Mineral N Loss (N2O)", "gN m-2 day-1", "gN m-2 yr-1"),
    "nLitMineralization": ("Litter N Mineralization", "gN m-2 day-1", "gN m-2 yr-1"),
    "nSoilMineralization": ("Soil N Mineralization", "gN m-2 day-1", "gN m-2 yr-1"),
    "nSoilImmob": ("Soil N Immobilization", "gN m-2 day-1", "gN m-2 yr-1"),
    "nNetMineralization": ("Net N mineralization", "gN m-2 day-1", "gN m-2 yr-1"),
    "nMineral": ("Mineral Soil N", "gN m-2", "gN m-2"),
}

_MIC = {"LITm": "metabolic litter", "LITs": "structural litter",
        "MICr": "r-selected microbial soil organic matter", "MICk": "K-selected microbial soil organic matter",
        "SOMa": "active soil organic matter", "SOMc": "chemically protected soil organic matter",
        "SOMp": "physically protected soil organic matter"}
MIMICS_VARS = {f"c{k}": (f"{v} carbon", "gC m-2", "gC m-2") for k, v in _MIC.items()}
MIMICS_VARS.update({
    "cHresp": ("soil heterotrophic respiration", "gC m-2 day-1", "gC m-2 year-1"),
    "cSOMpIn": ("inputs to protected soil C pool", "gC m-2 day-1", "gC m-2 year-1",
                "inputs to physically protected soil pool"),
    "cLitInput_metb": ("metabolic litter inputs", "gC m-2 day-1", "gC m-2 year-1", "metabolic litter C inputs"),
    "cLitInput_struc": ("structural litter inputs", "gC m-2 day-1", "gC m-2 year-1", "structural litter C inputs"),
    "cOverflow_r": ("Overflow respiration from MICr", "gC m-2 day-1", "gC m-2 year-1"),
    "cOverflow_k": ("Overflow respiration from MICk", "gC m-2 day-1", "gC m-2 year-1"),
})
MIMICS_VARS.update({f"n{k}": (f"{v} nitrogen", "gN m-2", "gN m-2") for k, v in _MIC.items()})
MIMICS_VARS.update({
    "DIN": ("dissolved inorganic N available to microbes", "gN m-2", "gN m-2"),
    "nLitInput_metb": ("metabolic litter N inputs", "gN m-2 day-1", "gN m-2 year-1"),
    "nLitInput_struc": ("structural litter N inputs", "gN m-2 day-1", "gN m-2 year-1"),
    "thetaLiq": ("fraction of liquid soil water saturation (0.0-1.0)", "fraction", "fraction"),
    "thetaFrzn": ("fraction of frozen soil water saturation (0.0-1.0)", "fraction", "fraction"),
    "fW": ("soil moisture multiplier on decomposition (0.0-1.0)", "multiplier", "multiplier"),
})

_KINDS = {"casa": (CASA_VARS, "CASACNP model output", "CASACNP Model"),
          "mimics": (MIMICS_VARS, "MIMICS model output", "MIMICS Model")}


def write_nc(path, kind: str, grid, sites, active, values: dict, time, day=None,
             parameters: str = "") -> None:
    """Write one reference-layout file. values[name]: (nrec, ncell) arrays; time (nrec,);
    day (nrec,) for daily files (None for annual); `active` marks simulated (non ice/water)
    cells, whose land area is written, 0 elsewhere."""
    import netCDF4

    table, title, source = _KINDS[kind]
    daily = day is not None
    nlat, nlon = len(grid.lat), len(grid.lon)
    jj, ii = grid.ilat, grid.ilon
    with atomic_path(path) as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF3_CLASSIC") as ds:
            ds.title = title
            ds.comment = "NOTE: None of the variables are weighted by land fraction!"
            ds.history = "created on " + _dt.datetime.now().strftime("%m/%d/%Y %H:%M:%S")
            ds.source = source
            ds.parameters = parameters
            ds.createDimension("lon", nlon)
            ds.createDimension("lat", nlat)
            ds.createDimension("time", None)
            v = ds.createVariable("lon", "f4", ("lon",))
            v.long_name, v.units = "coordinate longitude", "degrees_east"
            v[:] = grid.lon
            v = ds.createVariable("lat", "f4", ("lat",))
            v.long_name, v.units = "coordinate latitude", "degrees_north"
            v[:] = grid.lat
            v = ds.createVariable("time", "f4", ("time",))
            v.long_name, v.units = "coordinate time", "1..ntimes"
            v[:] = np.asarray(time, np.float32)
            if daily:
                v = ds.createVariable("day", "i4", ("time",))
                v.long_name, v.units = "day of year", "1..365"
                v[:] = np.asarray(day, np.int32)
            v = ds.createVariable("IGBP_PFT", "i4", ("lat", "lon"), fill_value=IFILL)
            v.long_name, v.units, v.missing_value = "IGBP PFT classification", "1-18", IFILL
            g = np.full((nlat, nlon), IFILL, np.int32)
            g[jj, ii] = sites.pft
            v[:] = g
            v = ds.createVariable("landarea", "f4", ("lat", "lon"), fill_value=FILL)
            v.long_name, v.units, v.missing_value = "land area, icewater set to 0.0", "km^2", FILL
            g = np.full((nlat, nlon), FILL, np.float32)
            g[jj, ii] = np.where(active, sites.landarea * 1e-6, 0.0)
            v[:] = g
            v = ds.createVariable("cellMissing", "i4", ("lat", "lon"))
            v.long_name, v.units = "Missing Data Mask", "0=no missing data, 1=missing data"
            v[:] = grid.cell_missing
            v = ds.createVariable("cellid", "i4", ("lat", "lon"))
            v.long_name, v.units = "Grid Cell ID", "1..nlat*nlon"
            v[:] = grid.cellid
            nrec = len(time)
            for name, meta in table.items():
                v = ds.createVariable(name, "f4", ("time", "lat", "lon"), fill_value=FILL)
                v.long_name = meta[0] if daily or len(meta) < 4 else meta[3]
                v.units = meta[1] if daily else meta[2]
                v.missing_value = FILL
                out = np.full((nrec, nlat, nlon), FILL, np.float32)
                out[:, jj, ii] = values[name]
                v[:] = out
