"""CASA cases of the reference, run through `bgctestbed run`, compared variable by variable."""

import pytest

from .casecompare import compare_csv, compare_nc, run_case

DAILY_RTOL = 1e-6
LONG_RTOL = 1e-5
# nLitInptStruc: the reference adds an uninitialised local accumulator (nwd2str) in the CASA
# soil routine, so its value is undefined there; ours is the defined CWD N flux.
UNDEFINED_IN_REFERENCE = ("nLitInptStruc",)
# restart columns 1-31 carry the C and N state; the P columns that follow are derived stubs
STATE_COLUMNS = slice(0, 31)


@pytest.mark.parametrize("case", ["casa_c", "casa_cn", "casa_cn_AD", "casa_cn_lowN"])
def test_daily_case(reference_dir, tmp_path, case):
    ours = run_case(reference_dir, case, tmp_path)
    ref = reference_dir / "testbed_outputs" / case
    for f in sorted((ref / "out").glob("*.nc")):
        compare_nc(ours / "out" / f.name, f, DAILY_RTOL, skip=UNDEFINED_IN_REFERENCE)
    compare_csv(ours / "cnppool_out.csv", ref / "cnppool_out.csv", atol=2e-6, columns=STATE_COLUMNS)
    compare_csv(ours / "cnpflux_out.csv", ref / "cnpflux_out.csv", atol=2e-6)


def test_long_case(reference_dir, tmp_path):
    case = "casa_cn_long"
    ours = run_case(reference_dir, case, tmp_path)
    ref = reference_dir / "testbed_outputs" / case
    files = sorted((ref / "out").glob("*.nc"))
    assert len(files) == len(list((ours / "out").glob("*.nc")))
    for f in files:
        compare_nc(ours / "out" / f.name, f, LONG_RTOL, skip=UNDEFINED_IN_REFERENCE)
    compare_csv(ours / "cnppool_out.csv", ref / "cnppool_out.csv", atol=2e-6, columns=STATE_COLUMNS)
