"""MIMICS parameters: the reference parameter file and the per-cell derived quantities.

The reference file (`pftlookup_LIDET-MIM-REV_*.csv`) is read line by line, only the first
comma-separated field of each line counting, in a fixed order (mimics.md §3.1). Six-vectors
are ordered r1, r2, r3, k1, k2, k3 (LITm, LITs, SOMa uptake by MICr, then by MICk).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import InputError

# (name, number of values, units/meaning) in file order; None = a line the reference skips
_ORDER = [
    ("Vslope", 6, "ln(Vmax) slope, degC-1"), ("Vint", 6, "ln(Vmax) intercept"),
    ("av", 6, "Vmax tuning coefficient"), ("Kslope", 6, "ln(Km) slope, degC-1"),
    ("Kint", 6, "ln(Km) intercept"), ("ak", 6, "Km tuning coefficient"),
    ("Vmod", 6, "Vmax multipliers"), ("Kmod", 6, "Km divisors (r3, k3 also x Pscalar)"),
    ("KO", 2, "oxidation Km multipliers for SOMc"), ("MGE", 4, "microbial growth efficiencies"),
    ("tau_r", 2, "MICr turnover tau_r1*exp(tau_r2*fmet), h-1"),
    ("tau_k", 2, "MICk turnover, h-1"), ("tauModDenom", 1, "gC m-2 yr-1"),
    ("tauMod_MIN", 1, "lower clamp"), ("tauMod_MAX", 1, "upper clamp"),
    ("fPHYS_r", 2, "fPHYS_r1*exp(fPHYS_r2*clay)"), ("fPHYS_K", 2, "fPHYS_K1*exp(fPHYS_K2*clay)"),
    ("fCHEM_r", 3, "fCHEM_r1*exp(fCHEM_r2*fmet)*fCHEM_r3"), ("fCHEM_K", 3, "as fCHEM_r"),
    ("fSOM_p", 2, "desorption fSOM_p1*exp(fSOM_p2*clay), h-1"),
    ("phys_scalar", 2, "Pscalar = p1*exp(p2*sqrt(clay))"),
    ("Fi", 2, "fractions of metabolic/structural input to SOMp/SOMc"),
    ("fmet_p", 3, "fmet = p1*(p2 - p3*lignin:N)"), ("densDep", 1, "exponent of MIC in turnover (C+N)"),
    (None, 1, "fracNImport_r (unused)"), (None, 1, "fracNImport_k (unused)"),
    ("NUE", 4, "N use efficiencies"), ("CNr", 1, "MICr base C:N"), ("CNk", 1, "MICk base C:N"),
    ("fracDINavailMIC", 1, "fraction of mineral N visible to microbes"),
    ("cnModNum", 1, "CN target = CN_base*sqrt(cnModNum/fmet)"),
    ("desorpQ10", 1, "< 0: no temperature effect on desorption"), ("desorpTref", 1, "degC"),
]


@dataclass(frozen=True, eq=False)  # hashed by identity: usable as a static jit argument
class MimicsParams:
    """MIMICS parameters (values as in the reference file; see `_ORDER` for meanings).
    depth: SOM depth per PFT (cm, 18 values); fw_function: 1 CASA, 3 CORPSE, else 2 (fW = 1)."""

    Vslope: np.ndarray
    Vint: np.ndarray
    av: np.ndarray
    Kslope: np.ndarray
    Kint: np.ndarray
    ak: np.ndarray
    Vmod: np.ndarray
    Kmod: np.ndarray
    KO: np.ndarray
    MGE: np.ndarray
    tau_r: np.ndarray
    tau_k: np.ndarray
    tauModDenom: float
    tauMod_MIN: float
    tauMod_MAX: float
    fPHYS_r: np.ndarray
    fPHYS_K: np.ndarray
    fCHEM_r: np.ndarray
    fCHEM_K: np.ndarray
    fSOM_p: np.ndarray
    phys_scalar: np.ndarray
    Fi: np.ndarray
    fmet_p: np.ndarray
    densDep: float
    NUE: np.ndarray
    CNr: float
    CNk: float
    fracDINavailMIC: float
    cnModNum: float
    desorpQ10: float
    desorpTref: float
    depth: np.ndarray
    fw_function: int = 3
    source: str = ""


def read_mimics_params(path) -> MimicsParams:
    path = Path(path)
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        raise InputError(path, f"cannot read MIMICS parameter file: {exc.strerror}") from None
    pos = 1 + 18 + 1  # header, 18 vegetation lines, "Fixed Parameters"

    def first(i, what):
        if i >= len(lines):
            raise InputError(path, f"file ends before {what}", line=i + 1)
        tok = lines[i].split(",")[0].strip()
        try:
            return float(tok)
        except ValueError:
            raise InputError(path, f"{what}: '{tok}' is not a number", line=i + 1) from None

    vals = {}
    for name, count, _ in _ORDER:
        v = [first(pos + k, name or "skipped line") for k in range(count)] if name else None
        pos += count
        if name:
            vals[name] = np.array(v) if count > 1 else v[0]
    pos += 2  # "Biome-Specific Parameters", "vegtype,SOM depth (cm)"
    depth = []
    for k in range(18):
        i = pos + k
        if i >= len(lines):
            raise InputError(path, "file ends before the 18 SOM depths", line=i + 1)
        toks = lines[i].split(",")
        try:
            d = float(toks[1])
        except (ValueError, IndexError):
            raise InputError(path, "expected 'vegtype, depth'", line=i + 1) from None
        if d <= 0:
            raise InputError(path, f"SOM depth must be positive, found {d}", line=i + 1)
        depth.append(d)
    pos += 18
    fwf = 2
    if pos < len(lines) and lines[pos].split(",")[0].strip():
        try:
            fwf = int(float(lines[pos].split(",")[0]))
        except ValueError:
            fwf = 2
    if fwf not in (1, 3):
        fwf = 2
    return MimicsParams(**vals, depth=np.array(depth), fw_function=fwf, source=str(path))


_DEFAULT = "mimics_params_jams.csv"


def default_mimics_params() -> MimicsParams:
    """The JAMES-2024 MIMICS parameters (`..._desorb2xKO4_micCN_FI30.csv` values), from this
    package's own file in the reference layout."""
    with resources.as_file(resources.files("bgctestbed") / "data" / _DEFAULT) as p:
        return read_mimics_params(p)


def write_mimics_params(params: MimicsParams, path) -> None:
    """Write parameters in the reference layout (readable by the reference code too)."""
    out = ["vegtype,Description"] + [f"{k},PFT {k}" for k in range(1, 19)] + ["Fixed Parameters"]
    for name, count, meaning in _ORDER:
        if name is None:
            out.append(f"0,{meaning}")
            continue
        v = np.atleast_1d(getattr(params, name))
        for k in range(count):
            out.append(f"{float(v[k])!r},{name}({k + 1}),{meaning}")
    out += ["Biome-Specific Parameters", "vegtype,SOM depth (cm)"]
    out += [f"{k + 1},{float(d)!r}" for k, d in enumerate(params.depth)]
    out.append(f"{params.fw_function},fWFunction (1 CASA, 3 CORPSE, other: fW = 1)")
    Path(path).write_text("\n".join(out) + "\n")


def mimics_cell_params(mp: MimicsParams, pft, clay) -> dict:
    """Per-cell MIMICS quantities (mimics.md §3.3): depth (cm), uc = 10*depth (mg cm-3 -> g m-2),
    Kmod (n, 6), desorp (h-1), fPHYS (n, 2: r, k)."""
    pft = np.asarray(pft, int)
    clay = np.asarray(clay, float)
    depth = mp.depth[pft - 1]
    pscalar = mp.phys_scalar[0] * np.exp(mp.phys_scalar[1] * np.sqrt(clay))
    kmod = np.tile(mp.Kmod, (len(pft), 1)).astype(float)
    kmod[:, 2] = mp.Kmod[2] * pscalar
    kmod[:, 5] = mp.Kmod[5] * pscalar
    return dict(depth=depth, uc=10.0 * depth, Kmod=kmod,
                desorp=mp.fSOM_p[0] * np.exp(mp.fSOM_p[1] * clay),
                fPHYS=np.stack([mp.fPHYS_r[0] * np.exp(mp.fPHYS_r[1] * clay),
                                mp.fPHYS_K[0] * np.exp(mp.fPHYS_K[1] * clay)], -1))
