"""Pieces of the world build that need no data packages."""

from __future__ import annotations

import numpy as np

from bgctestbed.world.build import initial_phase, koppen_rules, saxton_rawls
from bgctestbed.world.grid import KOPPEN, cell_area, phenology_row
from bgctestbed.world.weather import daily_matrix, toa_radiation


def test_saxton_rawls_loam():
    # Saxton & Rawls (2006) Table 3 (2.5 % OM): loam (40 % sand, 20 % clay) 12, 28, 46 %;
    # sand (88 %, 5 %) 5, 10, 46 % (the table rounds; the equations give 13.7 for loam)
    wp, fc, sat = saxton_rawls(0.40, 0.20, om=2.5)
    assert abs(wp - 0.12) < 0.02 and abs(fc - 0.28) < 0.01 and abs(sat - 0.46) < 0.01
    wp, fc, sat = saxton_rawls(0.88, 0.05, om=2.5)
    assert abs(wp - 0.05) < 0.01 and abs(fc - 0.10) < 0.01 and abs(sat - 0.46) < 0.01


def test_koppen_rules():
    t = np.stack([np.full(12, 27.0), np.full(12, 25.0),
                  -5 + 10 * np.sin(np.linspace(0, 2 * np.pi, 12, endpoint=False)),
                  5 + 20 * np.sin(np.linspace(-np.pi / 2, 3 * np.pi / 2, 12, endpoint=False))],
                 axis=1)
    p = np.stack([np.full(12, 250.0), np.full(12, 2.0), np.full(12, 20.0), np.full(12, 80.0)],
                 axis=1)
    names = [KOPPEN[k - 1] for k in koppen_rules(t, p, np.array([0.0, 20.0, 70.0, 45.0]))]
    assert names[0] == "Af" and names[1] == "BWh" and names[2] == "ET" and names[3][:2] == "Df"


def test_grid_and_calendar_helpers():
    assert abs(cell_area().sum() * 180 - 4 * np.pi * 6.37122e6 ** 2) < 1e6
    assert phenology_row(79.75) == 0 and phenology_row(-89.0) == 270 and phenology_row(89) == 0
    m = daily_matrix()
    monthly = np.random.default_rng(0).normal(size=12)
    daily = m @ monthly
    days = np.repeat(np.arange(12), [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    assert np.allclose([daily[days == k].mean() for k in range(12)], monthly)
    ra = toa_radiation(np.array([0.0, 60.0]))
    assert 35 < ra[:, 0].mean() < 40 and ra[0, 1] < 5 and ra[172, 1] > 40
    assert list(initial_phase([300, 100], [100, 250])) == [2, 0]
