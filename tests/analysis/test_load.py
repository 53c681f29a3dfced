"""Loader: annual semantics from daily / annual / ncra files, configuration detection, merging,
ncra/ncrcat equivalents, and the real reference outputs (12-cell grid)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bgctestbed.analysis.load import concat, daily_to_annual, load_daily, load_run
from bgctestbed.errors import InputError

from .synthetic import write_reference_files


def _daily_values(var, kind, year, day):
    """Known daily series: fluxes = day/100 g m-2 d-1 (+1 in the 2nd cell), pools = day."""
    base = np.array([[day, day], [day, day]], float)
    if kind == "flux":
        return base / 100.0 + np.array([[0.0, 1.0], [0.0, 0.0]]) + (year - 1901)
    return base + (year - 1901) * 1000


def test_daily_to_annual_of_known_daily_series(tmp_path):
    write_reference_files(tmp_path / "run", "CASA", years=(1901, 1902), values=_daily_values)
    ds = load_run(tmp_path / "run", nitrogen=True)
    assert list(ds.year.values) == [1901, 1902]
    # flux: sum over 365 days of day/100 = 365*366/2/100 = 667.95 g m-2 yr-1, +365 in the 2nd cell
    gpp = ds.GPP.sel(year=1901)
    assert float(gpp.sel(lat=65.25, lon=0.0, method="nearest")) == pytest.approx(667.95, rel=1e-5)
    assert float(gpp.sel(lat=65.25, lon=10.0, method="nearest")) == pytest.approx(667.95 + 365, rel=1e-5)
    assert float(ds.GPP.sel(year=1902).isel(lat=0, lon=0)) == pytest.approx(667.95 + 365, rel=1e-5)
    # pool: annual mean of day = 183
    assert float(ds.cLEAF.sel(year=1901).isel(lat=0, lon=0)) == pytest.approx(183.0)
    assert float(ds.cLEAF.sel(year=1902).isel(lat=0, lon=0)) == pytest.approx(1183.0)
    assert ds.GPP.attrs["units"] == "g C m-2 yr-1"
    assert float(ds.cVEG.isel(year=0, lat=0, lon=0)) == pytest.approx(3 * 183.0)      # leaf + wood + froot
    assert float(ds.cTOT.isel(year=0, lat=0, lon=0)) == pytest.approx(5 * 183.0)      # 2 litter + 3 SOM pools


def test_ncra_file_and_annual_file_give_the_same_annual_record(tmp_path):
    paths = write_reference_files(tmp_path / "daily", "CASA", years=(1901, 1902), values=_daily_values)
    from_daily = load_run(tmp_path / "daily", nitrogen=True)
    ann = daily_to_annual(sorted(paths), tmp_path / "ann" / "ann_casaclm_pool_flux_1901_1902.nc")
    with xr.open_dataset(ann, decode_times=False) as a:
        assert a.sizes["time"] == 2
        np.testing.assert_allclose(a.time.values, [1901 + 183 / 365, 1902 + 183 / 365], rtol=1e-6)
        assert a.cgpp.attrs["units"] == "gC m-2 day-1"               # mean daily rate, as ncra
        assert float(a.cgpp[0, 0, 0]) == pytest.approx(1.83, rel=1e-5)
        assert "time" not in a.landarea.dims
    from_ann = load_run(tmp_path / "ann", nitrogen=True)
    for v in ("GPP", "NPP", "HR", "cTOT", "nNetMin"):
        np.testing.assert_allclose(from_ann[v].values, from_daily[v].values, rtol=1e-5)

    # annual reference files: fluxes already annual totals (units yr-1) -> taken as they are
    def annual(var, kind, year, day):
        return 667.95 if kind == "flux" else 183.0
    write_reference_files(tmp_path / "annual", "CASA", years=(5,), daily=False, values=annual)
    a = load_run(tmp_path / "annual", nitrogen=True)
    assert list(a.year.values) == [5]
    assert float(a.GPP[0, 0, 0]) == pytest.approx(667.95, rel=1e-6)
    assert float(a.cLEAF[0, 0, 0]) == pytest.approx(183.0)


def test_concat_orders_records(tmp_path):
    def annual(var, kind, year, day):
        return float(year)
    paths = write_reference_files(tmp_path / "a", "CASA", years=(3, 1, 2), daily=False, values=annual)
    out = concat(paths, tmp_path / "cat.nc")
    with xr.open_dataset(out, decode_times=False) as d:
        np.testing.assert_array_equal(d.time.values, [1, 2, 3])
        np.testing.assert_allclose(d.cgpp[:, 0, 0].values, [1, 2, 3])
    with pytest.raises(InputError):
        concat([paths[0], paths[0]], tmp_path / "dup.nc")


def test_mimics_run_uses_chresp_and_mimics_pools(tmp_path):
    def vals(var, kind, year, day):
        return {"cHresp": 2.0, "cresp": 7.0, "cMICr": 3.0, "cMICk": 1.0, "nMICr": 0.5, "nMICk": 0.25}.get(var, 10.0)
    write_reference_files(tmp_path / "m", "MIMICS", years=(1901,), values=vals)
    ds = load_run(tmp_path / "m")
    assert ds.attrs["configuration"] == "MIMICS-CN"
    assert float(ds.HR[0, 0, 0]) == pytest.approx(2.0 * 365)           # MIMICS cHresp, not CASA cresp
    assert float(ds.cMIC[0, 0, 0]) == pytest.approx(4.0)
    assert float(ds.cTOT[0, 0, 0]) == pytest.approx(10 + 10 + 3 + 1 + 10 + 10 + 10)   # the 7 MIMICS pools
    assert float(ds.relMIC[0, 0, 0]) == pytest.approx(100 * 4 / 54)
    assert float(ds.cnMIC[0, 0, 0]) == pytest.approx(4 / 0.75)
    assert float(ds.NEP[0, 0, 0]) == pytest.approx((10 - 2) * 365)


def test_c_only_detection_and_nan_nitrogen(tmp_path):
    write_reference_files(tmp_path / "c", "CASA", years=(1901,), nitrogen=False)
    ds = load_run(tmp_path / "c")
    assert ds.attrs["configuration"] == "CASA-C" and ds.attrs["nitrogen"] == 0
    assert np.isnan(ds.nNetMin).all() and np.isnan(ds.cnTOT).all() and np.isnan(ds.cMIC).all()
    assert np.isfinite(ds.cTOT).all()
    ds = load_run(tmp_path / "c", nitrogen=True, label="forced")
    assert ds.attrs["configuration"] == "CASA-CN" and ds.attrs["label"] == "forced"


def test_unusable_inputs_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no model output"):
        load_run(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "casaclm_pool_flux_1901.nc").write_text("not netcdf")
    with pytest.raises(InputError, match="cannot open"):
        load_run(bad)
    write_reference_files(tmp_path / "m", "CASA", years=(1901,))
    with pytest.raises(InputError, match="mimics_pool_flux"):
        load_run(tmp_path / "m", soil_model="MIMICS")
    # a variable missing from a file
    p = write_reference_files(tmp_path / "x", "CASA", years=(1901,), daily=False)[0]
    with xr.open_dataset(p, decode_times=False) as d:
        d = d.load()
    d.drop_vars("cnpp").to_netcdf(p)
    with pytest.raises(InputError) as e:
        load_run(tmp_path / "x")
    assert e.value.variable == "cnpp"


def test_load_daily_region_subset(tmp_path):
    write_reference_files(tmp_path / "d", "CASA", years=(1901, 1902), values=_daily_values,
                          lat=(65.25, 45.25), lon=(0.0, 10.0))
    d = load_daily(tmp_path / "d", years=[1902], variables=("NPP", "HR"), lat_range=(60, 70), lon_range=(0, 5))
    assert d.sizes["lat"] == 1 and d.sizes["lon"] == 1 and list(d.year.values) == [1902]
    np.testing.assert_allclose(d.NPP[0, :, 0, 0].values, np.arange(1, 366) / 100 + 1, rtol=1e-5)
    np.testing.assert_allclose(d.NEP.values, 0.0, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# The real reference outputs
# ---------------------------------------------------------------------------------------------

def _flux_csv(path):
    df = pd.read_csv(path, skipinitialspace=True, index_col=False)   # rows end with a comma
    df.columns = [c.strip() for c in df.columns]
    return df.loc[:, ~df.columns.str.startswith("Unnamed")]


@pytest.mark.parametrize("case, conf", [("casa_c", "CASA-C"), ("casa_cn", "CASA-CN"),
                                        ("mimics_c", "MIMICS-C"), ("mimics_cn", "MIMICS-CN")])
def test_reference_daily_runs(reference_dir, case, conf):
    run = reference_dir / "testbed_outputs" / case
    ds = load_run(run)
    assert ds.attrs["configuration"] == conf
    assert list(ds.year.values) == [1, 2, 3]
    assert ds.sizes["lat"] == 3 and ds.sizes["lon"] == 4
    assert np.all(np.diff(ds.lat.values) > 0)
    assert int((ds.landarea > 0).sum()) == 11                       # one ice cell of 12
    # the Fortran's own annual flux CSV (last year, per point) must equal our annual totals
    flux = _flux_csv(run / "cnpflux_out.csv")
    last = ds.isel(year=-1)
    for _, row in flux.iterrows():
        cell = last.sel(lat=row["casamet%lat"], lon=row["casamet%lon"], method="nearest")
        if float(cell.landarea) == 0:
            continue
        assert float(cell.NPP) == pytest.approx(row["casabal%Fcnppyear"], rel=2e-4, abs=1e-3)
        if conf.startswith("CASA"):
            assert float(cell.HR) == pytest.approx(row["casabal%FCrsyear"], rel=2e-4, abs=1e-3)
        if conf.endswith("CN"):
            assert float(cell.nNetMin) == pytest.approx(row["casabal%FNsnetyear"], rel=2e-3, abs=1e-3)
    if conf.startswith("MIMICS"):
        # HR of a MIMICS run = sum of the daily MIMICS cHresp (read here with plain netCDF4)
        import netCDF4
        with netCDF4.Dataset(run / "out" / "mimics_pool_flux_0003_daily.nc") as nc:
            lat = np.asarray(nc["lat"][:])
            chresp = np.asarray(nc["cHresp"][:], dtype=float).sum(axis=0)
        np.testing.assert_allclose(last.HR.values, chresp[np.argsort(lat)], rtol=1e-5, atol=1e-4)
        assert np.isfinite(ds.cMIC).all() and float(ds.relMIC.where(ds.landarea > 0).min()) > 0
    else:
        assert np.isnan(ds.cMIC).all()
    if conf.endswith("-C"):
        assert np.isnan(ds.cnTOT).all()


def test_reference_annual_spinup_files(reference_dir):
    run = reference_dir / "testbed_outputs" / "casa_cn_long"
    ds = load_run(run)
    assert ds.year.values[0] == 1 and ds.year.values[-1] == 150 and ds.sizes["year"] == 16
    flux = _flux_csv(run / "cnpflux_out.csv")
    last = ds.sel(year=150)
    for _, row in flux.iterrows():
        cell = last.sel(lat=row["casamet%lat"], lon=row["casamet%lon"], method="nearest")
        if float(cell.landarea) > 0:
            assert float(cell.NPP) == pytest.approx(row["casabal%Fcnppyear"], rel=2e-4, abs=1e-3)


def test_reference_calendar_years(reference_dir):
    ds = load_run(reference_dir / "testbed_outputs" / "mimics_cn_transient")
    assert list(ds.year.values) == [1901, 1902, 1903]
    assert ds.attrs["configuration"] == "MIMICS-CN"
