"""A cell's year does not depend on the batch of cells it runs in, beyond rounding, nor on
whether its forcing arrives in float32 or float64.

XLA on CPU may evaluate a product and a sum as one fused multiply-add in the code for some
array shapes and not in others, so the same cell can differ in the last digit when it runs
in another batch (dask chunks, the solver's subsets). The same batches give the same numbers
(tests/workflow/test_distributed.py)."""

import jax
import numpy as np
import pytest

from bgctestbed.init import configured_cold_start
from bgctestbed.model import run_year, to_device, to_jax
from bgctestbed.workflow import subset_sites
from bgctestbed.world import load_world

N, CHUNK = 104, 13
# last-digit differences grow through a year where they meet a threshold (MIMICS-CN mineral N
# loss: 2e-11 relative in a year, measured); cells mixed up between batches differ by O(1)
RTOL = 1e-9


@pytest.fixture(scope="module")
def world_cells():
    w = load_world()
    idx = np.arange(w.n)[::42][:N]
    return subset_sites(w.sites, idx), w.forcing(1901).model_inputs(idx)


@pytest.mark.parametrize("soil,nitrogen", [("casa", False), ("casa", True), ("mimics", False), ("mimics", True)])
def test_a_year_in_batches_equals_the_whole_to_rounding(world_cells, soil, nitrogen):
    sites, forcing = world_cells
    cfg, p, st = configured_cold_start(soil, nitrogen, sites)
    whole, acc, _ = run_year(st, to_device(forcing), to_jax(p), cfg)

    def part(v, sl):
        return v[sl] if np.ndim(v) and np.shape(v)[0] == N else v

    parts = []
    for i in range(0, N, CHUNK):
        sl = slice(i, i + CHUNK)
        f = {k: np.asarray(v)[..., sl] for k, v in forcing.items()}
        parts.append(run_year(jax.tree.map(lambda v: part(v, sl), st), to_device(f),
                              to_jax({k: part(v, sl) for k, v in p.items()}), cfg))
    for name, got in zip(whole._fields, zip(*(s for s, _, _ in parts))):
        if got[0] is None:
            continue
        for a, b in zip(jax.tree.leaves(getattr(whole, name)), zip(*map(jax.tree.leaves, got))):
            np.testing.assert_allclose(np.concatenate(b), a, rtol=RTOL, atol=1e-300, err_msg=name)
    for k, v in acc.items():     # annual sums; some (overflow fluxes) are differences near 1e-9
        np.testing.assert_allclose(np.concatenate([a[k] for _, a, _ in parts]), v, rtol=RTOL, atol=1e-12,
                                   err_msg=k)


@pytest.mark.parametrize("soil,nitrogen", [("casa", True), ("mimics", True)])
def test_float32_forcing_drives_the_year_in_float64(world_cells, soil, nitrogen):
    # the runs' float32 forcing goes to the compiled year as it is; the year casts it
    sites, forcing = world_cells
    cfg, p, st = configured_cold_start(soil, nitrogen, sites)
    as32 = {k: np.asarray(v, np.float32) for k, v in forcing.items()}
    as64 = {k: v.astype(np.float64) for k, v in as32.items()}
    (a, acc_a, _), (b, acc_b, _) = (run_year(st, f, to_jax(p), cfg) for f in (as32, as64))
    for x, y in zip(jax.tree.leaves((a, acc_a)), jax.tree.leaves((b, acc_b))):
        assert np.asarray(x).dtype == np.asarray(y).dtype
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-12, atol=1e-300)
