"""CASA-CNP vegetation (casa.md §3): phenology, NPP, allocation, turnover, plant N.

Pure elementwise functions over cells. `p` is the dict of per-cell parameters from
`bgctestbed.params.casa.casa_cell_params` (as jnp arrays); plant parts are the last axis
(leaf, wood, froot). Inactive cells (`p["active"]` False: ice, water, urban, wetland) keep
the reference's defaults. Units: C in gC m-2, N in gN m-2, fluxes per day.
"""

from __future__ import annotations

import jax.numpy as jnp

from .environment import f_lloyd_taylor

LEAF, WOOD, FROOT = 0, 1, 2
NCSTR = 1.0 / 150.0  # fixed N:C of structural litter (gN gC-1)
UPTAKE_EPS = 1e-10  # added to total N uptake, not allocated: mineral N loses it daily (budget term)


def _wrap(d):
    return jnp.where(d < 0, d + 365, d)


def phenology(phase, iday, dp, pft):
    """Advance the phenological phase by at most one step (casa.md §3.1).

    phase (n,) int; iday day of year 1..365; dp (n, 4) doy of phase starts.
    """
    dp1, dp2, dp3, dp4 = dp[:, 0], dp[:, 1], dp[:, 2], dp[:, 3]
    d12, d23, d34, d41 = _wrap(dp2 - dp1), _wrap(dp3 - dp2), _wrap(dp4 - dp3), _wrap(dp1 - dp4)
    new = jnp.select(
        [phase == 0, phase == 1, phase == 2, phase == 3],
        [jnp.where(_wrap(iday - dp4) > d41, 1, 0),
         jnp.where(_wrap(iday - dp1) > d12, 2, 1),
         jnp.where(_wrap(iday - dp2) > d23, 3, 2),
         jnp.where(_wrap(iday - dp3) > d34, 0, 3)],
        phase)
    return jnp.where((pft == 1) | (pft == 2), 2, new).astype(phase.dtype)


def rplant(cgpp, tairk, tsoilavg, cplant, nplant, clabile, pleaf, p):
    """Maintenance and growth respiration, NPP (casa.md §3.3).

    Returns dict: cnpp, crp, rm (n,3) (leaf always 0, quirk Q11), rg, clabloss.
    """
    act = p["active"]
    flt_air = f_lloyd_taylor(tairk)
    rm_wood = jnp.where((tairk > 250.0) & (cplant[:, WOOD] > 1e-6),
                        p["rmplant_3"][:, WOOD] * nplant[:, WOOD] * flt_air, 0.0)
    rm_froot = jnp.where((tsoilavg > 250.0) & (cplant[:, FROOT] > 1e-6),
                         p["rmplant_3"][:, FROOT] * nplant[:, FROOT] * f_lloyd_taylor(tsoilavg), 0.0)
    clabloss = jnp.where(tairk > 250.0, p["kclabrate"] * jnp.maximum(0.0, clabile) * flt_air, 0.0)
    nleaf = nplant[:, LEAF]
    pn = jnp.where(nleaf > 0.0, pleaf / (nleaf + 1e-10), 0.0)
    ygrow = 0.65 + 0.2 * pn / (pn + 1.0 / 15.0)
    g = cgpp - (rm_wood + rm_froot)
    rg = jnp.where(g > 0.0, (1.0 - ygrow) * jnp.maximum(0.0, g), 0.0)
    cnpp = cgpp - rm_wood - rm_froot - rg
    crp = rm_wood + rm_froot + rg
    zero = jnp.zeros_like(cgpp)
    rm = jnp.stack([zero, rm_wood, rm_froot], -1)
    return dict(cnpp=jnp.where(act, cnpp, 0.0), crp=jnp.where(act, crp, 0.0),
                rm=jnp.where(act[:, None], rm, 0.0), rg=jnp.where(act, rg, 0.0),
                clabloss=jnp.where(act, clabloss, 0.0))


def allocation(phase, glai, cnpp, rm, p):
    """Fixed NPP allocation with phenology/LAI overrides (casa.md §3.4). Returns (n, 3)."""
    f = p["fracCalloc_3"]
    fl, fw, fr = f[:, LEAF], f[:, WOOD], f[:, FROOT]
    nonwood = ~p["woody"]

    def no_leaf(fl, fw, fr):
        fr2 = fr / (fr + fw)
        return jnp.zeros_like(fl), 1.0 - fr2, fr2

    def greenup(fl, fw, fr):
        return (jnp.full_like(fl, 0.8), jnp.where(nonwood, fw, 0.1), jnp.where(nonwood, 0.2, 0.1))

    def sel(cond, new, old):
        return tuple(jnp.where(cond, a, b) for a, b in zip(new, old))

    act = p["active"]
    cur = (fl, fw, fr)
    cur = sel(act & (phase == 0), no_leaf(*cur), cur)
    cur = sel(act & (phase == 1), greenup(*cur), cur)
    cur = sel(act & (phase == 3), (jnp.zeros_like(fl), cur[1], 1.0 - cur[1]), cur)
    cur = sel(act & (glai >= p["glaimax"]), no_leaf(*cur), cur)
    cur = sel(act & (glai < p["glaimin"]), greenup(*cur), cur)
    rmsum = rm[:, LEAF] + rm[:, WOOD] + rm[:, FROOT]
    # negative NPP is taken from the tissues in proportion to their maintenance respiration;
    # with no respiration at all the reference divides 0/0, here the fractions are kept
    neg = act & (cnpp < 0.0) & (rmsum > 0.0)
    safe = jnp.where(rmsum > 0.0, rmsum, 1.0)
    cur = sel(neg, (rm[:, LEAF] / safe, rm[:, WOOD] / safe, rm[:, FROOT] / safe), cur)
    tot = cur[0] + cur[1] + cur[2]
    return jnp.stack([c / tot for c in cur], -1)


def xrateplant(tairk, btran, phase, p):
    """Cold and drought leaf-loss rates (casa.md §3.5): (xkleafcold, xkleafdry, xkleaf)."""
    act = p["active"]
    tk = p["tkshed"]
    xcold = jnp.where(tairk >= tk, 1.0, jnp.where(tairk <= tk - 5.0, 0.0, (tairk - (tk - 5.0)) / 5.0))
    xcold = jnp.minimum(1.0, jnp.maximum(0.0, xcold))
    cold = p["xkleafcoldmax"] * (1.0 - xcold) ** p["xkleafcoldexp"]
    dry = p["xkleafdrymax"] * (1.0 - btran) ** p["xkleafdryexp"]
    xkleaf = jnp.where(act & (phase == 1), 0.0, 1.0)
    return jnp.where(act, cold, 0.0), jnp.where(act, dry, 0.0), xkleaf


def kplant(xkleafcold, xkleafdry, xkleaf, glai, p):
    """Plant turnover rates (casa.md §3.6), (n, 3) d-1."""
    r = p["plantrate_3"]
    kleaf = r[:, LEAF] * xkleaf + xkleafcold + xkleafdry
    kleaf = jnp.where(glai <= p["glaimin"], 0.0, kleaf)
    k = jnp.stack([kleaf, r[:, WOOD], r[:, FROOT]], -1)
    return jnp.where(p["active"][:, None], k, 0.0)


def litter_lignin_n(cplant, nplant, p):
    """Lignin:N of leaf and fine-root litter from the prognostic plant C:N (casa.md §3.6)."""
    q = (LEAF, FROOT)
    c = cplant[:, q]
    n = jnp.maximum(1e-10, nplant[:, q])
    return c / (n * p["ftransNPtoL_3"][:, q]) * p["lignin_3"][:, q]


def metabolic_fraction(ln, a=0.75, b=0.85, c=0.013):
    """Fraction of leaf/root litter to the metabolic pool, floored at 0.001."""
    return jnp.maximum(0.001, a * (b - c * ln))


def nrequire(xncnpp, fraccalloc, kpl, cplant, nplant, nsoilmin, p):
    """Plant N demand (casa.md §3.8): (Nreqmin, Nreqmax), each (n, 3)."""
    ncmin = p["ratioNCplantmin_3"]
    ncmax = p["ratioNCplantmax_3"]
    lo = p["xkNlimitmin"][:, None]
    hi = p["xkNlimitmax"][:, None]
    nmin = nsoilmin[:, None]
    fnc = (nmin - hi) / (hi - lo) + 1.0
    ncpmax = jnp.where(nmin < hi, ncmin + (ncmax - ncmin) * jnp.minimum(1.0, jnp.maximum(0.0, fnc)), ncmax)
    x = xncnpp[:, None]
    reqmax = x * fraccalloc * ncpmax
    reqmin = x * fraccalloc * ncmin
    trans = kpl * nplant * (1.0 - p["ftransNPtoL_3"])
    reqmax = jnp.maximum(0.0, reqmax - trans)
    reqmin = jnp.maximum(0.0, reqmin - trans)
    full = nplant / (cplant + 1e-10) > ncmax
    return jnp.where(full, 0.0, reqmin), jnp.where(full, 0.0, reqmax)


def xnp(cnpp, cgpp, fraccalloc, kpl, cplant, nplant, nsoilmin, p):
    """N limitation of NPP (casa.md §3.7). Returns (cnpp, fracClabile)."""
    reqmin, _ = nrequire(jnp.maximum(0.0, cnpp), fraccalloc, kpl, cplant, nplant, nsoilmin, p)
    tot = reqmin[:, LEAF] + reqmin[:, WOOD] + reqmin[:, FROOT]
    xnup = jnp.maximum(0.0, jnp.minimum(1.0, nsoilmin / (tot * 1.0 + 1e-10)))
    lim = p["active"] & (cnpp > 0.0) & (xnup < 1.0)
    frac = jnp.minimum(1.0, jnp.maximum(0.0, 1.0 - xnup)) * jnp.maximum(0.0, cnpp) / (cgpp + 1e-10)
    frac = jnp.where(lim, frac, 0.0)
    return jnp.where(lim, cnpp - frac * cgpp, cnpp), frac


def xkn_limiting(nsoilmin, p):
    """Linear ramp of N limitation between xkNlimitmin and xkNlimitmax (casa.md §4.3)."""
    lo, hi = p["xkNlimitmin"], p["xkNlimitmax"]
    ramp = jnp.minimum(1.0, jnp.maximum(0.0, (nsoilmin - hi) / (hi - lo) + 1.0))
    x = jnp.where(nsoilmin - hi > 0.0, 1.0, ramp)
    return jnp.where(p["active"], x, 1.0)


def nuptake(cnpp, fraccalloc, kpl, cplant, nplant, nsoilmin, xknlimiting, p):
    """Plant mineral-N uptake and its allocation (casa.md §3.8): (Nminuptake, fracNalloc)."""
    reqmin, reqmax = nrequire(jnp.maximum(0.0, cnpp), fraccalloc, kpl, cplant, nplant, nsoilmin, p)
    up = reqmin + xknlimiting[:, None] * (reqmax - reqmin) * (nsoilmin / (nsoilmin + p["kminN"]))[:, None]
    total = up[:, LEAF] + up[:, WOOD] + up[:, FROOT] + UPTAKE_EPS
    act = p["active"]
    return jnp.where(act, total, 0.0), jnp.where(act[:, None], up / total[:, None], 0.0)


def delplant(cnpp, cgpp, fraccalloc, fracclabile, clabloss, kpl, cplant, fmet, cexudate, p):
    """Plant C tendencies and litterfall C (casa.md §3.9.1).

    fmet (n, 2): metabolic fraction of leaf and fine-root litter. Returns dict with dcplant
    (n,3), dclabile, cleaf2met, cleaf2str, croot2met, croot2str, cwood2cwd.
    """
    act = p["active"]
    turn = kpl * cplant
    d = dict(
        dcplant=cnpp[:, None] * fraccalloc - turn,
        dclabile=cgpp * fracclabile - clabloss,
        cleaf2met=fmet[:, 0] * turn[:, LEAF],
        cleaf2str=(1.0 - fmet[:, 0]) * turn[:, LEAF],
        croot2met=fmet[:, 1] * turn[:, FROOT] + cexudate,
        croot2str=(1.0 - fmet[:, 1]) * turn[:, FROOT],
        cwood2cwd=turn[:, WOOD],
    )
    return {k: jnp.where(act[:, None] if v.ndim == 2 else act, v, 0.0) for k, v in d.items()}


def delplant_n(kpl, nplant, fracnalloc, nminuptake, cleaf2str, croot2str, p):
    """Plant N tendencies and litterfall N (casa.md §3.9.1, icycle 2).

    Returns dict: dnplant (n,3), fluxntolitter (n,3: metabolic, structural, CWD), nleaf2met,
    nleaf2str, nroot2met, nroot2str, nwood2cwd.
    """
    act = p["active"]
    ft = p["ftransNPtoL_3"]
    loss = kpl * nplant
    dleaf = jnp.where(fracnalloc[:, LEAF] == 0.0, -loss[:, LEAF], -loss[:, LEAF] * ft[:, LEAF])
    dwood = -loss[:, WOOD] * ft[:, WOOD]
    droot = -loss[:, FROOT] * ft[:, FROOT]
    nleaf2str = cleaf2str * NCSTR
    nroot2str = croot2str * NCSTR
    dn = jnp.stack([dleaf, dwood, droot], -1) + nminuptake[:, None] * fracnalloc
    tostr = nleaf2str + nroot2str
    flux = jnp.stack([-dleaf - droot - tostr, tostr, -dwood], -1)
    d = dict(dnplant=dn, fluxntolitter=flux, nleaf2met=-dleaf - nleaf2str, nleaf2str=nleaf2str,
             nroot2met=-droot - nroot2str, nroot2str=nroot2str, nwood2cwd=-dwood)
    return {k: jnp.where(act[:, None] if v.ndim == 2 else act, v, 0.0) for k, v in d.items()}
