"""CASA litter and soil organic matter, C and C+N (casa.md §4).

Pools per cell: litter (metabolic, structural, CWD), SOM (mic/fast, slow, passive), their N,
and mineral N. First-order decay with temperature/moisture scalars; explicit Euler, 1 day.
"""

from __future__ import annotations

import jax.numpy as jnp

from .environment import f_temp_decomp, f_water_decomp

METB, STR, CWD = 0, 1, 2
MIC, SLOW, PASS = 0, 1, 2


def xratesoil(tsoilavg, moistavg, p):
    """Decomposition scalars (casa.md §4.1): (xklitter, xksoil, thetaLiq, fT, fW)."""
    act = p["active"]
    fwps = jnp.minimum(1.0, moistavg / p["ssat"])
    xktemp = f_temp_decomp(p["q10soil"], tsoilavg)
    xkwater = f_water_decomp(fwps)
    xkwater = jnp.where((p["pft"] == 12) | (p["pft"] == 14), 1.0, xkwater)
    xklitter = jnp.where(act, p["xkoptlitter"] * xktemp * xkwater, 1.0)
    xksoil = jnp.where(act, p["xkoptsoil"] * xktemp * xkwater, 1.0)
    return (xklitter, xksoil, jnp.where(act, fwps, 0.0), jnp.where(act, xktemp, 0.0),
            jnp.where(act, xkwater, 0.0))


def decay_rates(xklitter, xksoil, p):
    """Litter and SOM decay rates (casa.md §4.2), each (n, 3) d-1, before N limitation."""
    lr = p["litterrate_3"]
    sr = p["soilrate_3"]
    x = xklitter
    klit = jnp.stack([x * lr[:, METB], x * lr[:, STR] * jnp.exp(-3.0 * p["lignin_3"][:, 0]),
                      x * lr[:, CWD]], -1)
    y = xksoil
    crop = p["pft"] == 12
    ksoil = jnp.stack([y * sr[:, MIC] * (1.0 - 0.75 * (p["silt"] + p["clay"])) * jnp.where(crop, 1.25, 1.0),
                       y * sr[:, SLOW] * jnp.where(crop, 1.5, 1.0),
                       y * sr[:, PASS] * jnp.where(crop, 1.5, 1.0)], -1)
    return jnp.where(p["active"][:, None], klit, 0.0), ksoil


def decay_matrix(klit, ksoil, p):
    """The day's litter and SOM C fluxes as a matrix (n, 6, 6) [to, from] over the pools
    (metabolic, structural, CWD, mic, slow, passive): d(pools)/dt = A pools + plant inputs,
    as in `delsoil`. Lower triangular: C flows from litter to SOM and from faster to slower SOM
    only."""
    k = jnp.concatenate([klit, ksoil], -1)
    sts = p["fromStoS"]
    a = -k[:, :, None] * jnp.eye(6)
    a = a.at[:, 3 + MIC, :3].set(p["fromLtoS_mic_3"] * klit).at[:, 3 + SLOW, :3].set(
        p["fromLtoS_slow_3"] * klit)
    return a.at[:, 3 + SLOW, 3 + MIC].set(sts[:, 0] * ksoil[:, MIC]).at[:, 3 + PASS, 3 + MIC].set(
        sts[:, 1] * ksoil[:, MIC]).at[:, 3 + PASS, 3 + SLOW].set(sts[:, 2] * ksoil[:, SLOW])


def ncsoil_new(nsoilmin, p):
    """N:C of newly formed SOM (casa.md §4.3), (n, 3)."""
    lo = p["ratioNCsoilmin_3"]
    hi_r = p["ratioNCsoilmax_3"]
    hi = p["xkNlimitmax"][:, None]
    nmin = nsoilmin[:, None]
    return jnp.where(nmin < hi, lo + (hi_r - lo) * jnp.maximum(0.0, nmin) / hi, hi_r)


def delsoil(klit, ksoil, clitter, csoil, flux_c_to_litter, p):
    """Soil C fluxes (casa.md §4.4). Returns dict: dclitter, dcsoil, crsoil, cpassinpt,
    fluxctosoil (n,3), cwd2som (C from CWD to SOM, a diagnostic)."""
    act = p["active"]
    litdec = klit * clitter
    somdec = ksoil * csoil
    lm, ls = p["fromLtoS_mic_3"], p["fromLtoS_slow_3"]
    sts = p["fromStoS"]  # slow<-mic, pass<-mic, pass<-slow
    to_mic = lm[:, METB] * litdec[:, METB] + lm[:, STR] * litdec[:, STR] + lm[:, CWD] * litdec[:, CWD]
    to_slow = (ls[:, METB] * litdec[:, METB] + ls[:, STR] * litdec[:, STR] + ls[:, CWD] * litdec[:, CWD]
               + sts[:, 0] * somdec[:, MIC])
    to_pass = sts[:, 1] * somdec[:, MIC] + sts[:, 2] * somdec[:, SLOW]
    flux = jnp.stack([to_mic, to_slow, to_pass], -1)
    lco2, sco2 = p["fromLtoCO2_3"], p["fromStoCO2_3"]
    crsoil = (lco2[:, METB] * litdec[:, METB] + lco2[:, STR] * litdec[:, STR] + lco2[:, CWD] * litdec[:, CWD]
              + sco2[:, MIC] * somdec[:, MIC] + sco2[:, SLOW] * somdec[:, SLOW] + sco2[:, PASS] * somdec[:, PASS])
    d = dict(dclitter=flux_c_to_litter - litdec, dcsoil=flux - somdec, crsoil=crsoil,
             cpassinpt=to_pass, fluxctosoil=flux,
             cwd2som=lm[:, CWD] * litdec[:, CWD] + ls[:, CWD] * litdec[:, CWD])
    return {k: jnp.where(act[:, None] if v.ndim == 2 else act, v, 0.0) for k, v in d.items()}


def n_losses(nsnet, nsoilmin, tsoilavg, p, fix_loss_branch=False):
    """Gaseous loss and leaching of mineral N (casa.md §4.4).

    The reference multiplies losses by Nsoilmin/2 whenever the soil is frozen or Nsoilmin <= 2,
    so a frozen soil with ample N loses more than an unfrozen one (quirk Q7);
    `fix_loss_branch` applies the factor only where it is below 1.
    """
    warm = (nsoilmin > 2.0) & (tsoilavg > 273.12)
    scale = jnp.where(warm, 1.0, jnp.maximum(0.0, nsoilmin / 2.0))
    if fix_loss_branch:
        scale = jnp.minimum(scale, 1.0)
    loss = p["fNminloss"] * jnp.maximum(0.0, nsnet) * scale
    leach = p["fNminleach"] * jnp.maximum(0.0, nsoilmin) * scale
    return loss, leach


def delsoil_n(klit, ksoil, nlitter, nsoil, nsoilmin, fluxctosoil, flux_n_to_litter, ncnew,
              nmindep, nupland, tsoilavg, p, fix_loss_branch=False):
    """Soil N fluxes and mineral-N budget (casa.md §4.4-4.5). Returns dict: dnlitter, dnsoil,
    dnsoilmin, nlittermin, nsmin, nsimm, nsnet, nminloss, nminleach."""
    act = p["active"]
    nlittermin = (klit[:, METB] * nlitter[:, METB] + klit[:, STR] * nlitter[:, STR]
                  + klit[:, CWD] * nlitter[:, CWD])
    nsmin = ksoil[:, MIC] * nsoil[:, MIC] + ksoil[:, SLOW] * nsoil[:, SLOW] + ksoil[:, PASS] * nsoil[:, PASS]
    imm = ncnew * fluxctosoil
    nsimm = -(imm[:, MIC] + imm[:, SLOW] + imm[:, PASS])
    nsnet = nlittermin + nsmin + nsimm
    loss, leach = n_losses(nsnet, nsoilmin, tsoilavg, p, fix_loss_branch)
    d = dict(
        dnlitter=flux_n_to_litter - klit * jnp.maximum(0.0, nlitter),
        dnsoil=imm - ksoil * nsoil,
        dnsoilmin=nsnet + nmindep + p["Nminfix"] - loss - leach - nupland,
        nlittermin=nlittermin, nsmin=nsmin, nsimm=nsimm, nsnet=nsnet, nminloss=loss, nminleach=leach)
    return {k: jnp.where(act[:, None] if v.ndim == 2 else act, v, 0.0) for k, v in d.items()}
