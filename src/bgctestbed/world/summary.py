"""Plausibility diagnostics of the embedded world (`bgctestbed world summary`).

Targets (checked by the tests): global GPP 1901-1920 mean 100-112 PgC/yr and 1995-2014 minus
1901-1920 between +10 and +20 PgC/yr (Wieder et al. 2024 with CLM5/GSWP3: 106.1 and +15.5);
a tropical peak, a subtropical minimum and a boreal secondary hump in zonal GPP; tundra GPP
below 350 gC m-2 yr-1; frozen soil water in permafrost regions in winter; N deposition on land
20-30 TgN/yr in 1901 and 55-75 in 2000. Global sums use the simulated cells (not classes 11,
13, 15, 17) and `landarea`, like the paper's analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .grid import KOPPEN, PFT_NAMES
from .world import World

EARLY = (1901, 1920)
LATE = (1995, 2014)
BANDS = [(-60, -40), (-40, -20), (-20, -10), (-10, 10), (10, 20), (20, 40), (40, 50),
         (50, 65), (65, 90)]


@dataclass
class Summary:
    gpp_early: float
    gpp_late: float
    cell_gpp_early: np.ndarray                  # gC m-2 yr-1 per cell, 1901-1920 mean
    zonal: dict = field(default_factory=dict)    # band -> mean gC m-2 yr-1
    tundra_gpp: float = np.nan
    permafrost_cells: int = 0
    permafrost_frozen_share: float = np.nan     # share of permafrost cells with ice in January
    permafrost_jan_ice: float = np.nan          # mean frozen water (m3 m-3), layers 1-4, January
    ndep_1901: float = np.nan
    ndep_2000: float = np.nan
    extra: dict = field(default_factory=dict)

    @property
    def gpp_change(self) -> float:
        return self.gpp_late - self.gpp_early


def annual_gpp(world: World, y0: int, y1: int, on_year=None) -> np.ndarray:
    """Mean annual GPP (gC m-2 yr-1) per cell over y0..y1; `on_year(year, forcing)` hook."""
    acc = np.zeros(world.n)
    for y in range(y0, y1 + 1):
        f = world.forcing(y)
        acc += f.xcgpp.sum(axis=0)
        if on_year is not None:
            on_year(y, f)
    return acc / (y1 - y0 + 1)


def zonal_bands(world: World, cell_gpp: np.ndarray) -> dict:
    s, sim = world.sites, world.simulated
    out = {}
    for lo, hi in BANDS:
        m = sim & (s.lat >= lo) & (s.lat < hi)
        out[(lo, hi)] = float((cell_gpp * s.landarea)[m].sum() / s.landarea[m].sum())
    return out


def zonal_shape_ok(z: dict) -> dict:
    """The three features of observed zonal GPP (e.g. Beer et al. 2010)."""
    trop = z[(-10, 10)]
    sub_n = z[(20, 40)]
    boreal = z[(50, 65)]
    return {"tropical peak": trop == max(z.values()),
            "subtropical minimum": sub_n < min(z[(10, 20)], z[(40, 50)], boreal),
            "boreal secondary hump": boreal > sub_n and boreal > z[(65, 90)]}


def summarize(world: World, early=EARLY, late=LATE) -> Summary:
    s, sim = world.sites, world.simulated
    area = s.landarea
    # permafrost: climatological mean annual air temperature below -5 degC
    mat = world.arrays["tclim"].mean(axis=0)
    perma = sim & (mat < -5.0)
    jan = {}

    def grab(year, f):
        if year == early[0]:
            ice = f.xfrznmoist[:31, :4].mean(axis=(0, 1))
            jan["share"] = float((ice[perma] > 0.01).mean()) if perma.any() else np.nan
            jan["ice"] = float(ice[perma].mean()) if perma.any() else np.nan

    g0 = annual_gpp(world, *early, on_year=grab)
    g1 = annual_gpp(world, *late)
    tot = lambda g: float((g * area)[sim].sum() / 1e15)  # noqa: E731
    tun = s.pft == 18
    summ = Summary(gpp_early=tot(g0), gpp_late=tot(g1), cell_gpp_early=g0,
                   zonal=zonal_bands(world, g0),
                   tundra_gpp=float((g0 * area)[tun].sum() / area[tun].sum()),
                   permafrost_cells=int(perma.sum()),
                   permafrost_frozen_share=jan.get("share", np.nan),
                   permafrost_jan_ice=jan.get("ice", np.nan),
                   ndep_1901=float((world.ndep_annual(1901) * area).sum() / 1e12),
                   ndep_2000=float((world.ndep_annual(2000) * area).sum() / 1e12))
    return summ


def static_report(world: World) -> list[str]:
    s, sim, a = world.sites, world.simulated, world.arrays
    lines = [f"cells: {s.n} (simulated {int(sim.sum())}), land area "
             f"{s.landarea.sum() / 1e12:.1f} million km2 (simulated "
             f"{s.landarea[sim].sum() / 1e12:.1f}); grid 2 degrees"]
    lines.append("classes (cells, million km2):")
    for p in range(1, 19):
        m = s.pft == p
        if m.any():
            lines.append(f"  {p:2d} {PFT_NAMES[p]:<26s} {int(m.sum()):5d} "
                         f"{s.landarea[m].sum() / 1e12:6.2f}")
    w = s.landarea[sim] / s.landarea[sim].sum()
    lines.append(f"soil texture (synthetic), area mean: sand {np.dot(w, s.sand[sim]):.2f} "
                 f"clay {np.dot(w, s.clay[sim]):.2f} silt {np.dot(w, s.silt[sim]):.2f}; "
                 f"wilting {s.swilt.min():.3f}-{s.swilt.max():.3f}, field capacity "
                 f"{s.sfc.min():.3f}-{s.sfc.max():.3f}, saturation "
                 f"{s.ssat.min():.3f}-{s.ssat.max():.3f}")
    if "koppen_rules" in a:
        same = a["koppen"] == a["koppen_rules"]
        main = np.array([KOPPEN[k - 1][0] for k in a["koppen"]]) == \
            np.array([KOPPEN[k - 1][0] for k in a["koppen_rules"]])
        lines.append(f"Koppen (Rubel 2017 map) vs rules on the ERA5 climatology: "
                     f"{100 * main.mean():.0f} % same main class, {100 * same.mean():.0f} % "
                     "same class")
    lines.append(f"CO2: {world.co2(1901):.1f} ppm (1901), {world.co2(2014):.1f} (2014), "
                 f"{world.co2(2100):.1f} (2100, SSP3-7.0)")
    return lines


def report(world: World, summ: Summary) -> list[str]:
    ok = lambda c: "ok" if c else "OUT OF TARGET"  # noqa: E731
    lines = static_report(world)
    lines.append(f"global GPP {EARLY[0]}-{EARLY[1]} mean: {summ.gpp_early:.1f} PgC/yr "
                 f"(target 100-112, paper 106.1) {ok(100 <= summ.gpp_early <= 112)}")
    lines.append(f"global GPP {LATE[0]}-{LATE[1]} mean: {summ.gpp_late:.1f} PgC/yr; change "
                 f"{summ.gpp_change:+.1f} (target +10..+20, paper +15.5) "
                 f"{ok(10 <= summ.gpp_change <= 20)}")
    lines.append("zonal GPP 1901-1920 (gC m-2 yr-1): " + ", ".join(
        f"{lo}..{hi}: {v:.0f}" for (lo, hi), v in summ.zonal.items()))
    for k, v in zonal_shape_ok(summ.zonal).items():
        lines.append(f"  {k}: {ok(v)}")
    lines.append(f"tundra GPP: {summ.tundra_gpp:.0f} gC m-2 yr-1 (target < 350) "
                 f"{ok(summ.tundra_gpp < 350)}")
    lines.append(f"permafrost cells (mean annual air T < -5 degC): {summ.permafrost_cells}; "
                 f"January frozen water in layers 1-4: {100 * summ.permafrost_frozen_share:.0f} "
                 f"% of them, mean {summ.permafrost_jan_ice:.3f} m3 m-3 "
                 f"{ok(summ.permafrost_frozen_share > 0.9)}")
    lines.append(f"N deposition on land: {summ.ndep_1901:.1f} TgN/yr (1901, target 20-30) "
                 f"{ok(20 <= summ.ndep_1901 <= 30)}, {summ.ndep_2000:.1f} (2000, target 55-75) "
                 f"{ok(55 <= summ.ndep_2000 <= 75)}")
    return lines
