"""Smoke test of `bgctestbed bench` (no timing assertions)."""

import csv

import pytest

from bgctestbed.cli import main


def test_bench_tiny(tmp_path, capsys):
    out = tmp_path / "b.csv"
    assert main(["bench", "--configurations", "casa-c", "--cells", "7,20", "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [(r["configuration"], int(r["cells"]), int(r["workers"]), int(r["threads"])) for r in rows] == \
        [("casa-c", 7, 0, 1), ("casa-c", 20, 0, 1)]
    assert float(rows[0]["ratio"]) == 1.0 and all(float(r["year_s"]) > 0 for r in rows)
    assert "us_per_cell_day" in capsys.readouterr().out


def test_bench_threads_rows(tmp_path):
    out = tmp_path / "b.csv"
    assert main(["bench", "--configurations", "casa-c", "--cells", "9", "--threads", "1,2", "--spinup",
                 "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [(int(r["workers"]), int(r["threads"])) for r in rows] == [(0, 1), (0, 2)]
    assert all(float(r["year_s"]) > 0 for r in rows)
    # the solver runs once per number of cells, in the first row
    assert float(rows[0]["spinup_s"]) > 0 and rows[1]["spinup_s"] == ""


def test_bench_spinup_columns(tmp_path):
    out = tmp_path / "b.csv"
    assert main(["bench", "--configurations", "casa-c", "--cells", "12", "--spinup", "--csv", str(out)]) == 0
    (row,) = list(csv.DictReader(out.open()))
    assert float(row["spinup_s"]) > 0 and float(row["spinup_fwd_eq_years"]) > 0
    assert row["spinup_converged"] in ("True", "False")
    assert float(row["kb_per_cell"]) * 12 == pytest.approx(float(row["peak_rss_mb"]) * 1024, rel=0.01)


def test_bench_bad_option_is_a_clean_error(capsys):
    assert main(["bench", "--cells", "x"]) == 2
    assert "--cells" in capsys.readouterr().err
    assert main(["bench", "--threads", "0"]) == 2
    assert "--threads" in capsys.readouterr().err
