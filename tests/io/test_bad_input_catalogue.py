"""Catalogue of bad inputs: each is a small broken copy of a reference file; the reader raises
one InputError whose message names the file and the line, variable or cell."""

import shutil

import netCDF4
import numpy as np
import pytest

from bgctestbed.errors import InputError
from bgctestbed.io import testbed as tb
from bgctestbed.io.lst import read_lst


def _raises(fn, path, *fragments, line=None, variable=None, cell=None):
    with pytest.raises(InputError) as ei:
        fn()
    e = ei.value
    msg = str(e)
    assert str(path) in msg, msg
    for frag in fragments:
        assert frag in msg, msg
    if line is not None:
        assert e.line == line and f"{path}:{line}" in msg, msg
    if variable is not None:
        assert e.variable == variable and f"variable '{variable}'" in msg, msg
    if cell is not None:
        assert e.cell == cell and f"cell {cell}" in msg, msg
    assert "\n" not in msg
    return e


def _edit(src, dst, lineno=None, text=None, keep=None, mutate=None):
    lines = src.read_text().splitlines()
    if lineno is not None:
        lines[lineno - 1] = text
    if mutate is not None:
        lines = mutate(lines)
    if keep is not None:
        lines = lines[:keep]
    dst.write_text("\n".join(lines) + "\n")
    return dst


def _set_field(line, k, value):
    f = line.split(",")
    f[k] = value
    return ",".join(f)


# ---------------------------------------------------------------- .lst
@pytest.fixture
def lst(reference_dir, tmp_path):
    src = reference_dir / "testbed_outputs" / "casa_cn" / "fcasacnp_clm_testbed.lst"
    return src, tmp_path / "fcasacnp_clm_testbed.lst"


LST_CASES = [
    (1, "twelve    !! mp", ["mp", "'twelve'"]),
    (1, "12.5      !! mp", ["mp", "'12.5'"]),
    (1, "", ["mp", "empty"]),
    (1, "0", ["mp", "positive"]),
    (2, "13", ["mvt must be 18"]),
    (3, "0", ["mloop"]),
    (4, "2", ["mdaily"]),
    (5, "4", ["initcasa"]),
    (7, "4", ["isomModel"]),
    (8, "3", ["icycle 3", "not supported"]),
    (8, "0", ["icycle must be"]),
    (12, "   ", ["soil", "must name a file"]),
    (17, "./out/casaclm_pool_flux.txt", ["NetCDF output name"]),
    (21, "nc", ["NetCDF output name"]),
    (27, "13", ["point to save 13"]),
    (27, "none", ["point to save", "'none'"]),
    (13, "./" + "a" * 120 + ".nc", ["longer than 100"]),
]


@pytest.mark.parametrize("lineno,text,frags", LST_CASES)
def test_lst_bad_line(lst, lineno, text, frags):
    src, dst = lst
    _edit(src, dst, lineno, text)
    _raises(lambda: read_lst(dst), dst, *frags, line=lineno)


@pytest.mark.parametrize("edits,lineno,frags", [
    ({5: "2", 6: "1901"}, 6, ["transient years", "2 integers"]),
    ({5: "2", 6: "0 1901"}, 6, ["outside 1..9999"]),
    ({5: "3", 6: "1903 1901"}, 6, ["after the last"]),
    ({5: "2", 6: "1901 1901", 13: "m.nc"}, 13, ["_YYYY_YYYY.nc"]),
    ({7: "2", 8: "3"}, 8, ["MIMICS", "icycle 1 or 2"]),
    ({7: "3", 8: "2"}, 8, ["CORPSE", "icycle 1"]),
])
def test_lst_bad_combinations(lst, edits, lineno, frags):
    src, dst = lst
    lines = src.read_text().splitlines()
    for ln, t in edits.items():
        lines[ln - 1] = t
    dst.write_text("\n".join(lines) + "\n")
    _raises(lambda: read_lst(dst), dst, *frags, line=lineno)


def test_lst_too_short_and_missing(lst, tmp_path):
    src, dst = lst
    _edit(src, dst, keep=20)
    _raises(lambda: read_lst(dst), dst, "20 lines", "at least 28", line=20)
    missing = tmp_path / "nothere.lst"
    _raises(lambda: read_lst(missing), missing, "cannot read")


# ---------------------------------------------------------------- gridinfo / soil
@pytest.fixture
def inputs(reference_dir):
    return reference_dir / "testbed_outputs" / "inputs"


@pytest.mark.parametrize("row,col,value,frags", [
    (3, 3, " 25", ["PFT (ivt_igbp) outside 1..18", "(25)", "cell id 2"]),
    (3, 3, " -1", ["PFT"]),
    (4, 3, " 4.5", ["ivt_igbp", "integer"]),
    (5, 5, " -99", ["soil order"]),
    (6, 6, " -1.0e10", ["negative land area"]),
    (7, 1, " 95.0", ["latitude"]),
    (8, 2, " 400.0", ["longitude"]),
    (9, 6, " abc", ["landarea", "'abc'"]),
    (9, 7, " nan", ["Ndep", "not finite"]),
    (10, 17, " 0", ["ilat/ilon"]),
    (11, 4, "", ["empty field in column 5", "ist"]),
])
def test_gridinfo_bad_value(inputs, tmp_path, row, col, value, frags):
    dst = tmp_path / "gridinfo.csv"
    _edit(inputs / "gridinfo.csv", dst, mutate=lambda ls: ls[:row - 1] + [_set_field(ls[row - 1], col, value)] + ls[row:])
    e = _raises(lambda: tb.read_gridinfo(dst, 12), dst, *frags, line=row)
    assert e.cell in (None, row - 1)


def test_gridinfo_counts_and_shape(inputs, tmp_path):
    src = inputs / "gridinfo.csv"
    dst = tmp_path / "gridinfo.csv"
    _edit(src, dst, keep=10)                                   # 9 of 12 rows
    _raises(lambda: tb.read_gridinfo(dst, 12), dst, "truncated", "9 data rows", "mp = 12")
    _edit(src, dst)
    _raises(lambda: tb.read_gridinfo(dst, 11), dst, "12 data rows", "mp = 11")
    _edit(src, dst, 4, "     3, -10.25,    0.00,  2, 1, 1, 1.0e10, 0.5")
    _raises(lambda: tb.read_gridinfo(dst, 12), dst, "expected 19 values, found 8", line=4)
    _edit(src, dst, 4, src.read_text().splitlines()[1])          # cell 1 twice
    _raises(lambda: tb.read_gridinfo(dst, 12), dst, "appears twice", line=4, cell=3)
    dst.write_text("ijcam,lat\n")
    _raises(lambda: tb.read_gridinfo(dst, 12), dst, "0 data rows")


def test_gridinfo_pft0_is_snow_ice(inputs, tmp_path):
    dst = tmp_path / "gridinfo.csv"
    _edit(inputs / "gridinfo.csv", dst, mutate=lambda ls: ls[:2] + [_set_field(ls[2], 3, " 0")] + ls[3:])
    assert tb.read_gridinfo(dst, 12)["pft"][1] == 15


@pytest.mark.parametrize("row,col,value,frags", [
    (2, 3, " 36.418", ["texture fractions must lie in 0..1", "percent"]),
    (3, 4, " 0.6", ["sand + clay + silt must be 1"]),
    (4, 5, " -0.1", ["negative texture"]),
    (5, 6, " 0.35", ["wilting point < field capacity"]),
    (6, 8, " 1.2", ["saturation"]),
])
def test_soil_bad_value(inputs, tmp_path, row, col, value, frags):
    dst = tmp_path / "soil.csv"
    _edit(inputs / "soil.csv", dst, mutate=lambda ls: ls[:row - 1] + [_set_field(ls[row - 1], col, value)] + ls[row:])
    _raises(lambda: tb.read_soil(dst, 12), dst, *frags, line=row, cell=row - 1)


def test_soil_order_differs_from_gridinfo(inputs, reference_dir, tmp_path):
    dst = tmp_path / "soil.csv"
    _edit(inputs / "soil.csv", dst, mutate=lambda ls: ls[:3] + [ls[4], ls[3]] + ls[5:])
    phen = reference_dir / "testbed_inputs" / "modis_phenology_wtundra.txt"
    _raises(lambda: tb.read_sites(inputs / "gridinfo.csv", dst, phen, 12), dst,
            "cell id 4", "same order", line=4, cell=3)


# ---------------------------------------------------------------- phenology, perturbations
def test_phenology_bad(reference_dir, tmp_path):
    src = reference_dir / "testbed_inputs" / "modis_phenology_wtundra.txt"
    dst = tmp_path / "phen.txt"
    _edit(src, dst, keep=200)
    _raises(lambda: tb.read_phenology(dst), dst, "198 latitude rows", "271", line=200)
    _edit(src, dst, 10, src.read_text().splitlines()[10])      # a latitude repeated
    _raises(lambda: tb.read_phenology(dst), dst, "0.5 degree steps", line=10)
    _edit(src, dst, 12, "79.75\tx")
    _raises(lambda: tb.read_phenology(dst), dst, "not numeric", line=12)
    _edit(src, dst, 2, "three four")
    _raises(lambda: tb.read_phenology(dst), dst, "seasonal phenology", line=2)
    _edit(src, dst, 7, "\t".join(src.read_text().splitlines()[6].split("\t")[:-1]))
    _raises(lambda: tb.read_phenology(dst), dst, "expected 34 values", line=7)


@pytest.mark.parametrize("text,frags", [
    ("360.0 0.0 0.0", ["expected 5 values"]),
    ("360.0 x 0.0 10000 1.0", ["deltsoil", "'x'"]),
    ("360.0 0.0 0.0 100.5 1.0", ["deltYr must be an integer"]),
    ("360.0 0.0 273.15 10 1.0", ["implausible"]),
])
def test_co2delta_bad(reference_dir, tmp_path, text, frags):
    dst = tmp_path / "co2delta.txt"
    _edit(reference_dir / "testbed_inputs" / "co2delta_control.txt", dst, 2, text)
    _raises(lambda: tb.read_co2delta(dst), dst, *frags, line=2)


# ---------------------------------------------------------------- met NetCDF
def _met_copy(src, dst, edit=None, drop=(), sizes=None):
    """Copy a met file, applying edit(name, array) -> array and dimension size overrides."""
    with netCDF4.Dataset(src) as a:
        a.set_auto_mask(False)
        dims = {d.name: len(d) for d in a.dimensions.values()}
        dims.update(sizes or {})
        with netCDF4.Dataset(dst, "w") as b:
            for d, n in dims.items():
                b.createDimension(d, n)
            for v in a.variables.values():
                if v.name in drop:
                    continue
                arr = np.asarray(v[:])
                if edit is not None:
                    arr = edit(v.name, arr.copy())
                dn = v.dimensions
                if isinstance(arr, tuple):
                    dn, arr = arr
                b.createVariable(v.name, arr.dtype, dn)[:] = arr[tuple(slice(0, dims[d]) for d in dn)]
    return dst


def _set(name, where, value):
    def edit(n, arr):
        if n == name:
            arr[where] = value
        return arr
    return edit


@pytest.mark.parametrize("edit,drop,sizes,variable,frags", [
    (None, ("xtsoil",), None, "xtsoil", ["required variable missing"]),
    (None, ("cellid",), None, "cellid", ["required variable missing"]),
    (None, (), {"time": 364}, "time", ["364 days", "365 x myear = 365"]),
    (None, (), {"nsoilyrs": 5}, "nsoilyrs", ["nsoilyrs is 5"]),
    (_set("cellMissing", (0, 0), 1), (), None, "cellMissing", ["11 cells", "mp = 12"]),
    (_set("xtairk", (40, 1, 2), np.nan), (), None, "xtairk", ["non-finite", "day 41", "cell id 8"]),
    (_set("xcgpp", (3, 0, 0), 1e36), (), None, "xcgpp", ["missing (fill)", "day 4"]),
    (_set("xtsoil", (100, 2, 1, 1), 12.5), (), None, "xtsoil", ["degC", "soil layer 3", "day 101"]),
    (_set("xtairk", (0, 0, 0), -5.0), (), None, "xtairk", ["degC"]),
    (_set("xmoist", (7, 0, 2, 3), 35.0), (), None, "xmoist", ["0-1 m3 m-3"]),
    (_set("xfrznmoist", (7, 0, 2, 3), -0.5), (), None, "xfrznmoist", ["0-1 m3 m-3"]),
    (_set("ndep", (0, 0, 0), -1.0), (), None, "ndep", ["negative N deposition"]),
    (_set("xcgpp", (0, 0, 0), -1.0), (), None, "xcgpp", ["negative GPP"]),
    (_set("xcgpp", (0, 0, 0), 500.0), (), None, "xcgpp", ["wrong units"]),
    (lambda n, a: (("time", "lon", "lat"), a.swapaxes(1, 2)) if n == "xtairk" else a, (), None, "xtairk",
     ["expected ('time', 'lat', 'lon')"]),
])
def test_met_bad(inputs, tmp_path, edit, drop, sizes, variable, frags):
    dst = _met_copy(inputs / "met_1901_1901.nc", tmp_path / "met_1901_1901.nc", edit, drop, sizes)
    _raises(lambda: tb.read_met(dst, 12), dst, *frags, variable=variable)


def test_met_cells_named(inputs, tmp_path):
    dst = _met_copy(inputs / "met_1901_1901.nc", tmp_path / "m.nc", _set("xtairk", (40, 1, 2), np.nan))
    _raises(lambda: tb.read_met(dst, 12), dst, variable="xtairk", cell=8)   # lon 3, lat 2 -> 8th cell


def test_met_missing_dimension_and_not_netcdf(inputs, tmp_path):
    dst = tmp_path / "m.nc"
    with netCDF4.Dataset(dst, "w") as b:
        b.createDimension("lon", 4)
    _raises(lambda: tb.read_met(dst, 12), dst, "dimension 'lat' missing", variable="lat")
    junk = tmp_path / "junk.nc"
    junk.write_text("not a netcdf file\n")
    _raises(lambda: tb.read_met(junk, 12), junk, "cannot open")
    _raises(lambda: tb.read_met(tmp_path / "absent.nc", 12), tmp_path / "absent.nc", "not found")


def test_met_order_differs_from_gridinfo(inputs, reference_dir, tmp_path):
    g = tmp_path / "gridinfo.csv"
    s = tmp_path / "soil.csv"
    _edit(inputs / "gridinfo.csv", g, mutate=lambda ls: ls[:1] + [ls[2], ls[1]] + ls[3:])
    _edit(inputs / "soil.csv", s, mutate=lambda ls: ls[:1] + [ls[2], ls[1]] + ls[3:])
    sites = tb.read_sites(g, s, reference_dir / "testbed_inputs" / "modis_phenology_wtundra.txt", 12)
    grid = tb.read_met_grid(inputs / "met.nc", 12)
    _raises(lambda: tb.check_sites_match_met(sites, grid), inputs / "met.nc",
            "met cell id 1", "gridinfo cell id 2", variable="cellid", cell=1)


# ---------------------------------------------------------------- restarts
def test_casa_restart_bad(reference_dir, inputs, tmp_path):
    src = reference_dir / "testbed_outputs" / "casa_cn" / "cnppool_out.csv"
    dst = tmp_path / "cnppool_in.csv"
    _edit(src, dst, keep=12)                                    # 11 rows
    _raises(lambda: tb.read_casa_restart(dst, 12, 2), dst, "truncated", "11 data rows", "mp = 12")
    _edit(src, dst, 5, ",".join(src.read_text().splitlines()[4].split(",")[:25]))
    _raises(lambda: tb.read_casa_restart(dst, 12, 2), dst, "expected 31 values, found 25", line=5)
    assert tb.read_casa_restart(dst, 12, 1)["csoil"].shape == (12, 3)   # enough for C only
    _edit(src, dst, mutate=lambda ls: ls[:6] + [_set_field(ls[6], 10, "       7")] + ls[7:])
    _raises(lambda: tb.read_casa_restart(dst, 12, 2), dst, "phase outside 0..3", line=7, cell=6)
    _edit(src, dst, mutate=lambda ls: ls[:6] + [_set_field(ls[6], 14, "  x")] + ls[7:])
    _raises(lambda: tb.read_casa_restart(dst, 12, 2), dst, "casapool%cplant(FROOT)", "'x'", line=7)
    sites = tb.read_sites(inputs / "gridinfo.csv", inputs / "soil.csv",
                          reference_dir / "testbed_inputs" / "modis_phenology_wtundra.txt", 12)
    _edit(src, dst, mutate=lambda ls: ls[:1] + [ls[2], ls[1]] + ls[3:])      # rows swapped
    _raises(lambda: tb.read_casa_restart(dst, 12, 2, sites=sites), dst, "another grid or cell order",
            line=2, cell=1)


def test_mimics_restart_bad(reference_dir, tmp_path):
    c_only = reference_dir / "testbed_outputs" / "mimics_c" / "mimicspool_out.csv"
    _raises(lambda: tb.read_mimics_restart(c_only, 12, 2), c_only, "expected 20 values, found 13", line=2)
    dst = tmp_path / "mimicspool_in.csv"
    _edit(reference_dir / "testbed_outputs" / "mimics_cn" / "mimicspool_out.csv", dst, keep=5)
    _raises(lambda: tb.read_mimics_restart(dst, 12, 2), dst, "4 data rows", "mp = 12")
    shutil.copy(c_only, dst)
    _edit(c_only, dst, mutate=lambda ls: ls[:3] + [_set_field(ls[3], 8, " inf")] + ls[4:])
    _raises(lambda: tb.read_mimics_restart(dst, 12, 1), dst, "mimicspool%MICr", "not finite", line=4)
