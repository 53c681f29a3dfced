"""Run a reference case through our command line and compare with the reference outputs.

A case folder of the reference (`testbed_outputs/<case>/`) holds the `.lst` that was run, its
restart inputs and every output. The case is re-created in a temporary folder with links to
the reference inputs, so the unchanged `.lst` (relative paths) runs there and writes there.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import netCDF4
import numpy as np

from bgctestbed.cli import main

LST = "fcasacnp_clm_testbed.lst"


def run_case(reference_dir: Path, case: str, tmp_path: Path) -> Path:
    root = tmp_path / "ref"
    (root / "testbed_outputs").mkdir(parents=True)
    (root / "testbed_inputs").symlink_to(reference_dir / "testbed_inputs")
    (root / "testbed_outputs" / "inputs").symlink_to(reference_dir / "testbed_outputs" / "inputs")
    src = reference_dir / "testbed_outputs" / case
    dst = root / "testbed_outputs" / case
    (dst / "out").mkdir(parents=True)
    shutil.copy(src / LST, dst / LST)
    for f in src.glob("*_in.csv"):
        shutil.copy(f, dst / f.name)
    assert main(["run", str(dst / LST)]) == 0
    return dst


def _cells(ds):
    cm = np.asarray(ds["cellMissing"][:])
    landarea = np.asarray(ds["landarea"][:])
    return cm == 0, landarea


def compare_nc(ours: Path, ref: Path, rtol: float, skip=()) -> dict[str, float]:
    """Largest relative difference per variable over simulated cells, with an absolute floor
    of 1e-4 x the variable's mean magnitude (values near zero)."""
    worst = {}
    with netCDF4.Dataset(ref) as r, netCDF4.Dataset(ours) as o:
        assert set(r.variables) == set(o.variables), (set(r.variables) ^ set(o.variables))
        for name in ("time", "day", "lat", "lon", "IGBP_PFT", "cellid", "cellMissing", "landarea"):
            if name in r.variables:
                np.testing.assert_allclose(np.ma.filled(o[name][:], np.nan),
                                           np.ma.filled(r[name][:], np.nan), rtol=1e-6, err_msg=name)
        valid, _ = _cells(r)
        for name, var in r.variables.items():
            if var.ndim != 3 or name in skip:
                continue
            a = np.ma.filled(r[name][:], np.nan)[:, valid].astype(float)
            b = np.ma.filled(o[name][:], np.nan)[:, valid].astype(float)
            floor = 1e-4 * np.nanmean(np.abs(a)) + 1e-30
            err = np.abs(b - a) / np.maximum(np.abs(a), floor)
            worst[name] = float(np.nanmax(err)) if np.isfinite(err).all() else float("inf")
    bad = {k: v for k, v in worst.items() if not v <= rtol}
    assert not bad, f"{ours.name}: variables beyond {rtol}: {bad}"
    return worst


def read_csv_numbers(path: Path) -> np.ndarray:
    with open(path) as fh:
        rows = list(csv.reader(fh))[1:]
    return np.array([[float(x) for x in row if x.strip()] for row in rows])


def compare_csv(ours: Path, ref: Path, atol: float, columns=None) -> float:
    a, b = read_csv_numbers(ref), read_csv_numbers(ours)
    assert a.shape == b.shape, (a.shape, b.shape)
    if columns is not None:
        a, b = a[:, columns], b[:, columns]
    scale = np.maximum(1.0, np.abs(a))
    err = np.abs(a - b) / scale
    worst = float(err.max())
    # values are printed with a fixed number of decimals: allow that rounding, relative to size
    assert np.all(np.abs(a - b) <= atol + 1e-6 * np.abs(a)), f"{ours.name}: max |diff| {np.abs(a - b).max()}"
    return worst
