"""Runs on a 2-worker dask LocalCluster equal the in-process run on the same chunks of cells
bit for bit (other chunks round differently in the last digit: tests/unit/test_batches.py)."""

import numpy as np
import pytest
import xarray as xr

from bgctestbed import workflow
from bgctestbed.config import parse_config
from bgctestbed.io.checkpoint import read_restart

from .test_workflow import states_equal

pytest.importorskip("distributed")


def small_config(folder, **over):
    data = {"run": {"output_dir": str(folder), "configurations": ["casa-cn", "mimics-c"], "report": False},
            "inputs": {"cell_stride": 97},
            "spinup": {"method": "brute", "prespin_years": 1, "cycle": [1901, 1902], "max_cycles": 2,
                       "checkpoint_every": 1},
            "historical": {"years": [1901, 1901]},
            "scenario": {"years": [1902, 1902], "output": "daily"}}
    for sec, kv in over.items():
        data.setdefault(sec, {}).update(kv)
    return parse_config(data, folder / "c.toml")


def outputs_equal(a, b, names):
    for name in names:
        for f in sorted((a / name).glob("*.nc")):
            if f.name.startswith("checkpoint"):
                continue
            if f.name.startswith("restart"):
                states_equal(read_restart(f)[0], read_restart(b / name / f.name)[0])
                continue
            with xr.open_dataset(f) as x, xr.open_dataset(b / name / f.name) as y:
                assert set(x.data_vars) == set(y.data_vars)
                for v in x.data_vars:
                    np.testing.assert_array_equal(x[v].values, y[v].values, err_msg=f"{f.name} {v}")
        la = (a / name / "spinup_log.csv").read_text().splitlines()
        lb = (b / name / "spinup_log.csv").read_text().splitlines()
        assert [r.rsplit(",", 1)[0] for r in la] == [r.rsplit(",", 1)[0] for r in lb]   # but wall times


def test_two_workers_equal_the_same_chunks_in_one_process(tmp_path):
    # 46 cells: 2 workers and chunks of 25 cells give the same 2 chunks of 23
    local = workflow.run_config(small_config(tmp_path / "a", compute={"chunk_cells": 25}), quiet=True)
    dist = workflow.run_config(small_config(tmp_path / "b", compute={"workers": 2}), quiet=True)
    assert dist.ex.nchunks == 2 and local.ex.nchunks == 2
    assert dist.ex.bounds == local.ex.bounds
    names = [m.name for m in local.members]
    outputs_equal(tmp_path / "a", tmp_path / "b", names)
    for name in names:
        assert (tmp_path / "a" / name / "scenario_daily.nc").exists()


def test_device_cpu_is_honoured(tmp_path, monkeypatch):
    import jax

    from bgctestbed.executor import select_device

    monkeypatch.setenv("JAX_PLATFORMS", "")
    select_device("cpu")
    run = workflow.Run(small_config(tmp_path, run={"configurations": ["casa-c"]}, compute={"device": "cpu"}),
                       quiet=True)
    assert {d.platform for d in run.members[0].pj["sla"].devices()} == {"cpu"}
    assert jax.default_backend() == "cpu"


def test_device_gpu_without_gpu_is_a_clean_error(tmp_path):
    import subprocess
    import sys

    import jax

    if any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("this machine has a GPU")
    r = subprocess.run([sys.executable, "-m", "bgctestbed.cli", "run", "--preset", "quick", "--device", "gpu",
                        "--output-dir", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "no GPU" in r.stderr
    assert not (tmp_path / "o").exists()


def test_solver_by_chunks_on_workers_equals_the_same_chunks_in_process(tmp_path):
    over = dict(run={"configurations": ["casa-c"]}, historical={"years": []}, scenario={"years": []},
                spinup={"method": "solver", "cycle": [1901, 1901]})
    local = workflow.run_config(small_config(tmp_path / "a", compute={"chunk_cells": 25}, **over), quiet=True)
    dist = workflow.run_config(small_config(tmp_path / "b", compute={"chunk_cells": 25, "workers": 2}, **over),
                               quiet=True)
    assert local.ex.nchunks == dist.ex.nchunks == 2
    outputs_equal(tmp_path / "a", tmp_path / "b", ["casa-c"])
    assert "chunk 1" in (tmp_path / "a" / "casa-c" / "spinup_log.csv").read_text()


def test_resume_on_workers_after_an_interruption_equals_the_uninterrupted_run(tmp_path, monkeypatch):
    """The driver stops mid spin-up (2 workers); `resume` on 2 workers continues from the
    chunks' checkpoint (it runs fewer years than the whole run) and ends with the
    uninterrupted in-process run's states and outputs (the same chunks)."""
    from bgctestbed import executor

    years = {"n": 0}

    def counting(cls):
        real_map = cls.map

        def map_(self, fn, *args):
            if fn is workflow._year_task:
                years["n"] += 1 / self.nchunks
            return real_map(self, fn, *args)
        monkeypatch.setattr(cls, "map", map_)

    counting(executor.LocalExecutor)
    counting(executor.DaskExecutor)
    over = dict(spinup={"max_cycles": 3}, scenario={"years": []})
    workflow.run_config(small_config(tmp_path / "a", compute={"chunk_cells": 25}, **over), quiet=True)
    whole, years["n"] = years["n"], 0
    real, calls = workflow.soil_carbon, {"n": 0}

    def interrupted(*a, **k):
        calls["n"] += 1
        if calls["n"] == 4:          # CASA-CN, in its accelerated stage after 2 checkpointed cycles
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(workflow, "soil_carbon", interrupted)
    with pytest.raises(KeyboardInterrupt):
        workflow.run_config(small_config(tmp_path / "b", compute={"workers": 2}, **over), quiet=True)
    monkeypatch.setattr(workflow, "soil_carbon", real)
    assert (tmp_path / "b" / "casa-cn" / "checkpoint_spinup.nc").exists()
    assert not (tmp_path / "b" / "casa-cn" / "restart_spinup.nc").exists()
    years["n"] = 0
    run = workflow.run_config(small_config(tmp_path / "b", compute={"workers": 2}, **over), resume=True,
                              quiet=True)
    assert run.ex.nchunks == 2
    assert 0 < years["n"] < whole - 2, (years["n"], whole)    # the checkpointed cycles are not rerun
    for name in ("casa-cn", "mimics-c"):
        for f in ("restart_spinup.nc", "restart_historical.nc"):
            states_equal(read_restart(tmp_path / "a" / name / f)[0], read_restart(tmp_path / "b" / name / f)[0])
        with xr.open_dataset(tmp_path / "a" / name / "historical_annual.nc") as x, \
                xr.open_dataset(tmp_path / "b" / name / "historical_annual.nc") as y:
            for v in x.data_vars:
                np.testing.assert_array_equal(x[v].values, y[v].values, err_msg=f"{name} {v}")
