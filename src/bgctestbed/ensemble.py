"""Parameter ensembles and parameter gradients of one model configuration.

`bgctestbed ensemble RUN.toml --param NAME=v1,v2,... | --samples FILE.csv` runs every parameter
set at once (`jax.vmap` over the ensemble axis; only the perturbed parameters are batched) and
writes one NetCDF file with an `ensemble` dimension. `--gradient NAMES` gives the derivative of
the global litter + soil C (cTOT, the spin-up's stock) at the end of the run with respect to
the parameters (`jax.grad` through the daily `lax.scan`, float64).

Parameter values are MULTIPLIERS of the configuration's own values (1 = unchanged): the MIMICS
ones scale all six channels (r1, r2, r3, k1, k2, k3) of the MIMICS parameter file, the CASA ones
the per-PFT values of every cell. See `PARAMETERS` and docs/ensembles.md.
"""

from __future__ import annotations

import csv
import datetime as _dt
import itertools
import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from . import __version__
from .config import CONFIGURATIONS, Config
from .errors import ConfigError, InputError
from .executor import select_device
from .io.atomic import atomic_path
from .io.cfout import CALENDAR, DAYS_PER_YEAR, EPOCH_YEAR, TIME_UNITS, VARIABLES, compute
from .io.checkpoint import read_restart
from .model import ModelConfig, run_year
from .physics.mimics import CELL_KINETICS
from .spinup.criteria import G_PER_PG, soil_carbon
from .workflow import build_members, cold_state, open_source, to_device


# ---------------------------------------------------------------------------------------------
# Perturbable parameters
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    name: str
    soil: str | None        # the soil model it acts in ("casa", "mimics"), None: both
    key: str                # the cell-parameter entry it scales
    help: str


_MIMICS_HELP = {"Vslope": "slope of ln(Vmax) vs soil temperature", "Vint": "intercept of ln(Vmax)",
                "av": "Vmax tuning coefficient", "Kslope": "slope of ln(Km) vs soil temperature",
                "Kint": "intercept of ln(Km)", "ak": "Km tuning coefficient"}

PARAMETERS: dict[str, Param] = {
    **{k: Param(k, "mimics", f"mim_{k}", f"MIMICS {_MIMICS_HELP[k]} (all six channels)") for k in CELL_KINETICS},
    "q10soil": Param("q10soil", None, "q10soil", "CASA Q10 of litter and soil decomposition (in MIMICS runs: "
                     "of coarse woody debris decay)"),
    "litterrate": Param("litterrate", None, "litterrate_3", "CASA litter turnover rates: metabolic, "
                        "structural, CWD (in MIMICS runs: CWD decay only)"),
    "soilrate": Param("soilrate", "casa", "soilrate_3", "CASA soil turnover rates: microbial, slow, passive"),
}

OUTPUTS = ("gpp", "npp", "rh", "cVeg", "cLitter", "cSoil", "cMIC")


def check_names(names, model: ModelConfig) -> None:
    for name in names:
        if name not in PARAMETERS:
            raise ConfigError(f"unknown ensemble parameter {name!r} (known: {', '.join(PARAMETERS)})")
        soil = PARAMETERS[name].soil
        if soil is not None and soil != model.soil:
            raise ConfigError(f"parameter {name!r} applies to {soil.upper()} soil only, not to this "
                              f"{model.soil.upper()} configuration (choose one with --configuration)")
    if len(set(names)) != len(names):
        raise ConfigError(f"parameter {next(n for n in names if names.count(n) > 1)!r} given twice")


def check_value(name: str, v: float) -> float:
    if not (math.isfinite(v) and v > 0.0):
        raise ConfigError(f"parameter {name!r}: multiplier must be a positive finite number, not {v!r}")
    return v


def perturb(p: dict, model: ModelConfig, names: tuple, x) -> dict:
    """Cell parameters `p` with parameter `names[j]` multiplied by `x[j]` (jax-traceable)."""
    q = dict(p)
    n = p["active"].shape[0]
    for j, name in enumerate(names):
        par = PARAMETERS[name]
        if par.soil == "mimics":     # a MIMICS constant becomes a per-cell array
            q[par.key] = jnp.broadcast_to(jnp.asarray(getattr(model.mimics, name)) * x[j], (n, 6))
        else:
            q[par.key] = p[par.key] * x[j]
    return q


# ---------------------------------------------------------------------------------------------
# Parameter sets from the command line or a CSV file
# ---------------------------------------------------------------------------------------------

def _number(name: str, s: str, where: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise ConfigError(f"{where}parameter {name!r}: not a number: {s.strip()!r}") from None
    try:
        return check_value(name, v)
    except ConfigError as exc:
        raise ConfigError(where + str(exc)) from None


def parse_params(specs: list[str]) -> tuple[tuple, np.ndarray]:
    """`NAME=v1,v2,...` options -> (names, members x names multipliers): every combination."""
    names, values = [], []
    for spec in specs:
        name, sep, vals = spec.partition("=")
        name = name.strip()
        if not sep or not name or not vals.strip():
            raise ConfigError(f"--param {spec!r}: expected NAME=v1,v2,...")
        names.append(name)
        values.append([_number(name, v, "") for v in vals.split(",")])
    if not names:
        return (), np.empty((0, 0))
    return tuple(names), np.array(list(itertools.product(*values)), np.float64)


def read_samples(path) -> tuple[tuple, np.ndarray]:
    """A CSV file: a header of parameter names, then one row of multipliers per member."""
    path = Path(path)
    try:
        with path.open(newline="") as fh:
            rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    except OSError as exc:
        raise InputError(path, f"cannot read samples: {exc.strerror}") from None
    if len(rows) < 2:
        raise InputError(path, "expected a header of parameter names and at least one row of values")
    names = tuple(c.strip() for c in rows[0])
    x = np.empty((len(rows) - 1, len(names)))
    for i, row in enumerate(rows[1:]):
        if len(row) != len(names):
            raise InputError(path, f"{len(row)} values for {len(names)} parameters", line=i + 2)
        for j, (name, s) in enumerate(zip(names, row)):
            try:
                x[i, j] = _number(name, s, "")
            except ConfigError as exc:
                raise InputError(path, str(exc), line=i + 2) from None
    return names, x


# ---------------------------------------------------------------------------------------------
# The ensemble
# ---------------------------------------------------------------------------------------------

@partial(jax.jit, static_argnums=(3, 4))
def _ensemble_year(states, forcing, p, model, names, x):
    def one(state, xm):
        state, acc, _ = run_year(state, forcing, perturb(p, model, names, xm), model)
        return state, acc
    return jax.vmap(one)(states, x)


class Ensemble:
    """One model configuration of a run configuration, on the run's cells and forcing, started
    from the run's spin-up restart (`<output_dir>/<configuration>/restart_spinup.nc`) when there
    is one, else from a cold start and `prespin_years` (default: the configuration's) of prespin."""

    def __init__(self, cfg: Config, configuration: str | None = None, *, prespin_years: int | None = None):
        name = configuration or cfg["run"]["configurations"][0]
        if name not in CONFIGURATIONS:
            raise ConfigError(f"unknown configuration {name!r} (one of {', '.join(CONFIGURATIONS)})")
        select_device(cfg["compute"]["device"])
        self.cfg = cfg
        self.source = open_source(cfg)
        self.sites = self.source.sites
        one = Config({**cfg, "run": {**cfg["run"], "configurations": [name]}}, cfg.path, cfg.text)
        one.base = cfg.base
        self.member = m = build_members(one, self.sites)[0]
        self.model, self.p = m.model, m.pj
        self.area = jnp.asarray(self.sites.landarea, jnp.float64)
        self.simulated = jnp.asarray(m.p["active"], bool)
        restart = m.restart("spinup")
        if restart.exists():
            state, _ = read_restart(restart, self.sites.cellid)
            self.state0 = jax.tree.map(jnp.asarray, state)
            self.prespin, self.start = 0, f"spin-up restart {restart}"
        else:
            sp = cfg["spinup"]
            self.state0 = cold_state(m, self.sites)
            self.prespin = sp["prespin_years"] if prespin_years is None else prespin_years
            self.start = f"cold start and {self.prespin} prespin years of {sp['prespin_year']} forcing"

    def _prespin_forcing(self):
        return to_device(self.source.year(self.cfg["spinup"]["prespin_year"])) if self.prespin else None

    def run(self, names, x, years) -> dict:
        """Run every member (rows of `x`, multipliers of `names`) through `years` (first, last).
        Returns {output name: (members, years, cells) float64}, "global_<name>" (members, years)
        in Pg C or Pg C yr-1, and "years"."""
        names = tuple(names)
        check_names(names, self.model)
        x = jnp.asarray(np.atleast_2d(np.asarray(x, np.float64)))
        states = jax.tree.map(lambda a: jnp.broadcast_to(a, (x.shape[0],) + a.shape), self.state0)
        f = self._prespin_forcing()
        for _ in range(self.prespin):
            states, _ = _ensemble_year(states, f, self.p, self.model, names, x)
        variables = [VARIABLES[v] for v in OUTPUTS if VARIABLES[v].applies(self.model.soil, self.model.nitrogen)]
        out = {v.name: [] for v in variables}
        for y in range(years[0], years[1] + 1):
            states, acc = _ensemble_year(states, to_device(self.source.year(y)), self.p, self.model, names, x)
            acc = jax.tree.map(np.asarray, acc)
            for v in variables:
                out[v.name].append(compute(v, self.model.soil, acc))
        res = {k: np.stack(v, axis=1) for k, v in out.items()}
        area = np.where(np.asarray(self.simulated), np.asarray(self.area), 0.0)
        res.update({f"global_{k}": v @ area / G_PER_PG for k, v in list(res.items())})
        res["years"] = np.arange(years[0], years[1] + 1)
        self.state = states
        return res

    def global_soil_carbon(self, names, x, years):
        """Global litter + soil C (Pg C) at the end of `years` for multipliers `x` of `names`
        (differentiable in `x`)."""
        return _global_c(self.state0, self._prespin_forcing(), self.prespin,
                         _stack([to_device(self.source.year(y)) for y in range(years[0], years[1] + 1)]),
                         self.p, self.area, self.simulated, self.model, tuple(names), jnp.asarray(x, jnp.float64))

    def sensitivity(self, names, x, years) -> tuple[float, np.ndarray]:
        """(global litter + soil C in Pg C, its gradient with respect to the multipliers `x` of
        `names`) at the end of `years`, by reverse-mode differentiation (`jax.grad`)."""
        names = tuple(names)
        check_names(names, self.model)
        value, grad = _global_c_grad(self.state0, self._prespin_forcing(), self.prespin,
                                     _stack([to_device(self.source.year(y)) for y in range(years[0], years[1] + 1)]),
                                     self.p, self.area, self.simulated, self.model, names,
                                     jnp.asarray(x, jnp.float64))
        return float(value), np.asarray(grad)


def _stack(forcings: list) -> dict:
    return {k: jnp.stack([f[k] for f in forcings]) for k in forcings[0]}


def _global_c_impl(state, prespin_forcing, prespin, forcings, p, area, simulated, model, names, x):
    q = perturb(p, model, names, x)

    # only each year's end state is kept for the backward pass; a year is recomputed there
    @jax.checkpoint
    def year(st, f):
        return run_year(st, f, q, model)[0], None

    if prespin:
        state, _ = jax.lax.scan(lambda st, _: year(st, prespin_forcing), state, None, length=prespin)
    state, _ = jax.lax.scan(year, state, forcings)
    ctot = soil_carbon(state, q, jnp)
    return jnp.sum(jnp.where(simulated, ctot * area, 0.0)) / G_PER_PG


_global_c = jax.jit(_global_c_impl, static_argnums=(2, 7, 8))
_global_c_grad = jax.jit(jax.value_and_grad(_global_c_impl, argnums=9), static_argnums=(2, 7, 8))


# ---------------------------------------------------------------------------------------------
# Output file and table
# ---------------------------------------------------------------------------------------------

def write_ensemble(path, ens: Ensemble, names, x, res: dict, attrs: dict | None = None) -> Path:
    """NetCDF (CF-1.8) with dimensions (ensemble, time, cell): annual totals of fluxes, annual
    means of pools, their global totals, and the multiplier of each parameter per member."""
    import netCDF4

    sites, model = ens.sites, ens.model
    years = res["years"]
    t0 = (years - EPOCH_YEAR) * DAYS_PER_YEAR
    bnds = np.stack([t0, t0 + DAYS_PER_YEAR], axis=1).astype(np.float64)
    path = Path(path)
    with atomic_path(path) as tmp, netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
        nc.createDimension("ensemble", len(x))
        nc.createDimension("time", len(years))
        nc.createDimension("cell", sites.n)
        nc.createDimension("bnds", 2)

        def var(name, dims, values, dtype="f8", **a):
            v = nc.createVariable(name, dtype, dims)
            v.setncatts(a)
            v[:] = values
            return v

        var("ensemble", ("ensemble",), np.arange(len(x)), "i4", long_name="ensemble member")
        var("time", ("time",), bnds.mean(axis=1), standard_name="time", units=TIME_UNITS,
            calendar=CALENDAR, axis="T", bounds="time_bnds")
        var("time_bnds", ("time", "bnds"), bnds)
        var("lat", ("cell",), np.asarray(sites.grid_lat)[np.asarray(sites.ilat) - 1], standard_name="latitude",
            units="degrees_north")
        var("lon", ("cell",), np.asarray(sites.grid_lon)[np.asarray(sites.ilon) - 1], standard_name="longitude",
            units="degrees_east")
        var("cellid", ("cell",), np.asarray(sites.cellid), "i4", long_name="cell id on the global grid")
        var("landarea", ("cell",), np.asarray(sites.landarea, np.float64), standard_name="cell_area", units="m2",
            long_name="land area the cell stands for (0 on ice/water cells)")
        for j, name in enumerate(names):
            var(name, ("ensemble",), np.asarray(x)[:, j], units="1", long_name=f"multiplier of {PARAMETERS[name].help}")
        for k in OUTPUTS:
            if k not in res:
                continue
            v = VARIABLES[k]
            a = dict(long_name=v.long_name, units=v.units, coordinates="lat lon", cell_measures="area: landarea",
                     cell_methods="time: mean" if v.kind == "flux" else "time: mean (annual mean of daily states)")
            if v.standard_name:
                a["standard_name"] = v.standard_name
            var(k, ("ensemble", "time", "cell"), res[k], **a)
            var(f"global_{k}", ("ensemble", "time"), res[f"global_{k}"], long_name=f"global total: {v.long_name}",
                units="Pg yr-1" if v.kind == "flux" else "Pg")
        now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        nc.setncatts({"Conventions": "CF-1.8", "title": f"bgctestbed parameter ensemble: {ens.member.name}",
                      "source": f"bgctestbed {__version__}", "history": f"{now} created by bgctestbed {__version__}",
                      "configuration": ens.member.name, "soil_model": model.soil, "nitrogen": int(model.nitrogen),
                      "inputs": ens.source.description, "initial_state": ens.start,
                      "parameters": " ".join(names),
                      "parameter_values": "multipliers of the configuration's values (1 = unchanged)",
                      **(attrs or {})})
    return path


def table(names, x, res: dict) -> str:
    """Global totals of the last year, one line per member."""
    cols = [k for k in OUTPUTS if k in res]
    units = {k: "PgC/yr" if VARIABLES[k].kind == "flux" else "PgC" for k in cols}
    head = ["member", *names, *(f"{k}[{units[k]}]" for k in cols)]
    rows = [[str(i), *(f"{v:g}" for v in x[i]), *(f"{res[f'global_{k}'][i, -1]:.4f}" for k in cols)]
            for i in range(len(x))]
    w = [max(len(r[c]) for r in [head, *rows]) for c in range(len(head))]
    return "\n".join("  ".join(s.rjust(wi) for s, wi in zip(r, w)) for r in [head, *rows])


# ---------------------------------------------------------------------------------------------
# Command
# ---------------------------------------------------------------------------------------------

def register(sub) -> None:
    p = sub.add_parser("ensemble", help="run many parameter sets at once; parameter gradients",
                       description="Run one model configuration of a run configuration with many parameter "
                                   "sets at once and write one NetCDF file with an 'ensemble' dimension. "
                                   "Values are multipliers of the configuration's parameters. Parameters: " +
                                   "; ".join(f"{k}: {v.help}" for k, v in PARAMETERS.items()))
    p.add_argument("path", nargs="?", help="run configuration (.toml)")
    p.add_argument("--preset", choices=("paper", "quick"), help="a built-in run configuration instead of a file")
    p.add_argument("--configuration", choices=tuple(CONFIGURATIONS),
                   help="model configuration (default: the first of run.configurations)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=v1,v2,...",
                   help="multipliers of a parameter; several --param give every combination")
    p.add_argument("--samples", metavar="FILE.csv", help="parameter sets: header of names, one row per member")
    p.add_argument("--years", nargs=2, type=int, metavar=("Y0", "Y1"),
                   help="first and last year (default: historical.years)")
    p.add_argument("--prespin", type=int, metavar="N",
                   help="prespin years after a cold start (default: spinup.prespin_years; not used when "
                        "the configuration has a spin-up restart)")
    p.add_argument("--gradient", metavar="NAMES",
                   help="also print d(global litter + soil C at the end)/d(multiplier) for these "
                        "comma-separated parameters, at each member's values")
    p.add_argument("-o", "--output", help="output file (default: <output_dir>/ensemble_<configuration>.nc)")
    p.set_defaults(func=_main)


def _main(args) -> int:
    from .config import load_config, preset_config

    if bool(args.preset) == bool(args.path):
        raise ConfigError("give a configuration file or --preset")
    if args.param and args.samples:
        raise ConfigError("give --param or --samples, not both")
    if args.prespin is not None and args.prespin < 0:
        raise ConfigError("--prespin must not be negative")
    cfg = preset_config(args.preset, Path.cwd()) if args.preset else load_config(args.path)
    names, x = read_samples(args.samples) if args.samples else parse_params(args.param)
    grad_names = tuple(n.strip() for n in args.gradient.split(",")) if args.gradient else ()
    years = tuple(args.years or cfg["historical"]["years"])
    if years[0] > years[1]:
        raise ConfigError(f"--years {years[0]} {years[1]}: the first year is after the last")
    ens = Ensemble(cfg, args.configuration, prespin_years=args.prespin)
    check_names(names, ens.model)
    check_names(grad_names, ens.model)
    if not names and not grad_names:
        raise ConfigError("give --param, --samples or --gradient")
    if names:
        res = ens.run(names, x, years)
        out = Path(args.output) if args.output else cfg.output_dir / f"ensemble_{ens.member.name}.nc"
        write_ensemble(out, ens, names, x, res)
        print(f"{ens.member.name}, {len(x)} members, {years[0]}-{years[1]}, {ens.sites.n} cells; "
              f"start: {ens.start}\nglobal totals of {years[1]}:\n{table(names, x, res)}\nwrote {out}")
    if grad_names:
        # the gradient at each member: its own multipliers, 1 for parameters it does not vary
        alln = names + tuple(n for n in grad_names if n not in names)
        xs = np.ones((max(len(x), 1), len(alln)))
        if names:
            xs[:, :len(names)] = x
        idx = [alln.index(n) for n in grad_names]
        print(f"d(global litter + soil C at the end of {years[1]}) / d(multiplier), Pg C "
              f"(elasticity d ln C / d ln multiplier in brackets):")
        for i, xm in enumerate(xs):
            c, g = ens.sensitivity(alln, xm, years)
            terms = ", ".join(f"{alln[j]}: {g[j]:+.5g} ({g[j] * xm[j] / c:+.4f})" for j in idx)
            print(f"  member {i}: C = {c:.5f} Pg; {terms}")
    return 0
