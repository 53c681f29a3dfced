"""The experiment of a run configuration: prespin, spin-up to the equilibrium criteria,
historical run and scenario continuation, for one or more model configurations.

Protocol (io_workflow.md §6, STEP 1-4): a prespin repeats one year's forcing from a cold start;
the spin-up repeats the forcing cycle (1901-1920) until the three equilibrium criteria hold
(CASA soil with brute force: an accelerated-decomposition stage, passive C and N x 10, then a
normal-rate stage); the historical run follows the calendar and a scenario continues from its
end state. Each phase ends with a NetCDF restart (`restart_<phase>.nc`, exact float64); the
spin-up also checkpoints every few cycles, so `resume` continues an interrupted run and gives
the identical result. Transient phases step all configurations through a year together, so
each year's forcing is made once.

The model runs through an executor (`executor.py`): in this process, or by chunks of cells on
dask.distributed workers, with identical results. The driver keeps the whole state between
cycles and years (~30 floats per cell) for the global equilibrium criteria, the checks and the
restarts; forcing is made where the chunk runs.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from . import __version__
from .config import CONFIGURATIONS, PHASES, Config
from .diagnostics import budget_outputs
from .errors import ConfigError, InputError, ModelError
from .executor import make_executor, select_device
from .init import cold_start, mimics_pools, restart_state
from .io.atomic import make_dir, write_text
from .io.checkpoint import read_restart, write_restart
from .model import ModelConfig, State, run_year, to_device, to_jax
from .params.casa import casa_cell_params, default_casa_table, read_casa_table
from .params.mimics import default_mimics_params, mimics_cell_params, read_mimics_params
from .sites import Sites
from .spinup.criteria import equilibrium_criteria, soil_carbon

log = logging.getLogger(__name__)

LOG_COLUMNS = ["stage", "cycle", "years", "global_soil_c_PgC", "delta_PgC", "frac_cells_gt_1g",
               "frac_cells_gt_0p1pct", "passed", "wall_s"]


# ---------------------------------------------------------------------------------------------
# Inputs: sites and a forcing source
# ---------------------------------------------------------------------------------------------

def subset_sites(sites: Sites, idx: np.ndarray, area_factor: float = 1.0) -> Sites:
    """The sites of cells `idx` (grid description unchanged). With every k-th cell kept, each
    stands for k cells (`area_factor` k), so global totals estimate those of all cells."""
    kw = {}
    for name, value in vars(sites).items():
        per_cell = isinstance(value, np.ndarray) and value.shape[:1] == (sites.n,) and \
            name not in ("grid_lon", "grid_lat")
        kw[name] = value[idx] if per_cell else value
    kw["landarea"] = kw["landarea"] * area_factor
    return Sites(**kw)


class ForcingSource:
    """Daily forcing by calendar year as float32 arrays (the precision of met files, so a run
    on the embedded world equals the same run on its exported met files). The model promotes
    them to float64."""

    sites: Sites
    description: str

    def year(self, y: int, cells: slice | None = None) -> dict:
        """Forcing of year `y` for the run's cells, or the part `cells` of them."""
        raise NotImplementedError

    def check_years(self, years) -> None:
        """InputError if the forcing lacks one of `years` (before the run writes anything)."""
        raise NotImplementedError


def needed_years(cfg: Config) -> list[int]:
    """The forcing years of the run's phases (no prespin nor spin-up from imported restarts)."""
    sp, years = cfg["spinup"], []
    if not cfg["inputs"]["casa_restart"]:
        years += [sp["prespin_year"]] if sp["prespin_years"] else []
        years += list(range(sp["cycle"][0], sp["cycle"][1] + 1))
    for phase in ("historical", "scenario"):
        if cfg[phase]["years"]:
            years += list(range(cfg[phase]["years"][0], cfg[phase]["years"][1] + 1))
    return years


class WorldSource(ForcingSource):
    def __init__(self, world, idx: np.ndarray):
        self.world, self.idx, self.full_sites = world, idx, world.sites
        self.sites = subset_sites(world.sites, idx, world.n / idx.size)
        self.description = f"embedded world {world.path} (seed {world.seed})"

    def check_years(self, years) -> None:
        for y in (min(years), max(years)) if years else ():
            self.world.check_year(y)

    def year(self, y: int, cells: slice | None = None) -> dict:
        f = self.world.forcing(y)
        return f.model_inputs(self.idx if cells is None else self.idx[cells], np.float32)


class FileSource(ForcingSource):
    """Reference-format inputs: gridinfo/soil/phenology files and one met file per year."""

    def __init__(self, sites: Sites, met_template: str, idx: np.ndarray):
        self.full_sites, self.template, self.idx = sites, met_template, idx
        self.sites = subset_sites(sites, idx, sites.n / idx.size)
        self.description = f"met files {met_template}"

    def _path(self, y: int) -> Path:
        return Path(self.template.replace("{year}", str(y)))

    def check_years(self, years) -> None:
        from .io.testbed import check_sites_match_met, read_met_grid

        for y in sorted(set(years)):
            if not self._path(y).exists():
                raise InputError(self._path(y), f"met file for year {y} not found")
        if years:   # the cells of the met files, checked on the first one
            first = self._path(min(years))
            check_sites_match_met(self.full_sites, read_met_grid(first), first)

    def year(self, y: int, cells: slice | None = None) -> dict:
        from .io.testbed import check_moisture_vs_soil, check_sites_match_met, read_met

        path = self._path(y)
        if not path.exists():
            raise InputError(path, f"met file for year {y} not found")
        forcing, grid = read_met(path)
        check_sites_match_met(self.full_sites, grid, path)
        check_moisture_vs_soil(self.full_sites, forcing, path)
        if forcing.nyears != 1:
            raise InputError(path, f"expected one year of daily forcing, found {forcing.nyears}")
        return forcing.model_inputs(self.idx if cells is None else self.idx[cells], np.float32)


def open_source(cfg: Config) -> ForcingSource:
    inp = cfg["inputs"]
    if inp["world"] == "files":
        from .io.testbed import read_sites

        sites = read_sites(cfg.resolve(inp["gridinfo"]), cfg.resolve(inp["soil"]),
                           cfg.resolve(inp["phenology"]))
        return FileSource(sites, str(cfg.resolve(inp["met"])), np.arange(sites.n)[::inp["cell_stride"]])
    from .world import load_world

    world = load_world(None if inp["world"] == "embedded" else cfg.resolve(inp["world"]), seed=inp["seed"])
    return WorldSource(world, np.arange(world.n)[::inp["cell_stride"]])


# Tasks on one chunk of cells (module functions: dask workers import them by name)

def _year_task(state, forcing, p, model, output: str | None = None):
    """One year; with `output` ("annual" or "daily") also the year's outputs (on the host)."""
    state, acc, ys = run_year(state, forcing, p, model, daily=output == "daily")
    if output is None:
        return state
    return state, jax.tree.map(np.asarray, ys if output == "daily" else acc)


def _solve_task(state, cycle: list, p, model, area, simulated, name: str | None):
    from .spinup.solver import solve_periodic

    def progress(msg):
        log.info("%s: %s", name, msg)
    return solve_periodic(jax.tree.map(jnp.asarray, state), cycle, p, model, area_m2=area,
                          simulated=simulated, progress=progress if name else None)


# ---------------------------------------------------------------------------------------------
# One model configuration ("member") of the run
# ---------------------------------------------------------------------------------------------

@dataclass
class Member:
    name: str                   # casa-c, casa-cn, mimics-c, mimics-cn
    model: ModelConfig
    p: dict                     # cell parameters (numpy)
    pj: dict                    # the same on the device
    p_ad: dict | None           # accelerated decomposition (CASA soil), on the device
    dir: Path
    table: object = None        # CASA PFT table (cold start)
    state: State | None = None
    phase_done: str = ""        # last completed phase
    residual: np.ndarray | None = None   # cTOT change over the last spin-up cycle, g C m-2
    info: dict = field(default_factory=dict)
    pc: list | None = None      # per-chunk handles of pj, p_ad (see executor.py)
    pc_ad: list | None = None
    mc: object = None           # the model configuration, shared with the chunks

    def restart(self, phase: str) -> Path:
        return self.dir / f"restart_{phase}.nc"


def build_members(cfg: Config, sites: Sites) -> list[Member]:
    inp, opt = cfg["inputs"], cfg["options"]
    table = default_casa_table() if inp["casa_params"] == "default" else \
        read_casa_table(cfg.resolve(inp["casa_params"]))
    members = []
    for name in cfg["run"]["configurations"]:
        soil, nitrogen = CONFIGURATIONS[name]
        mp = None
        if soil == "mimics":
            mp = default_mimics_params() if inp["mimics_params"] == "default" else \
                read_mimics_params(cfg.resolve(inp["mimics_params"]))
        model = ModelConfig(soil, nitrogen, mimics=mp, fix_plant_n_update=opt["fix_plant_n_update"],
                            fix_btran_floor=opt["fix_btran_floor"], fix_n_loss_branch=opt["fix_n_loss_branch"])
        p = casa_cell_params(table, sites, cumulative_roots=opt["cumulative_roots"])
        if mp is not None:
            p.update({f"mim_{k}": v for k, v in mimics_cell_params(mp, sites.pft, sites.clay).items()})
        p_ad = None
        if soil == "casa":
            p_ad = to_jax(dict(p, **casa_cell_params(table.accelerated(), sites,
                                                     cumulative_roots=opt["cumulative_roots"])))
        members.append(Member(name, model, p, to_jax(p), p_ad, cfg.output_dir / name, table))
    return members


def cold_state(m: Member, sites: Sites) -> State:
    st = cold_start(m.table, m.p, sites.phase0, m.model)
    if m.model.soil == "mimics":
        st = st._replace(mim=mimics_pools(m.p, m.model.mimics))
    return jax.tree.map(jnp.asarray, st)


def rescale_passive(state: State, factor: float, nitrogen: bool) -> State:
    """Passive soil C (and N, keeping its C:N) times `factor` after accelerated decomposition
    (io_workflow §6: the authors' hand edit of the AD restart)."""
    csoil = state.csoil.at[:, 2].multiply(factor)
    nsoil = state.nsoil.at[:, 2].multiply(factor) if nitrogen else state.nsoil
    return state._replace(csoil=csoil, nsoil=nsoil)


# Pools the model keeps non-negative; labile C and mineral N (CASA nsoilmin, MIMICS has none
# apart) may go negative, as in the reference.
NONNEGATIVE = ("cplant", "nplant", "clitter", "nlitter", "csoil", "nsoil", "mim")


def check_state(state: State, m: Member, where: str, sites: Sites | None = None, replay=None) -> None:
    """Stop with the configuration, cell and pool when the model produced a non-finite value or
    a negative value in a pool kept non-negative. `sites` names the cell's id and position;
    `replay() -> (state at the start of the year, the year's forcing[, its parameters])` lets
    the error also name the first bad day (the failing year is re-run, for the bad cells only,
    day by day)."""
    act = np.asarray(m.p["active"])
    for name, x in state._asdict().items():
        if x is None:
            continue
        leaves = x._asdict().items() if name == "mim" else [(name, x)]
        for nm, a in leaves:
            a = np.asarray(a).reshape(len(act), -1)
            nonfinite = ~np.isfinite(a).all(axis=1) & act
            negative = (a < 0).any(axis=1) & act if name in NONNEGATIVE else np.zeros_like(act)
            bad = nonfinite | negative
            if not bad.any():
                continue
            i = int(np.flatnonzero(bad)[0])
            what = "non-finite" if nonfinite[i] else "negative"
            cell = f"cell index {i}"
            if sites is not None:
                cell += (f" (id {int(sites.cellid[i])}, lat {float(sites.lat[i]):.2f}, "
                         f"lon {float(sites.lon[i]):.2f})")
            day = ""
            if replay is not None:
                d = _first_bad_day(m, np.flatnonzero(bad), *replay())
                day = f", first on day {d} of the year" if d is not None else ""
            raise ModelError(f"{m.name}: {what} {nm} in {cell} ({int(bad.sum())} cells) "
                             f"after {where}{day}")


def _first_bad_day(m: Member, cells: np.ndarray, state0: State, forcing: dict, pj: dict | None = None
                   ) -> int | None:
    """Day of the year (1-365) on which the first daily record of `cells` is non-finite or
    a daily pool output negative; None if the re-run shows none."""
    from .io.cfout import variables_for

    def take(a, axis):
        return None if a is None else jnp.take(jnp.asarray(a), jnp.asarray(cells), axis=axis)

    st = jax.tree.map(lambda a: take(a, 0), state0)
    f = {k: take(v, -1) for k, v in forcing.items()}
    p = {k: take(v, 0) for k, v in (m.pj if pj is None else pj).items()}
    _, _, ys = run_year(st, f, p, m.model, daily=True)
    ys = jax.tree.map(np.asarray, ys)
    bad = np.zeros(365, bool)
    for v in ys.values():
        bad |= ~np.isfinite(v.reshape(365, -1)).all(axis=1)
    pools = {k for v in variables_for(m.model.soil, m.model.nitrogen)
             if v.kind == "pool" and v.name not in ("nMineral", "DIN") for k in v.keys(m.model.soil)}
    for k in pools & set(ys):
        bad |= (ys[k].reshape(365, -1) < 0).any(axis=1)
    return int(np.argmax(bad)) + 1 if bad.any() else None


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------

class Run:
    def __init__(self, cfg: Config, *, resume: bool = False, quiet: bool = False):
        self.cfg, self.resume, self.quiet = cfg, resume, quiet
        select_device(cfg["compute"]["device"])     # before the first array
        self.out = cfg.output_dir
        self.source = open_source(cfg)
        self.source.check_years(needed_years(cfg))
        self.sites = self.source.sites
        self.members = build_members(cfg, self.sites)
        self.simulated = np.asarray(self.members[0].p["active"], bool)
        self.area = np.asarray(self.sites.landarea, np.float64)
        self.timings: dict = {}
        self.ex = make_executor(self.sites.n, cfg["compute"])
        for m in self.members:
            m.pc, m.mc = self.ex.split(m.pj), self.ex.share(m.model)
            m.pc_ad = self.ex.split(m.p_ad) if m.p_ad is not None else None

    def close(self) -> None:
        self.ex.close()

    # --- helpers -----------------------------------------------------------------------------
    def _forcing(self, y: int) -> list:
        """Year `y`'s forcing on the device of every chunk."""
        return self.ex.map(to_device, self.ex.forcing(self.source, y))

    def _years(self, m: Member, state: State, forcings, where: str, accelerated: bool = False):
        """Run `state` through the years of `forcings` (each per-chunk handles), yielding after
        each year (progress); the end state becomes `m.state`. Each year's state is checked
        (`check_state`: the error names the cell, pool, year and day)."""
        pc, pj = (m.pc_ad, m.p_ad) if accelerated else (m.pc, m.pj)
        st, after = self.ex.split(state), state
        for i, f in enumerate(forcings):
            st0, st = st, self.ex.map(_year_task, st, f, pc, m.mc)
            after = self.ex.gather(st)
            check_state(after, m, f"{where}, year {i + 1}", self.sites,
                        replay=lambda: (self.ex.gather(st0), self.ex.gather(f, axis=-1), pj))
            yield
        m.state = jax.tree.map(jnp.asarray, after)

    def _bar(self, total, desc):
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit="yr", disable=True if self.quiet else None,
                    dynamic_ncols=True, leave=False)

    def _attrs(self, m: Member, phase: str) -> dict:
        return {"title": f"bgctestbed {self.cfg['run']['name']}: {m.name} {phase}",
                "source": f"bgctestbed {__version__}", "configuration": m.name, "phase": phase,
                "soil_model": m.model.soil, "nitrogen": int(m.model.nitrogen),
                "inputs": self.source.description, "run_configuration": self.cfg.text}

    def _meta(self, m: Member, phase: str, **extra) -> dict:
        return dict(configuration=m.name, phase=phase, version=__version__, **extra)

    def _save(self, m: Member, phase: str, **extra) -> None:
        diag = None
        if m.residual is not None and phase == "spinup":
            diag = {"residual_ctot": (m.residual, "g m-2", "change of litter + soil C (cTOT) over the "
                                      "last spin-up cycle: the per-cell steady-state residual")}
        write_restart(m.restart(phase), m.state, self.sites.cellid, self._meta(m, phase, **extra), diag)
        if self.cfg["run"]["csv_restarts"]:    # readable by the reference code
            from .legacy import write_restarts

            write_restarts(m.dir / f"cnppool_{phase}.csv", m.dir / f"mimicspool_{phase}.csv", 0, self.sites,
                           m.state, m.p, m.model)

    def _import(self, m: Member) -> None:
        """State from reference restart CSVs (the spin-up of another code or an earlier run)."""
        from .io import testbed as tb

        inp = self.cfg["inputs"]
        path = self.cfg.resolve(inp["casa_restart"].replace("{configuration}", m.name))
        r = tb.read_casa_restart(path, self.source.full_sites.n, m.model.icycle)
        r = {k: v[self.source.idx] for k, v in r.items()}
        st = restart_state(r, m.table, m.p, self.sites.phase0, m.model)
        if m.model.soil == "mimics":
            if not inp["mimics_restart"]:
                raise ConfigError(f"{m.name}: inputs.mimics_restart is needed with inputs.casa_restart")
            mpath = self.cfg.resolve(inp["mimics_restart"].replace("{configuration}", m.name))
            pools = tb.read_mimics_restart(mpath, self.source.full_sites.n, m.model.nitrogen)
            st = st._replace(mim=mimics_pools(m.p, m.model.mimics,
                                              {k: v[self.source.idx] for k, v in pools.items()}))
        m.state = jax.tree.map(jnp.asarray, st)
        m.phase_done = "spinup"
        m.info["initial_state"] = str(path)

    def _load_done(self, m: Member) -> None:
        """With `resume`: the state after the last completed phase, if any."""
        for phase in reversed(PHASES):
            if m.restart(phase).exists():
                m.state, meta = read_restart(m.restart(phase), self.sites.cellid)
                m.state = jax.tree.map(jnp.asarray, m.state)
                m.phase_done = phase
                log.info("%s: resuming after %s", m.name, phase)
                return

    # --- phases ------------------------------------------------------------------------------
    def execute(self) -> None:
        make_dir(self.out)
        write_text(self.out / "config.toml", self.cfg.text)
        for m in self.members:
            make_dir(m.dir)
            if self.resume:
                for tmp in m.dir.glob(".*.tmp"):    # left by a killed process mid-write
                    tmp.unlink()
                self._load_done(m)
            if not m.phase_done and self.cfg["inputs"]["casa_restart"]:
                self._import(m)
        def todo(phase):
            return [m for m in self.members
                    if not m.phase_done or PHASES.index(phase) > PHASES.index(m.phase_done)]
        if todo("prespin"):
            self.prespin(todo("prespin"))
        if todo("spinup"):
            cycle = self._cycle_forcing()
            for m in todo("spinup"):
                self.spinup(m, cycle)
            del cycle
        h = self.cfg["historical"]["years"]
        if h and todo("historical"):
            self.transient(todo("historical"), "historical", h, self.cfg["historical"]["output"])
        s = self.cfg["scenario"]["years"]
        if s and todo("scenario"):
            self.transient(todo("scenario"), "scenario", s, self.cfg["scenario"]["output"])
        self._write_summary()
        if self.cfg["run"]["report"] and h:
            self.report()

    def prespin(self, members) -> None:
        sp = self.cfg["spinup"]
        n = sp["prespin_years"]
        t0 = time.perf_counter()
        f = self._forcing(sp["prespin_year"]) if n else None
        for m in members:
            with self._bar(n, f"{m.name} prespin {sp['prespin_year']}") as bar:
                for _ in self._years(m, cold_state(m, self.sites), [f] * n, "the prespin"):
                    bar.update()
            self._save(m, "prespin", years=n)
            m.phase_done = "prespin"
        self.timings["prespin_s"] = time.perf_counter() - t0

    def _cycle_forcing(self) -> list:
        """The spin-up cycle's forcing by year, each per-chunk handles of host float32 arrays
        (on the device one year at a time)."""
        y0, y1 = self.cfg["spinup"]["cycle"]
        t0 = time.perf_counter()
        years = []
        with self._bar(y1 - y0 + 1, "forcing cycle") as bar:
            for y in range(y0, y1 + 1):
                years.append(self.ex.forcing(self.source, y))
                bar.update()
        self.timings["cycle_forcing_s"] = time.perf_counter() - t0
        return years

    def spinup(self, m: Member, cycle) -> None:
        sp = self.cfg["spinup"]
        t0 = time.perf_counter()
        if sp["method"] == "solver" or (sp["method"] == "auto" and m.model.soil == "casa"):
            self._spin_solver(m, cycle)
        else:
            stages = ["accelerated", "normal"] if m.p_ad is not None and sp["accelerated"] else ["normal"]
            ck = m.dir / "checkpoint_spinup.nc"
            start_stage, start_cycle, rows = 0, 0, []
            if self.resume and ck.exists():
                m.state, meta = read_restart(ck, self.sites.cellid)
                m.state = jax.tree.map(jnp.asarray, m.state)
                at = (meta["stage_index"], meta["cycle"])
                order = {name: i for i, name in enumerate(stages)}
                # the log may hold cycles past the checkpoint: the run repeats them
                rows = [r for r in _read_log(m.dir / "spinup_log.csv")
                        if (order.get(r["stage"], -1), r["cycle"]) <= at]
                start_stage, start_cycle = (at[0] + 1, 0) if meta["stage_done"] else at
                log.info("%s: spin-up resumed after %s cycle %d", m.name, stages[at[0]], at[1])
            for si in range(start_stage, len(stages)):
                name = stages[si]
                first = start_cycle if si == start_stage else 0
                if name == "normal" and si > 0 and first == 0:
                    m.state = rescale_passive(m.state, sp["passive_factor"], m.model.nitrogen)
                self._brute_stage(m, cycle, name, si, first, rows, ck)
            ck.unlink(missing_ok=True)
        m.info["spinup_wall_s"] = time.perf_counter() - t0
        self._save(m, "spinup", **{k: v for k, v in m.info.items() if isinstance(v, (int, float, str, bool))})
        m.phase_done = "spinup"

    def _brute_stage(self, m, cycle, stage, si, first, rows, ck) -> None:
        sp = self.cfg["spinup"]
        ny = len(cycle)
        prev = soil_carbon(m.state, m.p)
        bar = self._bar(sp["max_cycles"] * ny, f"{m.name} spin-up ({stage})")
        bar.update(first * ny)
        t0 = time.perf_counter()
        k, crit = first, None
        try:
            while k < sp["max_cycles"]:
                for _ in self._years(m, m.state, cycle, f"spin-up cycle {k + 1}", stage == "accelerated"):
                    bar.update()
                k += 1
                cur = soil_carbon(m.state, m.p)
                crit = equilibrium_criteria(prev, cur, self.area, self.simulated)
                m.residual = np.where(self.simulated, cur - prev, 0.0)
                prev = cur
                rows.append(dict(stage=stage, cycle=k, years=k * ny, **_crit_cols(crit.as_dict()),
                                 wall_s=round(time.perf_counter() - t0, 3)))
                bar.set_postfix_str(crit.summary())
                done = crit.passed and k >= max(sp["min_cycles"], 1)
                if k % sp["checkpoint_every"] == 0 or done or k == sp["max_cycles"]:
                    write_restart(ck, m.state, self.sites.cellid, self._meta(
                        m, "spinup", stage_index=si, cycle=k, stage_done=done or k == sp["max_cycles"]))
                    _write_log(m.dir / "spinup_log.csv", rows)
                if done:
                    break
        finally:
            bar.close()
        m.info[f"{stage}_cycles"] = k
        m.info[f"{stage}_converged"] = bool(crit is not None and crit.passed)
        if not m.info[f"{stage}_converged"]:
            log.warning("%s: %s spin-up stopped after %d cycles without meeting the criteria (%s)",
                        m.name, stage, k, crit.summary() if crit else "no cycle run")

    def _spin_solver(self, m: Member, cycle) -> None:
        ex = self.ex
        if m.model.soil == "mimics":
            log.warning("%s: the steady-state solver is not proven for MIMICS (its equality with "
                        "brute force is measured on subsets of the world only; MIMICS-CN meets the "
                        "criteria only by a hair, if at all, and has second steady states; "
                        "docs/spinup.md); "
                        "prefer method = 'auto' or 'brute'", m.name)
        res = ex.map(_solve_task, ex.split(m.state), [[f[i] for f in cycle] for i in range(ex.nchunks)],
                     m.pc, m.mc, ex.split(self.area), ex.split(self.simulated), None if self.quiet else m.name)
        m.state = jax.tree.map(jnp.asarray, ex.gather(ex.pick(res, 0)))
        rep = self._merge_reports(m, ex.collect(ex.pick(res, 1)))
        m.residual = np.where(self.simulated, np.asarray(rep.residual, np.float64), 0.0)

        def stage(h):
            kind = ("confirmation" if h.get("iteration") == "confirm" else
                    "solver" if "iteration" in h else "cycle")
            if h.get("stage") == "presolve":
                kind = "presolve" + ("" if kind == "solver" else " " + kind)
            return kind + (f" chunk {h['chunk']}" if "chunk" in h else "")

        rows = [dict(stage=stage(h), cycle=i + 1, years=h.get("years", ""), **_crit_cols(h))
                for i, h in enumerate(rep.history)]
        if rep.criteria is not None and len(rep.history) and "chunk" in rep.history[-1]:
            rows.append(dict(stage="confirmation all chunks", cycle=len(rows) + 1, years=rep.forward_years,
                             **_crit_cols(rep.criteria.as_dict())))
        if rows:
            rows[-1]["wall_s"] = round(rep.wall_s, 3)
        _write_log(m.dir / "spinup_log.csv", rows)
        m.info.update(solver_converged=bool(rep.converged), solver_forward_years=float(rep.forward_years),
                      solver_forward_equivalent_years=float(rep.forward_equivalent_years),
                      solver_fallback_cells=int(np.sum(rep.fallback_cells)),
                      solver_unsolved_cells=int(np.sum(rep.unsolved_cells)),
                      solver_unstable_cells=0 if rep.unstable_cells is None else int(np.sum(rep.unstable_cells)))
        if not rep.converged:
            log.warning("%s: the solver did not meet the criteria (%s)", m.name,
                        rep.criteria.summary() if rep.criteria else "no confirmation")

    def _merge_reports(self, m: Member, reps: list):
        """One report of the solver runs on the chunks: the criteria over all cells, the
        chunks' histories one after the other (marked with their chunk)."""
        import dataclasses

        if len(reps) == 1:
            return reps[0]
        residual = np.concatenate([np.asarray(r.residual, np.float64) for r in reps])
        crit = None
        if all(r.criteria is not None for r in reps):
            cur = soil_carbon(m.state, m.p)
            crit = equilibrium_criteria(cur - residual, cur, self.area, self.simulated)
        unstable = None if reps[0].unstable_cells is None else np.concatenate([r.unstable_cells for r in reps])
        return dataclasses.replace(
            reps[0], converged=bool(crit is not None and crit.passed), criteria=crit, residual=residual,
            cycles=max(r.cycles for r in reps), iterations=max(r.iterations for r in reps),
            forward_years=max(r.forward_years for r in reps), wall_s=max(r.wall_s for r in reps),
            forward_equivalent_years=max(r.forward_equivalent_years for r in reps),
            fallback_cells=np.concatenate([r.fallback_cells for r in reps]),
            unsolved_cells=np.concatenate([r.unsolved_cells for r in reps]),
            unstable_cells=unstable,
            history=[dict(h, chunk=i) for i, r in enumerate(reps) for h in r.history])

    def transient(self, members, phase: str, years, output: str) -> None:
        from .io.cfout import CFWriter

        y0, y1 = years
        prev = "historical" if phase == "scenario" else "spinup"
        for m in members:
            if m.state is None:
                raise ConfigError(f"{m.name}: no state to start the {phase} run from")
        t0 = time.perf_counter()
        # outputs appear only when the whole phase has run (the writers rename on close)
        with contextlib.ExitStack() as stack, self._bar(y1 - y0 + 1, f"{phase} {y0}-{y1}") as bar:
            # budgets (annual outputs): the year's sums need the budget terms, the budget the
            # states before and after each year
            budgets = self.cfg["run"]["budgets"] and output == "annual"
            mcs = [self.ex.share(replace(m.model, budget_terms=True)) if budgets else m.mc for m in members]
            writers = [stack.enter_context(CFWriter(m.dir / f"{phase}_{output}.nc", self.sites, m.model,
                                                    frequency=output, attrs=self._attrs(m, phase),
                                                    budgets=budgets))
                       for m in members]
            states = [self.ex.split(m.state) for m in members]
            before = [m.state for m in members]       # each member's state at the start of the year
            for y in range(y0, y1 + 1):
                f = self._forcing(y)
                # every configuration's year is under way before the first outputs are written
                res = [self.ex.map(_year_task, st, f, m.pc, mc, output)
                       for m, st, mc in zip(members, states, mcs)]
                starts, states = states, [self.ex.pick(r, 0) for r in res]
                for k, (m, r, w) in enumerate(zip(members, res, writers)):
                    values = self.ex.gather(self.ex.pick(r, 1), axis=-1)
                    after = jax.tree.map(np.asarray, self.ex.gather(states[k]))
                    check_state(after, m, f"the {phase} run, year {y}", self.sites,
                                replay=lambda st0=starts[k]: (self.ex.gather(st0), self.ex.gather(f, axis=-1)))
                    if budgets:
                        values.update(budget_outputs(before[k], after, values, m.p, nitrogen=m.model.nitrogen))
                    before[k] = after
                    w.append(y, values)
                bar.update()
            for m, st in zip(members, before):     # the states after the last year, checked
                m.state = jax.tree.map(jnp.asarray, st)
        for m in members:
            self._save(m, phase, years=[y0, y1], previous=prev)
            m.phase_done = phase
        self.timings[f"{phase}_s"] = time.perf_counter() - t0

    def _write_summary(self) -> None:
        lines = [f"run {self.cfg['run']['name']}: {len(self.sites.cellid)} cells "
                 f"({int(self.simulated.sum())} simulated), {self.source.description}"]
        for k, v in self.timings.items():
            lines.append(f"{k} = {v:.1f}")
        for m in self.members:
            lines.append(f"[{m.name}] " + ", ".join(f"{k}={round(v, 2) if isinstance(v, float) else v}"
                                                    for k, v in m.info.items()))
        write_text(self.out / "summary.txt", "\n".join(lines) + "\n")

    def report(self) -> None:
        from .analysis.report import make_report

        logs = {m.name: m.dir / "spinup_log.csv" for m in self.members if (m.dir / "spinup_log.csv").exists()}
        make_report([m.dir for m in self.members], self.out / "report", convergence_logs=logs or None,
                    quiet=self.quiet)


def _crit_cols(c: dict) -> dict:
    """Log columns from `Criteria.as_dict()` (missing values stay empty)."""
    return dict(global_soil_c_PgC=c.get("global_c_PgC", ""), delta_PgC=c.get("delta_PgC", ""),
                frac_cells_gt_1g=c.get("frac_cells_gt_1g", ""),
                frac_cells_gt_0p1pct=c.get("frac_cells_gt_0p1pct", ""), passed=c.get("passed", ""))


def _write_log(path: Path, rows: list) -> None:
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, LOG_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text(path, buf.getvalue())


def _read_log(path: Path) -> list:
    if not path.exists():
        return []
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r["cycle"] = int(r["cycle"])
        r["passed"] = r["passed"] == "True"
    return rows


def run_config(cfg: Config, *, resume: bool = False, quiet: bool = False) -> Run:
    run = Run(cfg, resume=resume, quiet=quiet)
    try:
        run.execute()
    finally:
        run.close()
    return run
