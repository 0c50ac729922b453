"""`spikebench tune`: an Optuna search over an experiment's ``[search]`` table, then one
final run of the best configuration (see :mod:`spikebench.tuning.study`).

Several processes given the same ``--storage`` and ``--study`` (or the same ``--out``,
whose default SQLite storage they then share) work on one study together.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import shlex
import sys
from pathlib import Path


HELP = "search hyper-parameters with Optuna on validation data, then run the best"
DESCRIPTION = ("Search the experiment's [search] space with Optuna (TPE sampler, pruning on "
               "per-epoch validation accuracy of held-out speakers; the test file is not "
               "read), then train the best configuration once and test it. Processes with "
               "the same --storage and --study share one study.")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``spikebench tune`` to ``sub``."""
    p = sub.add_parser("tune", help=HELP, description=DESCRIPTION)
    p.add_argument("--experiment", default="tune_snn", metavar="NAME|PATH.toml",
                   help="experiment with a [search] table (default: tune_snn)")
    p.add_argument("--trials", type=int, required=True, metavar="N",
                   help="the study's budget of trials, shared by all its workers (0: only the "
                        "final run of the best trial so far)")
    p.add_argument("--storage", metavar="URL",
                   help="Optuna storage, e.g. postgresql://user@host:5432/db (default: "
                        "sqlite:///OUT/study.db)")
    p.add_argument("--study", metavar="NAME", help="study name (default: the experiment's name)")
    p.add_argument("--pruner", choices=("median", "hyperband"),
                   help="pruning rule (default: the [search] table's, else median)")
    p.add_argument("--dataset", metavar="digits|shd|ssc|DIR",
                   help="data set (default: the experiment's)")
    p.add_argument("--root", metavar="DIR", help="data root (default: $SPIKEBENCH_DATA or "
                                                 "~/.cache/spikebench)")
    p.add_argument("--out", metavar="DIR",
                   help="run directory of the search and its final run (default: "
                        "runs/tune-<experiment>-<time>)")
    p.add_argument("--epochs", type=int, metavar="N", help="epochs per trial and final run")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="auto picks CUDA when present (default: auto)")
    p.add_argument("--seed", type=int, metavar="S", help="experiment seed")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable)")
    p.add_argument("--heartbeat", type=int, default=60, metavar="SECONDS",
                   help="a running trial's heartbeat; one silent for twice this is taken as "
                        "killed and queued again (default: 60)")
    p.add_argument("--no-final", action="store_true",
                   help="only work on the study: no waiting for other workers, no final run")
    p.add_argument("--no-report", action="store_true", help="skip building the report")
    p.set_defaults(func=cmd_tune)


def cmd_tune(args: argparse.Namespace) -> int:
    from rich.console import Console

    from spikebench.cli.console import print_summary, progress_for, write_report
    from spikebench.experiments.config import resolve_experiment
    from spikebench.fileio import check_output_dir
    from spikebench.tuning import finish_search, parse_search, run_search

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    console = Console(stderr=True, quiet=bool(getattr(args, "quiet", False)), log_path=False)
    cfg = resolve_experiment(args.experiment, args.overrides, dataset=args.dataset,
                             seed=args.seed, epochs=args.epochs)
    parse_search(cfg)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path("runs") / f"tune-{cfg.name}-{stamp}"
    check_output_dir(out, f"--out {out}")
    with progress_for(console) as progress:
        study = run_search(cfg, out, trials=args.trials, storage=args.storage,
                           study_name=args.study, pruner=args.pruner, root=args.root,
                           device=args.device, heartbeat=args.heartbeat,
                           wait_for_others=not args.no_final, progress=progress)
    states: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
    console.print(f"study {study.study_name}: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
    if args.no_final:
        return 0
    S = optuna.trial.TrialState
    if not study.get_trials(deepcopy=False, states=(S.COMPLETE,)):
        from spikebench.tuning.study import SearchError

        raise SearchError(f"study {study.study_name!r} has no finished trial yet (all pruned or "
                          "failed); run more trials (--trials) before the final run")
    best = study.best_trial
    console.print(f"best trial {best.number}: val acc {best.value:.3f} with {best.params}")
    command = shlex.join(["spikebench", *getattr(args, "argv", sys.argv[1:])])
    with progress_for(console) as progress:
        results = finish_search(study, cfg, out, storage=args.storage, root=args.root,
                                device=args.device, command=command, progress=progress)
    print_summary(console, results.parent)
    console.print(f"best configuration: {out / 'best.toml'}")
    write_report(console, out, skip=args.no_report)
    return 0
