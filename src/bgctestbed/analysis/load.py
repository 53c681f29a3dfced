"""Load model output of one run into an analysis Dataset with one record per calendar year.

Semantics (the paper's `ann_*` files, io_workflow.md §5.5 and §7, made explicit)
-------------------------------------------------------------------------------
* **Pools and states** (g C m-2, g N m-2, degrees C, fractions) are *annual means* of the
  end-of-day states. An annual reference file already holds that mean; daily files are averaged
  over the records of the year.
* **Fluxes** are converted ONCE, here, to *annual totals in g m-2 yr-1*, whatever the source:
  - daily files (`*_YYYY_daily.nc`, units "... day-1"): mean of the daily records x 365
    (identical to the sum of the 365 daily values of a complete year);
  - `ann_*` files made by NCO `ncra` or by :func:`daily_to_annual` (one record per year, the mean
    daily rate; the units attribute still says "day-1"): value x 365;
  - annual reference files (`*_YYYY.nc`, units "... yr-1" / "year-1"): taken as they are.
  The rule is driven by the units attribute of each flux variable, so every analysis downstream
  works in g m-2 yr-1 and never multiplies by 365 again.
* The record's year: daily files carry `time = year + day/365` and `day`, so year = time - day/365
  (day 365 has time = year + 1); ncra means give year + 183/365; annual files carry the year
  (calendar year of transient runs, or the simulation-year count of spin-ups).
* CASA and MIMICS files of the same run are merged by year. Static `landarea` (km2, 0 on ice/water
  cells) and `IGBP_PFT` come from the MIMICS file in MIMICS runs (as `combine_by_coords(...,
  compat='override')` in the reference notebooks), else from the CASA file.
* Heterotrophic respiration `HR` is the CASA `cresp` in CASA runs and the MIMICS `cHresp` in MIMICS
  runs (the CASA-file `cresp` is not maintained under MIMICS).
* Nitrogen variables are NaN in C-only runs (the reference writes meaningless zeros or frozen
  cold-start values there; `utils.sum_pools_combined` multiplies them by NaN as well).

All variable names of the input layouts live in the single table :data:`LAYOUTS`: the reference
testbed files ("reference") and the project's own CF-1.8 output ("cf", :mod:`bgctestbed.io.cfout`:
`<phase>_annual.nc` / `<phase>_daily.nc`, one file per run phase holding every variable, time in
days since 1850-01-01 on the noleap calendar, `landarea` in m2, soil model and C-only/C+N in the
global attributes `soil_model` and `nitrogen`). :func:`load_run` finds the layout of a run
directory by its file names. Derived variables (:data:`DERIVED`) are defined on the
layout-independent analysis names.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import xarray as xr

from ..errors import InputError

log = logging.getLogger(__name__)

DAYS_PER_YEAR = 365          # noleap calendar of the testbed
FILL = 1.0e36                # fill value of reference NetCDF output

CASA, MIMICS = "CASA", "MIMICS"


# ---------------------------------------------------------------------------------------------
# The name-mapping table
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VarSpec:
    """One analysis variable read from model output.

    `kind`: "pool" (annual mean state), "flux" (annual total after conversion) or "state"
    (annual mean of a non-additive quantity such as temperature).
    `sources[soil_model]` (soil model "CASA", "MIMICS" or "*" for both) is an expression
    "file:var + file:var ..." where `file` is a key of `Layout.files`. A soil model absent from
    `sources` gives an all-NaN field (for example microbial C in CASA runs).
    `nitrogen`: meaningful only in C+N runs (set to NaN in C-only runs).
    """

    units: str
    long_name: str
    kind: str
    sources: dict
    nitrogen: bool = False


@dataclass(frozen=True)
class Layout:
    """A family of output files: file-name patterns (glob) per file kind and the variable table.

    `primary`: the file kind every run has (its presence identifies the layout).
    `static_kind[soil model]`: the file kind the static fields are read from.
    `static_factors`: factor from the file's units of a static field to the analysis units
    (landarea: km2). `config`: reads (soil model, C+N) from the files, or None when the layout
    does not record them (then the .lst file or the detection rules decide).
    """

    files: dict                       # file kind -> list of glob patterns
    variables: dict                   # analysis name -> VarSpec
    statics: dict = field(default_factory=dict)   # analysis name -> source variable name
    primary: str = "casa"
    static_kind: dict = field(default_factory=lambda: {CASA: "casa", MIMICS: "mimics"})
    static_factors: dict = field(default_factory=dict)
    config: Callable | None = None


_C, _N = "g C m-2", "g N m-2"
_CF, _NF = "g C m-2 yr-1", "g N m-2 yr-1"

REFERENCE_VARIABLES = {
    # fluxes
    "GPP": VarSpec(_CF, "gross primary production", "flux", {"*": "casa:cgpp"}),
    "NPP": VarSpec(_CF, "net primary production", "flux", {"*": "casa:cnpp"}),
    "HR": VarSpec(_CF, "heterotrophic respiration", "flux",
                  {CASA: "casa:cresp", MIMICS: "mimics:cHresp"}),
    "cLitIn": VarSpec(_CF, "litterfall C input (metabolic + structural)", "flux",
                      {CASA: "casa:cLitInptMet + casa:cLitInptStruc",
                       MIMICS: "mimics:cLitInput_metb + mimics:cLitInput_struc"}),
    "nLitIn": VarSpec(_NF, "litterfall N input (metabolic + structural)", "flux",
                      {CASA: "casa:nLitInptMet + casa:nLitInptStruc",
                       MIMICS: "mimics:nLitInput_metb + mimics:nLitInput_struc"}, nitrogen=True),
    "nNetMin": VarSpec(_NF, "net N mineralisation", "flux", {"*": "casa:nNetMineralization"},
                       nitrogen=True),
    "nUptake": VarSpec(_NF, "plant mineral N uptake", "flux", {"*": "casa:nMinUptake"}, nitrogen=True),
    "nLeach": VarSpec(_NF, "mineral N leaching", "flux", {"*": "casa:nMinLeach"}, nitrogen=True),
    "nLoss": VarSpec(_NF, "gaseous mineral N loss", "flux", {"*": "casa:nMinLoss"}, nitrogen=True),
    "nDep": VarSpec(_NF, "N deposition", "flux", {"*": "casa:nMinDep"}, nitrogen=True),
    "nFix": VarSpec(_NF, "N fixation", "flux", {"*": "casa:nMinFix"}, nitrogen=True),
    # carbon pools
    "cLEAF": VarSpec(_C, "leaf C", "pool", {"*": "casa:cleaf"}),
    "cWOOD": VarSpec(_C, "wood C", "pool", {"*": "casa:cwood"}),
    "cFROOT": VarSpec(_C, "fine-root C", "pool", {"*": "casa:cfroot"}),
    "cCWD": VarSpec(_C, "coarse woody debris C", "pool", {"*": "casa:clitcwd"}),
    "cLIT": VarSpec(_C, "litter C (metabolic + structural, no CWD)", "pool",
                    {CASA: "casa:clitmetb + casa:clitstr", MIMICS: "mimics:cLITm + mimics:cLITs"}),
    "cSOM": VarSpec(_C, "soil organic matter C (incl. microbial pools)", "pool",
                    {CASA: "casa:csoilmic + casa:csoilslow + casa:csoilpass",
                     MIMICS: "mimics:cMICr + mimics:cMICk + mimics:cSOMa + mimics:cSOMc + mimics:cSOMp"}),
    "cMIC": VarSpec(_C, "microbial biomass C (MICr + MICk)", "pool",
                    {MIMICS: "mimics:cMICr + mimics:cMICk"}),
    "cSLOWEST": VarSpec(_C, "slowest soil pool C (CASA passive, MIMICS SOMp)", "pool",
                        {CASA: "casa:csoilpass", MIMICS: "mimics:cSOMp"}),
    # nitrogen pools
    "nVEG": VarSpec(_N, "vegetation N", "pool", {"*": "casa:nleaf + casa:nwood + casa:nfroot"},
                    nitrogen=True),
    "nLIT": VarSpec(_N, "litter N (metabolic + structural)", "pool",
                    {CASA: "casa:nlitmetb + casa:nlitstr", MIMICS: "mimics:nLITm + mimics:nLITs"},
                    nitrogen=True),
    "nSOM": VarSpec(_N, "soil organic matter N", "pool",
                    {CASA: "casa:nsoilmic + casa:nsoilslow + casa:nsoilpass",
                     MIMICS: "mimics:nMICr + mimics:nMICk + mimics:nSOMa + mimics:nSOMc + mimics:nSOMp"},
                    nitrogen=True),
    "nMIC": VarSpec(_N, "microbial biomass N", "pool", {MIMICS: "mimics:nMICr + mimics:nMICk"},
                    nitrogen=True),
    "nMineral": VarSpec(_N, "mineral soil N", "pool", {"*": "casa:nMineral"}, nitrogen=True),
    # environment
    "tairC": VarSpec("degC", "air temperature", "state", {"*": "casa:tairC"}),
    "tsoilC": VarSpec("degC", "root-weighted soil temperature", "state", {"*": "casa:tsoilC"}),
    "thetaLiq": VarSpec("1", "fraction of liquid soil water saturation", "state",
                        {CASA: "casa:thetaLiq", MIMICS: "mimics:thetaLiq"}),
}

# The project's CF output (bgctestbed.io.cfout): one file kind "cf" holding every variable.
CF_VARIABLES = {
    "GPP": VarSpec(_CF, "gross primary production", "flux", {"*": "cf:gpp"}),
    "NPP": VarSpec(_CF, "net primary production", "flux", {"*": "cf:npp"}),
    "HR": VarSpec(_CF, "heterotrophic respiration", "flux", {"*": "cf:rh"}),
    "cLitIn": VarSpec(_CF, "litterfall C input (metabolic + structural)", "flux",
                      {"*": "cf:cLitInputMet + cf:cLitInputStr"}),
    "nLitIn": VarSpec(_NF, "litterfall N input (metabolic + structural)", "flux",
                      {"*": "cf:nLitInputMet + cf:nLitInputStr"}, nitrogen=True),
    "nNetMin": VarSpec(_NF, "net N mineralisation", "flux", {"*": "cf:fNnetmin"}, nitrogen=True),
    "nUptake": VarSpec(_NF, "plant mineral N uptake", "flux", {"*": "cf:fNup"}, nitrogen=True),
    "nLeach": VarSpec(_NF, "mineral N leaching", "flux", {"*": "cf:fNleach"}, nitrogen=True),
    "nLoss": VarSpec(_NF, "gaseous mineral N loss", "flux", {"*": "cf:fNgas"}, nitrogen=True),
    "nDep": VarSpec(_NF, "N deposition", "flux", {"*": "cf:fNdep"}, nitrogen=True),
    "nFix": VarSpec(_NF, "N fixation", "flux", {"*": "cf:fBNF"}, nitrogen=True),
    "cLEAF": VarSpec(_C, "leaf C", "pool", {"*": "cf:cLeaf"}),
    "cWOOD": VarSpec(_C, "wood C", "pool", {"*": "cf:cWood"}),
    "cFROOT": VarSpec(_C, "fine-root C", "pool", {"*": "cf:cRoot"}),
    "cCWD": VarSpec(_C, "coarse woody debris C", "pool", {"*": "cf:cLitterCwd"}),
    "cLIT": VarSpec(_C, "litter C (metabolic + structural, no CWD)", "pool",
                    {CASA: "cf:cLitMet + cf:cLitStr", MIMICS: "cf:cLITm + cf:cLITs"}),
    "cSOM": VarSpec(_C, "soil organic matter C (incl. microbial pools)", "pool", {"*": "cf:cSoil"}),
    "cMIC": VarSpec(_C, "microbial biomass C (MICr + MICk)", "pool", {MIMICS: "cf:cMIC"}),
    "cSLOWEST": VarSpec(_C, "slowest soil pool C (CASA passive, MIMICS SOMp)", "pool",
                        {CASA: "cf:cSOMpass", MIMICS: "cf:cSOMp"}),
    "nVEG": VarSpec(_N, "vegetation N", "pool", {"*": "cf:nVeg"}, nitrogen=True),
    "nLIT": VarSpec(_N, "litter N (metabolic + structural)", "pool",
                    {CASA: "cf:nLitMet + cf:nLitStr", MIMICS: "cf:nLITm + cf:nLITs"}, nitrogen=True),
    "nSOM": VarSpec(_N, "soil organic matter N", "pool", {"*": "cf:nSoil"}, nitrogen=True),
    "nMIC": VarSpec(_N, "microbial biomass N", "pool", {MIMICS: "cf:nMIC"}, nitrogen=True),
    "nMineral": VarSpec(_N, "mineral soil N", "pool", {"*": "cf:nMineral"}, nitrogen=True),
    "tairC": VarSpec("degC", "air temperature", "state", {"*": "cf:tas"}),
    "tsoilC": VarSpec("degC", "root-weighted soil temperature", "state", {"*": "cf:tsoil"}),
    "thetaLiq": VarSpec("1", "fraction of liquid soil water saturation", "state", {"*": "cf:thetaLiq"}),
}


def _cf_config(files: dict[str, list[Path]]) -> tuple[str | None, bool | None]:
    """Soil model and C+N from the global attributes of the first CF file."""
    for p in files.get("cf", [])[:1]:
        ds = _open(p)
        try:
            sm = str(ds.attrs.get("soil_model", "")).upper() or None
            n = ds.attrs.get("nitrogen")
        finally:
            ds.close()
        return sm, (None if n is None else bool(int(n)))
    return None, None


LAYOUTS: dict[str, Layout] = {
    # Reference testbed NetCDF (io_workflow.md §5.4), annual, daily or ncra-averaged `ann_*` files.
    "reference": Layout(
        files={"casa": ["casaclm_pool_flux_*.nc", "ann_casaclm_pool_flux_*.nc"],
               "mimics": ["mimics_pool_flux_*.nc", "ann_mimics_pool_flux_*.nc"]},
        variables=REFERENCE_VARIABLES,
        statics={"landarea": "landarea", "IGBP_PFT": "IGBP_PFT"},
    ),
    # The project's CF-1.8 output, one file per phase and frequency (checked after "reference",
    # whose daily files also end in "_daily.nc").
    "cf": Layout(
        files={"cf": ["*_annual.nc", "*_daily.nc"]},
        variables=CF_VARIABLES,
        statics={"landarea": "landarea", "IGBP_PFT": "pft"},
        primary="cf",
        static_kind={CASA: "cf", MIMICS: "cf"},
        static_factors={"landarea": 1.0e-6},          # m2 -> km2
        config=_cf_config,
    ),
}


def detect_layout(run_dir) -> str:
    """The first layout of :data:`LAYOUTS` with output files in `run_dir` (default "reference")."""
    for name, lay in LAYOUTS.items():
        if find_files(run_dir, name).get(lay.primary):
            return name
    return "reference"


@dataclass(frozen=True)
class Derived:
    units: str
    long_name: str
    func: Callable
    definition: str


def _ratio(a, b):
    return a / b.where(b > 0)


# Derived variables on the layout-independent names (casa.md §9.5, mimics.md §9.3, io_workflow §7.1).
DERIVED: dict[str, Derived] = {
    "cVEG": Derived(_C, "vegetation C", lambda d: d.cLEAF + d.cWOOD + d.cFROOT,
                    "cleaf + cwood + cfroot"),
    "cTOT": Derived(_C, "soil C (litter + SOM, no CWD)", lambda d: d.cLIT + d.cSOM,
                    "CASA clitmetb+clitstr+csoilmic+csoilslow+csoilpass; "
                    "MIMICS cLITm+cLITs+cMICr+cMICk+cSOMa+cSOMc+cSOMp"),
    "cECO": Derived(_C, "ecosystem C (vegetation + CWD + soil)", lambda d: d.cTOT + d.cVEG + d.cCWD,
                    "cTOT + cVEG + clitcwd"),
    "nTOT": Derived(_N, "soil N (litter + SOM)", lambda d: d.nLIT + d.nSOM, "sum of the N pools of cTOT"),
    "NEP": Derived(_CF, "net ecosystem production (sink positive)", lambda d: d.NPP - d.HR,
                   "NPP - HR"),
    "relMIC": Derived("%", "MIC:SOC (microbial C / soil C)", lambda d: 100.0 * _ratio(d.cMIC, d.cTOT),
                      "100 * (cMICr + cMICk) / cTOT"),
    "cnTOT": Derived("g C g-1 N", "soil C:N", lambda d: _ratio(d.cTOT, d.nTOT), "cTOT / nTOT"),
    "cnMIC": Derived("g C g-1 N", "microbial C:N", lambda d: _ratio(d.cMIC, d.nMIC),
                     "(cMICr + cMICk) / (nMICr + nMICk)"),
    "cnVEG": Derived("g C g-1 N", "vegetation C:N", lambda d: _ratio(d.cVEG, d.nVEG), "cVEG / nVEG"),
    "cnLIT": Derived("g C g-1 N", "litterfall C:N", lambda d: _ratio(d.cLitIn, d.nLitIn),
                     "(metabolic + structural litter C input) / (N input)"),
}


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------

def _terms(expr: str) -> list[tuple[str, str]]:
    out = []
    for term in expr.split("+"):
        kind, _, var = term.strip().partition(":")
        out.append((kind, var))
    return out


def _flux_factor(units: str | None, path, var) -> float:
    """Factor turning a flux with these units into g m-2 yr-1 (io_workflow §5.4/§5.5)."""
    u = (units or "").lower().replace("^", "")
    if re.search(r"(day|d)-1", u) or "/day" in u or "per day" in u:
        return float(DAYS_PER_YEAR)
    if re.search(r"(year|yr)-1", u) or "/yr" in u or "/year" in u:
        return 1.0
    raise InputError(path, f"cannot tell whether flux units {units!r} are per day or per year",
                     variable=var)


def _open(path: Path) -> xr.Dataset:
    try:
        return xr.open_dataset(path, decode_times=False, mask_and_scale=True)
    except Exception as exc:  # netCDF4/HDF errors have many types
        raise InputError(path, f"cannot open as NetCDF: {exc}") from None


def _cf_years(t: np.ndarray, units: str, calendar: str, path: Path) -> np.ndarray:
    """Calendar year of each record of a CF time axis ("<unit> since <date>")."""
    import cftime

    try:
        ref = cftime.num2date(0.0, units, calendar=calendar)
        if calendar in ("noleap", "365_day") and units.strip().startswith("days") and \
                (ref.month, ref.day, ref.hour, ref.minute, ref.second) == (1, 1, 0, 0, 0):
            return ref.year + np.floor(t / DAYS_PER_YEAR).astype(int)     # fast path, long files
        return np.array([d.year for d in cftime.num2date(t, units, calendar=calendar)], dtype=int)
    except (ValueError, TypeError) as exc:
        raise InputError(path, f"cannot decode time units {units!r}: {exc}", variable="time") from None


def _record_years(ds: xr.Dataset, path: Path) -> np.ndarray:
    if "time" not in ds.dims:
        raise InputError(path, "no 'time' dimension", variable="time")
    t = np.asarray(ds["time"].values, dtype=float)
    units = str(ds["time"].attrs.get("units", ""))
    if " since " in units:
        return _cf_years(t, units, str(ds["time"].attrs.get("calendar", "standard")), path)
    if "day" in ds.variables and ds["day"].dims == ("time",):
        years = np.rint(t - np.asarray(ds["day"].values, dtype=float) / DAYS_PER_YEAR)
    elif np.allclose(t, np.rint(t), atol=1e-6):
        years = np.rint(t)
    else:
        # ncra mean of daily records (year + 183/365) or another mid-year stamp
        years = np.floor(t + 1e-6)
    return years.astype(int)


def _is_daily(ds: xr.Dataset) -> bool:
    if ds.attrs.get("frequency") == "day":
        return True
    return "day" in ds.variables and ds.sizes.get("time", 0) > 1


def find_files(run_dir, layout: str = "reference", phase: str | None = None) -> dict[str, list[Path]]:
    """Output files of a run, per file kind; looks in `run_dir` and `run_dir/out`.

    When both an annual and a daily file exist for a year, both are listed; :func:`load_run`
    uses the annual one (they carry the same annual information). `phase` keeps only the files
    of one run phase (names starting with "<phase>_", as the CF layout's `<phase>_annual.nc`).
    """
    run_dir = Path(run_dir)
    lay = LAYOUTS[layout]
    found: dict[str, list[Path]] = {}
    dirs = [run_dir] + ([run_dir / "out"] if (run_dir / "out").is_dir() else [])
    for kind, patterns in lay.files.items():
        files: set[Path] = set()
        for d in dirs:
            for pat in patterns:
                files.update(p for p in d.glob(pat) if "yyyy" not in p.name
                             and (phase is None or p.name.startswith(phase + "_")))
        # `ann_x_*` also matches `x_*` only when the prefix is absent; drop duplicates by name rule
        if any(p.name.startswith("ann_") for p in files):
            plain = [p for p in files if not p.name.startswith("ann_")]
            if plain:
                log.info("%s: both ann_* and per-year %s files found; using the per-year files",
                         run_dir, kind)
                files = set(plain)
        found[kind] = sorted(files)
    return found


def _read_lst_config(run_dir: Path) -> tuple[str | None, bool | None]:
    for cand in (run_dir / "fcasacnp_clm_testbed.lst", run_dir.parent / "fcasacnp_clm_testbed.lst"):
        if cand.is_file():
            try:
                lines = cand.read_text(errors="replace").splitlines()
                isom = int(lines[6].split()[0].split(",")[0])
                icycle = int(lines[7].split()[0].split(",")[0])
            except (IndexError, ValueError):
                continue
            return ({1: CASA, 2: MIMICS}.get(isom), icycle >= 2)
    return None, None


def _annual_from_file(path: Path, needed: Iterable[str], statics: Iterable[str]):
    """Per-year means of the needed variables of one file -> (years, {var: array (y, lat, lon)},
    {static: array}, coords, flux factors, records per year)."""
    ds = _open(path)
    try:
        years = _record_years(ds, path)
        uniq = np.unique(years)
        data = {}
        units = {}
        for v in needed:
            if v not in ds.variables:
                continue
            da = ds[v]
            if da.dims[-2:] != ("lat", "lon") or da.dims[0] != "time":
                raise InputError(path, f"expected dimensions (time, lat, lon), found {da.dims}", variable=v)
            arr = np.asarray(da.values, dtype=np.float64)
            arr[np.abs(arr) >= 1e35] = np.nan
            data[v] = np.stack([arr[years == y].mean(axis=0) for y in uniq]).astype(np.float32)
            units[v] = da.attrs.get("units")
        st = {}
        for s in statics:
            if s in ds.variables:
                a = np.asarray(ds[s].values, dtype=np.float64)
                a[np.abs(a) >= 1e35] = np.nan
                st[s] = a
        counts = {int(y): int((years == y).sum()) for y in uniq}
        coords = {"lat": np.asarray(ds["lat"].values, dtype=float),
                  "lon": np.asarray(ds["lon"].values, dtype=float)}
        daily = _is_daily(ds)
    finally:
        ds.close()
    return uniq, data, st, coords, units, counts, daily


def _configuration(soil_model: str, nitrogen: bool) -> str:
    return f"{soil_model}-{'CN' if nitrogen else 'C'}"


def _needed_sources(layout: Layout, soil_model: str, names: Iterable[str],
                    nitrogen: bool = True) -> dict[str, set[str]]:
    need: dict[str, set[str]] = {}
    for name in names:
        spec = layout.variables[name]
        expr = spec.sources.get(soil_model, spec.sources.get("*"))
        if expr is None or (spec.nitrogen and not nitrogen):      # N not read in C-only runs
            continue
        for kind, var in _terms(expr):
            need.setdefault(kind, set()).add(var)
    return need


def _detect_nitrogen(run_dir: Path, files: dict[str, list[Path]]) -> bool:
    """C+N if any net N mineralisation or plant N uptake is non-zero (both are 0 in C-only runs)."""
    for p in files.get("casa", [])[:3]:
        ds = _open(p)
        try:
            for v in ("nNetMineralization", "nMinUptake"):
                if v in ds.variables:
                    a = np.asarray(ds[v].values, dtype=float)
                    a = a[np.isfinite(a) & (np.abs(a) < 1e35)]
                    if a.size and np.any(a != 0):
                        return True
        finally:
            ds.close()
    return False


def _run_config(run_dir: Path, lay: Layout, files, soil_model, nitrogen) -> tuple[str, bool]:
    """Soil model and C+N: arguments, else the files' own record, else the .lst file, else detected."""
    f_model, f_n = lay.config(files) if lay.config is not None else (None, None)
    lst_model, lst_n = _read_lst_config(run_dir)
    if soil_model is None:
        soil_model = f_model or lst_model or (MIMICS if files.get("mimics") else CASA)
    if nitrogen is None:
        for cand in (f_n, lst_n):
            if cand is not None:
                nitrogen = cand
                break
        else:
            nitrogen = _detect_nitrogen(run_dir, files)
    return soil_model.upper(), bool(nitrogen)


def load_run(run_dir, label: str | None = None, *, layout: str | None = None,
             soil_model: str | None = None, nitrogen: bool | None = None,
             variables: Sequence[str] | None = None, years: tuple[int, int] | None = None,
             phase: str | None = None) -> xr.Dataset:
    """Read all output of one run into a Dataset with dims (year, lat, lon).

    `run_dir` is a run directory (files in it or in its `out/` sub-directory). The soil model and
    C-only/C+N are taken from `fcasacnp_clm_testbed.lst` (run directory or its parent) when present,
    else detected: MIMICS if MIMICS files exist; C+N if the CASA file has non-zero net N
    mineralisation or plant N uptake. `soil_model`/`nitrogen` override the detection.
    `variables` restricts the primary variables read (derived ones are added when computable);
    `years` (first, last) restricts the years read. `layout` ("reference" or "cf") is found from
    the file names when not given; CF files record the soil model and C+N themselves. `phase`
    reads only the files of one run phase (`<phase>_*.nc`); without it, a year present in the
    files of two phases is taken from the first file in name order (and noted).

    Returns variables in g m-2 (pools, annual means) and g m-2 yr-1 (fluxes, annual totals), the
    derived variables of :data:`DERIVED`, static `landarea` (km2, NaN outside the simulated point
    set) and `IGBP_PFT`, and attributes `label`, `soil_model`, `nitrogen` (0/1), `configuration`
    ("MIMICS-CN", ...), `source`, `layout`, `years_note`.
    """
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise InputError(run_dir, "run directory does not exist")
    if not run_dir.is_dir():
        raise InputError(run_dir, "expected a run directory holding model output NetCDF files")
    layout = layout or detect_layout(run_dir)
    lay = LAYOUTS[layout]
    files = find_files(run_dir, layout, phase)
    if not files.get(lay.primary):
        expected = " or ".join(dict.fromkeys(lay.files[lay.primary][:1] + LAYOUTS["cf"].files["cf"][:1]))
        raise InputError(run_dir, f"no model output found (expected {expected} in the directory or its out/)")
    soil_model, nitrogen = _run_config(run_dir, lay, files, soil_model, nitrogen)
    if soil_model not in (CASA, MIMICS):
        raise InputError(run_dir, f"unsupported soil model {soil_model!r} (CASA or MIMICS)")
    static_kind = lay.static_kind[soil_model]
    if not files.get(static_kind):
        raise InputError(run_dir, "MIMICS run without mimics_pool_flux_*.nc files")

    names = list(lay.variables) if variables is None else [v for v in variables if v in lay.variables]
    need = _needed_sources(lay, soil_model, names, nitrogen)
    per_kind: dict[str, dict] = {}
    coords = None
    statics: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for kind in need:
        by_year: dict[int, dict] = {}
        units: dict[str, str] = {}
        chosen: dict[int, tuple[bool, Path]] = {}
        for path in files.get(kind, []):
            yrs, data, st, c, u, counts, daily = _annual_from_file(path, need[kind], lay.statics.values())
            if coords is None:
                coords = c
            elif c["lat"].shape != coords["lat"].shape or c["lon"].shape != coords["lon"].shape \
                    or not (np.allclose(c["lat"], coords["lat"]) and np.allclose(c["lon"], coords["lon"])):
                raise InputError(path, "grid differs from the other files of the run", variable="lat/lon")
            if kind == static_kind and not statics:
                statics = {name: st[src] for name, src in lay.statics.items() if src in st}
            units.update(u)
            missing = sorted(set(need[kind]) - set(data))
            if missing:
                raise InputError(path, f"variable(s) {', '.join(missing)} missing", variable=missing[0])
            for i, y in enumerate(yrs):
                y = int(y)
                if years is not None and not (years[0] <= y <= years[1]):
                    continue
                if daily and counts[y] != DAYS_PER_YEAR:
                    notes.append(f"{path.name}: year {y} has {counts[y]} daily records (not 365); "
                                 "fluxes are mean daily rate x 365")
                prev = chosen.get(y)
                if prev is not None and (prev[0] is False or daily):
                    if prev[0] == daily and prev[1] != path:
                        notes.append(f"year {y} in both {prev[1].name} and {path.name}; "
                                     f"{prev[1].name} used")
                    continue           # keep the annual file when both exist
                chosen[y] = (daily, path)
                by_year[y] = {v: data[v][i] for v in data}
        per_kind[kind] = {"years": by_year, "units": units}

    year_sets = [set(per_kind[k]["years"]) for k in per_kind]
    common = sorted(set.intersection(*year_sets)) if year_sets else []
    for k in per_kind:
        extra = set(per_kind[k]["years"]) - set(common)
        if extra:
            notes.append(f"{k} files have years not in the other files ({min(extra)}..{max(extra)}); dropped")
    if not common:
        raise InputError(run_dir, "no year with output in all files of the run")

    lat, lon = coords["lat"], coords["lon"]
    nlat, nlon = lat.size, lon.size

    def source(kind, var, is_flux):
        d = per_kind[kind]
        arr = np.stack([d["years"][y][var] for y in common]).astype(np.float64)
        if is_flux:
            arr = arr * _flux_factor(d["units"].get(var), files[kind][0], var)
        return arr

    out = {}
    for name in names:
        spec = lay.variables[name]
        expr = spec.sources.get(soil_model, spec.sources.get("*"))
        if expr is None or (spec.nitrogen and not nitrogen):
            arr = np.full((len(common), nlat, nlon), np.nan)
        else:
            arr = None
            for kind, var in _terms(expr):
                a = source(kind, var, spec.kind == "flux")
                arr = a if arr is None else arr + a
        out[name] = xr.DataArray(arr.astype(np.float32), dims=("year", "lat", "lon"),
                                 attrs={"units": spec.units, "long_name": spec.long_name,
                                        "kind": spec.kind, "source": expr or "not defined for " + soil_model})
    ds = xr.Dataset(out, coords={"year": np.array(common, dtype=int), "lat": lat, "lon": lon})
    statics = {k: a * lay.static_factors.get(k, 1.0) for k, a in statics.items()}
    area = statics.get("landarea")
    if area is None:
        raise InputError(files[static_kind][0], "static variable missing", variable="landarea")
    ds["landarea"] = xr.DataArray(area, dims=("lat", "lon"),
                                  attrs={"units": "km2", "long_name": "land area (0 on ice/water cells)"})
    if "IGBP_PFT" in statics:
        ds["IGBP_PFT"] = xr.DataArray(statics["IGBP_PFT"], dims=("lat", "lon"),
                                      attrs={"long_name": "IGBP vegetation class"})
    ds = add_derived(ds)
    ds = ds.sortby("lat")
    ds.attrs.update({
        "label": label or _configuration(soil_model, nitrogen),
        "soil_model": soil_model,
        "nitrogen": int(bool(nitrogen)),
        "configuration": _configuration(soil_model, nitrogen),
        "source": str(run_dir),
        "layout": layout,
        "conventions": "pools: annual means (g m-2); fluxes: annual totals (g m-2 yr-1); "
                       "HR = " + ("MIMICS cHresp" if soil_model == MIMICS else "CASA cresp"),
        "notes": "; ".join(dict.fromkeys(notes)),
    })
    for n in notes:
        log.warning("%s: %s", run_dir, n)
    return ds


def add_derived(ds: xr.Dataset) -> xr.Dataset:
    """Add the :data:`DERIVED` variables whose inputs are present."""
    for name, d in DERIVED.items():
        try:
            with np.errstate(invalid="ignore", divide="ignore"):
                da = d.func(ds)
        except AttributeError:
            continue
        ds[name] = da.astype(np.float32).assign_attrs(units=d.units, long_name=d.long_name,
                                                      definition=d.definition)
    return ds


def configuration(ds: xr.Dataset) -> str:
    """"CASA-C", "CASA-CN", "MIMICS-C" or "MIMICS-CN" of a loaded run."""
    return ds.attrs.get("configuration") or _configuration(ds.attrs["soil_model"], bool(ds.attrs["nitrogen"]))


# ---------------------------------------------------------------------------------------------
# Daily data (for climatologies)
# ---------------------------------------------------------------------------------------------

def load_daily(run_dir, *, years: Iterable[int] | None = None,
               variables: Sequence[str] = ("GPP", "NPP", "HR"),
               lat_range: tuple[float, float] | None = None, lon_range: tuple[float, float] | None = None,
               layout: str | None = None, soil_model: str | None = None,
               nitrogen: bool | None = None, phase: str | None = None) -> xr.Dataset | None:
    """Daily values (dims year, doy, lat, lon) of selected variables from daily files, fluxes in
    g m-2 d-1 (NOT annual totals), optionally restricted to a lat/lon box (lon in 0-360, inclusive)
    before reading. NEP is added when NPP and HR are requested. Returns None when the run has no
    daily files for the requested years. A daily file may hold one year (reference layout) or
    several (CF layout)."""
    run_dir = Path(run_dir)
    layout = layout or detect_layout(run_dir)
    lay = LAYOUTS[layout]
    files = find_files(run_dir, layout, phase)
    soil_model, nitrogen = _run_config(run_dir, lay, files, soil_model, nitrogen)
    wanted = set(years) if years is not None else None
    names = [v for v in variables if v in lay.variables]
    need = _needed_sources(lay, soil_model, names, nitrogen)
    per_year: dict[int, dict] = {}
    sel = None
    lat = lon = None
    for kind in need:
        for path in files.get(kind, []):
            if not path.name.endswith("_daily.nc"):
                continue
            ds = _open(path)
            try:
                if not _is_daily(ds):
                    continue
                yrs = _record_years(ds, path)
                if sel is None:
                    la = np.asarray(ds["lat"].values, float)
                    lo = np.asarray(ds["lon"].values, float) % 360.0
                    ok_lat = np.ones(la.size, bool) if lat_range is None else \
                        (la >= lat_range[0]) & (la <= lat_range[1])
                    ok_lon = np.ones(lo.size, bool) if lon_range is None else \
                        (lo >= lon_range[0] % 360.0) & (lo <= lon_range[1])
                    sel = (np.flatnonzero(ok_lat), np.flatnonzero(ok_lon))
                    lat, lon = la[sel[0]], np.asarray(ds["lon"].values, float)[sel[1]]
                for y in np.unique(yrs):
                    y = int(y)
                    if wanted is not None and y not in wanted:
                        continue
                    sub = ds.isel(time=np.flatnonzero(yrs == y), lat=sel[0], lon=sel[1])
                    rec = per_year.setdefault(y, {})
                    for v in need[kind]:
                        if v not in sub.variables:
                            raise InputError(path, "variable missing", variable=v)
                        a = np.asarray(sub[v].values, dtype=np.float64)
                        a[np.abs(a) >= 1e35] = np.nan
                        if a.shape[0] != DAYS_PER_YEAR:
                            a = a[:DAYS_PER_YEAR] if a.shape[0] > DAYS_PER_YEAR else np.concatenate(
                                [a, np.full((DAYS_PER_YEAR - a.shape[0],) + a.shape[1:], np.nan)])
                        rec[(kind, v)] = a
                    if kind == lay.static_kind[soil_model]:
                        src = lay.statics["landarea"]
                        rec["landarea"] = np.asarray(sub[src].values, dtype=np.float64) \
                            * lay.static_factors.get("landarea", 1.0)
            finally:
                ds.close()
    ys = sorted(y for y, r in per_year.items() if all((k, v) in r for k in need for v in need[k]))
    if not ys:
        return None
    out = {}
    for name in names:
        spec = lay.variables[name]
        expr = spec.sources.get(soil_model, spec.sources.get("*"))
        if expr is None or (spec.nitrogen and not nitrogen):
            arr = np.full((len(ys), DAYS_PER_YEAR, lat.size, lon.size), np.nan)
        else:
            arr = sum(np.stack([per_year[y][(k, v)] for y in ys]) for k, v in _terms(expr))
        units = spec.units.replace("yr-1", "d-1")
        out[name] = xr.DataArray(arr.astype(np.float32), dims=("year", "doy", "lat", "lon"),
                                 attrs={"units": units, "long_name": spec.long_name})
    ds = xr.Dataset(out, coords={"year": ys, "doy": np.arange(1, DAYS_PER_YEAR + 1), "lat": lat, "lon": lon})
    if "NPP" in ds and "HR" in ds:
        ds["NEP"] = (ds.NPP - ds.HR).assign_attrs(units="g C m-2 d-1", long_name="NEP (sink positive)")
    la = per_year[ys[0]].get("landarea")
    ds["landarea"] = xr.DataArray(la, dims=("lat", "lon"), attrs={"units": "km2"})
    ds.attrs.update({"soil_model": soil_model, "nitrogen": int(bool(nitrogen)),
                     "configuration": _configuration(soil_model, bool(nitrogen))})
    return ds.sortby("lat")


# ---------------------------------------------------------------------------------------------
# ncra / ncrcat equivalents (io_workflow §5.5)
# ---------------------------------------------------------------------------------------------

def _encoding(ds: xr.Dataset) -> dict:
    enc = {}
    for v, da in ds.data_vars.items():
        if da.dtype.kind == "f":
            enc[v] = {"dtype": "float32", "_FillValue": np.float32(FILL)}
        else:
            enc[v] = {"_FillValue": None}
    for c in ds.coords:
        enc[c] = {"_FillValue": None}
    return enc


def daily_to_annual(in_files: Sequence, out_file) -> Path:
    """NCO `ncra` on each daily file then `ncrcat` (io_workflow §5.5), in one step.

    Every variable with a `time` dimension is replaced by its arithmetic mean over the records of
    each calendar year (so fluxes become MEAN DAILY RATES in g m-2 day-1, units attribute unchanged,
    as in the authors' `ann_*` files; :func:`load_run` multiplies them by 365); the time coordinate
    becomes the mean time (year + 183/365 for a full year, as ncra); static variables (landarea,
    IGBP_PFT, cellid, cellMissing) are copied without a time dimension. Output is float32 with fill
    value 1e36, one record per year, ordered by year.
    """
    in_files = [Path(p) for p in in_files]
    if not in_files:
        raise InputError(out_file, "no input files given to daily_to_annual")
    pieces = []
    statics = None
    for p in in_files:
        ds = _open(p)
        try:
            years = _record_years(ds, p)
            ds = ds.load()
        finally:
            ds.close()
        ds = ds.assign_coords(_year=("time", years))
        timed = [v for v in ds.data_vars if "time" in ds[v].dims]
        if statics is None:
            statics = ds[[v for v in ds.data_vars if "time" not in ds[v].dims]]
        for y in np.unique(years):
            sub = ds[timed].isel(time=np.flatnonzero(years == y))
            m = sub.mean("time", keep_attrs=True)
            m = m.expand_dims(time=[float(np.asarray(sub["time"].values, float).mean())])
            m["time"].attrs = ds["time"].attrs
            pieces.append((int(y), m.drop_vars("_year", errors="ignore")))
    pieces.sort(key=lambda t: t[0])
    ys = [y for y, _ in pieces]
    if len(set(ys)) != len(ys):
        raise InputError(in_files[0], f"year(s) {sorted({y for y in ys if ys.count(y) > 1})} occur in "
                         "more than one input file")
    out = xr.concat([m for _, m in pieces], dim="time", data_vars="all")
    out = xr.merge([statics.drop_vars("_year", errors="ignore"), out], compat="override")
    out.attrs = dict(statics.attrs)
    out.attrs["history"] = (f"annual means of daily records (ncra equivalent) of {len(in_files)} "
                            f"file(s): {in_files[0].name} ... {in_files[-1].name}")
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out.to_netcdf(out_file, encoding=_encoding(out), unlimited_dims=["time"])
    return out_file


def concat(in_files: Sequence, out_file) -> Path:
    """NCO `ncrcat`: concatenate files along `time` (records ordered by time), static variables
    taken from the first file."""
    in_files = [Path(p) for p in in_files]
    if not in_files:
        raise InputError(out_file, "no input files given to concat")
    dss = []
    for p in in_files:
        ds = _open(p)
        try:
            dss.append(ds.load())
        finally:
            ds.close()
    statics = dss[0][[v for v in dss[0].data_vars if "time" not in dss[0][v].dims]]
    timed = [d[[v for v in d.data_vars if "time" in d[v].dims]] for d in dss]
    out = xr.concat(timed, dim="time", data_vars="all").sortby("time")
    t = np.asarray(out["time"].values)
    if np.unique(t).size != t.size:
        raise InputError(in_files[0], "time values repeat across the files to concatenate", variable="time")
    out = xr.merge([statics, out], compat="override")
    out.attrs = dict(dss[0].attrs)
    out.attrs["history"] = f"records concatenated (ncrcat equivalent) from {len(in_files)} file(s)"
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out.to_netcdf(out_file, encoding=_encoding(out), unlimited_dims=["time"])
    return out_file
