"""Smoke test of `bgctestbed bench` (no timing assertions)."""

import csv

from bgctestbed.cli import main


def test_bench_tiny(tmp_path, capsys):
    out = tmp_path / "b.csv"
    assert main(["bench", "--configurations", "casa-c", "--cells", "7,20", "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [(r["configuration"], int(r["cells"]), int(r["workers"])) for r in rows] == \
        [("casa-c", 7, 0), ("casa-c", 20, 0)]
    assert float(rows[0]["ratio"]) == 1.0 and all(float(r["year_s"]) > 0 for r in rows)
    assert "us_per_cell_day" in capsys.readouterr().out


def test_bench_bad_option_is_a_clean_error(capsys):
    assert main(["bench", "--cells", "x"]) == 2
    assert "--cells" in capsys.readouterr().err
