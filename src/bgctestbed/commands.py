"""Core commands: run, init."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from .errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser("run", help="run an experiment (TOML configuration or preset) or a reference .lst case",
                       description="Run the phases of a TOML run configuration (prespin, spin-up, historical, "
                                   "scenario) or a reference run-control file (.lst).")
    p.add_argument("path", nargs="?", help="run configuration (.toml) or reference run-control file (.lst)")
    p.add_argument("--preset", choices=("paper", "quick"),
                   help="run a built-in configuration instead of a file (see 'bgctestbed init')")
    p.add_argument("--output-dir", help="override run.output_dir")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from its restarts and checkpoints")
    p.add_argument("--workers", type=int, metavar="N",
                   help="run chunks of cells on N dask worker processes on this machine (compute.workers)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run chunks of cells on the dask cluster at ADDRESS (compute.scheduler)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="run chunks of cells side by side in N threads of this process (compute.threads)")
    p.add_argument("--device", choices=("cpu", "gpu"), help="JAX platform (compute.device)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings only")
    p.set_defaults(func=_run)
    q = sub.add_parser("init", help="write a commented example run configuration")
    q.add_argument("path", nargs="?", default="bgctestbed.toml", help="file to write (default: bgctestbed.toml)")
    q.add_argument("--preset", choices=("paper", "quick"), default="paper")
    q.add_argument("--force", action="store_true", help="overwrite an existing file")
    q.set_defaults(func=_init)


def _run(args) -> int:
    from .config import load_config, preset_config

    _logging(args.quiet)
    if args.preset and args.path:
        raise ConfigError("give a configuration file or --preset, not both")
    if not args.preset and not args.path:
        raise ConfigError("give a configuration file (.toml or .lst) or --preset")
    if args.workers is not None and args.scheduler:
        raise ConfigError("give --workers or --scheduler, not both")
    if args.workers is not None and args.workers < 0:
        raise ConfigError("--workers must not be negative")
    if args.threads is not None and args.threads < 1:
        raise ConfigError("--threads must be at least 1")
    if args.path and args.path.endswith(".lst"):
        if args.resume or args.output_dir or args.workers is not None or args.scheduler or args.threads:
            raise ConfigError("--resume, --output-dir, --workers, --scheduler and --threads apply to TOML "
                              "configurations, not .lst files")
        if args.device:
            from .executor import select_device

            select_device(args.device)
        from .legacy import run_lst

        run_lst(args.path, progress=not args.quiet)
        return 0
    cfg = preset_config(args.preset, Path.cwd()) if args.preset else load_config(args.path)
    if args.output_dir:
        cfg["run"]["output_dir"] = str(Path(args.output_dir).resolve())
    comp = cfg["compute"]
    if args.workers is not None:
        comp.update(workers=args.workers, scheduler="")
    if args.scheduler:
        comp.update(scheduler=args.scheduler, workers=0)
    if args.threads is not None:
        comp["threads"] = args.threads
    if comp["threads"] > 1 and (comp["workers"] or comp["scheduler"]):
        raise ConfigError("--threads (compute.threads) applies to runs in this process, not with dask "
                          "workers or a scheduler")
    if args.device:
        comp["device"] = args.device
    from .executor import select_device

    select_device(comp["device"])     # before the model's first array
    from .workflow import run_config

    run = run_config(cfg, resume=args.resume, quiet=args.quiet)
    print(f"outputs in {run.out}" + (f"; report: {run.out / 'report' / 'report.html'}"
                                     if (run.out / "report" / "report.html").exists() else ""))
    return 0


def _init(args) -> int:
    from .config import example_config
    from .io.atomic import write_text

    path = Path(args.path)
    if path.exists() and not args.force:
        raise ConfigError(f"{path}: exists (use --force to overwrite)")
    write_text(path, example_config(args.preset))
    print(f"wrote {path}; run it with: bgctestbed run {path}")
    return 0


def _logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("jax").setLevel(logging.WARNING)   # backend probing is not news to users
