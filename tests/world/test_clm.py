"""`convert-clm` on a small synthetic CLM5-like daily history file."""

from __future__ import annotations

import netCDF4
import numpy as np
import pytest

from bgctestbed.cli import main
from bgctestbed.errors import InputError
from bgctestbed.world.clm import PRESETS, convert_clm, layer_thickness

# CLM5 levgrnd node depths (m), 25 levels
Z = np.array([0.01, 0.04, 0.09, 0.16, 0.26, 0.40, 0.58, 0.80, 1.06, 1.36, 1.70, 2.08, 2.50,
              2.99, 3.58, 4.27, 5.06, 5.95, 6.94, 8.03, 9.795, 13.32777, 19.48313, 28.87072,
              41.99844])
NLAT, NLON, NT = 3, 4, 365


def make_history(path, year=1901, missing_cell=(2, 3), with_ndep=True):
    rng = np.random.default_rng(3)
    with netCDF4.Dataset(path, "w") as ds:
        for d, n in (("time", None), ("lat", NLAT), ("lon", NLON), ("levgrnd", 25),
                     ("levsoi", 20), ("hist_interval", 2)):
            ds.createDimension(d, n)
        t = ds.createVariable("time", "f8", ("time",))
        t.units, t.calendar = f"days since {year}-01-01 00:00:00", "noleap"
        t[:] = np.arange(1, NT + 1)                    # end-of-day stamps
        ds.createVariable("lat", "f4", ("lat",))[:] = [-10.0, 40.0, 70.0]
        ds.createVariable("lon", "f4", ("lon",))[:] = [0.0, 90.0, 180.0, 270.0]
        ds.createVariable("levgrnd", "f4", ("levgrnd",))[:] = Z
        ds.createVariable("landfrac", "f4", ("lat", "lon"))[:] = np.full((NLAT, NLON), 0.8)
        shape2 = (NT, NLAT, NLON)
        fill = np.float32(1e36)

        def var(name, dims, data):
            v = ds.createVariable(name, "f4", dims, fill_value=fill)
            v[:] = data

        fpsn = rng.uniform(0, 10, shape2)
        tbot = rng.uniform(250, 300, shape2)
        tsoi = rng.uniform(260, 300, (NT, 25, NLAT, NLON))
        liq = rng.uniform(1, 30, (NT, 20, NLAT, NLON))        # kg m-2
        h2o = rng.uniform(0.2, 0.45, (NT, 20, NLAT, NLON))      # m3 m-3
        j, i = missing_cell
        tsoi[100, 5, j, i] = np.nan
        var("FPSN", ("time", "lat", "lon"), np.where(np.isnan(fpsn), fill, fpsn))
        var("TBOT", ("time", "lat", "lon"), tbot)
        var("TSOI", ("time", "levgrnd", "lat", "lon"), np.where(np.isnan(tsoi), fill, tsoi))
        var("SOILLIQ", ("time", "levsoi", "lat", "lon"), liq)
        var("H2OSOI", ("time", "levsoi", "lat", "lon"), h2o)
        if with_ndep:
            var("NDEP_TO_SMINN", ("time", "lat", "lon"), np.full(shape2, 1e-8))
    return dict(fpsn=fpsn, tbot=tbot, tsoi=tsoi, liq=liq, h2o=h2o)


def test_layer_thickness_matches_reference_table():
    dz = layer_thickness(Z)
    assert np.allclose(dz[:16], [0.025, 0.04, 0.06, 0.085, 0.12, 0.16, 0.20, 0.24, 0.28, 0.32,
                                 0.36, 0.40, 0.455, 0.54, 0.64, 0.74], atol=1e-6)


def test_convert_synthetic_history(tmp_path):
    h = tmp_path / "clm.h1.1901-01-01-00000.nc"
    src = make_history(h)
    out = convert_clm([h], tmp_path / "met", log=None)
    assert [p.name for p in out] == ["met_1901_1901.nc"]
    dz = layer_thickness(Z)
    with netCDF4.Dataset(out[0]) as ds:
        ds.set_auto_mask(False)
        assert len(ds.dimensions["time"]) == 365 and len(ds.dimensions["nsoilyrs"]) == 6
        cm = ds["cellMissing"][:]
        assert cm[2, 3] == 1 and cm.sum() == 1
        assert np.array_equal(ds["cellid"][:][1, 2], 2 * NLAT + 2)
        gpp = ds["xcgpp"][:]
        assert np.allclose(gpp, src["fpsn"] * 12e-6 * 86400, rtol=1e-6)
        assert np.allclose(ds["xtairk"][:][:, 0, 0], src["tbot"][:, 0, 0], rtol=1e-6)
        assert np.allclose(ds["ndep"][:][:, 0, 0], 1e-8 * 86400, rtol=1e-6)
        # CASA layer 5 = dz-weighted mean of CLM layers 8-11 (CLM5 preset)
        a, b = PRESETS["clm5"][4]
        w = dz[a - 1:b] / dz[a - 1:b].sum()
        liq = src["liq"][:, :, 1, 2] * 0.001 / dz[:20, None].T
        frz = np.maximum(src["h2o"][:, :, 1, 2] - liq, 0)
        assert np.allclose(ds["xmoist"][:][:, 4, 1, 2], liq[:, a - 1:b] @ w, rtol=1e-5)
        assert np.allclose(ds["xfrznmoist"][:][:, 4, 1, 2], frz[:, a - 1:b] @ w, rtol=1e-5,
                           atol=1e-7)
        a, b = PRESETS["clm5"][5]
        w = dz[a - 1:b] / dz[a - 1:b].sum()
        assert np.allclose(ds["xtsoil"][:][:, 5, 0, 1], src["tsoi"][:, a - 1:b, 0, 1] @ w,
                           rtol=1e-6)
        # missing cell: fill everywhere except GPP
        assert np.all(ds["xtsoil"][:][:, :, 2, 3] == np.float32(1e36))
        assert np.all(ds["xtairk"][:][:, 2, 3] == np.float32(1e36))
        assert np.all(gpp[:, 2, 3] < 1e30)


def test_convert_with_ndep_file_and_cli(tmp_path):
    h = tmp_path / "hist.nc"
    make_history(h, with_ndep=False)
    nd = tmp_path / "fndep.nc"
    with netCDF4.Dataset(nd, "w") as ds:
        ds.createDimension("time", 3)
        ds.createDimension("lat", NLAT)
        ds.createDimension("lon", NLON)
        ds.createVariable("YEAR", "i4", ("time",))[:] = [1899, 1900, 1901]
        ds.createVariable("NDEP_year", "f4", ("time", "lat", "lon"))[:] = \
            np.arange(3)[:, None, None] + np.ones((3, NLAT, NLON))
    assert main(["convert-clm", str(h), "--ndep", str(nd), "--out", str(tmp_path / "m")]) == 0
    with netCDF4.Dataset(tmp_path / "m" / "met_1901_1901.nc") as ds:
        ds.set_auto_mask(False)
        assert np.allclose(ds["ndep"][:][:, 0, 0], 3.0 / 365, rtol=1e-6)
    # without any N deposition source: a clear error, exit status 2 from the command line
    with pytest.raises(InputError, match="N deposition"):
        convert_clm([h], tmp_path / "x", log=None)
    assert main(["convert-clm", str(h), "--out", str(tmp_path / "x")]) == 2
    assert main(["convert-clm", str(tmp_path / "nope.nc"), "--out", str(tmp_path / "x")]) == 2
