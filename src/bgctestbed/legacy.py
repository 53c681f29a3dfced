"""Run a case described by a reference run-control file (`fcasacnp_clm_testbed.lst`).

Reproduces the reference driver (casa.md §2.1, io_workflow.md §2.3): cold start or restart,
cycling one met file (initcasa 0/1) or one met file per calendar year (2: transient,
3: repeated transient), perturbations, the same output years, file names and formats.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .errors import InputError
from .init import cold_start, mimics_pools, restart_state
from .io import lst as lstio
from .io.refnc import write_casa_nc, write_mimics_nc
from .io import testbed as tb
from .model import ModelConfig, run_year, to_jax
from .params.casa import casa_cell_params, read_casa_table
from .params.mimics import mimics_cell_params, read_mimics_params

log = logging.getLogger(__name__)


@dataclass
class YearPlan:
    iyrcnt: int            # years simulated in this run (1-based)
    met_file: Path         # met file holding this year
    met_index: int         # 0-based year inside that file
    label: int             # year used in output file names and the time axis


def plan_years(rc) -> list[YearPlan]:
    """Years in the order the reference simulates them."""
    plans = []
    if rc.initcasa < 2:
        myear = tb.met_years(rc.met)
        k = 0
        for _ in range(rc.mloop):
            for iy in range(myear):
                k += 1
                plans.append(YearPlan(k, Path(rc.met), iy, k))
    else:
        mreps = rc.mloop if rc.initcasa == 3 else 1
        ny = rc.tyear2 - rc.tyear1 + 1
        for rep in range(mreps):
            for y in range(rc.tyear1, rc.tyear2 + 1):
                k = rep * ny + (y - rc.tyear1 + 1)
                plans.append(YearPlan(k, Path(lstio.met_path_for_year(rc, y)), 0,
                                      y if mreps == 1 else k))
    return plans


def run_lst(path, *, progress: bool = True) -> None:
    rc = lstio.read_lst(path)
    if rc.isom not in (1, 2):
        raise InputError(rc.path, f"isomModel {rc.isom} (CORPSE) is not supported; use 1 (CASA) "
                                  "or 2 (MIMICS)", line=7)
    mimics = read_mimics_params(rc.mimics_params) if rc.isom == 2 else None
    cfg = ModelConfig(soil="casa" if rc.isom == 1 else "mimics", nitrogen=rc.icycle == 2,
                      mimics=mimics)
    sites = tb.read_sites(rc.gridinfo, rc.soil, rc.phenology, rc.mp)
    table = read_casa_table(rc.casa_params)
    p = casa_cell_params(table, sites)
    if mimics is not None:
        p.update({f"mim_{k}": v for k, v in mimics_cell_params(mimics, sites.pft, sites.clay).items()})
    co2 = tb.read_co2delta(rc.co2delta)
    state = initial_state(rc, table, p, sites, cfg)
    _run(rc, cfg, sites, table, p, state, co2, progress)


def initial_state(rc, table, p, sites, cfg):
    state = _casa_initial_state(rc, table, p, sites, cfg)
    if cfg.soil != "mimics":
        return state
    r = tb.read_mimics_restart(rc.mimics_restart_in, rc.mp, cfg.nitrogen) if rc.initcasa >= 1 else None
    return state._replace(mim=mimics_pools(p, cfg.mimics, r))


def _casa_initial_state(rc, table, p, sites, cfg):
    if rc.initcasa == 0:
        return cold_start(table, p, sites.phase0, cfg)
    r = tb.read_casa_restart(rc.casa_restart_in, rc.mp, rc.icycle)
    return restart_state(r, table, p, sites.phase0, cfg)


def restart_side_effects(state, p, cfg, ncl_init):
    """What the reference's pool writer does to the live state in years it writes a restart
    file (quirk Q16): C-only N re-derived from C, mineral N 2, leaf P from leaf N; ice/water
    cells zeroed."""
    act = np.asarray(p["active"])
    s = _state_dict(state)
    if not cfg.nitrogen:
        grass = np.asarray(p["cls"]) == 1
        s["nplant"] = np.where(act[:, None], s["cplant"] * p["ratioNCplant_3"], s["nplant"])
        s["nlitter"] = np.where(act[:, None], s["clitter"] * ncl_init, s["nlitter"])
        s["nsoil"] = np.where(act[:, None], s["csoil"] * p["ratioNCsoil_3"], s["nsoil"])
        s["nsoilmin"] = np.where(act, 2.0, s["nsoilmin"])
        s["nplant"][grass, 1] = 0.0
        s["nlitter"][grass, 2] = 0.0
    s["pleaf"] = np.where(act, s["nplant"][:, 0] / p["ratioNPleaf"], s["pleaf"])
    for k in ("cplant", "clitter", "csoil", "nplant", "nlitter", "nsoil"):
        s[k][~act] = 0.0
    for k in ("clabile", "nsoilmin"):
        s[k][~act] = 0.0
    return state._replace(**{k: jnp.asarray(v) for k, v in s.items()})


def _run(rc, cfg, sites, table, p, state, co2, progress):
    plans = plan_years(rc)
    total = len(plans)
    interval = max(1, rc.nc_interval)
    pj = to_jax(p)
    state = jax.tree.map(jnp.asarray, state)
    cold = cold_start(table, p, sites.phase0, cfg)
    ncl_init = cold.nlitter / (cold.clitter + 1e-10)
    missing = sorted({str(pl.met_file) for pl in plans if not pl.met_file.exists()})
    if missing:
        raise InputError(missing[0], f"met file not found ({len(missing)} of the run's met files missing)")
    met_cache: dict = {}

    def met_for(plan):
        key = str(plan.met_file)
        if key not in met_cache:
            met_cache.clear()
            forcing, grid = tb.read_met(plan.met_file, rc.mp)
            tb.check_sites_match_met(sites, grid, plan.met_file)
            met_cache[key] = (forcing, grid)
        return met_cache[key]

    met_for(plans[0])  # validate the first forcing before any output is written
    din_an = np.zeros(sites.n)
    for plan in _progress(plans, progress):
        forcing, grid = met_for(plan)
        forcing = forcing.year(plan.met_index)
        fy = forcing.model_inputs()
        npp_scalar = 1.0
        if plan.iyrcnt >= co2["deltYr"]:
            fy["tairk"] = fy["tairk"] + co2["deltair"]
            fy["tsoil"] = fy["tsoil"] + co2["deltsoil"]
            npp_scalar = co2["nppMult"]
        out_year = plan.iyrcnt == 1 or plan.iyrcnt % interval == 0 or plan.iyrcnt == total
        restart_year = plan.iyrcnt % 100 == 0 or plan.iyrcnt == total
        daily = rc.mdaily == 1 and out_year
        fyj = {k: jnp.asarray(v) for k, v in fy.items()}
        state, acc, ys = run_year(state, fyj, pj, cfg, daily=daily, npp_scalar=npp_scalar)
        acc = {k: np.asarray(v) for k, v in acc.items()}
        mim_on = cfg.soil == "mimics"
        if mim_on:
            din_an = din_an + acc["mimics:DIN"]
        if daily:
            vals = {k: np.asarray(v) for k, v in ys.items()}
            time = plan.label + np.arange(1, 366) / 365.0
            write_casa_nc(lstio.nc_output_name(rc.casa_nc, plan.label, daily=True), grid, sites,
                          vals, time, np.arange(1, 366), parameters_name=rc.raw["casa_params"],
                          active=p["active"])
            if mim_on:
                write_mimics_nc(lstio.nc_output_name(rc.mimics_nc, plan.label, daily=True), grid,
                                sites, _mimics_values(vals), time, np.arange(1, 366),
                                parameters_name=rc.raw["mimics_params"], active=p["active"])
        # end-of-year writers: every year in transient modes, output years otherwise
        if rc.initcasa >= 2 or out_year:
            if mim_on:
                # annual DIN is rescaled but never reset (reference quirk Q2)
                din_an = din_an * (1.0 / 365.0)
            if rc.mdaily == 0 and out_year:
                ann = annual_values(acc)
                write_casa_nc(lstio.nc_output_name(rc.casa_nc, plan.label, daily=False), grid,
                              sites, ann, np.array([float(plan.label)]),
                              parameters_name=rc.raw["casa_params"], active=p["active"])
                if mim_on:
                    mv = _mimics_values(ann)
                    mv["DIN"] = din_an[None, :]
                    write_mimics_nc(lstio.nc_output_name(rc.mimics_nc, plan.label, daily=False),
                                    grid, sites, mv, np.array([float(plan.label)]),
                                    parameters_name=rc.raw["mimics_params"], active=p["active"])
            if mim_on:
                tb.write_mimics_diagnostic(Path(rc.path).parent / "mimics_diagnostic.csv", plan.iyrcnt,
                                           sites, acc["_lig_n"], acc["_fmet"])
            if restart_year:
                state = restart_side_effects(state, p, cfg, ncl_init)
                write_restarts(rc.casa_restart_out, rc.mimics_restart_out, plan.iyrcnt, sites, state, p, cfg)
            tb.write_casa_flux(rc.casa_flux_out, tb.met_years(plan.met_file)
                               if rc.initcasa < 2 else 1, sites, _flux_dict(acc, cfg), cfg.nitrogen)


def _mimics_values(vals: dict) -> dict:
    return {k.split(":", 1)[1]: v for k, v in vals.items() if k.startswith("mimics:")}


ANNUAL_MEAN = {"cleaf", "nleaf", "cwood", "nwood", "cfroot", "nfroot", "clitmetb", "nlitmetb",
               "clitstr", "nlitstr", "clitcwd", "nlitcwd", "csoilmic", "nsoilmic", "csoilslow",
               "nsoilslow", "csoilpass", "nsoilpass", "tairC", "tsoilC", "thetaLiq", "fT", "fW",
               "nMineral"} | {f"mimics:{x}{k}" for x in "cn" for k in
                               ("LITm", "LITs", "MICr", "MICk", "SOMa", "SOMc", "SOMp")} | {
    "mimics:thetaLiq", "mimics:thetaFrzn", "mimics:fW"}


def annual_values(acc: dict) -> dict:
    """Annual file values from the year's sums: pools/state means, fluxes totals."""
    return {k: (v * (1.0 / 365.0) if k in ANNUAL_MEAN else v)[None, :] for k, v in acc.items()}


def _flux_dict(acc, cfg):
    d = dict(npp=acc["cnpp"], rh=acc["cresp"], nep=acc["cnpp"] - acc["cresp"], ra=acc["crp"])
    if cfg.nitrogen:
        d.update(ndep=acc["nMinDep"], nfix=acc["nMinFix"], nsnet=acc["nNetMineralization"],
                 nup=acc["nMinUptake"], nleach=acc["nMinLeach"], nloss=acc["nMinLoss"])
    return d


def write_restarts(casa_path, mimics_path, iyrcnt: int, sites, state, p: dict, cfg) -> None:
    """The state as the reference's CASA restart CSV (and MIMICS restart CSV in MIMICS runs)."""
    st = _state_dict(state)
    tb.write_casa_restart(casa_path, iyrcnt, sites, st, cfg.icycle, sla=p["sla"],
                          pplant=st["nplant"] / p["ratioNPplant_3"])
    if state.mim is not None:
        pools = {k: np.asarray(v) for k, v in state.mim._asdict().items()}
        tb.write_mimics_restart(mimics_path, iyrcnt, sites, pools, cfg.nitrogen)


def _state_dict(state):
    return {k: np.array(v) for k, v in state._asdict().items() if k != "mim"}


def _progress(it, enabled):
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, unit="yr", desc="simulating", leave=False, disable=None)  # off when not a terminal
