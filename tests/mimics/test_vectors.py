"""MIMICS-C and MIMICS-CN against outputs of the reference Fortran routines for the single-cell
case of mimics.md §14 (`mimics_vectors/fortran_out_{cn,c}_365d.txt`).

The plant-side inputs of that case (mimics.md §4.1-4.3, done on the vegetation side of the
model) are built here from the spec's formulas; plant and CWD pools stay fixed, so the litter
input is the same every day, while CASA mineral N is updated daily by dNsoilmindt.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bgctestbed.params.mimics import mimics_cell_params, read_mimics_params, static_lignin_n
from bgctestbed.physics import mimics as mim

CSV = "pftlookup_LIDET-MIM-REV_CN_desorb2xKO4_micCN_FI30.csv"
POOLS_C = ("LITm", "LITs", "MICr", "MICk", "SOMa", "SOMc", "SOMp")

# the fixed case (mimics.md §14); plant parts leaf, wood, froot
CASE = dict(pft=1, clay=0.25, ssat=0.45, moistavg=0.2, frznmoistavg=0.0, tsoilavg=285.15,
            CnppAn=800.0, frac_lignin=(0.25, 0.4, 0.25), cn_plant=(50.0, 250.0, 78.0),
            cn_plant_max=(60.0, 300.0, 90.0), ftrans=(0.5, 0.95, 0.9),
            plantrate=(0.004, 0.0001, 0.003), xkleaf=1.0, q10soil=1.72, xkoptlitter=0.4,
            litterrate_cwd=0.001, cplant=(400.0, 8000.0, 250.0), nplant=(8.0, 32.0, 3.2),
            clitter_cwd=600.0, nlitter_cwd=3.0, Nminuptake=0.05, Cexudate=0.0,
            Nsoilmin0=3.0, fNminleach=0.001, fNminloss=0.01, Nmindep=0.002, Nminfix=0.001,
            Nupland=0.01)
LEAF, WOOD, FROOT = 0, 1, 2


def parse_vectors(path):
    """{block: {label: values}}; blocks 'inputs' and day numbers."""
    out, block = {}, None
    for line in path.read_text().splitlines():
        m = re.match(r"--- (?:after day\s+(\d+)|inputs.*) ---", line)
        if m:
            block = int(m.group(1)) if m.group(1) else "inputs"
            out[block] = {}
        elif "=" in line:
            label, vals = line.split("=", 1)
            out[block][label.strip()] = np.array([float(v) for v in vals.split()])
    return out


def plant_side(nitrogen):
    """mimics_coeffplant, mimics_xratesoil and mimics_delplant(_CN) for the fixed case."""
    c = CASE
    lig = np.array(c["frac_lignin"])
    ratio_nc = 1.0 / np.array(c["cn_plant"])
    ln = static_lignin_n(lig, ratio_nc)
    cplant, nplant, ft = np.array(c["cplant"]), np.array(c["nplant"]), np.array(c["ftrans"])
    if nitrogen:
        cnmax = 1.0 / (1.0 / np.array(c["cn_plant_max"]))
        for p in (LEAF, FROOT):
            if cplant[p] / max(1e-10, nplant[p]) > cnmax[p]:
                ln[p] = cnmax[p] / ft[p] * lig[p]
            else:
                ln[p] = (cplant[p] / (max(1e-10, nplant[p]) * ft[p])) * lig[p]
    fmet_p = (0.75, 0.85, 0.013)
    met = np.maximum(0.001, fmet_p[0] * (fmet_p[1] - fmet_p[2] * ln))
    kplant = np.array(c["plantrate"]) * np.array([c["xkleaf"], 1.0, 1.0])
    fwps = min(1.0, c["moistavg"] / c["ssat"])
    xktemp = c["q10soil"] ** (0.1 * (c["tsoilavg"] - 273.15 - 35.0))
    xkwater = ((fwps - 1.70) / (0.55 - 1.70)) ** 6.6481 * ((fwps - (-0.007)) / (0.55 - (-0.007))) ** 3.22
    kcwd = c["xkoptlitter"] * xktemp * xkwater * c["litterrate_cwd"]
    fco2 = min(1.0, max(0.0, 1.0 - 0.40 * (1.0 - lig[WOOD]) - 0.7 * lig[WOOD]))
    f = dict(ln=ln, met=met, kplant=kplant, kcwd=kcwd, fco2=fco2,
             cleaf2met=met[LEAF] * kplant[LEAF] * cplant[LEAF],
             cleaf2str=(1.0 - met[LEAF]) * kplant[LEAF] * cplant[LEAF],
             croot2met=met[FROOT] * kplant[FROOT] * cplant[FROOT] + c["Cexudate"],
             croot2str=(1.0 - met[FROOT]) * kplant[FROOT] * cplant[FROOT],
             cwood2cwd=1.0 * kplant[WOOD] * cplant[WOOD],
             cwd2str=(1.0 - fco2) * kcwd * c["clitter_cwd"],
             cwd2co2=fco2 * kcwd * c["clitter_cwd"])
    if nitrogen:
        dn = -kplant * nplant * ft
        f["nleaf2str"] = (1.0 - met[LEAF]) * kplant[LEAF] * cplant[LEAF] * (1.0 / 150.0)
        f["nroot2str"] = (1.0 - met[FROOT]) * kplant[FROOT] * cplant[FROOT] * (1.0 / 150.0)
        f["nleaf2met"] = -dn[LEAF] - f["nleaf2str"]
        f["nroot2met"] = -dn[FROOT] - f["nroot2str"]
        f["nwood2cwd"] = -dn[WOOD]
        f["nwd2str"] = kcwd * c["nlitter_cwd"]
    return f


def one(x):
    return jnp.array([x], dtype=jnp.float64)


def setup_case(mp, nitrogen):
    f = plant_side(nitrogen)
    cellp = mimics_cell_params(mp, np.array([CASE["pft"]]), np.array([CASE["clay"]]))
    nkw = {k: one(f[k]) for k in ("nleaf2met", "nleaf2str", "nroot2met", "nroot2str", "nwd2str")} \
        if nitrogen else {}
    lit = mim.litter_partition(one(f["cleaf2met"]), one(f["cleaf2str"]), one(f["croot2met"]),
                               one(f["croot2str"]), one(f["cwd2str"]), one(f["ln"][LEAF]),
                               one(f["ln"][FROOT]), one(f["ln"][WOOD]), cellp, mp, **nkw)
    drivers = {k: one(CASE[k]) for k in ("tsoilavg", "moistavg", "frznmoistavg", "ssat", "CnppAn")}
    drivers.update({k: lit[k] for k in ("ClitInput_metb", "ClitInput_struc", "NlitInput_metb",
                                        "NlitInput_struc", "fmet")})
    if nitrogen:
        drivers.update({k: one(CASE[k]) for k in ("fNminleach", "fNminloss", "Nmindep", "Nminfix",
                                                  "Nupland")})
    return f, cellp, lit, drivers


def run_year(mp, nitrogen, days=365):
    """365 days of `mimics_soil_day` as a `lax.scan`, CASA mineral N updated daily, annual
    respiration accumulated as in `mimics_caccum`."""
    f, cellp, lit, drivers = setup_case(mp, nitrogen)
    uc = cellp["uc"]
    cwd2co2 = f["cwd2co2"]
    pools0 = mim.initial_pools(jnp.array([True]), mp.CNr, mp.CNk)

    def day(carry, _):
        pools, nmin, chresp_an = carry
        d = dict(drivers, Nsoilmin=nmin) if nitrogen else drivers
        pools, fx = mim.mimics_soil_day(pools, d, cellp, mp, nitrogen)
        chresp = fx["Chresp"] + cwd2co2 / uc          # mimics_caccum: CWD CO2 folded into Rh
        chresp_an = chresp_an + chresp * uc
        if nitrogen:
            nmin = fx["Nsoilmin"] + fx["dNsoilmindt"]   # mimics_cncycle
        out = dict(fx, Chresp_total=chresp, ChrespAn=chresp_an, Nsoilmin_end=nmin,
                   **pools._asdict())
        return (pools, nmin, chresp_an), out

    carry0 = (pools0, one(CASE["Nsoilmin0"]), one(0.0))
    _, ys = jax.jit(lambda c: jax.lax.scan(day, c, None, length=days))(carry0)
    rates = mim.soil_rates(dict(drivers, Nsoilmin=one(CASE["Nsoilmin0"])), cellp, mp, nitrogen)
    return f, cellp, lit, rates, {k: np.asarray(v)[:, 0] for k, v in ys.items()}


@pytest.fixture(scope="module")
def mp(reference_dir):
    return read_mimics_params(reference_dir / "testbed_inputs" / CSV)


@pytest.fixture(scope="module", params=[True, False], ids=["CN", "C"])
def case(request, reference_dir, mp):
    nitrogen = request.param
    ref = parse_vectors(reference_dir / "mimics_vectors"
                        / f"fortran_out_{'cn' if nitrogen else 'c'}_365d.txt")
    return nitrogen, ref, run_year(mp, nitrogen)


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))


def test_plant_side_inputs_of_the_case(case):
    """The inline construction of the §4.1-4.3 inputs reproduces the reference's."""
    nitrogen, ref, (f, *_rest) = case
    r = ref["inputs"]
    np.testing.assert_allclose(f["ln"], r["ligninNratio leaf,wood,froot"], rtol=1e-14)  # leaf, wood, froot
    np.testing.assert_allclose(f["met"][[LEAF, FROOT]], r["fromPtoL metb leaf, froot"], rtol=1e-14)
    np.testing.assert_allclose(f["kplant"], r["kplant"], rtol=1e-15)
    np.testing.assert_allclose([f["kcwd"], f["fco2"]], r["klitter(cwd), fromLtoCO2(cwd)"], rtol=1e-14)
    np.testing.assert_allclose([f[k] for k in ("cleaf2met", "cleaf2str", "croot2met", "croot2str")],
                               r["cleaf2met,cleaf2str,croot2met,croot2str"], rtol=1e-14)
    np.testing.assert_allclose([f[k] for k in ("cwood2cwd", "cwd2str", "cwd2co2")],
                               r["cwood2cwd,cwd2str,cwd2co2"], rtol=1e-14)
    if nitrogen:
        np.testing.assert_allclose(
            [f[k] for k in ("nleaf2met", "nleaf2str", "nroot2met", "nroot2str", "nwd2str", "nwood2cwd")],
            r["nleaf2met,nleaf2str,nroot2met,nroot2str,nwd2str,nwood2cwd"], rtol=1e-14)


def test_litter_partition_and_cell_parameters(case):
    """§3.3, §4.4-4.5: ligNavg, fmet, litter inputs, necromass fractions, Kmod, desorp."""
    nitrogen, ref, (f, cellp, lit, rates, ys) = case
    r = ref["inputs"]
    np.testing.assert_allclose([lit["ligNavg"][0], lit["fmet"][0]], r["ligninNratioAvg, fmet"], rtol=1e-14)
    np.testing.assert_allclose([lit["ClitInput_metb"][0], lit["ClitInput_struc"][0]],
                               r["ClitInput metb, struc (mgC/cm3/d)"], rtol=1e-14)
    np.testing.assert_allclose([lit["NlitInput_metb"][0], lit["NlitInput_struc"][0]],
                               r["NlitInput metb, struc (mgN/cm3/d)"], rtol=1e-14, atol=0.0)
    np.testing.assert_allclose([lit[k][0] for k in ("fPHYS_r", "fPHYS_k", "fCHEM_r", "fCHEM_k",
                                                    "fAVAL_r", "fAVAL_k")],
                               r["fPHYS r,k fCHEM r,k fAVAL r,k"], rtol=1e-14)
    np.testing.assert_allclose(cellp["Kmod"][0], r["Kmod"], rtol=1e-15)
    np.testing.assert_allclose(cellp["desorp"], r["desorp"], rtol=1e-15)


def test_daily_constants(case):
    """§5: Vmax, Km, fW, tauMod, tauR, tauK and (C+N) CN_r of every reported day."""
    nitrogen, ref, (f, cellp, lit, rates, ys) = case
    for day in (1, 365):
        r = ref[day]
        np.testing.assert_allclose(rates["Vmax"][0], r["Vmax"], rtol=1e-14)
        np.testing.assert_allclose(rates["Km"][0], r["Km"], rtol=1e-14)
        want = r["fW, tauMod, tauR, tauK, CN_r"]
        got = [rates["fW"][0], rates["tauMod"][0], rates["tauR"][0], rates["tauK"][0]]
        np.testing.assert_allclose(got, want[:4], rtol=1e-14)
        np.testing.assert_allclose(ys["fW"][day - 1], want[0], rtol=1e-14)
        if nitrogen:
            np.testing.assert_allclose(rates["CN_r"][0], want[4], rtol=1e-14)
        else:
            assert want[4] == 0.0 and "CN_r" not in rates  # not computed by the C-only routine


def test_pools_and_fluxes_every_reported_day(case):
    """Every column of the reference file: pools <= 1e-12 relative, fluxes likewise; the
    overflow respiration (a tiny difference of large numbers in C-limited hours) with an
    absolute tolerance."""
    nitrogen, ref, (f, cellp, lit, rates, ys) = case
    uc = float(cellp["uc"][0])
    for day in (1, 365):
        r, i = ref[day], day - 1
        np.testing.assert_allclose([ys[k][i] for k in POOLS_C],
                                   r["C pools LITm LITs MICr MICk SOMa SOMc SOMp"], rtol=1e-12)
        npools = [ys[k + "N"][i] for k in POOLS_C] + [ys["DIN"][i] if nitrogen else 0.0]
        np.testing.assert_allclose(npools, r["N pools LITmN LITsN MICrN MICkN SOMaN SOMcN SOMpN DIN"],
                                   rtol=1e-12)
        want = r["Chresp(mg/cm3/d incl cwd), CSOMpInput, Overflow_r, Overflow_k"]
        np.testing.assert_allclose([ys["Chresp_total"][i], ys["CSOMpInput"][i]], want[:2], rtol=1e-12)
        np.testing.assert_allclose([ys["Overflow_r"][i], ys["Overflow_k"][i]], want[2:], rtol=0, atol=1e-19)
        np.testing.assert_allclose(ys["ChrespAn"][i], r["ChrespAn (gC/m2 cumulative)"], rtol=1e-12)
        if nitrogen:
            want = r["Nlittermin Nsmin Nsimm Nsnet Nminloss Nminleach (gN/m2/d)"]
            got = [ys[k][i] for k in ("Nlittermin", "Nsmin", "Nsimm", "Nsnet", "Nminloss", "Nminleach")]
            np.testing.assert_allclose(got, want, rtol=1e-11)
            np.testing.assert_allclose([ys["dNsoilmindt"][i], ys["Nsoilmin_end"][i]],
                                       r["dNsoilmindt, Nsoilmin(after update)"], rtol=1e-11)
            # CASA's Crsoil of this (single, so unaffected by quirk Q1) cell
            np.testing.assert_allclose(ys["Chresp"][i] * uc + f["cwd2co2"], r["Crsoil(1)"], rtol=1e-12)


def test_inactive_cells_untouched(mp):
    """Ice/water cells keep their pools (here non-zero, non-default) and get zero fluxes, in a
    batch with an active cell whose results do not depend on its neighbour."""
    for nitrogen in (True, False):
        f, cellp1, lit, drv1 = setup_case(mp, nitrogen)
        cellp = mimics_cell_params(mp, np.array([1, 15]), np.array([0.25, 0.1]),
                                   active=np.array([True, False]))
        drivers = {k: jnp.concatenate([v, v]) for k, v in drv1.items()}
        if nitrogen:
            drivers["Nsoilmin"] = jnp.array([3.0, 7.0])
        base = mim.initial_pools(jnp.array([True, True]), mp.CNr, mp.CNk)
        pools = mim.MimicsPools(*(x * jnp.array([1.0, 3.7]) for x in base))
        new, fx = jax.jit(mim.mimics_soil_day, static_argnums=(3, 4))(pools, drivers, cellp, mp, nitrogen)
        for a, b in zip(new, pools):
            assert float(a[1]) == float(b[1])
        for k, v in fx.items():
            if k == "Nsoilmin":
                assert float(v[1]) == 7.0
            else:
                assert float(v[1]) == 0.0, k
        alone, fx1 = mim.mimics_soil_day(
            mim.MimicsPools(*(x[:1] for x in pools)),
            dict(drv1, Nsoilmin=jnp.array([3.0])) if nitrogen else drv1, cellp1, mp, nitrogen)
        for a, b in zip(new, alone):
            assert float(a[0]) == float(b[0])


def test_options_off_by_default_and_effective(mp):
    """The loss-branch correction changes only frozen cells with ample mineral N; the
    zero-microbe guard turns 0/0 into no uptake."""
    f, cellp, lit, drivers = setup_case(mp, True)
    drivers = dict(drivers, Nsoilmin=one(3.0))
    pools = mim.initial_pools(jnp.array([True]), mp.CNr, mp.CNk)
    cold = dict(drivers, tsoilavg=one(270.0), Nsoilmin=one(5.0))
    _, base = mim.mimics_soil_day(pools, cold, cellp, mp, True)
    _, fixed = mim.mimics_soil_day(pools, cold, cellp, mp, True, fix_n_loss_branch=True)
    assert float(fixed["Nminloss"][0]) < float(base["Nminloss"][0])
    np.testing.assert_allclose(float(base["Nminloss"][0]),
                               float(fixed["Nminloss"][0]) * 0.5 * float(base["Nsoilmin"][0]), rtol=1e-14)
    warm = dict(drivers, Nsoilmin=one(5.0))
    _, b2 = mim.mimics_soil_day(pools, warm, cellp, mp, True)
    _, f2 = mim.mimics_soil_day(pools, warm, cellp, mp, True, fix_n_loss_branch=True)
    assert float(b2["Nminloss"][0]) == float(f2["Nminloss"][0])
    dead = pools._replace(MICr=one(0.0), MICk=one(0.0), MICrN=one(0.0), MICkN=one(0.0))
    new, fx = mim.mimics_soil_day(dead, drivers, cellp, mp, True)
    assert np.isnan(float(new.MICrN[0]))  # the reference's 0/0
    new, fx = mim.mimics_soil_day(dead, drivers, cellp, mp, True, guard_zero_microbes=True)
    assert float(new.MICr[0]) == 0.0 and np.isfinite(float(fx["DIN"][0]))
    assert float(fx["DIN"][0]) == float(fx["DINstart"][0])


@pytest.mark.parametrize("nitrogen", [True, False], ids=["CN", "C"])
def test_blocking_does_not_change_results(mp, nitrogen):
    """Cells integrated in blocks (with padding) give bit-identical results to all at once."""
    n = 37
    rng = np.random.default_rng(1)
    f, _, lit, drv1 = setup_case(mp, nitrogen)
    active = rng.random(n) > 0.1
    cellp = mimics_cell_params(mp, rng.integers(1, 19, n), rng.uniform(0.05, 0.5, n), active=active)
    drivers = {k: jnp.asarray(np.asarray(v)[0] * rng.uniform(0.7, 1.3, n)) for k, v in drv1.items()}
    drivers["tsoilavg"] = jnp.asarray(rng.uniform(265.0, 305.0, n))
    drivers["frznmoistavg"] = jnp.asarray(rng.uniform(0.0, 0.1, n))
    if nitrogen:
        drivers["Nsoilmin"] = jnp.asarray(rng.uniform(0.5, 4.0, n))
    base = mim.initial_pools(jnp.asarray(active), mp.CNr, mp.CNk)
    pools = mim.MimicsPools(*(x * jnp.asarray(rng.uniform(0.5, 2.0, n)) for x in base))
    day = jax.jit(mim.mimics_soil_day, static_argnums=(3, 4), static_argnames=("block_size",))
    a, fa = day(pools, drivers, cellp, mp, nitrogen, block_size=None)
    b, fb = day(pools, drivers, cellp, mp, nitrogen, block_size=8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert fa.keys() == fb.keys()
    for k in fa:
        np.testing.assert_array_equal(np.asarray(fa[k]), np.asarray(fb[k]), err_msg=k)
