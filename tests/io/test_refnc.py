"""Reference NetCDF outputs: every reference file, re-written from its own values, is
byte-identical to the reference (up to the `history` creation time; the reference's annual CASA
files carry trailing zero padding after the last record, which readers ignore)."""

import numpy as np
import netCDF4
import pytest

from bgctestbed.io import refnc
from bgctestbed.io import testbed as tb
from bgctestbed.sites import Sites


@pytest.fixture(scope="module")
def small(reference_dir):
    inp = reference_dir / "testbed_outputs" / "inputs"
    sites = tb.read_sites(inp / "gridinfo.csv", inp / "soil.csv",
                          reference_dir / "testbed_inputs" / "modis_phenology_wtundra.txt", 12)
    grid = tb.read_met_grid(inp / "met.nc", 12)
    return sites, grid


def _files(reference_dir):
    return sorted((reference_dir / "testbed_outputs").glob("*/out/*.nc"))


def test_all_reference_files_rewritten_identically(reference_dir, small, tmp_path):
    sites, grid = small
    files = _files(reference_dir)
    assert len(files) == 84
    for ref in files:
        kind = "mimics" if ref.name.startswith("mimics_pool") else "casa"
        vals = refnc.read_nc_values(ref, sites)
        with netCDF4.Dataset(ref) as ds:
            history, params = ds.history, ds.parameters
        daily = ref.name.endswith("_daily.nc")
        assert ("day" in vals) == daily
        label = int(ref.name.split("_")[3][:4])
        # the time axis the reference writes, from the year label alone
        t = refnc.daily_time(label) if daily else refnc.annual_time(label)
        np.testing.assert_array_equal(t, vals["time"].astype(np.float32))
        out = tmp_path / ref.name
        writer = refnc.write_mimics_nc if kind == "mimics" else refnc.write_casa_nc
        writer(out, grid, sites, vals, t, np.arange(1, 366) if daily else None,
               parameters_name=params, history=history)
        a, b = ref.read_bytes(), out.read_bytes()
        assert a[:len(b)] == b, ref
        assert len(a) == len(b) or not any(a[len(b):]), ref     # only zero padding beyond


def test_structure(reference_dir, small, tmp_path):
    """Fresh files (no history given): the same dimensions, variables, attributes and values."""
    sites, grid = small
    for rel in ("mimics_cn/out/casaclm_pool_flux_0001_daily.nc", "mimics_cn/out/mimics_pool_flux_0002_daily.nc",
                "casa_cn_long/out/casaclm_pool_flux_0150.nc", "mimics_cn_long/out/mimics_pool_flux_0010.nc"):
        ref = reference_dir / "testbed_outputs" / rel
        kind = "mimics" if "mimics_pool" in rel else "casa"
        vals = refnc.read_nc_values(ref)
        out = tmp_path / ref.name
        refnc.write_reference_nc(out, kind, grid, sites, vals, vals["time"], vals.get("day"),
                                 parameters_name="x.csv")
        with netCDF4.Dataset(ref) as a, netCDF4.Dataset(out) as b:
            assert a.file_format == b.file_format == "NETCDF3_CLASSIC"
            assert [(d.name, len(d), d.isunlimited()) for d in a.dimensions.values()] == \
                   [(d.name, len(d), d.isunlimited()) for d in b.dimensions.values()]
            assert b.ncattrs() == a.ncattrs()
            assert b.history.startswith("created on ") and len(b.history) == len(a.history)
            assert b.parameters == "x.csv" and b.title == a.title and b.source == a.source
            assert list(a.variables) == list(b.variables)
            for name, va in a.variables.items():
                vb = b[name]
                assert va.dtype == vb.dtype and va.dimensions == vb.dimensions
                assert va.ncattrs() == vb.ncattrs()
                for k in va.ncattrs():
                    assert np.array_equal(va.getncattr(k), vb.getncattr(k))
                np.testing.assert_array_equal(va[:], vb[:])


def test_fill_off_the_point_set_and_ice_area(tmp_path):
    """A 4 x 5 grid with 3 simulated cells (one ice): fill 1e36 elsewhere, land area 0 on ice,
    IGBP fill -9999, ids and mask from the grid."""
    nlat, nlon = 4, 5
    ilat = np.array([1, 3, 2])
    ilon = np.array([1, 2, 5])
    cellid = (ilon - 1) * nlat + ilat
    z = np.zeros(3)
    sites = Sites(cellid=cellid, lat=z, lon=z, ilat=ilat, ilon=ilon, pft=np.array([4, 15, 2]),
                  landarea=np.array([2e10, 3e10, 5e9]), sand=z, clay=z, silt=z, swilt=z, sfc=z, ssat=z,
                  greenup=z, fall=z, phase0=z, grid_lon=np.arange(nlon) * 72.0 - 180,
                  grid_lat=np.linspace(-60, 60, nlat))
    grid = tb.MetGrid.from_sites(sites)
    vals = {v.name: np.arange(365 * 3, dtype=float).reshape(365, 3) + k for k, v in enumerate(refnc.MIMICS_VARIABLES)}
    p = tmp_path / "mimics_pool_flux_0001_daily.nc"
    refnc.write_mimics_nc(p, grid, sites, vals, refnc.daily_time(1), np.arange(1, 366))
    with netCDF4.Dataset(p) as ds:
        ds.set_auto_mask(False)
        la = ds["landarea"][:]
        assert la[0, 0] == np.float32(20000.0) and la[2, 1] == 0.0 and la[1, 4] == np.float32(5000.0)
        assert np.sum(la == np.float32(1e36)) == nlat * nlon - 3
        igbp = ds["IGBP_PFT"][:]
        assert igbp[2, 1] == 15 and np.sum(igbp == -9999) == nlat * nlon - 3
        assert ds["cellMissing"][:].sum() == nlat * nlon - 3
        assert ds["cellid"][3, 4] == 20
        x = ds["cSOMa"][:]
        assert x.dtype == np.float32 and x.shape == (365, nlat, nlon)
        assert np.sum(x[0] == np.float32(1e36)) == nlat * nlon - 3
        assert x[10, 1, 4] == vals["cSOMa"][10, 2]
        assert ds["time"][-1] == np.float32(2.0) and ds["day"][-1] == 365
        assert ds["lon"][:].tolist() == [-180, -108, -36, 36, 108]
    with netCDF4.Dataset(p) as ds:
        assert np.ma.is_masked(ds["cSOMa"][0, 0, 1])        # readers see the fill as missing
    # annual file, one record; 1-D values accepted
    q = tmp_path / "casaclm_pool_flux_0007.nc"
    ann = {v.name: np.full(3, 2.5) for v in refnc.CASA_VARIABLES}
    refnc.write_casa_nc(q, None, sites, ann, refnc.annual_time(7), active=np.array([True, True, False]))
    with netCDF4.Dataset(q) as ds:
        assert len(ds.dimensions["time"]) == 1 and ds["time"][:].tolist() == [7.0] and "day" not in ds.variables
        assert ds["tairC"].long_name == "mean annual air temperature" and ds["cnpp"].units == "gC m-2 year-1"
        assert ds["landarea"][1, 4] == 0.0        # `active` overrides the PFT rule
        assert ds["landarea"][2, 1] == np.float32(30000.0)


def test_no_partial_file(tmp_path, small):
    sites, grid = small
    good = {v.name: np.zeros((1, 12)) for v in refnc.CASA_VARIABLES}
    p = tmp_path / "casaclm_pool_flux_0001.nc"
    refnc.write_casa_nc(p, grid, sites, good, refnc.annual_time(1))
    before = p.read_bytes()
    bad = dict(good)
    del bad["cnpp"]
    with pytest.raises(ValueError, match="cnpp"):
        refnc.write_casa_nc(p, grid, sites, bad, refnc.annual_time(2))
    bad = dict(good, cnpp=np.zeros((1, 11)))
    with pytest.raises(ValueError, match="cnpp"):
        refnc.write_casa_nc(p, grid, sites, bad, refnc.annual_time(2))
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == [p.name]       # no temporary left behind


def test_real_grid_speed(reference_dir, tmp_path):
    """A daily CASA file for the 4263 cells of the real grid is written in a few seconds."""
    import time

    d = reference_dir / "testbed_inputs"
    sites = tb.read_sites(d / "gridinfo_igbpz_CLM5_GSWP3.csv", d / "gridinfo_soil_CLM5_GSWP3.csv",
                          d / "modis_phenology_wtundra.txt", 4263)
    vals = {v.name: np.ones((365, 4263)) for v in refnc.CASA_VARIABLES}
    p = tmp_path / "casaclm_pool_flux_1901_daily.nc"
    t0 = time.perf_counter()
    refnc.write_casa_nc(p, None, sites, vals, refnc.daily_time(1901), np.arange(1, 366))
    assert time.perf_counter() - t0 < 20
    with netCDF4.Dataset(p) as ds:
        assert ds["cleaf"].shape == (365, 96, 144)
        assert int(np.sum(ds["landarea"][:] > 0)) == 4263 - 1293
        assert ds["cellid"][0, 1] == 97
    p.unlink()     # ~0.8 GB
