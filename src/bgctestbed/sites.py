"""Containers shared by readers, the embedded world and the model driver.

`Sites` holds the static per-cell inputs (what the reference reads from gridinfo, soil and
phenology files); `Forcing` holds daily meteorology for a block of days. Arrays are numpy,
float64 unless stated, cells last.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NSOIL = 6  # soil layers of the forcing


@dataclass
class Sites:
    """Static inputs of the simulated cells, in the order of the forcing (cell id ascending).

    Units: lat/lon degrees; landarea m2 (land fraction applied); texture fractions (0-1);
    swilt/sfc/ssat volumetric (m3 m-3). Phenology: day of year of green-up and leaf fall
    (-50 / 367 for PFTs without seasonal phenology) and the initial phase (0-3).
    """

    cellid: np.ndarray          # int, 1-based id on the global grid: (ilon-1)*nlat + ilat
    lat: np.ndarray
    lon: np.ndarray
    ilat: np.ndarray            # int, 1-based row on the output grid
    ilon: np.ndarray            # int, 1-based column on the output grid
    pft: np.ndarray             # int, IGBP class 1..18 (18 = tundra)
    landarea: np.ndarray        # m2
    sand: np.ndarray
    clay: np.ndarray
    silt: np.ndarray
    swilt: np.ndarray
    sfc: np.ndarray
    ssat: np.ndarray
    greenup: np.ndarray         # int day of year
    fall: np.ndarray            # int day of year
    phase0: np.ndarray          # int initial phenological phase
    grid_lon: np.ndarray = field(default_factory=lambda: np.arange(144) * 2.5)
    grid_lat: np.ndarray = field(default_factory=lambda: -90.0 + np.arange(96) * 180.0 / 95.0)
    ist: np.ndarray | None = None   # soil type (unused by C/N physics; kept for file round trips)
    iso: np.ndarray | None = None   # soil order (unused by C/N physics)

    @property
    def n(self) -> int:
        return int(self.cellid.shape[0])


@dataclass
class Forcing:
    """Daily forcing for `ndays` days (a whole number of 365-day years) and `n` cells.

    xcgpp gC m-2 d-1; xtairk K; ndep gN m-2 d-1; xtsoil K, xmoist and xfrznmoist m3 m-3 with
    shape (ndays, 6, n).
    """

    xcgpp: np.ndarray
    xtairk: np.ndarray
    ndep: np.ndarray
    xtsoil: np.ndarray
    xmoist: np.ndarray
    xfrznmoist: np.ndarray

    @property
    def ndays(self) -> int:
        return int(self.xcgpp.shape[0])

    @property
    def nyears(self) -> int:
        return self.ndays // 365

    def model_inputs(self, idx=None, dtype=np.float64) -> dict:
        """The arrays under the names the model's year step takes (cgpp, tairk, ndep, tsoil,
        moist, frznmoist), optionally for cells `idx` only and in `dtype`."""
        d = dict(cgpp=self.xcgpp, tairk=self.xtairk, ndep=self.ndep, tsoil=self.xtsoil,
                 moist=self.xmoist, frznmoist=self.xfrznmoist)
        return {k: np.asarray(v if idx is None else v[..., idx], dtype) for k, v in d.items()}

    def year(self, k: int) -> "Forcing":
        """The k-th (0-based) 365-day year of this block."""
        s = slice(365 * k, 365 * (k + 1))
        return Forcing(self.xcgpp[s], self.xtairk[s], self.ndep[s], self.xtsoil[s],
                       self.xmoist[s], self.xfrznmoist[s])
