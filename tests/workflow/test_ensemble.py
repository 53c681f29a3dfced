"""Parameter ensembles equal separate single runs; parameter gradients equal finite differences."""

import dataclasses

import jax
import numpy as np
import pytest
import xarray as xr

from bgctestbed import ensemble as E
from bgctestbed.cli import main
from bgctestbed.config import parse_config
from bgctestbed.errors import ConfigError, InputError
from bgctestbed.io.cfout import VARIABLES, compute
from bgctestbed.model import run_year
from bgctestbed.workflow import to_device

YEARS = (1901, 1901)


def small_config(folder, configuration):
    return parse_config({"run": {"output_dir": str(folder), "configurations": [configuration], "report": False},
                         "inputs": {"cell_stride": 397}, "spinup": {"prespin_years": 0},
                         "historical": {"years": list(YEARS)}}, folder / "c.toml")


@pytest.fixture(scope="module")
def mimics(tmp_path_factory):
    return E.Ensemble(small_config(tmp_path_factory.mktemp("ens"), "mimics-c"))


def single_run(ens, model, p):
    """One member the ordinary way: its own MIMICS parameters and cell parameters."""
    _, acc, _ = run_year(ens.state0, to_device(ens.source.year(YEARS[0])), p, model)
    return jax.tree.map(np.asarray, acc)


def test_ensemble_equals_single_runs(mimics, tmp_path):
    names = ("Vint", "Kslope", "q10soil")
    x = np.array([[1.0, 1.0, 1.0], [1.01, 0.9, 1.2]])
    res = mimics.run(names, x, YEARS)
    mp0 = mimics.model.mimics
    for i in range(len(x)):
        mp = dataclasses.replace(mp0, Vint=mp0.Vint * x[i, 0], Kslope=mp0.Kslope * x[i, 1])
        p = dict(mimics.p, q10soil=mimics.p["q10soil"] * x[i, 2])
        acc = single_run(mimics, dataclasses.replace(mimics.model, mimics=mp), p)
        for k in ("gpp", "rh", "cSoil", "cLitter", "cMIC"):
            # vmap and the constants-vs-arrays path may round differently in the last bit
            np.testing.assert_allclose(res[k][i, 0], compute(VARIABLES[k], "mimics", acc), rtol=1e-12, atol=0,
                                       err_msg=f"member {i} {k}")
    assert not np.allclose(res["cSoil"][0], res["cSoil"][1])     # the parameters do act
    area = np.where(np.asarray(mimics.simulated), mimics.sites.landarea, 0.0)
    np.testing.assert_allclose(res["global_cSoil"][:, 0], res["cSoil"][:, 0] @ area / 1e15, rtol=1e-12)
    with xr.open_dataset(E.write_ensemble(tmp_path / "e.nc", mimics, names, x, res)) as ds:
        assert ds["cSoil"].dims == ("ensemble", "time", "cell")
        np.testing.assert_array_equal(ds["cSoil"].values, res["cSoil"])
        np.testing.assert_array_equal(ds["Kslope"].values, x[:, 1])
        assert ds.attrs["initial_state"].startswith("cold start")


def test_gradient_matches_finite_difference(mimics):
    names = ("Kint", "litterrate")      # a MIMICS Km and a CASA parameter
    x0 = np.array([1.05, 1.0])
    c, g = mimics.sensitivity(names, x0, YEARS)
    assert c == pytest.approx(float(mimics.global_soil_carbon(names, x0, YEARS)), rel=1e-12)
    h = 1e-5
    for j in range(len(names)):
        e = np.eye(len(names))[j] * h
        fd = (float(mimics.global_soil_carbon(names, x0 + e, YEARS)) -
              float(mimics.global_soil_carbon(names, x0 - e, YEARS))) / (2 * h)
        assert g[j] != 0.0
        assert abs(g[j] - fd) <= 1e-4 * abs(fd), (names[j], g[j], fd)


def test_casa_soil_rate_ensemble_and_gradient(tmp_path):
    ens = E.Ensemble(small_config(tmp_path, "casa-c"))
    x = np.array([[1.0], [1.3]])
    res = ens.run(("soilrate",), x, YEARS)
    for i in range(len(x)):
        acc = single_run(ens, ens.model, dict(ens.p, soilrate_3=ens.p["soilrate_3"] * x[i, 0]))
        np.testing.assert_allclose(res["cSoil"][i, 0], compute(VARIABLES["cSoil"], "casa", acc), rtol=1e-12, atol=0)
    c, g = ens.sensitivity(("soilrate",), [1.0], YEARS)
    h = 1e-5
    fd = (float(ens.global_soil_carbon(("soilrate",), [1 + h], YEARS)) -
          float(ens.global_soil_carbon(("soilrate",), [1 - h], YEARS))) / (2 * h)
    assert g[0] < 0 and abs(g[0] - fd) <= 1e-4 * abs(fd)


def test_parse_params_gives_every_combination():
    names, x = E.parse_params(["Vint=1,1.1", "Kint=0.9,1,1.1"])
    assert names == ("Vint", "Kint") and x.shape == (6, 2)
    assert {tuple(r) for r in x} == {(a, b) for a in (1, 1.1) for b in (0.9, 1, 1.1)}


@pytest.mark.parametrize("spec, msg", [("Vint", "expected NAME=v1"), ("Vint=1,x", "'Vint': not a number"),
                                       ("Kint=1,-2", "'Kint': multiplier must be a positive"),
                                       ("Kint=nan", "'Kint': multiplier must be a positive")])
def test_bad_param_values(spec, msg):
    with pytest.raises(ConfigError, match=msg):
        E.parse_params([spec])


def test_bad_param_names(mimics):
    with pytest.raises(ConfigError, match="unknown ensemble parameter 'Vmaxx'"):
        E.check_names(("Vmaxx",), mimics.model)
    with pytest.raises(ConfigError, match="'soilrate' applies to CASA soil only"):
        E.check_names(("soilrate",), mimics.model)


def test_samples_csv(tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("Vint, Kint\n1.0,0.9\n\n1.1, 1.2\n")
    names, x = E.read_samples(f)
    assert names == ("Vint", "Kint") and x.tolist() == [[1.0, 0.9], [1.1, 1.2]]
    f.write_text("Vint,Kint\n1.0\n")
    with pytest.raises(InputError, match=r"s.csv:2: 1 values for 2 parameters"):
        E.read_samples(f)
    f.write_text("Vint,Kint\n1.0,abc\n")
    with pytest.raises(InputError, match="'Kint': not a number"):
        E.read_samples(f)


def test_cli_errors(tmp_path, capsys):
    (tmp_path / "c.toml").write_text('[run]\nconfigurations = ["casa-c"]\n[inputs]\ncell_stride = 397\n')
    assert main(["ensemble", str(tmp_path / "c.toml"), "--param", "Vslope=1,1.1"]) == 2
    assert "'Vslope' applies to MIMICS soil only" in capsys.readouterr().err
    assert main(["ensemble", str(tmp_path / "c.toml"), "--param", "foo=1"]) == 2
    assert "unknown ensemble parameter 'foo'" in capsys.readouterr().err
