"""`spikebench run` (train, test and time an experiment's models, then report) and
`spikebench report RUN_DIR` (rebuild the report from a run directory)."""

from __future__ import annotations

import argparse
import datetime as _dt
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any


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


def _resolve_config(args: argparse.Namespace):
    import dataclasses

    from spikebench.errors import ConfigError
    from spikebench.experiments.config import load_experiment

    cfg = load_experiment(args.experiment, args.overrides)
    changes: dict[str, Any] = {}
    if args.dataset is not None:
        known = args.dataset in ("digits", "shd", "ssc")
        changes["dataset"] = args.dataset if known else str(Path(args.dataset).resolve())
    if args.seed is not None:
        changes["seed"] = args.seed
    models = cfg.models
    if args.epochs is not None:
        if args.epochs < 1:
            raise ConfigError(f"--epochs {args.epochs}: must be >= 1")
        models = tuple(dataclasses.replace(m, epochs=args.epochs) for m in models)
    if args.engine is not None:
        models = tuple(dataclasses.replace(m, engine=args.engine) if m.engine is not None else m
                       for m in models)
    return dataclasses.replace(cfg, models=models, **changes)


class _RichProgress:
    """Draws one progress bar per epoch and a line per finished epoch (rich)."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.console = console
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                            transient=True)
        self.task = None
        self.data_task = None
        self.spec = None

    def __enter__(self) -> _RichProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)

    def stage(self, text: str) -> None:
        self.console.log(text)

    def data(self, done: int, total: int) -> None:
        """Progress of making the digits set (``make_digits(progress=...)``)."""
        if self.data_task is None:
            self.data_task = self.bar.add_task("making spoken digits", total=total)
        self.bar.update(self.data_task, completed=done, total=total)
        if done >= total:
            self.bar.remove_task(self.data_task)
            self.data_task = None

    def _new_task(self, epoch: int) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
        desc = f"{self.spec.name} [{self.index + 1}/{self.total}] epoch {epoch}/{self.spec.epochs}"
        self.task = self.bar.add_task(desc, total=self.batches)

    def model_start(self, spec, index, total, *, batches_per_epoch, start_epoch) -> None:
        self.spec, self.index, self.total, self.batches = spec, index, total, batches_per_epoch
        self.console.log(f"[bold]{spec.name}[/bold]: {spec.label or spec.model}, "
                         f"{spec.epochs} epochs, lr {spec.lr:g}, batch {spec.batch_size}"
                         + (f" (resuming after epoch {start_epoch})" if start_epoch else ""))
        if start_epoch < spec.epochs:
            self._new_task(start_epoch + 1)

    def batch(self) -> None:
        self.bar.advance(self.task)

    def epoch_end(self, spec, epoch, record) -> None:
        self.console.log(f"  epoch {epoch}/{spec.epochs}: loss {record['train_loss']:.4f}  "
                         f"train acc {record['train_acc']:.3f}  val acc {record['val_acc']:.3f}  "
                         f"({record['epoch_seconds']:.1f} s)")
        if epoch < spec.epochs:
            self._new_task(epoch + 1)
        elif self.task is not None:
            self.bar.remove_task(self.task)
            self.task = None

    def model_end(self, spec, record) -> None:
        inf = record.inference
        self.console.log(f"  test acc {record.test_acc:.3f}; inference "
                         f"{inf.seconds_per_batch:.4f} s per batch of {inf.batch_size}, "
                         f"{inf.latency_seconds_per_sample * 1e3:.2f} ms per sample")


def _summary(console: Any, run_dir: Path) -> None:
    from rich.table import Table

    from spikebench.record import load_run

    run = load_run(run_dir)
    table = Table(title=f"{run.experiment} on {run.dataset.name}")
    for col in ("phase", "model", "size", "lr", "ep", "params", "acc", "study", "s/batch",
                "study"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for m in run.models:
        ref_acc, ref_s = m.reference.accuracy, m.reference.seconds_per_batch
        params = m.params
        table.add_row(str(m.phase), m.name, str(m.hidden), f"{m.lr:g}", str(m.epochs),
                      f"{params / 1e6:.1f}M" if params >= 1e6 else f"{params / 1e3:.0f}k",
                      f"{m.test_acc:.1%}", "–" if ref_acc is None else f"{ref_acc:.0%}",
                      f"{m.inference.seconds_per_batch:.3f}",
                      "–" if ref_s is None else f"{ref_s:g}")
    console.print(table)


def cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from spikebench.errors import ConfigError
    from spikebench.experiments.runner import RunProgress, load_run_config, run_experiment

    console = Console(stderr=True, quiet=bool(getattr(args, "quiet", False)))
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
        cfg = _resolve_config(args)
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path(args.out) if args.out else Path("runs") / f"{cfg.name}-{stamp}"
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
    progress = _RichProgress(console) if not console.quiet else RunProgress()
    if isinstance(progress, _RichProgress):
        with progress:
            results = run_experiment(cfg, out, root=args.root, device=args.device,
                                     resume=args.resume, command=command, progress=progress,
                                     data_progress=progress.data)
    else:
        results = run_experiment(cfg, out, root=args.root, device=args.device,
                                 resume=args.resume, command=command, progress=progress)
    _summary(console, results.parent)
    console.print(f"results: {results}")
    if not args.no_report:
        from spikebench.report import build_report

        md, html = build_report(out)
        console.print(f"report: {md} and {html}")
    if ddp is not None:
        distributed.shutdown()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from rich.console import Console

    from spikebench.errors import ConfigError
    from spikebench.record import results_path
    from spikebench.report import build_report

    run_dir = Path(args.run_dir)
    if not results_path(run_dir).is_file():
        raise ConfigError(f"{run_dir}: no results.json (not a finished spikebench run directory)")
    md, html = build_report(run_dir)
    Console(stderr=True).print(f"report: {md} and {html}")
    return 0
