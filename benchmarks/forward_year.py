"""Wall time of one simulated year on the full real grid (4263 cells), four configurations.

Sites come from the real gridinfo, soil and phenology files of the reference inputs
(`../shared/reference/testbed_inputs`, or BGCTESTBED_REFERENCE); the met forcing is synthetic
(seeded seasonal cycles by latitude). Times exclude compilation; ratios are against CASA-C
measured in the same run. Usage: python benchmarks/forward_year.py [--years N]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from bgctestbed.init import cold_start
from bgctestbed.io import testbed as tb
from bgctestbed.model import ModelConfig, run_year, to_jax
from bgctestbed.params.casa import casa_cell_params, default_casa_table
from bgctestbed.params.mimics import default_mimics_params, mimics_cell_params
from bgctestbed.physics.mimics import initial_pools

REF = Path(os.environ.get("BGCTESTBED_REFERENCE", Path(__file__).resolve().parents[2] / "shared" / "reference"))
# reference Fortran (gfortran -O2, one core) seconds per global year on this machine class
FORTRAN = {"CASA-C": 1.1, "CASA-CN": 2.6, "MIMICS-C": 1.5, "MIMICS-CN": 7.6}


def synthetic_forcing(sites, seed=0):
    rng = np.random.default_rng(seed)
    n = sites.n
    day = np.arange(365)[:, None]
    lat = sites.lat[None, :]
    season = np.cos(2 * np.pi * (day - 196) / 365) * np.sign(lat + 1e-9)
    tair = 273.15 + 27 - 0.45 * np.abs(lat) + (5 + 0.25 * np.abs(lat)) * season
    tair = tair + rng.normal(0, 2, (365, n))
    gpp = np.maximum(0.0, (8 - 0.08 * np.abs(lat)) * (0.6 + 0.4 * season)) * (tair > 271)
    tsoil = np.stack([tair * (1 - 0.05 * k) + 273.15 * 0.05 * k for k in range(6)], 1)
    moist = np.clip(sites.sfc[None, None, :] * (0.7 + 0.2 * rng.random((365, 6, n))), 0, None)
    frozen = np.where(tsoil < 273.15, 0.5 * moist, 0.0)
    return dict(cgpp=gpp, tairk=tair, ndep=np.full((365, n), 0.002), tsoil=tsoil,
                moist=moist - frozen, frznmoist=frozen)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--years", type=int, default=3)
    args = ap.parse_args()
    ti = REF / "testbed_inputs"
    sites = tb.read_sites(ti / "gridinfo_igbpz_CLM5_GSWP3.csv", ti / "gridinfo_soil_CLM5_GSWP3.csv",
                          ti / "modis_phenology_wtundra.txt")
    table = default_casa_table()
    mp = default_mimics_params()
    p = casa_cell_params(table, sites)
    p.update({f"mim_{k}": v for k, v in mimics_cell_params(mp, sites.pft, sites.clay).items()})
    pj = to_jax(p)
    forcing = {k: jnp.asarray(v) for k, v in synthetic_forcing(sites).items()}
    print(f"cells: {sites.n} (simulated {int(np.sum(p['active']))}), devices: {jax.devices()}")
    results = {}
    for name, soil, nit in [("CASA-C", "casa", False), ("CASA-CN", "casa", True),
                            ("MIMICS-C", "mimics", False), ("MIMICS-CN", "mimics", True)]:
        cfg = ModelConfig(soil, nit, mimics=mp if soil == "mimics" else None)
        st = cold_start(table, p, sites.phase0, cfg)
        if soil == "mimics":
            st = st._replace(mim=initial_pools(np.asarray(p["active"]), mp.CNr, mp.CNk))
        st = jax.tree.map(jnp.asarray, st)
        t0 = time.perf_counter()
        st, acc, _ = run_year(st, forcing, pj, cfg)
        jax.block_until_ready(acc)
        compile_s = time.perf_counter() - t0
        times = []
        for _ in range(args.years):
            t0 = time.perf_counter()
            st, acc, _ = run_year(st, forcing, pj, cfg)
            jax.block_until_ready(acc)
            times.append(time.perf_counter() - t0)
        results[name] = (compile_s, min(times), float(np.median(times)))
    base = results["CASA-C"][2]
    print(f"{'config':10s} {'first year (s)':>15s} {'best (s/yr)':>12s} {'median (s/yr)':>14s} "
          f"{'x CASA-C':>9s} {'Fortran (s/yr)':>15s} {'speed-up':>9s}")
    for name, (c, best, med) in results.items():
        print(f"{name:10s} {c:15.2f} {best:12.3f} {med:14.3f} {med / base:9.2f} "
              f"{FORTRAN[name]:15.1f} {FORTRAN[name] / med:9.1f}")


if __name__ == "__main__":
    main()
