"""MIMICS soil model, C-only and C+N (mimics.md §1, §4.4-§7): metabolic and structural litter,
r- and K-selected microbes, available / chemically / physically protected SOM, integrated with
24 explicit hourly steps per day.

Pure JAX functions over cells: every per-cell array has shape (n,); nothing touches files or
globals, everything is jit-able with the parameters (`MimicsParams`) and the `nitrogen` flag
static. Units (mimics.md §1): pools in mgC cm-3 / mgN cm-3; litter inputs mg cm-3 d-1;
kinetic rates per hour; `uc = 10*depth` converts mg cm-3 to g m-2 (multiply) and back
(divide). The reference's operation order is kept so that float64 results match it to
round-off (hour-by-hour accumulation of respiration and N fluxes, §7.4).

Public interface
----------------
* `MimicsPools` — the 14 prognostic pools.
* `initial_pools(active, CNr, CNk)` — cold start (§10).
* `litter_partition(...)` — litter inputs, lig:N, fmet and necromass partitioning (§4.4-4.5).
* `soil_rates(drivers, cellp, params, nitrogen)` — the day's scalars and rate constants (§5).
* `mimics_soil_day(pools, drivers, cellp, params, nitrogen)` — one day (§6 or §7).
"""

from __future__ import annotations

from typing import NamedTuple

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

TK0 = 273.15            # K at 0 degC
HOURS = 24              # hourly sub-steps per day
_HOURFRAC = 1.0 / 24.0  # litter inputs per hour = daily input x 1/24
_TINY = 1e-10           # regulariser of the reference's C+N routine (quirk Q5: kept as is)
# CORPSE moisture function normalisation: the C+N routine multiplies by the first constant,
# the C-only routine divides by the second (equal to ~1e-15 relative; both kept).
_CORPSE_MUL = 44.2466756824402
_CORPSE_DIV = 0.022600567942709
# Kelly et al. (2000) water-filled-pore-space function (fWFunction 1)
_WA, _WB, _WC, _WD, _WE = 0.55, 1.70, -0.007, 3.22, 6.6481

R1, R2, R3, K1, K2, K3 = range(6)  # kinetic channels: LITm, LITs, SOMa uptake by MICr, MICk


class MimicsPools(NamedTuple):
    """Prognostic MIMICS pools per cell (n,). C in mgC cm-3, N in mgN cm-3.
    N pools are carried but not changed by C-only runs."""

    LITm: jax.Array   # metabolic litter C
    LITs: jax.Array   # structural litter C
    MICr: jax.Array   # r-selected (copiotroph) microbial C
    MICk: jax.Array   # K-selected (oligotroph) microbial C
    SOMa: jax.Array   # available SOM C
    SOMc: jax.Array   # chemically protected SOM C
    SOMp: jax.Array   # physically protected SOM C
    LITmN: jax.Array  # N of the pools above, same order
    LITsN: jax.Array
    MICrN: jax.Array
    MICkN: jax.Array
    SOMaN: jax.Array
    SOMcN: jax.Array
    SOMpN: jax.Array


_C_POOLS = ("LITm", "LITs", "MICr", "MICk", "SOMa", "SOMc", "SOMp")


def initial_pools(active, CNr, CNk) -> MimicsPools:
    """Cold start (mimics.md §10): litter and SOM C 1.0, MICr 0.015, MICk 0.025 mgC cm-3;
    N = C/10 for litter and SOM, MICr/CNr and MICk/CNk for microbes; all zero where
    `active` is False (ice/water). CNr, CNk: base microbial C:N (gC gN-1)."""
    one = jnp.where(jnp.asarray(active), 1.0, 0.0)
    mr, mk = 0.015 * one, 0.025 * one
    return MimicsPools(one, one, mr, mk, one, one, one,
                       one / 10.0, one / 10.0, mr / CNr, mk / CNk, one / 10.0, one / 10.0, one / 10.0)


# --------------------------------------------------------------------------------------------
# Litter inputs and partitioning (§4.4-4.5)
# --------------------------------------------------------------------------------------------

def necromass_partition(fmet, cellp, params) -> dict:
    """Fractions of microbial turnover to SOMp (fPHYS), SOMc (fCHEM) and SOMa (fAVAL) for
    r- and K-selected microbes (mimics.md §4.5); all dimensionless, (n,) each.
    fmet: metabolic fraction of the day's litter input (-)."""
    mp = params
    fphys_r, fphys_k = cellp["fPHYS_r"], cellp["fPHYS_k"]
    fchem_r = float(mp.fCHEM_r[0]) * jnp.exp(float(mp.fCHEM_r[1]) * fmet) * float(mp.fCHEM_r[2])
    fchem_k = float(mp.fCHEM_K[0]) * jnp.exp(float(mp.fCHEM_K[1]) * fmet) * float(mp.fCHEM_K[2])
    return dict(fPHYS_r=fphys_r, fPHYS_k=fphys_k, fCHEM_r=fchem_r, fCHEM_k=fchem_k,
                fAVAL_r=1.0 - fchem_r - fphys_r, fAVAL_k=1.0 - fchem_k - fphys_k)


def litter_partition(cleaf2met, cleaf2str, croot2met, croot2str, cwd2str,
                     ligN_leaf, ligN_froot, ligN_wood, cellp, params,
                     nleaf2met=None, nleaf2str=None, nroot2met=None, nroot2str=None,
                     nwd2str=None) -> dict:
    """MIMICS litter inputs, mean litter lignin:N, fmet and necromass partitioning
    (mimics.md §4.4-4.5, end of `mimics_delplant(_CN)`).

    Inputs (n,) per cell. Plant-side fluxes in gC m-2 d-1: cleaf2met, cleaf2str, croot2met
    (including any root exudate C), croot2str, cwd2str (decayed CWD C not respired); for C+N
    also gN m-2 d-1: nleaf2met, nleaf2str, nroot2met, nroot2str, nwd2str (all five or none;
    none gives zero N inputs as in C-only runs). ligN_leaf, ligN_froot, ligN_wood: litter
    lignin:N (g g-1). cellp: `mimics_cell_params` (uses depth, fPHYS_r, fPHYS_k).

    Returns a dict of (n,) arrays:
      ClitInput_metb, ClitInput_struc   mgC cm-3 d-1 (metabolic, structural)
      NlitInput_metb, NlitInput_struc   mgN cm-3 d-1 (zero without N fluxes)
      ligNavg                           input-weighted lignin:N, capped at 40 (g g-1)
      fmet                              metabolic fraction of the day's input (-)
      fPHYS_r, fPHYS_k, fCHEM_r, fCHEM_k, fAVAL_r, fAVAL_k   necromass fractions (-)
    """
    mp = params
    depth = cellp["depth"]
    cmet = (cleaf2met + croot2met) * 0.1 / depth
    cstr = (cleaf2str + croot2str + cwd2str) * 0.1 / depth
    nflux = (nleaf2met, nleaf2str, nroot2met, nroot2str, nwd2str)
    if all(x is not None for x in nflux):
        nmet = (nleaf2met + nroot2met) * 0.1 / depth
        nstr = (nleaf2str + nroot2str + nwd2str) * 0.1 / depth
    elif any(x is not None for x in nflux):
        raise ValueError("litter_partition needs all five N fluxes or none")
    else:
        nmet = nstr = jnp.zeros_like(cmet)
    wtot = cleaf2met + cleaf2str + croot2met + croot2str + cwd2str
    lig = (ligN_leaf * (cleaf2met + cleaf2str) + ligN_froot * (croot2met + croot2str)
           + ligN_wood * cwd2str) / jnp.maximum(0.001, wtot)
    lig = jnp.minimum(40.0, lig)
    fmet = float(mp.fmet_p[0]) * (float(mp.fmet_p[1]) - float(mp.fmet_p[2]) * lig)
    return dict(ClitInput_metb=cmet, ClitInput_struc=cstr, NlitInput_metb=nmet,
                NlitInput_struc=nstr, ligNavg=lig, fmet=fmet,
                **necromass_partition(fmet, cellp, mp))


# --------------------------------------------------------------------------------------------
# Daily scalars and rate constants (§5)
# --------------------------------------------------------------------------------------------

def moisture_scalar(theta_liq, theta_frzn, params, nitrogen: bool):
    """fW (mimics.md §5.2) from liquid and frozen fractions of pore space (-):
    fw_function 3 CORPSE max(0.05, theta^3 afp^2.5 / 0.0226...), 1 CASA-CNP (clamped to
    [0.01, 1]), otherwise 1. The C-only and C+N routines of the reference spell the CORPSE
    normalisation differently (division vs multiplication); `nitrogen` selects which."""
    if params.fw_function == 3:
        afp = jnp.maximum(0.0, 1.0 - theta_liq - theta_frzn)
        core = theta_liq ** 3 * afp ** 2.5
        return jnp.maximum(0.05, core * _CORPSE_MUL if nitrogen else core / _CORPSE_DIV)
    if params.fw_function == 1:
        fw = (((theta_liq - _WB) / (_WA - _WB)) ** _WE
              * ((theta_liq - _WC) / (_WA - _WC)) ** _WD)
        return jnp.maximum(0.01, jnp.minimum(fw, 1.0))
    return jnp.ones_like(theta_liq)


# Vmax/Km parameters that a cell may carry as (n, 6) arrays instead of the constants of
# `MimicsParams` (ensembles and gradients need them traced, not baked into the compiled code)
CELL_KINETICS = ("Vslope", "Vint", "av", "Kslope", "Kint", "ak")


def _rates(tsoilavg, theta_liq, theta_frzn, cnppan, fmet, kmod, desorp, mp, nitrogen, kin=None):
    """Per-day constants; kmod is a sequence of 6 (n,) arrays. Vmax, Km as 6-tuples.
    `kin`: optional (n, 6) arrays of some of `CELL_KINETICS` replacing the constants."""
    tsoil = tsoilavg - TK0
    fw = moisture_scalar(theta_liq, theta_frzn, mp, nitrogen)
    kin = kin or {}

    def f(name, i):
        return kin[name][:, i] if name in kin else float(getattr(mp, name)[i])
    vmax = tuple(jnp.exp(f("Vslope", i) * tsoil + f("Vint", i)) * f("av", i) * float(mp.Vmod[i]) * fw
                 for i in range(6))
    km = tuple(jnp.exp(f("Kslope", i) * tsoil + f("Kint", i)) * f("ak", i) / kmod[i]
               for i in range(6))
    # tauMod = MIN(max, MAX(min, sqrt(NPP/denom))); a negative NPP gives NaN, which the
    # reference's MAX maps to the minimum (mimics.md §5.3)
    taumod = jnp.sqrt(cnppan / mp.tauModDenom)
    taumod = jnp.where(taumod >= mp.tauMod_MIN, taumod, mp.tauMod_MIN)
    taumod = jnp.minimum(mp.tauMod_MAX, taumod)
    taur = float(mp.tau_r[0]) * jnp.exp(float(mp.tau_r[1]) * fmet) * taumod * fw
    tauk = float(mp.tau_k[0]) * jnp.exp(float(mp.tau_k[1]) * fmet) * taumod * fw
    if mp.desorpQ10 < 0.0:
        desorption = desorp
    else:  # reference form desorp*Q10*exp((T-Tref)/10), not a true Q10 (quirk Q6)
        desorption = desorp * (mp.desorpQ10 * jnp.exp((tsoil - mp.desorpTref) / 10.0))
    out = dict(Tsoil=tsoil, theta_liq=theta_liq, theta_frzn=theta_frzn, fW=fw, Vmax=vmax, Km=km,
               tauMod=taumod, tauR=taur, tauK=tauk, desorption=desorption)
    if nitrogen:
        out["CN_r"] = mp.CNr * jnp.sqrt(mp.cnModNum / fmet)
        out["CN_k"] = mp.CNk * jnp.sqrt(mp.cnModNum / fmet)
    return out


def soil_rates(drivers: dict, cellp: dict, params, nitrogen: bool) -> dict:
    """The day's environmental scalars and rate constants (mimics.md §5), held fixed over the
    24 hours. Uses drivers tsoilavg, moistavg, frznmoistavg, ssat, CnppAn, fmet (see
    `mimics_soil_day`) and cellp Kmod, desorp. Returns (n,) arrays:
      Tsoil (degC), theta_liq, theta_frzn (fractions of pore space), fW (-),
      Vmax (n, 6) mgC mgMIC-1 h-1, Km (n, 6) mgC cm-3, tauMod (-), tauR, tauK (h-1),
      desorption (h-1), and for C+N CN_r, CN_k (microbial C:N targets, gC gN-1).
    """
    r = _day_rates(drivers, cellp, params, nitrogen)
    r["Vmax"] = jnp.stack(r["Vmax"], -1)
    r["Km"] = jnp.stack(r["Km"], -1)
    return r


def specific_loss_rates(pools: MimicsPools, drivers: dict, cellp: dict, params, nitrogen: bool) -> dict:
    """Hourly specific loss rates (h-1) of the litter and SOM pools at the start of the day:
    each outflow of §6/§7.2 divided by its pool (uptake by microbes, oxidation of SOMc,
    desorption of SOMp; N pools lose at the rate of their C pool). Microbial pools, whose
    loss is offset by growth on the same day, get 1 (nothing survives). Keys: pool names."""
    r = _day_rates(drivers, cellp, params, nitrogen)
    vmax, km = r["Vmax"], r["Km"]
    MICr, MICk = pools.MICr, pools.MICk

    def uptake(i_r, i_k, ko=(1.0, 1.0)):
        return (MICr * vmax[i_r] / (ko[0] * km[i_r] + MICr) + MICk * vmax[i_k] / (ko[1] * km[i_k] + MICk))

    c = dict(LITm=uptake(R1, K1), LITs=uptake(R2, K2), SOMa=uptake(R3, K3),
             SOMc=uptake(R2, K2, tuple(float(x) for x in params.KO)),
             SOMp=jnp.broadcast_to(r["desorption"], MICr.shape),
             MICr=jnp.ones_like(MICr), MICk=jnp.ones_like(MICk))
    c.update({k + "N": v for k, v in c.items()})
    return c


def _day_rates(drivers, cellp, mp, nitrogen):
    ssat = drivers["ssat"]
    theta_liq = jnp.minimum(1.0, drivers["moistavg"] / ssat)
    theta_frzn = jnp.minimum(1.0, drivers["frznmoistavg"] / ssat)
    kmod = cellp["Kmod"]
    return _rates(drivers["tsoilavg"], theta_liq, theta_frzn, drivers["CnppAn"], drivers["fmet"],
                  [kmod[:, i] for i in range(6)], cellp["desorp"], mp, nitrogen,
                  {k: cellp[k] for k in CELL_KINETICS if k in cellp})


# --------------------------------------------------------------------------------------------
# Hourly integration (§6, §7.2)
# --------------------------------------------------------------------------------------------

def _constants(rates, part, cin_m, cin_s, nin_m, nin_s, mp, nitrogen):
    """Loop-invariant quantities of the hourly steps (computed once per day, bitwise equal to
    what the reference recomputes every hour)."""
    vmax, km = rates["Vmax"], rates["Km"]
    im = cin_m * _HOURFRAC
    is_ = cin_s * _HOURFRAC
    k = dict(vmax=vmax, km=km, ko_km_r2=float(mp.KO[0]) * km[R2], ko_km_k2=float(mp.KO[1]) * km[K2],
             taur=rates["tauR"], tauk=rates["tauK"], desorption=rates["desorption"],
             fphys_r=part["fPHYS_r"], fchem_r=part["fCHEM_r"], faval_r=part["fAVAL_r"],
             fphys_k=part["fPHYS_k"], fchem_k=part["fCHEM_k"], faval_k=part["fAVAL_k"],
             im_lit=im * (1.0 - float(mp.Fi[0])), im_som=im * float(mp.Fi[0]),
             is_lit=is_ * (1.0 - float(mp.Fi[1])), is_som=is_ * float(mp.Fi[1]))
    if nitrogen:
        inm = nin_m * _HOURFRAC
        ins = nin_s * _HOURFRAC
        k.update(inm_lit=inm * (1.0 - float(mp.Fi[0])), inm_som=inm * float(mp.Fi[0]),
                 ins_lit=ins * (1.0 - float(mp.Fi[1])), ins_som=ins * float(mp.Fi[1]),
                 cn_r=rates["CN_r"], cn_k=rates["CN_k"])
    return k


def _pack(k: dict):
    """Stack the loop-invariant (n,) arrays of `k` (6-tuples included) into one (m, n) array.

    XLA:CPU runs the hourly loop markedly faster (about 1.5x here) when its invariants come
    in one buffer rather than as ~35 separate loop operands; rows are unpacked inside the
    loop body, which leaves the arithmetic unchanged."""
    names, rows = [], []
    for key, v in k.items():
        if isinstance(v, tuple):
            names += [(key, i) for i in range(len(v))]
            rows += list(v)
        else:
            names.append(key)
            rows.append(v)
    return names, jnp.stack(rows)


def _unpack(names, K) -> dict:
    k: dict = {}
    for j, nm in enumerate(names):
        if isinstance(nm, tuple):
            k.setdefault(nm[0], {})[nm[1]] = K[j]
        else:
            k[nm] = K[j]
    return {key: (tuple(v[i] for i in range(len(v))) if isinstance(v, dict) else v)
            for key, v in k.items()}


def _c_uptake(k, MICr, MICk, LITm, LITs, SOMa, SOMc, SOMp):
    vmax, km = k["vmax"], k["km"]
    litmin1 = MICr * vmax[R1] * LITm / (km[R1] + MICr)
    litmin2 = MICr * vmax[R2] * LITs / (km[R2] + MICr)
    sommin1 = MICr * vmax[R3] * SOMa / (km[R3] + MICr)
    litmin3 = MICk * vmax[K1] * LITm / (km[K1] + MICk)
    litmin4 = MICk * vmax[K2] * LITs / (km[K2] + MICk)
    sommin2 = MICk * vmax[K3] * SOMa / (km[K3] + MICk)
    desorp = SOMp * k["desorption"]
    oxidat = (MICk * vmax[K2] * SOMc / (k["ko_km_k2"] + MICk)
              + MICr * vmax[R2] * SOMc / (k["ko_km_r2"] + MICr))
    return litmin1, litmin2, sommin1, litmin3, litmin4, sommin2, desorp, oxidat


def _integrate_c(c_pools, k, mp):
    """24 hourly steps of MIMICS-C (mimics.md §6). c_pools: the 7 C pools.
    Returns (c_pools, Chresp, CSOMpInput), fluxes in mgC cm-3 d-1."""
    mge = [float(x) for x in mp.MGE]
    rge = [1.0 - x for x in mge]
    names, K = _pack(k)

    def hour(_, carry):
        (LITm, LITs, MICr, MICk, SOMa, SOMc, SOMp), chresp, csompin = carry
        k = _unpack(names, K)
        taur, tauk = k["taur"], k["tauk"]
        l1, l2, s1, l3, l4, s2, desorp, oxidat = _c_uptake(k, MICr, MICk, LITm, LITs, SOMa, SOMc, SOMp)
        # microbial turnover, linear in MIC (densDep is not used by the C-only routine)
        t1 = MICr * taur * k["fphys_r"]
        t2 = MICr * taur * k["fchem_r"]
        t3 = MICr * taur * k["faval_r"]
        t4 = MICk * tauk * k["fphys_k"]
        t5 = MICk * tauk * k["fchem_k"]
        t6 = MICk * tauk * k["faval_k"]
        d_litm = k["im_lit"] - l1 - l3
        d_micr = mge[0] * (l1 + s1) + mge[1] * l2 - (t1 + t2 + t3)
        d_somp = k["im_som"] + t1 + t4 - desorp
        d_lits = k["is_lit"] - l2 - l4
        d_mick = mge[2] * (l3 + s2) + mge[3] * l4 - (t4 + t5 + t6)
        d_somc = k["is_som"] + t2 + t5 - oxidat
        d_soma = t3 + t6 + desorp + oxidat - s1 - s2
        chresp = chresp + rge[0] * (l1 + s1) + rge[1] * l2 + rge[2] * (l3 + s2) + rge[3] * l4
        csompin = csompin + k["im_som"] + t1 + t4
        pools = (LITm + d_litm, LITs + d_lits, MICr + d_micr, MICk + d_mick,
                 SOMa + d_soma, SOMc + d_somc, SOMp + d_somp)
        return pools, chresp, csompin

    zero = jnp.zeros_like(c_pools[0])
    return jax.lax.fori_loop(0, HOURS, hour, (tuple(c_pools), zero, zero))


def _integrate_cn(pools, din0, k, uc, mp, guard_zero_microbes=False):
    """24 hourly steps of MIMICS-CN (mimics.md §7.2). pools: the 14 pools in MimicsPools
    order; din0: microbe-visible mineral N at the start of the day (mgN cm-3).
    Returns (pools, DIN, Chresp, CSOMpInput, Overflow_r, Overflow_k) in mg cm-3 (d-1) and
    (Nlittermin, Nsmin, Nsimm) in gN m-2 d-1."""
    mge = [float(x) for x in mp.MGE]
    nue = [float(x) for x in mp.NUE]
    rge = [1.0 - x for x in mge]
    rue = [1.0 - x for x in nue]
    dd = float(mp.densDep)
    names, K = _pack(dict(k, uc=uc))

    def hour(_, carry):
        p, din, chresp, csompin, ovr, ovk, nlm, nsm, nsi = carry
        k = _unpack(names, K)
        uc = k["uc"]
        taur, tauk, cn_r, cn_k = k["taur"], k["tauk"], k["cn_r"], k["cn_k"]
        LITm, LITs, MICr, MICk, SOMa, SOMc, SOMp, LITmN, LITsN, MICrN, MICkN, SOMaN, SOMcN, SOMpN = p
        rr = 1.0 / (MICr + _TINY)
        rk = 1.0 / (MICk + _TINY)
        l1, l2, s1, l3, l4, s2, desorp, oxidat = _c_uptake(k, MICr, MICk, LITm, LITs, SOMa, SOMc, SOMp)
        ln1 = l1 * LITmN / (LITm + _TINY)
        ln2 = l2 * LITsN / (LITs + _TINY)
        ln3 = l3 * LITmN / (LITm + _TINY)
        ln4 = l4 * LITsN / (LITs + _TINY)
        sn1 = s1 * SOMaN / (SOMa + _TINY)
        sn2 = s2 * SOMaN / (SOMa + _TINY)
        mr = MICr if dd == 1.0 else MICr ** dd  # x**1.0 == x exactly
        mk = MICk if dd == 1.0 else MICk ** dd
        t1 = mr * taur * k["fphys_r"]
        t2 = mr * taur * k["fchem_r"]
        t3 = mr * taur * k["faval_r"]
        t4 = mk * tauk * k["fphys_k"]
        t5 = mk * tauk * k["fchem_k"]
        t6 = mk * tauk * k["faval_k"]
        tn1 = t1 * MICrN * rr
        tn2 = t2 * MICrN * rr
        tn3 = t3 * MICrN * rr
        tn4 = t4 * MICkN * rk
        tn5 = t5 * MICkN * rk
        tn6 = t6 * MICkN * rk
        desorpn = desorp * SOMpN / (SOMp + _TINY)
        oxidatn = oxidat * SOMcN / (SOMc + _TINY)
        mic = MICr + MICk
        if guard_zero_microbes:  # no uptake instead of 0/0 when both microbial pools are 0
            ok = mic != 0.0
            mic_safe = jnp.where(ok, mic, 1.0)
            dinup_r = jnp.where(ok, din * MICr / mic_safe, 0.0)
            dinup_k = jnp.where(ok, din * MICk / mic_safe, 0.0)
        else:
            dinup_r = din * MICr / mic
            dinup_k = din * MICk / mic
        up_rc = mge[0] * (l1 + s1) + mge[1] * l2
        up_rn = nue[0] * (ln1 + sn1) + nue[1] * ln2 + dinup_r
        cnup_r = up_rc / (up_rn + _TINY)
        of_r = up_rc - up_rn * jnp.minimum(cn_r, cnup_r)
        sp_r = up_rn - up_rc / jnp.maximum(cn_r, cnup_r)
        up_kc = mge[2] * (l3 + s2) + mge[3] * l4
        up_kn = nue[2] * (ln3 + sn2) + nue[3] * ln4 + dinup_k
        cnup_k = up_kc / (up_kn + _TINY)
        of_k = up_kc - up_kn * jnp.minimum(cn_k, cnup_k)
        sp_k = up_kn - up_kc / jnp.maximum(cn_k, cnup_k)
        ovr = ovr + of_r
        ovk = ovk + of_k
        d_litm = k["im_lit"] - l1 - l3
        d_micr = up_rc - (t1 + t2 + t3) - of_r
        d_somp = k["im_som"] + t1 + t4 - desorp
        d_lits = k["is_lit"] - l2 - l4
        d_mick = up_kc - (t4 + t5 + t6) - of_k
        d_somc = k["is_som"] + t2 + t5 - oxidat
        d_soma = t3 + t6 + desorp + oxidat - s1 - s2
        d_litmn = k["inm_lit"] - ln1 - ln3
        d_micrn = up_rn - (tn1 + tn2 + tn3) - sp_r
        d_sompn = k["inm_som"] + tn1 + tn4 - desorpn
        d_litsn = k["ins_lit"] - ln2 - ln4
        d_mickn = up_kn - (tn4 + tn5 + tn6) - sp_k
        d_somcn = k["ins_som"] + tn2 + tn5 - oxidatn
        d_soman = tn3 + tn6 + desorpn + oxidatn - sn1 - sn2
        d_din = (rue[0] * (ln1 + sn1) + rue[1] * ln2 + rue[2] * (ln3 + sn2) + rue[3] * ln4
                 + sp_r + sp_k - dinup_r - dinup_k)
        chresp = (chresp + rge[0] * (l1 + s1) + rge[1] * l2 + rge[2] * (l3 + s2) + rge[3] * l4
                  + of_r + of_k)
        csompin = csompin + k["im_som"] + t1 + t4
        nlm = nlm + uc * (rue[0] * ln1 + rue[1] * ln2 + rue[2] * ln3 + rue[3] * ln4)
        nsm = nsm + uc * (rue[0] * sn1 + rue[2] * sn2)
        nsi = nsi - uc * (dinup_r + dinup_k - sp_r - sp_k)
        p = (LITm + d_litm, LITs + d_lits, MICr + d_micr, MICk + d_mick,
             SOMa + d_soma, SOMc + d_somc, SOMp + d_somp,
             LITmN + d_litmn, LITsN + d_litsn, MICrN + d_micrn, MICkN + d_mickn,
             SOMaN + d_soman, SOMcN + d_somcn, SOMpN + d_sompn)
        return p, din + d_din, chresp, csompin, ovr, ovk, nlm, nsm, nsi

    zero = jnp.zeros_like(din0)
    return jax.lax.fori_loop(0, HOURS, hour, (tuple(pools), din0) + (zero,) * 7)


# --------------------------------------------------------------------------------------------
# One day
# --------------------------------------------------------------------------------------------

BLOCK_SIZE = 2048  # default largest block of cells integrated at once (see mimics_soil_day)


def mimics_soil_day(pools: MimicsPools, drivers: dict, cellp: dict, params, nitrogen: bool, *,
                    fix_n_loss_branch: bool = False, guard_zero_microbes: bool = False,
                    block_size: int | None = BLOCK_SIZE):
    """One day of MIMICS soil: daily rates (§5), 24 explicit hourly steps (§6 C-only,
    §7.2 C+N) and, for C+N, leaching, DIN derivation and the hand-back to CASA mineral N
    (§7.1, §7.3). `params` (MimicsParams) and `nitrogen` are static.

    drivers: dict of (n,) arrays
      tsoilavg         K, root-weighted soil temperature
      moistavg         m3 m-3, root-weighted liquid soil moisture (capped at field capacity)
      frznmoistavg     m3 m-3, root-weighted frozen soil moisture
      ssat             m3 m-3, soil water content at saturation
      CnppAn           gC m-2 yr-1, previous year's NPP (turnover modifier)
      ClitInput_metb, ClitInput_struc   mgC cm-3 d-1, from `litter_partition`
      fmet             -, from `litter_partition`
      C+N only:
      NlitInput_metb, NlitInput_struc   mgN cm-3 d-1, from `litter_partition`
      Nsoilmin         gN m-2, CASA mineral N at the start of the day
      fNminleach       d-1, leaching fraction of mineral N (10*xfNminleach/365)
      fNminloss        -, gaseous loss fraction of net mineralisation
      Nmindep, Nminfix, Nupland   gN m-2 d-1, deposition, fixation, plant uptake
    cellp: `mimics_cell_params` (Kmod, desorp, fPHYS_r, fPHYS_k, uc; optional `active`,
      False for ice/water cells).

    Returns (pools, fluxes). Inactive cells keep their pools and get zero fluxes (and their
    Nsoilmin back unchanged). fluxes, (n,) arrays:
      Chresp           mgC cm-3 d-1, MIMICS heterotrophic respiration (growth respiration,
                       plus overflow in C+N). It EXCLUDES the respired CWD C: the caller adds
                       cwd2co2/uc, as the reference does in `mimics_caccum` (§9.1).
      CSOMpInput       mgC cm-3 d-1, input to SOMp (litter bypass + microbial turnover)
      Overflow_r, Overflow_k   mgC cm-3 d-1, overflow respiration (0 in C-only runs)
      fW, theta_liq, theta_frzn   -, moisture scalar and liquid / frozen pore fractions
      C+N only:
      Nminleach        gN m-2 d-1, leaching, removed from Nsoilmin before the hourly loop
      Nsoilmin         gN m-2, mineral N after leaching; end of day = Nsoilmin + dNsoilmindt
      Nlittermin, Nsmin   gN m-2 d-1, gross mineralisation from litter, from SOM
      Nsimm            gN m-2 d-1, net microbial immobilisation (negative = uptake from DIN)
      Nsnet            gN m-2 d-1, Nlittermin + Nsmin + Nsimm
      Nminloss         gN m-2 d-1, gaseous loss
      dNsoilmindt      gN m-2 d-1, uc*(DIN - DINstart) + Nmindep + Nminfix - Nminloss - Nupland
      DIN, DINstart    mgN cm-3, microbe-visible mineral N at the end / start of the day

    Options (off = the reference's numbers):
      fix_n_loss_branch: apply the Nsoilmin/2 loss factor only where it is below 1 (the
        reference applies it to frozen soils with Nsoilmin > 2 too, raising their loss).
      guard_zero_microbes: no DIN uptake where MICr + MICk = 0 (the reference divides 0/0,
        mimics.md §12 Q4).

    block_size (static; does not change results): more cells than this are integrated in
      equal blocks of at most `block_size` cells one after the other (`lax.map`), which keeps
      the hourly loop's working set in cache (about 1.8x faster for C+N on 4263 cells on a
      2-core x86 machine); None integrates all cells at once.
    """
    return _in_blocks(lambda a: _soil_day(*a, params, nitrogen, fix_n_loss_branch,
                                          guard_zero_microbes),
                      (pools, dict(drivers), dict(cellp)), pools.LITm.shape[0], block_size)


def _in_blocks(fn, args, n: int, block_size: int | None):
    """fn(args) over cells, in equal blocks of at most `block_size` cells run one after the
    other (`lax.map`); every leaf of `args` is (n, ...) or a scalar. Results are those of
    fn(args) (cells are independent); the last block is padded with copies of the last cell."""
    if block_size is None or n <= block_size:
        return fn(args)
    nb = -(-n // block_size)
    bs = -(-n // nb)
    pad = nb * bs - n

    def blk(x):
        x = jnp.asarray(x)
        if x.ndim == 0:
            x = jnp.broadcast_to(x, (n,))
        if pad:
            x = jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1), mode="edge")
        return x.reshape((nb, bs) + x.shape[1:])

    out = jax.lax.map(fn, jax.tree.map(blk, args))
    return jax.tree.map(lambda x: x.reshape((nb * bs,) + x.shape[2:])[:n], out)


def _soil_day(pools, drivers, cellp, params, nitrogen, fix_n_loss_branch, guard_zero_microbes):
    mp = params
    active = cellp.get("active")
    rates = _day_rates(drivers, cellp, mp, nitrogen)
    part = necromass_partition(drivers["fmet"], cellp, mp)
    k = _constants(rates, part, drivers["ClitInput_metb"], drivers["ClitInput_struc"],
                   drivers.get("NlitInput_metb"), drivers.get("NlitInput_struc"), mp, nitrogen)
    fx = dict(fW=rates["fW"], theta_liq=rates["theta_liq"], theta_frzn=rates["theta_frzn"])
    if nitrogen:
        uc = cellp["uc"]
        nmin0 = drivers["Nsoilmin"]
        leach = nmin0 * drivers["fNminleach"]
        nmin = nmin0 - leach
        din0 = mp.fracDINavailMIC * nmin * (1.0 / uc)
        new, din, chresp, csompin, ovr, ovk, nlm, nsm, nsi = _integrate_cn(
            pools, din0, k, uc, mp, guard_zero_microbes)
        new = MimicsPools(*new)
        nsnet = nlm + nsm + nsi
        warm = (nmin > 2.0) & (drivers["tsoilavg"] > 273.12)
        scale = jnp.maximum(0.0, nmin / 2.0)
        if fix_n_loss_branch:
            scale = jnp.minimum(scale, 1.0)
        gross = drivers["fNminloss"] * jnp.maximum(0.0, nsnet)
        loss = jnp.where(warm, gross, gross * scale)
        dnmin = (uc * (din - din0) + drivers["Nmindep"] + drivers["Nminfix"] - loss
                 - drivers["Nupland"])
        fx.update(Chresp=chresp, CSOMpInput=csompin, Overflow_r=ovr, Overflow_k=ovk,
                  Nminleach=leach, Nlittermin=nlm, Nsmin=nsm, Nsimm=nsi, Nsnet=nsnet,
                  Nminloss=loss, dNsoilmindt=dnmin, DIN=din, DINstart=din0)
        nsoilmin_out = nmin
    else:
        c_new, chresp, csompin = _integrate_c([getattr(pools, n) for n in _C_POOLS], k, mp)
        new = pools._replace(**dict(zip(_C_POOLS, c_new)))
        zero = jnp.zeros_like(chresp)
        fx.update(Chresp=chresp, CSOMpInput=csompin, Overflow_r=zero, Overflow_k=zero)
    if active is not None:
        new = MimicsPools(*(jnp.where(active, a, b) for a, b in zip(new, pools)))
        fx = {key: jnp.where(active, v, 0.0) for key, v in fx.items()}
        if nitrogen:
            nsoilmin_out = jnp.where(active, nsoilmin_out, nmin0)
    if nitrogen:
        fx["Nsoilmin"] = nsoilmin_out
    return new, fx
