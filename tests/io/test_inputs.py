"""Readers of the reference inputs: gridinfo, soil, phenology, sites, perturbations, met."""

import logging

import netCDF4
import numpy as np
import pytest

from bgctestbed.io import testbed as tb


def test_real_grid_inputs(reference_dir):
    d = reference_dir / "testbed_inputs"
    sites = tb.read_sites(d / "gridinfo_igbpz_CLM5_GSWP3.csv", d / "gridinfo_soil_CLM5_GSWP3.csv",
                          d / "modis_phenology_wtundra.txt", 4263)
    assert sites.n == 4263
    assert np.all(np.diff(sites.cellid) > 0)
    assert np.all(sites.cellid == (sites.ilon - 1) * 96 + sites.ilat)
    counts = dict(zip(*np.unique(sites.pft, return_counts=True)))
    assert counts == {1: 193, 2: 202, 3: 60, 4: 72, 5: 219, 6: 45, 7: 471, 8: 259, 9: 170, 10: 253,
                      11: 30, 12: 233, 14: 359, 15: 290, 16: 300, 17: 973, 18: 134}
    assert sites.landarea.sum() == pytest.approx(136.35e12, rel=1e-3)       # m2
    ice = np.isin(sites.pft, tb.ICEWATER_PFTS)
    assert ice.sum() == 1293
    assert sites.landarea[np.isin(sites.pft, (11, 15, 17))].sum() == pytest.approx(13.72e12, rel=1e-3)
    assert sites.clay.min() == pytest.approx(0.010, abs=1e-3) and sites.clay.max() == pytest.approx(0.724, abs=1e-3)
    assert sites.ssat.min() == pytest.approx(0.37597) and sites.ssat.max() == pytest.approx(0.50082)
    assert np.all(sites.ist == 1) and np.all(sites.iso == 1)
    seasonal = np.isin(sites.pft, (3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 18))
    assert np.all(sites.greenup[~seasonal] == -50) and np.all(sites.fall[~seasonal] == 367)
    assert np.all(sites.phase0[~seasonal] == 2)
    assert np.all((sites.greenup[seasonal] >= 1) & (sites.greenup[seasonal] <= 365))
    assert set(np.unique(sites.phase0)) <= {0, 1, 2, 3}


def test_phenology_rows(reference_dir):
    t = tb.read_phenology(reference_dir / "testbed_inputs" / "modis_phenology_wtundra.txt")
    assert t.pfts == [3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 18]
    assert t.greenup.shape == (271, 11) and t.lat[0] == 79.75 and t.lat[-1] == -55.25
    # first row (79.75) and a row by hand: lat 65.25 -> int((79.75 - 65.25 + 0.25)/0.5) + 1 = 30
    assert list(t.greenup[0, :3]) == [167, 156, 161] and t.fall[0, 0] == 231 and t.phase[0, 0] == 0
    assert tb.phenology_row([65.25])[0] == 29
    # truncation toward zero, clamping at both ends
    assert list(tb.phenology_row([90.0, 80.2, 79.75, 79.5, 79.49, -55.25, -89.0])) == [0, 0, 0, 1, 1, 270, 270]
    g, f, p = tb.phenology_for_cells(t, [65.25, 65.25, -10.0], [3, 2, 18])
    row = tb.phenology_row([65.25])[0]
    assert (g[0], f[0], p[0]) == (t.greenup[row, 0], t.fall[row, 0], t.phase[row, 0])
    assert (g[1], f[1], p[1]) == (-50, 367, 2)                      # evergreen broadleaf
    r2 = tb.phenology_row([-10.0])[0]
    assert g[2] == t.greenup[r2, 10]
    d = tb.doyphase([355, -50], [300, 367])
    assert d.tolist() == [[355, 4, 300, 314], [-50, -36, 367, 16]]


def test_small_grid_inputs(reference_dir):
    inp = reference_dir / "testbed_outputs" / "inputs"
    g = tb.read_gridinfo(inp / "gridinfo.csv", 12)
    assert g["pft"].tolist() == [18, 4, 2, 3, 10, 12, 7, 1, 16, 15, 5, 9]
    assert g["landarea"].tolist() == [1e10] * 12
    s = tb.read_soil(inp / "soil.csv", 12)
    assert s["sand"][0] == 0.36418 and s["ssat"][1] == 0.41832
    co2 = tb.read_co2delta(reference_dir / "testbed_inputs" / "co2delta_control.txt")
    assert co2 == dict(co2air=360.0, deltsoil=0.0, deltair=0.0, deltYr=10000, nppMult=1.0)


def test_met(reference_dir):
    inp = reference_dir / "testbed_outputs" / "inputs"
    f, grid = tb.read_met(inp / "met.nc", 12)
    assert f.xcgpp.shape == (1095, 12) and f.xtsoil.shape == (1095, 6, 12) and f.nyears == 3
    assert f.xcgpp.dtype == np.float64
    assert grid.myear == 3 and grid.years.tolist() == [1901, 1902, 1903]
    assert grid.cell_ids.tolist() == list(range(1, 13))
    assert grid.lon.tolist() == [0, 10, 20, 30] and grid.lat.tolist() == [65.25, 45.25, -10.25]
    with netCDF4.Dataset(inp / "met.nc") as ds:
        raw = ds["xtsoil"][:]
    # cell 5 = lon index 1, lat index 1; float32 promoted exactly
    assert np.array_equal(f.xtsoil[:, :, 4], raw[:, :, 1, 1].astype(np.float64))
    assert tb.met_years(inp / "met.nc") == 3
    sites = tb.read_sites(inp / "gridinfo.csv", inp / "soil.csv",
                          reference_dir / "testbed_inputs" / "modis_phenology_wtundra.txt", 12)
    tb.check_sites_match_met(sites, grid)
    # the per-year files hold the same three years
    f2, g2 = tb.read_met(inp / "met_1902_1902.nc", 12)
    assert g2.myear == 1 and np.array_equal(f2.xtairk, f.year(1).xtairk)
    assert tb.read_met_grid(inp / "met_1903_1903.nc").years.tolist() == [1903]


def test_met_without_frozen_water(reference_dir, tmp_path, caplog):
    src = reference_dir / "testbed_outputs" / "inputs" / "met_1901_1901.nc"
    dst = tmp_path / "met.nc"
    with netCDF4.Dataset(src) as a, netCDF4.Dataset(dst, "w") as b:
        for d in a.dimensions.values():
            b.createDimension(d.name, len(d))
        for v in a.variables.values():
            if v.name != "xfrznmoist":
                b.createVariable(v.name, v.dtype, v.dimensions)[:] = v[:]
    with caplog.at_level(logging.WARNING):
        f, _ = tb.read_met(dst, 12)
    assert np.all(f.xfrznmoist == 0) and f.xfrznmoist.shape == (365, 6, 12)
    assert any("xfrznmoist" in r.getMessage() for r in caplog.records)


def test_met_grid_with_missing_cells_and_negative_lon(tmp_path):
    """Valid cells enumerated longitude-outer, latitude-inner; ice cells etc. off the set."""
    nlat, nlon, n = 3, 4, 5
    cm = np.ones((nlat, nlon), np.int32)
    on = [(2, 0), (0, 1), (1, 1), (0, 3), (2, 3)]     # (lat, lon)
    for j, i in on:
        cm[j, i] = 0
    p = tmp_path / "m.nc"
    with netCDF4.Dataset(p, "w") as ds:
        for d, s in (("lon", nlon), ("lat", nlat), ("time", 365), ("nsoilyrs", 6), ("myear", 1)):
            ds.createDimension(d, s)
        ds.createVariable("lon", "f4", ("lon",))[:] = [-180, -90, 0, 90]
        ds.createVariable("lat", "f4", ("lat",))[:] = [-45, 0, 45]
        ds.createVariable("cellMissing", "i4", ("lat", "lon"))[:] = cm
        ds.createVariable("cellid", "i4", ("lat", "lon"))[:] = (np.arange(nlon)[None] * nlat + np.arange(nlat)[:, None] + 1)
        for v, val in (("xcgpp", 1.0), ("xtairk", 280.0), ("ndep", 0.001)):
            a = np.full((365, nlat, nlon), 1e36, np.float32)
            a[:, cm == 0] = val
            ds.createVariable(v, "f4", ("time", "lat", "lon"), fill_value=np.float32(1e36))[:] = a
        for v, val in (("xtsoil", 281.0), ("xmoist", 0.2), ("xfrznmoist", 0.0)):
            a = np.full((365, 6, nlat, nlon), 1e36, np.float32)
            a[:, :, cm == 0] = val
            ds.createVariable(v, "f4", ("time", "nsoilyrs", "lat", "lon"), fill_value=np.float32(1e36))[:] = a
    f, grid = tb.read_met(p, n)
    assert list(zip(grid.ilat.tolist(), grid.ilon.tolist())) == [(2, 0), (0, 1), (1, 1), (0, 3), (2, 3)]
    assert grid.cell_ids.tolist() == [3, 4, 5, 10, 12]
    assert np.all(f.xtairk == 280.0)
