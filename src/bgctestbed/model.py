"""The model: state pytree, the daily step (vegetation -> soil), and a year as `lax.scan`.

One configuration (`ModelConfig`) selects the soil model (CASA or MIMICS) and the nitrogen
cycle; the vegetation code is shared. All cells are independent: every array is (n,) or
(n, k) and the same code runs vectorised on CPU, on an accelerator, or split across workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

from .params.mimics import MimicsParams  # noqa: E402
from .physics import casa_soil as cs  # noqa: E402
from .physics import mimics as mim  # noqa: E402
from .physics import vegetation as veg  # noqa: E402
from .physics.environment import TK0, avgsoil  # noqa: E402

@dataclass(frozen=True)
class ModelConfig:
    """Static choices of a run.

    soil: "casa" or "mimics"; nitrogen: C+N (True) or C-only (False).
    Reference quirks are reproduced by default; `fix_*` options switch on corrections.
    """

    soil: str = "casa"
    nitrogen: bool = True
    mimics: MimicsParams | None = None   # MIMICS parameters (soil == "mimics")
    # Corrections of reference quirks (all off = the reference's numbers; see docs/quirks.md)
    fix_plant_n_update: bool = False   # Q2: update plant N even when leaf C is not positive
    fix_btran_floor: bool = False      # Q6: drought index floored at 0
    fix_n_loss_branch: bool = False    # Q7: frozen soil with ample N loses N at the unfrozen rate
    # Report the daily terms of the mass budgets (`diagnostics`): root exudate, labile loss,
    # clamp gains, skipped plant-N change. Off by default: they cost ~10-25 % in CASA runs.
    budget_terms: bool = False
    # Report each pool's daily survival fraction 1 - specific loss rate as "sv:<field>"
    # (multiplied over a year: the fraction of a pool's start value its losses leave at the
    # end, the diagonal preconditioner of the steady-state solver). Off by default.
    loss_rates: bool = False

    def __post_init__(self):
        if self.soil not in ("casa", "mimics"):
            raise ValueError(f"soil model must be 'casa' or 'mimics', not {self.soil!r}")
        if self.soil == "mimics" and self.mimics is None:
            raise ValueError("MIMICS runs need MIMICS parameters")

    @property
    def icycle(self) -> int:
        return 2 if self.nitrogen else 1


class State(NamedTuple):
    """Prognostic state (per cell; plant parts leaf/wood/froot, litter metb/str/cwd, SOM
    mic/slow/pass on the last axis). C in gC m-2, N in gN m-2."""

    cplant: jax.Array      # (n, 3)
    nplant: jax.Array      # (n, 3)
    pleaf: jax.Array       # (n,) leaf P stub that sets growth efficiency (quirk Q3), gP m-2
    clabile: jax.Array     # (n,)
    clitter: jax.Array     # (n, 3)
    nlitter: jax.Array     # (n, 3)
    csoil: jax.Array       # (n, 3)
    nsoil: jax.Array       # (n, 3)
    nsoilmin: jax.Array    # (n,) mineral N
    glai: jax.Array        # (n,) leaf area index, m2 m-2
    phase: jax.Array       # (n,) int phenological phase 0-3
    cnppan: jax.Array      # (n,) previous year's NPP, gC m-2 yr-1 (MIMICS turnover); <= -99: unset
    mim: mim.MimicsPools | None = None   # MIMICS pools, mg cm-3 (MIMICS runs)


def to_jax(p: dict) -> dict:
    return {k: jnp.asarray(v) for k, v in p.items()}


def to_device(f: dict) -> dict:
    """A year's forcing on the device, in its own dtype (float32 from the readers). The model
    year casts it to float64 inside its compiled function (exact), where the cast is fused into
    the first use: cast beforehand, a year of the world's forcing took 0.17 s, two thirds
    of the CASA-CN year it drives."""
    return {k: jnp.asarray(v) for k, v in f.items()}


def day_step(state: State, met: dict, p: dict, cfg: ModelConfig, npp_scalar=1.0):
    """One day (casa.md §2.2). `met`: cgpp, tairk, ndep, and the root-weighted soil state
    tsoilavg, moistavg, frznmoistavg, btran (n,) (`soil_drivers`), iday (scalar day of year).
    Returns (new state, dict of daily diagnostics)."""
    act = p["active"]
    n_on = cfg.nitrogen
    cgpp = jnp.where(act, met["cgpp"], 0.0)
    tairk = met["tairk"]
    phase = veg.phenology(state.phase, met["iday"], p["doyphase_4"], p["pft"])
    tsoilavg, moistavg, frznavg = met["tsoilavg"], met["moistavg"], met["frznmoistavg"]
    btran = jnp.maximum(met["btran"], 0.0) if cfg.fix_btran_floor else met["btran"]
    rp = veg.rplant(cgpp, tairk, tsoilavg, state.cplant, state.nplant, state.clabile, state.pleaf, p)
    cnpp = rp["cnpp"] * npp_scalar
    fcalloc = veg.allocation(phase, state.glai, cnpp, rp["rm"], p)
    xcold, xdry, xkleaf = veg.xrateplant(tairk, btran, phase, p)
    cexud = jnp.where(act & (cgpp > 0.0), jnp.maximum(0.0, p["fracRootExud"] * cgpp), 0.0)
    cgpp = cgpp - cexud
    kpl = veg.kplant(xcold, xdry, xkleaf, state.glai, p)
    if cfg.soil == "mimics":
        return _mimics_day(state, met, p, cfg, dict(
            cgpp=cgpp, tairk=tairk, phase=phase, tsoilavg=tsoilavg, moistavg=moistavg,
            frznavg=frznavg, rp=rp, cnpp=cnpp, fcalloc=fcalloc, cexud=cexud, kpl=kpl))
    ln = veg.litter_lignin_n(state.cplant, state.nplant, p)
    fmet = jnp.where(act[:, None], veg.metabolic_fraction(ln), 0.0)
    if n_on:
        cnpp, fracclab = veg.xnp(cnpp, cgpp, fcalloc, kpl, state.cplant, state.nplant,
                                 state.nsoilmin, p)
    else:
        fracclab = jnp.zeros_like(cnpp)
    xklitter, xksoil, theta, f_t, f_w = cs.xratesoil(tsoilavg, moistavg, p)
    klit, ksoil = cs.decay_rates(xklitter, xksoil, p)
    zero = jnp.zeros_like(cgpp)
    if n_on:
        ncnew = cs.ncsoil_new(state.nsoilmin, p)
        xkn = veg.xkn_limiting(state.nsoilmin, p)
        tot_lit = state.clitter[:, 0] + state.clitter[:, 1] + state.clitter[:, 2]
        xkn = jnp.where(act & (tot_lit > p["maxlitter"]), 1.0, xkn)
        klit = klit * xkn[:, None]
        nup, fracnalloc = veg.nuptake(cnpp, fcalloc, kpl, state.cplant, state.nplant,
                                      state.nsoilmin, xkn, p)
    else:
        nup, fracnalloc = zero, jnp.zeros_like(fcalloc)
    dp = veg.delplant(cnpp, cgpp, fcalloc, fracclab, rp["clabloss"], kpl, state.cplant, fmet, cexud, p)
    flux_c_lit = jnp.stack([dp["cleaf2met"] + dp["croot2met"], dp["cleaf2str"] + dp["croot2str"],
                            dp["cwood2cwd"]], -1)
    ds = cs.delsoil(klit, ksoil, state.clitter, state.csoil, flux_c_lit, p)
    if n_on:
        dn = veg.delplant_n(kpl, state.nplant, fracnalloc, nup, dp["cleaf2str"], dp["croot2str"], p)
        dsn = cs.delsoil_n(klit, ksoil, state.nlitter, state.nsoil, state.nsoilmin,
                           ds["fluxctosoil"], dn["fluxntolitter"], ncnew, met["ndep"], nup, tsoilavg, p,
                           fix_loss_branch=cfg.fix_n_loss_branch)
    # --- pool update and clamps (casa.md §4.6)
    a1 = act[:, None]
    cplant = jnp.where(a1, state.cplant + dp["dcplant"], state.cplant)
    clabile = jnp.where(act, state.clabile + dp["dclabile"], state.clabile)
    if n_on:
        upd = act if cfg.fix_plant_n_update else act & (cplant[:, 0] > 0.0)
        nplant = jnp.where(upd[:, None], state.nplant + dn["dnplant"], state.nplant)
    else:
        nplant = state.nplant
    glai = jnp.where(act, jnp.minimum(p["glaimax"], jnp.maximum(p["glaimin"], p["sla"] * cplant[:, 0])), 0.0)
    clitter = jnp.where(a1, state.clitter + ds["dclitter"], state.clitter)
    csoil = jnp.where(a1, state.csoil + ds["dcsoil"], state.csoil)
    if n_on:
        nlitter = jnp.where(a1, state.nlitter + dsn["dnlitter"], state.nlitter)
        nsoil = jnp.where(a1, state.nsoil + dsn["dnsoil"], state.nsoil)
        nsoilmin = jnp.where(act, state.nsoilmin + dsn["dnsoilmin"], state.nsoilmin)
    else:
        nlitter, nsoil, nsoilmin = state.nlitter, state.nsoil, state.nsoilmin

    def clamp(x):
        return jnp.where(a1, jnp.maximum(x, 0.0), x)

    budget = {}
    if cfg.budget_terms:
        budget = dict(cRootExud=cexud, cLabileLoss=rp["clabloss"], cClamp=_clamp_gain(a1, cplant, clitter, csoil),
                      nClamp=_clamp_gain(a1, nplant, nlitter, nsoil) if n_on else zero,
                      nPlantSkip=_skipped_n(act, upd, dn["dnplant"]) if n_on else zero)
    cplant, clitter, csoil = clamp(cplant), clamp(clitter), clamp(csoil)
    if n_on:
        nplant, nlitter, nsoil = clamp(nplant), clamp(nlitter), clamp(nsoil)
    # leaf P stub and C-only plant N (casa_pdummy / casa_ndummy, quirk Q3)
    pleaf = nplant[:, 0] / p["ratioNPleaf"]
    if not n_on:
        nplant = cplant * p["ratioNCplant_3"]
    new = state._replace(cplant=cplant, nplant=nplant, pleaf=pleaf, clabile=clabile, clitter=clitter,
                         nlitter=nlitter, csoil=csoil, nsoil=nsoil, nsoilmin=nsoilmin, glai=glai,
                         phase=phase)
    nf = dsn if n_on else {k: zero for k in ("nlittermin", "nsmin", "nsimm", "nsnet", "nminloss", "nminleach")}
    nflux = dict(nLitInptMet=(dn["nleaf2met"] + dn["nroot2met"]) if n_on else zero,
                 nLitInptStruc=(dn["nleaf2str"] + dn["nroot2str"] + klit[:, 2] * state.nlitter[:, 2])
                 if n_on else zero,
                 nMinUptake=nup, nMinLeach=nf["nminleach"], nMinLoss=nf["nminloss"],
                 nLitMineralization=nf["nlittermin"], nSoilMineralization=nf["nsmin"],
                 nSoilImmob=nf["nsimm"], nNetMineralization=nf["nsnet"])
    out = _casa_out(cgpp, cnpp, ds["crsoil"], cplant, nplant, clitter, nlitter, csoil, nsoil, nsoilmin,
                    tairk, tsoilavg, dp["cleaf2met"] + dp["croot2met"],
                    dp["cleaf2str"] + dp["croot2str"] + ds["cwd2som"], ds["cpassinpt"], theta, f_t, f_w,
                    met["ndep"], p["Nminfix"], nflux, rp["crp"])
    out.update(budget)
    if cfg.loss_rates:
        out.update(_survival(cplant=kpl, nplant=_plant_n_loss_rate(kpl, fracnalloc, p, n_on), clitter=klit,
                             nlitter=klit, csoil=ksoil, nsoil=ksoil))
    return new, out


def _plant_n_loss_rate(kpl, fracnalloc, p, n_on):
    """Specific loss rate of plant N (d-1): turnover times the share not retranslocated
    (all of it from leaves that get no new N), as in `delplant_n`. C-only runs set plant N
    from plant C every day (casa_ndummy), so it is lost at the rate of plant C."""
    if not n_on:
        return kpl
    ft = p["ftransNPtoL_3"]
    leaf = jnp.where(fracnalloc[:, 0] == 0.0, 1.0, ft[:, 0])
    return kpl * jnp.stack([leaf, ft[:, 1], ft[:, 2]], -1)


def _survival(steps=1, **rates):
    """Daily survival, (1 - k)^steps, of pools with specific loss rates k per step; a rate of
    1 or more (or an unused pool) gives 0: nothing of the start value survives. A product
    over the year rather than a sum of logs: the logs made a world year of CASA-C 1.42 times
    as costly as one without them, the products 1.07 times."""
    return {f"sv:{k}": (1.0 - jnp.minimum(v, 1.0)) ** steps for k, v in rates.items()}


def _clamp_gain(a1, *pools):
    """Mass (g m-2 d-1) the clamps of negative pools to zero add to active cells: the
    reference's clamps are not fluxes, so the budget carries them as a term of their own."""
    return sum(jnp.sum(jnp.where(a1, jnp.maximum(-x, 0.0), 0.0), axis=-1) for x in pools)


def _skipped_n(act, upd, dnplant):
    """Plant N change (g m-2 d-1) computed but not applied where leaf C is not positive
    (quirk Q2): uptake and litterfall N still move, so the N budget carries it as a term."""
    return jnp.where(act & ~upd, jnp.sum(dnplant, axis=-1), 0.0)


def _mimics_day(state: State, met: dict, p: dict, cfg: ModelConfig, c: dict):
    """Soil part of a day with MIMICS (casa.md §2.3, mimics.md §2): CWD decays on the CASA
    side, litter goes to MIMICS, microbes exchange N with the CASA mineral pool (leaching,
    microbe-visible DIN, N loss and the hand-back all in `mimics_soil_day`)."""
    act = p["active"]
    a1 = act[:, None]
    mp = cfg.mimics
    n_on = cfg.nitrogen
    cgpp, cnpp, kpl, fcalloc = c["cgpp"], c["cnpp"], c["kpl"], c["fcalloc"]
    zero = jnp.zeros_like(cgpp)
    # lignin:N of leaf and fine-root litter (mimics_coeffplant)
    static_ln = p["lignin_3"] / jnp.maximum(0.001, p["ratioNCplant_3"])
    if n_on:
        q = (0, 2)
        cn = state.cplant[:, q] / jnp.maximum(1e-10, state.nplant[:, q])
        cnmax = 1.0 / p["ratioNCplantmin_3"][:, q]
        ft, lg = p["ftransNPtoL_3"][:, q], p["lignin_3"][:, q]
        ln = jnp.where(cn > cnmax, cnmax / ft * lg,
                       state.cplant[:, q] / (jnp.maximum(1e-10, state.nplant[:, q]) * ft) * lg)
    else:
        ln = static_ln[:, (0, 2)]
    fmet_p = jnp.where(a1, veg.metabolic_fraction(ln, *mp.fmet_p), 0.0)
    if n_on:
        cnpp, fracclab = veg.xnp(cnpp, cgpp, fcalloc, kpl, state.cplant, state.nplant, state.nsoilmin, p)
    else:
        fracclab = zero
    # CWD decay (mimics_xratesoil)
    _, _, theta_casa, xktemp, xkwater = cs.xratesoil(c["tsoilavg"], c["moistavg"], p)
    kcwd = jnp.where(act, p["xkoptlitter"] * xktemp * xkwater * p["litterrate_3"][:, 2], 0.0)
    lw = p["lignin_3"][:, 1]
    fco2 = jnp.clip(1.0 - 0.40 * (1.0 - lw) - 0.7 * lw, 0.0, 1.0)
    if n_on:
        xkn = veg.xkn_limiting(state.nsoilmin, p)
        nup, fracnalloc = veg.nuptake(cnpp, fcalloc, kpl, state.cplant, state.nplant, state.nsoilmin, xkn, p)
    else:
        nup, fracnalloc = zero, jnp.zeros_like(fcalloc)
    dp = veg.delplant(cnpp, cgpp, fcalloc, fracclab, c["rp"]["clabloss"], kpl, state.cplant, fmet_p,
                      c["cexud"], p)
    cwd_dec = kcwd * state.clitter[:, 2]
    cwd2co2 = fco2 * cwd_dec
    cwd2str = (1.0 - fco2) * cwd_dec
    uc = p["mim_uc"]
    cellp = dict(depth=p["mim_depth"], uc=uc, Kmod=p["mim_Kmod"], desorp=p["mim_desorp"],
                 fPHYS_r=p["mim_fPHYS_r"], fPHYS_k=p["mim_fPHYS_k"], active=act,
                 **{k: p[f"mim_{k}"] for k in mim.CELL_KINETICS if f"mim_{k}" in p})
    nkw = {}
    if n_on:
        dn = veg.delplant_n(kpl, state.nplant, fracnalloc, nup, dp["cleaf2str"], dp["croot2str"], p)
        nkw = dict(nleaf2met=dn["nleaf2met"], nleaf2str=dn["nleaf2str"], nroot2met=dn["nroot2met"],
                   nroot2str=dn["nroot2str"], nwd2str=kcwd * state.nlitter[:, 2])
    lit = mim.litter_partition(dp["cleaf2met"], dp["cleaf2str"], dp["croot2met"], dp["croot2str"],
                               cwd2str, ln[:, 0], ln[:, 1], static_ln[:, 1], cellp, mp, **nkw)
    drivers = dict(tsoilavg=c["tsoilavg"], moistavg=c["moistavg"], frznmoistavg=c["frznavg"],
                   ssat=p["ssat"], CnppAn=state.cnppan, fmet=lit["fmet"],
                   ClitInput_metb=lit["ClitInput_metb"], ClitInput_struc=lit["ClitInput_struc"])
    if n_on:
        drivers.update(NlitInput_metb=lit["NlitInput_metb"], NlitInput_struc=lit["NlitInput_struc"],
                       Nsoilmin=state.nsoilmin, fNminleach=p["fNminleach"], fNminloss=p["fNminloss"],
                       Nmindep=met["ndep"], Nminfix=p["Nminfix"], Nupland=nup)
    pools, fx = mim.mimics_soil_day(state.mim, drivers, cellp, mp, n_on,
                                    fix_n_loss_branch=cfg.fix_n_loss_branch)
    # plant, labile and CWD updates (mimics_ccycle / mimics_cncycle)
    cplant = jnp.where(a1, state.cplant + dp["dcplant"], state.cplant)
    clabile = jnp.where(act, state.clabile + dp["dclabile"], state.clabile)
    glai = jnp.where(act, jnp.minimum(p["glaimax"], jnp.maximum(p["glaimin"], p["sla"] * cplant[:, 0])), 0.0)
    clitter = state.clitter.at[:, 2].set(jnp.where(act, state.clitter[:, 2] + dp["cwood2cwd"] - cwd_dec,
                                                   state.clitter[:, 2]))
    nlitter, nsoilmin, nplant = state.nlitter, state.nsoilmin, state.nplant
    budget = {}
    if cfg.budget_terms:
        budget = dict(cRootExud=c["cexud"], cLabileLoss=c["rp"]["clabloss"], nClamp=zero, nPlantSkip=zero)
    if n_on:
        nsoilmin = jnp.where(act, fx["Nsoilmin"] + fx["dNsoilmindt"], state.nsoilmin)
        upd = act if cfg.fix_plant_n_update else act & (cplant[:, 0] > 0.0)
        nplant = jnp.where(upd[:, None], state.nplant + dn["dnplant"], state.nplant)
        nlitter = state.nlitter.at[:, 2].set(jnp.where(act, state.nlitter[:, 2] + dn["nwood2cwd"]
                                                       - kcwd * state.nlitter[:, 2], state.nlitter[:, 2]))
        if cfg.budget_terms:
            budget.update(nClamp=_clamp_gain(a1, nplant), nPlantSkip=_skipped_n(act, upd, dn["dnplant"]))
        nplant = jnp.where(a1, jnp.maximum(nplant, 0.0), nplant)
    if cfg.budget_terms:
        budget["cClamp"] = _clamp_gain(a1, cplant)
    cplant = jnp.where(a1, jnp.maximum(cplant, 0.0), cplant)
    pleaf = nplant[:, 0] / p["ratioNPleaf"]
    if not n_on:
        nplant = cplant * p["ratioNCplant_3"]
    new = state._replace(cplant=cplant, nplant=nplant, pleaf=pleaf, clabile=clabile, clitter=clitter,
                         nlitter=nlitter, nsoilmin=nsoilmin, glai=glai, phase=c["phase"], mim=pools)
    # mimics_caccum: the respired CWD C is counted in MIMICS heterotrophic respiration
    chresp = jnp.where(act, (fx["Chresp"] + cwd2co2 / uc) * uc, 0.0)
    mout = {f"c{k}": getattr(pools, k) * uc for k in ("LITm", "LITs", "MICr", "MICk", "SOMa", "SOMc", "SOMp")}
    mout.update({f"n{k}": getattr(pools, k + "N") * uc for k in ("LITm", "LITs", "MICr", "MICk", "SOMa", "SOMc", "SOMp")})
    mout.update(cHresp=chresp, cSOMpIn=fx["CSOMpInput"] * uc, cLitInput_metb=lit["ClitInput_metb"] * uc * act,
                cLitInput_struc=lit["ClitInput_struc"] * uc * act, cOverflow_r=fx["Overflow_r"] * uc,
                cOverflow_k=fx["Overflow_k"] * uc, DIN=(fx["DIN"] * uc if n_on else zero),
                nLitInput_metb=lit["NlitInput_metb"] * uc * act,
                nLitInput_struc=lit["NlitInput_struc"] * uc * act,
                thetaLiq=fx["theta_liq"], thetaFrzn=fx["theta_frzn"], fW=fx["fW"])
    nflux = dict(nLitInptMet=(dn["nleaf2met"] + dn["nroot2met"]) if n_on else zero,
                 nLitInptStruc=(dn["nleaf2str"] + dn["nroot2str"] + nkw["nwd2str"]) if n_on else zero,
                 nMinUptake=nup)
    nflux.update({k: fx[v] if n_on else zero for k, v in (
        ("nMinLeach", "Nminleach"), ("nMinLoss", "Nminloss"), ("nLitMineralization", "Nlittermin"),
        ("nSoilMineralization", "Nsmin"), ("nSoilImmob", "Nsimm"), ("nNetMineralization", "Nsnet"))})
    out = _casa_out(cgpp, cnpp, chresp, cplant, nplant, clitter, nlitter, state.csoil, state.nsoil,
                    nsoilmin, c["tairk"], c["tsoilavg"],
                    dp["cleaf2met"] + dp["croot2met"], dp["cleaf2str"] + dp["croot2str"] + cwd2str,
                    zero, zero, zero, zero, met["ndep"], p["Nminfix"], nflux, c["rp"]["crp"])
    out.update({"mimics:" + k: v for k, v in mout.items()})
    out["_lig_n"] = jnp.where(act, lit["ligNavg"], 0.0)
    out["_fmet"] = jnp.where(act, lit["fmet"], 0.0)
    out.update(budget)
    if cfg.loss_rates:
        one = jnp.ones_like(kcwd)
        klit = jnp.stack([one, one, kcwd], -1)
        hourly = mim.specific_loss_rates(state.mim, drivers, cellp, mp, n_on)
        out.update(_survival(cplant=kpl, nplant=_plant_n_loss_rate(kpl, fracnalloc, p, n_on), clitter=klit,
                             nlitter=klit))
        # 24 hourly steps at the day's start rates
        out.update(_survival(mim.HOURS, **hourly))
    return new, out


def _casa_out(cgpp, cnpp, cresp, cplant, nplant, clitter, nlitter, csoil, nsoil, nsoilmin, tairk,
              tsoilavg, clit_met, clit_str, cpass, theta, f_t, f_w, ndep, nfix, nflux, crp):
    """Daily diagnostics of the CASA output file."""
    out = dict(
        cresp=cresp, cnpp=cnpp, cgpp=cgpp,
        cleaf=cplant[:, 0], nleaf=nplant[:, 0], cwood=cplant[:, 1], nwood=nplant[:, 1],
        cfroot=cplant[:, 2], nfroot=nplant[:, 2],
        clitmetb=clitter[:, 0], nlitmetb=nlitter[:, 0], clitstr=clitter[:, 1], nlitstr=nlitter[:, 1],
        clitcwd=clitter[:, 2], nlitcwd=nlitter[:, 2],
        csoilmic=csoil[:, 0], nsoilmic=nsoil[:, 0], csoilslow=csoil[:, 1], nsoilslow=nsoil[:, 1],
        csoilpass=csoil[:, 2], nsoilpass=nsoil[:, 2],
        tairC=tairk - TK0, tsoilC=tsoilavg - TK0,
        cLitInptMet=clit_met, cLitInptStruc=clit_str, cpassInpt=cpass, thetaLiq=theta, fT=f_t, fW=f_w,
        nMinDep=ndep, nMinFix=nfix, nMineral=nsoilmin, crp=crp)
    out.update(nflux)
    return out


def run_year(state: State, forcing: dict, p: dict, cfg: ModelConfig, *, daily: bool = False,
             npp_scalar=1.0):
    """Run 365 days. `forcing`: cgpp, tairk, ndep (365, n); tsoil, moist, frznmoist
    (365, 6, n). Returns (state, annual sums of every daily diagnostic (products of the survival
    fractions "sv:", see `ModelConfig.loss_rates`), daily records or None).
    The previous-year NPP (`cnppan`) is seeded from GPP/2 where unset and set to this year's
    NPP at the end (casa.md §2.1)."""
    return _run_year(state, forcing, p, cfg, daily, npp_scalar)


def soil_drivers(forcing: dict, p: dict) -> dict:
    """A year's forcing with the layered soil state (tsoil, moist, frznmoist (365, 6, n))
    replaced by its root-weighted means (tsoilavg, moistavg, frznmoistavg, btran (365, n)),
    computed for all days at once (in the daily step the layers took a third of a CASA-CN
    year of the world)."""
    f = {k: v for k, v in forcing.items() if k not in ("tsoil", "moist", "frznmoist")}
    avg = avgsoil(p["froot"], forcing["tsoil"], forcing["moist"], forcing["frznmoist"], p["sfc"], p["swilt"])
    return dict(f, **dict(zip(("tsoilavg", "moistavg", "frznmoistavg", "btran"), avg)))


def _year(state, forcing, p, cfg, daily, npp_scalar):
    forcing = {k: jnp.asarray(v, jnp.float64) for k, v in forcing.items()}
    seed = jnp.sum(jnp.where(p["active"], forcing["cgpp"], 0.0) / 2.0, axis=0)
    state = state._replace(cnppan=jnp.where(state.cnppan <= -99.0, seed, state.cnppan))
    xs = dict(soil_drivers(forcing, p), iday=jnp.arange(1, 366))

    def combine(k, total, today):
        if k.startswith("_"):           # the last day's value
            return today
        return total * today if k.startswith("sv:") else total + today    # survival fractions multiply

    def body(carry, met):
        st, acc = carry
        st, out = day_step(st, met, p, cfg, npp_scalar)
        acc = {k: combine(k, acc[k], out[k]) for k in acc}
        return (st, acc), (out if daily else None)

    _, probe = jax.eval_shape(lambda s: day_step(s, jax.tree.map(lambda x: x[0], xs), p, cfg), state)
    acc0 = {k: (jnp.ones if k.startswith("sv:") else jnp.zeros)(v.shape, v.dtype) for k, v in probe.items()}
    (state, acc), ys = jax.lax.scan(body, (state, acc0), xs)
    state = state._replace(cnppan=acc["cnpp"])
    return state, acc, ys


_run_year = jax.jit(_year, static_argnums=(3, 4))
