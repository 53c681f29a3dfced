"""Small constructed inputs for the analysis tests: Datasets in `load_run` form and
reference-format NetCDF files with known values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from bgctestbed.analysis.load import LAYOUTS, _terms, add_derived

R_EARTH_KM = 6371.0


def cell_area_km2(lat, lon):
    lat = np.asarray(lat, float)
    dlat = np.deg2rad(abs(lat[1] - lat[0])) if lat.size > 1 else np.deg2rad(1.0)
    dlon = np.deg2rad(abs(lon[1] - lon[0])) if len(lon) > 1 else np.deg2rad(1.0)
    a = R_EARTH_KM ** 2 * dlat * dlon * np.cos(np.deg2rad(lat))
    return np.repeat(np.clip(a, 0, None)[:, None], len(lon), axis=1)


def crude_land(lat, lon):
    """A cartoon of the continents (boolean lat x lon) and an ice mask, for figure checks."""
    la, lo = np.meshgrid(lat, ((np.asarray(lon) + 180) % 360) - 180, indexing="ij")

    def ell(c_lat, c_lon, r_lat, r_lon):
        return ((la - c_lat) / r_lat) ** 2 + ((lo - c_lon) / r_lon) ** 2 <= 1

    land = (ell(48, -100, 22, 40) | ell(62, -110, 12, 50) | ell(-12, -60, 25, 17) | ell(5, -70, 10, 10)
            | ell(52, 60, 20, 75) | ell(62, 100, 12, 70) | ell(30, 80, 15, 35) | ell(8, 18, 25, 22)
            | ell(-15, 25, 18, 14) | ell(-25, 134, 10, 16) | ell(72, -40, 10, 18) | (la < -66))
    ice = land & ((la < -66) | ell(72, -40, 10, 18))
    return land, ice


def make_run(soil_model="MIMICS", nitrogen=True, lat=None, lon=None, years=range(1901, 2015),
             land=None, ice=None, label=None, seed=0) -> xr.Dataset:
    """A run in `load_run` form with smooth, plausible patterns (not model output)."""
    lat = np.linspace(-89, 89, 90) if lat is None else np.asarray(lat, float)
    lon = np.arange(0, 360, 2.0) if lon is None else np.asarray(lon, float)
    years = np.asarray(list(years), int)
    if land is None:
        land, ice = crude_land(lat, lon)
    ice = np.zeros_like(land) if ice is None else ice
    rng = np.random.default_rng(seed)
    la = lat[:, None] * np.ones((1, lon.size))
    noise = 1 + 0.15 * rng.standard_normal(la.shape)
    trend = 1 + 0.0013 * (years - years[0])[:, None, None]
    gpp = (2600 * np.exp(-(la / 30) ** 2) + 350 * np.exp(-((la - 50) / 15) ** 2)) * noise
    gpp = trend * gpp[None]
    n_fac = 0.9 + 0.05 * np.tanh((la - 40) / 10) if nitrogen else 1.0
    npp = 0.4 * gpp * n_fac
    tau = (12 + 60 / (1 + np.exp(-(np.abs(la) - 45) / 6))) * (1.8 if soil_model == "MIMICS" else 1.0)
    tau = tau * (1.05 if (nitrogen and soil_model == "MIMICS") else 0.92 if nitrogen else 1.0)
    ctot = npp[0:1] * tau * (1 + 0.0002 * (years - years[0])[:, None, None])
    hr = npp * 0.97
    d = {
        "GPP": gpp, "NPP": npp, "HR": hr,
        "cLitIn": npp * 0.8, "nLitIn": npp * 0.8 / 45,
        "nNetMin": npp / 45, "nUptake": npp / 45, "nLeach": npp * 0.001, "nLoss": npp * 0.0005,
        "nDep": 0.5 + 0 * npp, "nFix": 1.0 + 0 * npp,
        "cLEAF": npp * 0.3, "cWOOD": npp * 8 * (np.abs(la) < 60), "cFROOT": npp * 0.4, "cCWD": npp * 0.5,
        "cLIT": ctot * 0.08, "cSOM": ctot * 0.92,
        "cMIC": ctot * (0.009 + 0.004 * np.exp(-(la / 25) ** 2)) if soil_model == "MIMICS" else np.nan * ctot,
        "cSLOWEST": ctot * 0.5,
        "nVEG": npp * 0.02, "nLIT": ctot * 0.08 / 30, "nSOM": ctot * 0.92 / (11 if soil_model == "MIMICS" else 15),
        "nMIC": ctot * 0.011 / 7 if soil_model == "MIMICS" else np.nan * ctot,
        "nMineral": 1 + 0 * npp,
        "tairC": 30 - 0.5 * np.abs(la) + 0 * npp, "tsoilC": 29 - 0.5 * np.abs(la) + 0 * npp,
        "thetaLiq": 0.5 + 0 * npp,
    }
    spec = LAYOUTS["reference"].variables
    out = {}
    for k, v in d.items():
        v = np.broadcast_to(v, (years.size, lat.size, lon.size)).astype(np.float64).copy()
        if spec[k].nitrogen and not nitrogen:
            v[:] = np.nan
        v[:, ~land] = np.nan
        v[:, ice] = 0.0
        out[k] = xr.DataArray(v.astype(np.float32), dims=("year", "lat", "lon"),
                              attrs={"units": spec[k].units, "long_name": spec[k].long_name, "kind": spec[k].kind})
    area = np.where(land, cell_area_km2(lat, lon), np.nan)
    area[ice] = 0.0
    ds = xr.Dataset(out, coords={"year": years, "lat": lat, "lon": lon})
    ds["landarea"] = xr.DataArray(area, dims=("lat", "lon"), attrs={"units": "km2"})
    ds = add_derived(ds)
    conf = f"{soil_model}-{'CN' if nitrogen else 'C'}"
    ds.attrs.update(label=label or conf, soil_model=soil_model, nitrogen=int(nitrogen), configuration=conf,
                    source="synthetic", layout="reference", notes="")
    return ds


def four_runs(**kw):
    return [make_run(m, n, seed=i, **kw) for i, (m, n) in
            enumerate((("MIMICS", True), ("MIMICS", False), ("CASA", True), ("CASA", False)))]


# ----------------------------------------------------------------------------------------------
# Reference-format NetCDF files with known values
# ----------------------------------------------------------------------------------------------

def _source_vars(soil_model):
    per_kind = {"casa": set(), "mimics": set()}
    for spec in LAYOUTS["reference"].variables.values():
        for sm, expr in spec.sources.items():
            if sm in ("*", soil_model):
                for kind, var in _terms(expr):
                    per_kind[kind].add((var, spec.kind))
    return per_kind


def write_reference_files(out_dir, soil_model="CASA", *, years=(1901,), daily=True, values=None,
                          lat=(65.25, 45.25), lon=(0.0, 10.0), landarea=None, nitrogen=True):
    """Write casaclm (and for MIMICS mimics) files for `years`. `values(var, kind, year, day)` gives
    the field (scalar or lat x lon) of a variable on a day (daily files, day 1..365) or for the
    year (annual files, day None; fluxes then annual totals). Default: 1.0 for everything, and
    nNetMineralization 0 when not `nitrogen`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    shape = (lat.size, lon.size)
    area = np.full(shape, 1000.0) if landarea is None else np.asarray(landarea, float)
    if values is None:
        def values(var, kind, year, day):
            if var.startswith("n") and var not in ("nMinDep", "nMinFix") and not nitrogen:
                return 0.0
            return 1.0
    kinds = ["casa"] + (["mimics"] if soil_model == "MIMICS" else [])
    srcs = _source_vars(soil_model)
    srcs["casa"].update({("nNetMineralization", "flux"), ("nMinUptake", "flux")})
    paths = []
    for kind in kinds:
        prefix = "casaclm_pool_flux" if kind == "casa" else "mimics_pool_flux"
        for y in years:
            days = np.arange(1, 366) if daily else [None]
            data = {}
            for var, vk in sorted(srcs[kind]):
                arr = np.stack([np.broadcast_to(np.asarray(values(var, vk, y, dd), float), shape) for dd in days])
                unit = ("gC m-2 day-1" if daily else "gC m-2 year-1") if vk == "flux" else "gC m-2"
                data[var] = xr.DataArray(arr.astype(np.float32), dims=("time", "lat", "lon"), attrs={"units": unit})
            t = (y + np.arange(1, 366) / 365.0) if daily else np.array([float(y)])
            ds = xr.Dataset(data, coords={"time": t.astype(np.float32), "lat": lat.astype(np.float32),
                                          "lon": lon.astype(np.float32)})
            if daily:
                ds["day"] = xr.DataArray(np.arange(1, 366, dtype=np.int32), dims=("time",))
            ds["landarea"] = xr.DataArray(area.astype(np.float32), dims=("lat", "lon"), attrs={"units": "km^2"})
            ds["IGBP_PFT"] = xr.DataArray(np.ones(shape), dims=("lat", "lon"))
            name = f"{prefix}_{y:04d}{'_daily' if daily else ''}.nc"
            enc = {v: {"_FillValue": np.float32(1e36)} for v in ds.data_vars if ds[v].dtype.kind == "f"}
            ds.to_netcdf(out_dir / name, encoding=enc)
            paths.append(out_dir / name)
    return paths
