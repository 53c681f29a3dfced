"""Spin-up to the periodic steady state: brute-force cycling and a per-cell Newton solver.

The steady state of a spin-up is the state x* that one forcing cycle maps onto itself,
G(x*) = x*, where G runs the model through the cycle's years (1 or 20). Brute force iterates
x <- G(x) until the equilibrium criteria (io_workflow.md §6) hold between successive cycle ends;
its cost is set by the slowest pool (passive / SOMp turnover, centuries to millennia).

`solve_periodic` solves G(x) - x = 0 directly. Cells never interact, so every cell has its own
small dense Jacobian (all continuous state variables of the cell, 11-37 of them) obtained in
forward mode: one pass of the cycle with a batch of unit tangents (`jax.vmap` of `jax.jvp`),
the primal computed once. The Newton step (J - I) dx = -(G(x) - x) is globalised per cell:
pools stay >= 0, a step is accepted only where it lowers the cell's scaled residual, otherwise
the step length is cut, and a cell that still fails falls back to one plain cycle (recorded in
`fallback_cells`). N limitation and the clamps at zero make G only piecewise smooth, which is
why plain Newton alone is not enough for the C+N configurations. When the criteria hold at the
current point, confirmation cycles are run forward and the criteria are evaluated between
successive cycle ends, exactly as for brute force.

All functions are pure: forcing arrives as a sequence of yearly dicts, progress as a callback.
Units follow the model state: C in g C m-2, N in g N m-2, MIMICS pools in mg cm-3.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import BgcError
from ..model import ModelConfig, State, _year
from ..physics.mimics import MimicsPools
from .criteria import (LIMIT_FRACTION, LIMIT_GLOBAL_PGC, Criteria, cell_limit, cells_failing,
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


class SpinupError(BgcError):
    """Inconsistent spin-up input (cycle, state or masks)."""


@dataclass
class SpinReport:
    """Outcome of a spin-up.

    converged: the equilibrium criteria hold between the last two cycle ends.
    criteria: the last `Criteria`. cycles: forcing cycles run forward (brute force: all;
    solver: plain + confirmation cycles); iterations: Newton iterations (0 for brute force).
    forward_years: model years run forward (a Jacobian pass counts its years once).
    forward_equivalent_years: wall_s divided by the measured wall time of one forward year
    on the same grid (all costs included: tangents, solves, compilation).
    fallback_cells: cells where a solver step was rejected and plain cycles were used.
    unsolved_cells: cells still failing the per-cell criteria at the end (no steady state
    found within physical bounds, e.g. pools growing without bound).
    residual: per-cell cTOT change over the last cycle (g C m-2).
    history: per-iteration/cycle records for logging.
    """

    converged: bool
    criteria: Criteria | None
    cycles: int
    iterations: int
    forward_years: int
    forward_equivalent_years: float
    wall_s: float
    year_s: float
    fallback_cells: np.ndarray
    unsolved_cells: np.ndarray
    residual: np.ndarray
    history: list = field(default_factory=list)

    def summary(self) -> str:
        c = self.criteria.summary() if self.criteria is not None else "no criteria"
        return (f"{'converged' if self.converged else 'NOT converged'} after {self.iterations} "
                f"iterations, {self.cycles} cycles, {self.forward_years} forward years, "
                f"{self.forward_equivalent_years:.1f} forward-equivalent years ({self.wall_s:.1f} s); "
                f"fallback cells {int(self.fallback_cells.sum())}, unsolved "
                f"{int(self.unsolved_cells.sum())}; {c}")


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


# Slow variables solved by Newton (litter and soil pools, C and N); the others (vegetation,
# labile C, mineral N, LAI, NPP memory) forget their initial values within a cycle and are
# slaved to them: their Newton update is the cycle's output plus its linear response.
_SLOW = {"clitter", "nlitter", "csoil", "nsoil"} | set(MimicsPools._fields)


def slow_components(cfg: ModelConfig) -> np.ndarray:
    """Indices of the packed components that Newton solves for (`newton_vars="soil"`)."""
    return np.concatenate([np.arange(w) + i for (name, w, _), i in
                           zip(state_fields(cfg), np.cumsum([0] + [w for _, w, _ in state_fields(cfg)]))
                           if name in _SLOW])


def moving_components(cfg: ModelConfig) -> np.ndarray:
    """Indices of the packed components the model changes in this configuration; the
    others (C-only: litter/soil/mineral N and MIMICS N; MIMICS: the CASA litter and soil
    pools it does not use) need no tangents."""
    frozen = set()
    if not cfg.nitrogen:
        frozen |= {("nlitter", i) for i in range(3)} | {("nsoil", i) for i in range(3)}
        frozen |= {("nsoilmin", 0)} | {(k, 0) for k in MimicsPools._fields if k.endswith("N")}
    if cfg.soil == "mimics":
        frozen |= {("csoil", i) for i in range(3)} | {("nsoil", i) for i in range(3)}
        frozen |= {("clitter", 0), ("clitter", 1), ("nlitter", 0), ("nlitter", 1)}
    idx = [(name, i) for name, w, _ in state_fields(cfg) for i in range(w)]
    return np.array([j for j, key in enumerate(idx) if key not in frozen])


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


def _as_jax_forcing(f: dict) -> dict:
    return {k: jnp.asarray(v, jnp.float64) for k, v in f.items()}


class _Runner:
    """Runs years of the cycle, counts them and measures the cost of one forward year."""

    def __init__(self, cycle, p, cfg):
        if len(cycle) < 1:
            raise SpinupError("the forcing cycle has no years")
        self.cycle, self.p, self.cfg = cycle, p, cfg
        self.forward_years = 0
        self.year_times: list[float] = []
        self._calls = 0
        # keep converted forcing on the device when the whole cycle is small (<~1.5 GB)
        n = int(np.shape(p["active"])[0])
        self._cache = {} if n * len(cycle) <= 20000 else None

    def forcing(self, k):
        if self._cache is None:
            return _as_jax_forcing(self.cycle[k])
        if k not in self._cache:
            self._cache[k] = _as_jax_forcing(self.cycle[k])
        return self._cache[k]

    def year(self, x, phase, k):
        t0 = time.perf_counter()
        y, ph = _year_x(x, phase, self.forcing(k), self.p, self.cfg)
        y.block_until_ready()
        dt = time.perf_counter() - t0
        self._calls += 1
        if self._calls > 1:          # the first call compiles
            self.year_times.append(dt)
        self.forward_years += 1
        return y, ph

    def cycle_map(self, x, phase):
        for k in range(len(self.cycle)):
            x, phase = self.year(x, phase, k)
        return x, phase

    def cycle_jacobian(self, x, phase, years=None, cols=None):
        """G(x) and the per-cell Jacobian (n, d, d) of the first `years` years of the cycle
        (all of it by default); the remaining years run forward without tangents. Only the
        columns `cols` (input components) are computed, the others are zero."""
        n, d = x.shape
        years = len(self.cycle) if years is None else years
        cols = np.arange(d) if cols is None else np.asarray(cols)
        t = jnp.broadcast_to(jnp.eye(d)[cols][:, None, :], (len(cols), n, d))
        for k in range(years):
            x, t, phase = _year_jvp(x, t, phase, self.forcing(k), self.p, self.cfg)
            self.forward_years += 1
        jac = jnp.zeros((n, d, d)).at[:, :, cols].set(jnp.transpose(t, (1, 2, 0)))  # [cell, out, in]
        for k in range(years, len(self.cycle)):
            x, phase = self.year(x, phase, k)
        return x, phase, jac

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


def _cell_norm(r, x, g, scale, cols=None):
    """Scaled norm per cell: |r| relative to the component's size (RMS over `cols`)."""
    r, x, g = np.asarray(r), np.asarray(x), np.asarray(g)
    if cols is not None:
        r, x, g, scale = r[:, cols], x[:, cols], g[:, cols], scale[cols]
    return np.sqrt(np.mean((r / (np.abs(x) + np.abs(g) + scale)) ** 2, axis=1))


@jax.jit
def _newton_step(jac, r):
    """Solve (J - I) dx = -r per cell. Rows of J - I that vanish (variables the map leaves
    unchanged: C-only N pools, CASA pools under MIMICS, ice cells) get -1 on the diagonal, so
    their step is r = 0; where such a variable changes anyway the cell gets NaN (no fixed
    point)."""
    d = jac.shape[-1]
    a = jac - jnp.eye(d)
    dead = jnp.max(jnp.abs(a), axis=-1) < 1e-13
    a = a - jnp.where(dead[..., None], jnp.eye(d), 0.0)
    dx = jnp.linalg.solve(a, -r[..., None])[..., 0]
    # a variable the map only shifts (no dependence on the state, non-zero change) grows
    # without bound: no fixed point
    growing = jnp.any(dead & (r != 0.0), axis=-1)
    return jnp.where(growing[..., None], jnp.nan, dx)


def newton_fixed_point(evaluate, x, phase, ctot, *, area_m2, simulated, nonneg, max_iter=30,
                       tight=0.1, ctot_max=CTOT_MAX, merit_cols=None, progress=None, history=None,
                       years=lambda: 0, cycle_map=None, jacobian_every=1):
    """Per-cell globalised Newton iteration for G(x) = x.

    `evaluate(x, phase) -> (G(x), phase', J)` with x (n, d) and J (n, d, d) the per-cell
    Jacobian of G; `ctot(x, phase)`: cTOT per cell (g C m-2), linear in x; `nonneg`: (d,) mask
    of components kept >= 0; `merit_cols`: components whose scaled Newton correction judges
    a step (all by default); `jacobian_every` k > 1: chord iterations, the Jacobian is
    renewed every k-th iteration and `cycle_map(x, phase) -> (G(x), phase')` evaluates the
    others. Returns (x, phase, G(x), phase', iterations, fallback mask,
    out-of-bounds mask)."""
    n = x.shape[0]
    if jacobian_every > 1 and cycle_map is None:
        raise SpinupError("chord iterations (jacobian_every > 1) need the plain cycle map")
    sim = np.asarray(simulated, bool)
    act = sim
    scale = _scales(x, sim)
    history = [] if history is None else history
    nonneg = jnp.asarray(nonneg)
    # Current accepted point per cell, its image, Jacobian and Newton correction. Steps are
    # judged by the natural monotonicity test (the simplified Newton correction at the trial,
    # with the current Jacobian, must shrink): it weighs the slow soil directions that set the
    # distance to the steady state, where a plain residual norm is dominated by fast
    # vegetation pools that fluctuate with N limitation.
    xc, phc = x, phase
    gc, phg, jc = evaluate(xc, phc)
    dxc = _newton_step(jc, gc - xc)
    lam = np.ones(n)
    plain_next = np.zeros(n, bool)
    fallback = np.zeros(n, bool)
    out_of_bounds = np.zeros(n, bool)
    not_tight = []
    it = 0
    for it in range(1, max_iter + 1):
        bad = ~np.all(np.isfinite(np.asarray(dxc)), axis=1)
        dxc = jnp.where(jnp.asarray(bad)[:, None], 0.0, dxc)
        cx, cg = ctot(xc, phc), ctot(gc, phg)
        d = np.abs(cg - cx)
        dist = np.abs(ctot(dxc, phc))       # predicted distance to the steady state
        # a cell counts for both criteria: within 1 g m-2 and within 0.1 % (times `tight`)
        lim = tight * cell_limit(cx)
        tight_ok = ~sim | ((d <= lim) & (dist <= lim))
        fc = _cell_norm(dxc, xc, xc, scale, merit_cols)
        rc = _cell_norm(gc - xc, xc, gc, scale, merit_cols)
        crit = equilibrium_criteria(cx, cg, area_m2, simulated)
        history.append(dict(iteration=it - 1, years=years(),
                            max_correction=float(np.max(fc[act], initial=0)),
                            cells_not_tight=int((~tight_ok).sum()), **crit.as_dict()))
        if progress is not None:
            progress(f"iteration {it - 1}: {crit.summary()}, {int((~tight_ok).sum())} cells not yet "
                     f"within {tight:g} x criteria, max scaled Newton correction "
                     f"{np.max(fc[act], initial=0):.2e}")
        lim1 = cell_limit(cx)
        loose_ok = ~sim | ((d <= lim1) & (dist <= lim1))
        not_tight.append(int((~(tight_ok | out_of_bounds)).sum()))
        # done: the criteria hold with margin (a share of cells may fail, as in the criteria)
        nsim = max(int(sim.sum()), 1)
        if (abs(crit.delta_PgC) < 0.5 * LIMIT_GLOBAL_PGC
                and (np.sum(~tight_ok & ~out_of_bounds) < 0.5 * LIMIT_FRACTION * nsim
                     or np.sum(~loose_ok & ~out_of_bounds) < 0.5 * LIMIT_FRACTION * nsim)):
            break
        # stalled (piecewise-smooth cells hovering near the tight goal) but within the criteria
        if (np.sum(~loose_ok & ~out_of_bounds) < LIMIT_FRACTION * nsim and len(not_tight) > 4
                and min(not_tight[-4:]) >= not_tight[-5] and abs(crit.delta_PgC) < LIMIT_GLOBAL_PGC):
            break
        step = xc + jnp.asarray(lam)[:, None] * dxc
        step = jnp.where(nonneg, jnp.maximum(step, 0.0), step)
        # a Newton target beyond physical bounds: no steady state in reach, cycle instead
        ct = ctot(xc + dxc, phc)
        oob = sim & (bad | ~(np.isfinite(ct) & (ct < ctot_max)))
        out_of_bounds |= oob
        use_plain = plain_next | oob | tight_ok   # converged cells just follow the cycle
        trial = jnp.where(jnp.asarray(use_plain)[:, None], gc, step)
        trial_ph = jnp.where(jnp.asarray(use_plain), phg, phc)
        # chord iterations: a fresh Jacobian only every `jacobian_every` iterations
        fresh = (it % jacobian_every) == 0
        gt, pht, jt = evaluate(trial, trial_ph) if fresh else (*cycle_map(trial, trial_ph), None)
        dxbar = _newton_step(jc, gt - trial)
        fbar = _cell_norm(dxbar, trial, trial, scale, merit_cols)
        ok = np.all(np.isfinite(np.asarray(dxbar)), axis=1)
        rt = _cell_norm(gt - trial, trial, gt, scale, merit_cols)
        # progress: the Newton correction shrinks, or (piecewise-smooth N limitation makes the
        # correction jump) the residual of the slow pools or the cycle's cTOT change does
        dt = np.abs(ctot(gt, pht) - ctot(trial, trial_ph))
        shrink = 1.0 - 0.25 * lam
        accept = use_plain | (ok & ((fbar < shrink * fc) | (rt < shrink * rc) | (dt < shrink * d)))
        a2 = jnp.asarray(accept)
        xc = jnp.where(a2[:, None], trial, xc)
        phc = jnp.where(a2, trial_ph, phc)
        gc = jnp.where(a2[:, None], gt, gc)
        phg = jnp.where(a2, pht, phg)
        if jt is not None:
            jc = jnp.where(a2[:, None, None], jt, jc)
        dxc = _newton_step(jc, gc - xc)
        fallback |= plain_next & ~tight_ok
        lam = np.where(accept, np.minimum(1.0, 2.0 * lam), 0.25 * lam)
        # after repeated rejections: one plain cycle, then Newton again from there
        plain_next = (~accept) & (lam < 1.0 / 20.0)
        lam = np.where(plain_next, 1.0, lam)
    return xc, phc, gc, phg, it, fallback, out_of_bounds


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
            # least squares min |f - dF^T gamma| per cell, Tikhonov-regularised
            A = np.einsum("nik,njk->nij", dF, dF)
            b = np.einsum("nik,nk->ni", dF, F[:, -1][:, cols])
            A = A + 1e-10 * np.trace(A, axis1=1, axis2=2)[:, None, None] * np.eye(m) + 1e-300 * np.eye(m)
            try:
                gam = np.linalg.solve(A, b[..., None])[..., 0]
            except np.linalg.LinAlgError:
                gam = np.zeros((n, m))
            gam = np.where(np.isfinite(gam), gam, 0.0)
            nxt = gn - np.einsum("ni,nid->nd", gam, dG)
        nxt = np.where(nonneg, np.maximum(nxt, 0.0), nxt)
        ct = ctot(jnp.asarray(nxt), phg)
        bad = sim & ~(np.isfinite(ct) & (ct < ctot_max))
        oob |= bad
        nxt = np.where((bad | ~sim | tight_ok)[:, None], gn, nxt)
        xk, phk = jnp.asarray(nxt), phg
    return xk, phk, gk, phg, it, restarted, oob


def solve_periodic(state: State, cycle: Sequence[dict], p: dict, cfg: ModelConfig, *, area_m2,
                   simulated, max_iter: int = 30, warm_cycles: int = 1, confirm_cycles: int = 1,
                   method: str = "newton", jacobian: str = "cycle", newton_vars: str = "all",
                   anderson_depth: int = 5, tight: float = 0.5, ctot_max: float = CTOT_MAX,
                   presolve: bool = False, jacobian_every: int = 1,
                   progress: Callable[[str], None] | None = None) -> tuple[State, SpinReport]:
    """Find the state that reproduces itself after one forcing cycle, then confirm it.

    `warm_cycles` plain cycles first (vegetation and fast pools leave the cold start; the
    phenology phase becomes periodic). Each Newton iteration runs the cycle once with tangents
    (`jacobian="cycle"`: exact per-cell Jacobian of the cycle map; `"first_year"`: Jacobian
    of the first year only, raised to the cycle length, the rest of the cycle run plainly -
    cheaper for 20-year cycles). `newton_vars="soil"`: Newton solves for the litter and soil
    pools only (tangents for those components; vegetation, mineral N and the other fast
    variables follow the cycle with their linear response), `"all"` (default): every
    component. Iterations stop when the criteria hold with margin between the current point
    and its image (global change below half the limit, and fewer than 1 % of the simulated
    cells change by more than `tight` times the per-cell limits, or by more than the limits
    themselves), when progress stalls within the criteria, or after `max_iter`; then
    `confirm_cycles` plain cycles run and the criteria are evaluated between the last two
    cycle ends (the returned state is the last cycle end).

    `presolve` (cycles of more than one year): first solve the steady state of the first
    year repeated (cheap iterations of one year), then iterate on the whole cycle from it;
    the report adds both stages' costs. `jacobian_every` k > 1: chord iterations (the
    Jacobian is renewed every k-th iteration, the others cost one plain cycle)."""
    n = _check(state, cfg, area_m2, simulated)
    pre = None
    if presolve and len(cycle) > 1:
        state, pre = solve_periodic(state, [cycle[0]], p, cfg, area_m2=area_m2, simulated=simulated,
                                    max_iter=max_iter, warm_cycles=warm_cycles, confirm_cycles=0,
                                    method=method, jacobian="cycle", newton_vars=newton_vars,
                                    anderson_depth=anderson_depth, tight=tight, ctot_max=ctot_max,
                                    jacobian_every=jacobian_every, progress=(lambda m: progress("presolve " + m)) if progress else None)
        warm_cycles = 0
    if jacobian not in ("cycle", "first_year"):
        raise SpinupError(f"jacobian must be 'cycle' or 'first_year', not {jacobian!r}")
    t0 = time.perf_counter()
    sim = np.asarray(simulated, bool)
    run = _Runner(cycle, p, cfg)
    L = len(cycle)
    nonneg = jnp.asarray(_nonneg_mask(cfg))
    x, phase = pack(state, cfg), jnp.asarray(state.phase)
    for _ in range(warm_cycles):
        x, phase = run.cycle_map(x, phase)
    history = []

    if newton_vars not in ("soil", "all"):
        raise SpinupError(f"newton_vars must be 'soil' or 'all', not {newton_vars!r}")
    cols = moving_components(cfg)
    if newton_vars == "soil":
        cols = np.intersect1d(cols, slow_components(cfg))

    def evaluate(xt, ph):
        if jacobian == "cycle":
            g, ph2, jac = run.cycle_jacobian(xt, ph, cols=cols)
        else:
            g, ph2, j1 = run.cycle_jacobian(xt, ph, years=1, cols=cols)
            jac = jnp.linalg.matrix_power(j1, L) if L > 1 else j1
        return g, ph2, jac

    if method == "anderson":
        xc, phc, gc, phg, it, fallback, out_of_bounds = anderson_fixed_point(
            run.cycle_map, x, phase, lambda xx, ph: _ctot(xx, ph, p, cfg), simulated=simulated,
            nonneg=nonneg, area_m2=area_m2, depth=anderson_depth, max_iter=max_iter, tight=tight,
            ctot_max=ctot_max, merit_cols=slow_components(cfg), progress=progress,
            history=history, years=lambda: run.forward_years)
    elif method == "newton":
        xc, phc, gc, phg, it, fallback, out_of_bounds = newton_fixed_point(
            evaluate, x, phase, lambda xx, ph: _ctot(xx, ph, p, cfg), area_m2=area_m2,
            simulated=simulated, nonneg=nonneg, max_iter=max_iter, tight=tight, ctot_max=ctot_max,
            merit_cols=slow_components(cfg), progress=progress, history=history,
            years=lambda: run.forward_years, cycle_map=run.cycle_map, jacobian_every=jacobian_every)
    else:
        raise SpinupError(f"method must be 'newton' or 'anderson', not {method!r}")
    # confirmation: forward cycles from the image of the accepted point
    prev_x, prev_ph = gc, phg
    prev = _ctot(prev_x, prev_ph, p, cfg)
    crit, resid = None, np.zeros(n)
    xk, phk = prev_x, prev_ph
    for _ in range(max(confirm_cycles, 1)):
        xk, phk = run.cycle_map(xk, phk)
        cur = _ctot(xk, phk, p, cfg)
        crit = equilibrium_criteria(prev, cur, area_m2, simulated)
        resid = cur - prev
        unsolved = cells_failing(prev, cur, simulated)
        prev = cur
    if not run.year_times:      # every forward year so far included compilation: time one
        run.year(xk, phk, 0)
        run.forward_years -= 1
    history.append(dict(iteration="confirm", years=run.forward_years, **crit.as_dict()))
    if progress is not None:
        progress(f"confirmation cycle: {crit.summary()}")
    wall = time.perf_counter() - t0
    year_s = run.year_s
    fy = run.forward_years
    if pre is not None:      # both stages; cost in units of this cycle's forward year
        wall, fy, it = wall + pre.wall_s, fy + pre.forward_years, it + pre.iterations
        history = [dict(h, stage="presolve") for h in pre.history] + history
        fallback = fallback | pre.fallback_cells
    rep = SpinReport(converged=crit.passed, criteria=crit, cycles=run.forward_years // L,
                     iterations=it, forward_years=fy,
                     forward_equivalent_years=wall / year_s, wall_s=wall, year_s=year_s,
                     fallback_cells=fallback & sim, unsolved_cells=(unsolved | out_of_bounds) & sim,
                     residual=np.asarray(resid), history=history)
    return unpack(xk, phk, cfg), rep
