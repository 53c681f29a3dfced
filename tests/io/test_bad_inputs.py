"""Bad inputs give one clear line naming the file (and line/variable/cell) and exit status 2,
and leave no output behind."""

import shutil

import netCDF4
import numpy as np
import pytest

from bgctestbed.cli import main

CASE = "casa_cn"


@pytest.fixture
def case(reference_dir, tmp_path):
    """A writable copy of a reference case with its inputs copied beside it."""
    root = tmp_path / "ref"
    shutil.copytree(reference_dir / "testbed_outputs" / "inputs", root / "testbed_outputs" / "inputs")
    (root / "testbed_inputs").mkdir()
    for f in ("pftlookup_igbp_updated4_exud0.csv", "modis_phenology_wtundra.txt",
              "co2delta_control.txt", "pftlookup_LIDET-MIM-REV_CN_desorb2xKO4_micCN_FI30.csv"):
        shutil.copy(reference_dir / "testbed_inputs" / f, root / "testbed_inputs" / f)
    d = root / "testbed_outputs" / CASE
    (d / "out").mkdir(parents=True)
    shutil.copy(reference_dir / "testbed_outputs" / CASE / "fcasacnp_clm_testbed.lst", d)
    return d


def _run_fails(case, capsys, *fragments):
    assert main(["run", str(case / "fcasacnp_clm_testbed.lst")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bgctestbed: error:"), err
    for frag in fragments:
        assert frag in err[0], err[0]
    assert not list((case / "out").iterdir()), "partial output left behind"
    return err[0]


def _edit_line(path, lineno, text):
    lines = path.read_text().splitlines()
    lines[lineno - 1] = text
    path.write_text("\n".join(lines) + "\n")


def test_missing_met_file(case, capsys):
    (case.parent / "inputs" / "met.nc").unlink()
    _run_fails(case, capsys, "met.nc", "not found")


def test_lst_too_short(case, capsys):
    lst = case / "fcasacnp_clm_testbed.lst"
    lst.write_text("\n".join(lst.read_text().splitlines()[:10]) + "\n")
    _run_fails(case, capsys, "fcasacnp_clm_testbed.lst")


def test_lst_bad_number(case, capsys):
    _edit_line(case / "fcasacnp_clm_testbed.lst", 1, "twelve   !! mp")
    _run_fails(case, capsys, "fcasacnp_clm_testbed.lst:1", "twelve")


def test_cell_count_mismatch(case, capsys):
    _edit_line(case / "fcasacnp_clm_testbed.lst", 1, "11   !! mp")
    _run_fails(case, capsys, "gridinfo.csv", "mp = 11")


def test_pft_out_of_range(case, capsys):
    g = case.parent / "inputs" / "gridinfo.csv"
    lines = g.read_text().splitlines()
    toks = lines[2].split(",")
    toks[3] = " 25"
    lines[2] = ",".join(toks)
    g.write_text("\n".join(lines) + "\n")
    _run_fails(case, capsys, "gridinfo.csv:3", "25", "cell 2")


def test_texture_not_summing_to_one(case, capsys):
    s = case.parent / "inputs" / "soil.csv"
    lines = s.read_text().splitlines()
    toks = lines[4].split(",")
    toks[3] = " 0.9"
    lines[4] = ",".join(toks)
    s.write_text("\n".join(lines) + "\n")
    _run_fails(case, capsys, "soil.csv:5", "sand + clay + silt")


@pytest.mark.parametrize("var,value,frag", [
    ("xtsoil", 10.0, "degC"), ("xcgpp", -1.0, "negative GPP"), ("xmoist", np.nan, "non-finite"),
])
def test_bad_met_values(case, capsys, var, value, frag):
    with netCDF4.Dataset(case.parent / "inputs" / "met.nc", "a") as ds:
        a = ds[var][:]
        a[5, ..., 0, 0] = value
        ds[var][:] = a
    _run_fails(case, capsys, "met.nc", f"variable '{var}'", frag)


def test_met_missing_variable(case, capsys, tmp_path):
    src = case.parent / "inputs" / "met.nc"
    with netCDF4.Dataset(src) as a, netCDF4.Dataset(tmp_path / "m.nc", "w") as b:
        for n, d in a.dimensions.items():
            b.createDimension(n, len(d))
        for n, v in a.variables.items():
            if n != "xtairk":
                b.createVariable(n, v.dtype, v.dimensions)[:] = v[:]
    shutil.move(tmp_path / "m.nc", src)
    _run_fails(case, capsys, "met.nc", "xtairk")


def test_truncated_netcdf(case, capsys):
    src = case.parent / "inputs" / "met.nc"
    src.write_bytes(src.read_bytes()[:1000])
    _run_fails(case, capsys, "met.nc")


def test_parameter_file_missing_rows(case, capsys):
    p = case.parent.parent / "testbed_inputs" / "pftlookup_igbp_updated4_exud0.csv"
    p.write_text("\n".join(p.read_text().splitlines()[:60]) + "\n")
    _run_fails(case, capsys, "pftlookup_igbp_updated4_exud0.csv")
