"""CF-1.8 output files: structure, CF attributes, values (annual means/totals, daily records),
configuration-dependent variables, atomic writing; and one real model year written through it."""

from __future__ import annotations

import cftime
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from bgctestbed.io.cfout import VARIABLES, CFWriter, variables_for
from bgctestbed.model import ModelConfig
from bgctestbed.sites import Sites

GRID_LAT = np.array([-30.0, 0.0, 30.0, 60.0])
GRID_LON = np.array([0.0, 90.0, 180.0, 270.0])
ILAT = np.array([1, 2, 4, 4])          # 1-based
ILON = np.array([1, 3, 2, 4])
N = 4


def make_sites() -> Sites:
    z = np.zeros(N)
    return Sites(cellid=(ILON - 1) * GRID_LAT.size + ILAT, lat=GRID_LAT[ILAT - 1], lon=GRID_LON[ILON - 1],
                 ilat=ILAT, ilon=ILON, pft=np.array([1, 2, 10, 18]),
                 landarea=np.array([1.0e10, 2.0e10, 5.0e9, 0.0]), sand=z, clay=z, silt=z, swilt=z, sfc=z,
                 ssat=z, greenup=z, fall=z, phase0=z, grid_lat=GRID_LAT, grid_lon=GRID_LON)


def cfg_for(soil, nitrogen):
    # MIMICS parameters are not used by the writer; any object satisfies the configuration check
    return ModelConfig(soil, nitrogen, mimics=object() if soil == "mimics" else None)


def model_keys() -> set[str]:
    return {k.lstrip("-") for v in VARIABLES.values() for s in ("casa", "mimics") for k in v.keys(s)}


def annual_sums(year: int) -> dict:
    """Distinct made-up annual sums for every model key (cells differ, years differ)."""
    out = {}
    for i, k in enumerate(sorted(model_keys())):
        out[k] = 365.0 * (i + 1) + 10.0 * np.arange(N) + (year - 1901)
    out["_internal"] = np.full(N, -1.0)
    return out


def test_registry_is_consistent():
    for v in VARIABLES.values():
        assert v.kind in ("flux", "pool", "state")
        assert v.units in ("g m-2", "g m-2 yr-1", "degC", "1")
        assert (v.kind == "flux") == v.units.endswith("yr-1")
        assert v.sources
        # N variables are named after N and flagged, C variables are not
        if v.name.startswith(("n", "fN", "fBNF", "DIN")) and v.name not in ("npp", "nep", "nbp"):
            assert v.nitrogen, v.name
    assert {"gpp", "npp", "rh", "nep", "nbp", "cVeg", "cLitter", "cSoil", "nVeg", "nSoil", "nMineral",
            "fNup", "fNnetmin", "cMICr", "cSOMp", "DIN"} <= set(VARIABLES)
    assert VARIABLES["rh"].keys("mimics") == ("mimics:cHresp",)
    assert VARIABLES["cSoil"].keys("casa") == ("csoilmic", "csoilslow", "csoilpass")
    assert not any(v.nitrogen for v in variables_for("casa", False))
    assert "cMIC" not in {v.name for v in variables_for("casa", True)}
    assert "cSOMpass" not in {v.name for v in variables_for("mimics", True)}


@pytest.mark.parametrize("soil,nitrogen", [("casa", True), ("casa", False), ("mimics", True), ("mimics", False)])
def test_annual_file(tmp_path, soil, nitrogen):
    path = tmp_path / "historical_annual.nc"
    with CFWriter(path, make_sites(), cfg_for(soil, nitrogen), frequency="annual",
                  attrs={"phase": "historical", "config": "[run]\nsoil = 'casa'\n", "inputs": ["a.nc", "b.csv"],
                         "package version": "0.1.0", "history": "x"}) as w:
        for y in (1901, 1902, 1903):
            w.append(y, annual_sums(y))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["historical_annual.nc"]

    ds = xr.open_dataset(path)                     # decode_times by default
    try:
        # CF time axis: noleap dates at mid-year, bounds spanning the 365-day year
        t = ds.time.values
        assert all(isinstance(x, cftime.DatetimeNoLeap) for x in t)
        assert [x.year for x in t] == [1901, 1902, 1903]
        assert ds.time.encoding["calendar"] == "noleap"
        assert ds.time.encoding["units"] == "days since 1850-01-01 00:00:00"
        b = ds.time_bnds.values
        assert b[0, 0] == cftime.DatetimeNoLeap(1901, 1, 1) and b[0, 1] == cftime.DatetimeNoLeap(1902, 1, 1)
        assert ds.attrs["Conventions"] == "CF-1.8"
        assert ds.attrs["frequency"] == "yr"
        assert ds.attrs["phase"] == "historical" and ds.attrs["config"].startswith("[run]")
        assert ds.attrs["inputs"] == '["a.nc", "b.csv"]'
        assert ds.attrs["package_version"] == "0.1.0" and ds.attrs["run_history"] == "x"
        assert ds.attrs["soil_model"] == soil.upper() and ds.attrs["nitrogen"] == int(nitrogen)
        assert ds.lat.attrs["standard_name"] == "latitude" and ds.lat.attrs["units"] == "degrees_north"
        assert ds.lon.attrs["axis"] == "X" and ds.time.attrs["axis"] == "T"
        assert ds.lat_bnds.shape == (4, 2) and float(ds.lat_bnds.max()) <= 90.0
        assert ds.landarea.attrs["units"] == "m2" and ds.landarea.attrs["standard_name"] == "cell_area"
        np.testing.assert_array_equal(ds.land_mask.values.sum(), N)
        assert np.isnan(ds.landarea.values).sum() == GRID_LAT.size * GRID_LON.size - N
        np.testing.assert_allclose(ds.landarea.values[ILAT - 1, ILON - 1], [1e10, 2e10, 5e9, 0.0])
        np.testing.assert_array_equal(ds.pft.values[ILAT - 1, ILON - 1], [1, 2, 10, 18])

        expected_names = {v.name for v in variables_for(soil, nitrogen)}
        assert expected_names <= set(ds.data_vars)
        n_names = {v.name for v in VARIABLES.values() if v.nitrogen}
        if nitrogen:
            assert {"nVeg", "nSoil", "fNup", "fNnetmin"} <= set(ds.data_vars)
        else:
            assert not (n_names & set(ds.data_vars))           # N absent in C-only runs

        acc = {y: annual_sums(y) for y in (1901, 1902, 1903)}
        cells = (ILAT - 1, ILON - 1)

        def at(name, k):
            return ds[name].values[k][cells].astype(np.float64)

        # hand-written expectations: pools/states = sum / 365, fluxes = sum
        for k, y in enumerate((1901, 1902, 1903)):
            a = acc[y]
            np.testing.assert_allclose(at("gpp", k), a["cgpp"], rtol=1e-6)
            np.testing.assert_allclose(at("cVeg", k), (a["cleaf"] + a["cwood"] + a["cfroot"]) / 365, rtol=1e-6)
            np.testing.assert_allclose(at("tas", k), a["tairC"] / 365, rtol=1e-6)
            if soil == "casa":
                np.testing.assert_allclose(at("rh", k), a["cresp"], rtol=1e-6)
                np.testing.assert_allclose(at("nep", k), a["cnpp"] - a["cresp"], rtol=1e-6)
                np.testing.assert_allclose(at("nbp", k), a["cnpp"] - a["cresp"], rtol=1e-6)
                np.testing.assert_allclose(at("cSoil", k), (a["csoilmic"] + a["csoilslow"] + a["csoilpass"]) / 365,
                                           rtol=1e-6)
                np.testing.assert_allclose(at("cLitter", k), (a["clitmetb"] + a["clitstr"] + a["clitcwd"]) / 365,
                                           rtol=1e-6)
            else:
                np.testing.assert_allclose(at("rh", k), a["mimics:cHresp"], rtol=1e-6)
                np.testing.assert_allclose(at("nep", k), a["cnpp"] - a["mimics:cHresp"], rtol=1e-6)
                np.testing.assert_allclose(at("nbp", k), a["cnpp"] - a["mimics:cHresp"], rtol=1e-6)
                som = sum(a[f"mimics:c{p}"] for p in ("MICr", "MICk", "SOMa", "SOMc", "SOMp"))
                np.testing.assert_allclose(at("cSoil", k), som / 365, rtol=1e-6)
                np.testing.assert_allclose(at("cMIC", k), (a["mimics:cMICr"] + a["mimics:cMICk"]) / 365, rtol=1e-6)
                np.testing.assert_allclose(at("cLitter", k),
                                           (a["mimics:cLITm"] + a["mimics:cLITs"] + a["clitcwd"]) / 365, rtol=1e-6)
            if nitrogen:
                np.testing.assert_allclose(at("fNloss", k), a["nMinLeach"] + a["nMinLoss"], rtol=1e-6)
                np.testing.assert_allclose(at("nMineral", k), a["nMineral"] / 365, rtol=1e-6)
            # every variable from its declared sources
            for v in variables_for(soil, nitrogen):
                want = sum((-1.0 if s.startswith("-") else 1.0) * a[s.lstrip("-")] for s in v.keys(soil))
                want = want if v.kind == "flux" else want / 365.0
                np.testing.assert_allclose(at(v.name, k), want, rtol=1e-6, err_msg=v.name)
        # outside the simulated cells: fill value, decoded as NaN
        gpp = ds.gpp.values[0]
        assert np.isnan(gpp).sum() == gpp.size - N
        assert ds.gpp.encoding["dtype"] == np.float32
        assert ds.gpp.encoding.get("zlib")                       # annual files are compressed
        assert ds.gpp.attrs["units"] == "g m-2 yr-1" and ds.cVeg.attrs["units"] == "g m-2"
        assert ds.gpp.attrs["cell_measures"] == "area: landarea"
        assert ds.gpp.attrs["standard_name"] == "gross_primary_productivity_of_biomass_expressed_as_carbon"
        assert "time: mean" in ds.cVeg.attrs["cell_methods"]
    finally:
        ds.close()


def test_daily_file(tmp_path):
    path = tmp_path / "historical_daily.nc"
    rng = np.random.default_rng(3)
    keys = sorted(model_keys())
    recs = {y: {k: rng.uniform(0, 5, (365, N)) for k in keys} for y in (2013, 2014)}
    with CFWriter(path, make_sites(), cfg_for("casa", True), frequency="daily", attrs={"phase": "historical"}) as w:
        for y in (2013, 2014):
            w.append(y, recs[y])
    with xr.open_dataset(path) as ds:
        assert ds.sizes["time"] == 730 and ds.attrs["frequency"] == "day"
        assert not ds.gpp.encoding.get("zlib")                   # daily: uncompressed by default
        t = ds.time.values
        assert t[0] == cftime.DatetimeNoLeap(2013, 1, 1, 12) and t[-1] == cftime.DatetimeNoLeap(2014, 12, 31, 12)
        assert ds.time_bnds.values[364, 1] == cftime.DatetimeNoLeap(2014, 1, 1)
        assert ds.gpp.attrs["units"] == "g m-2 d-1" and ds.cLeaf.attrs["units"] == "g m-2"
        cells = (slice(None), ILAT - 1, ILON - 1)
        r = recs[2014]
        # daily records are written as they are: fluxes per day, end-of-day pools
        np.testing.assert_allclose(ds.gpp.values[365:][cells], r["cgpp"], rtol=1e-6)
        np.testing.assert_allclose(ds.cLeaf.values[365:][cells], r["cleaf"], rtol=1e-6)
        np.testing.assert_allclose(ds.nep.values[:365][cells], recs[2013]["cnpp"] - recs[2013]["cresp"],
                                   rtol=1e-5, atol=1e-6)


def test_nothing_left_after_an_exception(tmp_path):
    path = tmp_path / "spinup_annual.nc"
    with pytest.raises(RuntimeError, match="model failed"):
        with CFWriter(path, make_sites(), cfg_for("casa", True), attrs={}) as w:
            w.append(1, annual_sums(1901))
            raise RuntimeError("model failed")
    assert list(tmp_path.iterdir()) == []
    # an older complete file at `path` survives a failed rewrite
    path.write_bytes(b"old")
    with pytest.raises(KeyError):
        with CFWriter(path, make_sites(), cfg_for("casa", True), attrs={}) as w:
            w.append(1, {"cgpp": np.zeros(N)})                  # incomplete model output
    assert path.read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 1


def test_dropped_writer_leaves_nothing(tmp_path):
    w = CFWriter(tmp_path / "x_annual.nc", make_sites(), cfg_for("casa", True), attrs={})
    w.append(1901, annual_sums(1901))
    del w
    assert list(tmp_path.iterdir()) == []


def test_bad_appends(tmp_path):
    w = CFWriter(tmp_path / "x_annual.nc", make_sites(), cfg_for("casa", False), attrs={})
    w.append(1902, annual_sums(1902))
    with pytest.raises(ValueError, match="after year"):
        w.append(1902, annual_sums(1902))
    bad = {k: np.zeros(N + 1) for k in annual_sums(1903)}
    with pytest.raises(ValueError, match="shape"):
        w.append(1903, bad)
    w.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="frequency"):
        CFWriter(tmp_path / "y.nc", make_sites(), cfg_for("casa", False), frequency="monthly", attrs={})


@pytest.mark.parametrize("soil,nitrogen", [("casa", False), ("mimics", True)])
def test_one_model_year_through_the_writer(reference_grid_inputs, tmp_path, soil, nitrogen):
    """Every registry source exists in real model output; values are its annual means/totals."""
    from bgctestbed.init import cold_start
    from bgctestbed.model import run_year, to_jax
    from bgctestbed.params.casa import casa_cell_params, default_casa_table
    from bgctestbed.params.mimics import default_mimics_params, mimics_cell_params
    from bgctestbed.physics.mimics import MimicsPools, initial_pools

    sites, forcing = reference_grid_inputs
    f = forcing.year(0)
    fy = {k: jnp.asarray(v) for k, v in f.model_inputs().items()}
    mp = default_mimics_params() if soil == "mimics" else None
    cfg = ModelConfig(soil, nitrogen, mimics=mp)
    table = default_casa_table()
    p = casa_cell_params(table, sites)
    st = cold_start(table, p, sites.phase0, cfg)
    if mp is not None:
        p.update({f"mim_{k}": v for k, v in mimics_cell_params(mp, sites.pft, sites.clay).items()})
        pools = initial_pools(np.asarray(p["active"]), mp.CNr, mp.CNk)
        st = st._replace(mim=MimicsPools(*(jnp.maximum(jnp.asarray(x), 0.0) for x in pools)))
    st = jax.tree.map(jnp.asarray, st)
    _, acc, _ = run_year(st, fy, to_jax(p), cfg)
    acc = {k: np.asarray(v) for k, v in acc.items()}

    path = tmp_path / "test_annual.nc"
    with CFWriter(path, sites, cfg, attrs={"phase": "test"}) as w:
        w.append(1901, acc)
    with xr.open_dataset(path) as ds:
        cells = (np.asarray(sites.ilat) - 1, np.asarray(sites.ilon) - 1)
        np.testing.assert_allclose(ds.npp.values[0][cells], acc["cnpp"], rtol=1e-6)
        np.testing.assert_allclose(ds.cLeaf.values[0][cells], acc["cleaf"] / 365, rtol=1e-6)
        hr = acc["mimics:cHresp"] if soil == "mimics" else acc["cresp"]
        np.testing.assert_allclose(ds.rh.values[0][cells], hr, rtol=1e-6)
        assert ("nSoil" in ds) == nitrogen
        assert np.all(np.isfinite(ds.cSoil.values[0][cells]))
