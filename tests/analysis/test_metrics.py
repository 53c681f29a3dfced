"""Analysis metrics on small constructed datasets with hand-computed answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bgctestbed.analysis import metrics as M
from bgctestbed.errors import InputError

from .synthetic import make_run


def grid(values, lat=(-10.0, 45.0, 65.0), lon=(0.0, 10.0, 20.0, 30.0), area=None):
    lat, lon = np.asarray(lat), np.asarray(lon)
    v = np.broadcast_to(np.asarray(values, float), (lat.size, lon.size))
    a = np.full((lat.size, lon.size), 100.0) if area is None else np.asarray(area, float)
    ds = xr.Dataset({"x": (("lat", "lon"), v.copy())}, coords={"lat": lat, "lon": lon})
    ds["landarea"] = (("lat", "lon"), a)
    return ds


def test_global_sum_constant_field_is_total_area_times_value():
    area = np.array([[100.0, 200.0, 0.0, np.nan], [50.0, 50.0, 50.0, 50.0], [10.0, 20.0, 30.0, 40.0]])
    ds = grid(2000.0, area=area)                                        # 2000 g C m-2 everywhere
    total_km2 = 100 + 200 + 4 * 50 + 10 + 20 + 30 + 40                 # 600 km2 (0 and NaN contribute 0)
    g = M.global_sum(ds.x.assign_attrs(units="g C m-2"), ds)
    assert g.attrs["units"] == "Pg C"
    assert float(g) == pytest.approx(2000.0 * total_km2 * 1e6 * 1e-15)
    gn = M.global_sum(ds.x.assign_attrs(units="g N m-2 yr-1"), ds)
    assert gn.attrs["units"] == "Tg N yr-1"
    assert float(gn) == pytest.approx(2000.0 * total_km2 * 1e6 * 1e-12)


def test_global_sum_respects_mask_and_nan_and_keeps_time():
    area = np.full((3, 4), 10.0)
    ds = grid(1.0, area=area)
    x = xr.DataArray(np.ones((2, 3, 4)), dims=("year", "lat", "lon"), attrs={"units": "g C m-2 yr-1"})
    x[1, 0, 0] = np.nan
    mask = xr.DataArray(np.ones((3, 4), bool), dims=("lat", "lon"))
    mask[2, :] = False
    g = M.global_sum(x, ds, mask)
    assert g.dims == ("year",)
    np.testing.assert_allclose(g.values, np.array([8, 7]) * 10 * 1e6 * 1e-15)
    allnan = M.global_sum(x * np.nan, ds)
    assert np.isnan(allnan).all()
    with pytest.raises(ValueError):
        M.global_sum(x.assign_attrs(units="degC"), ds)


def test_area_mean_weights_and_denominator_conventions():
    ds = grid([[1.0, 3.0, np.nan, 5.0]] * 3, area=[[1.0, 3.0, 4.0, 0.0]] * 3)
    # valid cells: value 1 (area 1), 3 (area 3); NaN cell area 4; zero-area cell ignored
    assert float(M.area_mean(ds.x, ds, denominator="valid")) == pytest.approx((1 * 1 + 3 * 3) / 4)
    assert float(M.area_mean(ds.x, ds, denominator="all")) == pytest.approx((1 * 1 + 3 * 3) / 8)


def test_zonal_mean_of_latitude_only_field_is_that_field():
    lat = np.array([-30.0, 0.0, 30.0, 60.0])
    f = 100 + 2 * lat                                                   # depends on latitude only
    ds = grid(f[:, None], lat=lat, area=np.full((4, 4), 7.0))
    mask = xr.DataArray(np.ones((4, 4), bool), dims=("lat", "lon"), coords={"lat": lat, "lon": ds.lon})
    mask[1, 2] = False                                                  # a masked cell changes nothing
    z = M.zonal_mean(ds.x, mask)
    np.testing.assert_allclose(z.values, f)
    zw = M.zonal_mean(ds.x, mask, area=ds)
    np.testing.assert_allclose(zw.values, f)


def test_zonal_mean_is_unweighted_by_default():
    ds = grid([[1.0, 2.0, 3.0, 10.0]], lat=[5.0], area=[[1.0, 1.0, 1.0, 100.0]])
    assert float(M.zonal_mean(ds.x)[0]) == pytest.approx(4.0)
    assert float(M.zonal_mean(ds.x, area=ds)[0]) == pytest.approx((1 + 2 + 3 + 1000) / 103)


def test_turnover_time_of_steady_pool_is_pool_over_input():
    # a pool with constant input I and first-order loss k has steady state P = I / k: turnover = 1/k
    k = np.array([[0.05, 0.02], [0.1, 0.01]])
    inp = np.array([[400.0, 300.0], [800.0, 100.0]])
    pool = inp / k
    ds = grid(0.0, lat=[0.0, 10.0], lon=[0.0, 10.0], area=[[1.0, 2.0], [3.0, 4.0]])
    stock = xr.DataArray(pool, dims=("lat", "lon"), attrs={"units": "g C m-2"})
    flux = xr.DataArray(inp, dims=("lat", "lon"), attrs={"units": "g C m-2 yr-1"})
    t = M.turnover_time(stock, flux, ds)
    np.testing.assert_allclose(t["cell"].values, 1 / k)
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert float(t["global"]) == pytest.approx((pool * a).sum() / (inp * a).sum())
    assert float(t["cell_mean"]) == pytest.approx(((1 / k) * a).sum() / a.sum())


def test_turnover_time_excludes_non_positive_input():
    stock = xr.DataArray(np.array([[100.0, 100.0]]), dims=("lat", "lon"), attrs={"units": "g C m-2"})
    flux = xr.DataArray(np.array([[10.0, 0.0]]), dims=("lat", "lon"), attrs={"units": "g C m-2 yr-1"})
    ds = grid(0.0, lat=[0.0], lon=[0.0, 1.0], area=[[1.0, 1.0]])
    t = M.turnover_time(stock, flux, ds)
    assert float(t["cell"][0, 0]) == 10.0 and np.isnan(t["cell"][0, 1])
    assert float(t["global"]) == pytest.approx(10.0)     # the zero-input cell is excluded from both sums


def test_log_response_ratio_known_pair_and_exclusions():
    cn = xr.DataArray(np.array([[2.0, 1.0, -1.0, np.nan, 5.0]]), dims=("lat", "lon"), attrs={"units": "g C m-2"})
    c = xr.DataArray(np.array([[1.0, math.e, 1.0, 1.0, 0.0]]), dims=("lat", "lon"), attrs={"units": "g C m-2"})
    rr = M.log_response_ratio(cn, c)
    assert float(rr[0, 0]) == pytest.approx(math.log(2.0))
    assert float(rr[0, 1]) == pytest.approx(-1.0)
    assert np.isnan(rr[0, 2:]).all()                  # <= 0 or NaN in either run
    ds = grid(0.0, lat=[0.0], lon=[0, 1, 2, 3, 4.0], area=[[1.0, 3.0, 1.0, 1.0, 1.0]])
    g = M.global_log_response_ratio(cn, c, ds)
    assert float(g) == pytest.approx(math.log((2 * 1 + 1 * 3) / (1 * 1 + math.e * 3)))


def test_n_limitation_sign():
    c = xr.DataArray(np.array([500.0, 300.0]), dims="x", attrs={"units": "g C m-2 yr-1"})
    cn = xr.DataArray(np.array([400.0, 320.0]), dims="x")
    np.testing.assert_allclose(M.n_limitation(c, cn).values, [100.0, -20.0])


def test_boreal_region_picks_exactly_the_expected_cells():
    lat = np.array([55.0, 60.0, 65.0, 70.0, 75.0])
    lon = np.array([-10.0, 0.0, 50.0, 100.0, 110.0, 350.0])
    area = np.full((5, 6), 10.0)
    area[2, 2] = 0.0                                   # ice cell inside the box
    area[1, 3] = np.nan                                # not simulated
    ds = grid(0.0, lat=lat, lon=lon, area=area)
    m = M.region_mask(ds)
    expected = np.zeros((5, 6), bool)
    for i in (1, 2, 3):                                # 60, 65, 70 (bounds inclusive)
        for j in (1, 2, 3):                            # 0, 50, 100 (-10 = 350 E and 110 E are outside)
            expected[i, j] = True
    expected[2, 2] = False
    expected[1, 3] = False
    np.testing.assert_array_equal(m.values, expected)


def test_regional_series_mean_and_total():
    ds = grid(0.0, lat=[65.0], lon=[10.0, 20.0], area=[[1.0, 3.0]])
    x = xr.DataArray(np.array([[[100.0, 200.0]], [[300.0, 300.0]]]), dims=("year", "lat", "lon"),
                     coords={"year": [1, 2]}, attrs={"units": "g C m-2 yr-1"})
    ds["NPP"] = x
    s = M.regional_series(ds, "NPP", M.region_mask(ds))
    np.testing.assert_allclose(s["mean"].values, [(100 + 600) / 4, 300.0])
    assert s["total"].attrs["units"] == "Tg C yr-1"
    np.testing.assert_allclose(s["total"].values, [700 * 1e6 * 1e-12, 1200 * 1e6 * 1e-12])


def test_daily_climatology_averages_years_by_day():
    ds = grid(0.0, lat=[65.0], lon=[10.0, 20.0], area=[[1.0, 1.0]])
    doy = np.arange(1, 366)
    v = np.stack([np.stack([np.sin(doy / 58.0) + y for _ in range(2)], -1)[:, None, :] for y in (0.0, 2.0)])
    d = xr.Dataset({"NPP": (("year", "doy", "lat", "lon"), v)},
                   coords={"year": [1901, 1902], "doy": doy, "lat": ds.lat, "lon": ds.lon})
    d["landarea"] = ds.landarea
    c = M.daily_climatology(d, "NPP")
    np.testing.assert_allclose(c.values, np.sin(doy / 58.0) + 1.0)
    c1 = M.daily_climatology(d, "NPP", years=[1902])
    np.testing.assert_allclose(c1.values, np.sin(doy / 58.0) + 2.0)


def _trend_run(soil_model, nitrogen, slope_gpp=2.0):
    """A run on 2 land cells whose GPP grows linearly by `slope_gpp` g m-2 yr-1 per year."""
    years = np.arange(1901, 2015)
    run = make_run(soil_model, nitrogen, lat=np.array([0.0, 10.0]), lon=np.array([0.0, 10.0]), years=years,
                   land=np.array([[True, True], [False, False]]), ice=np.zeros((2, 2), bool))
    gpp = 1000.0 + slope_gpp * (years - 1901)
    run["GPP"][:] = np.where(np.isfinite(run["GPP"]), gpp[:, None, None], np.nan)
    return run


def test_table2_difference_of_a_known_trend():
    run = _trend_run("CASA", True)
    a = float(run.landarea.fillna(0).sum()) * 1e6 * 1e-15
    t = M.table2([run])
    # mean 1995-2014 minus mean 1901-1920 of 1000 + 2 (y - 1901) = 2 * (2004.5 - 1910.5) = 188 g m-2 yr-1
    assert t.values.loc["GPP", "CASA-CN"] == pytest.approx(188.0 * a, rel=1e-5)
    assert t.values.loc["GPP", "CASA-CN (paper)"] == 15.5
    assert t.values.loc["GPP", "units"] == "Pg C yr-1"
    p = M.table2([run], percent=True)
    assert p.values.loc["GPP", "CASA-CN"] == pytest.approx(100 * (1000 + 2 * 103.5) / (1000 + 2 * 9.5) - 100, rel=1e-5)


def test_table1_window_means_and_paper_columns():
    run = _trend_run("MIMICS", True)
    a = float(run.landarea.fillna(0).sum()) * 1e6 * 1e-15
    t = M.table1([run])
    assert t.values.loc["GPP", "MIMICS-CN"] == pytest.approx((1000 + 2 * 9.5) * a, rel=1e-5)
    assert t.values.loc["cTOT", "MIMICS-CN (paper)"] == 1713
    assert t.values.loc["tau_global", "MIMICS-CN (paper)"] == 45.9
    # MIC:SOC is the area-weighted mean of the cell ratios
    m = run.sel(year=slice(1901, 1920)).mean("year")
    expect = float((m.relMIC * run.landarea).sum() / run.landarea.sum())
    assert t.values.loc["relMIC", "MIMICS-CN"] == pytest.approx(expect, rel=1e-5)
    md = t.to_markdown()
    assert "| Soil C (litter + SOM) | Pg C |" in md
    # the C-only CASA run has no microbial C, no N: undefined, not zero
    t2 = M.table1([make_run("CASA", False, lat=np.array([0.0]), lon=np.array([0.0, 5.0]),
                            land=np.array([[True, True]]), ice=np.zeros((1, 2), bool))])
    assert np.isnan(t2.values.loc["cMIC", "CASA-C"]) and np.isnan(t2.values.loc["cnTOT", "CASA-C"])
    assert "–" in t2.formatted().loc["cnTOT", "CASA-C"]


def test_window_not_covered_gives_nan_and_a_note():
    run = make_run("CASA", True, lat=np.array([0.0]), lon=np.array([0.0]), years=range(1, 4),
                   land=np.array([[True]]), ice=np.zeros((1, 1), bool))
    t = M.table1([run])
    assert np.isnan(t.values.loc["GPP", "CASA-CN"])
    assert any("not covered" in n for n in t.notes)
    t = M.table2([run], initial=(1, 1), final=(3, 5))
    assert np.isfinite(t.values.loc["GPP", "CASA-CN"])
    assert any("partly covered" in n for n in t.notes)
    assert "CASA-CN (paper)" not in t.values.columns      # other windows than the paper's


def test_response_table_pairs_runs_by_soil_model():
    kw = dict(lat=np.array([0.0, 10.0]), lon=np.array([0.0]), land=np.array([[True], [True]]),
              ice=np.zeros((2, 1), bool), years=range(1901, 1921))
    c, cn = make_run("CASA", False, **kw), make_run("CASA", True, **kw)
    cn["NPP"][:] = c["NPP"] * 0.5
    t = M.response_table([cn, c])
    assert t.values.loc["lnRR_NPP", "CASA"] == pytest.approx(math.log(0.5), rel=1e-5)
    area = c.landarea.fillna(0)
    npp_c = float((c.NPP.mean("year") * area).sum()) * 1e6 * 1e-15
    assert t.values.loc["Nlimit", "CASA"] == pytest.approx(0.5 * npp_c, rel=1e-5)
    assert "MIMICS" not in t.values.columns


def test_paper_mask_uses_reference_npp_threshold():
    run = make_run("MIMICS", True, lat=np.array([0.0]), lon=np.array([0.0, 5.0, 10.0]),
                   land=np.array([[True, True, True]]), ice=np.array([[False, False, True]]), years=range(1901, 1921))
    run["NPP"][:, 0, 1] = 9.0                     # below 10 g C m-2 yr-1
    mask, desc = M.paper_mask([run])
    np.testing.assert_array_equal(mask.values, [[True, False, False]])
    assert "1 of 2 land cells" in desc


def test_convergence_row_log_roundtrip_and_criteria(tmp_path):
    area = np.array([100.0, 100.0, 100.0, 0.0])       # last cell is ice
    c0 = np.array([1000.0, 2000.0, 5000.0, 0.0])
    c1 = c0 + np.array([0.5, 3.0, 1.5, 9.0])           # |change| > 1 g: cells 2, 3; > 0.1 %: cell 2 only
    r0 = M.convergence_row(1, 20, None, c0, area)
    r1 = M.convergence_row(2, 40, c0, c1, area)
    assert r1["global_soil_c_PgC"] == pytest.approx(c1[:3].sum() * 100 * 1e6 * 1e-15)
    assert r1["delta_PgC"] == pytest.approx(5.0 * 100 * 1e6 * 1e-15)
    assert r1["frac_cells_gt_1g"] == pytest.approx(2 / 3)
    assert r1["frac_cells_gt_0p1pct"] == pytest.approx(1 / 3)
    p = M.write_convergence_log([r0, r1], tmp_path / "conv.csv")
    assert p.read_text().splitlines()[0] == ",".join(M.CONVERGENCE_COLUMNS)
    df = M.spinup_drift(M.read_convergence_log(p))
    assert df.loc[1, "drift_PgC_per_yr"] == pytest.approx(r1["delta_PgC"] / 20)
    assert bool(df.loc[1, "ok_delta"]) and not bool(df.loc[1, "ok_1g"]) and not bool(df.loc[1, "converged"])


def test_convergence_log_errors(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("cycle,years,global_soil_c_PgC\n1,20,1000\n")
    with pytest.raises(InputError, match="delta_PgC"):
        M.read_convergence_log(p)
    p.write_text(",".join(M.CONVERGENCE_COLUMNS) + "\n1,20,abc,,,\n")
    with pytest.raises(InputError) as e:
        M.read_convergence_log(p)
    assert e.value.line == 2 and e.value.variable == "global_soil_c_PgC"
    with pytest.raises(InputError):
        M.read_convergence_log(tmp_path / "missing.csv")


def test_stock_drift_per_year():
    run = make_run("CASA", True, lat=np.array([0.0]), lon=np.array([0.0]), years=[10, 20, 40],
                   land=np.array([[True]]), ice=np.zeros((1, 1), bool))
    run["cTOT"][:] = np.array([100.0, 110.0, 150.0])[:, None, None]
    a = float(run.landarea[0, 0]) * 1e6 * 1e-15
    df = M.stock_drift(run)
    np.testing.assert_allclose(df["change_per_yr"].values[1:], [1.0 * a, 2.0 * a], rtol=1e-6)
    assert isinstance(df, pd.DataFrame)
