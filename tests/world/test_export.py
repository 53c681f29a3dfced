"""`world export`: reference-format files re-read with numpy/netCDF4."""

from __future__ import annotations

import numpy as np
import pytest

from bgctestbed.world.export import export_world
from bgctestbed.world.grid import PHEN_PFTS


@pytest.fixture(scope="module")
def exported(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    export_world(world, out, years=(1901, 1901), log=None)
    return out


def _csv(path):
    with open(path) as fh:
        header = fh.readline().strip().split(",")
        rows = [line.rstrip("\n") for line in fh]
    assert all(r.endswith(",") for r in rows)           # the reference's trailing comma
    data = np.array([[float(v) for v in r.rstrip(",").split(",")] for r in rows])
    return header, data


def test_gridinfo_roundtrip(world, exported):
    s = world.sites
    header, d = _csv(exported / "gridinfo_igbpz_world.csv")
    assert header[:7] == ["ijcam", "lat", "lon", "ivt_igbp", "ist", "iso", "landarea"]
    assert header[-2:] == ["ilat", "ilon"] and d.shape == (s.n, 19)
    assert np.array_equal(d[:, 0], s.cellid)
    assert np.allclose(d[:, 1], s.lat) and np.allclose(d[:, 2], s.lon)
    assert np.array_equal(d[:, 3], s.pft)
    assert np.allclose(d[:, 6], s.landarea, rtol=1e-9, atol=1e-3)
    assert np.array_equal(d[:, 17], s.ilat) and np.array_equal(d[:, 18], s.ilon)
    assert np.all(d[:, 11:17] == -99)


def test_soil_roundtrip(world, exported):
    s = world.sites
    header, d = _csv(exported / "gridinfo_soil_world.csv")
    assert header == ["ijcam", "lat", "lon", "sand", "clay", "silt", "wwilt", "wfield", "wsat"]
    for j, a in enumerate((s.sand, s.clay, s.silt, s.swilt, s.sfc, s.ssat)):
        assert np.allclose(d[:, 3 + j], a, atol=5e-6)


def test_phenology_file(world, exported):
    lines = (exported / "modis_phenology_world.txt").read_text().splitlines()
    assert lines[0].split("\t")[0] == "Lat" and lines[0].count("GREENUP") == 11
    assert [int(v) for v in lines[1].split("\t")[1:]] == list(PHEN_PFTS) * 3
    body = np.array([[float(v) for v in ln.split("\t")] for ln in lines[2:]])
    assert body.shape == (271, 34)
    assert body[0, 0] == 79.75 and body[-1, 0] == -55.25
    s = world.sites
    # reading the file the reference way gives the sites' phenology
    for i in range(0, s.n, 53):
        row = min(max(int((79.75 - s.lat[i] + 0.25) / 0.5) + 1, 1), 271) + 1  # +1: header
        if s.pft[i] in PHEN_PFTS:
            k = PHEN_PFTS.index(s.pft[i])
            vals = [int(v) for v in lines[row].split("\t")[1:]]
            assert (vals[k], vals[11 + k], vals[22 + k]) == (s.greenup[i], s.fall[i], s.phase0[i])


def test_met_file(world, exported):
    import netCDF4

    s = world.sites
    path = exported / "met" / "met_1901_1901.nc"
    f = world.forcing(1901)
    with netCDF4.Dataset(path) as ds:
        assert {k: len(v) for k, v in ds.dimensions.items()} == {
            "lon": 180, "lat": 90, "time": 365, "nsoilyrs": 6, "myear": 1}
        assert list(ds.variables)[:6] == ["lon", "lat", "year", "landfrac", "cellMissing",
                                          "cellid"]
        assert int(ds["year"][0]) == 1901
        cm = ds["cellMissing"][:]
        assert int((cm == 0).sum()) == s.n
        jj, ii = np.nonzero(np.asarray(cm).T == 0)           # longitude outer, latitude inner
        assert np.array_equal(jj + 1, s.ilon) and np.array_equal(ii + 1, s.ilat)
        cid = np.asarray(ds["cellid"][:])
        assert np.array_equal(cid[ii, jj], s.cellid)
        for name in ("xcgpp", "xtairk", "ndep", "xtsoil", "xmoist", "xfrznmoist"):
            v = ds[name]
            assert v.missing_value == np.float32(1e36) and v.units
            v.set_auto_mask(False)
            got = np.asarray(v[:])[..., ii, jj]
            assert got.dtype == np.float32
            assert np.allclose(got, getattr(f, name), rtol=1e-6, atol=1e-9), name
        assert float(np.asarray(ds["xtairk"][0]).max()) == pytest.approx(1e36)  # off-land fill


def test_project_readers_accept_export(world, exported):
    """The project's reference-format readers read the exported world unchanged."""
    tb = pytest.importorskip("bgctestbed.io.testbed")
    s = world.sites
    try:
        sites = tb.read_sites(exported / "gridinfo_igbpz_world.csv",
                              exported / "gridinfo_soil_world.csv",
                              exported / "modis_phenology_world.txt")
        forcing, _grid = tb.read_met(exported / "met" / "met_1901_1901.nc", mp=s.n)
    except (AttributeError, TypeError) as exc:       # reader interface changed
        pytest.skip(f"reader interface differs: {exc}")
    assert np.array_equal(sites.cellid, s.cellid) and np.array_equal(sites.pft, s.pft)
    assert np.array_equal(sites.greenup, s.greenup) and np.array_equal(sites.fall, s.fall)
    assert np.allclose(forcing.xcgpp, world.forcing(1901).xcgpp, rtol=1e-6, atol=1e-9)
