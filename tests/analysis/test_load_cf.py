"""The analysis layer on the project's CF output: runs written with CFWriter (a few cells, a few
years, hand-set values) are loaded by `load_run` / `load_daily`, and global sums and Table 1
match values computed by hand; `make_report` runs on such run directories."""

from __future__ import annotations

import numpy as np
import pytest

from bgctestbed.analysis import metrics as M
from bgctestbed.analysis.load import detect_layout, load_daily, load_run
from bgctestbed.analysis.report import make_report
from bgctestbed.io.cfout import VARIABLES, CFWriter
from bgctestbed.model import ModelConfig
from bgctestbed.sites import Sites

GRID_LAT = np.array([-45.0, 15.0, 65.0])
GRID_LON = np.array([50.0, 200.0])
ILAT, ILON = np.array([3, 2, 1]), np.array([1, 2, 1])      # cell 0 is boreal (65 N, 50 E)
AREA_M2 = np.array([1.0e10, 3.0e10, 0.0])                   # the third cell is ice
YEARS = (1901, 1902, 1903)


def sites() -> Sites:
    z = np.zeros(3)
    return Sites(cellid=(ILON - 1) * 3 + ILAT, lat=GRID_LAT[ILAT - 1], lon=GRID_LON[ILON - 1], ilat=ILAT,
                 ilon=ILON, pft=np.array([1, 10, 15]), landarea=AREA_M2, sand=z, clay=z, silt=z, swilt=z,
                 sfc=z, ssat=z, greenup=z, fall=z, phase0=z, grid_lat=GRID_LAT, grid_lon=GRID_LON)


# Hand-set annual values per cell (the ice cell holds zeros): fluxes are annual totals
# (g m-2 yr-1), pools annual means (g m-2). GPP grows by 10 per year.
FLUX = {"cgpp": [1000.0, 2000.0, 0.0], "cnpp": [500.0, 1000.0, 0.0], "cresp": [450.0, 950.0, 0.0],
        "mimics:cHresp": [400.0, 900.0, 0.0], "nNetMineralization": [10.0, 20.0, 0.0]}
POOL = {"cleaf": [100.0, 200.0, 0.0], "cwood": [1000.0, 0.0, 0.0], "cfroot": [50.0, 50.0, 0.0],
        "clitcwd": [30.0, 60.0, 0.0],
        "clitmetb": [15.0, 25.0, 0.0], "clitstr": [35.0, 45.0, 0.0],
        "csoilmic": [20.0, 30.0, 0.0], "csoilslow": [400.0, 800.0, 0.0], "csoilpass": [600.0, 900.0, 0.0],
        "nlitmetb": [1.0, 1.0, 0.0], "nlitstr": [1.0, 1.0, 0.0],
        "nsoilmic": [2.0, 3.0, 0.0], "nsoilslow": [40.0, 80.0, 0.0], "nsoilpass": [60.0, 90.0, 0.0],
        "mimics:cLITm": [10.0, 20.0, 0.0], "mimics:cLITs": [20.0, 40.0, 0.0],
        "mimics:cMICr": [5.0, 10.0, 0.0], "mimics:cMICk": [5.0, 20.0, 0.0],
        "mimics:cSOMa": [100.0, 200.0, 0.0], "mimics:cSOMc": [300.0, 600.0, 0.0],
        "mimics:cSOMp": [600.0, 1200.0, 0.0],
        "mimics:nLITm": [0.5, 1.0, 0.0], "mimics:nLITs": [0.5, 1.0, 0.0],
        "mimics:nMICr": [1.0, 2.0, 0.0], "mimics:nMICk": [1.0, 3.0, 0.0],
        "mimics:nSOMa": [10.0, 20.0, 0.0], "mimics:nSOMc": [30.0, 60.0, 0.0],
        "mimics:nSOMp": [60.0, 120.0, 0.0]}


def _all_keys():
    return {k.lstrip("-") for v in VARIABLES.values() for s in ("casa", "mimics") for k in v.keys(s)}


def annual_acc(year):
    """run_year-style annual sums: pools x 365 (the writer divides by 365), fluxes as they are."""
    acc = {k: np.zeros(3) for k in _all_keys()}
    for k, v in FLUX.items():
        acc[k] = np.array(v)
    acc["cgpp"] = acc["cgpp"] + np.array([10.0, 10.0, 0.0]) * (year - YEARS[0])
    for k, v in POOL.items():
        acc[k] = 365.0 * np.array(v)
    return acc


def daily_records(year):
    """Daily records whose year sums equal annual_acc(year): fluxes spread evenly, pools constant
    except a seasonal swing of zero mean."""
    acc = annual_acc(year)
    swing = np.sin(2 * np.pi * (np.arange(365) + 0.5) / 365)[:, None]
    out = {}
    for k, v in acc.items():
        out[k] = np.repeat(v[None, :] / 365.0, 365, axis=0)
        if k in POOL:
            out[k] = out[k] * (1.0 + 0.1 * swing)
    return out


def write_run(run_dir, soil, nitrogen, *, daily=False, phase="historical", years=YEARS):
    cfg = ModelConfig(soil, nitrogen, mimics=object() if soil == "mimics" else None)
    freq = "daily" if daily else "annual"
    path = run_dir / f"{phase}_{freq}.nc"
    with CFWriter(path, sites(), cfg, frequency=freq, attrs={"phase": phase}) as w:
        for y in years:
            w.append(y, daily_records(y) if daily else annual_acc(y))
    return path


def _hand_sums():
    a_km2 = AREA_M2[:2] * 1e-6
    w = a_km2 * 1e6 * 1e-15        # g -> Pg per g m-2 on each cell
    c = {k: np.array(v[:2]) for k, v in POOL.items()}
    ctot = c["mimics:cLITm"] + c["mimics:cLITs"] + sum(c[f"mimics:c{p}"] for p in ("MICr", "MICk", "SOMa", "SOMc", "SOMp"))
    ntot = c["mimics:nLITm"] + c["mimics:nLITs"] + sum(c[f"mimics:n{p}"] for p in ("MICr", "MICk", "SOMa", "SOMc", "SOMp"))
    cmic = c["mimics:cMICr"] + c["mimics:cMICk"]
    nmic = c["mimics:nMICr"] + c["mimics:nMICk"]
    return a_km2, w, ctot, ntot, cmic, nmic


@pytest.mark.parametrize("daily", [False, True])
def test_load_cf_run_global_sums(tmp_path, daily):
    write_run(tmp_path, "mimics", True, daily=daily)
    assert detect_layout(tmp_path) == "cf"
    ds = load_run(tmp_path)
    assert ds.attrs["layout"] == "cf" and ds.attrs["configuration"] == "MIMICS-CN"
    assert list(ds.year.values) == list(YEARS)
    a_km2, w, ctot, ntot, cmic, nmic = _hand_sums()
    # landarea: m2 in the file, km2 in the analysis; NaN outside the simulated cells, 0 on ice
    la = ds.landarea.sel(lat=GRID_LAT[ILAT - 1][:2], lon=GRID_LON[ILON - 1][:2]).values.diagonal()
    np.testing.assert_allclose(la, a_km2)
    assert float(ds.landarea.sel(lat=-45.0, lon=50.0)) == 0.0
    assert int(np.isnan(ds.landarea.values).sum()) == 3
    gpp = M.global_sum(ds.GPP, ds)
    np.testing.assert_allclose(gpp.values, [(1000 + 10 * i) * w[0] + (2000 + 10 * i) * w[1] for i in range(3)],
                               rtol=1e-6)
    assert gpp.attrs["units"] == "Pg C yr-1"
    # HR of MIMICS runs is the MIMICS respiration (400, 900), not the CASA-side 450, 950
    np.testing.assert_allclose(M.global_sum(ds.HR, ds).values, 400 * w[0] + 900 * w[1], rtol=1e-6)
    np.testing.assert_allclose(M.global_sum(ds.cTOT, ds).values, ctot @ w, rtol=1e-6)
    np.testing.assert_allclose(M.global_sum(ds.cVEG, ds).values, 1150 * w[0] + 250 * w[1], rtol=1e-6)
    np.testing.assert_allclose(M.global_sum(ds.cCWD, ds).values, 30 * w[0] + 60 * w[1], rtol=1e-6)
    np.testing.assert_allclose(M.global_sum(ds.nNetMin, ds).values, (10 * a_km2[0] + 20 * a_km2[1]) * 1e6 * 1e-12,
                               rtol=1e-6)
    assert M.global_sum(ds.nNetMin, ds).attrs["units"] == "Tg N yr-1"
    np.testing.assert_allclose(M.area_mean(ds.relMIC, ds, M.land_mask(ds)).values,
                               (100 * cmic / ctot) @ a_km2 / a_km2.sum(), rtol=1e-5)


def test_table1_from_cf_runs(tmp_path):
    write_run(tmp_path / "mim_cn", "mimics", True)
    write_run(tmp_path / "cas_c", "casa", False)
    mim = load_run(tmp_path / "mim_cn")
    cas = load_run(tmp_path / "cas_c")
    assert cas.attrs["configuration"] == "CASA-C"
    assert bool(cas.nNetMin.isnull().all()) and bool(cas.cMIC.isnull().all())
    t = M.table1([mim, cas], years=(1901, 1903), mask=None, paper=False).values
    a_km2, w, ctot, ntot, cmic, nmic = _hand_sums()
    col_m, col_c = t.columns[1], t.columns[2]
    assert t.loc["GPP", col_m] == pytest.approx((1010 * w[0] + 2010 * w[1]), rel=1e-6)   # mean over 3 years
    assert t.loc["NPP", col_m] == pytest.approx(500 * w[0] + 1000 * w[1], rel=1e-6)
    assert t.loc["HR", col_m] == pytest.approx(400 * w[0] + 900 * w[1], rel=1e-6)
    assert t.loc["cTOT", col_m] == pytest.approx(ctot @ w, rel=1e-6)
    assert t.loc["cMIC", col_m] == pytest.approx(cmic @ w, rel=1e-6)
    assert t.loc["relMIC", col_m] == pytest.approx((100 * cmic / ctot) @ a_km2 / a_km2.sum(), rel=1e-5)
    assert t.loc["cnTOT", col_m] == pytest.approx((ctot / ntot) @ a_km2 / a_km2.sum(), rel=1e-5)
    assert t.loc["cnMIC", col_m] == pytest.approx((cmic / nmic) @ a_km2 / a_km2.sum(), rel=1e-5)
    assert t.loc["nNetMin", col_m] == pytest.approx((10 * a_km2[0] + 20 * a_km2[1]) * 1e-6, rel=1e-6)
    assert t.loc["tau_global", col_m] == pytest.approx((ctot @ w) / (500 * w[0] + 1000 * w[1]), rel=1e-6)
    # CASA C-only: CASA soil pools and respiration; no N, no microbes
    c_tot = np.array([15 + 35 + 20 + 400 + 600, 25 + 45 + 30 + 800 + 900])
    assert t.loc["cTOT", col_c] == pytest.approx(c_tot @ w, rel=1e-6)
    assert t.loc["HR", col_c] == pytest.approx(450 * w[0] + 950 * w[1], rel=1e-6)
    assert np.isnan(t.loc["nNetMin", col_c]) and np.isnan(t.loc["cMIC", col_c])


def test_load_daily_from_cf_file(tmp_path):
    write_run(tmp_path, "casa", True, daily=True, years=(2013, 2014))
    d = load_daily(tmp_path, years=[2014], variables=("NPP", "HR"), lat_range=(60, 70), lon_range=(0, 100))
    assert d is not None and list(d.year.values) == [2014]
    assert d.sizes["lat"] == 1 and d.sizes["lon"] == 1
    np.testing.assert_allclose(d.NPP[0, :, 0, 0].values, 500.0 / 365, rtol=1e-6)
    np.testing.assert_allclose(d.NEP[0, :, 0, 0].values, 50.0 / 365, rtol=1e-5)
    np.testing.assert_allclose(float(d.landarea[0, 0]), 1.0e4)      # km2


def test_phases_and_duplicate_years(tmp_path):
    write_run(tmp_path, "casa", True, phase="historical", years=(1901, 1902))
    write_run(tmp_path, "casa", True, phase="spinup", years=(1, 2, 1902))
    ds = load_run(tmp_path, phase="spinup")
    assert list(ds.year.values) == [1, 2, 1902]
    both = load_run(tmp_path)
    assert list(both.year.values) == [1, 2, 1901, 1902]
    assert "historical_annual.nc used" in both.attrs["notes"]


def test_report_on_cf_runs(tmp_path):
    for name, soil, n in (("mim_cn", "mimics", True), ("mim_c", "mimics", False),
                          ("cas_cn", "casa", True), ("cas_c", "casa", False)):
        write_run(tmp_path / name, soil, n)
        write_run(tmp_path / name, soil, n, daily=True)
    html = make_report([tmp_path / n for n in ("mim_cn", "mim_c", "cas_cn", "cas_c")], tmp_path / "rep",
                       paper=False, quiet=True)
    assert html.is_file()
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "MIMICS-CN" in text and "CASA-C" in text
    assert (tmp_path / "rep" / "figures" / "boreal_climatology.png").is_file()     # from the daily CF files
