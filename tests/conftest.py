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
