"""MIMICS parameters: the reference parameter file, the project's default set and the per-cell
derived quantities (mimics.md §3).

Six-vectors are ordered r1, r2, r3, k1, k2, k3: uptake of LITm, LITs and SOMa by the
r-selected microbes (MICr), then the same three by the K-selected microbes (MICk).

Three entry points build a `MimicsParams`:

* `read_mimics_params(path)` reads a reference-format CSV (`pftlookup_LIDET-MIM-REV_*.csv`)
  exactly as the reference reader does (list-directed reads, only the first value of each
  line counts, fixed order, two skipped lines, per-PFT depth, optional fWFunction);
* `read_mimics_toml(path)` reads the project's own TOML layout (one key per field);
* `default_mimics_params()` loads the packaged JAMES set (`data/mimics_params_jams.toml`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import InputError

NPFT = 18  # number of IGBP vegetation types (mvtype)

# File order of the reference reader (mimics.md §3.1): (field, number of lines, label).
# `None` marks a line the reference skips without reading a value.
_ORDER: list[tuple[str | None, int, str]] = [
    ("Vslope", 6, "Vslope"), ("Vint", 6, "Vint"), ("av", 6, "av"), ("Kslope", 6, "Kslope"),
    ("Kint", 6, "Kint"), ("ak", 6, "ak"), ("Vmod", 6, "Vmod"), ("Kmod", 6, "Kmod"),
    ("KO", 2, "KO"), ("MGE", 4, "MGE"), ("tau_r", 2, "tau_r"), ("tau_k", 2, "tau_k"),
    ("tauModDenom", 1, "tauModDenom"), ("tauMod_MIN", 1, "tauMod_MIN"),
    ("tauMod_MAX", 1, "tauMod_MAX"), ("fPHYS_r", 2, "fPHYS_r"), ("fPHYS_K", 2, "fPHYS_K"),
    ("fCHEM_r", 3, "fCHEM_r"), ("fCHEM_K", 3, "fCHEM_K"), ("fSOM_p", 2, "fSOM_p"),
    ("phys_scalar", 2, "phys_scalar"), ("Fi", 2, "Fi"), ("fmet_p", 3, "fmet_p"),
    ("densDep", 1, "densDep"), (None, 1, "fracNImport_r"), (None, 1, "fracNImport_k"),
    ("NUE", 4, "NUE"), ("CNr", 1, "CNr"), ("CNk", 1, "CNk"),
    ("fracDINavailMIC", 1, "fracDINavailMIC"), ("cnModNum", 1, "cnModNum"),
    ("desorpQ10", 1, "desorpQ10"), ("desorpTref", 1, "desorpTref"),
]
_SIZES = {name: count for name, count, _ in _ORDER if name}
_CHANNELS = ("r1", "r2", "r3", "k1", "k2", "k3")


@dataclass(frozen=True, eq=False)  # hashed by identity: usable as a static jit argument
class MimicsParams:
    """Every MIMICS parameter (mimics.md §3.2), values as read from the parameter file.

    Arrays are numpy float64; 6-vectors in r1, r2, r3, k1, k2, k3 order.
    """

    Vslope: np.ndarray       # (6,) slope of ln(Vmax) vs soil temperature, degC-1
    Vint: np.ndarray         # (6,) intercept of ln(Vmax), ln(mgC mgMIC-1 h-1)
    av: np.ndarray           # (6,) Vmax tuning coefficient, -
    Kslope: np.ndarray       # (6,) slope of ln(Km) vs soil temperature, degC-1
    Kint: np.ndarray         # (6,) intercept of ln(Km), ln(mgC cm-3)
    ak: np.ndarray           # (6,) Km tuning coefficient, -
    Vmod: np.ndarray         # (6,) Vmax multipliers, -
    Kmod: np.ndarray         # (6,) Km divisors (r3, k3 further x Pscalar per cell), -
    KO: np.ndarray           # (2,) multipliers of Km(r2), Km(k2) for SOMc oxidation, -
    MGE: np.ndarray          # (4,) growth efficiencies: LITm&SOMa->MICr, LITs->MICr,
    #                          LITm&SOMa->MICk, LITs->MICk, mgC mgC-1
    tau_r: np.ndarray        # (2,) MICr turnover tau_r1*exp(tau_r2*fmet): h-1, -
    tau_k: np.ndarray        # (2,) MICk turnover tau_k1*exp(tau_k2*fmet): h-1, -
    tauModDenom: float       # tauMod = sqrt(NPP/tauModDenom), gC m-2 yr-1
    tauMod_MIN: float        # lower clamp of tauMod, -
    tauMod_MAX: float        # upper clamp of tauMod, -
    fPHYS_r: np.ndarray      # (2,) fPHYS_r = p1*exp(p2*clay): -, (clay fraction)-1
    fPHYS_K: np.ndarray      # (2,) fPHYS_k = p1*exp(p2*clay): -, (clay fraction)-1
    fCHEM_r: np.ndarray      # (3,) fCHEM_r = p1*exp(p2*fmet)*p3: -, -, -
    fCHEM_K: np.ndarray      # (3,) fCHEM_k = p1*exp(p2*fmet)*p3: -, -, -
    fSOM_p: np.ndarray       # (2,) desorption SOMp->SOMa p1*exp(p2*clay): h-1, (clay fraction)-1
    phys_scalar: np.ndarray  # (2,) Pscalar = p1*exp(p2*sqrt(clay)): -, (clay fraction)-1/2
    Fi: np.ndarray           # (2,) fraction of metabolic / structural input straight to SOMp / SOMc, -
    fmet_p: np.ndarray       # (3,) fmet = p1*(p2 - p3*lignin:N): -, -, (g lignin g-1 N)-1
    densDep: float           # exponent of MIC in turnover (C+N only), -
    NUE: np.ndarray          # (4,) N use efficiencies, same channels as MGE, mgN mgN-1
    CNr: float               # base C:N of MICr, gC gN-1
    CNk: float               # base C:N of MICk, gC gN-1
    fracDINavailMIC: float   # fraction of CASA mineral N visible to microbes each day, -
    cnModNum: float          # microbial C:N target = CN_base*sqrt(cnModNum/fmet), -
    desorpQ10: float         # < 0: desorption independent of temperature; else multiplier, -
    desorpTref: float        # reference temperature of the desorption factor, degC
    depth: np.ndarray        # (18,) MIMICS soil depth per IGBP PFT 1..18, cm
    fw_function: int         # moisture scalar: 1 CASA-CNP, 3 CORPSE, 2 none (fW = 1)
    source: str = ""         # where the values came from (file path), informational


def _as_params(vals: dict, source: str) -> MimicsParams:
    out = {}
    for f in fields(MimicsParams):
        if f.name == "source":
            continue
        v = vals[f.name]
        if f.name == "fw_function":
            out[f.name] = int(v)
        elif f.name == "depth" or _SIZES.get(f.name, 1) > 1:
            out[f.name] = np.array(v, dtype=np.float64)
        else:
            out[f.name] = float(v)
    return MimicsParams(**out, source=source)


def params_equal(a: MimicsParams, b: MimicsParams) -> bool:
    """True when every parameter value (not `source`) is identical."""
    for f in fields(MimicsParams):
        if f.name != "source" and not np.array_equal(getattr(a, f.name), getattr(b, f.name)):
            return False
    return True


# --------------------------------------------------------------------------------------------
# Reference CSV reader: Fortran list-directed input, one READ statement per parameter
# --------------------------------------------------------------------------------------------

_SLASH = object()  # a '/' ends a list-directed read, leaving the remaining items unset
_REAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eEdDqQ][+-]?\d+|[+-]\d+)?")
_INT = re.compile(r"[+-]?\d+")


def _record_items(rec: str) -> list:
    """Values of one record as list-directed input sees them: separated by a comma (with
    optional blanks), by blanks, or ended by '/'. None is a null value (empty field)."""
    items: list = []
    n = len(rec)

    def skip(p):
        while p < n and rec[p] in " \t":
            p += 1
        return p

    pos = skip(0)
    while pos < n:
        c = rec[pos]
        if c == ",":
            items.append(None)
            pos = skip(pos + 1)
            continue
        if c == "/":
            items.append(_SLASH)
            break
        if c in "'\"":
            end = rec.find(c, pos + 1)
            end = n if end < 0 else end
            items.append(rec[pos + 1:end])
            pos = end + 1
        else:
            end = pos
            while end < n and rec[end] not in " \t,/":
                end += 1
            items.append(rec[pos:end])
            pos = end
        pos = skip(pos)
        if pos < n and rec[pos] == ",":
            pos = skip(pos + 1)
    return items


class _ListReader:
    """Sequential list-directed reads over the records of a file (1-based line numbers)."""

    def __init__(self, path: Path, records: list[str]):
        self.path = path
        self.records = records
        self.pos = 0  # index of the next record

    def skip(self, what: str) -> None:
        """READ with an empty list: skip exactly one record."""
        if self.pos >= len(self.records):
            raise InputError(self.path, f"file ends before the line '{what}'",
                             line=self.pos + 1, variable=what)
        self.pos += 1

    def items(self, nitems: int, what: str):
        """READ of `nitems` values: records are consumed until enough values are found
        (blank records contribute none). Returns (values, line of each value)."""
        vals, lines = [], []
        while len(vals) < nitems:
            if self.pos >= len(self.records):
                raise InputError(self.path, f"file ends before '{what}'", line=self.pos + 1,
                                 variable=what)
            line = self.pos + 1
            for it in _record_items(self.records[self.pos]):
                if it is _SLASH:
                    vals += [None] * (nitems - len(vals))
                    lines += [line] * (nitems - len(lines))
                    break
                vals.append(it)
                lines.append(line)
                if len(vals) == nitems:
                    break
            self.pos += 1
        return vals, lines

    def real(self, what: str) -> float:
        (tok,), (line,) = self.items(1, what)
        return _real(self.path, tok, line, what)


def _real(path, tok, line, what) -> float:
    if tok is None:
        raise InputError(path, f"no value for '{what}' (empty first field)", line=line, variable=what)
    if not _REAL.fullmatch(tok):
        raise InputError(path, f"'{tok}' is not a number (expected the value of '{what}' as the "
                               "first field of the line)", line=line, variable=what)
    t = re.sub(r"[dDqQ]", "e", tok)
    if "e" not in t.lower() and re.search(r"\d[+-]\d+$", t):  # Fortran form 1.0-5 = 1.0e-5
        t = re.sub(r"(\d)([+-]\d+)$", r"\1e\2", t)
    return float(t)


def read_mimics_params(path) -> MimicsParams:
    """Read a reference-format MIMICS parameter CSV (mimics.md §3.1).

    Reading rules (those of the reference reader `mimics_readbiome`): the header line and the
    18 vegetation lines are skipped, then the "Fixed Parameters" label; then one value per
    line in the fixed order of §3.1, only the first value of each line counting (values are
    separated by commas or blanks; later fields are ignored; blank lines are passed over);
    the two fracNImport lines are skipped unread; then two label lines and 18 lines
    `vegtype, depth` (depth in cm, assigned in line order, must be > 0); finally an optional
    integer fWFunction: 1 (CASA-CNP) or 3 (CORPSE), anything else, an unreadable value or
    end of file gives 2 (fW = 1).

    Raises InputError naming the file and line for a missing line, a value that is not a
    number, or a depth <= 0.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read MIMICS parameter file: {exc.strerror}") from None
    text = raw.decode("latin-1")
    records = [r[:-1] if r.endswith("\r") else r for r in text.split("\n")]
    if records and records[-1] == "":
        records.pop()  # the newline ending the last record
    rd = _ListReader(path, records)
    rd.skip("header")
    for k in range(NPFT):
        rd.skip(f"vegetation type {k + 1} description")
    rd.items(1, "Fixed Parameters")  # label
    vals: dict = {}
    for name, count, label in _ORDER:
        if name is None:
            rd.skip(label)
            continue
        v = [rd.real(f"{label}({_CHANNELS[k] if count == 6 else k + 1})" if count > 1 else label)
             for k in range(count)]
        vals[name] = v if count > 1 else v[0]
    rd.items(1, "Biome-Specific Parameters")  # label
    rd.items(1, "vegtype,SOM depth (cm)")      # label
    depth = []
    for k in range(NPFT):
        what = f"SOM depth of vegetation type {k + 1}"
        (tv, td), (lv, ld) = rd.items(2, what)
        if tv is None or not _INT.fullmatch(tv):
            raise InputError(path, f"expected 'vegtype, depth' with an integer vegtype, found "
                                   f"'{tv}'", line=lv, variable=what)
        d = _real(path, td, ld, what)
        if not d > 0.0:
            raise InputError(path, f"SOM depth must be positive, found {d}", line=ld, variable=what)
        depth.append(d)
    vals["depth"] = depth
    vals["fw_function"] = _read_fw_function(rd)
    return _as_params(vals, str(path))


def _read_fw_function(rd: _ListReader) -> int:
    try:
        (tok,), _ = rd.items(1, "fWFunction")
    except InputError:  # end of file: the reference defaults to MIMICS (fW = 1)
        return 2
    if tok is None or tok is _SLASH or not _INT.fullmatch(tok):
        return 2
    v = int(tok)
    return v if v in (1, 3) else 2


# --------------------------------------------------------------------------------------------
# Project TOML layout and packaged defaults
# --------------------------------------------------------------------------------------------

_DEFAULT = "mimics_params_jams.toml"


def read_mimics_toml(path) -> MimicsParams:
    """Read MIMICS parameters from the project's TOML layout: one top-level key per field of
    `MimicsParams` (arrays as TOML arrays of the documented length). Raises InputError naming
    the file (and the key) for a missing, unknown or mis-sized entry."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise InputError(path, f"cannot read MIMICS parameter file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise InputError(path, f"not valid TOML: {exc}", line=int(m.group(1)) if m else None) from None
    names = [f.name for f in fields(MimicsParams) if f.name != "source"]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise InputError(path, f"unknown MIMICS parameter(s): {', '.join(unknown)}", variable=unknown[0])
    for name in names:
        if name not in data:
            raise InputError(path, "missing MIMICS parameter", variable=name)
        want = NPFT if name == "depth" else _SIZES.get(name, 1)
        v = data[name]
        if want > 1:
            ok = isinstance(v, list) and len(v) == want and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        elif name == "fw_function":
            ok = isinstance(v, int) and not isinstance(v, bool)
        else:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if not ok:
            shape = f"an array of {want} numbers" if want > 1 else "a number"
            raise InputError(path, f"expected {shape}, found {v!r}", variable=name)
    if min(data["depth"]) <= 0:
        raise InputError(path, "SOM depths must be positive", variable="depth")
    if data["fw_function"] not in (1, 3):
        data["fw_function"] = 2
    return _as_params(data, str(path))


def default_mimics_params() -> MimicsParams:
    """The MIMICS parameters of the JAMES (Wieder et al. 2024) global runs, i.e. the values of
    `pftlookup_LIDET-MIM-REV_CN_desorb2xKO4_micCN_FI30.csv`, from this package's own file."""
    with resources.as_file(resources.files("bgctestbed") / "data" / _DEFAULT) as p:
        return read_mimics_toml(p)


def write_mimics_params(params: MimicsParams, path) -> None:
    """Write parameters in the reference CSV layout (readable by `read_mimics_params` and by
    the reference code)."""
    out = ["vegtype,Description"] + [f"{k},PFT {k}" for k in range(1, NPFT + 1)] + ["Fixed Parameters"]
    for name, count, label in _ORDER:
        if name is None:
            out.append(f"0,{label} (not used)")
            continue
        v = np.atleast_1d(getattr(params, name))
        for k in range(count):
            out.append(f"{float(v[k])!r},{label}({k + 1})")
    out += ["Biome-Specific Parameters", "vegtype,SOM depth (cm)"]
    out += [f"{k + 1},{float(d)!r}" for k, d in enumerate(params.depth)]
    out.append(f"{params.fw_function},fWFunction (1 CASA-CNP, 3 CORPSE, other: fW = 1)")
    Path(path).write_text("\n".join(out) + "\n")


# --------------------------------------------------------------------------------------------
# Per-cell derived quantities
# --------------------------------------------------------------------------------------------

def mimics_cell_params(p: MimicsParams, pft, clay, active=None) -> dict[str, np.ndarray]:
    """Per-cell quantities derived once from the parameters and soil texture (mimics.md §3.3).

    pft: IGBP type 1..18 per cell (1-based); clay: clay fraction 0-1; active: optional bool
    per cell, False for ice/water cells that MIMICS skips (default: all active).
    Returns numpy arrays over cells (n,):

    * depth (cm) and uc = 10*depth: mg cm-3 -> g m-2 (x uc), g m-2 -> mg cm-3 (/ uc);
    * Pscalar = phys_scalar1*exp(phys_scalar2*sqrt(clay)) (-);
    * Kmod (n, 6): Km divisors, r3 and k3 multiplied by Pscalar (-);
    * desorp = fSOM_p1*exp(fSOM_p2*clay): SOMp -> SOMa desorption rate (h-1);
    * fPHYS_r, fPHYS_k: fraction of microbial turnover to SOMp (-); also fPHYS (n, 2) = (r, k);
    * active (n,) bool.
    """
    pft = np.atleast_1d(np.asarray(pft))
    if pft.size and (not np.issubdtype(pft.dtype, np.integer) or pft.min() < 1 or pft.max() > NPFT):
        raise ValueError(f"PFT must be an integer IGBP type 1..{NPFT}")
    clay = np.broadcast_to(np.asarray(clay, dtype=np.float64), pft.shape).copy()
    depth = p.depth[pft - 1]
    pscalar = p.phys_scalar[0] * np.exp(p.phys_scalar[1] * np.sqrt(clay))
    kmod = np.tile(p.Kmod, (pft.size, 1))
    kmod[:, 2] = p.Kmod[2] * pscalar
    kmod[:, 5] = p.Kmod[5] * pscalar
    fphys_r = p.fPHYS_r[0] * np.exp(p.fPHYS_r[1] * clay)
    fphys_k = p.fPHYS_K[0] * np.exp(p.fPHYS_K[1] * clay)
    if active is None:
        act = np.ones(pft.shape, bool)
    else:
        act = np.broadcast_to(np.asarray(active, bool), pft.shape).copy()
    return dict(depth=depth, uc=10.0 * depth, Pscalar=pscalar, Kmod=kmod,
                desorp=p.fSOM_p[0] * np.exp(p.fSOM_p[1] * clay),
                fPHYS_r=fphys_r, fPHYS_k=fphys_k, fPHYS=np.stack([fphys_r, fphys_k], -1), active=act)


def static_lignin_n(frac_lignin, ratio_nc_plant):
    """Lignin:N of plant litter used by C-only runs, and for wood in C+N runs (mimics.md §3.3):
    fracLignin / max(0.001, N:C of the plant part). Arrays of any matching shape."""
    return np.asarray(frac_lignin, float) / np.maximum(0.001, np.asarray(ratio_nc_plant, float))
