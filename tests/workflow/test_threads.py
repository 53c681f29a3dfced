"""In-process runs whose chunks of cells run side by side in threads (`compute.threads`) equal
the same chunks run one after the other, bit for bit."""

import threading

import numpy as np
import pytest

from bgctestbed import workflow
from bgctestbed.config import parse_config
from bgctestbed.errors import ConfigError
from bgctestbed.executor import LocalExecutor
from bgctestbed.io.checkpoint import read_restart

from .test_workflow import states_equal


def test_chunks_run_side_by_side_in_threads():
    ex = LocalExecutor(10, threads=2)
    met = threading.Barrier(2, timeout=30)     # broken unless both chunks run at once

    def fn(x, k):
        met.wait()
        return x.sum() + k, threading.current_thread().name

    out = ex.map(fn, ex.split(np.arange(10.0)), 1.0)
    ex.close()
    assert ex.bounds == [(0, 5), (5, 10)]
    assert [o[0] for o in out] == [11.0, 36.0]          # in the chunks' order
    assert len({o[1] for o in out}) == 2


def _config(folder, compute):
    return parse_config({"run": {"output_dir": str(folder), "configurations": ["casa-c", "mimics-c"],
                                 "report": False, "budgets": False},
                         "inputs": {"cell_stride": 97},
                         "spinup": {"method": "brute", "prespin_years": 1, "cycle": [1901, 1902],
                                    "max_cycles": 2, "checkpoint_every": 1},
                         "historical": {"years": [1901, 1901]}, "compute": compute}, folder / "c.toml")


def test_threads_equal_the_same_chunks_one_after_the_other(tmp_path):
    # 46 cells: 2 threads and chunks of 25 cells give the same 2 chunks of 23
    one = workflow.run_config(_config(tmp_path / "a", {"chunk_cells": 25}), quiet=True)
    two = workflow.run_config(_config(tmp_path / "b", {"threads": 2}), quiet=True)
    assert one.ex.bounds == two.ex.bounds and two.ex.nchunks == 2 and two.ex._pool is not None
    for m in one.members:
        for phase in ("prespin", "spinup", "historical"):
            a = read_restart(tmp_path / "a" / m.name / f"restart_{phase}.nc")[0]
            b = read_restart(tmp_path / "b" / m.name / f"restart_{phase}.nc")[0]
            states_equal(a, b)


@pytest.mark.parametrize("compute, match", [({"threads": 0}, "at least 1"),
                                            ({"threads": 2, "workers": 2}, "not with dask"),
                                            ({"threads": 2, "scheduler": "tcp://h:1"}, "not with dask")])
def test_threads_are_checked(tmp_path, compute, match):
    with pytest.raises(ConfigError, match=match):
        _config(tmp_path, compute)


@pytest.mark.parametrize("argv, match", [(["--preset", "quick", "--threads", "0"], "at least 1"),
                                         (["--preset", "quick", "--threads", "2", "--workers", "2"], "not with dask"),
                                         (["run.lst", "--threads", "2"], "TOML")])
def test_threads_on_the_command_line_are_checked(argv, match, capsys):
    from bgctestbed.cli import main

    assert main(["run", *argv]) != 0
    assert match in capsys.readouterr().err
