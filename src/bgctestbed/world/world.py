"""The embedded default world: static sites plus a deterministic daily forcing generator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..sites import Forcing, Sites
from .grid import GRID_LAT, GRID_LON, ICEWATER, PHEN_PFTS, phenology_row
from .weather import WeatherGenerator

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "data" / "world" / "world_2deg.npz"
FIRST_YEAR = 1851          # a year needs the previous one as warm-up; series start in 1850
LAST_YEAR = 2100

REQUIRED = ("cellid", "ilat", "ilon", "landarea", "pft", "tclim", "pclim", "ndvi_max",
            "ndvi_min", "c4", "sand", "clay", "swilt", "sfc", "ssat", "ndep_anth_2000",
            "ndep_natural", "phenology", "warming_pattern", "series_years", "series_co2",
            "series_gmst", "series_gmst_base", "series_nemis", "series_nemis_2000")


def read_arrays(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise InputError(path, "world file not found (build it with 'bgctestbed world build')")
    except Exception as exc:  # noqa: BLE001  (corrupt or not an npz)
        raise InputError(path, f"cannot read world file: {exc}") from None
    for k in REQUIRED:
        if k not in arrays:
            raise InputError(path, "missing array in world file", variable=k)
    return arrays


def phenology_of(table: np.ndarray, lat: np.ndarray, pft: np.ndarray):
    """Green-up, fall and initial phase per cell as the reference reads them from its file."""
    row = phenology_row(lat)
    col = np.array([PHEN_PFTS.index(p) if p in PHEN_PFTS else -1 for p in pft])
    seasonal = col >= 0
    g = np.where(seasonal, table[row, np.maximum(col, 0), 0], -50).astype(int)
    f = np.where(seasonal, table[row, np.maximum(col, 0), 1], 367).astype(int)
    ph = np.where(seasonal, table[row, np.maximum(col, 0), 2], 2).astype(int)
    return g, f, ph


class World:
    """Static sites (`sites`) and daily forcing (`forcing(year)`) of the embedded world."""

    def __init__(self, arrays: dict, path: Path | None = None, seed: int = 0):
        self.path = path
        self.seed = int(seed)
        a = dict(arrays)
        a["lat"] = GRID_LAT[a["ilat"].astype(int) - 1]
        a["lon"] = GRID_LON[a["ilon"].astype(int) - 1]
        self.arrays = a
        self.meta = json.loads(str(a["meta"])) if "meta" in a else {}
        pft = a["pft"].astype(int)
        sand, clay = a["sand"].astype(np.float64), a["clay"].astype(np.float64)
        g, f, ph = phenology_of(a["phenology"], a["lat"], pft)
        self.sites = Sites(
            cellid=a["cellid"].astype(int), lat=a["lat"], lon=a["lon"],
            ilat=a["ilat"].astype(int), ilon=a["ilon"].astype(int), pft=pft,
            landarea=a["landarea"].astype(np.float64), sand=sand, clay=clay,
            silt=1.0 - sand - clay, swilt=a["swilt"].astype(np.float64),
            sfc=a["sfc"].astype(np.float64), ssat=a["ssat"].astype(np.float64),
            greenup=g, fall=f, phase0=ph, grid_lon=GRID_LON.copy(), grid_lat=GRID_LAT.copy(),
            ist=np.ones(pft.size, dtype=int), iso=np.ones(pft.size, dtype=int))
        self.simulated = ~np.isin(pft, ICEWATER)
        self._gen = None

    @property
    def n(self) -> int:
        return self.sites.n

    @property
    def generator(self) -> WeatherGenerator:
        if self._gen is None:
            self._gen = WeatherGenerator(self.arrays, self.sites.pft)
        return self._gen

    def check_year(self, year) -> int:
        y = int(year)
        if not FIRST_YEAR <= y <= LAST_YEAR:
            raise InputError(self.path, f"year {y} outside the world's range "
                             f"{FIRST_YEAR}-{LAST_YEAR}")
        return y

    def forcing(self, year: int, seed: int | None = None) -> Forcing:
        """Daily forcing of one calendar year (365 days), deterministic for (seed, year)."""
        return self.generator.year(self.check_year(year), self.seed if seed is None else seed)

    def forcing_years(self, y0: int, y1: int, seed: int | None = None) -> Iterator[Forcing]:
        """Forcing of years y0..y1 (inclusive), one year at a time."""
        for y in range(self.check_year(y0), self.check_year(y1) + 1):
            yield self.forcing(y, seed)

    def co2(self, year: int) -> float:
        return self.generator.co2_of(self.check_year(year))

    def ndep_annual(self, year: int) -> np.ndarray:
        """N deposition (gN m-2 yr-1) per cell in `year`."""
        return self.generator.ndep_annual(self.check_year(year))


def load_world(path: str | Path | None = None, seed: int = 0) -> World:
    """Load a world file (default: the one shipped with the package)."""
    p = Path(path) if path is not None else DEFAULT_PATH
    return World(read_arrays(p), p, seed=seed)
