"""Seconds per generated global forcing year of the embedded world.

Generates a sequence of years (as a transient run would) and one year alone (as a restart
would), and prints each against a baseline measured in the same run: the time to allocate
and fill the year's output arrays once (6 arrays, float64, (365, n) and (365, 6, n)), i.e.
the least any generator must spend. Usage: python benchmarks/world_forcing.py [--years N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bgctestbed.world import load_world


def baseline(n: int, reps: int = 3) -> float:
    best = np.inf
    for _ in range(reps):
        t = time.perf_counter()
        rng = np.random.default_rng(0)
        _ = [rng.random((365, n)) for _ in range(3)] + [np.full((365, 6, n), 1.0)
                                                         for _ in range(3)]
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--start", type=int, default=1901)
    args = ap.parse_args()
    t = time.perf_counter()
    world = load_world()
    world.generator.clim_state()
    t_init = time.perf_counter() - t
    base = baseline(world.n)
    times = []
    for y in range(args.start, args.start + args.years):
        t = time.perf_counter()
        world.forcing(y)
        times.append(time.perf_counter() - t)
    alone = []
    for y in (1950, 2050, 2100):
        fresh = load_world()
        fresh.generator.clim_state()
        t = time.perf_counter()
        fresh.forcing(y)
        alone.append(time.perf_counter() - t)
    seq = float(np.median(times))
    print(f"cells: {world.n}; load + climatological state: {t_init:.2f} s")
    print(f"baseline (allocate and fill one year of outputs): {base:.3f} s")
    print(f"sequence of {args.years} years: median {seq:.3f} s per year "
          f"(min {min(times):.3f}, max {max(times):.3f}); ratio to baseline {seq / base:.1f}")
    print(f"one year alone (restart): median {np.median(alone):.3f} s; ratio to baseline "
          f"{np.median(alone) / base:.1f}")


if __name__ == "__main__":
    main()
