"""Budget closure over ten consecutive years for the four configurations: on the 12-cell
reference grid and on a subset of the embedded world (every 100th cell)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bgctestbed import diagnostics as dg
from bgctestbed.init import cold_start
from bgctestbed.model import ModelConfig, run_year, to_jax
from bgctestbed.params.casa import casa_cell_params, default_casa_table
from bgctestbed.params.mimics import default_mimics_params, mimics_cell_params
from bgctestbed.physics.mimics import initial_pools
from bgctestbed.workflow import subset_sites

CONFIGS = [("casa", False), ("casa", True), ("mimics", False), ("mimics", True)]
TOL = 1e-10     # |residual| <= TOL x throughput, every cell and year
YEARS = 10


def worst_closure(sites, forcings, soil, nitrogen):
    """Largest |residual| / throughput of the C and N budgets over the years of `forcings`
    (a list of model-input dicts) from a cold start."""
    table, mp = default_casa_table(), default_mimics_params()
    p = casa_cell_params(table, sites)
    p.update({f"mim_{k}": v for k, v in mimics_cell_params(mp, sites.pft, sites.clay).items()})
    cfg = ModelConfig(soil, nitrogen, mimics=mp if soil == "mimics" else None, budget_terms=True)
    st = cold_start(table, p, sites.phase0, cfg)
    if soil == "mimics":
        st = st._replace(mim=initial_pools(np.asarray(p["active"]), mp.CNr, mp.CNk))
    st, pj = jax.tree.map(jnp.asarray, st), to_jax(p)
    worst = {"C": 0.0, "N": 0.0}
    for f in forcings:
        st1, acc, _ = run_year(st, {k: jnp.asarray(v) for k, v in f.items()}, pj, cfg)
        acc = {k: np.asarray(v) for k, v in acc.items()}
        for el, b in (("C", dg.carbon_budget(st, st1, acc, p)),
                      ("N", dg.nitrogen_budget(st, st1, acc, p, nitrogen=nitrogen))):
            assert np.all(np.isfinite(b.residual))
            worst[el] = max(worst[el], float(dg.closure(b).max()))
        st = st1
    return worst


@pytest.fixture(scope="module")
def reference_grid(reference_grid_inputs):
    sites, met = reference_grid_inputs
    return sites, [met.year(k % met.nyears).model_inputs() for k in range(YEARS)]


@pytest.mark.parametrize("soil,nitrogen", CONFIGS)
def test_ten_years_close_on_the_reference_grid(reference_grid, soil, nitrogen):
    worst = worst_closure(*reference_grid, soil, nitrogen)
    print(f"reference grid {soil} N={nitrogen}: worst closure {worst}")
    assert worst["C"] <= TOL and worst["N"] <= TOL


@pytest.fixture(scope="module")
def world_subset():
    from bgctestbed.world import load_world

    w = load_world()
    idx = np.arange(0, w.n, 100)
    return subset_sites(w.sites, idx), [w.forcing(y).model_inputs(idx) for y in range(1901, 1901 + YEARS)]


@pytest.mark.parametrize("soil,nitrogen", CONFIGS)
def test_ten_years_close_on_a_world_subset(world_subset, soil, nitrogen):
    worst = worst_closure(*world_subset, soil, nitrogen)
    print(f"world subset {soil} N={nitrogen}: worst closure {worst}")
    assert worst["C"] <= TOL and worst["N"] <= TOL
