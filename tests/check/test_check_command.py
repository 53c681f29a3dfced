"""`bgctestbed check` on a real small run: budgets in the outputs close; a tampered residual fails."""

import shutil

import netCDF4
import numpy as np
import pytest

from bgctestbed import cli, workflow
from bgctestbed.check import DEFAULT_TOLERANCE, check_run

from tests.workflow.test_workflow import make_config

CONFS = ["casa-c", "casa-cn", "mimics-c", "mimics-cn"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, reference_dir):
    tmp = tmp_path_factory.mktemp("run")
    cfg = make_config(tmp, reference_dir, run={"configurations": CONFS},
                      spinup={"prespin_years": 1, "max_cycles": 1, "min_cycles": 1, "accelerated": False},
                      historical={"years": [1901, 1902]}, scenario={"years": [1903, 1903]})
    workflow.run_config(cfg, quiet=True)
    return cfg.output_dir


def test_budgets_in_outputs_close(run_dir, capsys):
    assert cli.main(["check", str(run_dir)]) == 0
    out = capsys.readouterr().out
    worst = check_run(run_dir)
    # C for every configuration and phase, N for the C+N ones
    assert len(worst) == 2 * (4 + 2)
    assert {w.configuration for w in worst} == set(CONFS)
    assert all(w.relative <= DEFAULT_TOLERANCE for w in worst)
    assert all(1901 <= w.year <= 1903 for w in worst)
    with netCDF4.Dataset(run_dir / "casa-cn" / "historical_annual.nc") as nc:
        v = nc["budget_residual_n"]
        assert v.units == "g m-2 yr-1" and "nitrogen" in v.long_name
        assert nc["budget_throughput_c"][:].max() > 0
    with netCDF4.Dataset(run_dir / "casa-c" / "historical_annual.nc") as nc:
        assert "budget_residual_c" in nc.variables and "budget_residual_n" not in nc.variables
    assert "casa-cn historical N: worst cell id" in out and "year 19" in out


def test_tampered_residual_fails(run_dir, tmp_path, capsys):
    d = tmp_path / "copy"
    shutil.copytree(run_dir, d)
    with netCDF4.Dataset(d / "mimics-cn" / "scenario_annual.nc", "a") as nc:
        lm, cid = nc["land_mask"][:], nc["cellid"][:]
        i, j = (int(x[0]) for x in np.nonzero(lm))
        r = nc["budget_residual_c"][:]
        r[0, i, j] = 1.0
        nc["budget_residual_c"][:] = r
    assert cli.main(["check", str(d)]) == 1
    out = capsys.readouterr().out
    bad = [ln for ln in out.splitlines() if "FAILED" in ln]
    assert len(bad) == 1 and bad[0].startswith("mimics-cn scenario C:")
    assert f"cell id {int(cid[i, j])}" in bad[0] and "year 1903" in bad[0]
    # a looser tolerance accepts it
    assert cli.main(["check", str(d), "--tolerance", "1"]) == 0


def test_not_a_run_folder(tmp_path, capsys):
    assert cli.main(["check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not a run's output folder" in err
    assert cli.main(["check", str(tmp_path / "missing")]) == 2
