"""`bgctestbed bench`: forward-year timing per configuration on the embedded world.

The world's 4390 cells are tiled to the requested sizes (fewer: its first cells, e.g. 4263 as
the reference global grid; more: its cells repeated), so the cost per cell and its scaling with
the number of cells can be read from one table. Each run compiles and runs a first year
(reported as `compile_s`, the first year's time less a timed year's), then times `years`
years. With `--workers` the same runs go through dask workers (chunks of cells, as `run
--workers`); with `--threads` the in-process runs split the cells into chunks run side by side
in threads (as `run --threads`). Peak memory is the process's maximum resident size so far
(the driver's; dask workers are separate processes), also per cell. `--spinup` adds, to the
first in-process row of each size, the steady-state solver on the one-year cycle 1901 after a
20-year prespin (`spinup.method = "solver"`): its wall time, cost in forward-equivalent years
and whether the equilibrium criteria hold (`benchmarks/spinup_solver.py` compares it with
brute force).
"""

from __future__ import annotations

import csv
import io
import resource
import time
from pathlib import Path

import numpy as np

from .errors import ConfigError

COLUMNS = ["configuration", "cells", "workers", "threads", "compile_s", "year_s", "us_per_cell_day", "ratio",
           "peak_rss_mb", "kb_per_cell"]
SPINUP_COLUMNS = ["spinup_s", "spinup_fwd_eq_years", "spinup_converged"]
PRESPIN_YEARS = 20


def register(sub) -> None:
    p = sub.add_parser("bench", help="time forward model years per configuration and number of cells",
                       description=__doc__.splitlines()[0])
    p.add_argument("--configurations", default="casa-c,casa-cn,mimics-c,mimics-cn",
                   help="comma-separated configurations (default: all four)")
    p.add_argument("--cells", default="1000,4263",
                   help="comma-separated numbers of cells, the world tiled as needed (default: 1000,4263; "
                        "e.g. 1000,4000,16000,64000 for scaling)")
    p.add_argument("--workers", default="0",
                   help="comma-separated dask worker counts, 0 = in process (default: 0)")
    p.add_argument("--threads", default="1",
                   help="comma-separated thread counts for the in-process runs (default: 1)")
    p.add_argument("--years", type=int, default=1, help="timed years per run after the first (default: 1)")
    p.add_argument("--spinup", action="store_true",
                   help="also time the steady-state solver (first in-process row per size; 10 s to minutes per "
                        "configuration on the world, MIMICS-CN over 15 min)")
    p.add_argument("--device", choices=("cpu", "gpu"), help="JAX platform")
    p.add_argument("--csv", default="bench.csv", help="table as CSV (default: bench.csv)")
    p.set_defaults(func=_bench)


def _ints(text: str, name: str, least: int) -> list[int]:
    try:
        vals = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--{name} must be comma-separated integers, not {text!r}") from None
    if not vals or min(vals) < least:
        raise ConfigError(f"--{name}: give integers of at least {least}")
    return vals


def _bench(args) -> int:
    from .config import CONFIGURATIONS
    from .executor import select_device

    confs = [c.strip() for c in args.configurations.split(",") if c.strip()]
    bad = [c for c in confs if c not in CONFIGURATIONS]
    if not confs or bad:
        raise ConfigError(f"--configurations: choose from {', '.join(CONFIGURATIONS)}")
    if args.years < 1:
        raise ConfigError("--years must be at least 1")
    select_device(args.device or "")
    rows = bench(confs, _ints(args.cells, "cells", 1), _ints(args.workers, "workers", 0), args.years,
                 spinup=args.spinup, progress=print, threads=_ints(args.threads, "threads", 1))
    columns = COLUMNS + (SPINUP_COLUMNS if args.spinup else [])
    print(format_table(rows, columns))
    from .io.atomic import write_text

    buf = io.StringIO()
    w = csv.DictWriter(buf, columns, lineterminator="\n", restval="")
    w.writeheader()
    w.writerows(rows)
    write_text(Path(args.csv), buf.getvalue())
    print(f"wrote {args.csv}")
    return 0


def bench(configurations, cells, workers, years: int = 1, spinup: bool = False,
          progress=None, threads=(1,)) -> list[dict]:
    """One row per (configuration, cells, workers), in process (0 workers) once per number of
    `threads`; `ratio`: time per cell-day relative to the configuration's first row (the same
    process, the same machine). `spinup`: the first in-process row of each number of cells
    also carries the solver's cost (`SPINUP_COLUMNS`; the solver runs in one thread)."""
    import jax

    from .config import parse_config
    from .executor import DaskExecutor, LocalExecutor
    from .workflow import _year_task, build_members, cold_state, subset_sites, to_device
    from .world import load_world

    world = load_world()
    f_world = world.forcing(1901)
    rows = []
    for name in configurations:
        base = None
        for n in cells:
            idx = np.arange(n) % world.n
            sites = subset_sites(world.sites, idx)
            m = build_members(parse_config({"run": {"configurations": [name]}}), sites)[0]
            forcing = f_world.model_inputs(idx, np.float32)
            solver_due = spinup          # once per size: the solver runs in one thread
            for nw, nt in [(nw, t) for nw in workers for t in (threads if nw == 0 else (1,))]:
                ex = DaskExecutor(n, workers=nw) if nw else LocalExecutor(n, threads=nt)
                try:
                    pc, mc = ex.split(m.pj), ex.share(m.model)
                    f = ex.map(to_device, ex.split(forcing, axis=-1))

                    def run(k, st):
                        for _ in range(k):
                            st = ex.map(_year_task, st, f, pc, mc)
                        jax.block_until_ready(ex.gather(st))
                        return st
                    st = ex.split(cold_state(m, sites))
                    t0 = time.perf_counter()
                    st = run(1, st)
                    first = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    run(years, st)
                    year_s = (time.perf_counter() - t0) / years
                finally:
                    ex.close()
                per = year_s / (n * 365) * 1e6
                base = base or per
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss       # kB
                row = dict(configuration=name, cells=n, workers=nw, threads=nt, compile_s=round(max(first - year_s, 0.0), 2),
                           year_s=round(year_s, 3), us_per_cell_day=round(per, 3), ratio=round(per / base, 3),
                           peak_rss_mb=round(rss / 1024, 1), kb_per_cell=round(rss / n, 1))
                if solver_due and not nw:
                    row.update(_spinup_cost(m, sites, forcing))
                    solver_due = False
                rows.append(row)
                if progress:
                    progress(" ".join(f"{k}={v}" for k, v in row.items()))
    return rows


def _spinup_cost(m, sites, forcing) -> dict:
    """The solver on the one-year cycle of `forcing` after PRESPIN_YEARS years of it."""
    from .model import run_year
    from .spinup.solver import solve_periodic
    from .workflow import cold_state, to_device

    f = to_device(forcing)
    st = cold_state(m, sites)
    for _ in range(PRESPIN_YEARS):
        st, _, _ = run_year(st, f, m.pj, m.model)
    _, rep = solve_periodic(st, [f], m.pj, m.model, area_m2=sites.landarea,
                            simulated=np.asarray(m.p["active"], bool))
    return dict(spinup_s=round(rep.wall_s, 3), spinup_fwd_eq_years=round(rep.forward_equivalent_years, 1),
                spinup_converged=rep.converged)


def format_table(rows: list[dict], columns=COLUMNS) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    lines = ["  ".join(c.rjust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r.get(c, "")).rjust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)
