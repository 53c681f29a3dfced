"""Do two spin-ups end in the same steady state? Compares the spun-up states of two runs
(`bgctestbed run`, e.g. brute force and the solver) cell by cell against the per-cell
equilibrium criteria: cTOT, and every litter and soil pool (C and N, in g m-2), within 1 g m-2
or 0.1 %; for cTOT also within both, the stricter reading.

Brute force stops once cTOT changes by less than the criteria per cycle, which in pools
turning over in millennia can leave a cell far from its steady state. So for the CASA soil
(first-order pools) one more cycle from each state, with every pool's survival over it, gives
the one-step estimate of the steady state, x + (G(x) - x) / (1 - phi), exact for pools with a
first-order loss; the script reports each state against its own and the other run's estimate.

Usage: python benchmarks/spinup_equality.py RUN_A RUN_B [--configuration casa-c]
(RUN_A, RUN_B: output folders; the sites, forcing cycle and configuration come from RUN_A's
config.toml, and both runs must hold the same cells.)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from bgctestbed.config import load_config
from bgctestbed.errors import BgcError
from bgctestbed.io.checkpoint import read_restart
from bgctestbed.physics.mimics import MimicsPools
from bgctestbed.spinup.solver import (_component_keys, _ctot, _Runner, litter_soil_modes, pack,
                                      preconditioned_components, slow_components, steady_estimate)
from bgctestbed.workflow import build_members, open_source


def one_step_estimate(x0, phase, cycle, m):
    """The one-step steady-state estimate (packed state) from the packed state x0 (CASA soil),
    and the state after one cycle."""
    x, _, lsv = _Runner(cycle, m.pj, m.model).cycle_survival(x0, phase)
    est = steady_estimate(np.asarray(x0), x, lsv, litter_soil_modes(m.pj, m.model))
    return np.where(preconditioned_components(m.model), est, x), x


def within(x, ref, both=False):
    """Per cell (and component): |x - ref| below 1 (g m-2) or 0.1 % of ref; `both`: below
    both, the stricter reading."""
    d, ref = np.abs(x - ref), np.abs(ref)
    return (d < 1.0) & (d < 1e-3 * ref) if both else (d < 1.0) | (d < 1e-3 * ref)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_a", type=Path)
    ap.add_argument("run_b", type=Path)
    ap.add_argument("--configuration", default=None, help="default: the first of RUN_A's")
    ap.add_argument("--list", type=int, default=30, help="cells listed at most")
    args = ap.parse_args()
    cfg = load_config(args.run_a / "config.toml")
    source = open_source(cfg)
    sites = source.sites
    members = {m.name: m for m in build_members(cfg, sites)}
    name = args.configuration or cfg["run"]["configurations"][0]
    if name not in members:
        raise SystemExit(f"error: {args.run_a} has no configuration {name!r} (it has {', '.join(members)})")
    m = members[name]
    sa, _ = read_restart(args.run_a / m.name / "restart_spinup.nc", sites.cellid)
    sb, _ = read_restart(args.run_b / m.name / "restart_spinup.nc", sites.cellid)
    act = np.asarray(m.p["active"], bool)
    xa, xb = np.asarray(pack(sa, m.model)), np.asarray(pack(sb, m.model))
    pools = slow_components(m.model)
    # MIMICS pools are in mg cm-3: compared in g m-2 like the CASA pools
    uc = np.asarray(m.p["mim_uc"])[:, None] if m.model.soil == "mimics" else 1.0
    gm2 = np.where([k in MimicsPools._fields for k, _ in _component_keys(m.model)], uc, 1.0)

    def ctot(x):
        return np.asarray(_ctot(jnp.asarray(x), jnp.asarray(sa.phase), m.pj, m.model))

    def count(x, ref):
        c, cr = ctot(x), ctot(ref)
        every = within((x * gm2)[:, pools], (ref * gm2)[:, pools]).all(axis=1)
        return (f"{np.sum(within(c, cr) & act)} in cTOT ({np.sum(within(c, cr, True) & act)} within both limits), "
                f"{np.sum(every & act)} in every litter and soil pool")

    ca, cb = ctot(xa), ctot(xb)
    area = np.where(act, sites.landarea, 0.0)
    print(f"{m.name}: {act.sum()} simulated cells; global cTOT {np.sum(ca * area) / 1e15:.4f} Pg C "
          f"(A, {args.run_a}) and {np.sum(cb * area) / 1e15:.4f} (B, {args.run_b})")
    print(f"  B within the per-cell criteria (1 g m-2 or 0.1 %) of A: {count(xb, xa)}")
    if m.model.soil == "casa":
        y0, y1 = cfg["spinup"]["cycle"]
        cycle = [source.year(y) for y in range(y0, y1 + 1)]
        ea, ga = one_step_estimate(xa, sa.phase, cycle, m)
        eb, gb = one_step_estimate(xb, sb.phase, cycle, m)
        print(f"  A within the criteria of its own one-step steady state: {count(xa, ea)}")
        print(f"  B within the criteria of its own one-step steady state: {count(xb, eb)}")
        print(f"  B within the criteria of A's one-step steady state: {count(xb, ea)}")
        print(f"  A within the criteria of B's one-step steady state: {count(xa, eb)}")
    bad = np.flatnonzero(act & ~within(cb, ca))
    print(f"  cells whose cTOT is beyond the criteria ({len(bad)}, the first {min(len(bad), args.list)}):")
    if m.model.soil == "casa":
        ce, de, cf, df = ctot(ea), ctot(ga) - ca, ctot(eb), ctot(gb) - cb
    for i in bad[:args.list]:
        line = (f"    cell {sites.cellid[i]:6d} lat {sites.lat[i]:6.1f} lon {sites.lon[i]:7.1f} "
                f"pft {sites.pft[i]:2d}: A {ca[i]:10.1f} B {cb[i]:10.1f} g C m-2")
        if m.model.soil == "casa":
            line += (f"; one-step steady state from A {ce[i]:10.1f} (A changes {de[i]:+.2f} per cycle), "
                     f"from B {cf[i]:10.1f} ({df[i]:+.2f})")
        print(line)


if __name__ == "__main__":
    try:
        main()
    except BgcError as exc:        # a missing or foreign restart, a bad configuration
        raise SystemExit(f"error: {exc}") from None
