"""Spin-up to the periodic steady state: brute-force cycling and two solvers.

The steady state of a spin-up is the state x* that one forcing cycle maps onto itself,
G(x*) = x*, where G runs the model through the cycle's years (1 or 20). Brute force iterates
x <- G(x) until the equilibrium criteria (io_workflow.md §6) hold between successive cycle ends;
its cost is set by the slowest pool (passive / SOMp turnover, centuries to millennia).

`solve_periodic` solves G(x) - x = 0 directly, by default with `accelerated_fixed_point` for
the CASA soil (each pool's cycle change divided by the fraction of it the cycle's losses take,
then Anderson mixing; one forward cycle per iteration) and `newton_fixed_point` for MIMICS.
For Newton, cells never interact, so every cell has its own small dense Jacobian (all
continuous state variables of the cell, 11-37 of them) obtained by one-sided differences (one
forward pass per variable) or, exactly, in forward mode (one pass with a batch of unit
tangents, `jax.vmap` of `jax.jvp`; dearer per column). The Newton step (J - I) dx = -(G(x) - x)
is globalised per cell: pools stay >= 0, a step is accepted only where it lowers the cell's
scaled residual, otherwise the step length is cut, and a cell that still fails falls back to
one plain cycle (recorded in `fallback_cells`). N limitation and the clamps at zero make G only
piecewise smooth, which is why plain Newton alone is not enough for the C+N configurations.
When the criteria hold at the current point, confirmation cycles are run forward and the
criteria are evaluated between successive cycle ends, exactly as for brute force.

All functions are pure: forcing arrives as a sequence of yearly dicts, progress as a callback.
Units follow the model state: C in g C m-2, N in g N m-2, MIMICS pools in mg cm-3.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import BgcError
from ..model import ModelConfig, State, _year
from ..physics import casa_soil as cs
from ..physics.mimics import MimicsPools
from .criteria import (LIMIT_CELL_REL, LIMIT_FRACTION, LIMIT_GLOBAL_PGC, Criteria, cell_limit, cells_failing,
                       equilibrium_criteria, soil_carbon)

# Continuous state fields packed into the per-cell solver vector: (name, width, kept >= 0).
# `phase` (integer) is a passenger taken from the map's output.
_CASA_FIELDS = (("cplant", 3, True), ("nplant", 3, True), ("pleaf", 1, False),
                ("clabile", 1, False), ("clitter", 3, True), ("nlitter", 3, True),
                ("csoil", 3, True), ("nsoil", 3, True), ("nsoilmin", 1, False),
                ("glai", 1, False), ("cnppan", 1, False))
_MIM_FIELDS = tuple((k, 1, True) for k in MimicsPools._fields)

# Default upper bound of an acceptable steady state of cTOT (g C m-2). Frozen cells have
# steady states near 1e6 g C m-2 under the reference parameters (a nearly zero decay rate);
# a Newton target beyond the bound, or none (singular J - I), marks the cell unsolved.
CTOT_MAX = 1.0e7

# Spectral radius of the cycle map's Jacobian above which a Newton solution is an unstable
# fixed point (neutral directions, such as soil C without microbes, have exactly 1)
UNSTABLE_RADIUS = 1.001

# Years of plain cycles between two Newton rounds (`newton_fixed_point`'s `round_cycles`)
ROUND_YEARS = 64

# Cost of compiling a year for a new array shape, in forward years of all cells (about 1 s
# against 0.25 s for a CASA-C year of the world, 2 s against 0.55 s for MIMICS-C)
COMPILE_YEARS = 4.0

# Fixed-point methods of `solve_periodic`
METHODS = ("accelerated", "newton", "anderson")
# Iterates each cell mixes in the accelerated solver (Anderson depth): on the world, CASA-CN,
# 8 took 13 % fewer forward years than 5, 3 far more; CASA-C settles before it matters
# (docs/spinup.md).
ACCELERATED_DEPTH = 8


class SpinupError(BgcError):
    """Inconsistent spin-up input (cycle, state or masks)."""


@dataclass
class SpinReport:
    """Outcome of a spin-up.

    converged: the equilibrium criteria hold between the last two cycle ends.
    criteria: the last `Criteria`. cycles: forcing cycles run forward (brute force: all;
    solver: plain + confirmation cycles); iterations: Newton iterations (0 for brute force).
    forward_years: model years run forward (a Jacobian pass counts its years once; a year on
    a subset of the cells counts as its share of them).
    forward_equivalent_years: wall_s divided by the measured wall time of one forward year
    on the same grid (all costs included: tangents, solves, compilation).
    fallback_cells: cells where a solver step was rejected and plain cycles were used.
    unsolved_cells: cells still failing the per-cell criteria at the end (no steady state
    found within physical bounds, e.g. pools growing without bound).
    unstable_cells: cells whose Newton solution is an unstable fixed point of the cycle (a
    Jacobian eigenvalue beyond 1: brute force does not settle there); they followed plain
    cycles from their start instead (and are among the fallback cells). None where not
    checked (brute force, the accelerated and Anderson solvers).
    residual: per-cell cTOT change over the last cycle (g C m-2).
    history: per-iteration/cycle records for logging.
    """

    converged: bool
    criteria: Criteria | None
    cycles: int
    iterations: int
    forward_years: float
    forward_equivalent_years: float
    wall_s: float
    year_s: float
    fallback_cells: np.ndarray
    unsolved_cells: np.ndarray
    residual: np.ndarray
    history: list = field(default_factory=list)
    unstable_cells: np.ndarray | None = None

    def summary(self) -> str:
        c = self.criteria.summary() if self.criteria is not None else "no criteria"
        unstable = "" if self.unstable_cells is None else f" (unstable {int(self.unstable_cells.sum())})"
        return (f"{'converged' if self.converged else 'NOT converged'} after {self.iterations} "
                f"iterations, {self.cycles} cycles, {self.forward_years:.1f} forward years, "
                f"{self.forward_equivalent_years:.1f} forward-equivalent years ({self.wall_s:.1f} s); "
                f"fallback cells {int(self.fallback_cells.sum())}, unsolved "
                f"{int(self.unsolved_cells.sum())}{unstable}; {c}")


# --------------------------------------------------------------------------------------------
# Packing of the state
# --------------------------------------------------------------------------------------------

def state_fields(cfg: ModelConfig) -> tuple:
    """(name, width, nonnegative) of the packed fields for a configuration."""
    return _CASA_FIELDS + (_MIM_FIELDS if cfg.soil == "mimics" else ())


def pack(state: State, cfg: ModelConfig) -> jax.Array:
    """Continuous state as one (n, d) array, fields in `state_fields` order."""
    cols = []
    for name, width, _ in state_fields(cfg):
        v = getattr(state.mim, name) if name in MimicsPools._fields else getattr(state, name)
        v = jnp.asarray(v, jnp.float64)
        cols.append(v.reshape(v.shape[0], width))
    return jnp.concatenate(cols, axis=1)


def unpack(x: jax.Array, phase: jax.Array, cfg: ModelConfig) -> State:
    """Inverse of `pack`; `phase` is the integer passenger."""
    vals, i = {}, 0
    for name, width, _ in state_fields(cfg):
        v = x[:, i:i + width]
        vals[name] = v if width > 1 else v[:, 0]
        i += width
    mim = MimicsPools(*(vals.pop(k) for k in MimicsPools._fields)) if cfg.soil == "mimics" else None
    return State(phase=phase, mim=mim, **vals)


# Slow variables (litter and soil pools, C and N): Anderson's merit; the others (vegetation,
# labile C, mineral N, LAI, NPP memory) forget their initial values within a cycle.
_SLOW = {"clitter", "nlitter", "csoil", "nsoil"} | set(MimicsPools._fields)


def _component_keys(cfg: ModelConfig) -> list:
    """(field name, index within the field) of every packed component, in packing order."""
    return [(name, i) for name, w, _ in state_fields(cfg) for i in range(w)]


def slow_components(cfg: ModelConfig) -> np.ndarray:
    """Indices of the packed litter and soil components."""
    return np.concatenate([np.arange(w) + i for (name, w, _), i in
                           zip(state_fields(cfg), np.cumsum([0] + [w for _, w, _ in state_fields(cfg)]))
                           if name in _SLOW])


def settling_components(cfg: ModelConfig) -> np.ndarray:
    """Pools with turnover times of decades or more (wood C and N; slow and passive SOM C and
    N, MIMICS SOMc and SOMp): a cell has settled only when these have stopped moving. Leaves,
    roots, litter and the fast SOM change by up to a few tenths of a percent from one cycle
    to the next even at the steady state."""
    slow = {("cplant", 1), ("nplant", 1), ("clitter", 2), ("nlitter", 2), ("csoil", 1), ("csoil", 2),
            ("nsoil", 1), ("nsoil", 2)}
    slow |= {(k, 0) for k in ("SOMc", "SOMp", "SOMcN", "SOMpN")}
    if cfg.soil == "mimics":
        slow -= {("csoil", 1), ("csoil", 2), ("nsoil", 1), ("nsoil", 2)}
    return np.array([j for j, key in enumerate(_component_keys(cfg)) if key in slow])


def moving_components(cfg: ModelConfig) -> np.ndarray:
    """Indices of the packed components whose start value the cycle's end state depends on
    smoothly: the Jacobian columns. Left out: the components the model does not change in
    this configuration (C-only: litter/soil/mineral N and MIMICS N; MIMICS: the CASA litter
    and soil pools it does not use), LAI, which the first day recomputes from leaf C
    and which enters only through that day's phenology thresholds (its exact column is
    zero; a difference across a threshold is a jump), and what the model sets every day
    from other components, so that its start value acts for one day: leaf P (from leaf N)
    and, C-only, plant N (from plant C; on the reference grid these columns move the cycle's
    end state by at most 1.2e-3 of their value, against up to 3 times for plant C)."""
    frozen = {("glai", 0), ("pleaf", 0)}
    if not cfg.nitrogen:
        frozen |= {("nplant", i) for i in range(3)}
        frozen |= {("nlitter", i) for i in range(3)} | {("nsoil", i) for i in range(3)}
        frozen |= {("nsoilmin", 0)} | {(k, 0) for k in MimicsPools._fields if k.endswith("N")}
    if cfg.soil == "mimics":
        frozen |= {("csoil", i) for i in range(3)} | {("nsoil", i) for i in range(3)}
        frozen |= {("clitter", 0), ("clitter", 1), ("nlitter", 0), ("nlitter", 1)}
    return np.array([j for j, key in enumerate(_component_keys(cfg)) if key not in frozen])


def deficit_components(cfg: ModelConfig) -> np.ndarray | None:
    """Mask of the packed components that may fall below zero (mineral N, C+N only), None
    where there are none."""
    if not cfg.nitrogen:
        return None
    return np.array([key == ("nsoilmin", 0) for key in _component_keys(cfg)])


def litter_soil_modes(p: dict, cfg: ModelConfig):
    """The decay modes of the CASA litter and SOM C pools, for `steady_estimate`: (the packed
    components of the pools metabolic, structural, CWD, mic, slow and passive; the
    eigenvectors V (n, 6, 6) of the cells' decay matrices (`casa_soil.decay_matrix`) at the
    environmental scalar 1, column j that of pool j's rate; their inverses). None for MIMICS.

    All these pools decay at a constant rate times one daily temperature and moisture
    scalar s(t) (casa.md §4.2), so their daily maps I + s(t) A commute and share A's
    eigenvectors: over a cycle each mode is a first-order pool, whose survival is that of
    the pool of the same rate. (With N limitation the litter rates have a second scalar, and
    the modes are an approximation.)"""
    if cfg.soil != "casa":
        return None
    klit, ksoil = cs.decay_rates(p["xkoptlitter"], p["xkoptsoil"], p)
    keys = _component_keys(cfg)
    comps = np.array([keys.index(("clitter", i)) for i in range(3)] + [keys.index(("csoil", i)) for i in range(3)])
    return (comps,) + triangular_modes(np.asarray(cs.decay_matrix(klit, ksoil, p)))


def triangular_modes(a):
    """Eigenvectors V (n, b, b) of lower-triangular matrices a (n, b, b), column j that of the
    eigenvalue a[:, j, j], and their inverses. Matrices without a basis of eigenvectors (two
    equal rates, one pool feeding the other), or with one too ill-conditioned to use, get
    NaN (`steady_estimate` then takes their pools one by one)."""
    n, b, _ = a.shape
    lam = np.diagonal(a, axis1=1, axis2=2)
    v = np.zeros((n, b, b))
    with np.errstate(all="ignore"):
        for j in range(b):     # from row j down: (a v)_i = lam_j v_i
            v[:, j, j] = 1.0
            for i in range(j + 1, b):
                num = np.einsum("nk,nk->n", a[:, i, j:i], v[:, j:i, j])
                v[:, i, j] = np.where(num == 0.0, 0.0, num / (lam[:, j] - lam[:, i]))
        ok = np.all(np.isfinite(v), axis=(1, 2))
        ok[ok] = np.linalg.cond(v[ok]) < 1e8
    v[~ok] = np.nan
    w = np.full_like(v, np.nan)
    w[ok] = np.linalg.inv(v[ok])
    return v, w


def microbial_components(cfg: ModelConfig) -> np.ndarray:
    """Mask of the packed MIMICS microbial pools (C and N): Newton solves them in log
    coordinates (`_log_newton_step`)."""
    return np.array([name.startswith("MIC") for name, _ in _component_keys(cfg)])


def _nonneg_mask(cfg: ModelConfig) -> np.ndarray:
    return np.concatenate([np.full(w, nn) for _, w, nn in state_fields(cfg)])


# --------------------------------------------------------------------------------------------
# The cycle map and its Jacobian (jitted per year)
# --------------------------------------------------------------------------------------------

def _year_packed(x, phase, forcing, p, cfg):
    st, _, _ = _year(unpack(x, phase, cfg), forcing, p, cfg, False, 1.0)
    return pack(st, cfg), st.phase


@partial(jax.jit, static_argnums=(4,))
def _year_x(x, phase, forcing, p, cfg):
    return _year_packed(x, phase, forcing, p, cfg)


@partial(jax.jit, static_argnums=(5,))
def _year_jvp(x, tangents, phase, forcing, p, cfg):
    """One year and its tangent map applied to a batch of tangents (k, n, d); the primal
    is computed once (tangents alone are batched)."""
    def f(xx):
        return _year_packed(xx, phase, forcing, p, cfg)

    def one(t):
        y, ty, ph = jax.jvp(f, (x,), (t,), has_aux=True)
        return y, ty, ph

    y, ty, ph = jax.vmap(one, out_axes=(None, 0, None))(tangents)
    return y, ty, ph


@partial(jax.jit, static_argnums=(4,))
def _year_survival(x, phase, forcing, p, cfg):
    """One year and each packed component's log survival over it (`ModelConfig.loss_rates`):
    log of the fraction of its start value a pool keeps through the year's losses alone;
    -inf for components without a loss rate (vegetation leaf, labile C, mineral N, ...)."""
    st, acc, _ = _year(unpack(x, phase, cfg), forcing, p, replace(cfg, loss_rates=True), False,
                       1.0)
    n = x.shape[0]
    cols = [acc.get("sv:" + name, jnp.zeros((n, w))).reshape(n, w) for name, w, _ in state_fields(cfg)]
    return pack(st, cfg), st.phase, jnp.log(jnp.concatenate(cols, axis=1))


def _bucket(m: int, n: int) -> int:
    """Padded size of a subset of m of n cells: the smallest of n, 3n/4, n/2, 3n/8, n/4, ...
    (rounded up, down to the first at most 8) that holds m, so that a run compiles few array
    shapes (each costs seconds) and pads a subset by at most half (with halving alone up to
    2-fold: the whole world's 394 unstable MIMICS-C cells were followed for a hundred cycles
    as 549, now as 412)."""
    size = best = n
    while size > 8:
        for s in (-(-3 * size // 4), -(-size // 2)):
            best = s if s >= m else best
        size = -(-size // 2)
    return best


def _difference_steps(x, m):
    """One-sided difference steps per cell and component: 1e-7 of the component's size
    plus 1e-10 of its mean size over the first m rows (the cells; the rest is padding)."""
    size = np.abs(x)
    return 1e-7 * (size + 1e-3 * size[:m].mean(axis=0)) + 1e-12


def _columns(v, pad):
    """The cells `pad` (last axis) of a forcing array, by the faster gather for its layout:
    np.take for a day-first array (a world year, 3,293 of 4,390 cells: 10 ms against 100 ms
    indexed), indexing for a cell-major array seen day-first, as the run's world forcing is
    (which np.take copies whole first: 0.36 s a year of the world, 0.6 ms indexed)."""
    v = np.asarray(v)
    return np.take(v, pad, axis=-1) if v.flags.c_contiguous else v[..., pad]


class _Runner:
    """Runs years of the cycle on all cells or a subset, counts model years (a year on a
    subset counts as its share of the cells) and measures the cost of one forward year."""

    def __init__(self, cycle, p, cfg):
        if len(cycle) < 1:
            raise SpinupError("the forcing cycle has no years")
        self.cycle, self.p, self.cfg = cycle, p, cfg
        self.n = int(np.shape(p["active"])[0])
        self.forward_years = 0.0
        self.year_times: list[float] = []
        self._calls = 0
        self._sizes, self._waste = {self.n}, 0.0     # see _survival_size
        # keep the forcing on the device when the whole cycle is small (<~1 GB in float32)
        self._cache = {} if self.n * len(cycle) <= 20000 else None

    def forcing(self, k, pad=None):
        """Year k's forcing of all cells, or of the cells `pad` (host indices)."""
        if self._cache is None:
            f = self.cycle[k]
            # the cells' columns on the host: moving the whole year to the device to take a
            # few cells costs more than their year (whole world: 0.15 s against 0.04 s)
            return f if pad is None else {key: _columns(v, pad) for key, v in f.items()}
        if k not in self._cache:
            self._cache[k] = {key: jnp.asarray(v) for key, v in self.cycle[k].items()}
        f = self._cache[k]
        return f if pad is None else {key: jnp.take(v, pad, axis=-1) for key, v in f.items()}

    def _subset(self, x, phase, idx, size=None):
        """(x, phase, p, pad) of the cells `idx` (None: all), padded to `size` cells (default:
        a bucket size)."""
        if idx is None:
            return x, phase, self.p, None
        pad, p = self._padded(np.asarray(idx), size)
        return x[pad], phase[pad], p, pad

    @cached_property
    def _p_host(self):
        """The parameters on the host, for subsets (`_padded`); made on first use, so that
        runs of all cells only (brute force) do not copy them."""
        return {k: np.asarray(v) for k, v in self.p.items()}

    def _padded(self, idx, size=None):
        """The cells `idx` padded with the first of them to `size` (default: a bucket size),
        and their parameters."""
        size = _bucket(len(idx), self.n) if size is None else size
        pad = np.concatenate([idx, np.full(size - len(idx), idx[0])])
        # taken on the host and moved in one call: indexing the device arrays one by one
        # cost 35 ms per subset on the world (4 s of CASA-CN's 35 s presolve), a jitted
        # gather 0.2 s of compilation per size
        return pad, jax.device_put({k: v[pad] for k, v in self._p_host.items()})

    def year(self, x, phase, k, p=None, pad=None):
        t0 = time.perf_counter()
        y, ph = _year_x(x, phase, self.forcing(k, pad), self.p if p is None else p, self.cfg)
        y.block_until_ready()
        dt = time.perf_counter() - t0
        if pad is None:
            self._calls += 1
            if self._calls > 1:          # the first call compiles
                self.year_times.append(dt)
        self.forward_years += 1.0 if pad is None else len(pad) / self.n
        return y, ph

    def cycle_map(self, x, phase, idx=None):
        """G(x) of all cells, or of the cells `idx` (x and phase are then of all cells; the
        result is of the subset, as host arrays: see `_host`)."""
        x, phase, p, pad = self._subset(x, phase, idx)
        for k in range(len(self.cycle)):
            x, phase = self.year(x, phase, k, p, pad)
        return (x, phase) if idx is None else (np.asarray(x)[:len(idx)], np.asarray(phase)[:len(idx)])

    def cycle_survival(self, x, phase, idx=None):
        """(G(x), phase', log survival over the cycle) of all cells or of the cells `idx`, as
        host arrays (the caller's work on subsets of changing size stays out of XLA, which
        would compile every new shape). A subset runs padded to a size chosen by
        `_survival_size`; one of all cells as all cells (no copy of the cycle's forcing)."""
        size = None if idx is None else self._survival_size(len(idx))
        if size == self.n:
            g, ph, lsv = self.cycle_survival(x, phase)
            return g[idx], ph[idx], lsv[idx]
        m = len(x) if idx is None else len(idx)
        x, phase, p, pad = self._subset(x, phase, idx, size)
        x, phase, lsv = jnp.asarray(x), jnp.asarray(phase), 0.0
        for k in range(len(self.cycle)):
            x, phase, ly = _year_survival(x, phase, self.forcing(k, pad), p, self.cfg)
            self.forward_years += 1.0 if pad is None else len(pad) / self.n
            lsv = lsv + ly
        return np.asarray(x)[:m], np.asarray(phase)[:m], np.asarray(lsv)[:m]

    def _survival_size(self, m):
        """Padded size for a cycle of m cells: the smallest size compiled so far that holds
        them, until running the compiled sizes instead of the bucket sizes (`_bucket`) has
        wasted, over the calls since the last compilation, as many forward years as compiling
        a size costs (COMPILE_YEARS); then the bucket size. (Bucket sizes at once: CASA-C on
        the world took 227 forward-equivalent years against 205, compiling sizes for one-year
        cycles of the presolve that saved half a year each. The waste counted per bucket
        size instead: subsets shrinking through many buckets, each short of a compilation,
        ran as all cells; CASA-CN's presolve on the world took 51 forward years instead of
        33, for 16 years of its cells.)"""
        b = _bucket(m, self.n)
        c = min(s for s in self._sizes if s >= m)
        if b < c:
            self._waste += (c - b) / self.n * len(self.cycle)
            if self._waste >= COMPILE_YEARS:
                self._sizes.add(b)
                self._waste = 0.0
                return b
        return c

    def cycle_jacobian(self, x, phase, years=None, cols=None, idx=None, by="differences"):
        """The state after the first `years` years of the cycle (all of it by default: G(x)),
        its phase, and the per-cell Jacobian (m, d, d) of those years, for all cells or the
        cells `idx`. Only the columns `cols` (input components) are computed,
        the others are zero. `by="differences"`: one forward pass per column with that
        component raised by 1e-7 of its size (one-sided differences; the passes reuse the
        compiled year; for a subset, side by side in batches of the grid's size, see
        `_batched_differences`); `"jvp"`: one pass with a batch of forward-mode tangents,
        exact but 1.5 (MIMICS-C) to 4 (MIMICS-CN) forward years per tangent on 1000 cells,
        against one per column for differences."""
        m = len(x) if idx is None else len(idx)
        years = len(self.cycle) if years is None else years
        cols = np.arange(x.shape[1]) if cols is None else np.asarray(cols)
        if by == "differences" and idx is not None:
            return self._batched_differences(x, phase, np.asarray(idx), years, cols)
        x, phase, p, pad = self._subset(x, phase, idx)
        n, d = x.shape
        if by == "jvp":
            t = jnp.broadcast_to(jnp.eye(d)[cols][:, None, :], (len(cols), n, d))
            for k in range(years):
                x, t, phase = _year_jvp(x, t, phase, self.forcing(k, pad), p, self.cfg)
                self.forward_years += n / self.n
            jac = jnp.zeros((n, d, d)).at[:, :, cols].set(jnp.transpose(t, (1, 2, 0)))  # [cell, out, in]
        elif by == "differences":
            x0, ph0 = x, phase
            for k in range(years):
                x, phase = self.year(x, phase, k, p, pad)
            h = _difference_steps(np.asarray(x0), m)
            base, jac = np.asarray(x), np.zeros((n, d, d))
            for j in cols:
                xp, php = jnp.asarray(x0).at[:, j].add(h[:, j]), ph0
                for k in range(years):
                    xp, php = self.year(xp, php, k, p, pad)
                jac[:, :, j] = (np.asarray(xp) - base) / h[:, j, None]
        else:
            raise SpinupError(f"jacobian_by must be 'differences' or 'jvp', not {by!r}")
        return np.asarray(x)[:m], np.asarray(phase)[:m], np.asarray(jac)[:m]

    def _batched_differences(self, x, phase, idx, years, cols):
        """`cycle_jacobian` by differences for the cells `idx`: the base and one perturbed
        copy per column, (columns + 1) x m cells, run side by side in batches of at most the
        grid's cells. The same forward years as one pass per column, but one call per batch
        and year (a year of a few cells costs its call, not its cells: 14 cells and 19
        columns of the 20-year cycle took 380 calls of 15-20 ms each), and no padding but the
        last batch's (per column, 2,593 of the world's 4,390 cells ran padded to 4,390)."""
        m, d = len(idx), x.shape[1]
        copies = np.tile(idx, len(cols) + 1)
        xb, phb = np.array(np.asarray(x)[copies]), np.asarray(phase)[copies]
        h = _difference_steps(xb[:m], m)
        for b, j in enumerate(cols, 1):
            xb[b * m:(b + 1) * m, j] += h[:, j]
        for start in range(0, len(copies), self.n):
            part = slice(start, start + self.n)
            cells = copies[part]
            pad, ps = self._padded(cells)
            fill = np.concatenate([np.arange(len(cells)), np.zeros(len(pad) - len(cells), int)])
            xs, phs = jnp.asarray(xb[part][fill]), jnp.asarray(phb[part][fill])
            for k in range(years):
                xs, phs = self.year(xs, phs, k, ps, pad)
            xb[part], phb[part] = np.asarray(xs)[:len(cells)], np.asarray(phs)[:len(cells)]
        jac = np.zeros((m, d, d))
        for b, j in enumerate(cols, 1):
            jac[:, :, j] = (xb[b * m:(b + 1) * m] - xb[:m]) / h[:, j, None]
        return xb[:m], phb[:m], jac

    @property
    def year_s(self) -> float:
        return float(np.min(self.year_times)) if self.year_times else float("nan")


def _check(state, cfg, area_m2, simulated):
    n = np.asarray(state.clabile).shape[0]
    if (cfg.soil == "mimics") != (state.mim is not None):
        raise SpinupError("the state's MIMICS pools do not match the configuration "
                          f"(soil model {cfg.soil!r})")
    for name, a in (("area_m2", area_m2), ("simulated", simulated)):
        if np.shape(a) != (n,):
            raise SpinupError(f"{name} has shape {np.shape(a)}, expected ({n},) cells")
    return n


def _ctot(x, phase, p, cfg):
    return soil_carbon(unpack(x, phase, cfg), p)


# --------------------------------------------------------------------------------------------
# Brute force
# --------------------------------------------------------------------------------------------

def brute_force(state: State, cycle: Sequence[dict], p: dict, cfg: ModelConfig, *, area_m2,
                simulated, max_cycles: int, progress: Callable[[str], None] | None = None
                ) -> tuple[State, SpinReport]:
    """Repeat the forcing cycle until the equilibrium criteria hold between the ends of two
    successive cycles, or `max_cycles` cycles have run.

    `cycle`: yearly forcing dicts (cgpp, tairk, ndep (365, n); tsoil, moist, frznmoist
    (365, 6, n)); `area_m2`: land area per cell (m2); `simulated`: mask of simulated cells."""
    n = _check(state, cfg, area_m2, simulated)
    t0 = time.perf_counter()
    run = _Runner(cycle, p, cfg)
    x, phase = pack(state, cfg), jnp.asarray(state.phase)
    prev = _ctot(x, phase, p, cfg)
    crit, history, cyc = None, [], 0
    while cyc < max_cycles:
        x, phase = run.cycle_map(x, phase)
        cyc += 1
        cur = _ctot(x, phase, p, cfg)
        crit = equilibrium_criteria(prev, cur, area_m2, simulated)
        history.append(dict(cycle=cyc, years=run.forward_years, **crit.as_dict()))
        if progress is not None:
            progress(f"cycle {cyc}: {crit.summary()}")
        resid, prev = cur - prev, cur
        if crit.passed:
            break
    else:
        resid = np.zeros(n) if crit is None else resid
    wall = time.perf_counter() - t0
    year_s = run.year_s
    failing = (cells_failing(cur - resid, cur, simulated) if crit is not None
               else np.zeros(n, bool))
    rep = SpinReport(converged=bool(crit is not None and crit.passed), criteria=crit, cycles=cyc,
                     iterations=0, forward_years=run.forward_years,
                     forward_equivalent_years=wall / year_s if year_s == year_s else float(run.forward_years),
                     wall_s=wall, year_s=year_s, fallback_cells=np.zeros(n, bool),
                     unsolved_cells=failing, residual=np.asarray(resid), history=history)
    return unpack(x, phase, cfg), rep


# --------------------------------------------------------------------------------------------
# Newton solver for the periodic steady state
# --------------------------------------------------------------------------------------------

def _scales(x, act, floor_rel=1e-3):
    """Per-component residual scale: a fraction of the mean magnitude over simulated cells
    (so that components near zero in one cell do not dominate its norm)."""
    m = np.abs(np.asarray(x))[act].mean(axis=0) if act.any() else np.ones(x.shape[1])
    return floor_rel * m + 1e-12


def _newton_step(jac, r):
    """Solve (J - I) dx = -r per cell. Rows of J - I that vanish (variables the map leaves
    unchanged: C-only N pools, CASA pools under MIMICS, ice cells) get -1 on the diagonal, so
    their step is r = 0; where such a variable changes anyway the cell gets NaN (no fixed
    point)."""
    d = jac.shape[-1]
    a = jac - np.eye(d)
    dead = np.max(np.abs(a), axis=-1) < 1e-13
    a = a - np.where(dead[..., None], np.eye(d), 0.0)
    with np.errstate(all="ignore"):
        try:
            dx = np.linalg.solve(a, -r[..., None])[..., 0]
        except np.linalg.LinAlgError:      # an exactly singular cell: NaN there, not everywhere
            dx = np.stack([_solve_or_nan(ai, -ri) for ai, ri in zip(a, r)])
    # a variable the map only shifts (no dependence on the state, non-zero change) grows
    # without bound: no fixed point
    growing = np.any(dead & (r != 0.0), axis=-1)
    return np.where(growing[..., None], np.nan, dx)


def _solve_or_nan(a, b):
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        return np.full_like(b, np.nan)


# Smallest value of a component solved in log coordinates (below it, or with a zero image,
# the component is solved as it is: an extinct population stays extinct)
LOG_FLOOR = 1e-30


def _log_newton_step(jac, x, g, logc):
    """Newton step for G(x) = x in coordinates y = log x for the components `logc` (where x
    and G(x) exceed LOG_FLOOR), y = x for the others. Returns (dy, logm): the step in y and
    the mask of the components taken in log coordinates.

    Microbial populations grow in proportion to themselves, so G(x) = x has a root with the
    population at zero beside the one where it persists; in x a Newton step can land on the
    first, which plain cycles leave as the microbes regrow from traces (an unstable fixed
    point). In log coordinates the residual of an extinct population is its log growth factor
    over the cycle, zero only where the population is exactly at its steady state, so Newton
    seeks the root where it persists (and a population that declines every cycle gives a
    singular row: no fixed point in reach, the cell follows plain cycles)."""
    logm = logc & (x > LOG_FLOOR) & (g > LOG_FLOOR)
    sx, sg = np.where(logm, x, 1.0), np.where(logm, g, 1.0)      # 1 outside the log components
    r = np.where(logm, np.log(sg) - np.log(sx), g - x)
    # d log G_i / d log x_j = J_ij x_j / G_i
    return _newton_step(jac * sx[..., None, :] / sg[..., :, None], r), logm


def _put(a, idx, v):
    """A copy of the host array `a` with the rows `idx` set to `v`."""
    a = a.copy()
    a[idx] = v
    return a


def _host(f):
    """`f` returning host arrays: the bookkeeping on subsets of changing size stays out of
    XLA, which would compile every operation anew for every new subset size (measured: 0.4
    to 1 s per shape, several per Newton iteration, most of the cost of the last cells)."""
    def g(*args, **kw):
        return tuple(np.asarray(v) for v in f(*args, **kw))
    return g


def _relative_step(dx, x, nonneg, floor):
    """Largest change of a non-negative component relative to its size (per cell)."""
    r = np.abs(np.asarray(dx)) / (np.abs(np.asarray(x)) + np.asarray(floor))
    return np.max(np.where(np.asarray(nonneg), r, 0.0), axis=1)


def _merit(xx, gg, c, cg, settle, floor, tight):
    """Per-cell distance from settling (<= 1: settled): the larger of the cycle's cTOT change
    in units of `tight` x the cell limits and the `settle` pools' largest change in units of
    `tight` x 0.1 % of their size (cTOT alone can stand still while wood or soil N move)."""
    rel = _relative_step(gg - xx, xx, settle, floor)
    return np.maximum(np.abs(cg - c) / (tight * cell_limit(c)), rel / (tight * LIMIT_CELL_REL))


# Settling checks (`accelerated_fixed_point`) are dropped once CHECKS_SEEN of them, counted
# over the solve's stages, have failed in at most CHECKS_FAILING of the cells. On the world
# they failed in 1.4 % of the cells for CASA-C and in 20 % for CASA-CN, whose solve failed the
# criteria without them; counted per stage, CASA-CN's first 221 checks on the 20-year cycle
# all passed (docs/spinup.md).
CHECKS_SEEN, CHECKS_FAILING = 100, 0.05


def _checks_needless(checks):
    return checks["made"] >= CHECKS_SEEN and checks["failed"] <= CHECKS_FAILING * checks["made"]


def _finished(crit, todo, nsim):
    """Nothing left to do, or the criteria hold with margin: the global change below half its
    limit, fewer than half the allowed share of cells beyond the per-cell limits, and fewer
    than the allowed share not yet settled."""
    return not todo.any() or (abs(crit.delta_PgC) < 0.5 * LIMIT_GLOBAL_PGC
                              and max(crit.frac_cells_gt_1g, crit.frac_cells_gt_0p1pct) < 0.5 * LIMIT_FRACTION
                              and np.sum(todo) < LIMIT_FRACTION * nsim)


def newton_fixed_point(jacobian, cycle_map, x, phase, ctot, *, area_m2, simulated, nonneg,
                       settle=None, log=None, max_iter=30, tight=0.5, relax=2, jacobian_every=1,
                       stall=4, max_cycles=1000, rounds=6, round_cycles=64, reach=10.0,
                       ctot_max=CTOT_MAX, jacobian_late=None, progress=None, history=None,
                       years=lambda: 0):
    """Per-cell Newton iteration for G(x) = x with relaxation cycles and a trust region.

    `jacobian(x, phase, idx) -> J` and `cycle_map(x, phase, idx) -> (G, phase')` take the
    arrays of all cells and return the rows of the cells `idx` (None: all); J is the
    per-cell Jacobian (m, d, d) of G at x (G itself is known wherever a Jacobian is made);
    `jacobian_late` (default `jacobian`): a dearer, better Jacobian (the exact one of a
    long cycle, the cycle length times the cost of the first year's), made from the second
    round on for the cells whose steps with `jacobian`'s fail there (a rejected step, or two
    iterations without progress).
    `ctot(x, phase)`: cTOT per cell (g C m-2), linear in x;
    `nonneg`: (d,) mask of components kept >= 0; `log`: (d,) mask of components solved in
    log coordinates (microbial pools, `_log_newton_step`; they change by at most a factor
    e^rho per step).

    The map is only piecewise smooth (N limitation switches on and off, pools are clamped
    at zero) and its slowest modes are nearly neutral, so a full Newton step from a point
    off the slow manifold lands where the Jacobian is of another regime. Each step is
    therefore (1) limited to a trust region (no non-negative pool changes by more than `rho`
    times its size; rho starts at 1, doubles after an accepted step up to 4 and is cut
    4-fold after a rejected one), (2) followed by `relax` plain cycles, so that vegetation,
    mineral N and the other fast variables settle on the new slow state, and (3) judged over
    the next cycle by the cell's merit: the larger of its cTOT change in units of `tight`
    times the per-cell limits and the largest change of its `settle` pools in units of
    `tight` times 0.1 % of their size (cTOT can stand still while wood or soil N still
    move). A step is accepted when the merit falls, or when the (chord) Newton correction
    shrinks while the merit at most triples; a rejected step renews the cell's Jacobian, and
    after repeated rejections the cell takes the plain cycles instead. A cell is settled
    (and stops) when its merit is at most 1 and its Newton correction is within `reach`
    times the per-cell limits in cTOT (a cell can change by less than the limits per cycle
    while it is still far from its fixed point: slow modes, or pools that cancel in cTOT
    for a while); cells whose cycle map has no attracting fixed point (N-limitation limit
    cycles, +-1 g m-2 from year to year) stall and stop instead of chasing noise with steps
    of the slow pools' turnover time times the noise. Jacobians are
    renewed after `jacobian_every` accepted steps (chord iterations in between), and only
    for the cells still iterating. A cell that stops improving for `stall` iterations, and
    the cells still unsettled after `max_iter`, continue with plain cycles (on those cells
    only) until they settle or the criteria hold with margin; they are reported as fallback
    cells. There are `rounds` such rounds: after `round_cycles` plain cycles the cells still
    unsettled start Newton afresh (new Jacobians, full trust region) from the point the
    cycles reached, where the fast pools lie on the slow manifold; the plain cycles of the
    last round run up to `max_cycles`. (Cold MIMICS-CN cells far below their steady state
    stall in the first round - the trust region shrinks after rejected steps, each later
    step is tiny - and converge in a few Newton steps from the relaxed point; cells drifting
    far from their fixed point need several rounds: 600 MIMICS-CN world cells, 4.0 % beyond
    1 g m-2 per cycle after 3 rounds, 1.2 % after 6.)

    Returns (x, phase, G(x), phase', iterations, fallback mask, out-of-bounds mask)."""
    cycle_map = _host(cycle_map)
    jacobian_late = jacobian if jacobian_late is None else jacobian_late
    x, phase = np.asarray(x), np.asarray(phase)
    n = x.shape[0]
    sim = np.asarray(simulated, bool)
    nonneg = np.asarray(nonneg, bool)
    settle = nonneg if settle is None else np.asarray(settle, bool)
    logc = np.zeros(x.shape[1], bool) if log is None else np.asarray(log, bool)
    history = [] if history is None else history
    floor = _scales(x, sim)
    rho0, rho_max, rho_min = 1.0, 4.0, 1.0 / 64.0

    def merit(xx, gg, c, cg_):
        return _merit(xx, gg, c, cg_, settle, floor, tight)

    def beyond_reach(dist, c):
        # cTOT of the Newton correction beyond `reach` x the per-cell limits (not finite:
        # a singular map, distance unknown, not counted)
        return np.isfinite(dist) & (dist > reach * cell_limit(c))

    def newton_far(cells):
        dy, logm = _log_newton_step(jac[cells], x[cells], g[cells], logc)
        d = np.abs(np.asarray(ctot(_put(x, cells, np.where(logm, 0.0, dy)), phase))[cells])
        return beyond_reach(d, cx[cells])

    def renew_jacobians(ridx, make):
        # Jacobian at the current point of the cells `ridx`, whose image g is known
        nonlocal jac
        jac = _put(jac, ridx, np.asarray(make(x, phase, ridx)))
        far[ridx] = newton_far(ridx)

    g, phg = cycle_map(x, phase, None)
    jac = np.asarray(jacobian(x, phase, None))
    cx, cg = np.array(ctot(x, phase)), np.array(ctot(g, phg))
    mc = merit(x, g, cx, cg)
    far = newton_far(np.arange(n))
    fallback = np.zeros(n, bool)
    oob = np.zeros(n, bool)
    nsim = max(int(sim.sum()), 1)
    iterations = 0

    def finished(crit, todo):
        return _finished(crit, todo, nsim)

    for rnd in range(rounds):
        last = rnd == rounds - 1
        todo = sim & ((mc > 1.0) | far)
        if rnd > 0:
            # a new round from the point the plain cycles reached: fresh Jacobians there
            if finished(equilibrium_criteria(cx, cg, area_m2, simulated), todo):
                break
            renew_jacobians(np.flatnonzero(todo), jacobian)
        # cells whose Jacobians are `jacobian_late`'s: in later rounds those whose steps with
        # the cheap one fail (a rejected step, or two iterations without progress)
        late = np.zeros(n, bool)
        label = "" if rnd == 0 else f"round {rnd + 1} "
        rho = np.full(n, rho0)
        age = np.zeros(n, int)                 # accepted iterations since the Jacobian was made
        plain_next = np.zeros(n, bool)
        # a cell that has improved neither its merit nor its Newton distance (cTOT of the
        # Newton correction) by 10 % within `stall` iterations, and has not moved at the pace
        # of the full trust region either, leaves Newton for plain cycles
        best = mc.copy()
        best_dist = np.full(n, np.inf)
        since = np.zeros(n, int)
        for it in range(1, max_iter + 1):
            todo = sim & ((mc > 1.0) | far)
            crit = equilibrium_criteria(cx, cg, area_m2, simulated)
            history.append(dict(iteration=f"{label}{it - 1}" if rnd else it - 1, years=years(),
                                cells_iterating=int(todo.sum()), **crit.as_dict()))
            if progress is not None:
                progress(f"{label}iteration {it - 1}: {crit.summary()}, {int(todo.sum())} cells not yet settled")
            if finished(crit, todo) or not (todo & (since < stall)).any():
                break
            iterations += 1
            todo &= since < stall
            idx = np.flatnonzero(todo)
            xs, gs, js = x[idx], g[idx], jac[idx]
            dy, logm = _log_newton_step(js, xs, gs, logc)
            finite = np.all(np.isfinite(np.asarray(dy)), axis=1)
            dy = np.where(finite[:, None], dy, 0.0)
            # the correction in the pools measured without the log components: a poorly
            # linearised log step can be huge (e^dy overflows) where the carbon pools' target is
            # fine, and the microbes are a negligible part of cTOT
            dx = np.where(logm, 0.0, dy)
            # a Newton target beyond physical bounds (or none): no steady state in reach from
            # here, follow the cycle (reported if it is still so at the end)
            target = np.asarray(ctot(_put(x, idx, xs + dx), phase))[idx]
            out = ~finite | ~np.isfinite(target) | (target >= ctot_max)
            oob[idx] = out
            dx = np.where(out[:, None], 0.0, dx)
            plain = plain_next[idx] | out
            # the trust region measures a pool's change after the clamp at zero: a pool at zero
            # whose Newton step is negative stays there, and would otherwise cut the whole
            # step to nothing, every iteration (seen: steps of 1e-3 of the Newton step)
            moved = np.where(nonneg, np.maximum(dx, -xs), dx)
            lam = np.where(plain, 0.0, np.minimum(1.0, rho[idx] / np.maximum(
                _relative_step(moved, xs, nonneg, floor), 1e-300)))
            # a log component changes by at most a factor e^rho: microbes far from their steady
            # state grow or shrink at that pace while the pools take their (scaled) Newton step
            rj, ly = rho[idx][:, None], lam[:, None] * dy
            xt = np.where(logm, xs * np.exp(np.clip(ly, -rj, rj)), xs + ly)
            xt = np.where(nonneg, np.maximum(xt, 0.0), xt)
            # a plain step starts from the cell's image, which is known: its judging cycle is
            # the next plain cycle (from x itself, with no relaxation cycles, it would only
            # compute the image again and the cell would not move)
            xt = np.where(plain[:, None], gs, xt)
            # relaxation cycles, then the cycle that judges the step
            full_x, full_ph = _put(x, idx, xt), _put(phase, idx, np.where(plain, phg[idx], phase[idx]))
            for _ in range(relax):
                xt, pht = cycle_map(full_x, full_ph, idx)
                full_x, full_ph = _put(x, idx, xt), _put(phase, idx, pht)
            pht = full_ph[idx]
            gt, phgt = cycle_map(full_x, full_ph, idx)
            ctt = np.asarray(ctot(full_x, full_ph))[idx]
            cgt = np.asarray(ctot(_put(g, idx, gt), _put(phg, idx, phgt)))[idx]
            mt = merit(xt, gt, ctt, cgt)
            # natural monotonicity: the chord Newton correction at the trial shrinks
            dist = np.abs(np.asarray(ctot(_put(x, idx, dx), phase))[idx])
            dy_t, logm_t = _log_newton_step(js, xt, gt, logc)
            dist_t = np.abs(np.asarray(ctot(_put(x, idx, np.where(logm_t, 0.0, dy_t)), phase))[idx])
            ok = np.all(np.isfinite(np.asarray(gt)), axis=1)
            acc = ok & (plain | (mt < mc[idx]) | ((dist_t < (1.0 - 0.25 * lam) * dist) & (mt < 3.0 * mc[idx])))
            fallback[idx[plain_next[idx] & (mt > 1.0)]] = True
            a_idx = idx[acc]
            x, phase = _put(x, a_idx, xt[acc]), _put(phase, a_idx, pht[acc])
            g, phg = _put(g, a_idx, gt[acc]), _put(phg, a_idx, phgt[acc])
            cx[a_idx], cg[a_idx], mc[a_idx] = ctt[acc], cgt[acc], mt[acc]
            # the chord correction at an accepted point is its Newton correction until the
            # Jacobian is renewed (a rejected cell's is unchanged)
            far[a_idx] = beyond_reach(dist_t[acc], ctt[acc])
            full_region = rho[idx] >= rho0
            r = np.where(acc, np.minimum(2.0 * rho[idx], rho_max), 0.25 * rho[idx])
            r = np.where(plain_next[idx], rho0, r)
            rho[idx] = r
            plain_next[idx] = ~acc & (r < rho_min)
            age[a_idx] += 1
            # (an accepted step cut by the full trust region is progress at the allowed pace;
            # one cut by a region shrunk after rejections is not)
            # (a Newton correction within the per-cell limits shrinking further is not: seen,
            # a wood pool the steps did not settle while the correction went 1e-1 .. 1e-4)
            better = ((mc[idx] < 0.9 * best[idx])
                      | ((dist < 0.9 * best_dist[idx]) & (dist > cell_limit(cx[idx])))
                      | (acc & (lam > 0) & (lam < 1) & full_region))
            best[idx] = np.minimum(best[idx], mc[idx])
            best_dist[idx] = np.minimum(best_dist[idx], dist)
            since[idx] = np.where(better, 0, since[idx] + 1)
            # fresh Jacobians for unsettled cells: accepted ones whose Jacobian is
            # `jacobian_every` steps old, rejected ones whose Jacobian is not of their point
            renew = np.zeros(n, bool)
            renew[idx] = (np.where(acc, age[idx] >= jacobian_every, age[idx] > 0)
                          & ((mc[idx] > 1.0) | far[idx]))
            if rnd > 0 and jacobian_late is not jacobian:
                promote = np.zeros(n, bool)
                promote[idx] = ~late[idx] & (~acc | (since[idx] >= 2)) & ((mc[idx] > 1.0) | far[idx])
                late |= promote
                renew |= promote
            for make, cells in ((jacobian, renew & ~late), (jacobian_late, renew & late)):
                if cells.any():
                    renew_jacobians(np.flatnonzero(cells), make)
            age[renew] = 0
        # fallback: plain cycles for the cells Newton did not settle (stalled or out of bounds),
        # until they settle or the criteria hold with margin; before the last round at most
        # `round_cycles`, which bring the fast pools onto the slow manifold, where Newton from
        # the point they reach converges
        todo = sim & (mc > 1.0)
        fallback |= todo
        for k in range(1, (max_cycles if last else round_cycles) + 1):
            crit = equilibrium_criteria(cx, cg, area_m2, simulated)
            if finished(crit, todo):
                break
            idx = np.flatnonzero(todo)
            x, phase = _put(x, idx, g[idx]), _put(phase, idx, phg[idx])
            gi, phi = cycle_map(x, phase, idx)
            g, phg = _put(g, idx, gi), _put(phg, idx, phi)
            cx[idx], cg[idx] = cg[idx], np.asarray(ctot(g, phg))[idx]
            mc[idx] = merit(x[idx], gi, cx[idx], cg[idx])
            todo = sim & (mc > 1.0)
            if (k & (k - 1)) == 0:       # cycles 1, 2, 4, 8, ...
                history.append(dict(iteration=f"{label}fallback cycle {k}", years=years(),
                                    cells_iterating=int(todo.sum()), **crit.as_dict()))
                if progress is not None:
                    progress(f"{label}fallback cycle {k}: {crit.summary()}, {int(todo.sum())} cells not yet "
                             "settled")
    oob &= mc > 1.0
    return x, phase, g, phg, iterations, fallback & sim, oob & sim


def unstable_fixed_points(jacobian, x, phase, cells, limit=UNSTABLE_RADIUS):
    """Mask of the cells `cells` (bool, all cells) whose cycle map has a Jacobian eigenvalue
    of modulus above `limit` at x: such a fixed point repels plain cycles (for instance MIMICS
    microbes that Newton steps brought near zero where they can grow: they regrow from traces
    and consume the soil C), so it is not the state brute force reaches. `jacobian` as for
    `newton_fixed_point`."""
    out = np.zeros(len(cells), bool)
    idx = np.flatnonzero(cells)
    if len(idx):
        jac = jacobian(x, phase, idx)
        radius = np.max(np.abs(np.linalg.eigvals(np.asarray(jac))), axis=1)
        out[idx] = ~(radius <= limit)
    return out


def follow_merit(watch, floor):
    """Stop rule of `follow_cycles` (as `_merit` with the per-cell limits themselves): the
    cell's cTOT change and the growth of its `watch` components. Growth only: microbes
    invading from traces change cTOT too little to see for many cycles, while pools in
    decline are on their way to zero (desert SOM decays by a constant fraction per cycle,
    and cTOT, which brute force's criteria judge, stands still long before)."""
    def merit(xx, gg, c, cg):
        return _merit(xx, np.maximum(gg, xx), c, cg, watch, floor, 1.0)
    return merit


def follow_cycles(cycle_map, ctot, merit, x, phase, cells, max_cycles, allow=0, patience=64,
                  tail=None, progress=None):
    """Brute force on the cells `cells` (bool, all cells): plain cycles from x until each of
    them has stopped moving, its `merit(x, G, cTOT, cTOT of G)` (rows of those cells) at most
    1 (`follow_merit`), or `max_cycles`; after `patience` cycles also once at most `allow`
    cells still move (cells that brute force does not settle either, within the criteria's
    allowance: on the 20-year cycle a polar cell still moving after 1,000 cycles costs
    20,000 years of plain cycles). With `tail` (component indices), a cell that stops in a
    geometric decline gets those components' limit instead of G(x) (`geometric_tail`).
    Returns (x, phase, G(x), phase', mask of the cells still moving); x is the last cycle's
    start."""
    cycle_map = _host(cycle_map)
    x, phase = np.asarray(x), np.asarray(phase)
    g, phg = x, phase
    c = np.asarray(ctot(x, phase))
    hist = np.full((len(c), TAIL_CHANGES + 1), np.nan)      # the last cTOT values per cell
    hist[:, -1] = c
    moving = np.asarray(cells, bool).copy()
    jumped = 0
    for k in range(1, max_cycles + 1):
        if not moving.any() or (k > patience and moving.sum() <= allow):
            break
        if progress is not None and (k & (k - 1)) == 0:      # cycles 1, 2, 4, 8, ...
            progress(f"plain cycle {k}: {int(moving.sum())} cells still moving")
        idx = np.flatnonzero(moving)
        x, phase = _put(x, idx, g[idx]), _put(phase, idx, phg[idx])
        gi, phi = cycle_map(x, phase, idx)
        g, phg = _put(g, idx, gi), _put(phg, idx, phi)
        cg = np.asarray(ctot(g, phg))
        hist[idx] = np.concatenate([hist[idx, 1:], cg[idx, None]], axis=1)
        stop = merit(x[idx], gi, c[idx], cg[idx]) <= 1.0
        moving[idx] = ~stop
        c[idx] = cg[idx]
        if tail is not None and stop.any():
            done = idx[stop]
            limit, ok = geometric_tail(x[done], g[done], hist[done], tail)
            g = _put(g, done[ok], limit[ok])
            jumped += int(ok.sum())
    if progress is not None and tail is not None:
        progress(f"{jumped} cells stopped in a geometric decline, set to its limit")
    return x, phase, g, phg, moving


# Changes of cTOT that `geometric_tail` compares (the last one against the one before, and
# against the one TAIL_CHANGES - 1 cycles before)
TAIL_CHANGES = 5


def geometric_tail(x, g, hist, comps):
    """Limit of a geometric decline, per cell: x_inf = G + (G - x) r / (1 - r) for the
    components `comps`, clamped at zero, where r is the ratio of the last two changes of
    cTOT (`hist`: its last TAIL_CHANGES + 1 values per cell, the last of G). Returns (the
    cells' states, mask of the cells it applies to): the last TAIL_CHANGES changes of the
    same sign, and r settled, so that the uncertainty of the sum, |d| |r - r4| / (1 - r)^2
    with r4 the mean ratio over the changes, is within half the per-cell limits.
    Where the microbes die out (deserts, polar cells), brute force's changes shrink by
    a constant ratio for hundreds of cycles once below the per-cell limits (0.92-0.98 per
    20-year cycle, measured), and its pools stop tens of g C m-2 beyond the point where
    the cell first meets the limits; from there this limit is within 1 g m-2 of brute
    force after 1,430 cycles in 9 of 10 such cells (docs/spinup.md)."""
    d = np.diff(hist, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = d[:, -1] / d[:, -2]
        r4 = (d[:, -1] / d[:, 0]) ** (1.0 / (d.shape[1] - 1))
        err = np.abs(d[:, -1]) * np.abs(r - r4) / (1.0 - r) ** 2
        ok = np.all(d * d[:, -1:] > 0, axis=1) & (r > 0) & (r < 1) & (err <= 0.5 * cell_limit(hist[:, -1]))
    out = np.array(g)
    jump = np.where(ok, r / (1.0 - r), 0.0)[:, None]
    out[:, comps] = np.maximum(g[:, comps] + (g[:, comps] - x[:, comps]) * jump, 0.0)
    return out, ok


def _mixing_weights(dF, f):
    """Anderson weights per cell: the least-squares gamma of min |f - dF^T gamma|
    (Tikhonov-regularised), dF (n, m, k) residual differences, f (n, k) the last residual;
    non-finite weights become 0 (no mixing)."""
    m = dF.shape[1]
    # columns scaled to unit length: differences of early iterates, far from the fixed point,
    # are orders of magnitude larger than the last ones and would swamp them
    norm = np.sqrt(np.einsum("nik,nik->ni", dF, dF)) + 1e-300
    dF = dF / norm[..., None]
    A = np.einsum("nik,njk->nij", dF, dF)
    b = np.einsum("nik,nk->ni", dF, f)
    A = A + (1e-10 * np.trace(A, axis1=1, axis2=2)[:, None, None] + 1e-300) * np.eye(m)
    gam = np.linalg.solve(A, b[..., None])[..., 0] / norm
    return np.where(np.isfinite(gam), gam, 0.0)


def preconditioned_components(cfg: ModelConfig) -> np.ndarray:
    """Mask of the packed components whose cycle change is scaled by their turnover: pools
    with a first-order loss (wood and fine roots, litter, SOM, MIMICS pools; C and N). Leaf C
    and N follow the phenology rather than a balance of input and loss, and labile C, mineral
    N, LAI and the NPP memory forget their start values within a cycle: plain steps."""
    pools = {"cplant", "nplant", "clitter", "nlitter", "csoil", "nsoil"} | set(MimicsPools._fields)
    return np.array([name in pools and not (name in ("cplant", "nplant") and i == 0)
                     for name, i in _component_keys(cfg)])


def steady_estimate(x, g, lsv, modes=None):
    """One-step estimate of the periodic steady state from x, its image g = G(x) and the log
    survival lsv of each component over the cycle: x + (g - x) / (1 - phi), exact for a
    first-order pool (input u(t), loss k(t) x); a pool that keeps (nearly) all of itself has
    no steady state within reach of one step: at most 1e5 x the cycle's change.

    `modes` (`litter_soil_modes` of these cells): pools that pass their losses on to each
    other take the same step mode by mode, x + V diag(1 / (1 - phi)) V^-1 (g - x), the
    steady state of their linear cycle map given their inputs from elsewhere (the matrix form
    of Xia et al. 2012); cells whose modes are NaN take it pool by pool."""
    gain = 1.0 / np.maximum(1.0 - np.exp(lsv), 1e-5)
    est = x + (g - x) * gain
    if modes is not None:
        comps, v, w = modes
        ok = np.flatnonzero(np.all(np.isfinite(v), axis=(1, 2)))
        d = (g - x)[ok][:, comps]
        step = np.einsum("nij,nj->ni", v[ok], gain[ok][:, comps] * np.einsum("nij,nj->ni", w[ok], d))
        est[np.ix_(ok, comps)] = x[np.ix_(ok, comps)] + step
    return est


def accelerated_fixed_point(cycle_survival, x, phase, ctot, *, area_m2, simulated, nonneg,
                            precondition, settle=None, depth=ACCELERATED_DEPTH, max_iter=150, tight=0.5,
                            stall=50, extrapolate=False, checks=None, progress=None, history=None,
                            years=lambda: 0, deficit=None, modes=None):
    """Anderson acceleration of the cycle map, preconditioned by each pool's turnover.

    `cycle_survival(x, phase, idx) -> (G, phase', s)` runs one cycle for the cells `idx` (None:
    all; x and phase are of all cells, the results of the subset) and returns with G the log
    survival s of every component over the cycle (`ModelConfig.loss_rates`). A pool with
    input u(t) and first-order loss k(t) x maps x to phi x + c over the cycle, phi = exp(s),
    so x + (G(x) - x) / (1 - phi) is its periodic steady state in one step, whatever u and
    k (the semi-analytic spin-up of Xia et al. 2012, per pool and without a matrix). For the
    model's coupled pools (a pool's input depends on other pools, wood's NPP on its own
    respiration) this one-step map is a good but inexact fixed-point iteration; each cell
    mixes its last `depth` iterates (Anderson, least squares in scaled components), which
    removes the few remaining slow or oscillating modes. Components outside `precondition`
    take plain steps. With `modes` (`litter_soil_modes`) the CASA litter and SOM C pools,
    which pass their losses on to each other, take the step mode by mode (`steady_estimate`).

    A cell whose merit (`_merit`) reaches 1 takes one plain cycle and is settled (and stops)
    if the merit still holds after it, until these checks have shown themselves needless
    (`_checks_needless` of `checks`, the count of checks made and failed, which the caller
    may carry over from an earlier stage; updated in place); each iteration runs the cycle
    on the unsettled cells only. A cell whose merit has not improved by 10 % within `stall`
    iterations stops too, unsettled: cells in year-to-year limit cycles of N-limited
    vegetation have no attracting fixed point. The loop ends when the criteria hold with
    margin (`_finished`), when no cell is left iterating, or after `max_iter` iterations.

    `deficit`: mask of components that may fall below zero (mineral N). A step whose cycle
    ends with one of them below zero and below where the cell's previous cycle ended is
    taken back: the cell returns to its previous point and takes one plain cycle (its
    mixing history restarts). In CASA-CN an extrapolated litter or SOM pool can make the
    next cycle immobilise hundreds of g N m-2; with mineral N that far below zero, litter
    decomposition and plant uptake stop, and the cell settles on a second steady state
    without vegetation or soil C, which brute force from the same start does not reach
    (docs/spinup.md).

    A settled cell still changes by up to `tight` x the criteria per cycle, which in a pool
    that turns over in millennia is far from its steady state in units of the criteria. With
    `extrapolate`, the image returned for settled cells is therefore the one-step estimate of
    the steady state, x + (G(x) - x) / (1 - phi) in the preconditioned components.

    Returns (x, phase, G(x) (or its extrapolation), phase', iterations, mask of cells not
    settled, mask of cells whose step was not finite (they took plain cycles))."""
    x, phase = np.array(x, np.float64), np.array(phase)
    n, d = x.shape
    sim = np.asarray(simulated, bool)
    nsim = max(int(sim.sum()), 1)
    pre = np.asarray(precondition, bool)
    nonneg = np.asarray(nonneg, bool)
    settle = nonneg if settle is None else np.asarray(settle, bool)
    history = [] if history is None else history
    floor = _scales(x, sim)
    X = np.zeros((n, depth + 1, d))      # per-cell history of iterates and preconditioned images
    H = np.zeros((n, depth + 1, d))
    count = np.zeros(n, int)
    bad = np.zeros(n, bool)
    g, phg, lsv = (np.array(a) for a in cycle_survival(x, phase, None))

    def estimate(xs, gs, rows):
        return steady_estimate(xs, gs, lsv[rows], None if modes is None else
                               (modes[0], modes[1][rows], modes[2][rows]))

    cx, cg = np.array(ctot(x, phase)), np.array(ctot(g, phg))
    mc = _merit(x, g, cx, cg, settle, floor, tight)
    best, since = mc.copy(), np.zeros(n, int)
    retry = np.zeros(n, bool)
    it = 0
    # a cell whose merit falls to 1 after an extrapolated step takes one plain cycle (its fast
    # pools may still be off the slow manifold); it is settled when the merit holds after it.
    # Once these checks have shown themselves needless (`_checks_needless`), cells settle
    # without them.
    checked = np.zeros(n, bool)
    checks = {"made": 0, "failed": 0} if checks is None else checks
    for it in range(1, max_iter + 1):
        moving = sim & ((mc > 1.0) | ~checked)
        todo = moving & (since < stall)
        crit = equilibrium_criteria(cx, cg, area_m2, simulated)
        history.append(dict(iteration=it - 1, years=years(), cells_iterating=int(todo.sum()),
                            **crit.as_dict()))
        if progress is not None:
            progress(f"iteration {it - 1}: {crit.summary()}, {int(todo.sum())} cells not yet settled")
        if _finished(crit, moving, nsim) or not todo.any():
            break
        idx = np.flatnonzero(todo)
        check = mc[idx] <= 1.0
        xs, gs = x[idx], g[idx]
        h = np.where(pre, estimate(xs, gs, idx), gs)
        row = np.minimum(count[idx], depth)
        # shift full histories, append the new pair
        full = count[idx] >= depth + 1
        X[idx[full], :-1], H[idx[full], :-1] = X[idx[full], 1:], H[idx[full], 1:]
        X[idx, row], H[idx, row] = xs, h
        count[idx] = np.minimum(count[idx] + 1, depth + 1)
        new = h.copy()
        m_all = count[idx] - 1
        for m in np.unique(m_all[m_all > 0]):
            sel = np.flatnonzero(m_all == m)
            Xs, Hs = X[idx[sel], :m + 1], H[idx[sel], :m + 1]
            sc = np.abs(Xs[:, -1]) + np.abs(Hs[:, -1]) + floor
            F = (Hs - Xs) / sc[:, None, :]
            dF, dH = F[:, 1:] - F[:, :-1], Hs[:, 1:] - Hs[:, :-1]
            gam = _mixing_weights(dF, F[:, -1])
            new[sel] = Hs[:, -1] - np.einsum("ni,nid->nd", gam, dH)
        # components without a turnover follow the cycle (mixing them drives MIMICS microbes
        # towards zero, from where they need years to grow back while cTOT looks settled)
        plain = check | retry[idx]
        new = np.where(plain[:, None] | ~pre, gs, new)
        count[idx[plain]] = 0
        # pools stay positive: at most a 100-fold cut of the cycle's image per step
        new = np.where(nonneg, np.maximum(new, 0.01 * np.maximum(gs, 0.0)), new)
        ok = np.all(np.isfinite(new), axis=1)
        bad[idx] |= ~ok
        new = np.where(ok[:, None], new, gs)
        count[idx[~ok]] = 0
        # the cells' last point, to return to if their step is taken back (below)
        prev = None if deficit is None else (x[idx], phase[idx], g[idx], phg[idx], lsv[idx], cx[idx],
                                             cg[idx], mc[idx])
        x[idx], phase[idx] = new, phg[idx]
        g[idx], phg[idx], lsv[idx] = cycle_survival(x, phase, idx)
        cx[idx], cg[idx] = np.asarray(ctot(x, phase))[idx], np.asarray(ctot(g, phg))[idx]
        mc[idx] = _merit(x[idx], g[idx], cx[idx], cg[idx], settle, floor, tight)
        if deficit is not None:
            # a step whose cycle ends deeper in deficit than the last one is taken back
            back = ~plain & np.any(deficit & (g[idx] < np.minimum(prev[2], 0.0)), axis=1)
            retry[idx] = back
            r = idx[back]
            x[r], phase[r], g[r], phg[r], lsv[r], cx[r], cg[r], mc[r] = (a[back] for a in prev)
        checks["made"] += int(check.sum())
        checks["failed"] += int((check & (mc[idx] > 1.0)).sum())
        checked[idx] = check | _checks_needless(checks)
        since[idx] = np.where(mc[idx] < 0.9 * best[idx], 0, since[idx] + 1)
        best[idx] = np.minimum(best[idx], mc[idx])
    unsettled = sim & ((mc > 1.0) | ~checked)
    if extrapolate:
        est = estimate(x, g, slice(None))
        g = np.where(pre & ~unsettled[:, None], np.where(nonneg, np.maximum(est, 0.0), est), g)
    return x, phase, g, phg, it, unsettled, bad & sim


def anderson_fixed_point(cycle_map, x, phase, ctot, *, simulated, nonneg, area_m2, depth=5,
                         max_iter=200, tight=0.1, ctot_max=CTOT_MAX, merit_cols=None,
                         progress=None, history=None, years=lambda: 0):
    """Per-cell Anderson acceleration of the cycle map (derivative-free).

    `cycle_map(x, phase) -> (G(x), phase')`. Each iteration runs one cycle; every cell mixes
    its own last `depth` residuals (least squares in scaled components), so its slow modes
    are extrapolated the way a linear solve would. A cell whose residual grows beyond twice
    its best restarts from the plain cycle. Returns (x, phase, G(x), phase', iterations,
    restarted mask, out-of-bounds mask)."""
    n, d = x.shape
    sim = np.asarray(simulated, bool)
    nonneg = np.asarray(nonneg, bool)
    history = [] if history is None else history
    cols = np.arange(d) if merit_cols is None else np.asarray(merit_cols)
    xs, gs = [], []
    restarted = np.zeros(n, bool)
    oob = np.zeros(n, bool)
    best = np.full(n, np.inf)
    xk, phk = x, phase
    it = 0
    for it in range(1, max_iter + 1):
        gk, phg = cycle_map(xk, phk)
        xn, gn = np.array(xk), np.array(gk)
        cx, cg = ctot(xk, phk), ctot(gk, phg)
        dc = np.abs(cg - cx)
        tight_ok = ~sim | (dc <= tight * cell_limit(cx))
        crit = equilibrium_criteria(cx, cg, area_m2, simulated)
        scale = np.abs(xn) + np.abs(gn) + _scales(xn, sim)
        f = (gn - xn) / scale
        fn = np.sqrt(np.mean(f[:, cols] ** 2, axis=1))
        history.append(dict(iteration=it - 1, years=years(), cells_not_tight=int((~tight_ok).sum()),
                            **crit.as_dict()))
        if progress is not None:
            progress(f"iteration {it - 1}: {crit.summary()}, {int((~tight_ok).sum())} cells not yet "
                     f"within {tight:g} x criteria")
        if it > 1 and (tight_ok | oob).all():
            break
        grow = fn > 2.0 * best
        best = np.minimum(best, fn)
        xs.append(xn)
        gs.append(gn)
        if len(xs) > depth + 1:
            xs.pop(0)
            gs.pop(0)
        if grow.any():                  # drop the history of diverging cells
            restarted |= grow & sim
            for k in range(len(xs) - 1):
                xs[k][grow] = xn[grow]
                gs[k][grow] = gn[grow]
        m = len(xs) - 1
        if m == 0:
            nxt = gn
        else:
            X, G = np.stack(xs, 1), np.stack(gs, 1)             # (n, m+1, d)
            F = (G - X) / scale[:, None, :]
            dF = (F[:, 1:] - F[:, :-1])[:, :, cols]             # (n, m, k)
            dG = G[:, 1:] - G[:, :-1]                           # (n, m, d)
            try:
                gam = _mixing_weights(dF, F[:, -1][:, cols])
            except np.linalg.LinAlgError:
                gam = np.zeros((n, m))
            nxt = gn - np.einsum("ni,nid->nd", gam, dG)
        nxt = np.where(nonneg, np.maximum(nxt, 0.0), nxt)
        ct = ctot(jnp.asarray(nxt), phg)
        bad = sim & ~(np.isfinite(ct) & (ct < ctot_max))
        oob |= bad
        nxt = np.where((bad | ~sim | tight_ok)[:, None], gn, nxt)
        xk, phk = jnp.asarray(nxt), phg
    return xk, phk, gk, phg, it, restarted, oob


def mean_year(cycle: Sequence[dict]) -> dict:
    """The forcing of each day of the year averaged over the cycle's years, in the first
    year's dtype: the one-year problem whose steady state is nearest the cycle's (world,
    1901-1920: the first cycle from it changes soil C by 0.35 Pg C for CASA-C, from that of
    1901 alone by 5.5 Pg C)."""
    out = {}
    for k, v in cycle[0].items():
        total = np.zeros(np.shape(v))       # year by year: the world's 20 years at once are GBs
        for f in cycle:
            total += np.asarray(f[k])
        out[k] = (total / len(cycle)).astype(np.asarray(v).dtype)
    return out


def solve_periodic(state: State, cycle: Sequence[dict], p: dict, cfg: ModelConfig, *, area_m2,
                   simulated, max_iter: int | None = None, warm_cycles: int = 1, confirm_cycles: int = 20,
                   method: str | None = None, jacobian: str = "first_year", jacobian_by: str = "differences",
                   relax: int | None = None,
                   anderson_depth: int = ACCELERATED_DEPTH, tight: float = 0.5, ctot_max: float = CTOT_MAX,
                   presolve: bool = True, jacobian_every: int = 1, max_cycles: int = 1000,
                   polish: bool = True, settling_checks: dict | None = None,
                   progress: Callable[[str], None] | None = None) -> tuple[State, SpinReport]:
    """Find the state that reproduces itself after one forcing cycle, then confirm it.

    `warm_cycles` plain cycles first (vegetation and fast pools leave the cold start; the
    phenology phase becomes periodic). Then Newton iterations (`newton_fixed_point`: trust
    region, `relax` plain cycles after each step - default 2 for a one-year cycle, none for
    longer ones -, cells settle one by one, the rest fall back to plain cycles, at most
    `max_cycles`). The Jacobian is the exact per-cell Jacobian of the cycle map
    (`jacobian="cycle"`) or, by default and much cheaper for cycles of many years, that of
    the first year raised to the cycle length (`"first_year"`; the same for one-year
    cycles), and the exact one for the cells whose steps with it fail in later rounds.
    `presolve` (cycles of more than one year): first solve the steady state of the cycle's
    mean year repeated (`mean_year`; cheap iterations of one year), then iterate on the
    whole cycle from it;
    the report adds both stages' costs. `jacobian_every` k > 1: chord iterations (a
    cell's Jacobian is renewed after k accepted steps). `jacobian_by`: "differences" (one
    forward pass per column) or "jvp" (exact forward-mode tangents; `_Runner.cycle_jacobian`).
    `method="anderson"`: derivative-free Anderson acceleration instead of Newton. `anderson_depth`:
    the iterates each cell mixes in the accelerated and the Anderson methods.

    `polish` (off for the presolve, whose result is only a starting point): Newton - the
    Jacobian of the cycle at the solution of every cell is computed once more;
    cells with an eigenvalue beyond `UNSTABLE_RADIUS` are reported unstable (with
    `jacobian="first_year"` on a cycle of many years, only those the exact cycle Jacobian
    confirms). Brute force does not settle on such a point: these cells go back to the
    state they started from and follow plain cycles until each has stopped moving, or all
    but a quarter of the criteria's allowance has (`follow_cycles`; MIMICS desert cells
    whose microbes die out freeze where the dying leaves them, hundreds of g C m-2 from the
    unstable fixed point where the microbes persist at a trace).
    Accelerated - settled cells are taken to their one-step steady-state estimate
    (`accelerated_fixed_point`'s `extrapolate`). `settling_checks`: the count of the
    accelerated solver's settling checks made and failed ({"made": m, "failed": f}), which
    decides when they are dropped (`_checks_needless`); the presolve's count goes on into the
    whole cycle's stage.

    Finally plain cycles run from the image of the solution until the criteria hold between
    two successive cycle ends (brute force's stopping rule), at most `confirm_cycles` (at
    least one); the returned state is the last cycle end, and cells failing the per-cell
    criteria there are reported unsolved."""
    n = _check(state, cfg, area_m2, simulated)
    if jacobian not in ("cycle", "first_year"):
        raise SpinupError(f"jacobian must be 'cycle' or 'first_year', not {jacobian!r}")
    if jacobian_by not in ("differences", "jvp"):
        raise SpinupError(f"jacobian_by must be 'differences' or 'jvp', not {jacobian_by!r}")
    if method is None:       # the turnover preconditioner fails for MIMICS' microbial feedbacks
        method = "accelerated" if cfg.soil == "casa" else "newton"
    if method not in METHODS:
        raise SpinupError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if max_iter is None:
        max_iter = 150 if method == "accelerated" else 40
    if relax is None:       # a cycle of many years is itself a long relaxation
        relax = 2 if len(cycle) == 1 else 0
    if relax < 0:
        raise SpinupError(f"relax must not be negative, not {relax}")
    start = state        # where cells whose Newton solution is unstable restart from
    pre = None
    settling_checks = {"made": 0, "failed": 0} if settling_checks is None else settling_checks
    t_start = time.perf_counter()
    if presolve and len(cycle) > 1:
        state, pre = solve_periodic(state, [mean_year(cycle)], p, cfg, area_m2=area_m2,
                                    simulated=simulated,
                                    max_iter=max_iter, warm_cycles=warm_cycles, confirm_cycles=0,
                                    method=method, anderson_depth=anderson_depth,
                                    tight=tight, ctot_max=ctot_max, jacobian_every=jacobian_every,
                                    jacobian_by=jacobian_by, max_cycles=max_cycles, polish=False,
                                    settling_checks=settling_checks,
                                    progress=(lambda m: progress("presolve " + m)) if progress else None)
        warm_cycles = 0
    t0 = time.perf_counter()
    run = _Runner(cycle, p, cfg)
    L = len(cycle)
    nonneg = _nonneg_mask(cfg)
    x, phase = pack(state, cfg), jnp.asarray(state.phase)
    for _ in range(warm_cycles):
        x, phase = run.cycle_map(x, phase)
    history = []
    cols = moving_components(cfg)
    settle = np.isin(np.arange(x.shape[1]), settling_components(cfg))

    def exact(xt, ph, idx):
        return run.cycle_jacobian(xt, ph, cols=cols, idx=idx, by=jacobian_by)[2]

    def first_year(xt, ph, idx):
        # the first year's Jacobian raised to the cycle length (the exact one where asked for
        # or where the cycle is one year)
        if jacobian == "cycle" or L == 1:
            return exact(xt, ph, idx)
        return np.linalg.matrix_power(run.cycle_jacobian(xt, ph, years=1, cols=cols, idx=idx,
                                                         by=jacobian_by)[2], L)

    def ctot(xx, ph):
        return _ctot(xx, ph, p, cfg)

    if method == "accelerated":
        xc, phc, gc, phg, it, fallback, out_of_bounds = accelerated_fixed_point(
            run.cycle_survival, x, phase, ctot, area_m2=area_m2, simulated=simulated, nonneg=nonneg,
            precondition=preconditioned_components(cfg),
            settle=settle, depth=anderson_depth,
            max_iter=max_iter, tight=tight, extrapolate=polish, checks=settling_checks,
            progress=progress, history=history, deficit=deficit_components(cfg),
            modes=litter_soil_modes(p, cfg),
            years=lambda: round(run.forward_years, 3))
    elif method == "anderson":
        xc, phc, gc, phg, it, fallback, out_of_bounds = anderson_fixed_point(
            run.cycle_map, x, phase, ctot, simulated=simulated, nonneg=jnp.asarray(nonneg),
            area_m2=area_m2, depth=anderson_depth, max_iter=max_iter, tight=tight, ctot_max=ctot_max,
            merit_cols=slow_components(cfg), progress=progress, history=history,
            years=lambda: round(run.forward_years, 3))
    else:
        xc, phc, gc, phg, it, fallback, out_of_bounds = newton_fixed_point(
            first_year, run.cycle_map, x, phase, ctot, area_m2=area_m2, simulated=simulated,
            nonneg=nonneg, settle=settle,
            log=microbial_components(cfg), max_iter=max_iter, tight=tight, relax=relax,
            jacobian_every=jacobian_every, max_cycles=max_cycles, ctot_max=ctot_max, progress=progress,
            jacobian_late=exact if jacobian == "first_year" and L > 1 else None,
            # the fast pools reach the slow manifold within decades, whatever the cycle length
            round_cycles=-(-ROUND_YEARS // L),
            history=history, years=lambda: round(run.forward_years, 3))
    sim = np.asarray(simulated, bool)
    unstable = None
    if method == "newton" and polish:
        # every cell, those that plain cycles settled after Newton steps too: a population
        # that the steps cut to a trace regrows for several cycles before cTOT shows it
        unstable = unstable_fixed_points(first_year, xc, phc, sim)
        if unstable.any() and jacobian == "first_year" and L > 1:
            # the first year's Jacobian raised to the cycle length only approximates the
            # cycle's: the cells it flags are checked with the exact one (one pass of the
            # cycle per column, on those cells only)
            unstable = unstable_fixed_points(exact, xc, phc, unstable)
        if unstable.any():
            # brute force does not settle there: from their start these cells follow it
            # until they have stopped moving (`follow_merit`)
            u = np.flatnonzero(unstable)
            if progress is not None:
                progress(f"{len(u)} cells on an unstable fixed point follow plain cycles from their start")
            x0 = _put(xc, u, np.asarray(pack(start, cfg))[u])
            merit = follow_merit(settle | microbial_components(cfg), _scales(x0, sim))
            say = (lambda m: progress("unstable cells, " + m)) if progress else None
            # up to a quarter of the criteria's allowance may be left moving
            xc, phc, gc, phg, _ = follow_cycles(
                run.cycle_map, ctot, merit, x0, _put(phc, u, np.asarray(start.phase)[u]),
                unstable, max_cycles, allow=int(0.25 * LIMIT_FRACTION * sim.sum()),
                tail=slow_components(cfg), progress=say)
            fallback = fallback | unstable
    # confirmation: forward cycles from the image of the accepted point, stopped by brute
    # force's rule (the first cycle whose change meets the criteria): cells in N-limitation
    # limit cycles keep changing by 1-3 g m-2 per cycle around the steady state, so the share
    # of cells beyond 1 g m-2 fluctuates from one cycle to the next near the 2 % allowance
    prev = ctot(gc, phg)
    crit, resid = None, np.zeros(n)
    xk, phk = gc, phg
    for k in range(max(confirm_cycles, 1)):
        xk, phk = run.cycle_map(xk, phk)
        cur = ctot(xk, phk)
        crit = equilibrium_criteria(prev, cur, area_m2, simulated)
        resid = cur - prev
        unsolved = cells_failing(prev, cur, simulated)
        prev = cur
        history.append(dict(iteration="confirm", years=round(run.forward_years, 3), **crit.as_dict()))
        if progress is not None:
            progress(f"confirmation cycle {k + 1}: {crit.summary()}")
        if crit.passed:
            break
    if not run.year_times:      # every forward year so far included compilation: time one
        run.year(xk, phk, 0)
        run.forward_years -= 1
    wall = time.perf_counter() - t0
    year_s = run.year_s
    fy = run.forward_years
    if pre is not None:      # both stages and the mean year; cost in units of this cycle's forward year
        wall, fy, it = wall + (t0 - t_start), fy + pre.forward_years, it + pre.iterations
        # one count of model years over both stages (the log's time axis)
        history = [dict(h, stage="presolve") for h in pre.history] + [
            dict(h, years=round(h["years"] + pre.forward_years, 3)) for h in history]
        fallback = fallback | pre.fallback_cells
    rep = SpinReport(converged=bool(crit is not None and crit.passed), criteria=crit,
                     cycles=int(round(run.forward_years)) // L, iterations=it, forward_years=fy,
                     forward_equivalent_years=wall / year_s, wall_s=wall, year_s=year_s,
                     fallback_cells=fallback & sim,
                     unsolved_cells=(unsolved | out_of_bounds) & sim,
                     residual=np.asarray(resid), history=history, unstable_cells=unstable)
    return unpack(xk, phk, cfg), rep
