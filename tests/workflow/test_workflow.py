"""Run workflow on the 12-cell reference grid: phases, checkpoints, resume bit-for-bit."""

import numpy as np
import pytest
import xarray as xr

from bgctestbed import workflow
from bgctestbed.config import parse_config
from bgctestbed.io.checkpoint import read_restart


def make_config(tmp_path, reference_dir, **over):
    inputs = reference_dir / "testbed_outputs" / "inputs"
    data = {
        "run": {"name": "t", "output_dir": str(tmp_path / "out"), "configurations": ["casa-cn", "mimics-cn"],
                "report": False},
        "inputs": {"world": "files", "gridinfo": str(inputs / "gridinfo.csv"), "soil": str(inputs / "soil.csv"),
                   "phenology": str(reference_dir / "testbed_inputs" / "modis_phenology_wtundra.txt"),
                   "met": str(inputs / "met_{year}_{year}.nc")},
        "spinup": {"method": "brute", "prespin_years": 2, "cycle": [1901, 1903], "max_cycles": 4,
                   "checkpoint_every": 1},
        "historical": {"years": []},
    }
    for sec, kv in over.items():
        data.setdefault(sec, {}).update(kv)
    return parse_config(data, tmp_path / "t.toml")


def states_equal(a, b):
    for name in a._fields:
        x, y = getattr(a, name), getattr(b, name)
        if name == "mim":
            assert (x is None) == (y is None)
            if x is not None:
                for k in x._fields:
                    np.testing.assert_array_equal(np.asarray(getattr(x, k)), np.asarray(getattr(y, k)), err_msg=k)
            continue
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=name)


def test_resume_after_crash_is_bit_for_bit(tmp_path, reference_dir, monkeypatch):
    ref = workflow.run_config(make_config(tmp_path / "a", reference_dir), quiet=True)
    cells = ref.sites.cellid

    calls = {"n": 0}
    real = workflow.run_year

    def crashing(*a, **k):
        calls["n"] += 1
        # prespins (2 x 2 years), CASA accelerated stage (4 x 3), then die in normal cycle 2
        if calls["n"] == 4 + 12 + 3 + 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    cfg = make_config(tmp_path / "b", reference_dir)
    monkeypatch.setattr(workflow, "run_year", crashing)
    with pytest.raises(KeyboardInterrupt):
        workflow.run_config(cfg, quiet=True)
    resumed = {"n": 0}

    def counting(*a, **k):
        resumed["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(workflow, "run_year", counting)
    workflow.run_config(make_config(tmp_path / "b", reference_dir), resume=True, quiet=True)
    # only what followed the last checkpoint (CASA normal cycle 1) is run again: 3 CASA cycles
    # and the whole MIMICS-CN spin-up
    assert resumed["n"] == 3 * 3 + 4 * 3
    for name in ("casa-cn", "mimics-cn"):
        a, _ = read_restart(tmp_path / "a" / "out" / name / "restart_spinup.nc", cells)
        b, _ = read_restart(tmp_path / "b" / "out" / name / "restart_spinup.nc", cells)
        states_equal(a, b)
        la = (tmp_path / "a" / "out" / name / "spinup_log.csv").read_text().splitlines()
        lb = (tmp_path / "b" / "out" / name / "spinup_log.csv").read_text().splitlines()
        strip = [",".join(r.split(",")[:-1]) for r in la], [",".join(r.split(",")[:-1]) for r in lb]
        assert strip[0] == strip[1]          # identical log apart from wall times
        assert not (tmp_path / "b" / "out" / name / "checkpoint_spinup.nc").exists()


def test_accelerated_stage_then_passive_rescale(tmp_path, reference_dir):
    cfg = make_config(tmp_path, reference_dir, run={"configurations": ["casa-cn"]},
                      spinup={"max_cycles": 1, "prespin_years": 0})
    run = workflow.Run(cfg, quiet=True)
    m = run.members[0]
    run.prespin([m])
    cycle = run._cycle_forcing()
    rescaled = []
    real = workflow.rescale_passive
    workflow_rescale = lambda s, f, n: rescaled.append((np.asarray(s.csoil[:, 2]), f)) or real(s, f, n)  # noqa: E731
    try:
        workflow.rescale_passive = workflow_rescale
        run.spinup(m, cycle)
    finally:
        workflow.rescale_passive = real
    log = (m.dir / "spinup_log.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in log[1:]] == ["accelerated", "normal"]
    assert len(rescaled) == 1 and rescaled[0][1] == 10.0


def test_auto_spins_casa_up_with_the_solver_and_mimics_by_brute_force(tmp_path, reference_dir):
    """The default method: the CASA member's log holds solver iterations and confirmation
    cycles, the MIMICS member's the brute-force cycles of the normal stage."""
    cfg = make_config(tmp_path, reference_dir, run={"configurations": ["casa-c", "mimics-c"]},
                      spinup={"method": "auto", "prespin_years": 1, "cycle": [1901, 1901], "max_cycles": 2})
    run = workflow.run_config(cfg, quiet=True)
    stages = {m.name: {line.split(",")[0] for line in (m.dir / "spinup_log.csv").read_text().splitlines()[1:]}
              for m in run.members}
    assert {"solver", "confirmation"} <= stages["casa-c"], stages
    assert stages["mimics-c"] == {"normal"}, stages
    assert {"solver_converged"} <= set(run.members[0].info) and "normal_cycles" in run.members[1].info


def test_resume_after_a_crash_in_the_solver_is_identical(tmp_path, reference_dir, monkeypatch):
    """The default spin-up of a CASA member is the solver, which keeps no checkpoints: an
    interrupted solve leaves no spin-up restart, and --resume solves again from the prespin
    to the uninterrupted run's state and log."""
    over = dict(run={"configurations": ["casa-cn"]}, spinup={"method": "auto", "cycle": [1901, 1901]},
                historical={"years": [1901, 1901]})
    ref = workflow.run_config(make_config(tmp_path / "a", reference_dir, **over), quiet=True)
    real = workflow._solve_task

    def crashing(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(workflow, "_solve_task", crashing)
    with pytest.raises(KeyboardInterrupt):
        workflow.run_config(make_config(tmp_path / "b", reference_dir, **over), quiet=True)
    folder = tmp_path / "b" / "out" / "casa-cn"
    assert (folder / "restart_prespin.nc").exists() and not (folder / "restart_spinup.nc").exists()
    monkeypatch.setattr(workflow, "_solve_task", real)
    workflow.run_config(make_config(tmp_path / "b", reference_dir, **over), resume=True, quiet=True)
    for phase in ("spinup", "historical"):
        a, _ = read_restart(tmp_path / "a" / "out" / "casa-cn" / f"restart_{phase}.nc", ref.sites.cellid)
        b, _ = read_restart(folder / f"restart_{phase}.nc", ref.sites.cellid)
        states_equal(a, b)
    la, lb = ((t / "out" / "casa-cn" / "spinup_log.csv").read_text().splitlines()
              for t in (tmp_path / "a", tmp_path / "b"))
    assert [r.rsplit(",", 1)[0] for r in la] == [r.rsplit(",", 1)[0] for r in lb]


def test_rescale_passive_keeps_cn():
    import jax.numpy as jnp
    from bgctestbed.model import State

    z = jnp.zeros((2, 3))
    st = State(z, z, jnp.zeros(2), jnp.zeros(2), z, z, jnp.array([[1.0, 2.0, 3.0]] * 2),
               jnp.array([[0.1, 0.2, 0.3]] * 2), jnp.zeros(2), jnp.zeros(2), jnp.zeros(2, int), jnp.zeros(2))
    out = workflow.rescale_passive(st, 10.0, True)
    np.testing.assert_allclose(out.csoil[:, 2], 30.0)
    np.testing.assert_allclose(out.nsoil[:, 2] / out.csoil[:, 2], 0.1)
    np.testing.assert_array_equal(out.csoil[:, :2], st.csoil[:, :2])
    assert np.all(workflow.rescale_passive(st, 10.0, False).nsoil == st.nsoil)


def test_csv_restart_export_import(tmp_path, reference_dir):
    """Reference-format restarts written after a phase seed another run's historical phase;
    the state agrees within the CSVs' printed precision (6 or 10 decimals)."""
    cfg = make_config(tmp_path, reference_dir, run={"csv_restarts": True},
                      spinup={"max_cycles": 1, "accelerated": False})
    run = workflow.run_config(cfg, quiet=True)
    out = tmp_path / "out"
    cfg2 = make_config(tmp_path / "b", reference_dir, inputs={
        "casa_restart": str(out / "{configuration}" / "cnppool_spinup.csv"),
        "mimics_restart": str(out / "{configuration}" / "mimicspool_spinup.csv")})
    run2 = workflow.Run(cfg2, quiet=True)
    for m, m2 in zip(run.members, run2.members):
        run2._import(m2)
        ref, _ = read_restart(out / m.name / "restart_spinup.nc", run.sites.cellid)
        act = np.asarray(m.p["active"])
        for k in ("cplant", "nplant", "clitter", "nlitter", "csoil", "nsoil", "nsoilmin", "glai"):
            np.testing.assert_allclose(np.asarray(getattr(m2.state, k))[act], np.asarray(getattr(ref, k))[act],
                                       atol=1e-6, rtol=0, err_msg=k)
        np.testing.assert_array_equal(np.asarray(m2.state.phase), np.asarray(ref.phase))
        if ref.mim is not None:
            for k in ref.mim._fields:
                np.testing.assert_allclose(np.asarray(getattr(m2.state.mim, k))[act],
                                           np.asarray(getattr(ref.mim, k))[act], atol=1e-10, rtol=0, err_msg=k)


def test_restart_file_errors(tmp_path, reference_dir):
    from bgctestbed.errors import InputError

    run = workflow.Run(make_config(tmp_path, reference_dir, run={"configurations": ["mimics-c"]}), quiet=True)
    m = run.members[0]
    m.state = workflow.cold_state(m, run.sites)
    path = tmp_path / "r.nc"
    workflow.write_restart(path, m.state, run.sites.cellid, {"phase": "x"})
    st, meta = read_restart(path, run.sites.cellid)
    states_equal(st, m.state)
    assert meta == {"phase": "x"}
    with pytest.raises(InputError, match="restart cells do not match"):
        read_restart(path, run.sites.cellid[:-1])
    (tmp_path / "junk.nc").write_text("not netcdf")
    with pytest.raises(InputError, match="cannot read restart"):
        read_restart(tmp_path / "junk.nc")
    with pytest.raises(InputError, match="not found"):
        read_restart(tmp_path / "none.nc")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["auto", "solver", "brute"])
def test_whole_protocol_on_the_reference_grid(tmp_path, reference_dir, method):
    """Prespin, spin-up, historical and scenario phases for the four configurations."""
    import xarray as xr

    cfg = make_config(tmp_path, reference_dir, run={"configurations": ["casa-c", "casa-cn", "mimics-c", "mimics-cn"]},
                      spinup={"method": method, "prespin_years": 20, "max_cycles": 40, "checkpoint_every": 10},
                      historical={"years": [1901, 1902]}, scenario={"years": [1903, 1903], "output": "daily"})
    run = workflow.run_config(cfg, quiet=True)
    for m in run.members:
        for phase in ("prespin", "spinup", "historical", "scenario"):
            assert m.restart(phase).exists()
        with xr.open_dataset(m.dir / "historical_annual.nc") as ds:
            assert ds.sizes["time"] == 2
        with xr.open_dataset(m.dir / "scenario_daily.nc") as ds:
            assert ds.sizes["time"] == 365
        assert (m.dir / "spinup_log.csv").exists()


_KILL_CONFIG = """
[run]
output_dir = "out"
configurations = ["mimics-cn"]
report = false
[inputs]
world = "files"
gridinfo = "{inputs}/gridinfo.csv"
soil = "{inputs}/soil.csv"
phenology = "{phen}"
met = "{inputs}/met_{{year}}_{{year}}.nc"
[spinup]
prespin_years = 1
cycle = [1901, 1903]
max_cycles = {cycles}
checkpoint_every = 2
[historical]
years = {hist}
"""


@pytest.mark.parametrize("phase", ["spinup", "historical"])
def test_kill_9_then_resume_is_identical(tmp_path, reference_dir, phase):
    """A process killed with SIGKILL during the spin-up or the historical run leaves no partial
    file; --resume then gives the uninterrupted run's states and outputs exactly."""
    import random
    import signal
    import subprocess
    import sys
    import time

    def write(folder):
        folder.mkdir()
        (folder / "c.toml").write_text(_KILL_CONFIG.format(
            inputs=reference_dir / "testbed_outputs" / "inputs",
            phen=reference_dir / "testbed_inputs" / "modis_phenology_wtundra.txt",
            cycles=12 if phase == "spinup" else 1, hist="[]" if phase == "spinup" else "[1901, 1903]"))
        return folder / "c.toml"

    cmd = [sys.executable, "-m", "bgctestbed.cli", "run", "-q"]
    a = write(tmp_path / "a")
    subprocess.run(cmd + [str(a)], check=True, capture_output=True)
    b = write(tmp_path / "b")
    proc = subprocess.Popen(cmd + [str(b)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    folder = tmp_path / "b" / "out" / "mimics-cn"
    # the phase is under way once the previous phase's file exists
    mark = folder / ("checkpoint_spinup.nc" if phase == "spinup" else "restart_spinup.nc")
    deadline = time.time() + 120
    while not mark.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(random.uniform(0.1, 0.5))
    if proc.poll() is not None:
        pytest.skip("the run ended before it could be killed (machine too fast for this test)")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (folder / f"restart_{phase}.nc").exists()
    assert not (folder / "historical_annual.nc").exists()
    subprocess.run(cmd + ["--resume", str(b)], check=True, capture_output=True)
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]   # stale temporaries removed
    sa, _ = read_restart(tmp_path / "a" / "out" / "mimics-cn" / f"restart_{phase}.nc")
    sb, _ = read_restart(folder / f"restart_{phase}.nc")
    states_equal(sa, sb)
    if phase == "historical":
        with xr.open_dataset(tmp_path / "a" / "out" / "mimics-cn" / "historical_annual.nc") as x, \
                xr.open_dataset(folder / "historical_annual.nc") as y:
            assert set(x.data_vars) == set(y.data_vars)
            for v in x.data_vars:
                np.testing.assert_array_equal(x[v].values, y[v].values, err_msg=v)
