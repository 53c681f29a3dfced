"""Run configuration: validation errors name the key; the example file is the defaults."""

import tomllib

import pytest

from bgctestbed.cli import main
from bgctestbed.config import SCHEMA, example_config, load_config, parse_config
from bgctestbed.errors import ConfigError


@pytest.mark.parametrize("data, words", [
    ({"run": {"nmae": "x"}}, "unknown key run.nmae"),
    ({"spin": {}}, "unknown section [spin]"),
    ({"spinup": {"max_cycles": "10"}}, "spinup.max_cycles must be int"),
    ({"spinup": {"max_cycles": True}}, "spinup.max_cycles must be int"),
    ({"spinup": {"method": "newton"}}, "spinup.method must be one of auto, brute, solver"),
    ({"run": {"configurations": ["casa-c", "mimics-x"]}}, "unknown: mimics-x"),
    ({"run": {"configurations": []}}, "run.configurations must list"),
    ({"historical": {"years": [2014, 1901]}}, "historical.years must be [first, last]"),
    ({"scenario": {"years": [2020, 2100]}}, "must start the year after historical.years ends (2015)"),
    ({"inputs": {"world": "files", "met": "m.nc"}}, "needs inputs.gridinfo, inputs.soil, inputs.phenology"),
    ({"spinup": {"passive_factor": 0}}, "spinup.passive_factor must be positive"),
    ({"inputs": {"cell_stride": 0}}, "inputs.cell_stride must be at least 1"),
])
def test_bad_values_name_the_key(data, words):
    with pytest.raises(ConfigError) as e:
        parse_config(data)
    assert words in str(e.value)


def test_example_is_the_defaults():
    cfg = parse_config(tomllib.loads(example_config("paper")))
    for sec, keys in SCHEMA.items():
        for k, spec in keys.items():
            if (sec, k) not in {("run", "name"), ("run", "output_dir")}:
                assert cfg[sec][k] == spec.default, (sec, k)
    quick = parse_config(tomllib.loads(example_config("quick")))
    assert quick["inputs"]["cell_stride"] == 10


def test_files_and_cli_errors(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\nname = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.toml")
    assert main(["run", str(bad)]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    out = tmp_path / "x.toml"
    assert main(["init", str(out)]) == 0
    assert load_config(out)["spinup"]["cycle"] == [1901, 1920]
    assert main(["init", str(out)]) == 2                  # no silent overwrite
