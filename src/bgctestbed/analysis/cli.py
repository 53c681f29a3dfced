"""`bgctestbed report RUN... [--out DIR]`: tables and figures of the JAMES analysis for model runs."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "report", help="analysis report (tables, maps, zonal means, boreal region, spin-up drift) of runs",
        description="Write report.md, report.html, tables/*.csv and figures/*.png for one or more run "
                    "directories (reference NetCDF output in the directory or its out/), and print the tables.")
    p.add_argument("runs", nargs="*", metavar="RUN", help="run directory (CASA-C, CASA-CN, MIMICS-C, MIMICS-CN ...)")
    p.add_argument("--out", default="report", help="output directory (default: ./report)")
    p.add_argument("--convergence-log", action="append", default=[], metavar="CSV",
                   help="spin-up convergence log (columns cycle,years,global_soil_c_PgC,delta_PgC,"
                        "frac_cells_gt_1g,frac_cells_gt_0p1pct); may be repeated")
    p.add_argument("--initial", nargs=2, type=int, default=[1901, 1920], metavar=("FIRST", "LAST"),
                   help="initial window (Table 1, start of Table 2), default 1901 1920")
    p.add_argument("--final", nargs=2, type=int, default=[1995, 2014], metavar=("FIRST", "LAST"),
                   help="final window of Table 2, default 1995 2014")
    p.add_argument("--no-paper", action="store_true", help="do not show the paper's values beside ours")
    p.add_argument("--no-climatology", action="store_true", help="skip the daily boreal seasonal cycle")
    p.set_defaults(func=_report)


def _report(args) -> int:
    from ..errors import InputError
    from .report import make_report

    if not args.runs and not args.convergence_log:
        raise InputError(None, "give at least one RUN directory or --convergence-log")
    make_report([Path(r) for r in args.runs], Path(args.out), paper=not args.no_paper,
                convergence_logs=args.convergence_log or None, initial=tuple(args.initial),
                final=tuple(args.final), climatology=not args.no_climatology)
    return 0
