"""Scalar functions and derived parameters against the values tabulated in the CASA spec
(Appendix A of the reference documentation: A1 rates, A2 root fractions, A4 functions)."""

import numpy as np
import pytest

from bgctestbed.params.casa import casa_cell_params, default_casa_table, read_casa_table, root_fractions
from bgctestbed.physics.environment import avgsoil, f_lloyd_taylor, f_temp_decomp, f_water_decomp
from bgctestbed.sites import Sites

T_C = np.array([-20, -10, 0, 10, 20, 25, 35.0])


def test_decomposition_temperature_factor():
    expected = [0.0506516, 0.0871208, 0.149848, 0.257738, 0.443310, 0.581395, 1.0]
    np.testing.assert_allclose(f_temp_decomp(1.72, T_C + 273.15), expected, rtol=5e-6)


def test_respiration_temperature_factor():
    expected = [0.00174581, 0.0469666, 0.302136, 1.0, 2.30320, 3.20061, 5.47171]
    np.testing.assert_allclose(f_lloyd_taylor(T_C + 273.15), expected, rtol=5e-6)
    assert float(f_lloyd_taylor(250.0)) == pytest.approx(3.409e-4, rel=1e-3)


def test_moisture_factor():
    fwps = np.array([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 1.0])
    expected = [1.01879e-5, 0.0443044, 0.241500, 0.543101, 0.822663, 0.980283, 1.0,
                0.981457, 0.851043, 0.646775, 0.430575, 0.248183]
    np.testing.assert_allclose(f_water_decomp(fwps), expected, rtol=5e-6)


def test_root_weighted_soil_state_of_a_day_and_of_a_year_at_once():
    # casa.md §3.2: moisture capped at field capacity before weighting; btran from the capped
    # moisture (negative below wilting point, quirk Q6)
    rng = np.random.default_rng(1)
    days, n = 5, 3
    froot = rng.dirichlet(np.ones(6), n)                        # (n, 6)
    tsoil = 260.0 + 30.0 * rng.random((days, 6, n))
    moist = 0.5 * rng.random((days, 6, n))
    moist[0] = 0.01                                             # below wilting point
    frzn = 0.1 * rng.random((days, 6, n))
    sfc, swilt = np.array([0.3, 0.35, 0.4]), np.array([0.1, 0.12, 0.05])
    cap = np.minimum(sfc, moist)
    expected = [np.einsum("nl,dln->dn", froot, tsoil), np.einsum("nl,dln->dn", froot, cap),
                np.einsum("nl,dln->dn", froot, frzn),
                np.einsum("nl,dln->dn", froot, (cap - swilt) / (sfc - swilt))]
    year = avgsoil(froot, tsoil, moist, frzn, sfc, swilt)
    for got, want in zip(year, expected):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    assert (np.asarray(year[3]) < 0).any()
    for d in range(days):                                       # the model's year takes all days at once
        for got, whole in zip(avgsoil(froot, tsoil[d], moist[d], frzn[d], sfc, swilt), year):
            np.testing.assert_array_equal(got, np.asarray(whole)[d])


def test_root_fractions_reference_quirk():
    # A2: PFT 1 (kroot 5.5, depth 1.5) and PFT 6 (2, 0.5)
    np.testing.assert_allclose(root_fractions(5.5, 1.5),
                               [0.113996, 0.159200, 0.298254, 0.323332, 0.102918, 0.002300], atol=1e-6)
    np.testing.assert_allclose(root_fractions(2.0, 0.5),
                               [0.068098, 0.105168, 0.246092, 0.464471, 0.116171, 0.0], atol=1e-6)
    # the intended cumulative version (not used by default)
    np.testing.assert_allclose(root_fractions(5.5, 1.5, cumulative=True),
                               [0.114, 0.242, 0.368, 0.247, 0.029, 0.0], atol=1e-3)


def _sites(pft, clay=0.2, silt=0.3):
    n = len(pft)
    one = np.ones(n)
    return Sites(cellid=np.arange(1, n + 1), lat=0 * one, lon=0 * one, ilat=one.astype(int),
                 ilon=one.astype(int), pft=np.asarray(pft), landarea=one, sand=1 - clay - silt + 0 * one,
                 clay=clay * one, silt=silt * one, swilt=0.1 * one, sfc=0.3 * one, ssat=0.45 * one,
                 greenup=np.full(n, 100), fall=np.full(n, 360), phase0=np.full(n, 2))


def test_daily_rates_appendix_a1():
    p = casa_cell_params(default_casa_table(), _sites([1, 2, 9, 10, 12, 16]))
    np.testing.assert_allclose(p["plantrate_3"][:, 0],
                               [0.00146981, 0.00307489, 0.00280998, 0.00307489, 0.00318573, 0.0027674], rtol=5e-6)
    np.testing.assert_allclose(p["plantrate_3"][:, 2],
                               [0.000152207, 0.000273973, 0.000913242, 0.000913242, 0.00309844, 0.000684932], rtol=5e-6)
    np.testing.assert_allclose(p["soilrate_3"][0], [0.019998, 0.000547945, 1.23289e-05], rtol=5e-6)
    np.testing.assert_allclose(p["xkleafcoldmax"], [0.000547945, 0.000273973, 0.0136986,
                                                    0.000547945, 0.000821918, 0.000273973], rtol=5e-6)
    np.testing.assert_allclose(p["Nminfix"], [0.000219178, 0.00712329, 0.0111233, 0.00260274,
                                              0.0109589, 0.000958904], rtol=5e-6)
    np.testing.assert_allclose(p["fNminleach"], 0.00136986, rtol=5e-6)


def test_worked_example_litter_rates():
    # pft 1 at 10 degC and fwps 0.4: klitter(METB) = 4.79250e-3, klitter(STR) = 3.93707e-4 d-1
    from bgctestbed.physics import casa_soil as cs
    p = casa_cell_params(default_casa_table(), _sites([1]))
    xkl, xks, *_ = cs.xratesoil(np.array([283.15]), np.array([0.4 * 0.45]), p)
    klit, _ = cs.decay_rates(xkl, xks, p)
    np.testing.assert_allclose(np.asarray(klit)[0, :2], [4.79250e-3, 3.93707e-4], rtol=5e-6)


def test_default_table_equals_reference_file(reference_dir):
    ref = read_casa_table(reference_dir / "testbed_inputs" / "pftlookup_igbp_updated4_exud0.csv")
    ours = default_casa_table()
    assert list(ref.cls) == list(ours.cls)
    for k in ref.values:
        np.testing.assert_array_equal(ref[k], ours[k], err_msg=k)


def test_accelerated_table_equals_reference_ad_file(reference_dir):
    ad = read_casa_table(reference_dir / "testbed_inputs" / "pftlookup_igbp_updated4_exud0AD.csv")
    acc = default_casa_table().accelerated()
    for k in ad.values:
        np.testing.assert_array_equal(ad[k], acc[k], err_msg=k)
