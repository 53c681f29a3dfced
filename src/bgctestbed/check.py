"""`bgctestbed check RUN_DIR`: mass-budget closure of a run's outputs.

Reads the budget variables (`budget_residual_c/n`, `budget_throughput_c/n`, written by runs with
`run.budgets = true` in their annual outputs) of every `<configuration>/{historical,scenario}_*.nc`
under RUN_DIR (a run's `output_dir`) and prints, per configuration, phase and element, the worst
cell: its id, position, year, residual (g m-2 yr-1) and residual relative to the budget's
throughput (at least 10 g m-2 yr-1: `diagnostics.relative_residual`).

Exit status: 0 when every relative residual is at most the tolerance, 1 when one is larger (or
not finite), 2 when RUN_DIR is not a run's output folder or its outputs hold no budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import CONFIGURATIONS
from .errors import BgcError, InputError
from .diagnostics import relative_residual
from .io.cfout import DAYS_PER_YEAR, EPOCH_YEAR

PHASES = ("historical", "scenario")
DEFAULT_TOLERANCE = 1e-10


def register(sub) -> None:
    p = sub.add_parser("check", help="check the C and N budget closure of a run's outputs",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run's output folder (run.output_dir)")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help=f"largest accepted |residual| / throughput (default {DEFAULT_TOLERANCE:g})")
    p.set_defaults(func=_check)


@dataclass
class Worst:
    configuration: str
    phase: str
    element: str
    cellid: int
    lat: float
    lon: float
    year: int
    residual: float      # g m-2 yr-1
    relative: float      # |residual| / throughput

    def line(self, tolerance: float) -> str:
        verdict = "ok" if self.relative <= tolerance else "FAILED"
        return (f"{self.configuration} {self.phase} {self.element}: worst cell id {self.cellid} "
                f"(lat {self.lat:.2f}, lon {self.lon:.2f}) year {self.year}: residual "
                f"{self.residual:.3g} g m-2 yr-1, {self.relative:.3g} of throughput  {verdict}")


def output_files(run_dir) -> list[tuple[str, str, Path]]:
    """(configuration, phase, file) of the run's transient outputs, in configuration order."""
    d = Path(run_dir)
    if not d.is_dir():
        raise InputError(d, "not a folder")
    found = [(c, ph, f) for c in CONFIGURATIONS for ph in PHASES
             for f in sorted((d / c).glob(f"{ph}_*.nc"))]
    if not found:
        raise InputError(d, "not a run's output folder: no <configuration>/{historical,scenario}_*.nc "
                            "(run a configuration with historical years first)")
    return found


def worst_cells(path, configuration: str, phase: str) -> list[Worst]:
    """The worst cell of each budget (C, and N in C+N runs) in one output file."""
    import netCDF4

    try:
        nc = netCDF4.Dataset(path)
    except OSError as exc:
        raise InputError(path, f"cannot read NetCDF file: {exc}") from None
    out = []
    with nc:
        if "budget_residual_c" not in nc.variables:
            raise InputError(path, "holds no budget variables (run with run.budgets = true and annual output)")
        lat, lon = nc["lat"][:].data, nc["lon"][:].data
        cellid = np.ma.filled(nc["cellid"][:], -1)
        year = EPOCH_YEAR + np.floor(nc["time"][:].data / DAYS_PER_YEAR).astype(int)
        for el in ("c", "n"):
            if f"budget_residual_{el}" not in nc.variables:
                continue
            r = np.ma.filled(nc[f"budget_residual_{el}"][:].astype(np.float64), 0.0)
            t = np.ma.filled(nc[f"budget_throughput_{el}"][:].astype(np.float64), 0.0)
            rel = relative_residual(r, t)
            k, i, j = np.unravel_index(int(np.argmax(rel)), rel.shape)
            out.append(Worst(configuration, phase, el.upper(), int(cellid[i, j]), float(lat[i]),
                             float(lon[j]), int(year[k]), float(r[k, i, j]), float(rel[k, i, j])))
    return out


def check_run(run_dir) -> list[Worst]:
    return [w for c, ph, f in output_files(run_dir) for w in worst_cells(f, c, ph)]


def _check(args) -> int:
    if not args.tolerance >= 0:
        raise BgcError("--tolerance must be a non-negative number")
    worst = check_run(args.run_dir)
    for w in worst:
        print(w.line(args.tolerance))
    failed = [w for w in worst if not w.relative <= args.tolerance]
    print(f"{len(worst) - len(failed)} of {len(worst)} budgets close to {args.tolerance:g} of throughput")
    return 1 if failed else 0
