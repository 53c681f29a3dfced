"""Restart, flux and diagnostic CSVs: values parsed from every reference file and written again
give the reference text exactly."""

import numpy as np
import pytest

from bgctestbed.io import testbed as tb

CASES = ["casa_c", "casa_cn", "casa_cn_AD", "casa_cn_lowN", "casa_cn_long", "mimics_c", "mimics_cn",
         "mimics_cn_lowN", "mimics_cn_long", "mimics_cn_transient"]


@pytest.fixture(scope="module")
def sites(reference_dir):
    inp = reference_dir / "testbed_outputs" / "inputs"
    return tb.read_sites(inp / "gridinfo.csv", inp / "soil.csv",
                         reference_dir / "testbed_inputs" / "modis_phenology_wtundra.txt", 12)


def _icycle(case):
    return 1 if case.endswith("_c") else 2


@pytest.mark.parametrize("case", CASES)
def test_casa_restart_roundtrip(reference_dir, sites, tmp_path, case):
    folder = reference_dir / "testbed_outputs" / case
    for name in ("cnppool_out.csv", "cnppool_in.csv"):
        ref = folder / name
        if not ref.exists():
            continue
        st = tb.read_casa_restart(ref, 12, 2, full=True, sites=sites)
        assert np.all(st["pft"] == sites.pft)
        out = tmp_path / name
        tb.write_casa_restart(out, int(st["iyrcnt"][0]), sites, st, _icycle(case))
        assert out.read_text() == ref.read_text()
        # the reader by icycle
        r1 = tb.read_casa_restart(ref, 12, 1)
        assert set(r1) == {"glai", "phase", "clabile", "cplant", "clitter", "csoil"}
        r2 = tb.read_casa_restart(ref, 12, 2)
        assert set(r2) == set(r1) | {"nplant", "nlitter", "nsoil", "nsoilmin"}
        assert r2["cplant"].shape == (12, 3) and r2["phase"].dtype.kind == "i"
        np.testing.assert_array_equal(r2["csoil"], st["csoil"])


def test_casa_restart_values(reference_dir):
    r = tb.read_casa_restart(reference_dir / "testbed_outputs/casa_cn/cnppool_out.csv", 12, 2)
    assert r["glai"][0] == 0.2 and r["clabile"][0] == 251.997224
    assert r["cplant"][0].tolist() == [7.680027, 0.0, 354.110658]
    assert r["csoil"][0, 2] == 4179.861922 and r["nsoilmin"][0] == 0.383354
    # ice cell (PFT 15) all zero
    assert np.all(r["cplant"][9] == 0) and r["nsoilmin"][9] == 0


def test_casa_restart_sla_argument_and_headerless(reference_dir, sites, tmp_path):
    ref = reference_dir / "testbed_outputs/casa_cn/cnppool_out.csv"
    st = tb.read_casa_restart(ref, 12, 2, full=True)
    out = tmp_path / "a.csv"
    tb.write_casa_restart(out, 3, sites, {k: v for k, v in st.items() if k != "sla"}, 2, sla=st["sla"])
    # sla given apart from the state: same layout
    lines = out.read_text().splitlines()
    assert lines[0] == ref.read_text().splitlines()[0] and len(lines) == 13
    # a header-less (legacy) file is accepted
    nohead = tmp_path / "nohead.csv"
    nohead.write_text("\n".join(ref.read_text().splitlines()[1:]) + "\n")
    r = tb.read_casa_restart(nohead, 12, 2)
    np.testing.assert_array_equal(r["cplant"], st["cplant"])


@pytest.mark.parametrize("case", CASES)
def test_casa_flux_roundtrip(reference_dir, sites, tmp_path, case):
    ref = reference_dir / "testbed_outputs" / case / "cnpflux_out.csv"
    f = tb.read_casa_flux(ref, 12)
    assert ("ndep" in f) == (_icycle(case) == 2)
    out = tmp_path / "flux.csv"
    tb.write_casa_flux(out, int(f["myear"][0]), sites, f, _icycle(case))
    assert out.read_text() == ref.read_text()
    # nep defaults to npp - rh
    g = {k: v for k, v in f.items() if k != "nep"}
    tb.write_casa_flux(out, int(f["myear"][0]), sites, g, _icycle(case))
    assert tb.read_casa_flux(out)["nep"] == pytest.approx(f["nep"], abs=2e-6)


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith("mimics")])
def test_mimics_csv_roundtrip(reference_dir, sites, tmp_path, case):
    folder = reference_dir / "testbed_outputs" / case
    for name in ("mimicspool_out.csv", "mimicspool_in.csv"):
        ref = folder / name
        if not ref.exists():
            continue
        icycle = 2 if "SOMpN" in ref.read_text().splitlines()[0] else 1
        p = tb.read_mimics_restart(ref, 12, icycle, floor=False, full=True, sites=sites)
        out = tmp_path / name
        tb.write_mimics_restart(out, int(p["iyrcnt"][0]), sites, p, icycle)
        assert out.read_text() == ref.read_text()
        # bool form of icycle, as used by the driver
        q = tb.read_mimics_restart(ref, 12, icycle == 2)
        assert set(q) == set(tb.MIMICS_C + (tb.MIMICS_N if icycle == 2 else ()))
        assert all(np.all(v >= 0) for v in q.values())
    if case == "mimics_cn":   # a C+N restart can seed a C-only run
        q = tb.read_mimics_restart(folder / "mimicspool_out.csv", 12, 1)
        assert set(q) == set(tb.MIMICS_C)
    ref = folder / "mimics_diagnostic.csv"
    d = tb.read_mimics_diagnostic(ref, 12)
    out = tmp_path / "mimics_diagnostic.csv"
    tb.write_mimics_diagnostic(out, int(d["iyrcnt"][0]), sites, d["lignin_n"], d["fmet"])
    assert out.read_text() == ref.read_text()
