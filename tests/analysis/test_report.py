"""Report and command line: files written, tables consistent with the metrics, errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from bgctestbed.analysis import metrics as M
from bgctestbed.analysis import plots as P
from bgctestbed.analysis.report import choose_windows, make_report
from bgctestbed.cli import main

from .synthetic import four_runs, make_run


def _small_runs():
    return four_runs(lat=np.linspace(-55, 75, 14), lon=np.arange(0, 360, 20.0), years=range(1901, 2015))


def test_report_from_synthetic_four_runs(tmp_path, capsys):
    runs = _small_runs()
    rows = [M.convergence_row(1, 20, None, np.full(4, 1000.0), np.ones(4))]
    rows.append(M.convergence_row(2, 40, np.full(4, 1000.0), np.full(4, 1000.5), np.ones(4)))
    log = M.write_convergence_log(rows, tmp_path / "conv.csv")
    html = make_report(runs, tmp_path / "rep", convergence_logs=[log])
    out = capsys.readouterr().out
    assert "Table 1. Means 1901-1920" in out and "Table 2. Change" in out
    rep = tmp_path / "rep"
    md = (rep / "report.md").read_text()
    figs = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)", md)
    expected = {"global_series", "map_soil_c", "map_turnover", "map_soil_cn", "map_microbial_cn", "map_mic_soc",
                "map_response_ratio_cn_soil_c", "map_response_ratio_cn_npp", "map_n_limitation",
                "map_response_ratio_historical_cTOT", "zonal_means", "boreal_series", "spinup_drift"}
    assert expected <= {f.split("/")[1][:-4] for f in figs}
    for f in figs:
        assert (rep / f).stat().st_size > 5000
    text = html.read_text()
    assert text.count("data:image/png;base64,") == len(figs)          # self-contained
    assert "MIMICS-CN (paper)" in text
    t1 = pd.read_csv(rep / "tables" / "table1.csv", index_col="key")
    expect = M.table1(runs, mask=M.paper_mask(runs)[0])
    assert t1.loc["cTOT", "MIMICS-CN"] == pytest.approx(expect.values.loc["cTOT", "MIMICS-CN"], rel=1e-5)
    assert t1.loc["cTOT", "MIMICS-CN (paper)"] == 1713
    series = pd.read_csv(rep / "tables" / "global_series.csv")
    assert set(series.run) == {"MIMICS-CN", "MIMICS-C", "CASA-CN", "CASA-C"}
    assert len(series) == 4 * 114


def test_report_windows_fall_back_when_not_covered(tmp_path):
    runs = [make_run("CASA", True, lat=np.array([0.0, 20.0]), lon=np.array([0.0, 20.0]), years=range(1, 11),
                     land=np.ones((2, 2), bool), ice=np.zeros((2, 2), bool))]
    ini, fin, note = choose_windows(runs)
    assert (ini, fin) == ((1, 5), (6, 10)) and "not covered" in note
    make_report(runs, tmp_path / "r", quiet=True, climatology=False)
    md = (tmp_path / "r" / "report.md").read_text()
    assert "not covered" in md and "(paper)" not in md


def test_cli_report_on_reference_outputs(reference_dir, tmp_path, capsys):
    base = reference_dir / "testbed_outputs"
    rc = main(["report", str(base / "mimics_cn"), str(base / "casa_c"), "--out", str(tmp_path / "rep")])
    assert rc == 0
    assert (tmp_path / "rep" / "report.html").is_file()
    assert (tmp_path / "rep" / "figures" / "boreal_climatology.png").is_file()
    assert "Table 1" in capsys.readouterr().out


def test_cli_report_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", "--out", str(tmp_path / "o")]) == 2


def test_maps_on_various_grids(tmp_path):
    for lat, lon in ((np.linspace(-90, 90, 96), np.arange(0, 360, 2.5)),        # reference f19 grid
                     (np.linspace(-89, 89, 90), np.arange(-179, 180, 2.0)),     # 2-degree, -180..180
                     (np.array([65.25, 45.25, -10.25]), np.array([0.0, 10.0, 20.0, 30.0]))):
        run = make_run("MIMICS", True, lat=lat, lon=lon, years=[1901])
        path = P.map_figure([(run.cTOT.isel(year=0), "a"), (run.cnTOT.isel(year=0), "b")],
                            mask=M.land_mask(run), land=run.landarea, label="x (g m-2)", title="t",
                            path=tmp_path / f"m{lat.size}.png")
        assert path.stat().st_size > 3000
