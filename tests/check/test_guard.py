"""The state check names configuration, cell, pool and the first bad day."""

import numpy as np
import pytest

from bgctestbed import workflow
from bgctestbed.errors import ModelError

from tests.workflow.test_workflow import make_config

BAD_CELL, BAD_DAY = 4, 40


@pytest.mark.parametrize("phase,where", [("historical", "the historical run, year 1902"),
                                         ("spinup", "spin-up cycle 1, year 2")])
def test_nan_in_forcing_names_cell_pool_and_day(tmp_path, reference_dir, monkeypatch, phase, where):
    cycle = [1901, 1902] if phase == "spinup" else [1901, 1901]
    cfg = make_config(tmp_path, reference_dir, run={"configurations": ["casa-cn"]},
                      spinup={"prespin_years": 1, "cycle": cycle, "max_cycles": 1, "min_cycles": 1,
                              "accelerated": False},
                      historical={"years": [1901, 1902]})
    year = workflow.FileSource.year

    def poisoned(self, y, cells=None):
        f = year(self, y, cells)
        if y == 1902:
            f["tairk"] = np.array(f["tairk"], copy=True)
            f["tairk"][BAD_DAY - 1, BAD_CELL] = np.nan
        return f

    run = workflow.Run(cfg, quiet=True)
    monkeypatch.setattr(workflow.FileSource, "year", poisoned)
    try:
        with pytest.raises(ModelError) as e:
            run.execute()
    finally:
        run.close()
    msg = str(e.value)
    s = run.sites
    assert msg.startswith("casa-cn: non-finite ")
    assert (f"cell index {BAD_CELL} (id {s.cellid[BAD_CELL]}, lat {s.lat[BAD_CELL]:.2f}, "
            f"lon {s.lon[BAD_CELL]:.2f}) (1 cells)") in msg
    assert f"after {where}, first on day {BAD_DAY} of the year" in msg
    assert not (cfg.output_dir / "casa-cn" / "historical_annual.nc").exists()


def test_negative_pool_is_caught(tmp_path, reference_dir):
    cfg = make_config(tmp_path, reference_dir, run={"configurations": ["mimics-c"]})
    run = workflow.Run(cfg, quiet=True)
    try:
        m = run.members[0]
        st = workflow.cold_state(m, run.sites)
        workflow.check_state(st, m, "the test")         # a valid state passes
        mim = st.mim._replace(SOMp=st.mim.SOMp.at[2].set(-1.0))
        with pytest.raises(ModelError, match=r"mimics-c: negative SOMp in cell index 2 \(id \d+, lat"):
            workflow.check_state(st._replace(mim=mim), m, "the test", run.sites)
        # labile C may go negative (as in the reference)
        workflow.check_state(st._replace(clabile=st.clabile.at[2].set(-1.0)), m, "the test")
    finally:
        run.close()
