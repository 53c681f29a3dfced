"""Carbon and nitrogen budgets of one year on the 12-cell reference grid, four configurations:
closure to round-off from a cold start, and the clamp / skipped-update terms where a
constructed state makes the reference's non-conserving arithmetic act."""

from __future__ import annotations

from dataclasses import replace

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

CONFIGS = [("casa", False), ("casa", True), ("mimics", False), ("mimics", True)]
TOL = 1e-8  # |residual| <= TOL x throughput
ROOTS, NEG_WOOD_C, NO_LEAF, NEG_WOOD_N = 0, 3, 1, 7   # cells of the constructed state


@pytest.fixture(scope="module")
def grid(reference_grid_inputs):
    sites, met = reference_grid_inputs
    table, mp = default_casa_table(), default_mimics_params()
    p = casa_cell_params(table, sites)
    p.update({f"mim_{k}": v for k, v in mimics_cell_params(mp, sites.pft, sites.clay).items()})
    f = met.year(0)
    return sites, table, mp, p, {k: jnp.asarray(v) for k, v in f.model_inputs().items()}


def _cold(grid, soil, nitrogen):
    sites, table, mp, p, _ = grid
    cfg = ModelConfig(soil, nitrogen, mimics=mp if soil == "mimics" else None, budget_terms=True)
    st = cold_start(table, p, sites.phase0, cfg)
    if soil == "mimics":
        st = st._replace(mim=initial_pools(np.asarray(p["active"]), mp.CNr, mp.CNk))
    return cfg, st


def _year(grid, cfg, st, p=None, npp_scalar=1.0):
    p = grid[3] if p is None else p
    st0 = jax.tree.map(jnp.asarray, st)
    st1, acc, _ = run_year(st0, grid[4], to_jax(p), cfg, npp_scalar=npp_scalar)
    acc = {k: np.asarray(v) for k, v in acc.items()}
    return (dg.carbon_budget(st0, st1, acc, p, npp_scalar=npp_scalar),
            dg.nitrogen_budget(st0, st1, acc, p, nitrogen=cfg.nitrogen))


def _closes(b):
    assert np.all(np.abs(b.residual) <= TOL * b.throughput), (b.residual, b.throughput)


@pytest.mark.parametrize("soil,nitrogen", CONFIGS)
def test_budget_closes_from_cold_start(grid, soil, nitrogen):
    cfg, st = _cold(grid, soil, nitrogen)
    bc, bn = _year(grid, cfg, st)
    active = np.asarray(grid[3]["active"])
    assert np.all(bc.terms["gpp"][active] > 0) and np.all(bc.terms["heterotrophic_respiration"][active] < 0)
    _closes(bc)
    _closes(bn)
    # no clamp and no skipped plant-N update on this year: closure holds without them
    assert not np.any(bc.terms["clamp"])
    if nitrogen:
        assert not np.any(bn.terms["clamp"]) and not np.any(bn.terms["plant_n_update_skipped"])
        assert np.all(bn.terms["deposition"][active] > 0) and np.all(bn.terms["leaching"][active] < 0)
    else:
        # C-only: N is re-derived from C, never budgeted by fluxes
        assert set(bn.terms) == {"plant_n_rederived"}
        np.testing.assert_allclose(bn.change, bn.terms["plant_n_rederived"], rtol=0, atol=1e-12)
    # ice cell: nothing
    assert bc.residual[~active].tolist() == [0.0] and bc.throughput[~active].tolist() == [0.0]


def test_budget_detects_a_missing_flux(grid):
    """A term left out shows in the residual: the budget can fail."""
    cfg, st = _cold(grid, "casa", True)
    bc, bn = _year(grid, cfg, st)
    for b, name in ((bc, "heterotrophic_respiration"), (bn, "leaching")):
        partial = b.change - sum(v for k, v in b.terms.items() if k != name)
        assert np.abs(partial).max() > 1e3 * TOL * b.throughput.max()


@pytest.mark.parametrize("soil,nitrogen", CONFIGS)
def test_clamps_and_skipped_update_are_reported(grid, soil, nitrogen):
    cfg, st = _cold(grid, soil, nitrogen)
    cplant, nplant = st.cplant.copy(), st.nplant.copy()
    cplant[ROOTS, 2], nplant[ROOTS, 2] = 1e-3, 5.0   # N-rich roots: respiration takes C below 0
    cplant[NEG_WOOD_C, 1] = -0.5                      # a negative pool is clamped on day 1
    cplant[NO_LEAF, 0] = 0.0                          # no leaf C: plant N not updated (Q2)
    if nitrogen:
        nplant[NEG_WOOD_N, 1] = -0.1
    bc, bn = _year(grid, cfg, st._replace(cplant=cplant, nplant=nplant))
    _closes(bc)
    _closes(bn)
    clamp = bc.terms["clamp"]
    assert clamp[NEG_WOOD_C] > 0.4
    untouched = np.setdiff1d(np.arange(12), [ROOTS, NEG_WOOD_C, NO_LEAF, NEG_WOOD_N])
    assert not np.any(clamp[untouched])
    # without the clamp term the budget does not close in the clamped cells
    for b in (bc, bn) if nitrogen else (bc,):
        open_ = np.abs(b.residual - b.terms["clamp"]) > TOL * b.throughput
        assert np.array_equal(open_, b.terms["clamp"] > 0)
    if nitrogen:
        assert clamp[ROOTS] > 0
        assert bn.terms["clamp"][NEG_WOOD_N] > 0.08
        skipped = bn.terms["plant_n_update_skipped"]
        assert skipped[NO_LEAF] != 0 and not np.any(skipped[untouched])


@pytest.mark.parametrize("soil", ["casa", "mimics"])
def test_exudate_and_npp_perturbation_terms(grid, soil):
    p = dict(grid[3], fracRootExud=np.where(grid[3]["active"], 0.2, 0.0))
    cfg, st = _cold(grid, soil, True)
    bc, bn = _year(grid, cfg, st, p=p, npp_scalar=1.1)
    active = np.asarray(p["active"])
    assert np.all(bc.terms["root_exudate"][active] > 0) and np.all(bc.terms["npp_scaling"][active] != 0)
    _closes(bc)
    _closes(bn)


def test_budget_needs_the_terms(grid):
    """Without `budget_terms` the step reports no budget terms and the budget says so."""
    cfg, st = _cold(grid, "casa", False)
    st0 = jax.tree.map(jnp.asarray, st)
    st1, acc, _ = run_year(st0, grid[4], to_jax(grid[3]), replace(cfg, budget_terms=False))
    assert "cClamp" not in acc and "cRootExud" not in acc
    with pytest.raises(ValueError, match="budget_terms"):
        dg.carbon_budget(st0, st1, {k: np.asarray(v) for k, v in acc.items()}, grid[3])


def test_relative_residual_has_a_throughput_floor():
    from bgctestbed.diagnostics import THROUGHPUT_FLOOR, relative_residual

    r = relative_residual([2e-9, 2e-9, -3.0, np.nan], [0.0, 400.0, 1000.0, 1.0])
    assert r[0] == pytest.approx(2e-9 / THROUGHPUT_FLOOR)   # a nearly barren cell: absolute
    assert r[1] == pytest.approx(5e-12) and r[2] == pytest.approx(3e-3)
    assert r[3] == np.inf
