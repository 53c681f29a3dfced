"""Initial states: cold start from the PFT table, or a restart (casa.md §1.6)."""

from __future__ import annotations

import numpy as np

from .model import ModelConfig, State
from .params.casa import CasaTable


def _table_pools(table: CasaTable, pft: np.ndarray, woody: np.ndarray, prefix: str, names):
    i = pft - 1
    out = []
    for nm in names:
        v = table[f"{prefix}_{nm}"][i].astype(float)
        if nm in ("wood", "cwd"):
            v = np.where(woody, v, 0.0)
        out.append(v)
    return np.stack(out, -1)


def cold_start(table: CasaTable, p: dict, phase0, cfg: ModelConfig) -> State:
    """Pools from the PFT table (wood and CWD only for shrubs/forests), structural litter N
    at C:N 150, mineral N from the table, LAI from leaf C (casa.md §1.6, initcasa 0)."""
    pft, woody = np.asarray(p["pft"]), np.asarray(p["woody"])
    cplant = _table_pools(table, pft, woody, "cinit", ("leaf", "wood", "froot"))
    clitter = _table_pools(table, pft, woody, "cinit", ("met", "str", "cwd"))
    csoil = _table_pools(table, pft, woody, "cinit", ("mic", "slow", "pass"))
    nplant = _table_pools(table, pft, woody, "ninit", ("leaf", "wood", "froot"))
    nlitter = _table_pools(table, pft, woody, "ninit", ("met", "str", "cwd"))
    nlitter[:, 1] = clitter[:, 1] / 150.0
    nsoil = _table_pools(table, pft, woody, "ninit", ("mic", "slow", "pass"))
    nsoilmin = table["ninit_min"][pft - 1].astype(float)
    glai = np.maximum(p["glaimin"], p["sla"] * cplant[:, 0])
    pools = dict(cplant=cplant, nplant=nplant, clitter=clitter, nlitter=nlitter, csoil=csoil,
                 nsoil=nsoil, nsoilmin=nsoilmin, glai=glai, phase=np.asarray(phase0),
                 clabile=np.zeros(len(pft)))
    return finish_state(pools, table, p, cfg)


def finish_state(pools: dict, table: CasaTable, p: dict, cfg: ModelConfig) -> State:
    """Checks every run applies to its initial pools (casa.md §1.6): labile C reset, C >= 0,
    C-only N derived from C, C+N pools >= 1e-6; leaf P from the table."""
    pft = np.asarray(p["pft"])
    cplant = np.maximum(0.0, pools["cplant"])
    clitter = np.maximum(0.0, pools["clitter"])
    csoil = np.maximum(0.0, pools["csoil"])
    if cfg.nitrogen:
        nplant = np.maximum(1e-6, pools["nplant"])
        nlitter = np.maximum(1e-6, pools["nlitter"])
        nsoil = np.maximum(1e-6, pools["nsoil"])
        nsoilmin = np.maximum(1e-6, pools["nsoilmin"])
    else:
        nplant = cplant * p["ratioNCplant_3"]
        nlitter = pools["nlitter"]
        nsoil = csoil * p["ratioNCsoil_3"]
        nsoilmin = np.full(len(pft), 2.5)
    n = len(pft)
    return State(cplant=cplant, nplant=nplant, pleaf=table["pinit_leaf"][pft - 1].astype(float),
                 clabile=np.zeros(n), clitter=clitter, nlitter=nlitter, csoil=csoil,
                 nsoil=nsoil, nsoilmin=nsoilmin, glai=np.asarray(pools["glai"], float),
                 phase=np.asarray(pools["phase"], dtype=np.int32), cnppan=np.full(n, -99.9))


def restart_state(r: dict, table: CasaTable, p: dict, phase0, cfg: ModelConfig) -> State:
    """State from a reference CASA restart as read by `io.testbed.read_casa_restart`; N pools
    missing from a C-only file come from the cold start (casa.md §1.6, initcasa >= 1)."""
    cold = cold_start(table, p, phase0, cfg)
    pools = dict(cplant=r["cplant"], clitter=r["clitter"], csoil=r["csoil"], glai=r["glai"],
                 phase=r["phase"], clabile=r["clabile"],
                 nplant=r.get("nplant", cold.nplant), nlitter=r.get("nlitter", cold.nlitter),
                 nsoil=r.get("nsoil", cold.nsoil), nsoilmin=r.get("nsoilmin", cold.nsoilmin))
    return finish_state(pools, table, p, cfg)


def mimics_pools(p: dict, mp, restart: dict | None = None):
    """MIMICS pools (jax arrays, floored at 0): a cold start (mimics.md §5), with the pools of
    a restart (`io.testbed.read_mimics_restart`) replacing those it holds."""
    import jax.numpy as jnp

    from .physics.mimics import initial_pools

    pools = initial_pools(np.asarray(p["active"]), mp.CNr, mp.CNk)
    if restart:
        pools = pools._replace(**restart)
    return type(pools)(*(jnp.maximum(jnp.asarray(x), 0.0) for x in pools))


def configured_cold_start(soil: str, nitrogen: bool, sites, table: CasaTable | None = None, mimics=None):
    """ModelConfig, cell parameters (numpy) and the cold-start state (jax arrays) of one
    configuration with the default (or given) parameter tables."""
    import jax
    import jax.numpy as jnp

    from .params.casa import casa_cell_params, default_casa_table
    from .params.mimics import default_mimics_params, mimics_cell_params

    table = table or default_casa_table()
    mp = (mimics or default_mimics_params()) if soil == "mimics" else None
    cfg = ModelConfig(soil, nitrogen, mimics=mp)
    p = casa_cell_params(table, sites)
    if mp is not None:
        p.update({f"mim_{k}": v for k, v in mimics_cell_params(mp, sites.pft, sites.clay).items()})
    st = cold_start(table, p, sites.phase0, cfg)
    if mp is not None:
        st = st._replace(mim=mimics_pools(p, mp))
    return cfg, p, jax.tree.map(jnp.asarray, st)
