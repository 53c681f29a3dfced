"""Reference-format met files from CLM daily history files (`bgctestbed convert-clm`).

Follows the reference NetCDFTools (io_workflow.md sections 3.4-3.6):

- GPP (gC m-2 d-1) = FPSN (umol CO2 m-2 s-1) * 12e-6 * 86400; xtairk = daily TBOT (K).
- Layer thickness from node depths z: interface(k) = z(k) + (z(k+1) - z(k))/2, interface(0) = 0,
  dz(k) = interface(k) - interface(k-1).
- liquid water (m3 m-3) = SOILLIQ (kg m-2) * 0.001 / dz; frozen = max(H2OSOI - liquid, 0);
  soil temperature = TSOI (K).
- Each of the 6 CASA layers is the dz-weighted mean of a block of CLM layers: CLM5 preset
  1 | 2-3 | 4-5 | 6-7 | 8-11 | 12-16, CLM4.5 preset 1 | 2-3 | 4-5 | 6-7 | 8-9 | 10 (chosen
  automatically: CLM5 when the history file has 20 `levsoi` levels).
- N deposition: NDEP_year of the calendar year from an annual N-deposition file (year index
  clamped to the file's range) / 365; without such a file, the history's NDEP_TO_SMINN
  (gN m-2 s-1) daily values * 86400.
- cellMissing = 1 where on any day GPP or TBOT is missing, N deposition is missing, or TSOI,
  SOILLIQ or H2OSOI is missing in any soil layer; such cells get 1e36 in all variables but
  xcgpp, which keeps its computed values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..sites import NSOIL
from .export import FILL, met_filename, write_met_grid

PRESETS = {
    "clm5": [(1, 1), (2, 3), (4, 5), (6, 7), (8, 11), (12, 16)],
    "clm45": [(1, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 10)],
}
GPP_FACTOR = 12.0e-6 * 86400.0


def layer_thickness(z: np.ndarray) -> np.ndarray:
    """dz from node depths as the reference tool computes it (not CLM's exact dz)."""
    z = np.asarray(z, dtype=float)
    znext = np.r_[z[1:], z[-1] + (z[-1] - z[-2])]
    interface = z + (znext - z) / 2.0
    return np.diff(np.r_[0.0, interface])


def aggregate(values: np.ndarray, dz: np.ndarray, blocks) -> np.ndarray:
    """(time, nlev, lat, lon) -> (time, 6, lat, lon) dz-weighted block means."""
    out = np.empty((values.shape[0], len(blocks)) + values.shape[2:], dtype=np.float64)
    for j, (a, b) in enumerate(blocks):
        w = dz[a - 1:b]
        out[:, j] = np.tensordot(values[:, a - 1:b], w / w.sum(), axes=([1], [0]))
    return out


def _var(ds, name, path):
    if name not in ds:
        raise InputError(path, "variable missing from CLM history file", variable=name)
    return ds[name]


def _year_of_records(ds, path) -> np.ndarray:
    """Calendar year of each daily record (CLM stamps daily means at the end of the day)."""
    import cftime  # noqa: PLC0415

    for b in ("time_bounds", "time_bnds"):
        if b in ds:
            start = ds[b].values[:, 0]
            return np.array([t.year for t in start])
    t = ds["time"]
    units = t.attrs.get("units") or t.encoding.get("units")
    cal = t.attrs.get("calendar") or t.encoding.get("calendar", "noleap")
    if units is None:
        raise InputError(path, "time has no units", variable="time")
    raw = np.asarray(t.values, dtype=float) - 0.5
    return np.array([d.year for d in cftime.num2date(raw, units, cal)])


def _ndep_from_file(path: Path, year: int, shape) -> np.ndarray:
    import xarray as xr  # noqa: PLC0415

    with xr.open_dataset(path, decode_times=False) as nd:
        data = _var(nd, "NDEP_year", path).values
        years = _var(nd, "YEAR", path).values.astype(int) if "YEAR" in nd else None
        if years is None:
            raise InputError(path, "variable missing from N deposition file", variable="YEAR")
        i = int(np.clip(year - years[0], 0, len(years) - 1))
        v = np.asarray(data[i], dtype=np.float64)
    if v.shape != shape:
        raise InputError(path, f"grid {v.shape} differs from the history grid {shape}",
                         variable="NDEP_year")
    return v


def convert_year(ds, path, year: int, idx: np.ndarray, preset: str | None, ndep_file=None):
    """Met fields of one year (365 records `idx` of history dataset `ds`)."""
    nlevsoi = ds.sizes.get("levsoi", ds.sizes.get("levgrnd"))
    if preset is None:
        preset = "clm5" if ds.sizes.get("levsoi") == 20 else "clm45"
    blocks = PRESETS[preset]
    z = _var(ds, "levgrnd", path).values
    if len(z) < blocks[-1][1]:
        raise InputError(path, f"{len(z)} ground levels, the {preset} preset needs "
                         f"{blocks[-1][1]}", variable="levgrnd")
    dz = layer_thickness(z)

    def get(name):
        v = _var(ds, name, path).isel(time=idx)
        return np.asarray(v.values, dtype=np.float64)

    fpsn, tbot = get("FPSN"), get("TBOT")
    tsoi, h2o, liqk = get("TSOI"), get("H2OSOI"), get("SOILLIQ")
    nlat, nlon = tbot.shape[1:]
    gpp = np.where(np.isfinite(fpsn), fpsn * GPP_FACTOR, FILL)
    liq = liqk[:, :nlevsoi] * 0.001 / dz[:nlevsoi, None, None]
    frz = np.maximum(h2o[:, :nlevsoi] - liq, 0.0)
    # missing cells
    bad = ~np.isfinite(fpsn).all(0) | ~np.isfinite(tbot).all(0)
    for a in (tsoi[:, :nlevsoi], h2o[:, :nlevsoi], liqk[:, :nlevsoi]):
        bad |= ~np.isfinite(a).all(axis=(0, 1))
    if ndep_file is not None:
        nd = np.broadcast_to(_ndep_from_file(Path(ndep_file), year, (nlat, nlon)) / 365.0,
                             (365, nlat, nlon))
    elif "NDEP_TO_SMINN" in ds:
        nd = get("NDEP_TO_SMINN") * 86400.0
    else:
        raise InputError(path, "no N deposition: give an annual N-deposition file (--ndep) "
                         "or include NDEP_TO_SMINN in the history", variable="NDEP_TO_SMINN")
    bad |= ~np.isfinite(nd).all(0)
    fields = {
        "xtairk": tbot,
        "ndep": np.array(nd, dtype=np.float64),
        "xcgpp": gpp,
        "xtsoil": aggregate(np.nan_to_num(tsoi), dz, blocks),
        "xmoist": aggregate(np.nan_to_num(liq), dz[:nlevsoi], blocks),
        "xfrznmoist": aggregate(np.nan_to_num(frz), dz[:nlevsoi], blocks),
    }
    for k, v in fields.items():
        if k != "xcgpp":
            v[..., bad] = FILL
    return fields, bad.astype(np.int32), preset


def convert_clm(histories, outdir, ndep_file=None, preset: str | None = None,
                netcdf3: bool = False, log=print) -> list[Path]:
    """Convert CLM daily history files (each holding whole 365-day years) to met files."""
    import xarray as xr  # noqa: PLC0415

    if preset is not None and preset not in PRESETS:
        raise InputError(None, f"unknown layer preset '{preset}' (use {', '.join(PRESETS)})")
    written = []
    for h in histories:
        path = Path(h)
        try:
            ds = xr.open_dataset(path, decode_times=False)
        except FileNotFoundError:
            raise InputError(path, "CLM history file not found") from None
        except Exception as exc:  # noqa: BLE001
            raise InputError(path, f"cannot open CLM history file: {exc}") from None
        with ds:
            years = _year_of_records(ds, path)
            lon = _var(ds, "lon", path).values
            lat = _var(ds, "lat", path).values
            landfrac = ds["landfrac"].values if "landfrac" in ds else np.ones((len(lat),
                                                                               len(lon)))
            for y in np.unique(years):
                idx = np.flatnonzero(years == y)
                if idx.size != 365:
                    raise InputError(path, f"year {y} has {idx.size} daily records, need 365 "
                                     "(noleap calendar, whole years)", variable="time")
                fields, missing, used = convert_year(ds, path, int(y), idx, preset, ndep_file)
                out = Path(outdir) / met_filename(int(y))
                lf = np.where(np.isfinite(landfrac), landfrac, FILL)
                write_met_grid(out, lon, lat, [int(y)], lf, missing, fields, netcdf3=netcdf3,
                               source="CLM Model (converted by bgctestbed convert-clm, "
                                      f"{used} layer preset)")
                written.append(out)
                if log:
                    log(f"wrote {out} ({int((missing == 0).sum())} complete cells, "
                        f"{used} layers)")
    return written
