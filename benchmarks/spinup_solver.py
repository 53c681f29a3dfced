"""Cost of spin-up to the equilibrium criteria: brute-force cycling against the solver.

Both start from the same state (cold start, then a prespin of N years of the first cycle
year). The solver runs first; brute force then cycles until the criteria hold on the same
cells (cells the solver reports unsolved are left out of both criteria unless --all-cells),
or --max-cycles. Costs are printed in forward model years (years of all cells run; a year
of a subset counts as its share), in forward-equivalent model years (wall time divided by
the measured time of one forward year on the same grid) and in seconds, with both ratios.
Forward years do not depend on the machine; on a shared or noisy machine the other two do.

`--brute-log CONFIG=PATH` takes brute force's cost from the spin-up log of a `bgctestbed run`
(`spinup_log.csv` of a run with `spinup.method = "brute"`: the paper protocol, hours to days on
the world) instead of running it: its years over all stages are forward years of all cells,
each counted as one forward-equivalent year. The run must be of the same cells, cycle and
prespin for the ratio to mean anything.

Grids: `ref12` (the 12-cell reference grid, 3 met years; `--cycle-years` 1 or 3) or `world`
(the embedded world, optionally `--cells K` cells spread over it; `--cycle-years` 1 or 20).
Usage: python benchmarks/spinup_solver.py --grid ref12 --configs CASA-C,MIMICS-C
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from bgctestbed.init import configured_cold_start
from bgctestbed.model import run_year, to_device, to_jax
from bgctestbed.spinup.solver import METHODS, brute_force, solve_periodic

REF = Path(os.environ.get("BGCTESTBED_REFERENCE",
                          Path(__file__).resolve().parents[2] / "shared" / "reference"))
CONFIGS = {"CASA-C": ("casa", False), "CASA-CN": ("casa", True),
           "MIMICS-C": ("mimics", False), "MIMICS-CN": ("mimics", True)}


def load_grid(args):
    if args.grid == "ref12":
        from bgctestbed.io import testbed as tb
        inp = REF / "testbed_outputs" / "inputs"
        sites = tb.read_sites(inp / "gridinfo.csv", inp / "soil.csv",
                              REF / "testbed_inputs" / "modis_phenology_wtundra.txt")
        forcing, _ = tb.read_met(inp / "met.nc")
        ny = {1: 1, 3: 3}.get(args.cycle_years)
        if ny is None:
            raise SystemExit("the reference grid has 3 met years: --cycle-years 1 or 3")
        return sites, [forcing.year(k).model_inputs(dtype=np.float32) for k in range(ny)]
    from bgctestbed.world import load_world
    w = load_world()
    sites = w.sites
    idx = None
    if args.cells:
        pft = np.asarray(sites.pft)
        sim = np.flatnonzero(~np.isin(pft, (11, 13, 15, 17)))
        idx = sim[np.linspace(0, len(sim) - 1, args.cells).round().astype(int)]
        sites = dataclasses.replace(sites, **{
            f.name: np.asarray(getattr(sites, f.name))[idx] for f in dataclasses.fields(sites)
            if isinstance(getattr(sites, f.name), np.ndarray)
            and np.shape(getattr(sites, f.name))[:1] == (w.n,)})
    years = [w.forcing(1901 + k).model_inputs(idx, np.float32) for k in range(args.cycle_years)]
    return sites, years


def setup(name, sites, cycle, prespin):
    cfg, p, st = configured_cold_start(*CONFIGS[name], sites)
    pj = to_jax(p)
    f0 = to_device(cycle[0])
    for _ in range(prespin):
        st, _, _ = run_year(st, f0, pj, cfg)
    return cfg, pj, st, np.asarray(p["active"], bool)


def brute_from_log(path):
    """Brute force's cost from a `bgctestbed run` spin-up log: the years of each stage (the
    column counts from the start of its stage), summed; converged when the last row passed."""
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise SystemExit(f"{path}: no spin-up cycles logged")
    years, wall = {}, {}
    for r in rows:
        years[r["stage"]] = max(years.get(r["stage"], 0.0), float(r["years"]))
        wall[r["stage"]] = max(wall.get(r["stage"], 0.0), float(r["wall_s"] or 0.0))
    total = sum(years.values())
    return SimpleNamespace(forward_years=total, forward_equivalent_years=total, wall_s=sum(wall.values()),
                           converged=rows[-1]["passed"] == "True")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--grid", choices=("ref12", "world"), default="ref12")
    ap.add_argument("--cells", type=int, default=0, help="world: number of cells (0 = all)")
    ap.add_argument("--cycle-years", type=int, default=3)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--prespin", type=int, default=100)
    ap.add_argument("--max-cycles", type=int, default=3000)
    ap.add_argument("--max-iter", type=int, default=None)
    ap.add_argument("--method", default=None, choices=METHODS,
                    help="fixed-point method (default: accelerated for CASA, newton for MIMICS)")
    ap.add_argument("--jacobian", default="first_year", choices=("cycle", "first_year"))
    ap.add_argument("--jacobian-by", default="differences", choices=("differences", "jvp"))
    ap.add_argument("--relax", type=int, default=None, help="plain cycles after each Newton step")
    ap.add_argument("--fallback-cycles", type=int, default=1000,
                    help="solver: most plain cycles for the cells Newton leaves unsettled")
    ap.add_argument("--all-cells", action="store_true",
                    help="brute-force criteria on all simulated cells, unsolved ones included")
    ap.add_argument("--skip-brute", action="store_true")
    ap.add_argument("--brute-log", default="",
                    help="CONFIG=PATH[,...]: brute force's cost from a bgctestbed run's spinup_log.csv")
    ap.add_argument("--jacobian-every", type=int, default=1, help="chord: renew the Jacobian every k iterations")
    ap.add_argument("--no-presolve", action="store_true",
                    help="do not solve the first year repeated before the whole cycle")
    args = ap.parse_args()
    logs = {}
    for item in filter(None, args.brute_log.split(",")):
        name, _, path = item.partition("=")
        if name not in CONFIGS or not path:
            ap.error(f"--brute-log: give CONFIG=PATH with CONFIG one of {', '.join(CONFIGS)}, not {item!r}")
        logs[name] = path
    sites, cycle = load_grid(args)
    print(f"grid {args.grid}: {sites.n} cells, cycle {len(cycle)} years, prespin {args.prespin}")
    rows = []
    for name in args.configs.split(","):
        cfg, pj, st, act = setup(name, sites, cycle, args.prespin)
        s, rep = solve_periodic(st, cycle, pj, cfg, area_m2=sites.landarea, simulated=act,
                                max_iter=args.max_iter, method=args.method, jacobian=args.jacobian,
                                jacobian_by=args.jacobian_by,
                                presolve=not args.no_presolve, jacobian_every=args.jacobian_every,
                                relax=args.relax, max_cycles=args.fallback_cycles,
                                progress=lambda m: print("  solver", m, flush=True))
        print(f"{name} solver: {rep.summary()} (year {rep.year_s * 1e3:.1f} ms)", flush=True)
        print(f"  fallback {np.flatnonzero(rep.fallback_cells)}, unsolved "
              f"{np.flatnonzero(rep.unsolved_cells)}", flush=True)
        brep = None
        if name in logs:
            brep = brute_from_log(logs[name])
            print(f"{name} brute force (from {logs[name]}): {brep.forward_years:.0f} years, "
                  f"criteria {'met' if brep.converged else 'NOT met'}", flush=True)
        elif not args.skip_brute:
            cells = act if args.all_cells else act & ~rep.unsolved_cells
            step = max(1, args.max_cycles // 20)

            def prog(m, _c=[0]):
                _c[0] += 1
                if _c[0] % step == 0:
                    print("  brute", m, flush=True)

            b, brep = brute_force(st, cycle, pj, cfg, area_m2=sites.landarea, simulated=cells,
                                  max_cycles=args.max_cycles, progress=prog)
            print(f"{name} brute force: {brep.summary()}", flush=True)
        rows.append((name, rep, brep))
    print()
    # forward years do not depend on the machine's load; forward-equivalent years and seconds do
    print(f"{'config':10s} {'solver fwd yr':>13s} {'fwd-eq yr':>9s} {'s':>7s} {'ok':>5s} "
          f"{'brute fwd yr':>12s} {'fwd-eq yr':>9s} {'s':>7s} {'ok':>5s} {'ratio fwd':>10s} {'ratio fwd-eq':>12s}")
    for name, rep, brep in rows:
        line = (f"{name:10s} {rep.forward_years:13.1f} {rep.forward_equivalent_years:9.1f} "
                f"{rep.wall_s:7.1f} {str(rep.converged):>5s}")
        if brep is not None:
            more = "" if brep.converged else ">"     # brute force stopped before the criteria held
            line += (f" {brep.forward_years:12.1f} {brep.forward_equivalent_years:9.1f} {brep.wall_s:7.1f} "
                     f"{str(brep.converged):>5s} "
                     f"{more + format(brep.forward_years / rep.forward_years, '.1f'):>10s} "
                     f"{more + format(brep.forward_equivalent_years / rep.forward_equivalent_years, '.1f'):>12s}")
        print(line)


if __name__ == "__main__":
    main()
