"""Wall time of the MIMICS soil kernel alone (`mimics_soil_day`) for one simulated year
(365 days x 24 hourly steps) on 4263 cells, C-only and C+N.

Drivers are random but plausible (fixed seed): seasonal soil temperature and moisture, some
frozen cells, litter inputs and lig:N-derived fmet per cell and day, previous-year NPP, CASA
mineral N carried from day to day. Compilation is timed separately from the runs (best of
--repeat runs; wall and process CPU time). Rows: the default (cells in cache-sized blocks),
all cells at once (block_size=None), and the cells split over --shards threads. Baseline
measured in the same run: the same C+N day written in plain numpy (vectorised over cells),
timed over --numpy-days days and scaled to a year.
Timings are printed, never asserted. Usage: python benchmarks/mimics_soil_year.py [--cells N]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np

from bgctestbed.params.mimics import default_mimics_params, mimics_cell_params
from bgctestbed.physics import mimics as mim

DAYS = 365


def make_inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    mp = default_mimics_params()
    pft = rng.integers(1, 19, n)
    clay = rng.uniform(0.02, 0.6, n)
    active = pft != 17  # a few ice/water cells, skipped by MIMICS
    cellp = mimics_cell_params(mp, pft, clay, active=active)
    day = np.arange(DAYS)[:, None]
    lat = rng.uniform(-55, 75, n)[None, :]
    season = np.cos(2 * np.pi * (day - 196) / DAYS) * np.sign(lat)
    tsoil = 273.15 + 25 - 0.4 * np.abs(lat) + (3 + 0.2 * np.abs(lat)) * season + rng.normal(0, 1, (DAYS, n))
    ssat = rng.uniform(0.35, 0.55, n)
    wet = np.clip(rng.uniform(0.1, 0.8, n) + 0.15 * season + rng.normal(0, 0.05, (DAYS, n)), 0.02, 0.95)
    frozen = tsoil < 272.5
    moist = np.where(frozen, 0.3, 1.0) * wet * ssat
    frzn = np.where(frozen, 0.6 * wet * ssat, 0.0)
    npp = rng.uniform(50, 2000, n)
    litter = (npp / DAYS)[None, :] * np.clip(1 + 0.5 * season + rng.normal(0, 0.2, (DAYS, n)), 0.05, None)
    fmet = np.clip(rng.uniform(0.3, 0.6, n) + rng.normal(0, 0.02, (DAYS, n)), 0.2475, 0.6375)
    uc = cellp["uc"]
    cin_m, cin_s = fmet * litter / uc, (1 - fmet) * litter / uc
    cn_lit = rng.uniform(20, 80, n)
    daily = dict(tsoilavg=tsoil, moistavg=moist, frznmoistavg=frzn, fmet=fmet,
                 ClitInput_metb=cin_m, ClitInput_struc=cin_s,
                 NlitInput_metb=cin_m / (0.5 * cn_lit), NlitInput_struc=cin_s / 150.0)
    static = dict(ssat=ssat, CnppAn=npp, fNminleach=np.full(n, 0.5 / DAYS), fNminloss=np.full(n, 0.05),
                  Nmindep=rng.uniform(0.0002, 0.006, n), Nminfix=rng.uniform(0.0, 0.006, n),
                  Nupland=rng.uniform(0.002, 0.03, n))
    nmin0 = rng.uniform(0.5, 5.0, n)
    pools = mim.initial_pools(active, mp.CNr, mp.CNk)
    to = lambda d: {k: jnp.asarray(v) for k, v in d.items()}  # noqa: E731
    return mp, to(cellp), to(daily), to(static), jnp.asarray(nmin0), pools


def year_fn(mp, nitrogen, **options):
    def year(pools, nmin, cellp, daily, static):
        def day(carry, d):
            pools, nmin = carry
            drv = dict(static, **d, Nsoilmin=nmin)
            pools, fx = mim.mimics_soil_day(pools, drv, cellp, mp, nitrogen, **options)
            if nitrogen:
                nmin = fx["Nsoilmin"] + fx["dNsoilmindt"]
            return (pools, nmin), fx["Chresp"]
        (pools, nmin), rh = jax.lax.scan(day, (pools, nmin), daily)
        return pools, nmin, rh.sum(0)
    return jax.jit(year)


def time_kernel(mp, nitrogen, args, repeat, shards=1, **options):
    """(compile s, best wall s, CPU s of that run). With shards > 1 the cells are split into
    that many contiguous parts, each run by its own compiled executable on its own thread
    (JAX releases the GIL while executing), as a driver could do on a multi-core machine."""
    fn = year_fn(mp, nitrogen, **options)
    parts = [args] if shards == 1 else _split(args, shards)
    t0 = time.perf_counter()
    compiled = [fn.lower(*a).compile() for a in parts]
    t_compile = time.perf_counter() - t0
    best = (np.inf, np.inf)
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        if shards == 1:
            jax.block_until_ready(compiled[0](*args))
        else:
            with ThreadPoolExecutor(shards) as ex:
                list(ex.map(lambda ca: jax.block_until_ready(ca[0](*ca[1])), zip(compiled, parts)))
        best = min(best, (time.perf_counter() - t0, time.process_time() - c0))
    return t_compile, best[0], best[1]


def _split(args, shards):
    pools, nmin, cellp, daily, static = args
    n = nmin.shape[0]
    edges = np.linspace(0, n, shards + 1).astype(int)
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        def cut(x, a=a, b=b):
            return x[a:b]
        out.append((jax.tree.map(cut, pools), nmin[a:b], jax.tree.map(cut, cellp),
                    jax.tree.map(lambda x, a=a, b=b: x[:, a:b], daily), jax.tree.map(cut, static)))
    return out


def numpy_year_estimate(mp, cellp, daily, static, nmin, pools, days):
    """The C+N day (§5, §7) in plain numpy over cells; seconds per year scaled from `days`."""
    c = {k: np.asarray(v) for k, v in cellp.items()}
    p = [np.asarray(x).copy() for x in pools]
    nmin = np.asarray(nmin).copy()
    mge, nue, fi, ko = mp.MGE, mp.NUE, mp.Fi, mp.KO
    t0 = time.perf_counter()
    for t in range(days):
        d = {k: np.asarray(v[t]) for k, v in daily.items()}
        s = {k: np.asarray(v) for k, v in static.items()}
        ts = d["tsoilavg"] - 273.15
        tl = np.minimum(1, d["moistavg"] / s["ssat"])
        tf = np.minimum(1, d["frznmoistavg"] / s["ssat"])
        afp = np.maximum(0, 1 - tl - tf)
        fw = np.maximum(0.05, tl ** 3 * afp ** 2.5 * 44.2466756824402)
        vmax = [np.exp(mp.Vslope[i] * ts + mp.Vint[i]) * mp.av[i] * mp.Vmod[i] * fw for i in range(6)]
        km = [np.exp(mp.Kslope[i] * ts + mp.Kint[i]) * mp.ak[i] / c["Kmod"][:, i] for i in range(6)]
        tm = np.minimum(mp.tauMod_MAX, np.maximum(mp.tauMod_MIN, np.sqrt(s["CnppAn"] / mp.tauModDenom)))
        taur = mp.tau_r[0] * np.exp(mp.tau_r[1] * d["fmet"]) * tm * fw
        tauk = mp.tau_k[0] * np.exp(mp.tau_k[1] * d["fmet"]) * tm * fw
        cnr = mp.CNr * np.sqrt(mp.cnModNum / d["fmet"])
        cnk = mp.CNk * np.sqrt(mp.cnModNum / d["fmet"])
        fc_r = mp.fCHEM_r[0] * np.exp(mp.fCHEM_r[1] * d["fmet"]) * mp.fCHEM_r[2]
        fc_k = mp.fCHEM_K[0] * np.exp(mp.fCHEM_K[1] * d["fmet"]) * mp.fCHEM_K[2]
        fa_r, fa_k = 1 - fc_r - c["fPHYS_r"], 1 - fc_k - c["fPHYS_k"]
        leach = nmin * s["fNminleach"]
        nmin = nmin - leach
        din = mp.fracDINavailMIC * nmin / c["uc"]
        din0 = din
        im, is_ = d["ClitInput_metb"] / 24, d["ClitInput_struc"] / 24
        inm, ins = d["NlitInput_metb"] / 24, d["NlitInput_struc"] / 24
        for _ in range(24):
            LITm, LITs, MICr, MICk, SOMa, SOMc, SOMp, LITmN, LITsN, MICrN, MICkN, SOMaN, SOMcN, SOMpN = p
            l1 = MICr * vmax[0] * LITm / (km[0] + MICr)
            l2 = MICr * vmax[1] * LITs / (km[1] + MICr)
            s1 = MICr * vmax[2] * SOMa / (km[2] + MICr)
            l3 = MICk * vmax[3] * LITm / (km[3] + MICk)
            l4 = MICk * vmax[4] * LITs / (km[4] + MICk)
            s2 = MICk * vmax[5] * SOMa / (km[5] + MICk)
            de = SOMp * c["desorp"]
            ox = MICk * vmax[4] * SOMc / (ko[1] * km[4] + MICk) + MICr * vmax[1] * SOMc / (ko[0] * km[1] + MICr)
            rr, rk = 1 / (MICr + 1e-10), 1 / (MICk + 1e-10)
            n1, n2 = l1 * LITmN / (LITm + 1e-10), l2 * LITsN / (LITs + 1e-10)
            n3, n4 = l3 * LITmN / (LITm + 1e-10), l4 * LITsN / (LITs + 1e-10)
            sn1, sn2 = s1 * SOMaN / (SOMa + 1e-10), s2 * SOMaN / (SOMa + 1e-10)
            t = [MICr * taur * c["fPHYS_r"], MICr * taur * fc_r, MICr * taur * fa_r,
                 MICk * tauk * c["fPHYS_k"], MICk * tauk * fc_k, MICk * tauk * fa_k]
            tn = [x * MICrN * rr for x in t[:3]] + [x * MICkN * rk for x in t[3:]]
            den, oxn = de * SOMpN / (SOMp + 1e-10), ox * SOMcN / (SOMc + 1e-10)
            dr, dk = din * MICr / (MICr + MICk), din * MICk / (MICr + MICk)
            urc, urn = mge[0] * (l1 + s1) + mge[1] * l2, nue[0] * (n1 + sn1) + nue[1] * n2 + dr
            ukc, ukn = mge[2] * (l3 + s2) + mge[3] * l4, nue[2] * (n3 + sn2) + nue[3] * n4 + dk
            cr, ck = urc / (urn + 1e-10), ukc / (ukn + 1e-10)
            ofr, ofk = urc - urn * np.minimum(cnr, cr), ukc - ukn * np.minimum(cnk, ck)
            spr, spk = urn - urc / np.maximum(cnr, cr), ukn - ukc / np.maximum(cnk, ck)
            p = [LITm + im * (1 - fi[0]) - l1 - l3, LITs + is_ * (1 - fi[1]) - l2 - l4,
                 MICr + urc - (t[0] + t[1] + t[2]) - ofr, MICk + ukc - (t[3] + t[4] + t[5]) - ofk,
                 SOMa + t[2] + t[5] + de + ox - s1 - s2, SOMc + is_ * fi[1] + t[1] + t[4] - ox,
                 SOMp + im * fi[0] + t[0] + t[3] - de,
                 LITmN + inm * (1 - fi[0]) - n1 - n3, LITsN + ins * (1 - fi[1]) - n2 - n4,
                 MICrN + urn - (tn[0] + tn[1] + tn[2]) - spr, MICkN + ukn - (tn[3] + tn[4] + tn[5]) - spk,
                 SOMaN + tn[2] + tn[5] + den + oxn - sn1 - sn2, SOMcN + ins * fi[1] + tn[1] + tn[4] - oxn,
                 SOMpN + inm * fi[0] + tn[0] + tn[3] - den]
            din = din + ((1 - nue[0]) * (n1 + sn1) + (1 - nue[1]) * n2 + (1 - nue[2]) * (n3 + sn2)
                         + (1 - nue[3]) * n4 + spr + spk - dr - dk)
        nmin = nmin + c["uc"] * (din - din0) + s["Nmindep"] + s["Nminfix"] - s["Nupland"]
    return (time.perf_counter() - t0) * DAYS / days


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=4263)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--numpy-days", type=int, default=10)
    ap.add_argument("--shards", type=int, default=2, help="threads for the sharded runs")
    a = ap.parse_args()
    mp, cellp, daily, static, nmin, pools = make_inputs(a.cells)
    print(f"MIMICS soil kernel, one simulated year ({DAYS} d x 24 h) on {a.cells} cells; "
          f"jax {jax.__version__} on {jax.devices()[0].platform}")
    args = (pools, nmin, cellp, daily, static)
    cases = [("MIMICS-C", False, 1, {}), ("MIMICS-CN", True, 1, {}),
             ("MIMICS-C, unblocked", False, 1, dict(block_size=None)),
             ("MIMICS-CN, unblocked", True, 1, dict(block_size=None)),
             (f"MIMICS-C, {a.shards} threads", False, a.shards, {}),
             (f"MIMICS-CN, {a.shards} threads", True, a.shards, {})]
    res = {name: time_kernel(mp, nit, args, a.repeat, shards, **opt)
           for name, nit, shards, opt in cases}
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 on ice cells, as in the kernel
        np_year = numpy_year_estimate(mp, cellp, daily, static, nmin, pools, a.numpy_days)
    print(f"{'kernel':<26}{'compile s':>10}{'wall s/yr':>11}{'CPU s/yr':>10}{'x numpy':>9}")
    for name, (tc, tr, tcpu) in res.items():
        print(f"{name:<26}{tc:10.2f}{tr:11.3f}{tcpu:10.3f}{np_year / tr:9.1f}")
    print(f"{'numpy C+N (baseline)':<26}{'':>10}{np_year:11.3f}{'':>10}{1.0:9.1f}   (plain numpy "
          f"hourly step, scaled from {a.numpy_days} days)")
    print(f"MIMICS-CN / MIMICS-C wall time: {res['MIMICS-CN'][1] / res['MIMICS-C'][1]:.2f}")


if __name__ == "__main__":
    main()
