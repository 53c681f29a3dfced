"""Analysis metrics of the JAMES paper (io_workflow.md §7), as pure functions on xarray/numpy.

Inputs are Datasets from :func:`bgctestbed.analysis.load.load_run` (dims year, lat, lon; pools in
g m-2 as annual means, fluxes in g m-2 yr-1 as annual totals; `landarea` in km2) or DataArrays cut
from them. Units of global quantities are converted in ONE place, :data:`TOTAL_UNITS`.

Conventions
-----------
* Global sum = sum over cells of value x landarea (km2 -> m2) x 1e-15 (Pg C) or 1e-12 (Tg N);
  NaN cells are skipped (§7.4). `landarea` already includes the land fraction and is 0 on
  ice/water cells.
* Global mean of a ratio (MIC:SOC, C:N) = sum(value x A) / sum(A) over the masked cells, the
  paper's area-weighted mean of cell values; by default the denominator includes masked cells
  whose value is NaN, as in the notebooks (`denominator="all"`); `"valid"` excludes them.
* Window statistics: time mean over the window's years first, then the global statistic.
  A window not covered by a run gives NaN plus a note; a partly covered window uses the covered
  years and says so (:class:`Coverage`).
* Mask: the paper removes cells whose 1901-1920 mean NPP of the reference C+N MIMICS run is
  <= 10 g C m-2 yr-1 and applies that one mask to all runs (§7.3), see :func:`paper_mask`.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError

M2_PER_KM2 = 1.0e6
# per-area units -> (units of the global total, factor from grams to those units)
TOTAL_UNITS = {
    "g C m-2": ("Pg C", 1.0e-15),
    "g C m-2 yr-1": ("Pg C yr-1", 1.0e-15),
    "g C m-2 d-1": ("Pg C d-1", 1.0e-15),
    "g N m-2": ("Tg N", 1.0e-12),
    "g N m-2 yr-1": ("Tg N yr-1", 1.0e-12),
    "g N m-2 d-1": ("Tg N d-1", 1.0e-12),
}

PAPER_INITIAL = (1901, 1920)   # Table 1 window and "initial" of Table 2
PAPER_FINAL = (1995, 2014)     # "final" window of Table 2 (historical runs)
BOREAL = {"lat": (60.0, 70.0), "lon": (0.0, 100.0)}   # §7.8, cell centres, lon 0-360, inclusive
NPP_MASK_THRESHOLD = 10.0      # g C m-2 yr-1 (§7.3)

# Spin-up convergence criteria (io_workflow §6)
CONVERGENCE_COLUMNS = ["cycle", "years", "global_soil_c_PgC", "delta_PgC",
                       "frac_cells_gt_1g", "frac_cells_gt_0p1pct"]
CONVERGENCE_LIMITS = {"delta_PgC": 0.01, "frac_cells_gt_1g": 0.02, "frac_cells_gt_0p1pct": 0.02}


# ---------------------------------------------------------------------------------------------
# Areas, masks, global and zonal statistics
# ---------------------------------------------------------------------------------------------

def area_km2(ds_or_area) -> xr.DataArray:
    """Land area (km2) with NaN (cells outside the simulated set) as 0."""
    a = ds_or_area["landarea"] if isinstance(ds_or_area, xr.Dataset) else ds_or_area
    return a.fillna(0.0).astype(np.float64)


def land_mask(ds) -> xr.DataArray:
    """Simulated land cells: landarea > 0 (ice/water cells have 0, non-simulated cells NaN)."""
    a = ds["landarea"] if isinstance(ds, xr.Dataset) else ds
    return (a > 0) & np.isfinite(a)


def global_sum(da: xr.DataArray, area, mask=None, units: str | None = None) -> xr.DataArray:
    """Area-weighted global total over (lat, lon): Pg C, Pg C yr-1, Tg N or Tg N yr-1.

    `area` is the landarea DataArray (km2) or a Dataset holding it; `units` defaults to
    `da.attrs['units']` and must be a key of :data:`TOTAL_UNITS`."""
    units = units or da.attrs.get("units")
    if units not in TOTAL_UNITS:
        raise ValueError(f"no global-total conversion for units {units!r}")
    out_units, factor = TOTAL_UNITS[units]
    a = area_km2(area)
    if mask is not None:
        a = a.where(mask, 0.0)
    tot = (da.astype(np.float64) * a * M2_PER_KM2).sum(("lat", "lon"), skipna=True) * factor
    # all-NaN fields are undefined, not zero
    has = (np.isfinite(da) & (a > 0)).any(("lat", "lon"))
    return tot.where(has).assign_attrs(units=out_units, long_name=da.attrs.get("long_name", ""))


def area_mean(da: xr.DataArray, area, mask=None, denominator: str = "all") -> xr.DataArray:
    """Area-weighted mean over (lat, lon) of a cell quantity (ratios such as C:N, MIC:SOC).

    denominator "all": sum of areas of all masked cells (the notebooks' convention, a NaN cell
    lowers the mean); "valid": only cells where the value is finite. All-NaN -> NaN."""
    a = area_km2(area)
    if mask is not None:
        a = a.where(mask, 0.0)
    valid = np.isfinite(da) & (a > 0)
    num = (da.astype(np.float64) * a).sum(("lat", "lon"), skipna=True)
    if denominator == "all":
        den = a.sum(("lat", "lon"))
    elif denominator == "valid":
        den = a.where(valid, 0.0).sum(("lat", "lon"))
    else:
        raise ValueError("denominator must be 'all' or 'valid'")
    return (num / den).where(valid.any(("lat", "lon"))).assign_attrs(units=da.attrs.get("units", ""))


def zonal_mean(da: xr.DataArray, mask=None, area=None) -> xr.DataArray:
    """Mean over longitude per latitude row of the masked field (NaN skipped). Unweighted, as the
    notebooks (§7.5), unless `area` is given (then area-weighted within the row)."""
    x = da if mask is None else da.where(mask)
    if area is None:
        return x.mean("lon", skipna=True).assign_attrs(da.attrs)
    a = area_km2(area)
    if mask is not None:
        a = a.where(mask, 0.0)
    a = a.where(np.isfinite(x), 0.0)
    return ((x.fillna(0.0) * a).sum("lon") / a.sum("lon").where(a.sum("lon") > 0)).assign_attrs(da.attrs)


# ---------------------------------------------------------------------------------------------
# Windows
# ---------------------------------------------------------------------------------------------

@dataclass
class Coverage:
    requested: tuple[int, int]
    used: list[int]

    @property
    def complete(self) -> bool:
        return len(self.used) == self.requested[1] - self.requested[0] + 1

    @property
    def empty(self) -> bool:
        return not self.used

    @property
    def message(self) -> str:
        y0, y1 = self.requested
        if self.empty:
            return f"years {y0}-{y1} not covered by the run"
        if self.complete:
            return ""
        return (f"window {y0}-{y1} only partly covered: {len(self.used)} of {y1 - y0 + 1} years "
                f"({self.used[0]}-{self.used[-1]})")


def window_mean(ds, years: tuple[int, int]):
    """Time mean over the records with year in [years[0], years[1]] -> (mean or None, Coverage)."""
    y = np.asarray(ds["year"].values)
    sel = (y >= years[0]) & (y <= years[1])
    cov = Coverage(tuple(int(v) for v in years), [int(v) for v in y[sel]])
    if not sel.any():
        return None, cov
    out = ds.isel(year=np.flatnonzero(sel)).mean("year", keep_attrs=True)
    return out, cov


def available_window(ds, length: int = 20, where: str = "first") -> tuple[int, int]:
    """The first or last `length` records' year range of a run (fallback when the paper window
    is not covered)."""
    y = np.asarray(ds["year"].values)
    part = y[:length] if where == "first" else y[-length:]
    return int(part[0]), int(part[-1])


def paper_mask(runs: Sequence[xr.Dataset], years=PAPER_INITIAL, threshold=NPP_MASK_THRESHOLD,
               reference: str | None = None):
    """The paper's cell mask (§7.3): landarea > 0 and window-mean NPP > threshold in the reference
    run (default: MIMICS-CN if present, else the first C+N run, else the first run). Falls back to
    all years of that run when the window is not covered. Returns (mask, description)."""
    ref = None
    if reference is not None:
        ref = next((r for r in runs if r.attrs.get("label") == reference
                    or r.attrs.get("configuration") == reference), None)
    if ref is None:
        ref = next((r for r in runs if r.attrs.get("configuration") == "MIMICS-CN"), None) \
            or next((r for r in runs if r.attrs.get("nitrogen")), None) or runs[0]
    m, cov = window_mean(ref[["NPP"]], years)
    how = f"{years[0]}-{years[1]}"
    if m is None:
        m = ref[["NPP"]].mean("year")
        how = f"all {ref.sizes['year']} years"
    mask = land_mask(ref) & (m["NPP"] > threshold)
    desc = (f"cells with landarea > 0 and mean NPP ({how}) of {ref.attrs.get('label', 'the reference run')} "
            f"> {threshold:g} g C m-2 yr-1: {int(mask.sum())} of {int(land_mask(ref).sum())} land cells")
    return mask, desc


def same_grid(a: xr.Dataset, b: xr.Dataset) -> bool:
    return a.sizes["lat"] == b.sizes["lat"] and a.sizes["lon"] == b.sizes["lon"] and \
        np.allclose(a.lat, b.lat) and np.allclose(a.lon, b.lon)


# ---------------------------------------------------------------------------------------------
# Turnover, response ratios, N limitation
# ---------------------------------------------------------------------------------------------

def turnover_time(stock: xr.DataArray, flux: xr.DataArray, area=None, mask=None) -> dict:
    """Inferred turnover time (yr) = stock / input flux (§7.6; at steady state input = output).

    Returns {"cell": per-cell stock/flux where flux > 0 (NaN elsewhere),
             "global": global stock / global flux (ratio of sums),
             "cell_mean": area-weighted mean of the cell values (valid cells only)}.
    `stock` in g m-2, `flux` in g m-2 yr-1 (e.g. cTOT and NPP window means)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        cell = (stock / flux.where(flux > 0)).where(np.isfinite(stock))
    if mask is not None:
        cell = cell.where(mask)
    cell = cell.assign_attrs(units="yr", long_name="inferred turnover time")
    out = {"cell": cell}
    if area is not None:
        valid = np.isfinite(cell) if mask is None else (np.isfinite(cell) & mask)
        s = global_sum(stock.where(valid), area, valid, units=stock.attrs.get("units", "g C m-2"))
        f = global_sum(flux.where(valid), area, valid, units=flux.attrs.get("units", "g C m-2 yr-1"))
        out["global"] = (s / f).assign_attrs(units="yr")
        out["cell_mean"] = area_mean(cell, area, valid, denominator="valid").assign_attrs(units="yr")
    return out


def log_response_ratio(x_cn: xr.DataArray, x_c: xr.DataArray) -> xr.DataArray:
    """ln(X_CN / X_C) per cell; cells where either is <= 0 or NaN are NaN (§7.7)."""
    ok = (x_cn > 0) & (x_c > 0) & np.isfinite(x_cn) & np.isfinite(x_c)
    with np.errstate(invalid="ignore", divide="ignore"):
        rr = np.log(x_cn.where(ok) / x_c.where(ok))
    return rr.assign_attrs(units="1", long_name="ln response ratio CN / C")


def global_log_response_ratio(x_cn, x_c, area, mask=None, units: str | None = None) -> xr.DataArray:
    """ln(global X_CN / global X_C) over the cells valid in both runs (> 0, finite, in mask)."""
    ok = (x_cn > 0) & (x_c > 0) & np.isfinite(x_cn) & np.isfinite(x_c)
    if mask is not None:
        ok = ok & mask
    u = units or x_cn.attrs.get("units")
    if u in TOTAL_UNITS:
        a = global_sum(x_cn.where(ok), area, ok, units=u)
        b = global_sum(x_c.where(ok), area, ok, units=u)
    else:   # intensive quantity (e.g. turnover time): area-weighted means
        a = area_mean(x_cn.where(ok), area, ok, denominator="valid")
        b = area_mean(x_c.where(ok), area, ok, denominator="valid")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(a / b).assign_attrs(units="1")


def n_limitation(npp_c: xr.DataArray, npp_cn: xr.DataArray) -> xr.DataArray:
    """N limitation of NPP = NPP(C-only run) - NPP(C+N run) of the same soil model (§7.1).
    Positive = the N cycle lowers NPP. Units as the inputs."""
    return (npp_c - npp_cn).assign_attrs(units=npp_c.attrs.get("units", ""),
                                         long_name="N limitation of NPP (C-only minus C+N; positive = limitation)")


def pairs(runs: Sequence[xr.Dataset]) -> dict[str, tuple[xr.Dataset, xr.Dataset]]:
    """{soil model: (C-only run, C+N run)} for the soil models with both configurations."""
    out = {}
    for model in ("CASA", "MIMICS"):
        c = next((r for r in runs if r.attrs.get("soil_model") == model and not r.attrs.get("nitrogen")), None)
        cn = next((r for r in runs if r.attrs.get("soil_model") == model and r.attrs.get("nitrogen")), None)
        if c is not None and cn is not None and same_grid(c, cn):
            out[model] = (c, cn)
    return out


# ---------------------------------------------------------------------------------------------
# Boreal region (§7.8)
# ---------------------------------------------------------------------------------------------

def region_mask(ds, lat=BOREAL["lat"], lon=BOREAL["lon"]) -> xr.DataArray:
    """Simulated land cells whose centre lies in [lat0, lat1] x [lon0, lon1] (lon in 0-360,
    bounds inclusive)."""
    lo = ds["lon"] % 360.0
    box = (ds["lat"] >= lat[0]) & (ds["lat"] <= lat[1]) & (lo >= lon[0] % 360.0) & (lo <= lon[1])
    return land_mask(ds) & box


def regional_series(ds, var: str, mask) -> dict:
    """Area-weighted regional mean (per-area units) and regional total per record of `var`."""
    da = ds[var]
    mean = area_mean(da, ds, mask, denominator="valid").assign_attrs(units=da.attrs.get("units", ""))
    units = da.attrs.get("units")
    total = None
    if units in TOTAL_UNITS:
        out_units = TOTAL_UNITS[units][0]
        total = global_sum(da, ds, mask) * 1000.0   # Pg -> Tg (C), Tg -> Gg (N)
        total.attrs["units"] = out_units.replace("Pg", "Tg") if "Pg" in out_units else out_units.replace("Tg", "Gg")
    return {"mean": mean, "total": total}


def daily_climatology(daily: xr.Dataset, var: str, mask=None, years=None) -> xr.DataArray:
    """Area-weighted regional mean by day of year, averaged over `years` (all if None), of a
    daily Dataset from :func:`load.load_daily` (units per day)."""
    d = daily if years is None else daily.sel(year=[y for y in daily.year.values if y in set(years)])
    m = mask if mask is not None else land_mask(daily)
    per_year = area_mean(d[var], daily, m, denominator="valid")
    return per_year.mean("year").assign_attrs(units=d[var].attrs.get("units", ""))


# ---------------------------------------------------------------------------------------------
# Spin-up convergence log
# ---------------------------------------------------------------------------------------------

def convergence_row(cycle: int, years: int, ctot_prev, ctot, area) -> dict:
    """One row of the spin-up convergence log from the soil C (cTOT, g C m-2) at the ends of two
    successive forcing cycles, on simulated cells (landarea > 0):

    global_soil_c_PgC    global cTOT at the end of this cycle (Pg C)
    delta_PgC            global cTOT change over the cycle (this minus previous, Pg C)
    frac_cells_gt_1g     fraction (0-1) of simulated cells with |change| > 1 g C m-2
    frac_cells_gt_0p1pct fraction (0-1) of simulated cells with |change| > 0.1 % of their stock
    (io_workflow §6: converged when |delta| < 0.01 Pg C and both fractions < 0.02)."""
    from ..spinup.criteria import equilibrium_criteria

    a = np.nan_to_num(np.asarray(area, dtype=float)) * M2_PER_KM2
    cur = np.nan_to_num(np.asarray(ctot, dtype=float))
    sim = a > 0
    prev = cur if ctot_prev is None else np.nan_to_num(np.asarray(ctot_prev, dtype=float))
    c = equilibrium_criteria(prev, cur, a, sim)
    row = {"cycle": int(cycle), "years": int(years), "global_soil_c_PgC": c.global_c_PgC,
           "delta_PgC": c.delta_PgC, "frac_cells_gt_1g": c.frac_cells_gt_1g,
           "frac_cells_gt_0p1pct": c.frac_cells_gt_0p1pct}
    if ctot_prev is None:
        row.update(delta_PgC=float("nan"), frac_cells_gt_1g=float("nan"), frac_cells_gt_0p1pct=float("nan"))
    return row


def write_convergence_log(rows: Sequence[dict], path) -> Path:
    """Write rows from :func:`convergence_row` as the convergence-log CSV (header = column names,
    one row per cycle, empty field for undefined values)."""
    path = Path(path)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CONVERGENCE_COLUMNS)
        for r in rows:
            w.writerow(["" if (isinstance(r[c], float) and math.isnan(r[c])) else r[c]
                        for c in CONVERGENCE_COLUMNS])
    return path


def read_convergence_log(path) -> pd.DataFrame:
    """Read a spin-up convergence log CSV (columns :data:`CONVERGENCE_COLUMNS`, see
    :func:`convergence_row`); rows sorted by cycle."""
    path = Path(path)
    try:
        df = pd.read_csv(path, skipinitialspace=True)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(path, f"cannot read convergence log: {exc}") from None
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in CONVERGENCE_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(path, f"convergence log lacks column(s) {', '.join(missing)}; expected "
                         + ",".join(CONVERGENCE_COLUMNS), variable=missing[0])
    for c in CONVERGENCE_COLUMNS:
        bad = pd.to_numeric(df[c], errors="coerce").isna() & df[c].notna()
        if bad.any():
            i = int(np.flatnonzero(bad.values)[0])
            raise InputError(path, f"non-numeric value {df[c].iloc[i]!r}", line=i + 2, variable=c)
        df[c] = pd.to_numeric(df[c], errors="coerce")
    if df.empty:
        raise InputError(path, "convergence log has no rows")
    return df.sort_values("cycle").reset_index(drop=True)


def spinup_drift(log: pd.DataFrame, limits: dict = CONVERGENCE_LIMITS) -> pd.DataFrame:
    """Add to a convergence log: years_in_cycle, drift_PgC_per_yr (delta / years of the cycle),
    one pass/fail column per criterion and `converged` (all three criteria met)."""
    df = log.copy()
    df["years_in_cycle"] = df["years"].diff()
    if len(df):
        df.loc[df.index[0], "years_in_cycle"] = np.nan
    df["drift_PgC_per_yr"] = df["delta_PgC"] / df["years_in_cycle"]
    df["ok_delta"] = df["delta_PgC"].abs() < limits["delta_PgC"]
    df["ok_1g"] = df["frac_cells_gt_1g"] < limits["frac_cells_gt_1g"]
    df["ok_0p1pct"] = df["frac_cells_gt_0p1pct"] < limits["frac_cells_gt_0p1pct"]
    df["converged"] = df["ok_delta"] & df["ok_1g"] & df["ok_0p1pct"]
    return df


def stock_drift(ds: xr.Dataset, var: str = "cTOT", mask=None) -> pd.DataFrame:
    """Global total of a stock per record of a run and its change per year between records
    (for spin-up output read with load_run)."""
    g = global_sum(ds[var], ds, mask)
    y = np.asarray(ds["year"].values, dtype=float)
    v = np.asarray(g.values, dtype=float)
    df = pd.DataFrame({"year": y.astype(int), f"global_{var}": v})
    df["change_per_yr"] = np.concatenate([[np.nan], np.diff(v) / np.diff(y)]) if len(v) else []
    return df


# ---------------------------------------------------------------------------------------------
# Tables 1 and 2
# ---------------------------------------------------------------------------------------------

# The paper's values (io_workflow §9.1, MIMICScn_hist: MIMcn / MIMc / CAScn / CASc) by configuration;
# turnover times are derived from the printed soil C and NPP (§9.7).
PAPER_TABLE1 = {
    "GPP": {"MIMICS-CN": 106.1, "MIMICS-C": 106.1, "CASA-CN": 106.1, "CASA-C": 106.1},
    "NPP": {"MIMICS-CN": 37.3, "MIMICS-C": 42.0, "CASA-CN": 38.9, "CASA-C": 42.0},
    "HR": {"MIMICS-CN": 37.3, "MIMICS-C": 42.0, "CASA-CN": 38.9, "CASA-C": 42.0},
    "cTOT": {"MIMICS-CN": 1713, "MIMICS-C": 1582, "CASA-CN": 885, "CASA-C": 997},
    "cMIC": {"MIMICS-CN": 13.0, "MIMICS-C": 14.8},
    "relMIC": {"MIMICS-CN": 0.84, "MIMICS-C": 0.925},
    "nNetMin": {"MIMICS-CN": 853, "CASA-CN": 887},
    "cnTOT": {"MIMICS-CN": 9.4, "CASA-CN": 18.9},
    "cnMIC": {"MIMICS-CN": 6.8},
    "tau_global": {"MIMICS-CN": 45.9, "MIMICS-C": 37.7, "CASA-CN": 22.8, "CASA-C": 23.7},
}
PAPER_TABLE2 = {
    "GPP": {"MIMICS-CN": 15.5, "MIMICS-C": 15.5, "CASA-CN": 15.5, "CASA-C": 15.5},
    "NPP": {"MIMICS-CN": 5.2, "MIMICS-C": 5.6, "CASA-CN": 5.1, "CASA-C": 5.6},
    "HR": {"MIMICS-CN": 4.8, "MIMICS-C": 5.7, "CASA-CN": 4.5, "CASA-C": 4.9},
    "cTOT": {"MIMICS-CN": 1, "MIMICS-C": -24, "CASA-CN": 6, "CASA-C": 6},
    "cMIC": {"MIMICS-CN": 0.8, "MIMICS-C": 1.2},
    "relMIC": {"MIMICS-CN": 0.051, "MIMICS-C": 0.077},
    "nNetMin": {"MIMICS-CN": 108, "CASA-CN": 107},
    "cnTOT": {"MIMICS-CN": 0.0, "CASA-CN": -0.1},
    "cnMIC": {"MIMICS-CN": 0.0},
}
# Global ln response ratios CN/C and N limitation derived from the paper's tables (§9.7)
PAPER_RESPONSE = {
    "cTOT": {"MIMICS": 0.080, "CASA": -0.119},
    "NPP": {"MIMICS": -0.119, "CASA": -0.077},
    "Nlimit": {"MIMICS": 4.7, "CASA": 3.1},
}


@dataclass(frozen=True)
class Row:
    key: str          # variable or statistic key
    label: str
    var: str          # analysis variable
    stat: str         # "sum", "mean", "tau_global", "tau_cell"
    digits: int


TABLE1_ROWS = [
    Row("GPP", "GPP", "GPP", "sum", 1),
    Row("NPP", "NPP", "NPP", "sum", 1),
    Row("HR", "Heterotrophic respiration", "HR", "sum", 1),
    Row("cVEG", "Vegetation C", "cVEG", "sum", 0),
    Row("cLIT", "Litter C (metabolic + structural)", "cLIT", "sum", 1),
    Row("cCWD", "Coarse woody debris C", "cCWD", "sum", 1),
    Row("cTOT", "Soil C (litter + SOM)", "cTOT", "sum", 0),
    Row("cMIC", "Microbial C", "cMIC", "sum", 1),
    Row("relMIC", "MIC:SOC", "relMIC", "mean", 3),
    Row("nNetMin", "Net N mineralisation", "nNetMin", "sum", 0),
    Row("cnTOT", "Soil C:N", "cnTOT", "mean", 1),
    Row("cnMIC", "Microbial C:N", "cnMIC", "mean", 1),
    Row("tau_global", "Soil C turnover time, global (global soil C / global NPP)", "cTOT", "tau_global", 1),
    Row("tau_cell", "Soil C turnover time, area-weighted mean of cell soil C / NPP", "cTOT", "tau_cell", 1),
]
TABLE2_ROWS = [
    Row("GPP", "GPP", "GPP", "sum", 1),
    Row("NPP", "NPP", "NPP", "sum", 1),
    Row("HR", "Heterotrophic respiration", "HR", "sum", 1),
    Row("cTOT", "Soil C (litter + SOM)", "cTOT", "sum", 0),
    Row("cVEG", "Vegetation C", "cVEG", "sum", 0),
    Row("cMIC", "Microbial C", "cMIC", "sum", 1),
    Row("relMIC", "MIC:SOC", "relMIC", "mean", 3),
    Row("nNetMin", "Net N mineralisation", "nNetMin", "sum", 0),
    Row("cnTOT", "Soil C:N", "cnTOT", "mean", 1),
    Row("cnMIC", "Microbial C:N", "cnMIC", "mean", 1),
]
_ROW_UNITS = {"relMIC": "%", "cnTOT": "g C / g N", "cnMIC": "g C / g N", "tau_global": "yr", "tau_cell": "yr"}


@dataclass
class Table:
    """A result table: `values` (numeric DataFrame, rows = quantities, columns = runs and paper
    columns), `digits` per row for display, `notes`."""

    title: str
    values: pd.DataFrame
    digits: dict
    notes: list = field(default_factory=list)
    small: set = field(default_factory=set)   # rows shown with 3 significant digits when tiny


    def formatted(self) -> pd.DataFrame:
        out = self.values.copy().astype(object)
        for key, row in self.values.iterrows():
            d = self.digits.get(key, 2)
            for c in self.values.columns:
                v = row[c]
                if c == "units":
                    out.loc[key, c] = v
                elif v is None or (isinstance(v, float) and not np.isfinite(v)):
                    out.loc[key, c] = "–"
                else:
                    out.loc[key, c] = _fmt(float(v), d, key in self.small)
        return out

    def to_markdown(self) -> str:
        f = self.formatted()
        cols = ["Quantity"] + list(f.columns)
        lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|"]
        for key, row in f.iterrows():
            lines.append("| " + " | ".join([str(self.values.attrs.get("labels", {}).get(key, key))]
                                             + [str(v) for v in row.values]) + " |")
        return "\n".join(lines)

    def to_text(self) -> str:
        f = self.formatted()
        labels = [str(self.values.attrs.get("labels", {}).get(k, k)) for k in f.index]
        f.index = labels
        return f"{self.title}\n{f.to_string()}" + ("".join(f"\n  note: {n}" for n in self.notes))

    def to_csv(self, path) -> Path:
        df = self.values.copy()
        df.insert(0, "quantity", [self.values.attrs.get("labels", {}).get(k, k) for k in df.index])
        df.index.name = "key"
        df.to_csv(path, float_format="%.6g")
        return Path(path)


def _fmt(v: float, digits: int, small: bool = False) -> str:
    """Fixed decimals as the paper; for global totals (`small`) 3 significant digits when the
    fixed format would leave fewer than two (small grids give totals far below 1 Pg)."""
    if small and v != 0 and abs(v) < 10.0 ** (1 - digits):
        return f"{v:.3g}"
    return f"{v:.{digits}f}"


def _stat(ds_mean: xr.Dataset, row: Row, mask) -> float:
    if row.var not in ds_mean:
        return float("nan")
    if row.stat == "sum":
        return float(global_sum(ds_mean[row.var], ds_mean, mask))
    if row.stat == "mean":
        return float(area_mean(ds_mean[row.var], ds_mean, mask))
    t = turnover_time(ds_mean["cTOT"], ds_mean["NPP"], ds_mean, mask)
    return float(t["global"] if row.stat == "tau_global" else t["cell_mean"])


def _units(ds, row: Row) -> str:
    if row.key in _ROW_UNITS:
        return _ROW_UNITS[row.key]
    return TOTAL_UNITS.get(ds[row.var].attrs.get("units"), ("", 1))[0] if row.var in ds else ""


def _mask_for(run, mask):
    if mask is None:
        return land_mask(run)
    if isinstance(mask, dict):
        return mask.get(run.attrs.get("label"), land_mask(run))
    if mask.sizes.get("lat") == run.sizes["lat"] and mask.sizes.get("lon") == run.sizes["lon"]:
        return mask & land_mask(run)
    return land_mask(run)


def _column_names(runs):
    names, seen = [], {}
    for r in runs:
        lab = r.attrs.get("label") or r.attrs.get("configuration", "run")
        seen[lab] = seen.get(lab, 0) + 1
        names.append(lab if seen[lab] == 1 else f"{lab} ({seen[lab]})")
    return names


def table1(runs: Sequence[xr.Dataset], years=PAPER_INITIAL, mask=None, paper: bool = True) -> Table:
    """Table 1: window means (default 1901-1920) of global quantities per run (§7.4, §7.6); with
    `paper`, the paper's value (io_workflow §9.1/§9.7) beside each run of a known configuration."""
    cols, notes = {}, []
    names = _column_names(runs)
    units = {}
    for name, run in zip(names, runs):
        m, cov = window_mean(run, years)
        if cov.message:
            notes.append(f"{name}: {cov.message}")
        msk = _mask_for(run, mask)
        vals = {}
        for row in TABLE1_ROWS:
            vals[row.key] = float("nan") if m is None else _stat(m, row, msk)
            units.setdefault(row.key, _units(run, row))
        cols[name] = vals
        if paper and tuple(years) == PAPER_INITIAL:
            conf = run.attrs.get("configuration")
            cols[f"{name} (paper)"] = {r.key: PAPER_TABLE1.get(r.key, {}).get(conf, float("nan"))
                                       for r in TABLE1_ROWS}
    df = pd.DataFrame(cols, index=[r.key for r in TABLE1_ROWS])
    df.insert(0, "units", [units.get(r.key, "") for r in TABLE1_ROWS])
    df.attrs["labels"] = {r.key: r.label for r in TABLE1_ROWS}
    if paper and tuple(years) != PAPER_INITIAL:
        notes.append(f"paper values (means {PAPER_INITIAL[0]}-{PAPER_INITIAL[1]}) not shown: different window")
    elif paper:
        notes.append("paper values: Wieder et al. (2024) Table 1 as printed by MIMICScn_hist (io_workflow §9.1); "
                     "turnover times derived from its soil C / NPP (§9.7); '–' = not reported")
    return Table(f"Table 1. Means {years[0]}-{years[1]}", df, {r.key: r.digits for r in TABLE1_ROWS}, notes,
                 {r.key for r in TABLE1_ROWS if r.stat == "sum"})


def table2(runs: Sequence[xr.Dataset], initial=PAPER_INITIAL, final=PAPER_FINAL, mask=None,
           paper: bool = True, percent: bool = False) -> Table:
    """Table 2: change of global quantities, mean(final window) - mean(initial window) per run
    (or percent change 100*final/initial - 100 with `percent`), with the paper's changes beside."""
    cols, notes = {}, []
    names = _column_names(runs)
    units = {}
    for name, run in zip(names, runs):
        m0, c0 = window_mean(run, initial)
        m1, c1 = window_mean(run, final)
        for c in (c0, c1):
            if c.message:
                notes.append(f"{name}: {c.message}")
        if m0 is not None and m1 is not None and set(c0.used) & set(c1.used):
            notes.append(f"{name}: initial and final windows overlap")
        msk = _mask_for(run, mask)
        vals = {}
        for row in TABLE2_ROWS:
            if m0 is None or m1 is None:
                vals[row.key] = float("nan")
                continue
            a, b = _stat(m0, row, msk), _stat(m1, row, msk)
            with np.errstate(invalid="ignore", divide="ignore"):
                vals[row.key] = (100.0 * b / a - 100.0) if percent else b - a
            units.setdefault(row.key, "%" if percent else _units(run, row))
        cols[name] = vals
        if paper and not percent and (tuple(initial), tuple(final)) == (PAPER_INITIAL, PAPER_FINAL):
            conf = run.attrs.get("configuration")
            cols[f"{name} (paper)"] = {r.key: PAPER_TABLE2.get(r.key, {}).get(conf, float("nan"))
                                       for r in TABLE2_ROWS}
    df = pd.DataFrame(cols, index=[r.key for r in TABLE2_ROWS])
    df.insert(0, "units", [units.get(r.key, "%" if percent else "") for r in TABLE2_ROWS])
    df.attrs["labels"] = {r.key: r.label for r in TABLE2_ROWS}
    what = "Percent change" if percent else "Change"
    if paper and not percent and (tuple(initial), tuple(final)) != (PAPER_INITIAL, PAPER_FINAL):
        notes.append("paper values (1995-2014 minus 1901-1920) not shown: different windows")
    elif paper and not percent:
        notes.append("paper values: Wieder et al. (2024) Table 2 (1995-2014 minus 1901-1920) as printed by "
                     "MIMICScn_hist (io_workflow §9.1); '–' = not reported")
    digits = {r.key: (1 if percent else r.digits) for r in TABLE2_ROWS}
    return Table(f"Table 2. {what}, mean {final[0]}-{final[1]} minus mean {initial[0]}-{initial[1]}",
                 df, digits, notes, set() if percent else {r.key for r in TABLE2_ROWS if r.stat == "sum"})


def response_table(runs: Sequence[xr.Dataset], years=PAPER_INITIAL, mask=None, paper: bool = True,
                   variables=("cTOT", "NPP", "HR", "cVEG", "GPP")) -> Table:
    """Global ln response ratios CN vs C per soil model for window means, the global N limitation
    of NPP (C-only minus C+N, Pg C yr-1) and the turnover-time response ratio."""
    cols, notes = {}, []
    keys = [f"lnRR_{v}" for v in variables] + ["lnRR_tau", "Nlimit", "relNlimit"]
    labels = {f"lnRR_{v}": f"ln({v} CN / {v} C)" for v in variables}
    labels.update({"lnRR_tau": "ln(turnover CN / turnover C), global soil C / NPP",
                   "Nlimit": "N limitation of NPP (C-only minus C+N)", "relNlimit": "NPP C+N / NPP C-only"})
    units = {k: "1" for k in keys}
    units["Nlimit"] = "Pg C yr-1"
    for model, (c, cn) in pairs(runs).items():
        mc, cc = window_mean(c, years)
        mn, ccn = window_mean(cn, years)
        for cov, r in ((cc, c), (ccn, cn)):
            if cov.message:
                notes.append(f"{r.attrs.get('label')}: {cov.message}")
        vals = {k: float("nan") for k in keys}
        if mc is not None and mn is not None:
            msk = _mask_for(cn, mask) & land_mask(c)
            for v in variables:
                vals[f"lnRR_{v}"] = float(global_log_response_ratio(mn[v], mc[v], mn, msk))
            tc = turnover_time(mc["cTOT"], mc["NPP"], mc, msk)["global"]
            tn = turnover_time(mn["cTOT"], mn["NPP"], mn, msk)["global"]
            vals["lnRR_tau"] = float(np.log(tn / tc))
            npp_c, npp_cn = float(global_sum(mc.NPP, mc, msk)), float(global_sum(mn.NPP, mn, msk))
            vals["Nlimit"] = npp_c - npp_cn
            vals["relNlimit"] = npp_cn / npp_c
        cols[model] = vals
        if paper and tuple(years) == PAPER_INITIAL:
            cols[f"{model} (paper)"] = {k: PAPER_RESPONSE.get(k.replace("lnRR_", ""), {}).get(model, float("nan"))
                                        for k in keys}
    if not cols:
        notes.append("no pair of C-only and C+N runs of the same soil model on the same grid")
    df = pd.DataFrame(cols, index=keys)
    df.insert(0, "units", [units[k] for k in keys])
    df.attrs["labels"] = labels
    if paper and cols and tuple(years) != PAPER_INITIAL:
        notes.append("paper values (1901-1920) not shown: different window")
    elif paper and cols:
        notes.append("paper values derived from the paper's Table 1 (io_workflow §9.7)")
    return Table(f"Response to the N cycle, means {years[0]}-{years[1]}", df,
                 {k: (1 if k == "Nlimit" else 3) for k in keys}, notes, {"Nlimit"})
