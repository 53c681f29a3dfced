"""MIMICS parameter reading (mimics.md §3.1-3.2), project defaults and per-cell derived
quantities (§3.3)."""

from __future__ import annotations

import numpy as np
import pytest

from bgctestbed.errors import InputError
from bgctestbed.params.mimics import (
    default_mimics_params,
    mimics_cell_params,
    params_equal,
    read_mimics_params,
    read_mimics_toml,
    write_mimics_params,
)

CSV = "pftlookup_LIDET-MIM-REV_CN_desorb2xKO4_micCN_FI30.csv"


@pytest.fixture(scope="module")
def csv_path(reference_dir):
    return reference_dir / "testbed_inputs" / CSV


@pytest.fixture(scope="module")
def ref(csv_path):
    return read_mimics_params(csv_path)


@pytest.fixture
def lines(csv_path):
    return csv_path.read_bytes().decode("latin-1").split("\n")


def _write(tmp_path, lines, name="p.csv"):
    p = tmp_path / name
    p.write_bytes("\n".join(lines).encode("latin-1"))
    return p


def _line_of(lines, prefix):
    return next(i for i, s in enumerate(lines) if s.startswith(prefix))


def test_reference_file_values(ref):
    """First-column values as the reference reader takes them (§3.2; stale comments and the
    stray column-14 numbers ignored)."""
    np.testing.assert_array_equal(ref.Vmod, [10, 2, 10, 3, 3, 2])
    np.testing.assert_array_equal(ref.Kmod, [8, 2, 4, 2, 4, 6])
    np.testing.assert_array_equal(ref.KO, [4, 4])
    np.testing.assert_array_equal(ref.MGE, [0.5, 0.25, 0.7, 0.35])
    np.testing.assert_array_equal(ref.tau_r, [0.00052, 0.3])
    np.testing.assert_array_equal(ref.tau_k, [0.00024, 0.1])
    assert (ref.tauModDenom, ref.tauMod_MIN, ref.tauMod_MAX) == (100.0, 0.6, 1.3)
    np.testing.assert_array_equal(ref.fCHEM_r, [0.1, -3, 3])
    np.testing.assert_array_equal(ref.fSOM_p, [1.05e-6, -2])
    np.testing.assert_array_equal(ref.Fi, [0.005, 0.3])
    np.testing.assert_array_equal(ref.av, [1.25e-8] * 6)
    np.testing.assert_array_equal(ref.NUE, [0.85] * 4)
    assert (ref.densDep, ref.CNr, ref.CNk, ref.fracDINavailMIC, ref.cnModNum) == (1, 6, 10, 0.5, 0.4)
    assert (ref.desorpQ10, ref.desorpTref) == (-1.0, 25.0)
    np.testing.assert_array_equal(ref.depth, [100.0] * 18)
    assert ref.fw_function == 3


def test_default_parameters_equal_the_reference_file(ref):
    d = default_mimics_params()
    assert params_equal(d, ref)
    assert d.source.endswith("mimics_params_jams.toml")


def test_written_file_reads_back(ref, tmp_path):
    p = tmp_path / "out.csv"
    write_mimics_params(ref, p)
    assert params_equal(read_mimics_params(p), ref)


def test_list_directed_forms(lines, tmp_path, ref):
    """Blank-separated values, Fortran D exponents, a repeated value line's first value
    only, and blank lines (skipped by list-directed reads) give the same parameters."""
    i = _line_of(lines, "0.063,Vslope(r1)")
    lines[i] = "0.063 Vslope(r1) with blanks"
    j = _line_of(lines, "1.25E-08,av(r1)")
    lines[j] = "1.25D-08,av(r1)"
    k = _line_of(lines, "0.02,Kslope(r1)")
    lines.insert(k, "   ")
    assert params_equal(read_mimics_params(_write(tmp_path, lines)), ref)


@pytest.mark.parametrize("prefix,replacement,what", [
    ("3.19,Kint(r3)", "abc,Kint(r3)", "Kint(r3)"),
    ("0.85,NUE(2)", ",NUE(2)", "NUE(2)"),
    ("0.40,cnModNum", "0.4.0,cnModNum", "cnModNum"),
])
def test_garbled_value_names_file_and_line(lines, tmp_path, prefix, replacement, what):
    i = _line_of(lines, prefix)
    lines[i] = replacement
    p = _write(tmp_path, lines)
    with pytest.raises(InputError) as e:
        read_mimics_params(p)
    assert e.value.line == i + 1 and e.value.variable == what
    assert f"{p}:{i + 1}" in str(e.value)


def test_missing_lines_name_file_and_line(lines, tmp_path):
    i = _line_of(lines, "0.5,fracDINavailMIC")
    p = _write(tmp_path, lines[:i])
    with pytest.raises(InputError) as e:
        read_mimics_params(p)
    assert e.value.line == i + 1 and "ends before" in str(e.value)
    with pytest.raises(InputError) as e:
        read_mimics_params(tmp_path / "absent.csv")
    assert "absent.csv" in str(e.value)


def test_nonpositive_depth_is_an_error(lines, tmp_path):
    i = _line_of(lines, "vegtype,SOM depth") + 7
    lines[i] = "7,0,,,"
    with pytest.raises(InputError) as e:
        read_mimics_params(_write(tmp_path, lines))
    assert e.value.line == i + 1 and "positive" in str(e.value)
    lines[i] = "7,-5"
    with pytest.raises(InputError):
        read_mimics_params(_write(tmp_path, lines))


def test_depth_per_pft_in_line_order(lines, tmp_path):
    i = _line_of(lines, "vegtype,SOM depth") + 1
    lines[i + 3] = "4,30,,"
    p = read_mimics_params(_write(tmp_path, lines))
    assert p.depth[3] == 30.0 and p.depth[2] == 100.0


@pytest.mark.parametrize("last,want", [(None, 2), ("1,CASA", 1), ("3,CORPSE", 3), ("2,MIMICS", 2),
                                       ("7,other", 2), ("3.0,not an integer", 2), ("", 2)])
def test_fw_function(lines, tmp_path, last, want):
    i = _line_of(lines, "3,mimicsbiome%fWFunction")
    body = lines[:i] if last is None else lines[:i] + [last]
    assert read_mimics_params(_write(tmp_path, body)).fw_function == want


def test_toml_errors_name_the_entry(tmp_path):
    src = default_mimics_params().source
    text = open(src).read()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("CNr = 6.0", "# CNr removed"))
    with pytest.raises(InputError) as e:
        read_mimics_toml(bad)
    assert e.value.variable == "CNr"
    bad.write_text(text.replace("KO = [4.0, 4.0]", "KO = [4.0]"))
    with pytest.raises(InputError) as e:
        read_mimics_toml(bad)
    assert e.value.variable == "KO"
    bad.write_text(text + "\nfoo = 1\n")
    with pytest.raises(InputError) as e:
        read_mimics_toml(bad)
    assert e.value.variable == "foo"


def test_cell_params(ref, reference_dir):
    """§3.3 against the reference's values for clay 0.25 (mimics_vectors) and the formulas."""
    clay = np.array([0.25, 0.0, 0.6])
    c = mimics_cell_params(ref, np.array([1, 7, 18]), clay, active=np.array([True, True, False]))
    lines = (reference_dir / "mimics_vectors" / "fortran_out_cn_365d.txt").read_text().splitlines()
    kmod = np.array([float(v) for v in next(s for s in lines if s.startswith("Kmod =")).split("=")[1].split()])
    desorp = float(next(s for s in lines if s.startswith("desorp =")).split("=")[1])
    np.testing.assert_allclose(c["Kmod"][0], kmod, rtol=1e-15)
    np.testing.assert_allclose(c["desorp"][0], desorp, rtol=1e-15)
    pscalar = 3.0 * np.exp(-2.0 * np.sqrt(clay))
    np.testing.assert_allclose(c["Pscalar"], pscalar, rtol=1e-15)
    np.testing.assert_allclose(c["Kmod"][:, 2], 4.0 * pscalar, rtol=1e-15)
    np.testing.assert_allclose(c["Kmod"][:, 5], 6.0 * pscalar, rtol=1e-15)
    np.testing.assert_allclose(c["fPHYS_r"], 0.03 * np.exp(1.3 * clay), rtol=1e-15)
    np.testing.assert_allclose(c["fPHYS_k"], 0.02 * np.exp(0.8 * clay), rtol=1e-15)
    np.testing.assert_array_equal(c["fPHYS"], np.stack([c["fPHYS_r"], c["fPHYS_k"]], -1))
    np.testing.assert_array_equal(c["uc"], [1000.0] * 3)
    np.testing.assert_array_equal(c["active"], [True, True, False])
    assert mimics_cell_params(ref, [3], 0.2)["active"].tolist() == [True]
    with pytest.raises(ValueError):
        mimics_cell_params(ref, np.array([0]), np.array([0.2]))
    with pytest.raises(ValueError):
        mimics_cell_params(ref, np.array([19]), np.array([0.2]))
