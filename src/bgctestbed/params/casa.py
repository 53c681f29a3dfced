"""CASA-CNP parameters: the per-PFT table and the per-cell quantities derived from it.

The reference reads a positional CSV (`pftlookup_igbp_*.csv`, casa.md §1.3): blocks of rows,
each row starting with its index. `read_casa_table` parses that format; `default_casa_table`
loads the JAMES-2024 table (`pftlookup_igbp_updated4_exud0.csv`) from this package's own file
`data/casa_pft_jams.csv`, one named column per parameter. Tables are numpy arrays indexed by
PFT-1 (18 rows). `casa_cell_params` maps a table onto cells and derives every daily rate used
by the physics (casa.md §1.3-1.4, §4.2), all in per-day units.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, fields, replace
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import InputError

NPFT = 18
NSOILORDER = 12
LAYER_THICKNESS = np.array([0.022, 0.058, 0.154, 0.409, 1.085, 2.872])  # m, CASA soil layers

# Parameters of the table: (name, units, description). The order inside each section is the
# order of the reference CSV; names ending in _leaf/_wood/_froot etc. are split columns.
_SECTIONS: list[tuple[str, int, list[str]]] = [
    ("S1", NPFT, ["kroot", "rootdepth", "kuptake", "krootlen", "kminN", "kuplabP", "fherb",
                  "leafage", "woodage", "frootage", "metage", "strage", "cwdage", "micage",
                  "slowage", "passage", "clabileage", "sla"]),
    ("S2", NPFT, ["fracnpp_leaf", "fracnpp_wood", "fracnpp_froot",
                  "rmplant_leaf", "rmplant_wood", "rmplant_froot"]),
    ("S3", NPFT, ["cn_leaf", "cn_wood", "cn_froot",
                  "ftransNPtoL_leaf", "ftransNPtoL_wood", "ftransNPtoL_froot",
                  "lignin_leaf", "lignin_wood", "lignin_froot",
                  "cnsoil_mic", "cnsoil_slow", "cnsoil_pass",
                  "cnsoilmin_mic", "cnsoilmin_slow", "cnsoilmin_pass",
                  "cnsoilmax_mic", "cnsoilmax_slow", "cnsoilmax_pass",
                  "glaimax", "glaimin"]),
    ("S4", NPFT, ["cinit_leaf", "cinit_wood", "cinit_froot", "cinit_met", "cinit_str",
                  "cinit_cwd", "cinit_mic", "cinit_slow", "cinit_pass"]),
    ("S5", NPFT, ["tkshed", "xkleafcoldmax", "xkleafcoldexp", "xkleafdrymax", "xkleafdryexp"]),
    ("S6", NPFT, ["ncplantmin_leaf", "ncplantmax_leaf", "ncplantmin_wood", "ncplantmax_wood",
                  "ncplantmin_froot", "ncplantmax_froot", "fNminloss", "xNleach", "nfixrate"]),
    ("S7", NPFT, ["ninit_leaf", "ninit_wood", "ninit_froot", "ninit_met", "ninit_str",
                  "ninit_cwd", "ninit_mic", "ninit_slow", "ninit_pass", "ninit_min"]),
    ("S8", NPFT, ["npplantmin_leaf", "npplantmax_leaf", "npplantmin_wood", "npplantmax_wood",
                  "npplantmin_froot", "npplantmax_froot",
                  "ftransPPtoL_leaf", "ftransPPtoL_wood", "ftransPPtoL_froot"]),
    ("S9", NSOILORDER, ["xkmlabp", "xpsorbmax", "xfPleach", "npsoil_mic", "npsoil_slow",
                        "npsoil_pass", "kplab", "kpsorb", "kpocc"]),
    ("S10", NPFT, ["pinit_leaf", "pinit_wood", "pinit_froot", "pinit_met", "pinit_str",
                   "pinit_cwd", "pinit_mic", "pinit_slow", "pinit_pass", "pinit_lab",
                   "pinit_sorb", "pinit_occ"]),
    ("S11", NPFT, ["xnpmax", "q10soil", "xkoptlitter", "xkoptsoil", "prodptase", "costnpup",
                   "maxfinelitter", "maxcwd", "nintercept", "nslope"]),
    ("S12", NPFT, ["xkNlimitmin", "xkNlimitmax", "fracRootExud", "CUEmetbmic", "CUEstrmic",
                   "CUEstrslow", "CUEcwdmic", "CUEcwdslow", "CUEmicslow", "CUEmicpass",
                   "CUEpassslow"]),
]
# Defaults the reference uses for every PFT when the optional last block is absent.
S12_DEFAULTS = dict(xkNlimitmin=0.5, xkNlimitmax=2.0, fracRootExud=0.0, CUEmetbmic=0.45,
                    CUEstrmic=0.45, CUEstrslow=0.70, CUEcwdmic=0.40, CUEcwdslow=0.70,
                    CUEmicslow=1.0, CUEmicpass=1.0, CUEpassslow=0.45)

SOIL_ORDER_PARAMS = set(_SECTIONS[8][2])
PFT_PARAMS = [name for sec, _, names in _SECTIONS if sec != "S9" for name in names]


@dataclass(frozen=True)
class CasaTable:
    """The CASA-CNP PFT table: `cls` (0 ice/water/urban, 1 grass, 2 shrub, 3 forest), `names`,
    and `values[name]` = array of 18 (PFT) or 12 (soil order) numbers in the file's units:
    ages in years, rates in yr-1, C:N in gC gN-1, N:C in gN gC-1, pools in g m-2, SLA m2 gC-1,
    TKshed K, nfixrate gN m-2 yr-1 (casa.md §5)."""

    cls: np.ndarray
    names: tuple[str, ...]
    values: dict
    source: str = ""

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]

    def with_values(self, **changes) -> "CasaTable":
        vals = dict(self.values)
        for k, v in changes.items():
            if k not in vals:
                raise KeyError(f"unknown CASA parameter {k!r}")
            vals[k] = np.broadcast_to(np.asarray(v, dtype=float), vals[k].shape).copy()
        return replace(self, values=vals)

    def accelerated(self, factor: float = 10.0) -> "CasaTable":
        """Accelerated decomposition (casa.md §6): passive-pool age divided by `factor`."""
        return self.with_values(passage=self["passage"] / factor)


def _floats(row: list[str], n: int, path, line: int, section: str) -> list[float]:
    vals = []
    for tok in row[1:]:
        tok = tok.strip()
        if tok == "":
            continue
        try:
            vals.append(float(tok))
        except ValueError:
            if len(vals) >= n:
                break
            raise InputError(path, f"section {section}: '{tok}' is not a number", line=line) from None
        if len(vals) == n:
            break
    if len(vals) < n:
        raise InputError(path, f"section {section}: expected {n} values after the row index, "
                               f"found {len(vals)}", line=line)
    return vals


def read_casa_table(path) -> CasaTable:
    """Parse a reference CASA PFT table (`pftlookup_igbp_*.csv`, casa.md §1.3)."""
    path = Path(path)
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise InputError(path, f"cannot read CASA parameter table: {exc.strerror}") from None
    pos = 3  # three header lines
    cls = np.zeros(NPFT, dtype=int)
    names = []

    def take_rows(count: int, section: str):
        nonlocal pos
        out = []
        for k in range(count):
            if pos >= len(rows) or not rows[pos] or not rows[pos][0].strip():
                raise InputError(path, f"section {section}: expected {count} rows, file ends "
                                       f"or row is empty", line=pos + 1)
            try:
                idx = int(float(rows[pos][0]))
            except ValueError:
                raise InputError(path, f"section {section}: row {k + 1} should start with its "
                                       f"index, found '{rows[pos][0]}'", line=pos + 1) from None
            if idx != k + 1:
                raise InputError(path, f"section {section}: row index {idx}, expected {k + 1}",
                                 line=pos + 1)
            out.append((pos + 1, rows[pos]))
            pos += 1
        return out

    for line, row in take_rows(NPFT, "S0"):
        try:
            cls[int(row[0]) - 1] = int(float(row[1]))
        except (ValueError, IndexError):
            raise InputError(path, "PFT class (column 2) must be an integer 0-3", line=line) from None
        names.append(row[2].strip() if len(row) > 2 else "")
    values: dict[str, np.ndarray] = {}
    for section, count, cols in _SECTIONS:
        if section == "S12":
            # optional block: absent (end of file) -> defaults
            rest = [r for r in rows[pos:] if any(t.strip() for t in r)]
            if not rest:
                for name in cols:
                    values[name] = np.full(NPFT, S12_DEFAULTS[name])
                break
        pos += 2  # two header lines per block
        block = take_rows(count, section)
        arr = np.array([_floats(r, len(cols), path, line, section) for line, r in block])
        for j, name in enumerate(cols):
            values[name] = arr[:, j]
    if np.any((cls < 0) | (cls > 3)):
        raise InputError(path, "PFT class (column 2) must be 0-3")
    return CasaTable(cls=cls, names=tuple(names), values=values, source=str(path))


_DEFAULT_FILE = "casa_pft_jams.csv"


def write_casa_table_columns(table: CasaTable, path) -> None:
    """Write a table in this package's own layout: one row per PFT, a named column per
    parameter (soil-order parameters as extra rows prefixed `soilorder`)."""
    with open(path, "w", newline="") as fh:
        fh.write("# CASA-CNP PFT parameters, one row per PFT; names and units: bgctestbed.params.casa\n")
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["pft", "cls", "name"] + PFT_PARAMS)
        for i in range(NPFT):
            w.writerow([i + 1, int(table.cls[i]), table.names[i]]
                       + [repr(float(table[n][i])) for n in PFT_PARAMS])
        so = sorted(SOIL_ORDER_PARAMS, key=_SECTIONS[8][2].index)
        w.writerow(["soilorder"] + so)
        for i in range(NSOILORDER):
            w.writerow([i + 1] + [repr(float(table[n][i])) for n in so])


def read_casa_table_columns(path) -> CasaTable:
    lines = [ln for ln in Path(path).read_text().splitlines() if ln and not ln.startswith("#")]
    rows = list(csv.reader(lines))
    head = rows[0]
    body = rows[1:1 + NPFT]
    values = {n: np.array([float(r[head.index(n)]) for r in body]) for n in PFT_PARAMS}
    so_head = rows[1 + NPFT]
    so_body = rows[2 + NPFT:2 + NPFT + NSOILORDER]
    for j, n in enumerate(so_head[1:], start=1):
        values[n] = np.array([float(r[j]) for r in so_body])
    return CasaTable(cls=np.array([int(r[1]) for r in body]), names=tuple(r[2] for r in body),
                     values=values, source=f"bgctestbed:{_DEFAULT_FILE}")


def default_casa_table() -> CasaTable:
    """The JAMES-2024 CASA table (`pftlookup_igbp_updated4_exud0.csv` values)."""
    with resources.as_file(resources.files("bgctestbed") / "data" / _DEFAULT_FILE) as p:
        return read_casa_table_columns(p)


def root_fractions(kroot: np.ndarray, rootdepth: np.ndarray, *, cumulative: bool = False) -> np.ndarray:
    """Root fraction per soil layer (casa.md §1.4), shape (..., 6).

    The reference uses each layer's thickness as its bottom depth (quirk Q1); `cumulative=True`
    uses true cumulative layer bottoms instead (the manual's intent).
    """
    kroot = np.asarray(kroot, float)[..., None]
    rd = np.asarray(rootdepth, float)[..., None]
    if cumulative:
        b = np.cumsum(LAYER_THICKNESS)
    else:
        b = LAYER_THICKNESS.copy()
    a = np.concatenate([[0.0], b[:-1]])
    tot = 1.0 - np.exp(-kroot * rd)
    return (np.exp(-kroot * np.minimum(rd, a)) - np.exp(-kroot * np.minimum(rd, b))) / tot


def casa_cell_params(table: CasaTable, sites, *, cumulative_roots: bool = False) -> dict:
    """Per-cell parameters (numpy float64 unless stated) derived from the table and sites.

    Rates are per day. Keys (shape (n,) unless noted; `_3` = (n, 3) over leaf/wood/froot,
    metabolic/structural/CWD or mic/slow/pass as the name says):
      pft (int), cls (int), active (bool: cls != 0), woody (bool: cls 2/3), froot (n, 6),
      plantrate_3, litterrate_3, soilrate_3, kclabrate, xkleafcoldmax, xkleafcoldexp,
      xkleafdrymax, xkleafdryexp, tkshed, rmplant_3 (gC gN-1 d-1 at 10 degC), sla, glaimax,
      glaimin, fracCalloc_3, ratioNCplant_3, ratioNCplantmin_3, ratioNCplantmax_3,
      ftransNPtoL_3, lignin_3, ratioNPleaf (N:P min of leaves), ratioNCsoil_3,
      ratioNCsoilmin_3 (= 1/C:N max), ratioNCsoilmax_3 (= 1/C:N min), kminN, xkNlimitmin,
      xkNlimitmax, fracRootExud, Nminfix (gN m-2 d-1), fNminloss, fNminleach (d-1), q10soil,
      xkoptlitter, xkoptsoil, maxlitter (maxfinelitter + maxcwd), fromLtoS_mic_3,
      fromLtoS_slow_3, fromLtoCO2_3, fromStoS (slow<-mic, pass<-mic, pass<-slow),
      fromStoCO2_3, clay, silt, swilt, sfc, ssat, and phenology doyphase_4 (int).
    """
    pft = np.asarray(sites.pft, dtype=int)
    if np.any((pft < 1) | (pft > NPFT)):
        bad = int(np.flatnonzero((pft < 1) | (pft > NPFT))[0])
        raise InputError(None, f"PFT {pft[bad]} outside 1..{NPFT}", cell=bad + 1)
    i = pft - 1
    t = {k: v[i] for k, v in table.values.items() if k not in SOIL_ORDER_PARAMS}
    cls = table.cls[i]
    p: dict = {"pft": pft, "cls": cls, "active": cls != 0, "woody": (cls == 2) | (cls == 3)}
    p["froot"] = root_fractions(t["kroot"], t["rootdepth"], cumulative=cumulative_roots)
    p["plantrate_3"] = np.stack([1.0 / (365.0 * t["leafage"] * (1.0 - t["fherb"])),
                                 1.0 / (365.0 * t["woodage"]), 1.0 / (365.0 * t["frootage"])], -1)
    p["litterrate_3"] = np.stack([1.0 / (365.0 * t[k]) for k in ("metage", "strage", "cwdage")], -1)
    p["soilrate_3"] = np.stack([1.0 / (365.0 * t[k]) for k in ("micage", "slowage", "passage")], -1)
    p["kclabrate"] = 1.0 / (365.0 * t["clabileage"])
    p["xkleafcoldmax"] = t["xkleafcoldmax"] / 365.0
    p["xkleafdrymax"] = t["xkleafdrymax"] / 365.0
    for k in ("xkleafcoldexp", "xkleafdryexp", "tkshed", "sla", "glaimax", "glaimin", "kminN",
              "xkNlimitmin", "xkNlimitmax", "fracRootExud", "q10soil", "xkoptlitter",
              "xkoptsoil", "fNminloss"):
        p[k] = t[k]
    parts = ("leaf", "wood", "froot")
    p["rmplant_3"] = np.stack([t[f"rmplant_{q}"] / 365.0 for q in parts], -1)
    p["fracCalloc_3"] = np.stack([t[f"fracnpp_{q}"] for q in parts], -1)
    p["ratioNCplant_3"] = np.stack([1.0 / t[f"cn_{q}"] for q in parts], -1)
    p["ratioNCplantmin_3"] = np.stack([t[f"ncplantmin_{q}"] for q in parts], -1)
    p["ratioNCplantmax_3"] = np.stack([t[f"ncplantmax_{q}"] for q in parts], -1)
    p["ftransNPtoL_3"] = np.stack([t[f"ftransNPtoL_{q}"] for q in parts], -1)
    p["lignin_3"] = np.stack([t[f"lignin_{q}"] for q in parts], -1)
    p["ratioNPplant_3"] = np.stack([t[f"npplantmin_{q}"] for q in parts], -1)
    p["ratioNPleaf"] = t["npplantmin_leaf"]
    soil = ("mic", "slow", "pass")
    p["ratioNCsoil_3"] = np.stack([1.0 / t[f"cnsoil_{q}"] for q in soil], -1)
    p["ratioNCsoilmin_3"] = np.stack([1.0 / t[f"cnsoilmax_{q}"] for q in soil], -1)
    p["ratioNCsoilmax_3"] = np.stack([1.0 / t[f"cnsoilmin_{q}"] for q in soil], -1)
    p["Nminfix"] = t["nfixrate"] / 365.0
    p["fNminleach"] = 10.0 * t["xNleach"] / 365.0
    p["maxlitter"] = t["maxfinelitter"] + t["maxcwd"]
    clay = np.asarray(sites.clay, float)
    silt = np.asarray(sites.silt, float)
    for k in ("clay", "silt", "swilt", "sfc", "ssat"):
        p[k] = np.asarray(getattr(sites, k), float)
    # transfer fractions (casa.md §4.2), static per cell
    lig_l, lig_w = t["lignin_leaf"], t["lignin_wood"]
    zero = np.zeros_like(lig_l)
    p["fromLtoS_mic_3"] = np.stack([t["CUEmetbmic"] + zero, t["CUEstrmic"] * (1 - lig_l),
                                    t["CUEcwdmic"] * (1 - lig_w)], -1)
    p["fromLtoS_slow_3"] = np.stack([zero, t["CUEstrslow"] * lig_l, t["CUEcwdslow"] * lig_w], -1)
    p["fromLtoCO2_3"] = 1.0 - (p["fromLtoS_mic_3"] + p["fromLtoS_slow_3"])
    s_mic_slow = t["CUEmicslow"] * (0.85 - 0.68 * (clay + silt)) * (0.997 - 0.032 * clay)
    s_mic_pass = t["CUEmicpass"] * (0.85 - 0.68 * (clay + silt)) * (0.003 + 0.032 * clay)
    s_slow_pass = t["CUEpassslow"] * (0.003 + 0.009 * clay)
    p["fromStoS"] = np.stack([s_mic_slow, s_mic_pass, s_slow_pass], -1)
    # fromStoCO2(S) = -sum_K fromStoS(K,S) with diagonal -1
    p["fromStoCO2_3"] = np.stack([1.0 - s_mic_slow - s_mic_pass, 1.0 - s_slow_pass,
                                  np.ones_like(clay)], -1)
    # phenology: doy of phase starts (casa.md §1.5)
    g = np.asarray(sites.greenup, int)
    f = np.asarray(sites.fall, int)
    d2 = g + 14
    d4 = f + 14
    d2 = np.where(d2 > 365, d2 - 365, d2)
    d4 = np.where(d4 > 365, d4 - 365, d4)
    p["doyphase_4"] = np.stack([g, d2, f, d4], -1)
    return p
