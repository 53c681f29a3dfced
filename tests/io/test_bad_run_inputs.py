"""Bad inputs of a TOML run (`bgctestbed run CONFIG`): one line naming the file, variable or
cell, exit status 2, no traceback (unless --debug) and no partial output. Faults while writing
(a folder that cannot be created, a full disk) likewise."""

import errno
import os
import shutil
import subprocess
import sys

import netCDF4
import pytest

from bgctestbed.cli import main
from bgctestbed.errors import BgcError


@pytest.fixture
def inputs(reference_dir, tmp_path):
    """Writable copies of the reference grid's inputs."""
    d = tmp_path / "in"
    shutil.copytree(reference_dir / "testbed_outputs" / "inputs", d)
    shutil.copy(reference_dir / "testbed_inputs" / "modis_phenology_wtundra.txt", d)
    return d


def _toml(inputs, tmp_path, *, extra="", historical="[]", world="files", output="out"):
    cfg = tmp_path / "run.toml"
    files = (f'gridinfo = "{inputs / "gridinfo.csv"}"\nsoil = "{inputs / "soil.csv"}"\n'
             f'phenology = "{inputs / "modis_phenology_wtundra.txt"}"\n'
             f'met = "{inputs / "met_{year}_{year}.nc"}"\n') if world == "files" else ""
    cfg.write_text(f'[run]\noutput_dir = "{output}"\nconfigurations = ["casa-c"]\nreport = false\n'
                   f'[inputs]\nworld = "{world}"\n{files}'
                   f'[spinup]\nmethod = "brute"\nprespin_years = 1\ncycle = [1901, 1903]\nmax_cycles = 1\naccelerated = false\n'
                   f'[historical]\nyears = {historical}\n{extra}')
    return cfg


def _fails(capsys, cfg, *fragments, output=True):
    assert main(["run", "-q", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bgctestbed: error:"), err
    for frag in fragments:
        assert frag in err[0], err[0]
    out = cfg.parent / "out"
    if output:      # found before the run starts: nothing written
        assert not out.exists(), "output left behind"
    elif out.exists():      # found during the run: earlier phases' files only, none partial
        assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    return err[0]


def _edit_csv(path, keep=None):
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:keep]) + "\n")


def test_soil_and_gridinfo_cell_counts_differ(inputs, tmp_path, capsys):
    _edit_csv(inputs / "soil.csv", keep=12)
    _fails(capsys, _toml(inputs, tmp_path), "soil.csv", "11 cells", "gridinfo.csv has 12")


def test_met_and_gridinfo_cell_counts_differ(inputs, tmp_path, capsys):
    _edit_csv(inputs / "gridinfo.csv", keep=12)
    _edit_csv(inputs / "soil.csv", keep=12)
    _fails(capsys, _toml(inputs, tmp_path), "met_1901_1901.nc", "12 met cells", "11 gridinfo rows")


def test_moisture_above_saturation(inputs, tmp_path, capsys):
    with netCDF4.Dataset(inputs / "met_1901_1901.nc", "a") as ds:
        a = ds["xmoist"][:]
        a[9, 0, ...] = 0.95            # fractions, but above every cell's saturation
        ds["xmoist"][:] = a
    # met values are checked when a year is read (here the prespin's, before any result)
    _fails(capsys, _toml(inputs, tmp_path), "met_1901_1901.nc", "variable 'xmoist'", "above saturation",
           "day 10", "cell 1", output=False)
    assert not list((tmp_path / "out").rglob("*.nc"))


def test_nan_in_met(inputs, tmp_path, capsys):
    with netCDF4.Dataset(inputs / "met_1902_1902.nc", "a") as ds:
        a = ds["xtairk"][:]
        a[100, ...] = float("inf")
        ds["xtairk"][:] = a
    # the prespin (1901) has run: its restart may stay, but no spin-up output
    _fails(capsys, _toml(inputs, tmp_path), "met_1902_1902.nc", "variable 'xtairk'", "non-finite", "day 101",
           output=False)
    assert not list((tmp_path / "out" / "casa-c").glob("restart_spinup*"))


@pytest.mark.parametrize("world,years,frags", [
    ("files", "[1901, 1905]", ["met_1904_1904.nc", "met file for year 1904 not found"]),
    ("embedded", "[1801, 1802]", ["year 1801 outside the world's range"]),
])
def test_years_outside_the_forcing(inputs, tmp_path, capsys, world, years, frags):
    _fails(capsys, _toml(inputs, tmp_path, historical=years, world=world), *frags)


def test_toml_unknown_key_and_wrong_type(inputs, tmp_path, capsys):
    _fails(capsys, _toml(inputs, tmp_path, extra="[options]\nfix_everything = true\n"),
           "unknown key options.fix_everything")
    _fails(capsys, _toml(inputs, tmp_path, extra="[scenario]\nyears = 2020\n"), "scenario.years must be list")


def test_restart_with_wrong_cell_count(inputs, reference_dir, tmp_path, capsys):
    restart = tmp_path / "cnppool.csv"
    shutil.copy(reference_dir / "testbed_outputs" / "casa_c" / "cnppool_out.csv", restart)
    _edit_csv(restart, keep=10)
    cfg = _toml(inputs, tmp_path, historical="[1901, 1901]")
    cfg.write_text(cfg.read_text().replace('[spinup]', f'casa_restart = "{restart}"\n[spinup]'))
    _fails(capsys, cfg, "cnppool.csv", "9 data rows", output=False)
    assert not list((tmp_path / "out").rglob("*.nc"))


def test_output_folder_cannot_be_created(inputs, tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    _fails(capsys, _toml(inputs, tmp_path, output=str(tmp_path / "afile" / "out")), "afile/out",
           "cannot create output folder")


def test_disk_full_while_writing_outputs(inputs, tmp_path, capsys, monkeypatch):
    """The first historical record fails with ENOSPC: one line naming the file, and neither
    the file nor its temporary stays."""
    from bgctestbed.io import cfout

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cfout, "compute", full)
    _fails(capsys, _toml(inputs, tmp_path, historical="[1901, 1901]"), "historical_annual.nc",
           "cannot write output", "No space left on device", output=False)
    folder = tmp_path / "out" / "casa-c"
    assert not [p.name for p in folder.iterdir() if p.name.startswith(("historical", ".historical"))]
    assert (folder / "restart_spinup.nc").exists()      # the completed phases stay


def test_disk_full_in_an_atomic_write(tmp_path, monkeypatch):
    from bgctestbed.io import atomic

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "replace", full)
    with pytest.raises(BgcError, match="x.txt: cannot write output: No space left on device"):
        atomic.write_text(tmp_path / "x.txt", "data")
    assert not list(tmp_path.iterdir())


def test_cli_traceback_only_with_debug(inputs, tmp_path):
    cfg = _toml(inputs, tmp_path, extra="[options]\nfix_everything = true\n")
    cmd = [sys.executable, "-m", "bgctestbed.cli"]
    plain = subprocess.run(cmd + ["run", str(cfg)], capture_output=True, text=True)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().startswith("bgctestbed: error:") and len(plain.stderr.strip().splitlines()) == 1
    debug = subprocess.run(cmd + ["--debug", "run", str(cfg)], capture_output=True, text=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "ConfigError" in debug.stderr
