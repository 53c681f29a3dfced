"""Self-describing NetCDF restarts: every state variable in float64 (or int32), exactly.

A restart written here and read back gives the identical model state, so a run continued from
it is bit-for-bit the uninterrupted run. Metadata (phase, counters, configuration, package
version, cell ids) travels as global attributes; cell ids are checked on reading.
"""

from __future__ import annotations

import json

import netCDF4
import numpy as np

from ..errors import InputError
from ..model import State
from ..physics.mimics import MimicsPools
from .atomic import atomic_path

FORMAT = "bgctestbed-restart-1"
PARTS = {"cplant": "plant_part", "nplant": "plant_part", "clitter": "litter_part",
         "nlitter": "litter_part", "csoil": "soil_part", "nsoil": "soil_part"}
UNITS = {"cplant": "g m-2", "nplant": "g m-2", "pleaf": "g m-2", "clabile": "g m-2",
         "clitter": "g m-2", "nlitter": "g m-2", "csoil": "g m-2", "nsoil": "g m-2",
         "nsoilmin": "g m-2", "glai": "m2 m-2", "phase": "1", "cnppan": "g m-2 yr-1"}
LONG = {"cplant": "plant C (leaf, wood, fine root)", "nplant": "plant N (leaf, wood, fine root)",
        "pleaf": "leaf P stub", "clabile": "labile C", "clitter": "litter C (metabolic, structural, CWD)",
        "nlitter": "litter N (metabolic, structural, CWD)",
        "csoil": "CASA soil C (microbial, slow, passive)", "nsoil": "CASA soil N (microbial, slow, passive)",
        "nsoilmin": "mineral N", "glai": "leaf area index", "phase": "phenological phase (0-3)",
        "cnppan": "previous year's NPP (-99.9: unset)"}


def write_restart(path, state: State, cellid, meta: dict, extra: dict | None = None) -> None:
    """Write `state` (numpy or jax arrays over cells) with `meta` (JSON-serialisable values).
    `extra`: per-cell diagnostics {name: (values, units, long_name)}, ignored when reading."""
    cellid = np.asarray(cellid)
    with atomic_path(path) as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
            ds.setncattr("format", FORMAT)
            ds.setncattr("meta", json.dumps(meta, sort_keys=True))
            ds.createDimension("cell", cellid.size)
            for d in ("plant_part", "litter_part", "soil_part"):
                ds.createDimension(d, 3)
            v = ds.createVariable("cellid", "i8", ("cell",))
            v[:] = cellid
            for name in State._fields:
                x = getattr(state, name)
                if name == "mim":
                    if x is not None:
                        for k in MimicsPools._fields:
                            mv = ds.createVariable(f"mim_{k}", "f8", ("cell",))
                            mv.units, mv.long_name = "mg cm-3", f"MIMICS pool {k}"
                            mv[:] = np.asarray(getattr(x, k), np.float64)
                    continue
                a = np.asarray(x)
                dims = ("cell", PARTS[name]) if name in PARTS else ("cell",)
                var = ds.createVariable(name, "i4" if name == "phase" else "f8", dims)
                var.units, var.long_name = UNITS[name], LONG[name]
                var[:] = a
            for name, (values, units, long_name) in (extra or {}).items():
                var = ds.createVariable(name, "f8", ("cell",))
                var.units, var.long_name = units, long_name
                var[:] = np.asarray(values, np.float64)


def read_restart(path, cellid=None) -> tuple[State, dict]:
    """Read a restart; if `cellid` is given the file must hold exactly those cells."""
    try:
        ds = netCDF4.Dataset(path)
    except FileNotFoundError:
        raise InputError(path, "restart file not found") from None
    except OSError as exc:
        raise InputError(path, f"cannot read restart file: {exc}") from None
    with ds:
        ds.set_auto_mask(False)
        if getattr(ds, "format", None) != FORMAT:
            raise InputError(path, f"not a bgctestbed restart (format attribute {FORMAT!r} missing)")
        meta = json.loads(ds.getncattr("meta"))
        ids = ds["cellid"][:]
        if cellid is not None and (ids.shape != np.shape(cellid) or np.any(ids != np.asarray(cellid))):
            raise InputError(path, f"restart cells do not match the run's cells ({ids.size} in the file, "
                                   f"{np.size(cellid)} in the run)", variable="cellid")
        fields = {}
        for name in State._fields:
            if name == "mim":
                continue
            if name not in ds.variables:
                raise InputError(path, "missing state variable", variable=name)
            fields[name] = ds[name][:]
        mim = None
        if "mim_LITm" in ds.variables:
            mim = MimicsPools(*(ds[f"mim_{k}"][:] for k in MimicsPools._fields))
    return State(**fields, mim=mim), meta
