"""MIMICS soil model, C-only and C+N (mimics.md §4.4-§7): litter, r- and K-selected microbes,
available / chemically / physically protected SOM, 24 explicit hourly steps per day.

Pure JAX over cells. Pools in mg cm-3 (C) and mgN cm-3 (N); `uc = 10*depth` converts to
g m-2. Kinetic rates are per hour. Inactive (ice/water) cells are left untouched.
"""

from __future__ import annotations

from typing import NamedTuple

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

from .environment import TK0, f_water_decomp  # noqa: E402

R1, R2, R3, K1, K2, K3 = range(6)


class MimicsPools(NamedTuple):
    LITm: jax.Array
    LITs: jax.Array
    MICr: jax.Array
    MICk: jax.Array
    SOMa: jax.Array
    SOMc: jax.Array
    SOMp: jax.Array
    LITmN: jax.Array
    LITsN: jax.Array
    MICrN: jax.Array
    MICkN: jax.Array
    SOMaN: jax.Array
    SOMcN: jax.Array
    SOMpN: jax.Array


def initial_pools(active, CNr, CNk) -> MimicsPools:
    """Cold start (mimics.md §10): litter and SOM 1, MICr 0.015, MICk 0.025 mg cm-3; N = C/10,
    microbes C/CNr and C/CNk; zero on inactive cells."""
    one = jnp.where(active, 1.0, 0.0)
    mr, mk = 0.015 * one, 0.025 * one
    return MimicsPools(one, one, mr, mk, one, one, one,
                       one / 10.0, one / 10.0, mr / CNr, mk / CNk, one / 10.0, one / 10.0, one / 10.0)


def litter_inputs(fl: dict, ln_leaf, ln_froot, ln_wood, clay, cellp, mp, nitrogen: bool):
    """Litter inputs and partitioning (mimics.md §4.4-4.5).

    fl: plant-side fluxes in g m-2 d-1 (cleaf2met, cleaf2str, croot2met, croot2str, cwd2str
    and for C+N nleaf2met, nleaf2str, nroot2met, nroot2str, nwd2str). Returns dict with
    cin (n, 2) and nin (n, 2) in mg cm-3 d-1 (metabolic, structural), lig_n_avg, fmet,
    fphys, fchem, faval (each (n, 2): r, k).
    """
    conv = 0.1 / cellp["depth"]
    cmet = fl["cleaf2met"] + fl["croot2met"]
    cstr = fl["cleaf2str"] + fl["croot2str"] + fl["cwd2str"]
    cin = jnp.stack([cmet * conv, cstr * conv], -1)
    if nitrogen:
        nin = jnp.stack([(fl["nleaf2met"] + fl["nroot2met"]) * conv,
                         (fl["nleaf2str"] + fl["nroot2str"] + fl["nwd2str"]) * conv], -1)
    else:
        nin = jnp.zeros_like(cin)
    wtot = fl["cleaf2met"] + fl["cleaf2str"] + fl["croot2met"] + fl["croot2str"] + fl["cwd2str"]
    lig = (ln_leaf * (fl["cleaf2met"] + fl["cleaf2str"]) + ln_froot * (fl["croot2met"] + fl["croot2str"])
           + ln_wood * fl["cwd2str"]) / jnp.maximum(0.001, wtot)
    lig = jnp.minimum(40.0, lig)
    fmet = mp.fmet_p[0] * (mp.fmet_p[1] - mp.fmet_p[2] * lig)
    fchem = jnp.stack([mp.fCHEM_r[0] * jnp.exp(mp.fCHEM_r[1] * fmet) * mp.fCHEM_r[2],
                       mp.fCHEM_K[0] * jnp.exp(mp.fCHEM_K[1] * fmet) * mp.fCHEM_K[2]], -1)
    fphys = cellp["fPHYS"]
    return dict(cin=cin, nin=nin, lig_n_avg=lig, fmet=fmet, fphys=fphys, fchem=fchem,
                faval=1.0 - fchem - fphys)


def moisture_scalar(theta_liq, theta_frzn, mp, nitrogen: bool):
    """fW (mimics.md §5.2): CORPSE form (3), CASA form (1) or 1."""
    if mp.fw_function == 3:
        afp = jnp.maximum(0.0, 1.0 - theta_liq - theta_frzn)
        core = theta_liq ** 3 * afp ** 2.5
        return jnp.maximum(0.05, core * 44.2466756824402 if nitrogen else core / 0.022600567942709)
    if mp.fw_function == 1:
        return jnp.clip(f_water_decomp(theta_liq), 0.01, 1.0)
    return jnp.ones_like(theta_liq)


def daily_rates(tsoilavg, theta_liq, theta_frzn, cnppan, fmet, cellp, mp, nitrogen: bool):
    """Rate constants held fixed over a day (mimics.md §5.3)."""
    tsoil = (tsoilavg - TK0)[:, None]
    fw = moisture_scalar(theta_liq, theta_frzn, mp, nitrogen)
    vmax = jnp.exp(mp.Vslope * tsoil + mp.Vint) * mp.av * mp.Vmod * fw[:, None]
    km = jnp.exp(mp.Kslope * tsoil + mp.Kint) * mp.ak / cellp["Kmod"]
    # a negative previous-year NPP gives sqrt(<0) = NaN, which the reference's MAX maps to the minimum
    ratio = cnppan / mp.tauModDenom
    taumod = jnp.where(ratio >= 0.0,
                       jnp.minimum(mp.tauMod_MAX, jnp.maximum(mp.tauMod_MIN, jnp.sqrt(jnp.maximum(ratio, 0.0)))),
                       mp.tauMod_MIN)
    taur = mp.tau_r[0] * jnp.exp(mp.tau_r[1] * fmet) * taumod * fw
    tauk = mp.tau_k[0] * jnp.exp(mp.tau_k[1] * fmet) * taumod * fw
    if mp.desorpQ10 < 0:
        desorption = cellp["desorp"]
    else:
        desorption = cellp["desorp"] * mp.desorpQ10 * jnp.exp((tsoil[:, 0] - mp.desorpTref) / 10.0)
    d = dict(fw=fw, vmax=vmax, km=km, taumod=taumod, taur=taur, tauk=tauk, desorption=desorption)
    if nitrogen:
        d["cn_r"] = mp.CNr * jnp.sqrt(mp.cnModNum / fmet)
        d["cn_k"] = mp.CNk * jnp.sqrt(mp.cnModNum / fmet)
    return d


def soil_day(pools: MimicsPools, lit: dict, rates: dict, active, mp, nitrogen: bool, din=None, uc=None):
    """24 hourly explicit steps (mimics.md §6 C-only, §7.2 C+N).

    din: microbe-visible mineral N at the start of the day (mg N cm-3, C+N only).
    Returns (pools, fluxes): chresp (mg C cm-3 d-1, soil only, excluding CWD), csompin,
    overflow_r, overflow_k, and for C+N din (end of day), nlittermin, nsmin, nsimm (g N m-2 d-1).
    """
    vmax, km = rates["vmax"], rates["km"]
    fphys, fchem, faval = lit["fphys"], lit["fchem"], lit["faval"]
    taur, tauk, desorb = rates["taur"], rates["tauk"], rates["desorption"]
    mge, fi, ko = mp.MGE, mp.Fi, mp.KO
    im = lit["cin"][:, 0] * (1.0 / 24.0)
    is_ = lit["cin"][:, 1] * (1.0 / 24.0)
    inm = lit["nin"][:, 0] * (1.0 / 24.0)
    ins = lit["nin"][:, 1] * (1.0 / 24.0)
    zero = jnp.zeros_like(im)

    def c_fluxes(p):
        litmin1 = p.MICr * vmax[:, R1] * p.LITm / (km[:, R1] + p.MICr)
        litmin2 = p.MICr * vmax[:, R2] * p.LITs / (km[:, R2] + p.MICr)
        sommin1 = p.MICr * vmax[:, R3] * p.SOMa / (km[:, R3] + p.MICr)
        litmin3 = p.MICk * vmax[:, K1] * p.LITm / (km[:, K1] + p.MICk)
        litmin4 = p.MICk * vmax[:, K2] * p.LITs / (km[:, K2] + p.MICk)
        sommin2 = p.MICk * vmax[:, K3] * p.SOMa / (km[:, K3] + p.MICk)
        desorp = p.SOMp * desorb
        oxidat = (p.MICk * vmax[:, K2] * p.SOMc / (ko[1] * km[:, K2] + p.MICk)
                  + p.MICr * vmax[:, R2] * p.SOMc / (ko[0] * km[:, R2] + p.MICr))
        return litmin1, litmin2, sommin1, litmin3, litmin4, sommin2, desorp, oxidat

    def hour_c(_, carry):
        p, chresp, csompin = carry
        litmin1, litmin2, sommin1, litmin3, litmin4, sommin2, desorp, oxidat = c_fluxes(p)
        mtr = [p.MICr * taur * fphys[:, 0], p.MICr * taur * fchem[:, 0], p.MICr * taur * faval[:, 0]]
        mtk = [p.MICk * tauk * fphys[:, 1], p.MICk * tauk * fchem[:, 1], p.MICk * tauk * faval[:, 1]]
        d_litm = im * (1.0 - fi[0]) - litmin1 - litmin3
        d_micr = mge[0] * (litmin1 + sommin1) + mge[1] * litmin2 - (mtr[0] + mtr[1] + mtr[2])
        d_somp = im * fi[0] + mtr[0] + mtk[0] - desorp
        d_lits = is_ * (1.0 - fi[1]) - litmin2 - litmin4
        d_mick = mge[2] * (litmin3 + sommin2) + mge[3] * litmin4 - (mtk[0] + mtk[1] + mtk[2])
        d_somc = is_ * fi[1] + mtr[1] + mtk[1] - oxidat
        d_soma = mtr[2] + mtk[2] + desorp + oxidat - sommin1 - sommin2
        chresp = chresp + ((1.0 - mge[0]) * (litmin1 + sommin1) + (1.0 - mge[1]) * litmin2
                           + (1.0 - mge[2]) * (litmin3 + sommin2) + (1.0 - mge[3]) * litmin4)
        csompin = csompin + (im * fi[0] + mtr[0] + mtk[0])
        p = p._replace(LITm=p.LITm + d_litm, MICr=p.MICr + d_micr, SOMp=p.SOMp + d_somp,
                       LITs=p.LITs + d_lits, MICk=p.MICk + d_mick, SOMc=p.SOMc + d_somc,
                       SOMa=p.SOMa + d_soma)
        return p, chresp, csompin

    def hour_cn(_, carry):
        p, din_h, chresp, csompin, ovr, ovk, nlm, nsm, nsi = carry
        litmin1, litmin2, sommin1, litmin3, litmin4, sommin2, desorp, oxidat = c_fluxes(p)
        dd = mp.densDep
        mr = p.MICr ** dd if dd != 1.0 else p.MICr
        mk = p.MICk ** dd if dd != 1.0 else p.MICk
        rr = 1.0 / (p.MICr + 1e-10)
        rk = 1.0 / (p.MICk + 1e-10)
        mtr = [mr * taur * fphys[:, 0], mr * taur * fchem[:, 0], mr * taur * faval[:, 0]]
        mtk = [mk * tauk * fphys[:, 1], mk * tauk * fchem[:, 1], mk * tauk * faval[:, 1]]
        litminn1 = litmin1 * p.LITmN / (p.LITm + 1e-10)
        litminn2 = litmin2 * p.LITsN / (p.LITs + 1e-10)
        litminn3 = litmin3 * p.LITmN / (p.LITm + 1e-10)
        litminn4 = litmin4 * p.LITsN / (p.LITs + 1e-10)
        somminn1 = sommin1 * p.SOMaN / (p.SOMa + 1e-10)
        somminn2 = sommin2 * p.SOMaN / (p.SOMa + 1e-10)
        mtrn = [m * p.MICrN * rr for m in mtr]
        mtkn = [m * p.MICkN * rk for m in mtk]
        desorpn = desorp * p.SOMpN / (p.SOMp + 1e-10)
        oxidatn = oxidat * p.SOMcN / (p.SOMc + 1e-10)
        dinup_r = din_h * p.MICr / (p.MICr + p.MICk)
        dinup_k = din_h * p.MICk / (p.MICr + p.MICk)
        nue = mp.NUE
        up_rc = mge[0] * (litmin1 + sommin1) + mge[1] * litmin2
        up_rn = nue[0] * (litminn1 + somminn1) + nue[1] * litminn2 + dinup_r
        up_kc = mge[2] * (litmin3 + sommin2) + mge[3] * litmin4
        up_kn = nue[2] * (litminn3 + somminn2) + nue[3] * litminn4 + dinup_k
        cnup_r = up_rc / (up_rn + 1e-10)
        cnup_k = up_kc / (up_kn + 1e-10)
        of_r = up_rc - up_rn * jnp.minimum(rates["cn_r"], cnup_r)
        of_k = up_kc - up_kn * jnp.minimum(rates["cn_k"], cnup_k)
        sp_r = up_rn - up_rc / jnp.maximum(rates["cn_r"], cnup_r)
        sp_k = up_kn - up_kc / jnp.maximum(rates["cn_k"], cnup_k)
        d_litm = im * (1.0 - fi[0]) - litmin1 - litmin3
        d_micr = up_rc - (mtr[0] + mtr[1] + mtr[2]) - of_r
        d_somp = im * fi[0] + mtr[0] + mtk[0] - desorp
        d_lits = is_ * (1.0 - fi[1]) - litmin2 - litmin4
        d_mick = up_kc - (mtk[0] + mtk[1] + mtk[2]) - of_k
        d_somc = is_ * fi[1] + mtr[1] + mtk[1] - oxidat
        d_soma = mtr[2] + mtk[2] + desorp + oxidat - sommin1 - sommin2
        d_litmn = inm * (1.0 - fi[0]) - litminn1 - litminn3
        d_micrn = up_rn - (mtrn[0] + mtrn[1] + mtrn[2]) - sp_r
        d_sompn = inm * fi[0] + mtrn[0] + mtkn[0] - desorpn
        d_litsn = ins * (1.0 - fi[1]) - litminn2 - litminn4
        d_mickn = up_kn - (mtkn[0] + mtkn[1] + mtkn[2]) - sp_k
        d_somcn = ins * fi[1] + mtrn[1] + mtkn[1] - oxidatn
        d_soman = mtrn[2] + mtkn[2] + desorpn + oxidatn - somminn1 - somminn2
        d_din = ((1.0 - nue[0]) * (litminn1 + somminn1) + (1.0 - nue[1]) * litminn2
                 + (1.0 - nue[2]) * (litminn3 + somminn2) + (1.0 - nue[3]) * litminn4
                 + sp_r + sp_k - dinup_r - dinup_k)
        chresp = chresp + ((1.0 - mge[0]) * (litmin1 + sommin1) + (1.0 - mge[1]) * litmin2
                           + (1.0 - mge[2]) * (litmin3 + sommin2) + (1.0 - mge[3]) * litmin4
                           + of_r + of_k)
        csompin = csompin + (im * fi[0] + mtr[0] + mtk[0])
        ovr, ovk = ovr + of_r, ovk + of_k
        nlm = nlm + uc * ((1.0 - nue[0]) * litminn1 + (1.0 - nue[1]) * litminn2
                          + (1.0 - nue[2]) * litminn3 + (1.0 - nue[3]) * litminn4)
        nsm = nsm + uc * ((1.0 - nue[0]) * somminn1 + (1.0 - nue[2]) * somminn2)
        nsi = nsi - uc * (dinup_r + dinup_k - sp_r - sp_k)
        p = MimicsPools(p.LITm + d_litm, p.LITs + d_lits, p.MICr + d_micr, p.MICk + d_mick,
                        p.SOMa + d_soma, p.SOMc + d_somc, p.SOMp + d_somp,
                        p.LITmN + d_litmn, p.LITsN + d_litsn, p.MICrN + d_micrn, p.MICkN + d_mickn,
                        p.SOMaN + d_soman, p.SOMcN + d_somcn, p.SOMpN + d_sompn)
        return p, din_h + d_din, chresp, csompin, ovr, ovk, nlm, nsm, nsi

    if nitrogen:
        carry = (pools, din) + (zero,) * 7
        p, din_end, chresp, csompin, ovr, ovk, nlm, nsm, nsi = jax.lax.fori_loop(0, 24, hour_cn, carry)
        fluxes = dict(chresp=chresp, csompin=csompin, overflow_r=ovr, overflow_k=ovk,
                      din=din_end, nlittermin=nlm, nsmin=nsm, nsimm=nsi)
    else:
        p, chresp, csompin = jax.lax.fori_loop(0, 24, hour_c, (pools, zero, zero))
        fluxes = dict(chresp=chresp, csompin=csompin, overflow_r=zero, overflow_k=zero)
    p = jax.tree.map(lambda new, old: jnp.where(active, new, old), p, pools)
    fluxes = {k: jnp.where(active, v, 0.0) for k, v in fluxes.items()}
    return p, fluxes
