"""Figures of the analysis: maps, zonal means, boreal series/climatology, spin-up drift.

matplotlib with the Agg backend only; maps are plain lat/lon (plate carree) pcolormesh plots on
any regular or irregular-spaced lat/lon grid (cell edges halfway between centres, latitude
edges clipped to +-90). Colours: grey = land cells excluded from the analysis (ice/water,
landarea = 0, or below the productivity mask), pale blue-grey = outside the simulated grid
(ocean and cells without forcing). Difference and response-ratio maps use a diverging scale
centred on zero; stocks use sequential scales with robust (2-98 percentile) limits shared by all
panels of a figure, so panels can be compared.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from pathlib import Path  # noqa: E402
from typing import Sequence  # noqa: E402

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from . import metrics as M  # noqa: E402

EXCLUDED = "#b0b0b0"      # land cells outside the analysis mask
OUTSIDE = "#e9eef3"       # not simulated (ocean, missing forcing)
RUN_STYLE = {
    "CASA-C": dict(color="#6baed6", ls="--"),
    "CASA-CN": dict(color="#08519c", ls="-"),
    "MIMICS-C": dict(color="#fd8d3c", ls="--"),
    "MIMICS-CN": dict(color="#a50f15", ls="-"),
}
plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "figure.dpi": 110})


def style(run_or_conf) -> dict:
    conf = run_or_conf if isinstance(run_or_conf, str) else run_or_conf.attrs.get("configuration", "")
    return dict(RUN_STYLE.get(conf, dict(color="k", ls="-")))


def _edges(c: np.ndarray, lo=None, hi=None) -> np.ndarray:
    c = np.asarray(c, dtype=float)
    if c.size == 1:
        e = np.array([c[0] - 1.0, c[0] + 1.0])
    else:
        mid = 0.5 * (c[1:] + c[:-1])
        e = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    if lo is not None:
        e = np.clip(e, lo, hi)
    return e


def _geo(da: xr.DataArray):
    """(lon edges, lat edges, values 2-D, is_global) with lat ascending and, for global grids,
    longitudes in -180..180."""
    da = da.sortby("lat")
    lon = np.asarray(da["lon"].values, dtype=float)
    vals = np.asarray(da.values, dtype=float)
    span = (lon.max() - lon.min()) if lon.size > 1 else 0.0
    is_global = lon.size > 2 and span >= 180.0
    if is_global:
        lon = ((lon + 180.0) % 360.0) - 180.0
        order = np.argsort(lon, kind="stable")
        lon, vals = lon[order], vals[:, order]
    lat = np.asarray(da["lat"].values, dtype=float)
    return _edges(lon), _edges(lat, -90.0, 90.0), vals, is_global


def robust_limits(values, diverging=False, pct=(2, 98)):
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (-1.0, 1.0) if diverging else (0.0, 1.0)
    lo, hi = np.percentile(v, pct) if v.size > 4 else (v.min(), v.max())
    if diverging:
        m = max(abs(lo), abs(hi))
        m = m if m > 0 else 1.0
        return -m, m
    if hi <= lo:
        hi = lo + (abs(lo) * 0.1 or 1.0)
    return float(lo), float(hi)


def _extend(values, vmin, vmax) -> str:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    lo, hi = (v.size and v.min() < vmin), (v.size and v.max() > vmax)
    return {(True, True): "both", (True, False): "min", (False, True): "max"}.get((bool(lo), bool(hi)), "neither")


def map_panel(ax, da: xr.DataArray, mask=None, *, cmap="viridis", norm=None, title="",
              land=None):
    """Draw one map on `ax`; returns the QuadMesh. `mask` (bool, lat/lon) selects cells shown
    in colour; `land` (landarea DataArray) marks simulated-but-excluded cells in grey."""
    x = da if mask is None else da.where(mask)
    lon_e, lat_e, vals, is_global = _geo(x)
    ax.set_facecolor(OUTSIDE)
    if land is not None:
        inside = np.isfinite(land)
        if mask is not None:
            inside = inside & ~mask
        g = xr.where(inside, 1.0, np.nan).broadcast_like(x)
        _, _, gv, _ = _geo(g.transpose(*x.dims))
        ax.pcolormesh(lon_e, lat_e, np.ma.masked_invalid(gv), cmap=mcolors.ListedColormap([EXCLUDED]),
                      shading="flat", rasterized=True)
    qm = ax.pcolormesh(lon_e, lat_e, np.ma.masked_invalid(vals), cmap=cmap, norm=norm, shading="flat",
                       rasterized=True)
    if is_global:
        ax.set_xlim(-180, 180)
        ax.set_ylim(max(-60.0, lat_e[0]), min(90.0, lat_e[-1]))
        ax.set_xticks(np.arange(-180, 181, 60))
        ax.set_yticks(np.arange(-60, 91, 30))
        ax.set_aspect("equal")
    else:
        ax.set_xlim(lon_e[0], lon_e[-1])
        ax.set_ylim(lat_e[0], lat_e[-1])
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{abs(v):g}°{'E' if v > 0 else 'W' if v < 0 else ''}"))
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{abs(v):g}°{'N' if v > 0 else 'S' if v < 0 else ''}"))
    ax.tick_params(labelsize=7)
    ax.set_title(title)
    return qm


def map_figure(fields: Sequence[tuple[xr.DataArray, str]], *, mask=None, land=None, label: str,
               title: str, diverging: bool = False, cmap=None, log: bool = False,
               limits: tuple[float, float] | None = None, ncols: int | None = None, path=None):
    """A figure of maps sharing one colour scale and one colour bar (`label` carries units).

    `fields`: (DataArray lat/lon, panel title) pairs. `log`: logarithmic colour scale (positive
    values). `diverging`: symmetric around 0 with a diverging map."""
    n = len(fields)
    ncols = ncols or (1 if n == 1 else 2)
    nrows = int(np.ceil(n / ncols))
    shown = [np.asarray((f if mask is None else f.where(mask)).values, float) for f, _ in fields]
    allv = np.concatenate([s.ravel() for s in shown]) if shown else np.array([])
    if log:
        pos = allv[np.isfinite(allv) & (allv > 0)]
        vmin, vmax = limits or (robust_limits(pos) if pos.size else (1.0, 10.0))
        vmin = max(vmin, 1e-12)
        vmax = max(vmax, vmin * 10.0)
        norm = mcolors.LogNorm(vmin=vmin, vmax=vmax)
    else:
        vmin, vmax = limits or robust_limits(allv, diverging)
        norm = mcolors.TwoSlopeNorm(0.0, vmin, vmax) if diverging else mcolors.Normalize(vmin, vmax)
    cmap = cmap or ("RdBu_r" if diverging else "viridis")
    lon = np.asarray(fields[0][0]["lon"].values)
    lat = np.asarray(fields[0][0]["lat"].values)
    is_global = lon.size > 2 and (lon.max() - lon.min()) >= 180.0
    if is_global:
        lat_span = min(90.0, lat.max() + 1) - max(-60.0, lat.min() - 1)
        pw, ph = 5.6, 5.6 * lat_span / 360.0 + 0.3
    else:
        pw, ph = 4.2, 3.2
    fig, axes = plt.subplots(nrows, ncols, figsize=(pw * ncols + 0.9, ph * nrows + 0.6), squeeze=False,
                             constrained_layout=True)
    qm = None
    for ax, (da, t) in zip(axes.flat, fields):
        qm = map_panel(ax, da, mask, cmap=cmap, norm=norm, title=t, land=land)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    cb = fig.colorbar(qm, ax=axes.ravel().tolist(), shrink=0.85 if nrows > 1 else 0.8, aspect=25,
                      extend="neither" if log else _extend(allv, vmin, vmax), pad=0.02)
    cb.set_label(label)
    if log:
        fmt = plt.FuncFormatter(lambda v, _: f"{v:g}")
        cb.ax.yaxis.set_major_formatter(fmt)
        cb.ax.yaxis.set_minor_formatter(fmt if vmax / vmin < 20 else plt.NullFormatter())
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def _save(fig, path):
    if path is None:
        return fig
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def zonal_figure(panels: Sequence[dict], *, title: str, path=None):
    """Zonal means versus latitude. `panels`: dicts with "title", "ylabel" and "lines": a list of
    (run label, configuration, DataArray over lat)."""
    n = len(panels)
    ncols = min(3, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.1 * nrows), squeeze=False,
                             constrained_layout=True)
    for ax, p in zip(axes.flat, panels):
        for lab, conf, z in p["lines"]:
            st = style(conf)
            lat = np.asarray(z["lat"].values)
            v = np.asarray(z.values, float)
            kw = dict(marker="o", ms=3) if np.isfinite(v).sum() < 8 else {}
            ax.plot(lat, v, label=lab, lw=1.6, **st, **kw)
        ax.set_title(p["title"])
        ax.set_ylabel(p["ylabel"])
        ax.set_xlabel("latitude (°N)")
        ax.grid(alpha=0.3)
        if p.get("zero"):
            ax.axhline(0, color="k", lw=0.6)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    handles, labels = [], []
    for ax in axes.flat:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels)), frameon=False)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def series_figure(panels: Sequence[dict], *, title: str, xlabel: str = "year", path=None):
    """Line plots: panels of dicts with "title", "ylabel", "lines": (label, configuration or
    style dict, x, y), optional "hline" (value, label) and "logy"."""
    n = len(panels)
    ncols = min(2, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.4 * ncols, 3.2 * nrows), squeeze=False,
                             constrained_layout=True)
    for ax, p in zip(axes.flat, panels):
        for lab, st, x, y in p["lines"]:
            kw = style(st) if isinstance(st, str) else dict(st)
            x, y = np.asarray(x, float), np.asarray(y, float)
            if np.isfinite(y).sum() < 12 and "marker" not in kw:
                kw["marker"] = "o"
                kw["ms"] = 3
            ax.plot(x, y, label=lab, lw=1.5, **kw)
        for hv, hl in p.get("hlines", []):
            ax.axhline(hv, color="k", lw=0.8, ls=":", label=hl)
        if p.get("zero"):
            ax.axhline(0, color="k", lw=0.6)
        if p.get("logy"):
            ax.set_yscale("log")
        ax.set_title(p["title"])
        ax.set_ylabel(p["ylabel"])
        ax.set_xlabel(p.get("xlabel", xlabel))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, frameon=False)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def spinup_figure(log, *, title="Spin-up drift", label: str | None = None, path=None):
    """Three panels from a convergence log (metrics.read_convergence_log / spinup_drift): global
    soil C, |change per cycle| against the 0.01 Pg C criterion, fractions of cells changing by
    more than 1 g C m-2 / 0.1 % against the 2 % criterion."""
    logs = log if isinstance(log, (list, tuple)) else [(label or "run", log)]
    lim = M.CONVERGENCE_LIMITS
    p1 = {"title": "Global soil C at the end of each cycle", "ylabel": "soil C (Pg C)", "lines": []}
    p2 = {"title": "|Change of global soil C| per cycle", "ylabel": "|Δ soil C| (Pg C)", "logy": True,
          "lines": [], "hlines": [(lim["delta_PgC"], f"criterion {lim['delta_PgC']} Pg C")]}
    p3 = {"title": "Cells still changing", "ylabel": "fraction of simulated cells (%)", "lines": [],
          "hlines": [(100 * lim["frac_cells_gt_1g"], "criterion 2 %")]}
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (lab, df) in enumerate(logs):
        c = colors[i % len(colors)]
        x = df["years"].values
        p1["lines"].append((lab, dict(color=c), x, df["global_soil_c_PgC"].values))
        d = np.abs(df["delta_PgC"].values.astype(float))
        p2["lines"].append((lab, dict(color=c), x, np.where(d > 0, d, np.nan)))
        p3["lines"].append((f"{lab}: > 1 g C m-2", dict(color=c, ls="-"), x, 100 * df["frac_cells_gt_1g"].values))
        p3["lines"].append((f"{lab}: > 0.1 %", dict(color=c, ls="--"), x, 100 * df["frac_cells_gt_0p1pct"].values))
    return series_figure([p1, p2, p3], title=title, xlabel="simulated years", path=path)
