"""Run failures through the real command line: one line on stderr, exit status 2, no traceback
(`--debug` shows it), and no partial output file."""

import errno
import os

import pytest

from bgctestbed import cli
from bgctestbed.io import atomic, cfout


@pytest.fixture
def toml(tmp_path, reference_dir):
    inputs = reference_dir / "testbed_outputs" / "inputs"

    def make(historical="[1901, 1901]"):
        path = tmp_path / "run.toml"
        path.write_text(f"""
[run]
output_dir = "out"
configurations = ["casa-c"]
report = false
[inputs]
world = "files"
gridinfo = "{inputs / 'gridinfo.csv'}"
soil = "{inputs / 'soil.csv'}"
phenology = "{reference_dir / 'testbed_inputs' / 'modis_phenology_wtundra.txt'}"
met = "{inputs / 'met_{year}_{year}.nc'}"
[spinup]
method = "brute"
prespin_years = 0
cycle = [1901, 1901]
max_cycles = 1
min_cycles = 1
accelerated = false
[historical]
years = {historical}
""")
        return path
    return make


def _fails(argv, capsys, *fragments):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bgctestbed: error:"), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def test_year_range_outside_the_forcing(toml, capsys):
    path = toml("[1901, 1905]")
    _fails(["run", "-q", str(path)], capsys, "met_1904_1904.nc", "met file for year 1904 not found")
    assert not (path.parent / "out" / "casa-c" / "historical_annual.nc").exists()
    from bgctestbed.errors import InputError
    with pytest.raises(InputError):       # --debug: the exception (and its traceback) comes through
        cli.main(["--debug", "run", "-q", str(path)])


def test_disk_full_while_writing(toml, capsys, monkeypatch):
    path = toml()

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(cfout, "compute", full)
    _fails(["run", "-q", str(path)], capsys, "historical_annual.nc", "cannot write output",
           os.strerror(errno.ENOSPC))
    d = path.parent / "out" / "casa-c"
    assert not [f.name for f in d.iterdir() if "historical_annual" in f.name], "partial output left"


def test_output_dir_not_writable(toml, capsys, monkeypatch):
    path = toml()
    out = path.parent / "out"
    out.mkdir()
    out.chmod(0o555)
    if os.access(out, os.W_OK):       # root writes anyway: refuse file creation as the OS would
        def denied(*a, **k):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        monkeypatch.setattr(atomic.tempfile, "mkstemp", denied)
    try:
        _fails(["run", "-q", str(path)], capsys, "cannot write output", os.strerror(errno.EACCES))
    finally:
        out.chmod(0o755)
