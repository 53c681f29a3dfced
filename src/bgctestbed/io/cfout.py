"""The project's own model output: CF-1.8 NetCDF files, annual or daily, streamed year by year.

One file per run phase and frequency (the run workflow names them `<phase>_annual.nc` and
`<phase>_daily.nc`, see :data:`FILE_PATTERNS`). Layout:

* dimensions `time` (unlimited), `lat`, `lon` (the sites' output grid), `bnds` (2);
* coordinates `lat`, `lon` (with bounds) and `time` (days since 1850-01-01, calendar "noleap",
  with `time_bnds`): an annual record sits at mid-year and spans the 365-day year, a daily record
  sits at mid-day and spans the day;
* static `landarea` (m2: cell area x land fraction, 0 on ice/water cells; the cell measure of
  every data variable), `pft` (IGBP class), `land_mask` (1 = simulated cell), `cellid`;
* data variables `(time, lat, lon)` as float32 (the reference output is float32 too; values are
  computed in float64 and rounded once when written) with `_FillValue` 1e36 outside the
  simulated cells.

Units are the model's own, written as UDUNITS strings a CF tool can convert: pools in g m-2
(annual files: mean of the 365 end-of-day states; daily files: end-of-day state), fluxes in
g m-2 yr-1 (annual files: total over the 365-day model year) or g m-2 d-1 (daily files: total
over the day). The element (C or N) is in the name, `long_name` and `standard_name`, not in the
units, because UDUNITS would read "C" as coulomb.

Every output variable is declared once, in :data:`VARIABLES`.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

import numpy as np

from .. import __version__
from ..errors import BgcError
from .atomic import atomic_path

DAYS_PER_YEAR = 365
TIME_UNITS = "days since 1850-01-01 00:00:00"
CALENDAR = "noleap"
EPOCH_YEAR = 1850
FILL = np.float32(1.0e36)       # as the reference output, so both layouts decode alike
PFT_FILL = np.int32(-9999)
FILE_PATTERNS = {"annual": "*_annual.nc", "daily": "*_daily.nc"}
FREQUENCY = {"annual": "yr", "daily": "day"}    # CMIP `frequency` vocabulary

# IGBP classes of the testbed (18 = tundra, added by the testbed)
IGBP_CLASSES = ("evergreen_needleleaf_forest evergreen_broadleaf_forest deciduous_needleleaf_forest "
                "deciduous_broadleaf_forest mixed_forest closed_shrublands open_shrublands woody_savannas "
                "savannas grasslands permanent_wetlands croplands urban_and_built_up "
                "cropland_natural_vegetation_mosaic snow_and_ice barren_or_sparsely_vegetated water tundra")

CASA, MIMICS, BOTH = "casa", "mimics", "*"


@dataclass(frozen=True)
class OutVar:
    """One output variable.

    `units`: units in ANNUAL files; a flux's daily units replace "yr-1" by "d-1".
    `kind`: "flux" (annual total / daily total), "pool" (mean / end-of-day state of a mass) or
    "state" (mean / end-of-day value of a non-additive quantity: temperature, fraction).
    `sources[soil model]` ("casa", "mimics" or "*" for both): model output keys summed to give the
    value; a key written "-key" is subtracted. A soil model absent from `sources` does not get
    the variable. `nitrogen`: written in C+N runs only (N is not simulated in C-only runs).
    `cmip`: CMIP6 table/name when the variable has the CMIP meaning (None for model pools).
    `budget`: a mass-budget diagnostic (`diagnostics.py`), written only when asked for and only
    in annual files (the budget is of a whole year).
    """

    name: str
    units: str
    long_name: str
    kind: str
    sources: Mapping[str, tuple[str, ...]]
    standard_name: str | None = None
    cmip: str | None = None
    nitrogen: bool = False
    comment: str | None = None
    budget: bool = False

    def applies(self, soil: str, nitrogen: bool) -> bool:
        return (soil in self.sources or BOTH in self.sources) and (nitrogen or not self.nitrogen)

    def keys(self, soil: str) -> tuple[str, ...]:
        return self.sources.get(soil, self.sources.get(BOTH, ()))

    def file_units(self, frequency: str) -> str:
        return self.units.replace("yr-1", "d-1") if frequency == "daily" else self.units


_P, _F = "g m-2", "g m-2 yr-1"
_MIM_POOLS = ("LITm", "LITs", "MICr", "MICk", "SOMa", "SOMc", "SOMp")
_MIM_NAMES = {"LITm": "metabolic litter", "LITs": "structural litter", "MICr": "r-selected microbial biomass",
              "MICk": "K-selected microbial biomass", "SOMa": "available (active) soil organic matter",
              "SOMc": "chemically protected soil organic matter",
              "SOMp": "physically protected soil organic matter"}
_CASA_SOM = ("csoilmic", "csoilslow", "csoilpass")
_MIM_SOM = ("mimics:cMICr", "mimics:cMICk", "mimics:cSOMa", "mimics:cSOMc", "mimics:cSOMp")


def _v(name, units, long_name, kind, sources, **kw) -> OutVar:
    srcs = {k: (v,) if isinstance(v, str) else tuple(v) for k, v in sources.items()}
    return OutVar(name, units, long_name, kind, srcs, **kw)


def _registry() -> dict[str, OutVar]:
    v = [
        # --- carbon fluxes ---------------------------------------------------------------------
        _v("gpp", _F, "carbon mass flux out of atmosphere due to gross primary production on land",
           "flux", {BOTH: "cgpp"}, standard_name="gross_primary_productivity_of_biomass_expressed_as_carbon",
           cmip="Lmon/gpp", comment="after removal of root exudates"),
        _v("npp", _F, "carbon mass flux out of atmosphere due to net primary production on land",
           "flux", {BOTH: "cnpp"}, standard_name="net_primary_productivity_of_biomass_expressed_as_carbon",
           cmip="Lmon/npp"),
        _v("ra", _F, "carbon mass flux into atmosphere due to autotrophic (plant) respiration on land",
           "flux", {BOTH: "crp"}, standard_name="plant_respiration_carbon_flux", cmip="Lmon/ra",
           comment="maintenance respiration of wood and fine roots plus growth respiration"),
        # MIMICS: the MIMICS respiration (CWD decay included), never the CASA soil respiration
        _v("rh", _F, "carbon mass flux into atmosphere due to heterotrophic respiration on land",
           "flux", {CASA: "cresp", MIMICS: "mimics:cHresp"},
           standard_name="surface_upward_mass_flux_of_carbon_dioxide_expressed_as_carbon_due_to_"
                         "heterotrophic_respiration", cmip="Lmon/rh",
           comment="litter, coarse woody debris and soil decomposition"),
        _v("nep", _F, "net carbon mass flux out of atmosphere due to net ecosystem productivity on land",
           "flux", {CASA: ("cnpp", "-cresp"), MIMICS: ("cnpp", "-mimics:cHresp")},
           standard_name="surface_net_downward_mass_flux_of_carbon_dioxide_expressed_as_carbon_due_to_"
                         "all_land_processes_excluding_anthropogenic_land_use_change", cmip="Emon/nep",
           comment="npp - rh (sink positive); equals nbp as the model has no disturbance"),
        _v("nbp", _F, "carbon mass flux out of atmosphere due to net biospheric production on land",
           "flux", {CASA: ("cnpp", "-cresp"), MIMICS: ("cnpp", "-mimics:cHresp")},
           standard_name="surface_net_downward_mass_flux_of_carbon_dioxide_expressed_as_carbon_due_to_"
                         "all_land_processes", cmip="Lmon/nbp",
           comment="npp - rh: the model has no fire, harvest, disturbance or land-use change"),
        _v("cLitInputMet", _F, "carbon mass flux into metabolic litter (leaf and root litterfall)", "flux",
           {CASA: "cLitInptMet", MIMICS: "mimics:cLitInput_metb"}),
        _v("cLitInputStr", _F, "carbon mass flux into structural litter", "flux",
           {CASA: "cLitInptStruc", MIMICS: "mimics:cLitInput_struc"},
           comment="leaf and root litterfall; in MIMICS runs also the coarse-woody-debris input"),
        _v("cOverflow", _F, "carbon mass flux into atmosphere due to microbial overflow respiration",
           "flux", {MIMICS: ("mimics:cOverflow_r", "mimics:cOverflow_k")}),
        # --- carbon pools ------------------------------------------------------------------------
        _v("cVeg", _P, "carbon mass in vegetation", "pool", {BOTH: ("cleaf", "cwood", "cfroot")},
           standard_name="vegetation_carbon_content", cmip="Lmon/cVeg"),
        _v("cLeaf", _P, "carbon mass in leaves", "pool", {BOTH: "cleaf"},
           standard_name="leaf_mass_content_of_carbon", cmip="Lmon/cLeaf"),
        _v("cWood", _P, "carbon mass in wood (stems, branches and coarse roots)", "pool", {BOTH: "cwood"},
           cmip="Lmon/cWood"),
        _v("cRoot", _P, "carbon mass in fine roots", "pool", {BOTH: "cfroot"},
           standard_name="root_mass_content_of_carbon", cmip="Lmon/cRoot",
           comment="fine roots only; coarse roots are part of cWood"),
        _v("cLitter", _P, "carbon mass in litter (metabolic, structural and coarse woody debris)", "pool",
           {CASA: ("clitmetb", "clitstr", "clitcwd"), MIMICS: ("mimics:cLITm", "mimics:cLITs", "clitcwd")},
           standard_name="litter_mass_content_of_carbon", cmip="Lmon/cLitter"),
        _v("cLitterCwd", _P, "carbon mass in coarse woody debris", "pool", {BOTH: "clitcwd"},
           standard_name="wood_debris_mass_content_of_carbon", cmip="Emon/cLitterCwd"),
        _v("cSoil", _P, "carbon mass in soil organic matter (microbial biomass included)", "pool",
           {CASA: _CASA_SOM, MIMICS: _MIM_SOM}, standard_name="soil_mass_content_of_carbon",
           cmip="Lmon/cSoil", comment="litter excluded; CASA microbial+slow+passive, "
                                      "MIMICS MICr+MICk+SOMa+SOMc+SOMp"),
        # CASA's own pools (names avoid CMIP cSoilFast/Medium/Slow, defined by turnover classes
        # that do not match CASA's pools)
        _v("cLitMet", _P, "carbon mass in metabolic litter (CASA)", "pool", {CASA: "clitmetb"}),
        _v("cLitStr", _P, "carbon mass in structural litter (CASA)", "pool", {CASA: "clitstr"}),
        _v("cSOMmic", _P, "carbon mass in microbial (fast) soil organic matter (CASA)", "pool",
           {CASA: "csoilmic"}),
        _v("cSOMslow", _P, "carbon mass in slow soil organic matter (CASA)", "pool", {CASA: "csoilslow"}),
        _v("cSOMpass", _P, "carbon mass in passive soil organic matter (CASA)", "pool", {CASA: "csoilpass"}),
        _v("cMIC", _P, "carbon mass in microbial biomass (MICr + MICk)", "pool",
           {MIMICS: ("mimics:cMICr", "mimics:cMICk")}),
    ]
    v += [_v(f"c{k}", _P, f"carbon mass in {_MIM_NAMES[k]} (MIMICS)", "pool", {MIMICS: f"mimics:c{k}"})
          for k in _MIM_POOLS]
    # --- nitrogen (C+N runs only) ------------------------------------------------------------------
    n = [
        _v("fNup", _F, "nitrogen mass flux: plant uptake of mineral nitrogen", "flux", {BOTH: "nMinUptake"},
           cmip="Emon/fNup"),
        _v("fNnetmin", _F, "nitrogen mass flux: net mineralisation of soil nitrogen", "flux",
           {BOTH: "nNetMineralization"}, cmip="Emon/fNnetmin",
           comment="gross mineralisation minus immobilisation"),
        _v("fNdep", _F, "nitrogen mass flux: deposition onto land", "flux", {BOTH: "nMinDep"}, cmip="Emon/fNdep"),
        _v("fBNF", _F, "nitrogen mass flux: biological fixation", "flux", {BOTH: "nMinFix"}, cmip="Emon/fBNF"),
        _v("fNleach", _F, "nitrogen mass flux: leaching of mineral nitrogen", "flux", {BOTH: "nMinLeach"},
           cmip="Emon/fNleach"),
        _v("fNgas", _F, "nitrogen mass flux: gaseous loss of mineral nitrogen", "flux", {BOTH: "nMinLoss"},
           cmip="Emon/fNgas"),
        _v("fNloss", _F, "nitrogen mass flux: total loss (leaching and gaseous)", "flux",
           {BOTH: ("nMinLeach", "nMinLoss")}, cmip="Emon/fNloss"),
        _v("nLitInputMet", _F, "nitrogen mass flux into metabolic litter", "flux",
           {CASA: "nLitInptMet", MIMICS: "mimics:nLitInput_metb"}),
        _v("nLitInputStr", _F, "nitrogen mass flux into structural litter", "flux",
           {CASA: "nLitInptStruc", MIMICS: "mimics:nLitInput_struc"}),
        _v("nVeg", _P, "nitrogen mass in vegetation", "pool", {BOTH: ("nleaf", "nwood", "nfroot")},
           cmip="Emon/nVeg"),
        _v("nLeaf", _P, "nitrogen mass in leaves", "pool", {BOTH: "nleaf"}, cmip="Emon/nLeaf"),
        _v("nWood", _P, "nitrogen mass in wood", "pool", {BOTH: "nwood"}),
        _v("nRoot", _P, "nitrogen mass in fine roots", "pool", {BOTH: "nfroot"}, cmip="Emon/nRoot",
           comment="fine roots only; coarse roots are part of nWood"),
        _v("nLitter", _P, "nitrogen mass in litter (metabolic, structural and coarse woody debris)", "pool",
           {CASA: ("nlitmetb", "nlitstr", "nlitcwd"), MIMICS: ("mimics:nLITm", "mimics:nLITs", "nlitcwd")},
           cmip="Emon/nLitter"),
        _v("nLitterCwd", _P, "nitrogen mass in coarse woody debris", "pool", {BOTH: "nlitcwd"},
           cmip="Emon/nLitterCwd"),
        _v("nSoil", _P, "nitrogen mass in soil organic matter (microbial biomass included)", "pool",
           {CASA: ("nsoilmic", "nsoilslow", "nsoilpass"),
            MIMICS: tuple(k.replace(":c", ":n") for k in _MIM_SOM)}, cmip="Emon/nSoil"),
        _v("nMineral", _P, "mineral nitrogen mass in soil", "pool", {BOTH: "nMineral"}, cmip="Emon/nMineral"),
        _v("nLitMet", _P, "nitrogen mass in metabolic litter (CASA)", "pool", {CASA: "nlitmetb"}),
        _v("nLitStr", _P, "nitrogen mass in structural litter (CASA)", "pool", {CASA: "nlitstr"}),
        _v("nSOMmic", _P, "nitrogen mass in microbial (fast) soil organic matter (CASA)", "pool",
           {CASA: "nsoilmic"}),
        _v("nSOMslow", _P, "nitrogen mass in slow soil organic matter (CASA)", "pool", {CASA: "nsoilslow"}),
        _v("nSOMpass", _P, "nitrogen mass in passive soil organic matter (CASA)", "pool", {CASA: "nsoilpass"}),
        _v("nMIC", _P, "nitrogen mass in microbial biomass (MICr + MICk)", "pool",
           {MIMICS: ("mimics:nMICr", "mimics:nMICk")}),
        _v("DIN", _P, "dissolved inorganic nitrogen available to microbes (MIMICS)", "pool", {MIMICS: "mimics:DIN"}),
    ]
    n += [_v(f"n{k}", _P, f"nitrogen mass in {_MIM_NAMES[k]} (MIMICS)", "pool", {MIMICS: f"mimics:n{k}"})
          for k in _MIM_POOLS]
    v += [replace(x, nitrogen=True) for x in n]
    # --- environment ---------------------------------------------------------------------------------
    v += [
        _v("tas", "degC", "air temperature (forcing)", "state", {BOTH: "tairC"}, standard_name="air_temperature"),
        _v("tsoil", "degC", "root-weighted soil temperature", "state", {BOTH: "tsoilC"},
           standard_name="soil_temperature", comment="weighted over the 6 forcing layers by root fraction"),
        _v("thetaLiq", "1", "liquid soil water as a fraction of saturation", "state",
           {CASA: "thetaLiq", MIMICS: "mimics:thetaLiq"}),
        _v("thetaFrzn", "1", "frozen soil water as a fraction of saturation (MIMICS)", "state",
           {MIMICS: "mimics:thetaFrzn"}),
        _v("fT", "1", "soil temperature multiplier of decomposition rates (CASA)", "state", {CASA: "fT"}),
        _v("fW", "1", "soil moisture multiplier of decomposition rates", "state",
           {CASA: "fW", MIMICS: "mimics:fW"}),
    ]
    # --- mass budgets (annual files of runs with run.budgets) ---------------------------------------
    _why = ("change of total storage over the year minus the sum of the budget terms "
            "(diagnostics.py); round-off only when the model conserves mass")
    _scale = "sum of the absolute budget terms and gross internal fluxes: the scale of the residual"
    b = [_v("budget_residual_c", _F, "carbon budget residual", "flux", {BOTH: "budget:residual_c"},
            comment=_why),
         _v("budget_throughput_c", _F, "carbon budget throughput", "flux", {BOTH: "budget:throughput_c"},
            comment=_scale),
         _v("budget_residual_n", _F, "nitrogen budget residual", "flux", {BOTH: "budget:residual_n"},
            comment=_why, nitrogen=True),
         _v("budget_throughput_n", _F, "nitrogen budget throughput", "flux", {BOTH: "budget:throughput_n"},
            comment=_scale, nitrogen=True)]
    v += [replace(x, budget=True) for x in b]
    reg = {x.name: x for x in v}
    assert len(reg) == len(v), "duplicate output variable name"
    return reg


VARIABLES: dict[str, OutVar] = _registry()


def variables_for(soil: str, nitrogen: bool, budgets: bool = False) -> list[OutVar]:
    """The output variables of a run configuration, in registry order (budget variables only
    with `budgets`)."""
    return [v for v in VARIABLES.values() if v.applies(soil, nitrogen) and (budgets or not v.budget)]


def compute(var: OutVar, soil: str, values: Mapping, frequency: str = "annual") -> np.ndarray:
    """A variable's values (float64) from model output: annual `acc` sums (pools and states are
    divided by 365 to give the annual mean, fluxes stay annual totals) or daily records."""
    total = None
    for key in var.keys(soil):
        sign, k = (-1.0, key[1:]) if key.startswith("-") else (1.0, key)
        if k not in values:
            raise KeyError(f"output variable {var.name}: model output has no {k!r}")
        x = sign * np.asarray(values[k], dtype=np.float64)
        total = x if total is None else total + x
    if frequency == "annual" and var.kind != "flux":
        total = total * (1.0 / DAYS_PER_YEAR)
    return total


# ---------------------------------------------------------------------------------------------
# The writer
# ---------------------------------------------------------------------------------------------

def _bounds(centres: np.ndarray, lo: float | None, hi: float | None) -> np.ndarray:
    """Cell edges halfway between centres; the outer edges mirror the inner ones, clipped."""
    c = np.asarray(centres, dtype=np.float64)
    if c.size == 1:
        edges = np.array([c[0] - 0.5, c[0] + 0.5])
    else:
        mid = 0.5 * (c[1:] + c[:-1])
        edges = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    if lo is not None:
        edges = np.clip(edges, lo, hi)
    return np.stack([edges[:-1], edges[1:]], axis=1)


def _attr_name(k) -> str:
    """A portable attribute name: letters, digits and underscores, not starting with a digit."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", str(k)) or "attr"
    return name if not name[0].isdigit() else "_" + name


def _attr_value(v):
    """netCDF attributes hold text or numbers; anything else is written as JSON text."""
    if isinstance(v, (str, int, float, np.integer, np.floating)) and not isinstance(v, bool):
        return v
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, Path):
        return str(v)
    try:
        return json.dumps(v, default=str)
    except (TypeError, ValueError):
        return str(v)


class CFWriter:
    """Stream model output of one run phase into a CF-1.8 NetCDF file.

    `CFWriter(path, sites, cfg, frequency="annual"|"daily", attrs={...})`; `append(year, values)`
    with `values` = the year's annual sums from `run_year` (annual files) or its daily records
    of shape (365, n) (daily files); `close()`. Years must increase. The file is written under a
    temporary name in the same folder and renamed by `close()`; used as a context manager, an
    exception inside the block leaves nothing at `path` (nor the temporary file).
    `attrs`: provenance written as global attributes (non-text values as JSON text).
    `budgets`: also the budget variables (annual files only; `values` then holds the
    "budget:*" keys of `diagnostics.budget_outputs`).
    `compression`: "auto" (zlib for annual files, none for daily ones), "zlib", "zstd" (fast,
    but readers need the HDF5 zstd filter) or None.
    """

    def __init__(self, path, sites, cfg, *, frequency: str = "annual", attrs: Mapping | None = None,
                 compression: str | None = "auto", budgets: bool = False):
        import netCDF4

        if frequency not in FREQUENCY:
            raise ValueError(f"frequency must be 'annual' or 'daily', not {frequency!r}")
        if budgets and frequency != "annual":
            raise ValueError("budget variables are written in annual files only")
        if compression == "auto":
            # zlib is readable everywhere; it costs ~0.3 s per variable and year of daily
            # global records, so daily files are left uncompressed (as the reference's)
            compression = "zlib" if frequency == "annual" else None
        if compression not in (None, "zlib", "zstd"):
            raise ValueError(f"compression must be 'auto', 'zlib', 'zstd' or None, not {compression!r}")
        self._compression = compression
        self.path = Path(path)
        self.frequency = frequency
        self.soil = cfg.soil
        self.nitrogen = bool(cfg.nitrogen)
        self.variables = variables_for(self.soil, self.nitrogen, budgets)
        self._grid = (np.asarray(sites.ilat, dtype=np.int64) - 1, np.asarray(sites.ilon, dtype=np.int64) - 1)
        self._nlat, self._nlon = len(sites.grid_lat), len(sites.grid_lon)
        self._n = sites.n
        self._flat = self._grid[0] * self._nlon + self._grid[1]
        if np.unique(self._flat).size != self._flat.size:
            raise ValueError("two simulated cells share one grid cell (ilat, ilon)")
        self._buf: np.ndarray | None = None     # (records, lat*lon) float32, fill outside the cells
        self._last_year: int | None = None
        self._closed = False
        self._cm = atomic_path(self.path)
        tmp = self._cm.__enter__()
        try:
            self._nc = netCDF4.Dataset(tmp, "w", format="NETCDF4")
            self._define(sites, dict(attrs or {}))
        except BaseException as exc:
            self._abort(exc)
            raise

    # -- context manager -------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self._abort(exc)
        return False

    # -- file structure -----------------------------------------------------------------------
    def _define(self, sites, attrs: dict) -> None:
        nc = self._nc
        nc.createDimension("time", None)
        nc.createDimension("lat", self._nlat)
        nc.createDimension("lon", self._nlon)
        nc.createDimension("bnds", 2)

        def coord(name, dims, values, dtype="f8", **a):
            var = nc.createVariable(name, dtype, dims)
            var.setncatts(a)
            if values is not None:
                var[:] = values
            return var

        coord("lat", ("lat",), np.asarray(sites.grid_lat, float), standard_name="latitude",
              long_name="latitude", units="degrees_north", axis="Y", bounds="lat_bnds")
        coord("lon", ("lon",), np.asarray(sites.grid_lon, float), standard_name="longitude",
              long_name="longitude", units="degrees_east", axis="X", bounds="lon_bnds")
        coord("lat_bnds", ("lat", "bnds"), _bounds(sites.grid_lat, -90.0, 90.0))
        coord("lon_bnds", ("lon", "bnds"), _bounds(sites.grid_lon, None, None))
        coord("time", ("time",), None, standard_name="time", long_name="time", units=TIME_UNITS,
              calendar=CALENDAR, axis="T", bounds="time_bnds")
        coord("time_bnds", ("time", "bnds"), None)

        ilat, ilon = self._grid
        simulated = np.zeros((self._nlat, self._nlon), dtype=np.int8)
        simulated[ilat, ilon] = 1
        area = nc.createVariable("landarea", "f8", ("lat", "lon"), fill_value=np.float64(FILL))
        area.setncatts(dict(standard_name="cell_area", units="m2",
                            long_name="land area of the grid cell (cell area x land fraction)",
                            cell_methods="area: sum where land",
                            comment="0 on ice/water cells, so that area-weighted sums skip them; "
                                    "global total = sum(value x landarea)"))
        area[:] = self._gridded(np.asarray(sites.landarea, np.float64), np.float64(FILL))
        pft = nc.createVariable("pft", "i4", ("lat", "lon"), fill_value=PFT_FILL)
        pft.setncatts(dict(long_name="IGBP vegetation class", flag_values=np.arange(1, 19, dtype=np.int32),
                           flag_meanings=IGBP_CLASSES))
        pft[:] = self._gridded(np.asarray(sites.pft, np.int32), PFT_FILL)
        mask = nc.createVariable("land_mask", "i1", ("lat", "lon"))
        mask.setncatts(dict(long_name="simulated grid cell", flag_values=np.array([0, 1], np.int8),
                            flag_meanings="not_simulated simulated"))
        mask[:] = simulated
        cid = nc.createVariable("cellid", "i4", ("lat", "lon"), fill_value=np.int32(-9999))
        cid.setncatts(dict(long_name="cell id on the global grid: (ilon-1)*nlat + ilat"))
        cid[:] = self._gridded(np.asarray(sites.cellid, np.int32), np.int32(-9999))

        annual = self.frequency == "annual"
        for v in self.variables:
            var = nc.createVariable(v.name, "f4", ("time", "lat", "lon"), fill_value=FILL,
                                    compression=self._compression, complevel=1,
                                    shuffle=self._compression is not None,
                                    chunksizes=(1, self._nlat, self._nlon))
            a = {"long_name": v.long_name, "units": v.file_units(self.frequency), "missing_value": FILL,
                 "cell_measures": "area: landarea"}
            if v.standard_name:
                a["standard_name"] = v.standard_name
            if v.kind == "flux":
                # a total over the record's interval, expressed per that interval = its mean rate
                a["cell_methods"] = "area: mean where land time: mean"
            elif annual:
                a["cell_methods"] = "area: mean where land time: mean"
                a["aggregation"] = "mean of the 365 end-of-day states"
            else:
                a["cell_methods"] = "area: mean where land"
                a["aggregation"] = "state at the end of the day"
            if v.cmip:
                a["cmip_name"] = v.cmip
            a["model_source"] = " + ".join(v.keys(self.soil)).replace("+ -", "- ")
            if v.comment:
                a["comment"] = v.comment
            var.setncatts(a)

        soil_name = {"casa": "CASA", "mimics": "MIMICS"}[self.soil]
        conf = f"{soil_name}-{'CN' if self.nitrogen else 'C'}"
        now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        g = {
            "Conventions": "CF-1.8",
            "title": f"bgctestbed {conf} {self.frequency} output",
            "source": f"bgctestbed {__version__}: CASA-CNP vegetation with {soil_name} soil, "
                      f"{'C+N' if self.nitrogen else 'C-only'}",
            "history": f"{now} created by bgctestbed {__version__}",
            "frequency": FREQUENCY[self.frequency],
            "soil_model": soil_name,
            "nitrogen": int(self.nitrogen),
            "configuration": conf,
            "comment": ("pools in g m-2; fluxes in g m-2 yr-1 per 365-day model year (annual files: "
                        "totals over the year, pools: annual means of end-of-day states) or g m-2 d-1 "
                        "(daily files: totals over the day, pools: end-of-day states); data variables "
                        "are float32; N variables only in C+N runs"),
        }
        for k, val in attrs.items():
            key = _attr_name(k)
            g[key if key not in g else f"run_{key}"] = _attr_value(val)
        nc.setncatts(g)

    def _gridded(self, cells: np.ndarray, fill) -> np.ndarray:
        """Cell values -> (..., lat, lon) with `fill` outside the simulated cells."""
        ilat, ilon = self._grid
        out = np.full(cells.shape[:-1] + (self._nlat, self._nlon), fill, dtype=cells.dtype)
        out[..., ilat, ilon] = cells
        return out

    # -- records ---------------------------------------------------------------------------------
    def append(self, year: int, values: Mapping) -> None:
        """Write the records of `year`: one (annual) or 365 (daily)."""
        if self._closed:
            raise BgcError(f"{self.path}: output file already closed")
        year = int(year)
        if self._last_year is not None and year <= self._last_year:
            raise ValueError(f"{self.path}: year {year} appended after year {self._last_year}")
        nrec = 1 if self.frequency == "annual" else DAYS_PER_YEAR
        t0 = (year - EPOCH_YEAR) * DAYS_PER_YEAR
        if nrec == 1:
            bnds = np.array([[t0, t0 + DAYS_PER_YEAR]], np.float64)
        else:
            d = t0 + np.arange(DAYS_PER_YEAR, dtype=np.float64)
            bnds = np.stack([d, d + 1.0], axis=1)
        # check every source before writing, so that bad model output writes nothing; values
        # are then computed one variable at a time (a daily year of all variables in float64
        # would take ~0.7 GB on the global grid)
        want = (nrec, self._n) if nrec > 1 else (self._n,)
        for v in self.variables:
            for key in v.keys(self.soil):
                k = key.lstrip("-")
                if k not in values:
                    raise KeyError(f"output variable {v.name}: model output has no {k!r}")
                if tuple(np.shape(values[k])) != want:
                    raise ValueError(f"{v.name}: expected {k!r} of shape {want}, got {np.shape(values[k])}")
        if self._buf is None or self._buf.shape[0] != nrec:
            self._buf = np.full((nrec, self._nlat * self._nlon), FILL, dtype=np.float32)
        i = len(self._nc.dimensions["time"])
        try:
            self._nc["time_bnds"][i:i + nrec] = bnds
            self._nc["time"][i:i + nrec] = bnds.mean(axis=1)
            for v in self.variables:
                self._buf[:, self._flat] = compute(v, self.soil, values, self.frequency).reshape(nrec, self._n)
                self._nc[v.name][i:i + nrec] = self._buf.reshape(nrec, self._nlat, self._nlon)
        except OSError as exc:     # disk full, quota: one line, and the caller drops the file
            raise BgcError(f"{self.path}: cannot write output: {exc.strerror or exc}") from None
        self._last_year = year

    # -- end -----------------------------------------------------------------------------------------
    def close(self) -> Path:
        """Finish the file and move it to `path` (replacing an older one)."""
        if self._closed:
            return self.path
        self._closed = True
        try:
            self._nc.close()
        except BaseException as exc:
            self._cm.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self._cm.__exit__(None, None, None)
        return self.path

    def _abort(self, exc: BaseException | None = None) -> None:
        """Drop the temporary file; nothing is left at `path`."""
        if self._closed:
            return
        self._closed = True
        nc = getattr(self, "_nc", None)
        if nc is not None:
            try:
                nc.close()
            except Exception:
                pass
        exc = exc if exc is not None else BgcError(f"{self.path}: output abandoned")
        try:
            self._cm.__exit__(type(exc), exc, exc.__traceback__)
        except BgcError:
            pass        # the temporary file is gone; the caller's own exception is the one to see

    def abort(self) -> None:
        """Give up the file (for callers not using the context manager)."""
        self._abort(None)

    def __del__(self):
        # a writer dropped without close() (an exception in a caller not using `with`) must not
        # leave its temporary file behind
        if not getattr(self, "_closed", True):
            self._abort(None)
