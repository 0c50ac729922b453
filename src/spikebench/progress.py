"""The one progress interface: hooks the library calls as it works; the default does nothing.

The runner (:mod:`spikebench.experiments.runner`), the search
(:mod:`spikebench.tuning.study`) and the data set maker call these hooks and never print;
the command line subclasses :class:`Progress` to draw bars and log lines
(:mod:`spikebench.cli.console`). A hook may raise to stop the work (the search prunes a
trial from :meth:`Progress.epoch_end`; tests interrupt a run there).
"""

from __future__ import annotations

from typing import Any


class Progress:
    """No-op hooks; override the ones you need. Used as a context manager around the work
    (a drawing subclass opens and closes its display there)."""

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def stage(self, text: str) -> None:
        """A step of the work starts (preparing data, opening a study)."""

    def data(self, done: int, total: int) -> None:
        """``done`` of ``total`` utterances of the spoken-digits set are made."""

    def model_start(self, spec: Any, index: int, total: int, *, batches_per_epoch: int,
                    start_epoch: int) -> None:
        """Model ``index`` of ``total`` (a ``ModelSpec``) starts after ``start_epoch`` epochs."""

    def batch(self) -> None:
        """One training batch is done."""

    def epoch_end(self, spec: Any, epoch: int, values: dict[str, float]) -> None:
        """Epoch ``epoch`` (1-based) is done; ``values``: that epoch's history entries."""

    def model_end(self, spec: Any, record: Any) -> None:
        """The model is assessed; ``record`` is its :class:`~spikebench.record.ModelRecord`."""

    def trial_start(self, number: int, params: dict[str, Any]) -> None:
        """Search trial ``number`` starts with ``params``."""

    def trial_epoch(self, number: int, epoch: int, epochs: int, val_acc: float) -> None:
        """Search trial ``number`` finished epoch ``epoch`` of ``epochs``."""

    def trial_end(self, trial: Any) -> None:
        """Search trial finished (an ``optuna.trial.FrozenTrial``)."""

    def waiting(self, running: int) -> None:
        """The search waits for ``running`` trials of other workers."""
