"""Shared test fixtures.

Reference data of the original Fortran testbed live beside the clone in `../shared/reference`
(never copied into this repository). `BGCTESTBED_REFERENCE` may point elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("BGCTESTBED_REFERENCE", REPO.parent / "shared" / "reference"))


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.fail(f"reference data not found at {REFERENCE} (set BGCTESTBED_REFERENCE)")
    return REFERENCE


@pytest.fixture(scope="session")
def reference_grid_inputs(reference_dir):
    """The 12-cell reference grid: (Sites, Forcing of its 3 met years). Shared: do not modify."""
    from bgctestbed.io import testbed as tb

    inp = reference_dir / "testbed_outputs" / "inputs"
    sites = tb.read_sites(inp / "gridinfo.csv", inp / "soil.csv",
                          reference_dir / "testbed_inputs" / "modis_phenology_wtundra.txt", 12)
    forcing, _ = tb.read_met(inp / "met.nc", 12)
    return sites, forcing
