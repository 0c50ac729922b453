"""`spikebench run` (train, test and time an experiment's models, then report) and
`spikebench report RUN_DIR` (rebuild the report from a run directory)."""

from __future__ import annotations

import argparse
import datetime as _dt
import shlex
import shutil
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to ``sub``."""
    p = sub.add_parser(
        "run", help="train, test and time an experiment's models, then write the report",
        description="Run an experiment (default: the original study, `seed`, on the embedded "
                    "spoken-digits set) and write RUN_DIR/results.json and the report.",
    )
    p.add_argument("--experiment", default="seed", metavar="NAME|PATH.toml",
                   help="a named experiment (shipped in spikebench/configs/) or a TOML file (default: seed)")
    p.add_argument("--dataset", metavar="digits|shd|ssc|DIR",
                   help="data set (default: the experiment's, digits for seed); DIR holds "
                        "<name>_train.h5 and <name>_test.h5")
    p.add_argument("--root", metavar="DIR", help="data root (default: $SPIKEBENCH_DATA or "
                                                 "~/.cache/spikebench)")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/<experiment>-<time>)")
    p.add_argument("--epochs", type=int, metavar="N", help="train every model for N epochs")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="auto picks CUDA when present (default: auto)")
    p.add_argument("--engine", choices=("fused", "torch", "norse"),
                   help="SNN implementation for every SNN model (default: the experiment's)")
    p.add_argument("--seed", type=int, metavar="S", help="experiment seed")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in --out (its config.toml is used)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. models.snn_p1.epochs=2 or select=cnn_p2 "
                        "(repeatable)")
    p.add_argument("--no-report", action="store_true", help="skip building the report")
    p.set_defaults(func=cmd_run)

    r = sub.add_parser("report", help="rebuild report.md / report.html from a run directory")
    r.add_argument("run_dir", metavar="RUN_DIR")
    r.set_defaults(func=cmd_report)


def cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from spikebench.cli.console import print_summary, progress_for, write_report
    from spikebench.errors import ConfigError
    from spikebench.experiments.config import resolve_experiment
    from spikebench.experiments.runner import load_run_config, run_experiment
    from spikebench.fileio import check_output_dir

    console = Console(stderr=True, quiet=bool(getattr(args, "quiet", False)), log_path=False)
    if args.resume:
        if args.out is None:
            raise ConfigError("--resume needs --out RUN_DIR (the run to continue)")
        given = [o for o, v in (("--experiment", args.experiment != "seed"),
                                ("--dataset", args.dataset), ("--epochs", args.epochs),
                                ("--engine", args.engine), ("--seed", args.seed),
                                ("--set", args.overrides)) if v]
        if given:
            raise ConfigError(f"--resume continues {args.out} with its own config.toml; drop "
                              f"{', '.join(given)}")
        cfg = load_run_config(args.out)
        out = Path(args.out)
    else:
        cfg = resolve_experiment(args.experiment, args.overrides, dataset=args.dataset,
                                 seed=args.seed, epochs=args.epochs, engine=args.engine)
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path(args.out) if args.out else Path("runs") / f"{cfg.name}-{stamp}"
    check_output_dir(out, f"--out {out}")
    command = shlex.join(["spikebench", *getattr(args, "argv", sys.argv[1:])])
    from spikebench.training import distributed

    ddp = distributed.init_from_env(args.device)  # launched by torchrun: one of K processes
    scratch = None
    if ddp is not None:
        command = f"torchrun (world size {ddp.world_size}) {command}"
        if not ddp.is_main:  # same computation; only rank 0 keeps the run directory
            scratch = distributed.scratch_copy(out if args.resume else None, ddp.rank)
            out, console.quiet, args.no_report = scratch / "run", True, True
        distributed.barrier()
    with progress_for(console) as progress:
        results = run_experiment(cfg, out, root=args.root, device=args.device,
                                 resume=args.resume, command=command, progress=progress)
    print_summary(console, results.parent)
    console.print(f"results: {results}")
    write_report(console, out, skip=args.no_report)
    if ddp is not None:
        distributed.shutdown()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from rich.console import Console

    from spikebench.errors import ConfigError
    from spikebench.fileio import check_output_file
    from spikebench.record import results_path
    from spikebench.report import build_report

    run_dir = Path(args.run_dir)
    if not results_path(run_dir).is_file():
        raise ConfigError(f"{run_dir}: no results.json (not a finished spikebench run directory)")
    for name in ("report.md", "report.html"):
        check_output_file(run_dir / name, "report")
    md, html = build_report(run_dir)
    Console(stderr=True, quiet=args.quiet, log_path=False).print(f"report: {md} and {html}")
    return 0
