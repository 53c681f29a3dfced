"""The analysis report: tables (CSV, terminal, Markdown, HTML) and figures (PNG) of a set of runs.

`make_report(runs, out_dir)` writes
    out_dir/report.md     Markdown, figures linked from figures/
    out_dir/report.html   self-contained HTML (figures embedded)
    out_dir/tables/*.csv  full-precision tables (Table 1, Table 2, percent change, N-cycle response,
                          annual global series)
    out_dir/figures/*.png
and prints the tables on the terminal.
"""

from __future__ import annotations

import base64
import html
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError
from . import metrics as M
from . import plots as P
from .load import load_daily, load_run

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# A tiny document model rendered to Markdown and HTML
# ---------------------------------------------------------------------------------------------

@dataclass
class _Block:
    kind: str        # "h1", "h2", "p", "list", "table", "fig"
    content: object
    extra: str = ""


class _Doc:
    def __init__(self, out_dir: Path):
        self.blocks: list[_Block] = []
        self.out_dir = out_dir

    def h1(self, t):
        self.blocks.append(_Block("h1", t))

    def h2(self, t):
        self.blocks.append(_Block("h2", t))

    def p(self, t):
        self.blocks.append(_Block("p", t))

    def items(self, xs):
        if xs:
            self.blocks.append(_Block("list", list(xs)))

    def table(self, t: M.Table):
        self.blocks.append(_Block("table", t))

    def fig(self, path, caption):
        if path is not None:
            self.blocks.append(_Block("fig", Path(path), caption))

    def markdown(self) -> str:
        out = []
        for b in self.blocks:
            if b.kind == "h1":
                out.append(f"# {b.content}\n")
            elif b.kind == "h2":
                out.append(f"## {b.content}\n")
            elif b.kind == "p":
                out.append(f"{b.content}\n")
            elif b.kind == "list":
                out.append("\n".join(f"- {x}" for x in b.content) + "\n")
            elif b.kind == "table":
                t = b.content
                out.append(f"**{t.title}**\n\n{t.to_markdown()}\n")
                if t.notes:
                    out.append("\n".join(f"- *{n}*" for n in t.notes) + "\n")
            elif b.kind == "fig":
                rel = b.content.relative_to(self.out_dir).as_posix()
                out.append(f"![{b.extra}]({rel})\n\n*{b.extra}*\n")
        return "\n".join(out)

    def html(self, title: str) -> str:
        e = html.escape
        body = []
        toc = []
        for b in self.blocks:
            if b.kind == "h1":
                body.append(f"<h1>{e(b.content)}</h1>")
            elif b.kind == "h2":
                anchor = "s" + str(len(toc))
                toc.append((anchor, b.content))
                body.append(f'<h2 id="{anchor}">{e(b.content)}</h2>')
            elif b.kind == "p":
                body.append(f"<p>{e(b.content)}</p>")
            elif b.kind == "list":
                body.append("<ul>" + "".join(f"<li>{e(str(x))}</li>" for x in b.content) + "</ul>")
            elif b.kind == "table":
                t = b.content
                f = t.formatted()
                labels = t.values.attrs.get("labels", {})
                head = "".join(f"<th>{e(str(c))}</th>" for c in ["Quantity"] + list(f.columns))
                rows = []
                for key, row in f.iterrows():
                    cells = "".join(
                        f'<td class="{"paper" if "(paper)" in str(c) else "num" if c != "units" else "u"}">'
                        f"{e(str(v))}</td>" for c, v in row.items())
                    rows.append(f"<tr><td class='q'>{e(str(labels.get(key, key)))}</td>{cells}</tr>")
                notes = "".join(f"<li>{e(n)}</li>" for n in t.notes)
                body.append(f"<h3>{e(t.title)}</h3><table><thead><tr>{head}</tr></thead><tbody>"
                            + "".join(rows) + "</tbody></table>" + (f"<ul class='notes'>{notes}</ul>" if notes else ""))
            elif b.kind == "fig":
                data = base64.b64encode(b.content.read_bytes()).decode("ascii")
                body.append(f"<figure><img src='data:image/png;base64,{data}' alt='{e(b.extra)}'>"
                            f"<figcaption>{e(b.extra)}</figcaption></figure>")
        nav = "<nav><b>Contents</b><ol>" + "".join(f"<li><a href='#{a}'>{e(t)}</a></li>" for a, t in toc) + "</ol></nav>"
        css = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1150px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #bbb;margin-top:2em}h3{font-size:1em;margin-bottom:.3em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}th,td{padding:.25em .6em;border-bottom:1px solid #ddd}
th{background:#f0f0f0;text-align:right}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.paper{text-align:right;color:#777;font-style:italic}td.u{color:#555;text-align:right}td.q{text-align:left}
figure{margin:1.2em 0}img{max-width:100%;border:1px solid #eee}figcaption{font-size:.85em;color:#444}
ul.notes{font-size:.8em;color:#555}nav{background:#f7f7f7;padding:.5em 1em;font-size:.9em}"""
        return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
                f"<style>{css}</style></head><body>{body[0] if body else ''}{nav}{''.join(body[1:])}</body></html>")


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def _as_dataset(run) -> xr.Dataset:
    if isinstance(run, xr.Dataset):
        return run
    return load_run(Path(run))


def _unique_labels(runs):
    seen = {}
    for r in runs:
        lab = r.attrs.get("label") or r.attrs.get("configuration", "run")
        if lab in seen:
            seen[lab] += 1
            src = Path(str(r.attrs.get("source", ""))).name
            r.attrs["label"] = f"{lab} [{src}]" if src else f"{lab} ({seen[lab]})"
        else:
            seen[lab] = 1
            r.attrs["label"] = lab


def _order(runs):
    rank = {"MIMICS-CN": 0, "MIMICS-C": 1, "CASA-CN": 2, "CASA-C": 3}
    return sorted(runs, key=lambda r: rank.get(r.attrs.get("configuration"), 9))


def choose_windows(runs, initial=M.PAPER_INITIAL, final=M.PAPER_FINAL, auto=True):
    """The paper's windows, or when no run covers the initial window and `auto`: the first and
    last k records common to all runs (k = min(20, n // 2), at least 1). Returns
    (initial, final, note)."""
    covered = any(M.window_mean(r[["NPP"]], initial)[0] is not None for r in runs)
    if covered or not auto:
        return tuple(initial), tuple(final), ""
    common = sorted(set.intersection(*[set(int(y) for y in r.year.values) for r in runs]))
    if not common:
        return tuple(initial), tuple(final), "the runs share no year"
    k = max(1, min(20, len(common) // 2))
    ini, fin = (common[0], common[k - 1]), (common[-k], common[-1])
    note = (f"The paper's windows ({initial[0]}-{initial[1]}, {final[0]}-{final[1]}) are not covered by these "
            f"runs; the first and last {k} common record(s) are used instead: initial = years {ini[0]}-{ini[1]}, "
            f"final = years {fin[0]}-{fin[1]}. Paper values are not shown beside them.")
    return ini, fin, note


def _mean(run, years):
    m, cov = M.window_mean(run, years)
    return m


def _period(w) -> str:
    return f"year {w[0]}" if w[0] == w[1] else f"{w[0]}-{w[1]}"


def _kgm2(da):
    return (da / 1000.0).assign_attrs(da.attrs)


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------

def make_report(runs: Sequence, out_dir, paper: bool = True, convergence_logs=None, *,
                initial=M.PAPER_INITIAL, final=M.PAPER_FINAL, auto_windows: bool = True,
                climatology: bool = True, quiet: bool = False) -> Path:
    """Write the analysis report of `runs` (run directories or Datasets from `load_run`) to
    `out_dir` and return the path of `report.html` (`report.md` lies beside it).

    `paper`: show the paper's values beside ours (only for the paper's windows).
    `convergence_logs`: spin-up convergence log CSVs (a path, a list of paths or {label: path}).
    `initial`/`final`: windows of Table 1 and Table 2 (years, inclusive); when no run covers
    `initial` and `auto_windows` is on, the first/last records of the runs are used and the report
    says so. `climatology`: read daily files of the boreal region for the seasonal cycle.
    """
    if not runs and not convergence_logs:
        raise InputError(out_dir, "nothing to report: give at least one run or a convergence log")
    out_dir = Path(out_dir)
    figdir, tabdir = out_dir / "figures", out_dir / "tables"
    figdir.mkdir(parents=True, exist_ok=True)
    tabdir.mkdir(parents=True, exist_ok=True)
    ds_runs = _order([_as_dataset(r) for r in runs])
    _unique_labels(ds_runs)
    doc = _Doc(out_dir)
    doc.h1("Soil biogeochemistry testbed: analysis report")
    tables: list[M.Table] = []

    if ds_runs:
        _runs_section(doc, ds_runs)
        ini, fin, wnote = choose_windows(ds_runs, initial, final, auto_windows)
        show_paper = paper and not wnote
        mask, mdesc = M.paper_mask(ds_runs, ini)
        grids_equal = all(M.same_grid(ds_runs[0], r) for r in ds_runs[1:])
        if not grids_equal:
            mask = None
            mdesc = "runs on different grids: each run uses its own land cells (landarea > 0)"
        doc.h2("Methods")
        doc.items([
            "Pools are annual means (g m-2) and fluxes annual totals (g m-2 yr-1); daily output is "
            "averaged per year and daily rates are multiplied by 365 once, when loading.",
            "Heterotrophic respiration is CASA `cresp` for CASA runs and MIMICS `cHresp` for MIMICS runs.",
            "Soil C = litter (metabolic + structural, no CWD) + SOM; for MIMICS the sum of its 7 pools "
            "(LITm, LITs, MICr, MICk, SOMa, SOMc, SOMp). MIC:SOC = 100 x (MICr + MICk) / soil C.",
            "Global totals: sum of value x landarea; ratios (C:N, MIC:SOC): landarea-weighted means of cell values.",
            f"Cell mask: {mdesc}.",
            f"Windows: initial {ini[0]}-{ini[1]}, final {fin[0]}-{fin[1]}.",
        ] + ([wnote] if wnote else []))
        doc.h2("Tables")
        t1 = M.table1(ds_runs, ini, mask, show_paper)
        t2 = M.table2(ds_runs, ini, fin, mask, show_paper)
        t2p = M.table2(ds_runs, ini, fin, mask, False, percent=True)
        tr = M.response_table(ds_runs, ini, mask, show_paper)
        for name, t in (("table1", t1), ("table2", t2), ("table2_percent", t2p), ("response_n_cycle", tr)):
            t.to_csv(tabdir / f"{name}.csv")
            doc.table(t)
            tables.append(t)
        series = _global_series(ds_runs, mask)
        series.to_csv(tabdir / "global_series.csv", index=False, float_format="%.6g")
        doc.p("Annual global series of every run: tables/global_series.csv.")
        _series_figures(doc, ds_runs, series, figdir)
        _map_figures(doc, ds_runs, ini, fin, mask, figdir)
        _zonal_figures(doc, ds_runs, ini, mask, figdir)
        _boreal(doc, ds_runs, ini, fin, figdir, tabdir, climatology)

    if convergence_logs:
        _spinup(doc, convergence_logs, figdir, tabdir)

    (out_dir / "report.md").write_text(doc.markdown())
    html_path = out_dir / "report.html"
    html_path.write_text(doc.html("Testbed analysis report"))
    if not quiet:
        for t in tables:
            print(t.to_text())
            print()
        print(f"report: {html_path} (and report.md, tables/, figures/)")
    return html_path


def _runs_section(doc, runs):
    doc.h2("Runs")
    rows = []
    for r in runs:
        y = r.year.values
        rows.append(f"{r.attrs['label']}: {r.attrs['configuration']} ({'C+N' if r.attrs['nitrogen'] else 'C only'}, "
                    f"{r.attrs['soil_model']} soil), {len(y)} annual records {y[0]}-{y[-1]}, grid "
                    f"{r.sizes['lat']} x {r.sizes['lon']}, {int(M.land_mask(r).sum())} land cells; "
                    f"source {r.attrs.get('source', '-')}")
        if r.attrs.get("notes"):
            rows.append(f"{r.attrs['label']} notes: {r.attrs['notes']}")
    doc.items(rows)


def _global_series(runs, mask) -> pd.DataFrame:
    frames = []
    for r in runs:
        msk = mask if mask is not None else M.land_mask(r)
        d = {"run": r.attrs["label"], "year": r.year.values}
        for v in ("GPP", "NPP", "HR", "NEP", "cVEG", "cLIT", "cTOT", "cMIC", "nNetMin", "nMineral"):
            g = M.global_sum(r[v], r, msk)
            d[f"{v} ({g.attrs['units']})"] = g.values
        for v in ("relMIC", "cnTOT", "cnMIC"):
            d[f"{v} ({r[v].attrs.get('units', '')})"] = M.area_mean(r[v], r, msk).values
        frames.append(pd.DataFrame(d))
    return pd.concat(frames, ignore_index=True)


def _series_figures(doc, runs, series, figdir):
    doc.h2("Global time series")
    panels = []
    for col, title, short in (("GPP (Pg C yr-1)", "GPP", "GPP"), ("NPP (Pg C yr-1)", "NPP", "NPP"),
                              ("HR (Pg C yr-1)", "Heterotrophic respiration", "HR"),
                              ("NEP (Pg C yr-1)", "NEP (NPP − HR, sink positive)", "NEP"),
                              ("cTOT (Pg C)", "Soil C (litter + SOM)", "soil C"),
                              ("cVEG (Pg C)", "Vegetation C", "vegetation C")):
        lines = []
        for r in runs:
            s = series[series.run == r.attrs["label"]]
            lines.append((r.attrs["label"], r.attrs["configuration"], s.year.values, s[col].values))
        unit = col.split(" (")[1].rstrip(")").replace("yr-1", "yr$^{-1}$")
        panels.append({"title": title, "ylabel": f"{short} ({unit})", "lines": lines,
                       "zero": col.startswith("NEP")})
    f = P.series_figure(panels, title="Global totals per year", path=figdir / "global_series.png")
    doc.fig(f, "Annual global totals of the masked cells per run (fluxes: annual totals; stocks: annual means).")


def _map_figures(doc, runs, ini, fin, mask, figdir):
    doc.h2("Maps")
    land = runs[0]["landarea"]
    means = {r.attrs["label"]: _mean(r, ini) for r in runs}
    if all(m is None for m in means.values()):
        doc.p("No run covers the initial window; maps skipped.")
        return
    have = [(r, means[r.attrs["label"]]) for r in runs if means[r.attrs["label"]] is not None]
    msk = mask
    per_run_mask = (lambda r: M.land_mask(r)) if mask is None else (lambda r: mask)
    period = _period(ini)
    grey = "Grey: land cells outside the mask (ice/water, or low NPP); pale blue-grey: not simulated."

    def fig(name, fields, **kw):
        if not fields:
            return None
        return P.map_figure(fields, mask=msk, land=land, path=figdir / f"{name}.png", **kw)

    f = fig("map_soil_c", [(_kgm2(m.cTOT), r.attrs["label"]) for r, m in have],
            label="soil C (kg C m$^{-2}$)", title=f"Soil C (litter + SOM), mean {period}", cmap="YlOrBr")
    doc.fig(f, f"Soil C (litter + SOM, no CWD), mean {period}. {grey}")
    taus = [(M.turnover_time(m.cTOT, m.NPP, m, per_run_mask(r))["cell"], r.attrs["label"]) for r, m in have]
    f = fig("map_turnover", taus, label="turnover time (yr), log scale", log=True, cmap="viridis",
            title=f"Inferred soil C turnover time (soil C / NPP), {period}")
    doc.fig(f, f"Inferred soil C turnover time = soil C / NPP per cell, {period}; logarithmic colour scale. {grey}")
    cn = [(m.cnTOT, r.attrs["label"]) for r, m in have if r.attrs["nitrogen"]]
    f = fig("map_soil_cn", cn, label="soil C:N (g C g$^{-1}$ N)", cmap="cividis", title=f"Soil C:N, {period}")
    if f:
        doc.fig(f, f"Soil C:N (soil C / soil N) of the C+N runs, {period}. {grey}")
    mic = [(m.cnMIC, r.attrs["label"]) for r, m in have if r.attrs["nitrogen"] and r.attrs["soil_model"] == "MIMICS"]
    f = fig("map_microbial_cn", mic, label="microbial C:N (g C g$^{-1}$ N)", cmap="cividis",
            title=f"Microbial C:N, {period}")
    if f:
        doc.fig(f, f"Microbial C:N ((MICr + MICk) C / N) of the MIMICS C+N run(s), {period}. {grey}")
    rel = [(m.relMIC, r.attrs["label"]) for r, m in have if r.attrs["soil_model"] == "MIMICS"]
    f = fig("map_mic_soc", rel, label="MIC:SOC (%)", cmap="PuBuGn", title=f"Microbial C : soil C, {period}")
    if f:
        doc.fig(f, f"MIC:SOC = 100 x microbial C / soil C of the MIMICS runs, {period}. {grey}")

    # N-cycle response ratios and N limitation: one figure per variable (own colour scale)
    prs = M.pairs(runs)
    rr = {"soil_c": [], "npp": [], "turnover": []}
    nlim = []
    for model, (c, cn_run) in prs.items():
        mc, mn = means[c.attrs["label"]], means[cn_run.attrs["label"]]
        if mc is None or mn is None:
            continue
        rr["soil_c"].append((M.log_response_ratio(mn.cTOT, mc.cTOT), model))
        rr["npp"].append((M.log_response_ratio(mn.NPP, mc.NPP), model))
        rr["turnover"].append((M.log_response_ratio(M.turnover_time(mn.cTOT, mn.NPP)["cell"],
                                                    M.turnover_time(mc.cTOT, mc.NPP)["cell"]), model))
        nlim.append((M.n_limitation(mc.NPP, mn.NPP), model))
    if nlim:
        names = {"soil_c": "soil C", "npp": "NPP", "turnover": "turnover time (soil C / NPP)"}
        for key, fields in rr.items():
            f = fig(f"map_response_ratio_cn_{key}", fields, diverging=True, cmap="BrBG",
                    ncols=len(fields), label=f"ln({names[key].split(' (')[0]} C+N / C-only)",
                    title=f"Response of {names[key]} to the N cycle: ln(C+N / C-only), {period}")
            doc.fig(f, f"Log response ratio of {names[key]} of each C+N run to its C-only counterpart, {period}; "
                       f"brown = lower with the N cycle, green = higher (cells <= 0 in either run excluded). {grey}")
        f = fig("map_n_limitation", nlim, diverging=True, cmap="PuOr_r", ncols=len(nlim),
                label="N limitation (g C m$^{-2}$ yr$^{-1}$)",
                title=f"N limitation of NPP (C-only minus C+N; positive = limitation), {period}")
        doc.fig(f, f"N limitation of NPP = NPP(C-only) - NPP(C+N), {period}; positive (orange) = the N cycle "
                   f"lowers NPP. {grey}")
    else:
        doc.p("No pair of C-only and C+N runs of the same soil model: N-cycle response maps skipped.")

    # historical response ratios ln(final / initial), one figure per variable
    pf = _period(fin)
    for var, name in (("cTOT", "soil C"), ("NPP", "NPP")):
        hist = []
        for r in runs:
            m0, m1 = _mean(r, ini), _mean(r, fin)
            if m0 is not None and m1 is not None:
                hist.append((M.log_response_ratio(m1[var], m0[var]), r.attrs["label"]))
        if hist:
            f = fig(f"map_response_ratio_historical_{var}", hist, diverging=True, cmap="RdBu_r",
                    label=f"ln({name} {pf} / {period})",
                    title=f"Historical response of {name}: ln(mean {pf} / mean {period})")
            doc.fig(f, f"Log response ratio of {name}, final to initial window, per run; red = increase. {grey}")


def _zonal_figures(doc, runs, ini, mask, figdir):
    doc.h2("Zonal means")
    specs = [("cTOT", "Soil C", "kg C m$^{-2}$", 1e-3), ("NPP", "NPP", "g C m$^{-2}$ yr$^{-1}$", 1),
             ("HR", "Heterotrophic respiration", "g C m$^{-2}$ yr$^{-1}$", 1),
             ("cMIC", "Microbial C", "g C m$^{-2}$", 1), ("cnTOT", "Soil C:N", "g C g$^{-1}$ N", 1),
             ("cnMIC", "Microbial C:N", "g C g$^{-1}$ N", 1), ("relMIC", "MIC:SOC", "%", 1),
             ("tau", "Turnover time (soil C / NPP)", "yr", 1)]
    panels = []
    for var, title, unit, fac in specs:
        lines = []
        for r in runs:
            m = _mean(r, ini)
            if m is None:
                continue
            msk = mask if mask is not None else M.land_mask(r)
            da = M.turnover_time(m.cTOT, m.NPP, m, msk)["cell"] if var == "tau" else m[var]
            if not np.isfinite(da.where(msk)).any():
                continue
            lines.append((r.attrs["label"], r.attrs["configuration"], M.zonal_mean(da * fac, msk)))
        if lines:
            panels.append({"title": title, "ylabel": f"{title.split(' (')[0]} ({unit})", "lines": lines})
    if panels:
        period = _period(ini)
        f = P.zonal_figure(panels, title=f"Zonal means over land (unweighted mean over longitude), {period}",
                           path=figdir / "zonal_means.png")
        doc.fig(f, f"Zonal means of the masked cells (unweighted mean over longitude, as the paper), {period}.")


def _boreal(doc, runs, ini, fin, figdir, tabdir, climatology):
    doc.h2("Boreal region 60-70°N, 0-100°E")
    lat, lon = M.BOREAL["lat"], M.BOREAL["lon"]
    rows, panels = [], []
    p_npp = {"title": "NPP, regional mean", "ylabel": "NPP (g C m$^{-2}$ yr$^{-1}$)", "lines": []}
    p_nep = {"title": "NEP (NPP − HR), regional mean", "ylabel": "NEP (g C m$^{-2}$ yr$^{-1}$)", "lines": [], "zero": True}
    for r in runs:
        reg = M.region_mask(r, lat, lon)
        n = int(reg.sum())
        if n == 0:
            continue
        area = float(M.area_km2(r).where(reg, 0).sum())
        rows.append(f"{r.attrs['label']}: {n} cells, {area / 1e6:.3g} million km2")
        s_npp = M.regional_series(r, "NPP", reg)["mean"]
        s_nep = M.regional_series(r, "NEP", reg)["mean"]
        p_npp["lines"].append((r.attrs["label"], r.attrs["configuration"], r.year.values, s_npp.values))
        p_nep["lines"].append((r.attrs["label"], r.attrs["configuration"], r.year.values, s_nep.values))
        pd.DataFrame({"year": r.year.values, "NPP_gC_m2_yr": s_npp.values, "NEP_gC_m2_yr": s_nep.values,
                      "NPP_TgC_yr": M.regional_series(r, "NPP", reg)["total"].values,
                      "NEP_TgC_yr": M.regional_series(r, "NEP", reg)["total"].values}) \
            .to_csv(tabdir / f"boreal_series_{_slug(r.attrs['label'])}.csv", index=False, float_format="%.6g")
    if not rows:
        doc.p("No simulated cell of any run lies in the region.")
        return
    doc.items(rows)
    f = P.series_figure([p_npp, p_nep], title="Boreal region (60-70°N, 0-100°E): annual NPP and NEP",
                        path=figdir / "boreal_series.png")
    doc.fig(f, "Area-weighted regional mean of annual NPP and NEP per run (tables/boreal_series_*.csv "
               "also give regional totals in Tg C yr-1).")
    if not climatology:
        return
    clim_panels = {v: {"title": t, "ylabel": f"{v} (g C m$^{{-2}}$ d$^{{-1}}$)", "lines": [], "xlabel": "day of year",
                       "zero": v == "NEP"}
                   for v, t in (("NPP", "NPP"), ("NEP", "NEP (NPP − HR)"))}
    dN = {"title": "N limitation: NPP C-only − NPP C+N (positive = limitation)",
          "ylabel": "N limitation (g C m$^{-2}$ d$^{-1}$)", "lines": [],
          "xlabel": "day of year", "zero": True}
    got, daily = False, {}
    for r in runs:
        src = r.attrs.get("source")
        if not src or not Path(src).is_dir():
            continue
        years = sorted(set(range(ini[0], ini[1] + 1)) | set(range(fin[0], fin[1] + 1)))
        try:
            d = load_daily(src, years=years, variables=("NPP", "HR"), lat_range=lat, lon_range=lon,
                           soil_model=r.attrs["soil_model"], nitrogen=bool(r.attrs["nitrogen"]),
                           layout=r.attrs.get("layout"))
        except InputError as exc:
            log.warning("boreal climatology of %s skipped: %s", r.attrs["label"], exc)
            continue
        if d is None or d.sizes["lat"] == 0 or d.sizes["lon"] == 0:
            continue
        reg = M.land_mask(d)
        if not bool(reg.any()):
            continue
        daily[r.attrs["label"]] = (r, d, reg)
        for (w, ls) in ((ini, ":"), (fin, "-")):
            ys = [y for y in d.year.values if w[0] <= y <= w[1]]
            if not ys:
                continue
            st = P.style(r)
            st["ls"] = ls
            wl = _period(w)
            for v in ("NPP", "NEP"):
                c = M.daily_climatology(d, v, reg, ys)
                clim_panels[v]["lines"].append((f"{r.attrs['label']}, {wl}", st, c.doy.values, c.values))
            got = True
    for model, (c, cn) in M.pairs(runs).items():
        if c.attrs["label"] in daily and cn.attrs["label"] in daily:
            _, dc, reg = daily[c.attrs["label"]]
            _, dn, _ = daily[cn.attrs["label"]]
            for (w, ls) in ((ini, ":"), (fin, "-")):
                ys = sorted(set(y for y in dc.year.values if w[0] <= y <= w[1]) & set(dn.year.values))
                if ys:
                    diff = M.daily_climatology(dc, "NPP", reg, ys) - M.daily_climatology(dn, "NPP", reg, ys)
                    st = P.style(cn)
                    st["ls"] = ls
                    wl = _period(w)
                    dN["lines"].append((f"{model}, {wl}", st, diff.doy.values, diff.values))
    if got:
        panels = [clim_panels["NPP"], clim_panels["NEP"]] + ([dN] if dN["lines"] else [])
        f = P.series_figure(panels, title="Boreal region: mean seasonal cycle (dotted: initial, solid: final window)",
                            xlabel="day of year", path=figdir / "boreal_climatology.png")
        doc.fig(f, "Area-weighted regional mean of daily values by day of year, averaged over the years of each window "
                   "that have daily output (dotted: initial window, solid: final window).")
    else:
        doc.p("No daily output in the windows: the seasonal-cycle climatology needs daily files.")


def _slug(s):
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in s)


def _spinup(doc, convergence_logs, figdir, tabdir):
    doc.h2("Spin-up convergence")
    if isinstance(convergence_logs, (str, Path)):
        convergence_logs = [convergence_logs]
    items = convergence_logs.items() if isinstance(convergence_logs, dict) else \
        [(Path(p).stem, p) for p in convergence_logs]
    logs = []
    for lab, p in items:
        df = M.spinup_drift(M.read_convergence_log(p))
        logs.append((lab, df))
        df.to_csv(tabdir / f"spinup_{_slug(lab)}.csv", index=False, float_format="%.6g")
        conv = df[df.converged]
        last = df.iloc[-1]
        doc.p(f"{lab}: {len(df)} cycles, {int(last.years)} years; final global soil C {last.global_soil_c_PgC:.1f} Pg C, "
              f"last change {last.delta_PgC:+.4g} Pg C per cycle "
              f"({last.drift_PgC_per_yr:+.3g} Pg C yr-1), cells changing > 1 g C m-2: {100 * last.frac_cells_gt_1g:.1f} %, "
              f"> 0.1 %: {100 * last.frac_cells_gt_0p1pct:.1f} %. "
              + (f"All three criteria first met at cycle {int(conv.cycle.iloc[0])} ({int(conv.years.iloc[0])} years)."
                 if len(conv) else "The convergence criteria are not met."))
    f = P.spinup_figure(logs, title="Spin-up drift", path=figdir / "spinup_drift.png")
    doc.fig(f, "Spin-up convergence: global soil C, its change per forcing cycle (criterion |Δ| < 0.01 Pg C) "
               "and the fraction of simulated cells changing by more than 1 g C m-2 or 0.1 % (criterion < 2 %).")
