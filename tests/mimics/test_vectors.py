"""MIMICS soil routines against the single-cell, fixed-forcing, 365-day outputs of the
reference Fortran routines (`mimics_vectors/fortran_out_{cn,c}_365d.txt`)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bgctestbed.params.mimics import default_mimics_params, mimics_cell_params, read_mimics_params
from bgctestbed.physics import mimics as mim


def _parse(path):
    """{day: {label: values}} from the reference text output."""
    days, cur = {}, None
    for line in path.read_text().splitlines():
        m = re.match(r"--- after day\s+(\d+)", line)
        if m:
            cur = days.setdefault(int(m.group(1)), {})
            continue
        if cur is not None and "=" in line:
            label, vals = line.split("=", 1)
            cur[label.strip()] = np.array([float(v) for v in vals.split()])
    return days


def _run(nitrogen: bool, mp):
    """The case of the reference vectors: PFT 1, clay 0.25, fixed forcing and plant fluxes."""
    cell = mimics_cell_params(mp, np.array([1]), np.array([0.25]))
    uc = cell["uc"]
    kplant = np.array([0.004, 0.0001, 0.003])
    cplant = np.array([400.0, 8000.0, 250.0])
    nplant = np.array([8.0, 32.0, 3.2])
    lig = np.array([0.25, 0.4, 0.25])
    ftrans = np.array([0.5, 0.95, 0.9])
    if nitrogen:
        cnmax = np.array([60.0, 300.0, 90.0])
        cn = cplant / nplant
        ln = np.where(cn > cnmax, cnmax / ftrans * lig, cplant / (nplant * ftrans) * lig)
    else:
        ln = lig / (1.0 / np.array([50.0, 250.0, 78.0]))
    ln[1] = lig[1] / (1.0 / 250.0)
    fmet = np.maximum(0.001, mp.fmet_p[0] * (mp.fmet_p[1] - mp.fmet_p[2] * ln))
    turn = kplant * cplant
    fwps = 0.2 / 0.45
    xkwater = ((fwps - 1.70) / (0.55 - 1.70)) ** 6.6481 * ((fwps + 0.007) / (0.55 + 0.007)) ** 3.22
    kcwd = 0.4 * 1.72 ** (0.1 * ((285.15 - 273.15) - 35.0)) * xkwater * 0.001
    cwd_dec = kcwd * 600.0
    fl = dict(cleaf2met=fmet[0] * turn[0], cleaf2str=(1 - fmet[0]) * turn[0],
              croot2met=fmet[2] * turn[2], croot2str=(1 - fmet[2]) * turn[2],
              cwd2str=(1 - 0.48) * cwd_dec)
    if nitrogen:
        dn = -kplant * nplant * ftrans
        fl.update(nleaf2str=fl["cleaf2str"] / 150.0, nroot2str=fl["croot2str"] / 150.0)
        fl.update(nleaf2met=-dn[0] - fl["nleaf2str"], nroot2met=-dn[2] - fl["nroot2str"],
                  nwd2str=kcwd * 3.0)
    fl = {k: jnp.array([v]) for k, v in fl.items()}
    lit = mim.litter_inputs(fl, jnp.array([ln[0]]), jnp.array([ln[2]]), jnp.array([ln[1]]),
                            jnp.array([0.25]), cell, mp, nitrogen)
    rates = mim.daily_rates(jnp.array([285.15]), jnp.array([0.2 / 0.45]), jnp.array([0.0]),
                            jnp.array([800.0]), lit["fmet"], cell, mp, nitrogen)
    active = jnp.array([True])
    pools = mim.initial_pools(active, mp.CNr, mp.CNk)
    cwd2co2 = 0.48 * cwd_dec

    def day(carry, _):
        pools, nmin = carry
        if nitrogen:
            leach = nmin * 0.001
            n1 = nmin - leach
            din0 = mp.fracDINavailMIC * n1 / uc
            pools, fx = mim.soil_day(pools, lit, rates, active, mp, True, din=din0, uc=uc)
            nsnet = fx["nlittermin"] + fx["nsmin"] + fx["nsimm"]
            scale = jnp.where((n1 > 2.0) & (285.15 > 273.12), 1.0, jnp.maximum(0.0, n1 / 2.0))
            loss = 0.01 * jnp.maximum(0.0, nsnet) * scale
            nmin = n1 + uc * (fx["din"] - din0) + 0.002 + 0.001 - loss - 0.01
        else:
            pools, fx = mim.soil_day(pools, lit, rates, active, mp, False)
        return (pools, nmin), (pools, fx["chresp"] + cwd2co2 / uc, fx.get("din", fx["chresp"]), nmin)

    (_, _), ys = jax.lax.scan(day, (pools, jnp.array([3.0])), None, length=365)
    return lit, rates, ys


@pytest.fixture(scope="module")
def mp(reference_dir):
    return read_mimics_params(reference_dir / "testbed_inputs"
                              / "pftlookup_LIDET-MIM-REV_CN_desorb2xKO4_micCN_FI30.csv")


def test_default_parameters_equal_reference_file(mp):
    d = default_mimics_params()
    for name in ("Vslope", "Vint", "av", "Kslope", "Kint", "ak", "Vmod", "Kmod", "KO", "MGE",
                 "tau_r", "tau_k", "fPHYS_r", "fCHEM_r", "fSOM_p", "Fi", "fmet_p", "NUE", "depth"):
        np.testing.assert_array_equal(getattr(d, name), getattr(mp, name), err_msg=name)
    assert (d.CNr, d.CNk, d.fw_function, d.cnModNum) == (mp.CNr, mp.CNk, mp.fw_function, mp.cnModNum)


@pytest.mark.parametrize("nitrogen", [True, False])
def test_pools_after_1_and_365_days(reference_dir, mp, nitrogen):
    ref = _parse(reference_dir / "mimics_vectors" / f"fortran_out_{'cn' if nitrogen else 'c'}_365d.txt")
    lit, rates, (pools, chresp, din, nmin) = _run(nitrogen, mp)
    day1 = ref[1]
    np.testing.assert_allclose(np.asarray(rates["vmax"])[0], day1["Vmax"], rtol=1e-13)
    np.testing.assert_allclose(np.asarray(rates["km"])[0], day1["Km"], rtol=1e-13)
    for d in (1, 365):
        cpools = np.array([np.asarray(getattr(pools, k))[d - 1, 0]
                           for k in ("LITm", "LITs", "MICr", "MICk", "SOMa", "SOMc", "SOMp")])
        want = [v for k, v in ref[d].items() if k.startswith("C pools")][0]
        np.testing.assert_allclose(cpools, want, rtol=1e-12)
        rh = [v for k, v in ref[d].items() if k.startswith("Chresp")][0][0]
        np.testing.assert_allclose(float(chresp[d - 1, 0]), rh, rtol=1e-11)
        if nitrogen:
            npools = np.array([np.asarray(getattr(pools, k + "N"))[d - 1, 0]
                               for k in ("LITm", "LITs", "MICr", "MICk", "SOMa", "SOMc", "SOMp")]
                              + [float(din[d - 1, 0])])
            want = [v for k, v in ref[d].items() if k.startswith("N pools")][0]
            np.testing.assert_allclose(npools, want, rtol=1e-12)
            nm = [v for k, v in ref[d].items() if k.startswith("dNsoilmindt")][0][1]
            np.testing.assert_allclose(float(nmin[d - 1, 0]), nm, rtol=1e-12)


def test_inactive_cells_untouched(mp):
    cell = mimics_cell_params(mp, np.array([15]), np.array([0.2]))
    pools = mim.initial_pools(jnp.array([False]), mp.CNr, mp.CNk)
    pools = pools._replace(LITm=jnp.array([5.0]))
    lit = dict(cin=jnp.ones((1, 2)), nin=jnp.ones((1, 2)), fphys=jnp.full((1, 2), 0.1),
               fchem=jnp.full((1, 2), 0.1), faval=jnp.full((1, 2), 0.8))
    rates = mim.daily_rates(jnp.array([290.0]), jnp.array([0.3]), jnp.array([0.0]),
                            jnp.array([500.0]), jnp.array([0.5]), cell, mp, True)
    new, fx = mim.soil_day(pools, lit, rates, jnp.array([False]), mp, True,
                           din=jnp.array([0.0]), uc=cell["uc"])
    assert float(new.LITm[0]) == 5.0 and float(new.MICr[0]) == 0.0
    assert all(float(v[0]) == 0.0 for v in fx.values())
