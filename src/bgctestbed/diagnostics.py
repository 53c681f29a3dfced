"""Carbon and nitrogen budgets of one simulated year, per cell.

From the state before and after `model.run_year` and that year's annual sums (of a run with
`ModelConfig(budget_terms=True)`, which adds the daily diagnostics the non-flux terms need),
each budget compares the change in total storage with the named fluxes across the system boundary:

    change = sum(terms) + residual

All in g m-2 yr-1 (MIMICS pools, mg cm-3, are converted with `p["mim_uc"]`). Sources are
positive, sinks negative. Besides the physical fluxes the terms name the places where the
reference's arithmetic does not conserve mass, so that none of them is hidden in the residual:

Carbon
  gpp                         gross primary production (exudate included)
  autotrophic_respiration     maintenance + growth respiration (-Crp)
  npp_scaling                 (nppMult - 1) * (GPP - Crp): the NPP perturbation of co2delta
  root_exudate                exudate C put into metabolic litter although NPP already holds
                              all of GPP - Crp (quirk Q10; 0 with the JAMES tables)
  labile_loss                 labile C lost, reported in no respiration flux (quirk Q5)
  heterotrophic_respiration   litter and SOM respiration (MIMICS: with the respired CWD C)
  clamp                       C added by setting negative pools to zero (casa.md 4.6)

Nitrogen (C+N)
  deposition, fixation        inputs to mineral N
  leaching, gaseous_loss      losses from mineral N
  uptake_regulariser          the 1e-10 gN m-2 d-1 added to total uptake and taken from
                              mineral N but given to no plant part (`vegetation.UPTAKE_EPS`)
  plant_n_update_skipped      plant N change not applied where leaf C is not positive while
                              uptake and litterfall N still move (quirk Q2)
  clamp                       N added by setting negative pools to zero

Nitrogen (C-only): no N flux is applied; plant N is re-derived from plant C every day (N:C of
the PFT), so the only term is `plant_n_rederived`, the resulting change of plant N. Litter, SOM
and mineral N stay as they are (the restart writer's re-derivation acts outside `run_year`).

Inactive cells (ice, water) hold no budget: every value is 0 there.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .physics.vegetation import UPTAKE_EPS

MIMICS_POOLS = ("LITm", "LITs", "MICr", "MICk", "SOMa", "SOMc", "SOMp")


class Budget(NamedTuple):
    change: np.ndarray       # (n,) storage at the end minus at the start, g m-2
    terms: dict              # name -> (n,) signed flux over the year, g m-2 yr-1
    residual: np.ndarray     # (n,) change - sum(terms)
    throughput: np.ndarray   # (n,) sum of |terms| and the gross internal fluxes (scale of the budget)


def _a(x):
    return np.asarray(x, dtype=np.float64)


def _carbon_parts(state, p: dict) -> list:
    parts = [_a(state.cplant).sum(-1), _a(state.clabile), _a(state.clitter).sum(-1), _a(state.csoil).sum(-1)]
    if state.mim is not None:
        parts += [_a(p["mim_uc"]) * _a(getattr(state.mim, k)) for k in MIMICS_POOLS]
    return parts


def _nitrogen_parts(state, p: dict) -> list:
    parts = [_a(state.nplant).sum(-1), _a(state.nlitter).sum(-1), _a(state.nsoil).sum(-1), _a(state.nsoilmin)]
    if state.mim is not None:
        parts += [_a(p["mim_uc"]) * _a(getattr(state.mim, k + "N")) for k in MIMICS_POOLS]
    return parts


def carbon_stock(state, p: dict) -> np.ndarray:
    """Total C per cell, g m-2: plant, labile, litter, SOM and (MIMICS runs) the MIMICS pools."""
    return sum(_carbon_parts(state, p))


def nitrogen_stock(state, p: dict) -> np.ndarray:
    """Total N per cell, g m-2: plant, litter, SOM, mineral and (MIMICS runs) the MIMICS pools."""
    return sum(_nitrogen_parts(state, p))


def _change(parts, state0, state1, p: dict) -> np.ndarray:
    """Storage change as the sum of the pools' changes: the difference of the totals would lose
    to round-off the digits of small changes of large stocks (passive SOM)."""
    return sum(b - a for a, b in zip(parts(state0, p), parts(state1, p)))


def _budget(change, terms: dict, internal, active) -> Budget:
    act = np.asarray(active, bool)
    terms = {k: np.where(act, _a(v), 0.0) for k, v in terms.items()}
    change = np.where(act, change, 0.0)
    residual = change - sum(terms.values())
    throughput = sum(np.abs(v) for v in terms.values()) + np.where(act, internal, 0.0)
    return Budget(change, terms, residual, throughput)


def _need_terms(annual: dict):
    if "cClamp" not in annual:
        raise ValueError("the annual sums lack the budget terms: run with ModelConfig(budget_terms=True)")


def carbon_budget(state0, state1, annual: dict, p: dict, *, npp_scalar: float = 1.0) -> Budget:
    """C budget of one year. annual: `run_year`'s sums of a run with
    `ModelConfig(budget_terms=True)`; npp_scalar: the year's NPP multiplier."""
    _need_terms(annual)
    gpp = _a(annual["cgpp"]) + _a(annual["cRootExud"])   # the diagnostic cgpp is net of exudate
    crp = _a(annual["crp"])
    terms = dict(gpp=gpp, autotrophic_respiration=-crp,
                 npp_scaling=(float(npp_scalar) - 1.0) * (gpp - crp),
                 root_exudate=_a(annual["cRootExud"]), labile_loss=-_a(annual["cLabileLoss"]),
                 heterotrophic_respiration=-_a(annual["cresp"]), clamp=_a(annual["cClamp"]))
    change = _change(_carbon_parts, state0, state1, p)
    return _budget(change, terms, 0.0, p["active"])


def nitrogen_budget(state0, state1, annual: dict, p: dict, *, nitrogen: bool, days: int = 365) -> Budget:
    """N budget of one year (`days` long). nitrogen: the run's N cycle (False: C-only)."""
    _need_terms(annual)
    act = np.asarray(p["active"], bool)
    change = _change(_nitrogen_parts, state0, state1, p)
    if not nitrogen:
        dplant = _a(state1.nplant).sum(-1) - _a(state0.nplant).sum(-1)
        return _budget(change, dict(plant_n_rederived=dplant), 0.0, act)
    terms = dict(deposition=_a(annual["nMinDep"]), fixation=_a(annual["nMinFix"]),
                 leaching=-_a(annual["nMinLeach"]), gaseous_loss=-_a(annual["nMinLoss"]),
                 uptake_regulariser=np.full(act.shape, -UPTAKE_EPS * days),
                 plant_n_update_skipped=-_a(annual["nPlantSkip"]), clamp=_a(annual["nClamp"]))
    internal = (_a(annual["nMinUptake"]) + _a(annual["nLitMineralization"])
                + _a(annual["nSoilMineralization"]) + np.abs(_a(annual["nSoilImmob"])))
    return _budget(change, terms, internal, act)


# Smallest throughput a residual is judged relative to (g m-2 yr-1; ~1 % of a typical cell's
# NPP). In nearly barren cells the fluxes vanish but the stocks do not, and the rounding of the
# pools' updates sets the residual: MIMICS updates its pools in 8,760 hourly steps a year, which
# leaves up to ~1e-9 g m-2 yr-1 on a 2.5 kg m-2 stock with 0.04 g m-2 yr-1 of flux (measured).
# Below the floor a residual is thus judged in absolute terms (1e-9 at the default tolerance).
THROUGHPUT_FLOOR = 10.0


def relative_residual(residual, throughput) -> np.ndarray:
    """|residual| / max(throughput, THROUGHPUT_FLOOR); inf where either is not finite."""
    r, t = _a(residual), _a(throughput)
    rel = np.abs(r) / np.maximum(np.abs(t), THROUGHPUT_FLOOR)
    return np.where(np.isfinite(r) & np.isfinite(t), rel, np.inf)


def closure(budget: Budget) -> np.ndarray:
    """Relative residual per cell (`relative_residual`)."""
    return relative_residual(budget.residual, budget.throughput)


def budget_outputs(state0, state1, annual: dict, p: dict, *, nitrogen: bool, npp_scalar: float = 1.0) -> dict:
    """The year's residuals and throughputs as "budget:*" output keys (`io.cfout` budget
    variables): C always, N in C+N runs (C-only runs budget no N flux)."""
    bc = carbon_budget(state0, state1, annual, p, npp_scalar=npp_scalar)
    out = {"budget:residual_c": bc.residual, "budget:throughput_c": bc.throughput}
    if nitrogen:
        bn = nitrogen_budget(state0, state1, annual, p, nitrogen=True)
        out.update({"budget:residual_n": bn.residual, "budget:throughput_n": bn.throughput})
    return out
