"""The testbed's three spin-up equilibrium criteria (io_workflow.md §6).

Total litter + soil carbon (cTOT: metabolic and structural litter plus all SOM pools, no CWD;
MIMICS: LITm + LITs + MICr + MICk + SOMa + SOMc + SOMp) is compared between the ends of two
successive forcing cycles on simulated cells. The run is at equilibrium when all three hold:
(1) the global change is below 0.01 Pg C; (2) fewer than 2 % of cells changed by more than
1 g C m-2; (3) fewer than 2 % of cells changed by more than 0.1 % of their stock.

Deviation from the letter of (3): a stock below 1 g C m-2 counts as 1 g C m-2. A cell with
no litter input (barren ground with zero GPP) loses its last traces of soil C exponentially,
so its relative change per cycle is constant and (3) could never hold, however long the
spin-up; with the floor such a cell passes once it changes by less than 0.001 g C m-2.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

LIMIT_GLOBAL_PGC = 0.01       # Pg C per cycle
LIMIT_CELL_ABS = 1.0          # g C m-2 per cycle
LIMIT_CELL_REL = 1.0e-3       # fraction of the cell's stock per cycle
LIMIT_FRACTION = 0.02         # of simulated cells
STOCK_FLOOR = 1.0             # g C m-2: smallest stock criterion (3) is relative to

G_PER_PG = 1.0e15
MIMICS_C = ("LITm", "LITs", "MICr", "MICk", "SOMa", "SOMc", "SOMp")


def soil_carbon(state, p: dict, xp=np) -> np.ndarray:
    """cTOT per cell (g C m-2) of a model state; `p` holds the cell parameters (for MIMICS,
    `mim_uc` converts mg cm-3 to g m-2). `xp=jax.numpy` keeps it differentiable."""
    if state.mim is not None:
        uc = xp.asarray(p["mim_uc"])
        return sum(xp.asarray(getattr(state.mim, k), np.float64) for k in MIMICS_C) * uc
    lit = xp.asarray(state.clitter, np.float64)
    return lit[:, 0] + lit[:, 1] + xp.asarray(state.csoil, np.float64).sum(axis=1)


@dataclass(frozen=True)
class Criteria:
    """Result of one comparison; `passed` when all three criteria hold."""

    global_c_PgC: float          # global cTOT at the end of the cycle
    delta_PgC: float             # global change over the cycle (signed)
    frac_cells_gt_1g: float      # fraction of simulated cells with |change| > 1 g C m-2
    frac_cells_gt_0p1pct: float  # fraction with |change| > 0.1 % of the previous stock

    @property
    def passed(self) -> bool:
        return (abs(self.delta_PgC) < LIMIT_GLOBAL_PGC and self.frac_cells_gt_1g < LIMIT_FRACTION
                and self.frac_cells_gt_0p1pct < LIMIT_FRACTION)

    def as_dict(self) -> dict:
        return dict(asdict(self), passed=self.passed)

    def summary(self) -> str:
        return (f"dC {self.delta_PgC:+.4f} PgC, {100 * self.frac_cells_gt_1g:.1f}% cells >1 g m-2, "
                f"{100 * self.frac_cells_gt_0p1pct:.1f}% cells >0.1%")


def equilibrium_criteria(prev, cur, area_m2, simulated) -> Criteria:
    """Compare cTOT (g C m-2, per cell) at the ends of two successive cycles.

    `area_m2`: land area per cell (m2, land fraction applied); `simulated`: boolean mask of
    cells that are simulated (not ice/water). Cells outside the mask count nowhere."""
    prev = np.asarray(prev, np.float64)
    cur = np.asarray(cur, np.float64)
    sim = np.asarray(simulated, bool)
    area = np.where(sim, np.asarray(area_m2, np.float64), 0.0)
    d = np.abs(cur - prev)
    n = max(int(sim.sum()), 1)
    return Criteria(
        global_c_PgC=float(np.sum(np.where(sim, cur, 0.0) * area) / G_PER_PG),
        delta_PgC=float(np.sum(np.where(sim, cur - prev, 0.0) * area) / G_PER_PG),
        frac_cells_gt_1g=float(np.sum(sim & (d > LIMIT_CELL_ABS)) / n),
        frac_cells_gt_0p1pct=float(np.sum(sim & (d > relative_limit(prev))) / n))


def relative_limit(stock) -> np.ndarray:
    """Criterion (3)'s per-cell limit (g C m-2): 0.1 % of the stock, at least of STOCK_FLOOR."""
    return LIMIT_CELL_REL * np.maximum(np.abs(np.asarray(stock, np.float64)), STOCK_FLOOR)


def cell_limit(stock) -> np.ndarray:
    """The per-cell change (g C m-2) within both cell criteria."""
    return np.minimum(LIMIT_CELL_ABS, relative_limit(stock))


def cells_failing(prev, cur, simulated) -> np.ndarray:
    """Per-cell mask of simulated cells that changed by more than 1 g C m-2 or 0.1 %."""
    prev = np.asarray(prev, np.float64)
    d = np.abs(np.asarray(cur, np.float64) - prev)
    return np.asarray(simulated, bool) & (d > cell_limit(prev))
