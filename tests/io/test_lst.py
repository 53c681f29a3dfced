"""Run-control (.lst) parsing against every reference run-control file."""

import logging
from pathlib import Path

import pytest

from bgctestbed.errors import InputError
from bgctestbed.io.lst import met_path_for_year, nc_output_name, read_lst

CASES = ["casa_c", "casa_cn", "casa_cn_AD", "casa_cn_lowN", "casa_cn_long", "mimics_c", "mimics_cn",
         "mimics_cn_lowN", "mimics_cn_long", "mimics_cn_transient"]


@pytest.mark.parametrize("case", CASES)
def test_reference_case_lst(reference_dir, case):
    path = reference_dir / "testbed_outputs" / case / "fcasacnp_clm_testbed.lst"
    rc = read_lst(path)
    folder = path.parent
    assert rc.path == path and rc.folder == folder
    assert rc.mp == 12 and rc.mvt == 18
    assert rc.isom == (2 if case.startswith("mimics") else 1)
    assert rc.icycle == (1 if case.endswith("_c") else 2)
    assert rc.gridinfo == folder / "../inputs/gridinfo.csv"
    assert rc.gridinfo.resolve() == (reference_dir / "testbed_outputs/inputs/gridinfo.csv").resolve()
    assert rc.casa_params.name.startswith("pftlookup_igbp_updated4_exud0")
    assert rc.raw["casa_params"].startswith("../../testbed_inputs/pftlookup_igbp_updated4_exud0")
    assert rc.casa_nc == folder / "out/casaclm_pool_flux_yyyy.nc"
    assert rc.mimics_nc == folder / "out/mimics_pool_flux_yyyy.nc"
    assert rc.casa_restart_out == folder / "cnppool_out.csv"
    assert rc.co2delta.resolve().exists() and rc.phenology.resolve().exists()
    assert rc.corpse_nc.name == "corpse_pool_flux_yyyy.nc"
    assert rc.point_index == -1
    if case.endswith("_long"):
        assert (rc.mloop, rc.mdaily, rc.nc_interval) == (50, 0, 10)
    else:
        assert (rc.mloop, rc.mdaily, rc.nc_interval) == (1, 1, 1)
    if case == "mimics_cn_transient":
        assert (rc.initcasa, rc.tyear1, rc.tyear2) == (2, 1901, 1903)
        assert met_path_for_year(rc, 1902) == folder / "../inputs/met_1902_1902.nc"
        assert met_path_for_year(rc, 1902).exists()
    if rc.initcasa == 0:
        assert rc.tyear1 is None


def test_james_lst_files(reference_dir, caplog):
    files = sorted((reference_dir / "testbed_inputs" / "JAMES_lst").glob("*/*.lst"))
    assert len(files) == 12
    for f in files:
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            rc = read_lst(f)
        assert rc.mp == 4263 and rc.icycle == 2
        # the prespin of both protocols runs MIMICS soil (casa.md §1.1)
        assert rc.isom == (2 if "MIMICS" in str(f) or "prespin" in f.name else 1)
        if "prespin" in f.name:           # no line 29 in the shipped prespin files
            assert rc.nc_interval == 1
            assert any("29" in r.getMessage() for r in caplog.records)
            assert rc.initcasa == 0 and rc.mloop == 100
        if "spin_1901-1920" in f.name:
            assert rc.initcasa == 3 and (rc.tyear1, rc.tyear2) == (1901, 1920) and rc.mreps == rc.mloop
            assert rc.nc_interval == 10
        if "HIST" in f.name:
            assert rc.initcasa == 2 and rc.mdaily == 1 and rc.mloop == 1
            assert met_path_for_year(rc, 1957).name == "met_1957_1957.nc"
        raw = rc.raw["point_dir"]
        if raw.startswith("/"):                                  # absolute paths kept
            assert rc.point_dir == Path(raw)
        else:
            assert rc.point_dir == f.parent / raw


def test_nc_output_names():
    t = Path("./out/casaclm_pool_flux_yyyy.nc")
    assert nc_output_name(t, 1, daily=False) == Path("out/casaclm_pool_flux_0001.nc")
    assert nc_output_name(t, 1, daily=True) == Path("out/casaclm_pool_flux_0001_daily.nc")
    assert nc_output_name(t, 150, daily=False).name == "casaclm_pool_flux_0150.nc"
    assert nc_output_name(t, 1901, daily=True).name == "casaclm_pool_flux_1901_daily.nc"
    assert nc_output_name(t, 9980, daily=False).name == "casaclm_pool_flux_9980.nc"
    assert nc_output_name(t, 0, daily=False).name == "casaclm_pool_flux_0000.nc"
    assert nc_output_name("a.nc/x_yyyy.nc", 7, daily=False) == Path("a.nc/x_0007.nc")  # last .nc
    with pytest.raises(InputError):
        nc_output_name("out/abc.txt", 1, daily=False)


def _lst(tmp_path, reference_dir, edit=None, drop_from=None):
    src = (reference_dir / "testbed_outputs" / "casa_cn" / "fcasacnp_clm_testbed.lst").read_text().splitlines()
    if edit:
        for ln, text in edit.items():
            src[ln - 1] = text
    if drop_from:
        src = src[:drop_from - 1]
    p = tmp_path / "fcasacnp_clm_testbed.lst"
    p.write_text("\n".join(src) + "\n")
    return p


def test_parsing_rules(tmp_path, reference_dir, caplog):
    # comments after the value, commas, tabs; line 6 ignored for initcasa 0
    p = _lst(tmp_path, reference_dir, {1: "12,  ! mp", 2: "\t18\t!! mvt", 6: "garbage",
                                       9: "   /abs/gridinfo.csv!comment", 29: "0  !! interval"})
    rc = read_lst(p)
    assert rc.mp == 12 and rc.mvt == 18 and rc.tyear1 is None
    assert rc.gridinfo == Path("/abs/gridinfo.csv")
    assert rc.nc_interval == 1
    # missing line 29 -> 1 with a warning
    p = _lst(tmp_path, reference_dir, drop_from=29)
    with caplog.at_level(logging.WARNING):
        assert read_lst(p).nc_interval == 1
    assert any(":29" in r.getMessage() for r in caplog.records)
    # a transient run resets mloop to 1
    p = _lst(tmp_path, reference_dir, {3: "5", 5: "2", 6: "1901 1903", 13: "../inputs/met_1901_1901.nc"})
    rc = read_lst(p)
    assert rc.mloop == 1 and rc.mreps == 1 and (rc.tyear1, rc.tyear2) == (1901, 1903)
    # name of exactly 100 characters is fine, longer is refused
    name = "d/" + "x" * 95 + ".nc"
    assert len(name) == 100
    p = _lst(tmp_path, reference_dir, {13: name + "  !! met"})
    assert read_lst(p).met.name == "x" * 95 + ".nc"
