"""Static fields, forcing contract, determinism and plausibility of the embedded world."""

from __future__ import annotations

import numpy as np
import pytest

from bgctestbed.errors import InputError
from bgctestbed.sites import Forcing, Sites
from bgctestbed.world import load_world
from bgctestbed.world.grid import ICEWATER, NLAT, PHEN_PFTS, phenology_row
from bgctestbed.world.summary import zonal_shape_ok


def test_sites_contract(world):
    s = world.sites
    assert isinstance(s, Sites)
    assert s.n > 4000
    assert np.array_equal(s.cellid, (s.ilon - 1) * NLAT + s.ilat)
    assert np.all(np.diff(s.cellid) > 0)                      # longitude outer, latitude inner
    assert np.allclose(s.lat, s.grid_lat[s.ilat - 1]) and np.allclose(s.lon, s.grid_lon[s.ilon - 1])
    assert set(np.unique(s.pft)) <= set(range(1, 19))
    assert 15 not in s.pft and 17 not in s.pft                # ice sheets and water are left out
    assert np.all(s.landarea > 0)
    assert 120e12 < s.landarea[world.simulated].sum() < 140e12
    assert np.allclose(s.sand + s.clay + s.silt, 1.0)
    assert np.all((s.sand > 0) & (s.clay > 0) & (s.silt > 0))
    assert np.all(s.sfc - s.swilt >= 0.05 - 1e-9) and np.all(s.ssat > s.sfc)
    assert 0.03 < s.swilt.min() and s.ssat.max() < 0.55
    for a in (s.sand, s.clay, s.swilt, s.sfc, s.ssat, s.landarea, s.lat):
        assert a.dtype == np.float64


def test_classes_plausible(world):
    s = world.sites
    area = lambda p: s.landarea[s.pft == p].sum() / 1e12  # noqa: E731
    assert area(2) > 10           # tropical evergreen forest
    assert area(1) + area(3) > 8  # boreal needleleaf (MODIS woody savanna re-assigned)
    assert area(18) > 3           # tundra from Koppen E
    kop = world.arrays["koppen"][s.pft == 18]
    assert np.all((kop == 30) | (kop == 31))   # Koppen E (EF, ET): arctic and alpine tundra
    assert np.mean(s.lat[s.pft == 18] > 50) > 0.75
    assert area(16) > 10          # deserts
    assert world.simulated.sum() == np.sum(~np.isin(s.pft, ICEWATER))


def test_phenology_matches_table(world):
    s, tab = world.sites, world.arrays["phenology"]
    row = phenology_row(s.lat)
    for i in range(0, s.n, 37):
        if s.pft[i] in PHEN_PFTS:
            k = PHEN_PFTS.index(s.pft[i])
            assert (s.greenup[i], s.fall[i], s.phase0[i]) == tuple(tab[row[i], k])
        else:
            assert (s.greenup[i], s.fall[i], s.phase0[i]) == (-50, 367, 2)
    g = tab[..., 0]
    assert g.min() >= 1 and g.max() <= 365 and set(np.unique(tab[..., 2])) <= {0, 2}
    # northern temperate deciduous forest greens up in spring, southern tropics around October
    north = (s.pft == 4) & (s.lat > 35) & (s.lat < 55)
    assert 60 < np.median(s.greenup[north]) < 170


@pytest.fixture(scope="module")
def f1950(world):
    return world.forcing(1950)


def test_forcing_contract(world, f1950):
    f, n = f1950, world.n
    assert isinstance(f, Forcing)
    for k in ("xcgpp", "xtairk", "ndep"):
        a = getattr(f, k)
        assert a.shape == (365, n) and a.dtype == np.float64 and np.isfinite(a).all()
    for k in ("xtsoil", "xmoist", "xfrznmoist"):
        a = getattr(f, k)
        assert a.shape == (365, 6, n) and a.dtype == np.float64 and np.isfinite(a).all()
    assert f.xcgpp.min() >= 0 and f.xcgpp.max() < 40
    assert 190 < f.xtairk.min() and f.xtairk.max() < 335
    assert 200 < f.xtsoil.min() and f.xtsoil.max() < 330
    assert f.xmoist.min() >= 0 and f.xfrznmoist.min() >= 0
    ssat = world.sites.ssat
    assert np.all(f.xmoist + f.xfrznmoist <= ssat[None, None, :] + 1e-9)
    assert np.all(f.ndep > 0) and np.allclose(f.ndep, f.ndep[0])
    # deeper layers have a damped annual cycle
    amp = f.xtsoil.max(0) - f.xtsoil.min(0)
    assert np.median(amp[5] / np.maximum(amp[0], 1e-3)) < 0.5


def test_forcing_deterministic_and_restartable(world, f1950):
    again = load_world().forcing(1950)
    for k in ("xcgpp", "xtairk", "xtsoil", "xmoist", "xfrznmoist", "ndep"):
        assert np.array_equal(getattr(f1950, k), getattr(again, k)), k
    seq = list(load_world().forcing_years(1948, 1950))
    assert len(seq) == 3
    for k in ("xcgpp", "xtairk", "xtsoil", "xmoist", "xfrznmoist"):
        assert np.array_equal(getattr(seq[-1], k), getattr(f1950, k)), k
    other = world.forcing(1950, seed=1)
    assert not np.array_equal(other.xtairk, f1950.xtairk)
    assert not np.array_equal(seq[0].xtairk, f1950.xtairk)


def test_scenario_years(world, f1950):
    f = world.forcing(2100)
    sim = world.simulated
    a = world.sites.landarea[sim]
    t50 = np.average(f1950.xtairk.mean(0)[sim], weights=a)
    t00 = np.average(f.xtairk.mean(0)[sim], weights=a)
    assert 3.0 < t00 - t50 < 8.0                  # SSP3-7.0 land warming
    assert world.co2(2100) > 800 and 280 < world.co2(1901) < 300


def test_bad_inputs(world, tmp_path):
    with pytest.raises(InputError):
        world.forcing(1800)
    with pytest.raises(InputError):
        load_world(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_text("not a world")
    with pytest.raises(InputError):
        load_world(bad)
    partial = tmp_path / "partial.npz"
    np.savez(partial, cellid=np.arange(3))
    with pytest.raises(InputError, match="missing array"):
        load_world(partial)


# ----------------------------------------------------------------- plausibility targets

def test_global_gpp(summary):
    assert 100 <= summary.gpp_early <= 112
    assert 10 <= summary.gpp_change <= 20


def test_zonal_gpp_shape(summary):
    for name, ok in zonal_shape_ok(summary.zonal).items():
        assert ok, (name, summary.zonal)


def test_tundra_gpp(summary):
    assert summary.tundra_gpp < 350


def test_permafrost_frozen_in_winter(summary):
    assert summary.permafrost_cells > 300
    assert summary.permafrost_frozen_share > 0.9
    assert summary.permafrost_jan_ice > 0.05


def test_n_deposition(summary):
    assert 20 <= summary.ndep_1901 <= 30
    assert 55 <= summary.ndep_2000 <= 75
