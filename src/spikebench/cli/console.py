"""What the command line draws: a :class:`~spikebench.progress.Progress` on a rich console
(bars per epoch, a line per epoch, model and trial) and the summary table of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spikebench.progress import Progress


class RichProgress(Progress):
    """One progress bar per epoch and log lines, on ``console`` (use as a context manager)."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)
        from rich.progress import Progress as Bars

        self.console = console
        self.bar = Bars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                        transient=True)
        self.task = None
        self.data_task = None
        self.spec = None

    def __enter__(self) -> RichProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)

    def stage(self, text: str) -> None:
        self.console.log(text)

    def data(self, done: int, total: int) -> None:
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
        if self.task is not None:
            self.bar.advance(self.task)

    def epoch_end(self, spec, epoch, values) -> None:
        self.console.log(f"  epoch {epoch}/{spec.epochs}: loss {values['train_loss']:.4f}  "
                         f"train acc {values['train_acc']:.3f}  val acc {values['val_acc']:.3f}  "
                         f"({values['epoch_seconds']:.1f} s)")
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

    def trial_start(self, number: int, params: dict[str, Any]) -> None:
        def short(key: str) -> str:  # models.snn.hparams.tau_mem -> hparams.tau_mem
            parts = key.split(".")
            return ".".join(parts[2:]) if parts[0] == "models" else key

        text = ", ".join(f"{short(k)}={v:.4g}" if isinstance(v, float) else f"{short(k)}={v}"
                         for k, v in params.items())
        self.console.log(f"trial {number}: {text}")

    def trial_epoch(self, number: int, epoch: int, epochs: int, val_acc: float) -> None:
        self.console.log(f"  trial {number} epoch {epoch}/{epochs}: val acc {val_acc:.3f}")

    def trial_end(self, trial: Any) -> None:
        value = trial.value if trial.value is not None else (
            trial.intermediate_values[max(trial.intermediate_values)]
            if trial.intermediate_values else None)
        shown = "–" if value is None else f"{value:.3f}"
        self.console.log(f"trial {trial.number} {trial.state.name.lower()}: val acc {shown}")

    def waiting(self, running: int) -> None:
        self.console.log(f"waiting for {running} trial(s) of other workers")


def progress_for(console: Any) -> Progress:
    """A :class:`RichProgress` on ``console``, or silence when it is quiet."""
    return Progress() if console.quiet else RichProgress(console)


def print_summary(console: Any, run_dir: Path) -> None:
    """A table of the run's models: accuracy and inference time beside the study's."""
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


def write_report(console: Any, run_dir: Path, skip: bool = False) -> None:
    """Build ``run_dir``'s report (unless ``skip``) and say where it is."""
    if skip:
        return
    from spikebench.report import build_report

    md, html = build_report(run_dir)
    console.print(f"report: {md} and {html}")
