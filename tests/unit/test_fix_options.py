"""The corrections of reference quirks are off by default and change results when on."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bgctestbed.init import cold_start
from bgctestbed.model import ModelConfig, run_year, to_jax
from bgctestbed.params.casa import casa_cell_params, default_casa_table


@pytest.fixture(scope="module")
def setup(reference_grid_inputs):
    sites, forcing = reference_grid_inputs
    f = forcing.year(0)
    fy = {k: jnp.asarray(v) for k, v in f.model_inputs().items()}
    return sites, fy


def _year(sites, fy, cfg, **kw):
    table = default_casa_table()
    p = casa_cell_params(table, sites, **kw)
    st = jax.tree.map(jnp.asarray, cold_start(table, p, sites.phase0, cfg))
    _, acc, _ = run_year(st, fy, to_jax(p), cfg)
    return {k: np.asarray(v) for k, v in acc.items()}


def test_defaults_reproduce_reference():
    cfg = ModelConfig()
    assert not any(getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name.startswith("fix_"))


@pytest.mark.parametrize("option,variable", [("fix_btran_floor", "cleaf"),
                                             ("fix_n_loss_branch", "nMinLoss")])
def test_fix_changes_results(setup, option, variable):
    sites, fy = setup
    base = _year(sites, fy, ModelConfig("casa", True))
    fixed = _year(sites, fy, ModelConfig("casa", True, **{option: True}))
    assert not np.allclose(base[variable], fixed[variable])


def test_cumulative_roots_change_soil_temperature(setup):
    sites, fy = setup
    base = _year(sites, fy, ModelConfig("casa", False))
    fixed = _year(sites, fy, ModelConfig("casa", False), cumulative_roots=True)
    assert not np.allclose(base["tsoilC"], fixed["tsoilC"])
